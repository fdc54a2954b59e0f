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

use crate::limits::MAX_UPDATE_CLOCK;
use cursor::Cursor;

/// Clients of one update (and ids it refers to past the document's clocks) kept without allocating: a
/// keystroke has one client and no such id. A longer update (a large offline sync) keeps the rest in a
/// vector. Every walk fills these afresh, so they stay small.
pub const TRACKED_CLIENTS: usize = 2;

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
    /// A struct that starts before the document's clock for its client and ends after it (see
    /// [`check_dependencies_v1`]).
    #[error("a struct straddles the document's clock for its client")]
    Straddles,
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
            Refusal::Straddles => "straddles",
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
    walk(bytes, &mut Check)
}

/// Whether an update starts before the document's clock for one of its clients: it repeats structs the
/// document holds. A stock client does that when its own update and its answer to the server's sync step
/// 1 cross. yrs skips the structs it holds, and the room checks such an update against its own reload
/// once applied (`server/src/room/actor/schema.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeats {
    No,
    Yes,
}

/// Checks that an update (already accepted by [`check_update_v1`]) depends on nothing the document
/// lacks: each client's structs start at or before the document's clock for that client (`clock_of`),
/// and every origin, parent and deleted range is in the document or in the update.
///
/// It also refuses a struct that straddles that clock, starting before it and ending after it. yrs
/// integrates the part past the clock as a new item whose origin is the document's last unit at the
/// clock, whatever that unit is: a map entry forged to straddle the clock was linked into a file's text
/// and left the document pointing into freed memory (another document's text showed up in it). A stock
/// client's repeat starts at a clock the server's document had reached and ends where its own updates
/// do, so it straddles only when its connection's updates and another of its connections' cross; the
/// refusal closes that connection, and its next sync starts at the document's clock. yrs integrates
/// structs that arrive past a gap at once while yjs parks them until the gap is filled, and both park
/// what misses a dependency; either way the two would hold different documents. A stock client never
/// sends such an update: the server relays every update in order, and a client's own follow each other.
pub fn check_dependencies_v1(bytes: &[u8], clock_of: impl Fn(u64) -> u64) -> Result<Dependencies, Refusal> {
    // One walk: a reference the document already holds is settled at once (a keystroke's origin, a
    // deletion of text typed before); one to a struct later in the same update waits for the end.
    let mut visit = DependencyVisit {
        clock_of: &clock_of,
        last: (u64::MAX, 0),
        ranges: Ranges::default(),
        waiting_refs: Ids::default(),
        waiting_deletes: Ids::default(),
        placements: Placements::default(),
    };
    walk(bytes, &mut visit)?;
    let mut repeats = Repeats::No;
    for i in 0..visit.ranges.n {
        let (client, start, _) = visit.ranges.get(i);
        let known = visit.clock(client);
        if start > known {
            return Err(Refusal::MissingDependency("structs past a gap"));
        }
        if start < known {
            repeats = Repeats::Yes;
        }
    }
    let DependencyVisit { ranges, waiting_refs, waiting_deletes, placements, .. } = visit;
    if waiting_refs.iter().chain(waiting_deletes.iter()).any(|&(c, k)| !ranges.covers(c, k)) {
        return Err(Refusal::MissingDependency("an origin, parent or deleted range"));
    }
    Ok(Dependencies { repeats, ranges, placements })
}

/// What [`check_dependencies_v1`] learned of an update it accepted.
#[derive(Debug)]
pub struct Dependencies {
    pub repeats: Repeats,
    ranges: Ranges,
    /// New items placed between an origin and a right origin: where yrs put them is checked once the
    /// update is applied ([`placement::check`]).
    pub placements: Placements,
}

impl Dependencies {
    /// Each client of the update with the clock after its last struct: what the document's clock for
    /// that client becomes once the update is applied (at least).
    pub fn client_ends(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|&(client, _, end)| (client, end))
    }
}

/// Which of an item's references an id is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefKind {
    Origin,
    RightOrigin,
    Parent,
}

/// An id (client, clock) that the item at `item` refers to.
#[derive(Debug, Clone, Copy)]
struct Reference {
    kind: RefKind,
    item: (u64, u64),
    to: (u64, u64),
}

/// What a walk reports besides its verdict, as it meets each thing. Static dispatch: the edge's walk
/// ([`Check`]) reports nothing and compiles to the checks alone.
trait Visit {
    /// Each client's structs: client, first clock, clock after the last.
    fn block(&mut self, _client: u64, _start: u64, _end: u64) {}
    /// Each struct: client, clock, length.
    fn structure(&mut self, _client: u64, _clock: u64, _len: u64) -> Result<(), Refusal> {
        Ok(())
    }
    /// Each id an item refers to (origin, right origin, parent), with the item's own id.
    fn reference(&mut self, _reference: Reference) {}
    /// Each deleted range: client, clock, length.
    fn delete(&mut self, _client: u64, _clock: u64, _len: u64) {}
}

