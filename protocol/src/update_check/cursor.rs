//! Reading one update's bytes the way yjs does, refusing what yrs would read otherwise, and the schema
//! as far as one item's bytes show it (see the parent module).

use super::{RefKind, Reference, Refusal, UpdateFacts, Visit};
use crate::limits::{MAX_SAFE_INTEGER, MAX_UPDATE_ANY_DEPTH, MAX_UPDATE_CLOCK};
use crate::schema::FILES_ROOT;
use crate::validate::check_path;

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

pub(super) const HAS_ORIGIN: u8 = 0x80;
pub(super) const HAS_RIGHT_ORIGIN: u8 = 0x40;
pub(super) const HAS_PARENT_SUB: u8 = 0x20;
const KIND_MASK: u8 = 0x1f;
/// yjs's type refs: array, map, text, XML element, fragment, hook, text. yrs also has weak links (7)
/// and subdocuments (9).
const TYPE_TEXT: u64 = 2;
const TYPE_XML_ELEMENT: u64 = 3;
const TYPE_XML_HOOK: u64 = 5;
const TYPE_LAST_YJS: u64 = 6;

pub(super) struct Cursor<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
    /// The client and clock of the struct being read: what it refers to of its own client must come
    /// before it.
    pub(super) at: (u64, u64),
}

/// Bytes of the longest varuint that fits 64 bits.
const MAX_VARUINT_BYTES: usize = 10;

impl<'a> Cursor<'a> {
    fn u8(&mut self, what: &'static str) -> Result<u8, Refusal> {
        let b = *self.buf.get(self.pos).ok_or(Refusal::Malformed(what))?;
        self.pos += 1;
        Ok(b)
    }

    /// A lib0 varuint of at most 64 bits: seven bits a byte, low bits first, at most ten bytes, the tenth
    /// holding only the top bit. Read straight off the slice: every id in an update is one, and this walk
    /// runs twice per keystroke (at the edge and in the room).
    #[inline]
    fn var_uint(&mut self, what: &'static str) -> Result<u64, Refusal> {
        let mut value = 0u64;
        for (i, &byte) in self.buf[self.pos..].iter().take(MAX_VARUINT_BYTES).enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                if i == MAX_VARUINT_BYTES - 1 && byte > 1 {
                    break;
                }
                self.pos += i + 1;
                return Ok(value);
            }
        }
        Err(Refusal::Malformed(what))
    }

    /// A varuint in JavaScript's safe integer range.
    pub(super) fn safe(&mut self, what: &'static str) -> Result<u64, Refusal> {
        let v = self.var_uint(what)?;
        if v > MAX_SAFE_INTEGER {
            return Err(Refusal::UnsafeInteger(what));
        }
        Ok(v)
    }

    /// A clock: yrs keeps clocks in 32 bits.
    pub(super) fn clock(&mut self, what: &'static str) -> Result<u64, Refusal> {
        let v = self.var_uint(what)?;
        if v > MAX_UPDATE_CLOCK {
            return Err(Refusal::UnsafeInteger(what));
        }
        Ok(v)
    }

    /// A length of at least one, within a clock's range.
    pub(super) fn len(&mut self, what: &'static str) -> Result<u64, Refusal> {
        match self.clock(what)? {
            0 => Err(Refusal::Malformed("zero length")),
            v => Ok(v),
        }
    }

    /// A count of things that each take at least a byte: no more than the bytes left.
    pub(super) fn count(&mut self, what: &'static str) -> Result<usize, Refusal> {
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

    fn id(&mut self, visit: &mut impl Visit, kind: RefKind) -> Result<(), Refusal> {
        let client = self.safe("client id")?;
        let clock = self.clock("clock")?;
        // A struct exists only after its origins and parent: a reference to itself or to a later clock of
        // its own client is forged, and yrs can build a cycle from it.
        if client == self.at.0 && clock >= self.at.1 {
            return Err(Refusal::Malformed("a struct refers to itself or a later struct of its client"));
        }
        visit.reference(Reference { kind, item: self.at, to: (client, clock) });
        Ok(())
    }

    /// One struct; returns its length in clock ticks.
    pub(super) fn struct_(
        &mut self,
        facts: &mut UpdateFacts,
        visit: &mut impl Visit,
    ) -> Result<u64, Refusal> {
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
            self.id(visit, RefKind::Origin)?;
        }
        if info & HAS_RIGHT_ORIGIN != 0 {
            self.id(visit, RefKind::RightOrigin)?;
        }
        let parent = if info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) != 0 {
            Parent::Implied
        } else {
            match self.var_uint("parent info")? {
                1 => Parent::Root(self.string("root name")?),
                0 => {
                    self.id(visit, RefKind::Parent)?;
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
