//! The in-memory part of the indexes: entries for the log positions not
//! yet written to runs.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::stream_version_key;

/// Index entries for a contiguous range of positions.
#[derive(Debug, Default, Clone)]
pub struct Memtable {
    /// Ids that arrived in increasing order (the store's own UUID v7s):
    /// appended and binary-searched, far cheaper than hashing.
    ordered_ids: Vec<(u128, u64)>,
    /// All other ids (client-supplied ones, mostly).
    ids: HashMap<u128, u64, RandomState>,
    /// stream key → (first version held here, locations of that version on).
    streams: HashMap<u64, (u64, Vec<u64>), RandomState>,
    /// term key → (position, location) of its events, in position order.
    postings: HashMap<u64, Vec<(u64, u64)>, RandomState>,
    n_events: usize,
}

impl Memtable {
    /// Sized for `events` entries up front, so inserts never rehash on the
    /// writer's path.
    pub fn with_capacity(events: usize) -> Self {
        Memtable {
            ordered_ids: Vec::with_capacity(events),
            ids: HashMap::default(),
            streams: HashMap::default(),
            postings: HashMap::default(),
            n_events: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.n_events
    }

    pub fn is_empty(&self) -> bool {
        self.n_events == 0
    }

    /// Versions of a stream arrive in order, so each stream's entries are a
    /// contiguous run of versions.
    pub fn insert(&mut self, id: u128, stream_key: u64, version: u64, loc: u64) {
        let is_v7 = (id >> 76) & 0xf == 7;
        if is_v7 && self.ordered_ids.last().is_none_or(|(last, _)| *last < id) {
            self.ordered_ids.push((id, loc));
        } else {
            self.ids.insert(id, loc);
        }
        let entry = self.streams.entry(stream_key).or_insert_with(|| (version, Vec::new()));
        debug_assert_eq!(entry.0 + entry.1.len() as u64, version, "versions arrive in order");
        entry.1.push(loc);
        self.n_events += 1;
    }

    /// Lists an event under its category's and its type's terms.
    /// Positions arrive in order.
    pub fn insert_postings(&mut self, terms: [u64; 2], position: u64, loc: u64) {
        for term in terms {
            self.postings.entry(term).or_default().push((position, loc));
        }
    }

    /// (position, location) of a term's events with positions in `lo..hi`.
    pub fn postings(&self, term: u64, lo: u64, hi: u64) -> &[(u64, u64)] {
        let Some(list) = self.postings.get(&term) else { return &[] };
        let from = list.partition_point(|(p, _)| *p < lo);
        let to = list.partition_point(|(p, _)| *p < hi);
        &list[from..to.max(from)]
    }

    /// The postings, sorted by key.
    pub fn sorted_postings(&self) -> Vec<(u128, u64)> {
        let mut v = Vec::with_capacity(self.n_events * 2);
        for (term, list) in &self.postings {
            v.extend(list.iter().map(|(position, loc)| (super::posting_key(*term, *position), *loc)));
        }
        v.sort_unstable();
        v
    }

    pub fn id(&self, id: u128) -> Option<u64> {
        if let Ok(i) = self.ordered_ids.binary_search_by_key(&id, |(k, _)| *k) {
            return Some(self.ordered_ids[i].1);
        }
        self.ids.get(&id).copied()
    }

    /// (version, location) for the versions in `lo..=hi` held here.
    pub fn stream_range(&self, stream_key: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
        if let Some((first, locs)) = self.streams.get(&stream_key) {
            let last = first + locs.len() as u64;
            for v in lo.max(*first)..=hi.min(last.saturating_sub(1)) {
                if v >= *first && v < last {
                    out.push((v, locs[(v - first) as usize]));
                }
            }
        }
    }

    /// The id index entries, sorted by key.
    pub fn sorted_ids(&self) -> Vec<(u128, u64)> {
        let mut v: Vec<_> = self.ids.iter().map(|(k, l)| (*k, *l)).collect();
        v.extend_from_slice(&self.ordered_ids);
        v.sort_unstable();
        v
    }

    /// The stream index entries, sorted by key.
    pub fn sorted_streams(&self) -> Vec<(u128, u64)> {
        let mut v = Vec::with_capacity(self.n_events);
        for (key, (first, locs)) in &self.streams {
            for (i, loc) in locs.iter().enumerate() {
                v.push((stream_version_key(*key, first + i as u64), *loc));
            }
        }
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_and_unordered_ids_are_both_found() {
        let v7 = |n: u128| (0x0190_0000_0000u128 << 80) | (7u128 << 76) | (2u128 << 62) | n;
        let mut m = Memtable::with_capacity(8);
        m.insert(v7(5), 1, 0, 50);
        m.insert(v7(9), 1, 1, 90);
        m.insert(v7(7), 1, 2, 70); // out of order: goes to the map
        m.insert(42, 2, 0, 420); // not a v7
        for (id, loc) in [(v7(5), 50), (v7(9), 90), (v7(7), 70), (42, 420)] {
            assert_eq!(m.id(id), Some(loc));
        }
        assert_eq!(m.id(v7(6)), None);
        let sorted = m.sorted_ids();
        assert_eq!(sorted.len(), 4);
        assert!(sorted.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn ranges_and_sorted_output() {
        let mut m = Memtable::default();
        m.insert(5, 1, 3, 100);
        m.insert(2, 1, 4, 101);
        m.insert(9, 2, 0, 102);
        let mut out = Vec::new();
        m.stream_range(1, 0, 10, &mut out);
        assert_eq!(out, [(3, 100), (4, 101)]);
        out.clear();
        m.stream_range(1, 4, 4, &mut out);
        assert_eq!(out, [(4, 101)]);
        out.clear();
        m.stream_range(1, 0, 2, &mut out);
        assert!(out.is_empty());
        assert_eq!(m.id(2), Some(101));
        assert_eq!(m.sorted_ids(), [(2, 101), (5, 100), (9, 102)]);
        let s = m.sorted_streams();
        assert!(s.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(s.len(), 3);
    }
}
