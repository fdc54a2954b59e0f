//! Which client updates the server accepts: only those every stock Yjs client (yjs 13, in every browser)
//! decodes to the same document as yrs does, and that keep the room's schema (DESIGN §4.1).
//!
//! [`check_update_v1`] walks the bytes of a Yjs v1 update without decoding it into yrs structures: no
//! allocation for an update of up to [`TRACKED_CLIENTS`] clients (every keystroke), no I/O, the same
//! answer for the same bytes. It runs before yrs reads the update, so yrs never sees a count, a nesting
//! or an integer chosen to make it allocate, recurse or wrap.
//!
//! Where yrs and yjs part ways, and so what is refused:
//! - integers: yjs reads numbers as JavaScript doubles, so a client id of 2^53 or more is another client
//!   to yjs than to yrs (which also masks ids to 53 bits); yrs keeps clocks and lengths in 32 bits.
//! - content kinds: yjs knows kinds 1–9 and reads the kind from five bits, yrs from four (kind 20 is a
//!   string to yrs and an exception in every browser); yrs reads one string more of JSON content (2)
//!   than yjs. GC (0) and skip (10) carry no flags in either.
//! - strings must be UTF-8 (yjs decodes strictly too, and UTF-8 cannot carry a lone surrogate).
//! - embedded values (`Any`): no bigint (JSON has none), finite floats, integers in the safe range, no
//!   `__proto__` key (a JavaScript object would take it as its prototype), bounded nesting.
//!
//! The schema, as far as the bytes tell it: the only root is the `files` map; each key an item sets in it
//! is a path [`check_path`] accepts and each value a `Y.Text` (or deleted content); a type's children
//! (by parent id) are characters; no other type, no plain value anywhere (the document holds only files
//! and their text). An item whose parent is implied by its neighbour carries no parent in the bytes: the
//! room checks what it did to the `files` map once applied (`server/src/room/actor/schema.rs`).

use crate::limits::{MAX_SAFE_INTEGER, MAX_UPDATE_ANY_DEPTH, MAX_UPDATE_CLOCK};
use crate::schema::FILES_ROOT;
use crate::validate::check_path;

/// Clients of one update whose ids are checked for repeats without allocating; a longer update (a large
/// offline sync) tracks the rest in a vector.
pub const TRACKED_CLIENTS: usize = 8;

/// Why an update is refused. Each refusal closes the sender with 1007 (invalid payload).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Truncated, trailing bytes, an overlong varint, a count larger than the bytes left, a zero length,
    /// a repeated client, flags a struct kind cannot carry.
    #[error("malformed update: {0}")]
    Malformed(&'static str),
    /// An integer yjs would read differently (over 2^53-1, or a clock over yrs's 32 bits).
    #[error("{0} is out of the range every Yjs client reads alike")]
    UnsafeInteger(&'static str),
    /// A content kind or type yjs does not know.
    #[error("content kind {0} is unknown to yjs")]
    UnknownContent(u8),
    /// A content kind yjs knows but yrs reads differently, or that the room's document has no place for.
    #[error("{0} content is not accepted")]
    UnsupportedContent(&'static str),
    /// A string that is not UTF-8.
    #[error("a string is not UTF-8")]
    InvalidString,
    /// An item that breaks the document's schema.
    #[error("schema: {0}")]
    Schema(String),
    /// It depends on structs the document does not hold (see [`check_dependencies_v1`]).
    #[error("missing dependency: {0}")]
    MissingDependency(&'static str),
}

impl Refusal {
    /// A short label for metrics (`reason` of `handoff_updates_refused_by_reason_total`).
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::UnsafeInteger(_) => "unsafe_integer",
            Refusal::UnknownContent(_) => "unknown_content",
            Refusal::UnsupportedContent(_) => "unsupported_content",
            Refusal::InvalidString => "invalid_string",
            Refusal::Schema(_) => "schema",
            Refusal::MissingDependency(_) => "missing_dependency",
        }
    }
}

/// What an accepted update holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateFacts {
    /// Clients whose structs it carries.
    pub clients: usize,
    /// Structs (items, GCs, skips).
    pub structs: usize,
    /// Items whose parent the bytes leave to their neighbours (checked by the room once applied).
    pub implied_parents: usize,
    /// Deleted ranges in its delete set.
    pub deleted_ranges: usize,
}

