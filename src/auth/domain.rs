//! Pure auth rules: roles, e-mail and password policy, argon2id hashing, JWT claims.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::argon::Pooled;
use super::verified::Verified;
use crate::db::{OrgId, UserId};
use crate::error::FieldIssue;

/// What a user may do (DESIGN §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Manager,
    Biller,
    Lab,
    Clinician,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Manager,
        Role::Biller,
        Role::Lab,
        Role::Clinician,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Biller => "biller",
            Role::Lab => "lab",
            Role::Clinician => "clinician",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = FieldIssue;
    fn from_str(s: &str) -> Result<Self, FieldIssue> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| {
                FieldIssue::new(
                    "invalid_enum",
                    "must be one of: admin, manager, biller, lab, clinician, auditor",
                )
            })
    }
}

/// A normalised (trimmed, lower-case) e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldIssue> {
        let s = raw.trim().to_lowercase();
        if s.len() > 254 || !validator::ValidateEmail::validate_email(&s) {
            return Err(FieldIssue::new(
                "invalid_format",
                "must be an e-mail address",
            ));
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 128;

/// Checks the password policy: 12 to 128 characters.
pub fn check_password(pw: &str) -> Result<(), FieldIssue> {
    let n = pw.chars().count();
    if n < PASSWORD_MIN {
        return Err(FieldIssue::new(
            "too_short",
            format!("must have at least {PASSWORD_MIN} characters"),
        ));
    }
    if n > PASSWORD_MAX {
        return Err(FieldIssue::new(
            "too_long",
            format!("must have at most {PASSWORD_MAX} characters"),
        ));
    }
    Ok(())
}

/// Hashes a password with argon2id (the crate's default parameters, a fresh random salt), in a
/// reused work area ([`super::argon`]).
pub fn hash_password(pw: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Pooled::default()
        .hash_password(pw.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash password: {e}"))
}

/// Verifies a password against a stored PHC hash string. A malformed hash never verifies.
pub fn verify_password(pw: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| Pooled::default().verify_password(pw.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// A random secret of `n` bytes, hex-encoded.
pub fn random_secret(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub const ISSUER: &str = "officina";
pub const AUDIENCE: &str = "officina-api";
/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds: a token is accepted until this
/// long after its `exp` (so its revocation is kept at least that long, `repo::revoke`).
pub const LEEWAY_SECS: u64 = 5;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub org: String,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
}

/// Signing and verification keys (HS256), the checks a token must pass, the tokens that passed
/// them (`auth::verified`), and the token lifetime. Clones share the verified tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    verified: Arc<Verified>,
    pub ttl_secs: i64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl_secs: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            verified: Arc::default(),
            ttl_secs,
        }
    }

    /// Issues a token for a user, valid from `now` (unix seconds) for `ttl_secs`.
    pub fn issue(
        &self,
        user: UserId,
        org: OrgId,
        role: Role,
        now: i64,
    ) -> Result<(String, Claims), String> {
        let claims = Claims {
            sub: user.to_string(),
            org: org.to_string(),
            role: role.to_string(),
            iat: now,
            exp: now + self.ttl_secs,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti: uuid::Uuid::now_v7().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map(|t| (t, claims))
            .map_err(|e| format!("cannot sign token: {e}"))
    }

    /// Verifies signature, algorithm (HS256 only), issuer, audience, expiry and not-before, and
    /// refuses a token issued in the future. A token that passed once is kept
    /// (`auth::verified`): presented again, only its expiry is checked again.
    pub fn verify(&self, token: &str) -> Result<Claims, String> {
        self.verify_at(token, chrono::Utc::now().timestamp())
    }

    /// [`TokenKeys::verify`] at `now` (unix seconds). A token seen for the first time is checked
    /// by jsonwebtoken against the system clock, which `now` is outside tests.
    fn verify_at(&self, token: &str, now: i64) -> Result<Claims, String> {
        // Expired as jsonwebtoken decides it (its `validate`, 11.1), from the same settings.
        let leeway = self.validation.leeway as i64;
        let reject = self.validation.reject_tokens_expiring_in_less_than as i64;
        let alive = |c: &Claims| c.exp >= reject && c.exp - reject >= now - leeway;
        if let Some(claims) = self.verified.get(token) {
            return if alive(&claims) {
                Ok(claims)
            } else {
                Err("the token has expired".into())
            };
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| e.to_string())?;
        if claims.iat > now + leeway {
            return Err("the token was issued in the future".into());
        }
        self.verified.keep(token, &claims, alive);
        Ok(claims)
    }
}

/// Failed logins on one account before it is locked, and for how long.
pub const MAX_FAILED_LOGINS: i32 = 5;
pub const LOCKOUT_SECS: i64 = 15 * 60;

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// A lab user's token issued at `iat` (unix seconds), and its claims.
    fn lab_token(keys: &TokenKeys, iat: i64) -> (String, Claims) {
        keys.issue(UserId::new(), OrgId::new(), Role::Lab, iat)
            .unwrap()
    }

    #[test]
    fn roles_parse() {
        assert_eq!("biller".parse::<Role>(), Ok(Role::Biller));
        assert!("wizard".parse::<Role>().is_err());
    }

    #[test]
    fn email_is_normalised() {
        assert_eq!(
            Email::parse(" Ann@Example.ORG ").unwrap().as_str(),
            "ann@example.org"
        );
        assert!(Email::parse("not-an-email").is_err());
    }

    #[test]
    fn password_policy_and_hash() {
        assert!(check_password("short").is_err());
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong horse battery", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let keys = TokenKeys::new(&[7u8; 32], 3600);
        let now = chrono::Utc::now().timestamp();
        let (tok, claims) = lab_token(&keys, now);
        assert_eq!(keys.verify(&tok).unwrap(), claims);
        let other = TokenKeys::new(&[8u8; 32], 3600);
        assert!(other.verify(&tok).is_err());
        let (_, expired) = lab_token(&keys, now - 7200);
        let expired_tok =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &expired, &keys.encoding).unwrap();
        assert!(keys.verify(&expired_tok).is_err());
        // alg: none, unsigned
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        assert!(keys.verify(&format!("{header}.{body}.")).is_err());
    }

    #[test]
    fn a_token_verified_before_is_still_refused_once_expired() {
        let keys = TokenKeys::new(&[7u8; 32], 3600);
        let now = chrono::Utc::now().timestamp();
        let (tok, claims) = lab_token(&keys, now);
        assert_eq!(keys.verify_at(&tok, now).unwrap(), claims);
        assert_eq!(keys.verified.get(&tok), Some(claims.clone()), "kept");
        let last = claims.exp + LEEWAY_SECS as i64;
        assert_eq!(
            keys.verify_at(&tok, last).unwrap(),
            claims,
            "within the leeway"
        );
        assert!(keys.verify_at(&tok, last + 1).is_err(), "expired");
        // A clone shares what was verified; other keys verify on their own.
        assert!(keys.clone().verified.get(&tok).is_some());
        let other = TokenKeys::new(&[8u8; 32], 3600);
        assert!(other.verify(&tok).is_err());
        assert!(other.verified.get(&tok).is_none());
    }

    #[test]
    fn a_token_differing_from_a_verified_one_in_one_byte_is_verified_in_full() {
        let keys = TokenKeys::new(&[7u8; 32], 3600);
        let now = chrono::Utc::now().timestamp();
        let (tok, _) = lab_token(&keys, now);
        keys.verify(&tok).unwrap();
        let (head, signature) = tok.rsplit_once('.').unwrap();
        let first = signature.as_bytes()[0];
        let other = if first == b'A' { 'B' } else { 'A' };
        let forged = format!("{head}.{other}{}", &signature[1..]);
        assert!(keys.verify(&forged).is_err());
        assert!(keys.verified.get(&forged).is_none());
        // Refused tokens are never kept: expired, or signed but issued in the future (the one
        // check made after jsonwebtoken's).
        let (expired, _) = lab_token(&keys, now - 7200);
        assert!(keys.verify(&expired).is_err());
        let (future, _) = lab_token(&keys, now + 3600);
        assert!(keys.verify(&future).is_err());
        assert_eq!(keys.verified.len(), 1);
    }

    #[test]
    fn not_before_and_future_issue_times_are_refused() {
        let keys = TokenKeys::new(&[7u8; 32], 3600);
        let now = chrono::Utc::now().timestamp();
        let (_, claims) = lab_token(&keys, now);
        let sign = |v: &serde_json::Value| {
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), v, &keys.encoding).unwrap()
        };
        let mut v = serde_json::to_value(&claims).unwrap();
        assert!(keys.verify(&sign(&v)).is_ok());
        v["nbf"] = serde_json::json!(now + 600);
        assert!(keys.verify(&sign(&v)).is_err(), "nbf in the future");
        v["nbf"] = serde_json::json!(now - 600);
        assert!(keys.verify(&sign(&v)).is_ok(), "nbf in the past");
        let mut v = serde_json::to_value(&claims).unwrap();
        v["iat"] = serde_json::json!(now + 600);
        assert!(keys.verify(&sign(&v)).is_err(), "issued in the future");
        v["iat"] = serde_json::json!(now + 2);
        assert!(keys.verify(&sign(&v)).is_ok(), "within the leeway");
    }
}
