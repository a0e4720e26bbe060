//! `Idempotency-Key` for POSTs that create: the first response is stored with the key (in the
//! same transaction as the creation); a retry with the same key and body gets that response back
//! and creates nothing; the same key with a different body is refused (`422`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::auth::{Bearer, Role};
use crate::db::schema::idempotency_keys::dsl as ik;
use crate::db::{Db, DbConn, OrgId, UserId};
use crate::error::AppError;

pub const HEADER: &str = "Idempotency-Key";

/// The key a request carries, checked (1 to 255 visible ASCII characters).
pub fn key(req: &HttpRequest) -> Result<Option<String>, AppError> {
    let Some(v) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or("").trim();
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AppError::BadRequest(
            "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
        ));
    }
    Ok(Some(s.to_owned()))
}

/// A fingerprint of what was asked (scope and body), to tell a retry from a reuse of the key.
pub fn fingerprint(scope: &str, body: &impl serde::Serialize) -> String {
    let mut h = Sha256::new();
    h.update(scope.as_bytes());
    h.update(serde_json::to_vec(body).unwrap_or_default());
    hex::encode(h.finalize())
}

/// A stored response.
pub struct Stored {
    pub status: u16,
    pub body: String,
}

/// The stored response for this key, if the request was seen before.
pub fn lookup(
    conn: &mut DbConn,
    org: OrgId,
    key: &str,
    hash: &str,
) -> Result<Option<Stored>, AppError> {
    let row: Option<(String, i32, String)> = ik::idempotency_keys
        .filter(ik::org_id.eq(org.to_string()))
        .filter(ik::idem_key.eq(key))
        .select((ik::request_hash, ik::status_code, ik::response_body))
        .first(conn)
        .optional()?;
    match row {
        None => Ok(None),
        Some((h, _, _)) if h != hash => Err(AppError::field(
            "Idempotency-Key",
            "key_reused",
            "this key was already used for a different request",
        )),
        Some((_, status, body)) => Ok(Some(Stored {
            status: status as u16,
            body,
        })),
    }
}

/// Stores the response of the first request with this key.
#[allow(clippy::too_many_arguments)]
pub fn store(
    conn: &mut DbConn,
    org: OrgId,
    user: UserId,
    key: &str,
    scope: &str,
    hash: &str,
    status: u16,
    body: &str,
) -> Result<(), AppError> {
    diesel::insert_into(ik::idempotency_keys)
        .values((
            ik::org_id.eq(org.to_string()),
            ik::idem_key.eq(key),
            ik::user_id.eq(user.to_string()),
            ik::scope.eq(scope),
            ik::request_hash.eq(hash),
            ik::status_code.eq(i32::from(status)),
            ik::response_body.eq(body),
            ik::created_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// A created resource's view as the JSON body a create answers (and stores under its key).
pub fn body(view: &impl serde::Serialize) -> Result<String, AppError> {
    serde_json::to_string(view).map_err(|e| AppError::internal(e.to_string()))
}

/// The HTTP answer of a create: `status` (a stored one on a replay) and its JSON body.
pub fn answer(status: u16, json: String) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED))
        .content_type("application/json")
        .body(json)
}

/// A create by a [`Bearer`] caller with an `Idempotency-Key` (or a malformed one, `key`), in one
/// write transaction of its own: the caller is checked (`401`, `403`), then the key (`400`), then
/// [`once`] runs `create` and answers `201` with its view (or replays the stored answer).
pub async fn create_once<B, V, F>(
    bearer: Bearer,
    db: &Db,
    roles: &'static [Role],
    key: Result<Option<String>, AppError>,
    scope: &'static str,
    request: B,
    create: F,
) -> Result<(u16, String), AppError>
where
    B: serde::Serialize + Send + 'static,
    V: serde::Serialize,
    F: FnOnce(&mut DbConn, &crate::audit::AuditCtx, &B) -> Result<V, AppError> + Send + 'static,
{
    let hash = fingerprint(scope, &request);
    bearer
        .write(db, roles, move |c, user| {
            let key = key?;
            let ctx = user.audit();
            once(
                c,
                ctx.org,
                user.user_id,
                key.as_deref(),
                scope,
                &hash,
                |c| Ok((201, body(&create(c, &ctx, &request)?)?)),
            )
        })
        .await
}

/// A create that honors `Idempotency-Key`, in the caller's transaction: for a key seen before,
/// the stored answer (a different request under the same key is refused, `lookup`); otherwise
/// `create`'s answer (status and JSON body), stored under the key when there is one.
pub fn once(
    conn: &mut DbConn,
    org: OrgId,
    user: UserId,
    key: Option<&str>,
    scope: &str,
    hash: &str,
    create: impl FnOnce(&mut DbConn) -> Result<(u16, String), AppError>,
) -> Result<(u16, String), AppError> {
    if let Some(k) = key
        && let Some(stored) = lookup(conn, org, k, hash)?
    {
        return Ok((stored.status, stored.body));
    }
    let (status, body) = create(conn)?;
    if let Some(k) = key {
        store(conn, org, user, k, scope, hash, status, &body)?;
    }
    Ok((status, body))
}
