//! Argon2id with reused work areas.
//!
//! Argon2 with the crate's default parameters fills a 19 MiB work area per hash. The stock
//! `Argon2::hash_password` allocates it and frees it on every call, on whichever actix blocking
//! thread runs the login. Under glibc that memory is not given back: freeing the first large
//! mmapped block raises glibc's dynamic mmap threshold above 19 MiB, so every later work area is
//! carved out of the calling thread's arena, and each arena keeps its 19 MiB after the free (a
//! login in a fresh server raised RSS from 50 to 70 MB for good; five logins on five threads,
//! ~+80 MB). Measured fixes considered (BENCHMARKS.md, "Memory"):
//!
//! - `mallopt(M_MMAP_THRESHOLD, …)` at start-up: only helps on glibc (the server now does it
//!   too, in `main.rs`, for the large requests), and bounds nothing under a burst of logins;
//! - a global allocator (mimalloc, jemalloc): swaps the allocator of the whole server (and a C
//!   build) for one buffer;
//! - **a few work areas allocated once and reused** (chosen): safe code, any allocator, and the
//!   memory of password hashing is bounded by [`MAX_AREAS`] × 19 MiB whatever the number of
//!   concurrent logins (a burst of logins used to cost 19 MiB per blocking thread, up to the
//!   blocking pool's size). Hashing beyond that many at once waits for a free area: Argon2 is
//!   CPU-bound, so more parallel hashes than cores would not finish sooner anyway.
//!
//! The hashes are the stock argon2 crate's, byte for byte: [`Pooled`] only supplies the memory
//! (`Argon2::hash_password_into_with_memory`); verification is the crate's own
//! (`PasswordVerifier`, constant-time comparison) through the `PasswordHasher` trait.

use std::sync::{Condvar, Mutex, PoisonError};

use argon2::password_hash::{self, Decimal, Ident, Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, PasswordHasher, Version};

/// Work areas kept at most (and hashes computed at once at most).
pub const MAX_AREAS: usize = 2;

struct Areas {
    /// Free areas, and how many exist (free or lent).
    state: Mutex<(Vec<Vec<Block>>, usize)>,
    freed: Condvar,
}

static AREAS: Areas = Areas {
    state: Mutex::new((Vec::new(), 0)),
    freed: Condvar::new(),
};

/// An area lent out; back in the pool when dropped (also on panic).
struct Lease(Vec<Block>);

impl Drop for Lease {
    fn drop(&mut self) {
        let area = std::mem::take(&mut self.0);
        let mut st = AREAS.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.0.push(area);
        drop(st);
        AREAS.freed.notify_one();
    }
}

/// A work area of at least `blocks` blocks: a free one, a new one while fewer than
/// [`MAX_AREAS`] exist, otherwise the next one given back.
fn lease(blocks: usize) -> Lease {
    let mut st = AREAS.state.lock().unwrap_or_else(PoisonError::into_inner);
    let mut area = loop {
        if let Some(a) = st.0.pop() {
            break a;
        }
        if st.1 < MAX_AREAS {
            st.1 += 1;
            break Vec::new();
        }
        st = AREAS.freed.wait(st).unwrap_or_else(PoisonError::into_inner);
    };
    drop(st);
    if area.len() < blocks {
        // Allocated once at its final size (then kept): never freed, so glibc's mmap threshold
        // is never raised by it.
        area = vec![Block::default(); blocks];
    }
    Lease(area)
}

/// Argon2 whose work area comes from the shared pool.
pub struct Pooled {
    pub algorithm: Algorithm,
    pub version: Version,
    pub params: Params,
}

impl Default for Pooled {
    /// The crate's defaults (argon2id, v19, m=19456 KiB, t=2, p=1), as `Argon2::default()`.
    fn default() -> Self {
        Self {
            algorithm: Algorithm::default(),
            version: Version::default(),
            params: Params::default(),
        }
    }
}

impl PasswordHasher for Pooled {
    type Params = Params;