/// Checks a Yjs v1 update (the payload of a sync step 2 or update message). `Ok` means every stock Yjs
/// client decodes it as yrs does and nothing in its bytes breaks the schema.
pub fn check_update_v1(bytes: &[u8]) -> Result<UpdateFacts, Refusal> {
    walk(bytes, &mut Visit::default())
}

/// Checks that an update (already accepted by [`check_update_v1`]) depends on nothing the document
/// lacks: each client's structs start at or before the document's clock for that client (`clock_of`),
/// and every origin, parent and deleted range is in the document or in the update. yrs integrates
/// structs that arrive past a gap at once while yjs parks them until the gap is filled, and both park
/// what misses a dependency; either way the two would hold different documents. A stock client never
/// sends such an update: the server relays every update in order, and a client's own follow each other.
pub fn check_dependencies_v1(bytes: &[u8], clock_of: impl Fn(u64) -> u64) -> Result<(), Refusal> {
    let mut ranges = Ranges::default();
    walk(
        bytes,
        &mut Visit { on_block: Some(&mut |c, start, end| ranges.push(c, start, end)), ..Visit::default() },
    )?;
    let known = |client: u64, clock: u64| clock < clock_of(client) || ranges.covers(client, clock);
    for &(client, start, _) in ranges.iter() {
        if start > clock_of(client) {
            return Err(Refusal::MissingDependency("structs past a gap"));
        }
    }
    let mut on_ref = |c: u64, k: u64| {
        if known(c, k) { Ok(()) } else { Err(Refusal::MissingDependency("an origin or parent")) }
    };
    let mut on_delete = |c: u64, k: u64, len: u64| {
        if known(c, k + len - 1) { Ok(()) } else { Err(Refusal::MissingDependency("a deleted range")) }
    };
    walk(
        bytes,
        &mut Visit { on_ref: Some(&mut on_ref), on_delete: Some(&mut on_delete), ..Visit::default() },
    )?;
    Ok(())
}

/// Calls `f(client, end)` for each client of an accepted update, `end` being the clock after its last
/// struct: what the document's clock for that client becomes once the update is applied (at least).
pub fn client_ends_v1(bytes: &[u8], mut f: impl FnMut(u64, u64)) -> Result<(), Refusal> {
    walk(bytes, &mut Visit { on_block: Some(&mut |c, _, end| f(c, end)), ..Visit::default() })?;
    Ok(())
}

type OnRef<'v> = &'v mut dyn FnMut(u64, u64) -> Result<(), Refusal>;

/// What a walk reports besides its verdict.
#[derive(Default)]
struct Visit<'v> {
    /// Each client's structs: client, first clock, clock after the last.
    on_block: Option<&'v mut dyn FnMut(u64, u64, u64)>,
    /// Each id an item refers to (origin, right origin, parent).
    on_ref: Option<OnRef<'v>>,
    /// Each deleted range: client, clock, length.
    on_delete: Option<&'v mut dyn FnMut(u64, u64, u64) -> Result<(), Refusal>>,
}

