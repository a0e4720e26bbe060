//! In-memory code search: an inverted index of description words plus the sorted code list, built
//! once per loaded (or imported) table and kept in a small process-wide cache keyed by the table's
//! `generation` (a fresh id written at every load/import). A search first reads the current
//! generation (one primary-key lookup), so every instance sharing a database sees a reload at once.
//!
//! Ranking: the exact code, then codes starting with the query (code order), then descriptions
//! that contain every query word as a word prefix, in any order (general codes first: shorter
//! codes, then shorter descriptions, then code order).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;

/// One code of an indexed table.
#[derive(Debug, Clone)]
pub struct Entry {
    pub code: String,
    pub description: String,
    pub billable: bool,
    pub effective_from: Option<NaiveDate>,
    pub effective_to: Option<NaiveDate>,
}

/// How a result matched the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchKind {
    ExactCode,
    CodePrefix,
    Description,
    /// No query: every code, in code order.
    All,
}

/// A searchable table. Entries are sorted by code.
pub struct Index {
    entries: Vec<Entry>,
    /// Distinct description words (lower case), sorted, each with the ascending entry positions.
    vocab: Vec<(String, Vec<u32>)>,
}

/// Splits text into lower-case alphanumeric words.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

impl Index {
    pub fn build(mut entries: Vec<Entry>) -> Self {
        entries.sort_by(|a, b| a.code.cmp(&b.code));
        entries.dedup_by(|a, b| a.code == b.code);
        let mut map: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            for w in words(&e.description) {
                let list = map.entry(w).or_default();
                if list.last() != Some(&(i as u32)) {
                    list.push(i as u32);
                }
            }
        }
        let mut vocab: Vec<(String, Vec<u32>)> = map.into_iter().collect();
        vocab.sort_by(|a, b| a.0.cmp(&b.0));
        Self { entries, vocab }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entry(&self, i: u32) -> &Entry {
        &self.entries[i as usize]
    }

    /// Entry positions whose description has a word starting with `prefix`, as a bitset.
    fn word_bits(&self, prefix: &str) -> Vec<u64> {
        let mut bits = vec![0u64; self.entries.len().div_ceil(64)];
        let start = self.vocab.partition_point(|(w, _)| w.as_str() < prefix);
        for (w, postings) in &self.vocab[start..] {
            if !w.starts_with(prefix) {
                break;
            }
            for &p in postings {
                bits[(p / 64) as usize] |= 1 << (p % 64);
            }
        }
        bits
    }

    /// Positions of codes starting with `prefix` (a range, since entries are sorted by code).
    fn code_range(&self, prefix: &str) -> std::ops::Range<usize> {
        let start = self.entries.partition_point(|e| e.code.as_str() < prefix);
        let len = self.entries[start..]
            .iter()
            .take_while(|e| e.code.starts_with(prefix))
            .count();
        start..start + len
    }

    /// The first `need` matches of `query`, ranked, and how many there are in all. `code_query`
    /// is the query as a normalised code (or `None` when the query cannot be a code).
    pub fn search(
        &self,
        query: &str,
        code_query: Option<&str>,
        billable_only: bool,
        need: usize,
    ) -> (Vec<(u32, MatchKind)>, usize) {
        let keep = |i: usize| !billable_only || self.entries[i].billable;
        let qwords: Vec<String> = words(query).collect();
        if qwords.is_empty() && code_query.is_none() {
            let all = (0..self.entries.len()).filter(|&i| keep(i));
            let total = all.clone().count();
            let top = all.take(need).map(|i| (i as u32, MatchKind::All)).collect();
            return (top, total);
        }
        let mut out: Vec<(u32, MatchKind)> = Vec::new();
        let mut taken = vec![0u64; self.entries.len().div_ceil(64)];
        if let Some(cq) = code_query.filter(|c| !c.is_empty()) {
            for i in self.code_range(cq) {
                if keep(i) {
                    let kind = if self.entries[i].code == cq {
                        MatchKind::ExactCode
                    } else {
                        MatchKind::CodePrefix
                    };
                    out.push((i as u32, kind));
                    taken[i / 64] |= 1 << (i % 64);
                }
            }
            out.sort_by_key(|&(i, k)| (k, i));
        }
        let mut total = out.len();
        out.truncate(need);
        if !qwords.is_empty() {
            // Longest words first: they usually have the fewest postings.
            let mut sorted = qwords;
            sorted.sort_by_key(|w| std::cmp::Reverse(w.len()));
            sorted.dedup();
            let mut acc = self.word_bits(&sorted[0]);
            for w in &sorted[1..] {
                if acc.iter().all(|b| *b == 0) {
                    break;
                }
                let bits = self.word_bits(w);
                for (a, b) in acc.iter_mut().zip(bits) {
                    *a &= b;
                }
            }
            let mut desc: Vec<u32> = Vec::new();
            for (block, (a, t)) in acc.iter().zip(&taken).enumerate() {
                let mut m = a & !t;
                while m != 0 {
                    let bit = m.trailing_zeros() as usize;
                    m &= m - 1;
                    let i = block * 64 + bit;
                    if keep(i) {
                        desc.push(i as u32);
                    }
                }
            }
            total += desc.len();
            // General codes first (shorter code: the category before its subcodes), then shorter
            // descriptions; position (code order) breaks ties, so pages are stable.
            let rank = |i: &u32| {
                let e = &self.entries[*i as usize];
                (e.code.len(), e.description.len(), *i)
            };
            let room = need.saturating_sub(out.len());
            if room == 0 {
                desc.clear();
            } else if desc.len() > room {
                // Only the best `room` need ordering.
                desc.select_nth_unstable_by_key(room - 1, rank);
                desc.truncate(room);
            }
            desc.sort_unstable_by_key(rank);
            out.extend(desc.into_iter().map(|i| (i, MatchKind::Description)));
        }
        (out, total)
    }
}

