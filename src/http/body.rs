//! Reading request bodies with a size limit, and the media type a request declares: shared by the
//! JSON extractor and the raw uploads (CSV code tables, X12 files).

use actix_web::HttpRequest;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};

use crate::error::AppError;

/// The declared media type without parameters, lower-cased (`text/csv; charset=utf-8` → `text/csv`).
pub fn media_type(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// The declared `Content-Length`, if any.
pub fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Reads the whole body, refusing it with `too_large()` as soon as it is known to exceed `limit`
/// (from the declared length, or while reading).
pub async fn read_limited<S>(
    mut payload: S,
    declared: Option<usize>,
    limit: usize,
    too_large: impl Fn() -> AppError,
) -> Result<Vec<u8>, AppError>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| AppError::BadRequest(format!("cannot read body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// True for the media types an X12 upload may declare.
pub fn is_x12(req: &HttpRequest) -> bool {
    media_type(req).is_some_and(|e| {
        matches!(
            e.as_str(),
            "application/edi-x12" | "text/plain" | "application/octet-stream"
        )
    })
}
