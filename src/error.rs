//! The application error and its RFC 9457 `application/problem+json` rendering.
//!
//! Handlers return `Result<_, AppError>`; every error reaching the client is a problem document.
//! Internal errors keep their cause for the log only: the body carries the request id and nothing
//! else (the request-id middleware fills it in).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem with one field of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Path of the field in the request, e.g. `subscriber.birth_date` or `lines[2].modifiers[0]`.
    #[schema(example = "email")]
    pub field: String,
    /// Stable machine-readable code, e.g. `required`, `invalid_format`, `invalid_npi`.
    #[schema(example = "invalid_format")]
    pub code: String,
    /// Human-readable explanation.
    #[schema(example = "must be an e-mail address")]
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// RFC 9457 problem details.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "urn:officina:problem:validation-error")]
    pub type_: String,
    #[schema(example = "Unprocessable Content")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Every field error at once (validation problems).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<FieldError>,
    /// The request id, also in the `X-Request-Id` header; quote it when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Extra members for some problems (e.g. `allowed` transitions on a `409`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: Option<String>) -> Self {
        let slug = match status.as_u16() {
            400 => "bad-request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not-found",
            405 => "method-not-allowed",
            409 => "conflict",
            413 => "payload-too-large",
            415 => "unsupported-media-type",
            422 => "validation-error",
            428 => "precondition-required",
            429 => "too-many-requests",
            503 => "unavailable",
            500..=599 => "internal-error",
            _ => "error",
        };
        Self {
            type_: format!("urn:officina:problem:{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors: Vec::new(),
            request_id: None,
            extra: None,
        }
    }

    pub fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(self).unwrap_or_default();
        HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)))
            .body(body)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {detail}")]
    Conflict {
        detail: String,
        extra: Option<serde_json::Map<String, serde_json::Value>>,
    },
    #[error("validation failed ({} field errors)", .0.len())]
    Validation(Vec<FieldError>),
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("precondition required: {0}")]
    PreconditionRequired(String),
    #[error("too many requests: {detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::Internal(msg.into())
    }
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict {
            detail: detail.into(),
            extra: None,
        }
    }
    pub fn forbidden_role(role: impl std::fmt::Display) -> Self {
        Self::Forbidden(format!("the role '{role}' may not perform this action"))
    }
    /// A single-field validation error.
    pub fn field(field: &str, code: &str, message: &str) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }

    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let mut p = match self {
            Self::Internal(_) => Problem::new(status, None),
            Self::Unavailable(_) => Problem::new(
                status,
                Some("the service is temporarily unavailable".into()),
            ),
            Self::Validation(_) => Problem::new(
                status,
                Some("the request has invalid fields; see `errors`".into()),
            ),
            Self::Conflict { detail, .. } | Self::TooManyRequests { detail, .. } => {
                Problem::new(status, Some(detail.clone()))
            }
            Self::BadRequest(d)
            | Self::Unauthorized(d)
            | Self::Forbidden(d)
            | Self::NotFound(d)
            | Self::PayloadTooLarge(d)
            | Self::UnsupportedMediaType(d)
            | Self::PreconditionRequired(d) => Problem::new(status, Some(d.clone())),
        };
        match self {
            Self::Validation(errors) => p.errors = errors.clone(),
            Self::Conflict { extra, .. } => p.extra = extra.clone(),
            _ => {}
        }
        p
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = self.problem().response();
        match self {
            Self::Unauthorized(_) => {
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"officina\""),
                );
            }
            Self::TooManyRequests {
                retry_after_secs, ..
            } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            _ => {}
        }
        res
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => Self::NotFound("not found".into()),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                Self::conflict("a record with the same unique value already exists")
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                Self::conflict("the record was changed concurrently; retry")
            }
            // The server went away (restart, network). A write may or may not have committed;
            // an Idempotency-Key makes the retry safe.
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => Self::Unavailable("the database connection was lost; retry".into()),
            // SQLite's SQLITE_BUSY: another process held the write lock past `busy_timeout`.
            Error::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message() == "database is locked" =>
            {
                Self::Unavailable("the database is busy; retry".into())
            }
            other => Self::Internal(format!("database: {other}")),
        }
    }
}

