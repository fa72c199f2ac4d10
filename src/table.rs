//! The service table's storage: every event finds its service without a scan.
//!
//! Services live in slots that never move while they are in the table, so
//! that indexes can name them: the order by name (for reloads and goingctl),
//! the service of each pid, its main process or its check (for a reap),
//! the earliest deadlines (a heap,
//! for the loop's timeout and for what is due), and the services waiting for
//! their process group to empty or for the services they start after.
//! [`Table::update`] is the only way to change
//! a service, and it keeps every index in step with what changed.
//!
//! A deadline that was replaced stays in the heap until it comes up, and is
//! then recognised as stale (the service's deadline is no longer it): cheaper
//! than removing it from the middle of a heap.

use crate::clock::Millis;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BinaryHeap};
use alloc::vec::Vec;
use core::cmp::Reverse;
use rustix::process::Pid;

/// The longest name kept in the entry itself ([`Name`]).
const INLINE_NAME: usize = 22;

/// An entry's name: in the entry itself when it is short, as most are (a heap copy
/// of `web` would cost an allocation of 32 bytes beside a 16-byte pointer).
#[derive(Clone)]
pub enum Name {
    Inline { len: u8, bytes: [u8; INLINE_NAME] },
    Heap(Box<str>),
}

impl Name {
    pub fn new(name: &str) -> Name {
        match name.len() {
            len @ 0..=INLINE_NAME => {
                let mut bytes = [0; INLINE_NAME];
                bytes[..len].copy_from_slice(name.as_bytes());
                Name::Inline { len: len as u8, bytes }
            }
            _ => Name::Heap(name.into()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Name::Inline { len, bytes } => {
                core::str::from_utf8(&bytes[..usize::from(*len)]).expect("BUG: a name is made from a str")
            }
            Name::Heap(name) => name,
        }
    }
}

impl core::ops::Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl core::fmt::Display for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::fmt::Debug for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// What the table needs to know of an entry to index it.
pub trait Entry {
    fn name(&self) -> &str;
    /// The main process, while there is one.
    fn pid(&self) -> Option<Pid>;
    /// A second process it waits for (a health check), while there is one.
    fn check_pid(&self) -> Option<Pid>;
    /// When something must happen to it: a start after backoff, a SIGKILL.
    fn deadline(&self) -> Option<Millis>;
    /// The list it is on, if any.
    fn list(&self) -> Option<List>;
}

/// The short lists of entries that events look through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    /// Waiting for its process group to empty: looked at after every reap.
    Draining = 0,
    /// Waiting for the services it starts after: looked at when one becomes ready.
    Waiting = 1,
}

/// A slot's number: stable while its entry is in the table.
pub type Slot = u32;

/// Slots per chunk of storage: the table grows a chunk at a time, never by
/// copying itself into one twice its size (at 10,000 services that copy would
/// hold two tables at the peak, and leave the larger one half empty). Small
/// enough that 100 services leave at most 63 slots (6.5 kB) unused.
const CHUNK: usize = 64;

pub struct Table<E> {
    /// Slot `n` is entry `n % CHUNK` of chunk `n / CHUNK`.
    chunks: Vec<Box<[Option<E>]>>,
    /// Slots handed out so far (in use or on `free`).
    used: usize,
    free: Vec<Slot>,
    /// Every slot in use, sorted by its entry's name.
    order: Vec<Slot>,
    by_pid: BTreeMap<i32, Slot>,
    deadlines: BinaryHeap<Reverse<(Millis, Slot)>>,
    lists: [Vec<Slot>; 2],
}

impl<E> Default for Table<E> {
    fn default() -> Self {
        Table {
            chunks: Vec::new(),
            used: 0,
            free: Vec::new(),
            order: Vec::new(),
            by_pid: BTreeMap::new(),
            deadlines: BinaryHeap::new(),
            lists: [Vec::new(), Vec::new()],
        }
    }
}

/// What the indexes hold of one entry.
#[derive(Clone, Copy, PartialEq)]
struct Keys {
    pid: Option<i32>,
    check_pid: Option<i32>,
    deadline: Option<Millis>,
    list: Option<List>,
}