/// The walk of [`check_update_v1`]: the checks alone.
struct Check;

impl Visit for Check {}

/// The walk of [`check_dependencies_v1`], against the document's clocks.
struct DependencyVisit<F> {
    clock_of: F,
    /// The last client looked up and its clock: an update's ids are mostly of one client.
    last: (u64, u64),
    ranges: Ranges,
    waiting_refs: Ids,
    waiting_deletes: Ids,
    placements: Placements,
}

impl<F: Fn(u64) -> u64> DependencyVisit<F> {
    fn clock(&mut self, client: u64) -> u64 {
        if self.last.0 != client {
            self.last = (client, (self.clock_of)(client));
        }
        self.last.1
    }
}

impl<F: Fn(u64) -> u64> Visit for DependencyVisit<F> {
    fn block(&mut self, client: u64, start: u64, end: u64) {
        self.ranges.push(client, start, end);
    }

    fn structure(&mut self, client: u64, clock: u64, len: u64) -> Result<(), Refusal> {
        let known = self.clock(client);
        if clock < known && clock + len > known {
            return Err(Refusal::Straddles);
        }
        Ok(())
    }

    fn reference(&mut self, r: Reference) {
        let (c, k) = r.to;
        if k >= self.clock(c) {
            self.waiting_refs.push(c, k);
        }
        // A new item between an origin and a right origin: where yrs puts it is checked once applied.
        match r.kind {
            RefKind::Origin => self.placements.origin(r.item, r.to),
            RefKind::RightOrigin if r.item.1 >= self.clock(r.item.0) => {
                self.placements.right_origin(r.item, r.to)
            }
            _ => {}
        }
    }

    fn delete(&mut self, client: u64, clock: u64, len: u64) {
        let last = clock + len - 1;
        if last >= self.clock(client) {
            self.waiting_deletes.push(client, last);
        }
    }
}

fn walk(bytes: &[u8], visit: &mut impl Visit) -> Result<UpdateFacts, Refusal> {
    let mut r = Cursor { buf: bytes, pos: 0, at: (u64::MAX, 0) };
    let mut facts = UpdateFacts { clients: r.count("client count")?, ..UpdateFacts::default() };
    let mut seen = Seen::default();
    for _ in 0..facts.clients {
        let structs = r.count("struct count")?;
        let client = r.safe("client id")?;
        seen.insert(client)?;
        let start = r.clock("clock")?;
        let mut clock = start;
        for _ in 0..structs {
            r.at = (client, clock);
            let len = r.struct_(&mut facts, visit)?;
            visit.structure(client, clock, len)?;
            clock = clock
                .checked_add(len)
                .filter(|c| *c <= MAX_UPDATE_CLOCK)
                .ok_or(Refusal::UnsafeInteger("clock"))?;
        }
        visit.block(client, start, clock);
        facts.structs += structs;
    }
    r.at = (u64::MAX, 0);
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
            visit.delete(client, clock, len);
        }
        facts.deleted_ranges += ranges;
    }
    if r.pos != bytes.len() {
        return Err(Refusal::Malformed("trailing bytes"));
    }
    Ok(facts)
}

/// Each client's range of clocks in one update, kept without allocating for up to [`TRACKED_CLIENTS`].
#[derive(Debug, Default)]
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

    fn get(&self, i: usize) -> (u64, u64, u64) {
        if i < TRACKED_CLIENTS { self.first[i] } else { self.rest[i - TRACKED_CLIENTS] }
    }

    fn covers(&self, client: u64, clock: u64) -> bool {
        self.iter().any(|&(c, start, end)| c == client && (start..end).contains(&clock))
    }
}

/// Ids (client, clock) an update refers to beyond the document's clocks, settled once the walk knows
/// every struct of the update; a keystroke has none.
#[derive(Default)]
struct Ids {
    first: [(u64, u64); TRACKED_CLIENTS],
    n: usize,
    rest: Vec<(u64, u64)>,
}

impl Ids {
    fn push(&mut self, client: u64, clock: u64) {
        if self.n < TRACKED_CLIENTS {
            self.first[self.n] = (client, clock);
        } else {
            self.rest.push((client, clock));
        }
        self.n += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &(u64, u64)> {
        self.first[..self.n.min(TRACKED_CLIENTS)].iter().chain(&self.rest)
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

mod cursor;
pub mod placement;

pub use placement::Placements;

#[cfg(test)]
mod tests;
