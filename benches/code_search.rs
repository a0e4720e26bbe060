//! ICD-10-CM code search (`coding::search::Index`, pure and in memory) on the shipped table
//! (98 186 codes): words of a description (`diab typ 2`, the `bench/run` query), a code prefix
//! (`E11`), an exact code (`E11.9`); and building the index once (what the first search after a
//! load pays).
//!
//! `cargo bench --bench code_search -- --quick`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use officina::coding::search::Index;
use officina::coding::shipped;

/// The query as a code, as `GET /codes` derives it for ICD-10-CM (no whitespace; dot dropped).
fn code_prefix(q: &str) -> Option<String> {
    let q = q.trim();
    if q.is_empty() || q.contains(char::is_whitespace) {
        return None;
    }
    let s = q.to_ascii_uppercase().replacen('.', "", 1);
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        .then_some(s)
}

fn bench(c: &mut Criterion) {
    let entries = match shipped::icd10cm() {
        Ok(e) => e,
        Err(e) => panic!("the embedded ICD-10-CM table is unreadable: {e}"),
    };
    let ix = Index::build(entries.clone());
    let mut g = c.benchmark_group("icd10cm_search");
    for q in ["diab typ 2", "E11", "E11.9"] {
        let prefix = code_prefix(q);
        assert!(
            ix.search(q, prefix.as_deref(), false, 50).1 > 0,
            "{q} finds nothing"
        );
        // A first page of 50, as the API's default limit.
        g.bench_function(q, |b| {
            b.iter(|| black_box(ix.search(black_box(q), prefix.as_deref(), false, 50)))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("icd10cm_index");
    g.sample_size(10);
    g.bench_function("build", |b| {
        b.iter(|| black_box(Index::build(entries.clone()).len()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