impl From<r2d2::Error> for AppError {
    fn from(e: r2d2::Error) -> Self {
        Self::Unavailable(format!("database pool: {e}"))
    }
}

/// Collects every field error of a request before answering, so the client sees them all at once.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    /// Adds a required-field error when `value` is missing or blank; returns the trimmed value.
    pub fn require<'a>(&mut self, field: &str, value: Option<&'a str>) -> Option<&'a str> {
        match value.map(str::trim) {
            Some(v) if !v.is_empty() => Some(v),
            _ => {
                self.add(field, "required", "is required");
                None
            }
        }
    }

    /// Merges the errors of a `validator::Validate` run, with paths under `prefix`.
    pub fn validator(&mut self, prefix: &str, result: Result<(), validator::ValidationErrors>) {
        if let Err(errs) = result {
            flatten_validator(prefix, &errs, &mut self.0);
        }
    }

    /// Records the error of a fallible parse; returns the value when it parsed.
    pub fn check<T>(&mut self, field: &str, result: Result<T, FieldIssue>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(issue) => {
                self.add(field, issue.code, issue.message);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was recorded, else the `422` with every error.
    pub fn into_result(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self.0))
        }
    }
}

/// What is wrong with one value (the field path is added by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIssue {
    pub code: &'static str,
    pub message: String,
}

impl FieldIssue {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for FieldIssue {}

fn flatten_validator(prefix: &str, errs: &validator::ValidationErrors, out: &mut Vec<FieldError>) {
    use validator::ValidationErrorsKind;
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    let mut entries: Vec<_> = errs.errors().iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    for (name, kind) in entries {
        let path = join(name);
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    out.push(FieldError::new(&path, e.code.as_ref(), describe(e)));
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten_validator(&path, inner, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    flatten_validator(&format!("{path}[{i}]"), inner, out);
                }
            }
        }
    }
}

/// A message for a validator error, built from its parameters but never from the submitted value
/// (which may be PHI).
fn describe(e: &validator::ValidationError) -> String {
    if let Some(m) = &e.message {
        return m.to_string();
    }
    let p = |k: &str| e.params.get(k).map(|v| v.to_string());
    match e.code.as_ref() {
        "length" => match (p("min"), p("max"), p("equal")) {
            (_, _, Some(eq)) => format!("must have exactly {eq} characters"),
            (Some(min), Some(max), _) => format!("must have between {min} and {max} characters"),
            (Some(min), None, _) => format!("must have at least {min} characters"),
            (None, Some(max), _) => format!("must have at most {max} characters"),
            _ => "has an invalid length".into(),
        },
        "range" => match (p("min"), p("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            _ => "is out of range".into(),
        },
        "email" => "must be an e-mail address".into(),
        "required" => "is required".into(),
        other => format!("is invalid ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use validator::Validate;

    #[derive(Validate)]
    struct Inner {
        #[validate(length(min = 2))]
        name: String,
    }

    #[derive(Validate)]
    struct Outer {
        #[validate(email)]
        email: String,
        #[validate(nested)]
        inner: Inner,
    }

    #[test]
    fn validator_errors_are_flattened_with_paths_and_without_values() {
        let o = Outer {
            email: "secret-value".into(),
            inner: Inner { name: "x".into() },
        };
        let mut errs = FieldErrors::new();
        errs.validator("", o.validate());
        let Err(AppError::Validation(list)) = errs.into_result() else {
            panic!("expected errors")
        };
        let fields: Vec<_> = list.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "inner.name"]);
        assert!(list.iter().all(|e| !e.message.contains("secret-value")));
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let p = AppError::internal("password=hunter2").problem();
        assert_eq!(p.status, 500);
        assert!(p.detail.is_none());
    }
}