/// Process-wide cache of built indexes, keyed by table generation; holds a few at most.
struct Cache {
    entries: Vec<(String, Arc<Index>)>,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    entries: Vec::new(),
});
const CACHE_SLOTS: usize = 16;

/// The cached index of a generation, if built.
pub fn cached(generation: &str) -> Option<Arc<Index>> {
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let pos = cache.entries.iter().position(|(g, _)| g == generation)?;
    // Most recently used last.
    let hit = cache.entries.remove(pos);
    let index = hit.1.clone();
    cache.entries.push(hit);
    Some(index)
}

/// Stores a built index for a generation, evicting the least recently used beyond the slots.
pub fn store(generation: &str, index: Arc<Index>) {
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.entries.retain(|(g, _)| g != generation);
    cache.entries.push((generation.to_owned(), index));
    let excess = cache.entries.len().saturating_sub(CACHE_SLOTS);
    let evicted: Vec<_> = cache.entries.drain(..excess).collect();
    // Freed after the lock: every search takes it.
    drop(cache);
    drop(evicted);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(code: &str, description: &str, billable: bool) -> Entry {
        Entry {
            code: code.into(),
            description: description.into(),
            billable,
            effective_from: None,
            effective_to: None,
        }
    }

    fn sample() -> Index {
        Index::build(vec![
            e("E11", "Type 2 diabetes mellitus", false),
            e(
                "E119",
                "Type 2 diabetes mellitus without complications",
                true,
            ),
            e("E1165", "Type 2 diabetes mellitus with hyperglycemia", true),
            e("E10", "Type 1 diabetes mellitus", false),
            e("R739", "Hyperglycemia, unspecified", true),
            e("Z833", "Family history of diabetes mellitus", true),
        ])
    }

    fn codes(ix: &Index, hits: &[(u32, MatchKind)]) -> Vec<String> {
        hits.iter()
            .map(|(i, _)| ix.entry(*i).code.clone())
            .collect()
    }

    #[test]
    fn words_in_any_order_all_required() {
        let ix = sample();
        let a = codes(
            &ix,
            &ix.search("type 2 diabetes", None, false, usize::MAX).0,
        );
        let b = codes(
            &ix,
            &ix.search("Diabetes TYPE 2", None, false, usize::MAX).0,
        );
        assert_eq!(a, b);
        assert_eq!(a, ["E11", "E119", "E1165"]);
        assert_eq!(
            codes(&ix, &ix.search("diab hyperglyc", None, false, usize::MAX).0),
            ["E1165"]
        );
        assert!(
            ix.search("diabetes xyz", None, false, usize::MAX)
                .0
                .is_empty()
        );
    }

    #[test]
    fn code_matches_rank_first() {
        let ix = sample();
        let hits = ix.search("E11", Some("E11"), false, usize::MAX).0;
        assert_eq!(codes(&ix, &hits), ["E11", "E1165", "E119"]);
        assert_eq!(hits[0].1, MatchKind::ExactCode);
        assert_eq!(hits[1].1, MatchKind::CodePrefix);
        let hits = ix.search("E11.9", Some("E119"), false, usize::MAX).0;
        assert_eq!(codes(&ix, &hits), ["E119"]);
        assert_eq!(
            codes(&ix, &ix.search("E11", Some("E11"), true, usize::MAX).0),
            ["E1165", "E119"]
        );
    }

    #[test]
    fn description_matches_rank_after_codes_general_first() {
        let ix = Index::build(vec![
            e("R739", "Hyperglycemia, unspecified", true),
            e("E1165", "Type 2 diabetes mellitus with hyperglycemia", true),
            e("H0000", "R73 lookalike", true),
        ]);
        let hits = ix.search("r73", Some("R73"), false, usize::MAX).0;
        assert_eq!(codes(&ix, &hits), ["R739", "H0000"]);
        assert_eq!(hits[1].1, MatchKind::Description);
        assert_eq!(
            codes(&ix, &ix.search("hyperglycemia", None, false, usize::MAX).0),
            ["R739", "E1165"]
        );
    }

    #[test]
    fn only_the_needed_top_is_ranked() {
        let ix = sample();
        let full = ix.search("diabetes", None, false, usize::MAX).0;
        for need in 0..=full.len() + 1 {
            let (top, total) = ix.search("diabetes", None, false, need);
            assert_eq!(total, full.len());
            assert_eq!(top, full[..need.min(full.len())]);
        }
        let (top, total) = ix.search("E11", Some("E11"), false, 1);
        assert_eq!((codes(&ix, &top), total), (vec!["E11".to_owned()], 3));
        let (top, total) = ix.search("", None, false, 2);
        assert_eq!((top.len(), total), (2, 6));
    }

    #[test]
    fn empty_query_lists_everything_in_code_order() {
        let ix = sample();
        let all = codes(&ix, &ix.search("", None, true, usize::MAX).0);
        assert_eq!(all, ["E1165", "E119", "R739", "Z833"]);
    }

    #[test]
    fn cache_is_bounded_and_keyed_by_generation() {
        for i in 0..(CACHE_SLOTS + 2) {
            store(&format!("test-gen-{i}"), Arc::new(sample()));
        }
        assert!(cached("test-gen-0").is_none());
        assert!(cached(&format!("test-gen-{}", CACHE_SLOTS + 1)).is_some());
    }
}
