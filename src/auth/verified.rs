//! Access tokens already verified, kept by their exact text so that the next request presenting
//! the same token skips the signature and the JSON parsing.
//!
//! A workstation presents one token for every request until it expires, so without this each
//! request verified the HMAC again, decoded the header and parsed the claims twice (jsonwebtoken
//! parses them once to validate and once to answer): about a tenth of a read's time on the server
//! (BENCHMARKS.md, the profile of `GET /specimens/{id}`).
//!
//! What a kept token still goes through: its expiry, against the clock of the request
//! ([`super::domain::TokenKeys::verify`]); and everything the database decides (revocation, the
//! user's active flag and current role), which every request checks anyway. Only a token that
//! passed every check is kept, under the exact text presented, so a token differing in one byte
//! (another signature, other claims) is verified in full. Each [`super::domain::TokenKeys`] holds
//! its own cache, so a token verified under one secret is never taken under another. The keys
//! never change while the server runs (a new secret means a restart), so nothing verified under
//! them needs to be forgotten but what expires. `nbf` and `iat` are not checked again: a token
//! valid by them once stays valid while the clock moves forward (a clock set back by more than
//! the leeway would let a kept token skip them; the tokens issued here carry no `nbf`).
//!
//! The map keeps std's randomly keyed hasher: a lookup by a text an attacker chose then tells
//! nothing about the kept tokens' texts but whether that exact text is one of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::domain::Claims;

/// The most tokens kept. Past it, the expired ones are dropped, then, if that was not enough,
/// all of them (each is verified again at its next use, as without the cache).
const CAPACITY: usize = 4096;

/// Verified tokens and their claims.
#[derive(Default)]
pub struct Verified {
    tokens: Mutex<HashMap<Box<str>, Arc<Claims>>>,
}

impl Verified {
    /// The claims of `token` if it was verified before (whatever its expiry now).
    pub fn get(&self, token: &str) -> Option<Claims> {
        // The claims are copied after the lock is released.
        let kept = self.lock().get(token).cloned();
        kept.map(|claims| Claims::clone(&claims))
    }

    /// Keeps `token`, which passed every check, with its claims; `alive` tells which kept tokens
    /// have not expired, for when the cache is full.
    pub fn keep(&self, token: &str, claims: &Claims, alive: impl Fn(&Claims) -> bool) {
        let mut tokens = self.lock();
        if tokens.len() >= CAPACITY {
            tokens.retain(|_, c| alive(c));
            if tokens.len() >= CAPACITY {
                tokens.clear();
            }
        }
        tokens.insert(token.into(), Arc::new(claims.clone()));
    }

    /// How many tokens are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// The map; a panic elsewhere while it was held cannot have left it half-changed (each change
    /// is one call on it), so a poisoned lock is taken as is.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Arc<Claims>>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::domain::{AUDIENCE, ISSUER};

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "u".into(),
            org: "o".into(),
            role: "lab".into(),
            iat: 0,
            exp,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti: format!("j{exp}"),
        }
    }

    #[test]
    fn a_full_cache_drops_the_expired_tokens_first_then_everything() {
        let cache = Verified::default();
        for i in 0..CAPACITY as i64 {
            // Half of them expired (an odd `exp`).
            cache.keep(&format!("t{i}"), &claims(i), |_| true);
        }
        assert_eq!(cache.len(), CAPACITY);
        cache.keep("new", &claims(1), |c| c.exp % 2 == 0);
        assert_eq!(cache.len(), CAPACITY / 2 + 1);
        assert!(cache.get("t2").is_some() && cache.get("t3").is_none());
        // None expired: the 2 048th new token finds the cache full and empties it first.
        for i in 0..CAPACITY as i64 {
            cache.keep(&format!("u{i}"), &claims(i), |_| true);
        }
        cache.keep("last", &claims(0), |_| true);
        assert_eq!(cache.len(), 2050);
        assert!(cache.get("t2").is_none() && cache.get("u2046").is_none());
        assert!(cache.get("u2047").is_some() && cache.get("last").is_some());
    }
}