fn walk(bytes: &[u8], visit: &mut Visit<'_>) -> Result<UpdateFacts, Refusal> {
    let mut r = Cursor { buf: bytes, pos: 0 };
    let mut facts = UpdateFacts { clients: r.count("client count")?, ..UpdateFacts::default() };
    let mut seen = Seen::default();
    for _ in 0..facts.clients {
        let structs = r.count("struct count")?;
        let client = r.safe("client id")?;
        seen.insert(client)?;
        let start = r.clock("clock")?;
        let mut clock = start;
        for _ in 0..structs {
            let len = r.struct_(&mut facts, &mut visit.on_ref)?;
            clock = clock
                .checked_add(len)
                .filter(|c| *c <= MAX_UPDATE_CLOCK)
                .ok_or(Refusal::UnsafeInteger("clock"))?;
        }
        if let Some(f) = visit.on_block.as_mut() {
            f(client, start, clock);
        }
        facts.structs += structs;
    }
    let ds_clients = r.count("delete set client count")?;
    for _ in 0..ds_clients {
        let client = r.safe("deleting client id")?;
        let ranges = r.count("delete range count")?;
        for _ in 0..ranges {
            let clock = r.clock("deleted clock")?;
            let len = r.len("deleted length")?;
            if clock + len > MAX_UPDATE_CLOCK {
                return Err(Refusal::UnsafeInteger("deleted range"));
            }
            if let Some(f) = visit.on_delete.as_mut() {
                f(client, clock, len)?;
            }
        }
        facts.deleted_ranges += ranges;
    }
    if r.pos != bytes.len() {
        return Err(Refusal::Malformed("trailing bytes"));
    }
    Ok(facts)
}

/// Each client's range of clocks in one update, kept without allocating for up to [`TRACKED_CLIENTS`].
#[derive(Default)]
struct Ranges {
    first: [(u64, u64, u64); TRACKED_CLIENTS],
    n: usize,
    rest: Vec<(u64, u64, u64)>,
}

impl Ranges {
    fn push(&mut self, client: u64, start: u64, end: u64) {
        if self.n < TRACKED_CLIENTS {
            self.first[self.n] = (client, start, end);
        } else {
            self.rest.push((client, start, end));
        }
        self.n += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &(u64, u64, u64)> {
        self.first[..self.n.min(TRACKED_CLIENTS)].iter().chain(&self.rest)
    }

    fn covers(&self, client: u64, clock: u64) -> bool {
        self.iter().any(|&(c, start, end)| c == client && (start..end).contains(&clock))
    }
}

/// Client ids met so far in one update: yjs keeps the last structs of a repeated client, so an update
/// naming one twice is refused rather than left to each implementation.
#[derive(Default)]
struct Seen {
    first: [u64; TRACKED_CLIENTS],
    n: usize,
    rest: Vec<u64>,
}

impl Seen {
    fn insert(&mut self, client: u64) -> Result<(), Refusal> {
        let tracked = self.n.min(TRACKED_CLIENTS);
        if self.first[..tracked].contains(&client) || self.rest.contains(&client) {
            return Err(Refusal::Malformed("a client appears twice"));
        }
        if self.n < TRACKED_CLIENTS {
            self.first[self.n] = client;
        } else {
            self.rest.push(client);
        }
        self.n += 1;
        Ok(())
    }
}

/// Where an item's parent is, as the bytes say it.
enum Parent<'a> {
    Root(&'a str),
    Id,
    Implied,
}

/// What an item's content is, for the schema.
#[derive(PartialEq)]
enum Content {
    Deleted,
    String,
    Text,
    OtherType,
    Value,
}

const HAS_ORIGIN: u8 = 0x80;
const HAS_RIGHT_ORIGIN: u8 = 0x40;
const HAS_PARENT_SUB: u8 = 0x20;
const KIND_MASK: u8 = 0x1f;
/// yjs's type refs: array, map, text, XML element, fragment, hook, text. yrs also has weak links (7)
/// and subdocuments (9).
const TYPE_TEXT: u64 = 2;
const TYPE_XML_ELEMENT: u64 = 3;
const TYPE_XML_HOOK: u64 = 5;
const TYPE_LAST_YJS: u64 = 6;

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn u8(&mut self, what: &'static str) -> Result<u8, Refusal> {
        let b = *self.buf.get(self.pos).ok_or(Refusal::Malformed(what))?;
        self.pos += 1;
        Ok(b)
    }

