//! HTTP plumbing shared by every context: request ids, problem responses for everything the
//! framework itself answers (404, 405, 413, extractor errors), the JSON body extractor,
//! pagination and optimistic-concurrency helpers.

pub mod body;
pub mod csv;
pub mod idempotency;
pub mod json;
pub mod middleware;
pub mod pagination;

use actix_web::{HttpMessage, HttpRequest};

pub use json::Json;
pub use pagination::{Page, PageQuery};

/// Largest JSON body accepted (DESIGN §4).
pub const JSON_LIMIT: usize = 1024 * 1024;

/// The id of the current request, set by the request-id middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Reads the request id of a request (empty when the middleware did not run, e.g. in unit tests).
pub fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// Reads the expected version from `If-Match` (an ETag `"3"` or `W/"3"`), if any.
pub fn if_match_version(req: &HttpRequest) -> Result<Option<i32>, crate::error::AppError> {
    let Some(raw) = req.headers().get(actix_web::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let s = raw.to_str().unwrap_or("").trim();
    let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
    s.parse::<i32>().map(Some).map_err(|_| {
        crate::error::AppError::BadRequest(
            "If-Match must be the ETag of the record, e.g. \"3\"".into(),
        )
    })
}

/// The ETag for a record version.
pub fn etag(version: i32) -> (actix_web::http::header::HeaderName, String) {
    (actix_web::http::header::ETAG, format!("\"{version}\""))
}