    /// As `Argon2::hash_password`, with a pooled work area.
    fn hash_password<'a>(
        &self,
        password: &[u8],
        salt: impl Into<Salt<'a>>,
    ) -> password_hash::Result<PasswordHash<'a>> {
        let salt = salt.into();
        let mut salt_arr = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_arr)?;
        let output_len = self
            .params
            .output_len()
            .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let argon = Argon2::new(self.algorithm, self.version, self.params.clone());
        let blocks = self.params.block_count();
        let output = if blocks > Params::default().block_count() {
            // A stored hash with a bigger work area than ours (imported from elsewhere): its own
            // area for this call only, so the pool never grows past the default size.
            Output::init_with(output_len, |out| {
                Ok(argon.hash_password_into(password, salt_bytes, out)?)
            })?
        } else {
            let mut area = lease(blocks);
            Output::init_with(output_len, |out| {
                Ok(argon.hash_password_into_with_memory(password, salt_bytes, out, &mut area.0)?)
            })?
        };
        Ok(PasswordHash {
            algorithm: self.algorithm.ident(),
            version: Some(self.version.into()),
            params: ParamsString::try_from(&self.params)?,
            salt: Some(salt),
            hash: Some(output),
        })
    }

    /// As `Argon2::hash_password_customized` (what verification calls with a stored hash's
    /// algorithm, version and parameters).
    fn hash_password_customized<'a>(
        &self,
        password: &[u8],
        alg_id: Option<Ident<'a>>,
        version: Option<Decimal>,
        params: Params,
        salt: impl Into<Salt<'a>>,
    ) -> password_hash::Result<PasswordHash<'a>> {
        let algorithm = alg_id
            .map(Algorithm::try_from)
            .transpose()?
            .unwrap_or_default();
        let version = version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        Self {
            algorithm,
            version,
            params,
        }
        .hash_password(password, salt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;
    use argon2::password_hash::SaltString;

    #[test]
    fn same_hashes_as_the_stock_crate_both_ways() {
        let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap();
        let ours = Pooled::default()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        let stock = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert_eq!(ours, stock);
        let h = PasswordHash::new(&stock).unwrap();
        assert!(
            Pooled::default()
                .verify_password(b"correct horse", &h)
                .is_ok()
        );
        assert!(
            Pooled::default()
                .verify_password(b"wrong horse", &h)
                .is_err()
        );
        // Other parameters (a smaller area than the pooled one, argon2i) verify too.
        let small = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(1024, 1, 1, Some(16)).unwrap(),
        )
        .hash_password(b"pw", &salt)
        .unwrap()
        .to_string();
        let h = PasswordHash::new(&small).unwrap();
        assert!(Pooled::default().verify_password(b"pw", &h).is_ok());
        assert!(Pooled::default().verify_password(b"pX", &h).is_err());
    }

    #[test]
    fn a_hash_with_a_bigger_area_verifies_without_growing_the_pool() {
        let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap();
        let default_blocks = Params::default().block_count();
        let big = Params::new(Params::DEFAULT_M_COST + 1024, 1, 1, None).unwrap();
        let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, big)
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        let h = PasswordHash::new(&stored).unwrap();
        assert!(Pooled::default().verify_password(b"pw", &h).is_ok());
        assert!(Pooled::default().verify_password(b"px", &h).is_err());
        let st = AREAS.state.lock().unwrap();
        assert!(st.0.iter().all(|a| a.len() <= default_blocks));
    }

    #[test]
    fn concurrent_hashes_share_at_most_max_areas() {
        let threads: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || {
                    let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap();
                    let pw = format!("pw{i}");
                    let h = Pooled::default()
                        .hash_password(pw.as_bytes(), &salt)
                        .unwrap()
                        .to_string();
                    let stock = Argon2::default()
                        .hash_password(pw.as_bytes(), &salt)
                        .unwrap()
                        .to_string();
                    assert_eq!(h, stock);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let st = AREAS.state.lock().unwrap();
        assert!(st.1 <= MAX_AREAS);
    }
}