fn keys(entry: &impl Entry) -> Keys {
    let raw = |pid: Pid| pid.as_raw_nonzero().get();
    let (pid, check_pid) = (entry.pid().map(raw), entry.check_pid().map(raw));
    Keys { pid, check_pid, deadline: entry.deadline(), list: entry.list() }
}

impl<E: Entry> Table<E> {
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Room for `additional` more names in the order at once.
    pub fn reserve(&mut self, additional: usize) {
        self.order.reserve_exact(additional);
    }

    fn slot(&self, slot: Slot) -> Option<&Option<E>> {
        let slot = slot as usize;
        self.chunks.get(slot / CHUNK).map(|chunk| &chunk[slot % CHUNK])
    }

    fn slot_mut(&mut self, slot: Slot) -> &mut Option<E> {
        let slot = slot as usize;
        &mut self.chunks[slot / CHUNK][slot % CHUNK]
    }

    pub fn get(&self, slot: Slot) -> &E {
        self.slot(slot).and_then(Option::as_ref).expect("BUG: a slot in use has an entry")
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.order.binary_search_by(|&slot| self.get(slot).name().cmp(name))
    }

    /// The slot of the entry named `name`.
    pub fn find(&self, name: &str) -> Option<Slot> {
        self.position(name).ok().map(|at| self.order[at])
    }

    /// The slots of the entries whose names start with `prefix`, in name order.
    pub fn starting_with(&self, prefix: &str) -> Vec<Slot> {
        let from = self.position(prefix).unwrap_or_else(|at| at);
        let names = self.order[from..].iter().take_while(|&&slot| self.get(slot).name().starts_with(prefix));
        names.copied().collect()
    }

    /// The slot of the entry whose main process is `pid`.
    pub fn by_pid(&self, pid: Pid) -> Option<Slot> {
        self.by_pid.get(&pid.as_raw_nonzero().get()).copied()
    }

    /// Every slot in name order: a copy, so that entries may be changed or removed meanwhile.
    pub fn slots(&self) -> Vec<Slot> {
        self.order.clone()
    }

    /// The entries in name order.
    pub fn iter(&self) -> impl Iterator<Item = &E> {
        self.order.iter().map(|&slot| self.get(slot))
    }

    /// Whether any entry is on `list`.
    pub fn any_in(&self, list: List) -> bool {
        !self.lists[list as usize].is_empty()
    }

    /// The entries on `list`: a copy, so that entries may be changed meanwhile.
    pub fn list(&self, list: List) -> Vec<Slot> {
        self.lists[list as usize].clone()
    }

    /// Adds an entry whose name is not in the table yet.
    pub fn insert(&mut self, entry: E) -> Slot {
        let at = self.position(entry.name()).expect_err("BUG: inserted a name the table holds");
        let (slot, before) = match self.free.pop() {
            Some(slot) => (slot, self.slot_mut(slot).replace(entry)),
            None => {
                if self.used == self.chunks.len() * CHUNK {
                    self.chunks.push((0..CHUNK).map(|_| None).collect());
                }
                self.used += 1;
                let slot = self.used as Slot - 1;
                (slot, self.slot_mut(slot).replace(entry))
            }
        };
        debug_assert!(before.is_none());
        self.order.insert(at, slot);
        self.index(slot, Keys { pid: None, check_pid: None, deadline: None, list: None });
        slot
    }

    /// Changes the entry in `slot` through `change` and brings the indexes up to date.
    pub fn update<R>(&mut self, slot: Slot, change: impl FnOnce(&mut E) -> R) -> R {
        let entry = self.slot_mut(slot).as_mut().expect("BUG: a slot in use has an entry");
        let before = keys(entry);
        let result = change(entry);
        self.index(slot, before);
        result
    }

    /// Removes the entry in `slot` and everything that indexes it.
    pub fn remove(&mut self, slot: Slot) -> E {
        let at = self.position(self.get(slot).name()).expect("BUG: an entry in the table is in its order");
        self.order.remove(at);
        let entry = self.slot_mut(slot).take().expect("BUG: removed an empty slot");
        let Keys { pid, check_pid, list, .. } = keys(&entry);
        for pid in pid.into_iter().chain(check_pid) {
            if self.by_pid.get(&pid) == Some(&slot) {
                self.by_pid.remove(&pid);
            }
        }
        if let Some(list) = list {
            self.lists[list as usize].retain(|&other| other != slot);
        }
        self.free.push(slot);
        entry
    }

