//! Verifying an access token (`auth::domain::TokenKeys::verify`): a token seen for the first time
//! (HMAC, header and claims parsed, every claim checked) against the same token presented again,
//! which is kept verified and only has its expiry checked (`auth::verified`).
//!
//! `cargo bench --bench tokens -- --quick`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

use officina::auth::Role;
use officina::auth::domain::TokenKeys;
use officina::db::{OrgId, UserId};

const SECRET: &[u8] = b"bench-secret-bench-secret-bench-secret-0123";

fn token(keys: &TokenKeys) -> String {
    let now = chrono::Utc::now().timestamp();
    match keys.issue(UserId::new(), OrgId::new(), Role::Lab, now) {
        Ok((token, _)) => token,
        Err(e) => panic!("{e}"),
    }
}

fn tokens(c: &mut Criterion) {
    let keys = TokenKeys::new(SECRET, 3600);
    let kept = token(&keys);
    assert!(keys.verify(&kept).is_ok());
    // Fresh keys for every verification, so none is kept. Timed: the verification and keeping
    // the token; not timed: making the keys and the token, and dropping them.
    c.bench_function("verify a token seen for the first time", |b| {
        b.iter_batched(
            || {
                let keys = TokenKeys::new(SECRET, 3600);
                let token = token(&keys);
                (keys, token)
            },
            |(keys, token)| {
                let ok = black_box(keys.verify(black_box(&token)).is_ok());
                (ok, keys, token)
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("verify a token verified before", |b| {
        b.iter(|| black_box(keys.verify(black_box(&kept)).is_ok()))
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);
