//! Whether yrs placed an update's new items where a reload of the document puts them.
//!
//! An item is inserted between two neighbours, its origin (left) and its right origin, and every replica
//! keeps the origin left of the right origin. A forged item can claim a right origin that lies left of its
//! origin. When both lie inside one block, yrs splits that block twice to reach them and keeps a pointer
//! to the first split's left part, which the second split shortened: the item lands left of its own
//! origin, and a reload (which integrates the same structs in another order) puts it elsewhere. The
//! room's document and what a joiner loads from it then differ for good. The bytes alone cannot tell such
//! an item from a stock client's, whose neighbours can be any two items; the document can, once the item
//! is in it: every item lies right of its origin and left of its right origin.
//!
//! [`check`] reads that from the positions yrs reports for the three ids (a walk of the blocks left of
//! each, which is short on the typing path: a keystroke at the end of a file has no right origin and is
//! not checked, and a file's text is a few blocks until it is edited in many places). Where positions
//! cannot tell (two ids invisible and side by side, an update with more than [`MAX_PLACEMENTS`] such
//! items), the answer is [`Placement::Unsure`] and the room compares the document with its own reload.

use yrs::{Assoc, ClientID, ID, ReadTxn, StickyIndex};

/// New items with a right origin whose place one update's check reads from the document; an update with
/// more (a paste is one item, a large offline sync can be many) is checked by a reload of the document.
pub const MAX_PLACEMENTS: usize = 64;

/// Items kept without allocating: a keystroke has one.
const INLINE_PLACEMENTS: usize = 2;

/// An id as (client, clock).
type Id = (u64, u64);

/// A new item of one update with a right origin: its id, its origin (if any) and its right origin.
#[derive(Debug, Clone, Copy, Default)]
struct Between {
    item: Id,
    origin: Option<Id>,
    right_origin: Id,
}

/// The new items of one update that have a right origin.
#[derive(Debug, Clone, Default)]
pub struct Placements {
    first: [Between; INLINE_PLACEMENTS],
    rest: Vec<Between>,
    n: usize,
    /// The last origin read, kept until the walk reaches the same item's right origin.
    origin: Option<(Id, Id)>,
}

impl Placements {
    pub(super) fn origin(&mut self, item: Id, origin: Id) {
        self.origin = Some((item, origin));
    }

    pub(super) fn right_origin(&mut self, item: Id, right_origin: Id) {
        let origin = self.origin.take().filter(|(of, _)| *of == item).map(|(_, origin)| origin);
        let between = Between { item, origin, right_origin };
        if self.n < INLINE_PLACEMENTS {
            self.first[self.n] = between;
        } else if self.n < MAX_PLACEMENTS {
            self.rest.push(between);
        }
        self.n += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &Between> {
        self.first[..self.n.min(INLINE_PLACEMENTS)].iter().chain(&self.rest)
    }

    /// How many the update holds.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Every item lies between its origin and its right origin (or the update has none to check).
    Holds,
    /// An item lies outside its origins: a reload would place it elsewhere.
    Broken,
    /// Positions cannot tell; compare the document with its own reload.
    Unsure,
}

/// Checks, on a document the update was applied to, that each new item with a right origin lies right of
/// its origin and left of its right origin.
pub fn check<T: ReadTxn>(txn: &T, placements: &Placements) -> Placement {
    if placements.n > MAX_PLACEMENTS {
        return Placement::Unsure;
    }
    let mut verdict = Placement::Holds;
    for between in placements.iter() {
        let item = id(between.item);
        let sides = [between.origin.map(|origin| (id(origin), item)), Some((item, id(between.right_origin)))];
        for (left, right) in sides.into_iter().flatten() {
            match order(txn, left, right) {
                Order::Left => {}
                Order::Right => return Placement::Broken,
                Order::Unknown => verdict = Placement::Unsure,
            }
        }
    }
    verdict
}

/// Where `a` lies relative to `b` in their sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Left,
    Right,
    Unknown,
}

fn order<T: ReadTxn>(txn: &T, a: ID, b: ID) -> Order {
    let at = |id: ID, assoc: Assoc| StickyIndex::from_id(id, assoc).get_offset(txn);
    let (Some(a_at), Some(b_at)) = (at(a, Assoc::After), at(b, Assoc::After)) else {
        return Order::Unknown;
    };
    if a_at.branch != b_at.branch {
        return Order::Unknown;
    }
    // A position counts the visible characters left of an id: whichever of the two counts more has
    // something visible left of it that the other has not, so it lies to the right.
    if a_at.index != b_at.index {
        return if a_at.index < b_at.index { Order::Left } else { Order::Right };
    }
    // Equal positions: a visible one of the two would count for the other had it been on its left. A
    // visible id's first character moves its `Before` position one past its `After` one.
    let visible = |id: ID, after: u32| at(id, Assoc::Before).is_some_and(|before| before.index > after);
    if visible(a, a_at.index) {
        Order::Right
    } else if visible(b, b_at.index) {
        Order::Left
    } else {
        Order::Unknown
    }
}

fn id((client, clock): Id) -> ID {
    // The byte walk refused clocks over 32 bits and ids over 2^53 - 1.
    ID::new(ClientID::new(client), u32::try_from(clock).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests;