    /// Brings the indexes of `slot` from `before` to what its entry is now.
    fn index(&mut self, slot: Slot, before: Keys) {
        let now = keys(self.get(slot));
        if now == before {
            return;
        }
        for (old, new) in [(before.pid, now.pid), (before.check_pid, now.check_pid)] {
            if old == new {
                continue;
            }
            if let Some(old) = old
                && self.by_pid.get(&old) == Some(&slot)
            {
                self.by_pid.remove(&old);
            }
            if let Some(new) = new {
                self.by_pid.insert(new, slot);
            }
        }
        if let Some(deadline) = now.deadline
            && before.deadline != now.deadline
        {
            self.deadlines.push(Reverse((deadline, slot)));
        }
        if before.list != now.list {
            if let Some(list) = before.list {
                self.lists[list as usize].retain(|&other| other != slot);
            }
            if let Some(list) = now.list {
                self.lists[list as usize].push(slot);
            }
        }
    }

    /// Whether a heap entry is still some entry's deadline.
    fn is_current(&self, deadline: Millis, slot: Slot) -> bool {
        self.slot(slot).and_then(Option::as_ref).is_some_and(|entry| entry.deadline() == Some(deadline))
    }

    /// The earliest deadline of any entry.
    pub fn next_deadline(&mut self) -> Option<Millis> {
        while let Some(&Reverse((deadline, slot))) = self.deadlines.peek() {
            if self.is_current(deadline, slot) {
                return Some(deadline);
            }
            self.deadlines.pop();
        }
        None
    }

    /// The slots whose deadline is at or before `now`, taken off the heap.
    pub fn due(&mut self, now: Millis) -> Vec<Slot> {
        let mut due = Vec::new();
        while let Some(&Reverse((deadline, slot))) = self.deadlines.peek() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            if self.is_current(deadline, slot) && !due.contains(&slot) {
                due.push(slot);
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::String;

    struct Named(String, Option<Pid>);

    impl Entry for Named {
        fn name(&self) -> &str {
            &self.0
        }
        fn pid(&self) -> Option<Pid> {
            self.1
        }
        fn check_pid(&self) -> Option<Pid> {
            None
        }
        fn deadline(&self) -> Option<Millis> {
            None
        }
        fn list(&self) -> Option<List> {
            None
        }
    }

    #[test]
    fn a_name_reads_back_as_made_whether_kept_inline_or_not() {
        for name in ["", "web", "exactly-22-bytes-long!", "twenty-three bytes long", "ünïcödé-nämé-of-sörts"] {
            assert_eq!(Name::new(name).as_str(), name);
            assert_eq!(matches!(Name::new(name), Name::Inline { .. }), name.len() <= INLINE_NAME);
        }
        assert_eq!(core::mem::size_of::<Name>(), 24);
    }

    #[test]
    fn slots_past_a_chunk_stay_where_they_are_and_are_reused() {
        let mut table = Table::default();
        let count = CHUNK * 2 + 7;
        let slots: Vec<Slot> =
            (0..count).map(|i| table.insert(Named(format!("s{i:04}"), Pid::from_raw(i as i32 + 1)))).collect();
        assert_eq!(table.chunks.len(), 3);
        for (i, &slot) in slots.iter().enumerate() {
            assert_eq!(table.get(slot).name(), format!("s{i:04}"));
            assert_eq!(table.find(&format!("s{i:04}")), Some(slot));
            assert_eq!(table.by_pid(Pid::from_raw(i as i32 + 1).unwrap()), Some(slot));
        }
        let gone = slots[CHUNK + 3];
        assert_eq!(table.remove(gone).name(), format!("s{:04}", CHUNK + 3));
        assert_eq!(table.find(&format!("s{:04}", CHUNK + 3)), None);
        // A freed slot is handed out again before the table grows.
        assert_eq!(table.insert(Named("again".into(), None)), gone);
        assert_eq!(table.chunks.len(), 3);
        assert_eq!(table.len(), count);
    }
}