    /// A lib0 varuint of at most 64 bits.
    fn var_uint(&mut self, what: &'static str) -> Result<u64, Refusal> {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let byte = self.u8(what)?;
            if shift >= 64 || (shift == 63 && byte & 0x7e != 0) {
                return Err(Refusal::Malformed(what));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    /// A varuint in JavaScript's safe integer range.
    fn safe(&mut self, what: &'static str) -> Result<u64, Refusal> {
        let v = self.var_uint(what)?;
        if v > MAX_SAFE_INTEGER {
            return Err(Refusal::UnsafeInteger(what));
        }
        Ok(v)
    }

    /// A clock: yrs keeps clocks in 32 bits.
    fn clock(&mut self, what: &'static str) -> Result<u64, Refusal> {
        let v = self.var_uint(what)?;
        if v > MAX_UPDATE_CLOCK {
            return Err(Refusal::UnsafeInteger(what));
        }
        Ok(v)
    }

    /// A length of at least one, within a clock's range.
    fn len(&mut self, what: &'static str) -> Result<u64, Refusal> {
        match self.clock(what)? {
            0 => Err(Refusal::Malformed("zero length")),
            v => Ok(v),
        }
    }

    /// A count of things that each take at least a byte: no more than the bytes left.
    fn count(&mut self, what: &'static str) -> Result<usize, Refusal> {
        let v = self.var_uint(what)?;
        let left = self.buf.len() - self.pos;
        usize::try_from(v).ok().filter(|v| *v <= left).ok_or(Refusal::Malformed(what))
    }

    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], Refusal> {
        let len = self.count(what)?;
        let out = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    fn string(&mut self, what: &'static str) -> Result<&'a str, Refusal> {
        std::str::from_utf8(self.bytes(what)?).map_err(|_| Refusal::InvalidString)
    }

    fn id(&mut self, on_ref: &mut Option<OnRef<'_>>) -> Result<(), Refusal> {
        let client = self.safe("client id")?;
        let clock = self.clock("clock")?;
        match on_ref {
            Some(f) => f(client, clock),
            None => Ok(()),
        }
    }

    /// One struct; returns its length in clock ticks.
    fn struct_(&mut self, facts: &mut UpdateFacts, on_ref: &mut Option<OnRef<'_>>) -> Result<u64, Refusal> {
        let info = self.u8("struct info")?;
        let kind = info & KIND_MASK;
        if kind == 0 || kind == 10 {
            // GC and skip: yrs matches the whole byte, yjs the low five bits.
            if info != kind {
                return Err(Refusal::Malformed("flags on a GC or skip"));
            }
            if kind == 10 {
                // A skip marks a gap in the client's structs: what follows waits in yjs, not in yrs.
                return Err(Refusal::MissingDependency("a skip"));
            }
            return self.len("GC length");
        }
        if info & HAS_ORIGIN != 0 {
            self.id(on_ref)?;
        }
        if info & HAS_RIGHT_ORIGIN != 0 {
            self.id(on_ref)?;
        }
        let parent = if info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) != 0 {
            Parent::Implied
        } else {
            match self.var_uint("parent info")? {
                1 => Parent::Root(self.string("root name")?),
                0 => {
                    self.id(on_ref)?;
                    Parent::Id
                }
                _ => return Err(Refusal::Malformed("parent info")),
            }
        };
        let key = match parent {
            Parent::Implied => None,
            _ if info & HAS_PARENT_SUB != 0 => Some(self.string("key")?),
            _ => None,
        };
        let (content, len) = self.content(kind)?;
        schema(&parent, key, &content)?;
        if matches!(parent, Parent::Implied) {
            facts.implied_parents += 1;
        }
        Ok(len)
    }

    fn content(&mut self, kind: u8) -> Result<(Content, u64), Refusal> {
        Ok(match kind {
            1 => (Content::Deleted, self.len("deleted length")?),
            2 => return Err(Refusal::UnsupportedContent("JSON (read differently by yrs)")),
            3 => {
                self.bytes("binary")?;
                (Content::Value, 1)
            }
            4 => {
                let s = self.string("string")?;
                let units = s.chars().map(|c| c.len_utf16() as u64).sum::<u64>();
                if units == 0 {
                    return Err(Refusal::Malformed("empty string"));
                }
                (Content::String, units)
            }
            5 | 6 => return Err(Refusal::UnsupportedContent("rich-text embed or format")),
            7 => {
                let type_ref = self.var_uint("type")?;
                if type_ref > TYPE_LAST_YJS {
                    return Err(Refusal::UnknownContent(7));
                }
                if type_ref == TYPE_XML_ELEMENT || type_ref == TYPE_XML_HOOK {
                    self.string("XML name")?;
                }
                (if type_ref == TYPE_TEXT { Content::Text } else { Content::OtherType }, 1)
            }
            8 => {
                let n = self.count("value count")?;
                if n == 0 {
                    return Err(Refusal::Malformed("no values"));
                }
                for _ in 0..n {
                    self.any(0)?;
                }
                (Content::Value, n as u64)
            }
            9 => return Err(Refusal::UnsupportedContent("subdocument")),
            other => return Err(Refusal::UnknownContent(other)),
        })
    }

    /// One lib0 `Any` value.
    fn any(&mut self, depth: usize) -> Result<(), Refusal> {
        if depth >= MAX_UPDATE_ANY_DEPTH {
            return Err(Refusal::Malformed("values nested too deep"));
        }
        match self.u8("value tag")? {
            127 | 126 | 121 | 120 => {}
            125 => self.var_int()?,
            124 => {
                let b = self.take::<4>()?;
                if !f32::from_be_bytes(b).is_finite() {
                    return Err(Refusal::UnsupportedContent("non-finite number"));
                }
            }
            123 => {
                let b = self.take::<8>()?;
                if !f64::from_be_bytes(b).is_finite() {
                    return Err(Refusal::UnsupportedContent("non-finite number"));
                }
            }
            122 => return Err(Refusal::UnsupportedContent("bigint")),
            119 => {
                self.string("string value")?;
            }
            118 => {
                for _ in 0..self.count("object size")? {
                    if self.string("object key")? == "__proto__" {
                        return Err(Refusal::UnsupportedContent("__proto__ key"));
                    }
                    self.any(depth + 1)?;
                }
            }
            117 => {
                for _ in 0..self.count("array length")? {
                    self.any(depth + 1)?;
                }
            }
            116 => {
                self.bytes("buffer value")?;
            }
            _ => return Err(Refusal::Malformed("value tag")),
        }
        Ok(())
    }

    /// A lib0 signed varint (sign in bit 6 of the first byte) within the safe integer range.
    fn var_int(&mut self) -> Result<(), Refusal> {
        let first = self.u8("integer")?;
        let mut value = u64::from(first & 0x3f);
        let mut shift = 6u32;
        let mut byte = first;
        while byte & 0x80 != 0 {
            byte = self.u8("integer")?;
            if shift > 53 {
                return Err(Refusal::UnsafeInteger("integer value"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            shift += 7;
        }
        if value > MAX_SAFE_INTEGER {
            return Err(Refusal::UnsafeInteger("integer value"));
        }
        Ok(())
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], Refusal> {
        let end =
            self.pos.checked_add(N).filter(|e| *e <= self.buf.len()).ok_or(Refusal::Malformed("number"))?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.pos..end]);
        self.pos = end;
        Ok(out)
    }
}

/// The schema as far as one item's bytes tell it.
fn schema(parent: &Parent<'_>, key: Option<&str>, content: &Content) -> Result<(), Refusal> {
    let bad = |why: &str| Err(Refusal::Schema(why.to_owned()));
    match content {
        Content::Value => return bad("a plain value has no place in the document"),
        Content::OtherType => return bad("the only shared type is a file's Y.Text"),
        _ => {}
    }
    match parent {
        Parent::Root(name) if *name != FILES_ROOT => bad("the only root is the files map"),
        Parent::Root(_) => {
            let Some(path) = key else { return bad("the files map holds files by path") };
            check_path(path).map_err(|e| Refusal::Schema(e.to_string()))?;
            if *content == Content::String {
                return bad("a file is a Y.Text");
            }
            Ok(())
        }
        Parent::Id if key.is_some() => bad("a text has no keys"),
        Parent::Id if *content == Content::Text => bad("a text holds no nested text"),
        Parent::Id | Parent::Implied => Ok(()),
    }
}

#[cfg(test)]
mod tests;
