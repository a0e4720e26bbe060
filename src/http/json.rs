//! `Json<T>`: the request-body extractor. It answers, as problem+json:
//! `415` for a body that is not JSON, `413` beyond [`JSON_LIMIT`](super::JSON_LIMIT), `400` for
//! text that does not parse as JSON, and `422` (with the field path) for JSON of the wrong shape.
//! Field rules are checked afterwards by the DTO, which reports every problem at once.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::{JSON_LIMIT, body};
use crate::error::{AppError, FieldError};

pub struct Json<T>(pub T);

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // No Content-Type is taken as JSON; a header that cannot be read is not.
        let content_type_ok = req.headers().get(header::CONTENT_TYPE).is_none()
            || body::media_type(req)
                .is_some_and(|e| e == "application/json" || e.ends_with("+json"));
        let declared_len = body::declared_length(req);
        let payload = payload.take();
        Box::pin(async move {
            if !content_type_ok {
                return Err(AppError::UnsupportedMediaType(
                    "the body must be JSON (Content-Type: application/json)".into(),
                ));
            }
            let body = body::read_limited(payload, declared_len, JSON_LIMIT, too_large).await?;
            parse(&body).map(Json)
        })
    }
}

fn too_large() -> AppError {
    AppError::PayloadTooLarge(format!("JSON bodies are limited to {JSON_LIMIT} bytes"))
}

/// Parses a JSON body: syntax errors are `400`, shape errors `422` with the path of the field.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::BadRequest(
            "the request body is empty; a JSON object is expected".into(),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| AppError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let raw = e.inner().to_string();
        let code = if raw.starts_with("missing field") {
            "required"
        } else {
            "invalid_type"
        };
        // Say what was expected, never echo the submitted value (it may be PHI).
        let message = if code == "required" {
            raw.split(" at line")
                .next()
                .unwrap_or("missing field")
                .to_owned()
        } else {
            match raw.split_once("expected ") {
                Some((_, exp)) => format!(
                    "has the wrong type: expected {}",
                    exp.split(" at line").next().unwrap_or(exp)
                ),
                None => "has the wrong type or value".to_owned(),
            }
        };
        let field = if code == "required" {
            let name = raw.split('`').nth(1).unwrap_or_default();
            if field.is_empty() {
                name.to_owned()
            } else {
                format!("{field}.{name}")
            }
        } else {
            field
        };
        AppError::Validation(vec![FieldError::new(field, code, message)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Inner,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        count: i32,
    }

    #[test]
    fn syntax_error_is_400() {
        assert!(matches!(
            parse::<Body>(b"{nope"),
            Err(AppError::BadRequest(_))
        ));
    }

    #[test]
    fn wrong_type_is_422_with_path() {
        let Err(AppError::Validation(errs)) =
            parse::<Body>(br#"{"name":"a","inner":{"count":"secret"}}"#)
        else {
            panic!("expected 422")
        };
        assert_eq!(errs[0].field, "inner.count");
        assert!(!errs[0].message.contains("secret"));
    }

    #[test]
    fn missing_field_names_the_field() {
        let Err(AppError::Validation(errs)) = parse::<Body>(br#"{"inner":{"count":1}}"#) else {
            panic!("expected 422")
        };
        assert_eq!(errs[0].field, "name");
        assert_eq!(errs[0].code, "required");
    }
}
