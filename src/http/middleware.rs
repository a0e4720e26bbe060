//! Request-id and problem-normalising middleware, and the fallback that answers `404`/`405`.
//!
//! Every response carries `X-Request-Id`. Any error response the framework produced in plain text
//! (an unknown route, a body over the limit, a panic) is rewritten as problem+json; a `5xx` body
//! is replaced by an opaque problem with only the request id, and its cause is logged.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use super::RequestId;
use crate::error::{PROBLEM_JSON, Problem};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn incoming_request_id(req: &ServiceRequest) -> Option<String> {
    let v = req.headers().get(REQUEST_ID)?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| v.to_owned())
}

/// Assigns the request id, logs the request and normalises errors. The log line carries the
/// method, the matched route pattern (`/api/v1/specimens/by-accession/{accession_number}`, never
/// the concrete path: accession numbers and MRNs are identifiers), status and time; no bodies,
/// query strings or headers, so no PHI and no tokens.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let id = incoming_request_id(&req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    // Errors the inner services return (rather than render) are rendered by actix from their
    // `ResponseError` impl; every error of ours is already problem+json.
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<no route>".to_owned());
    if status.is_server_error() {
        let cause = res
            .response()
            .error()
            .map(|e| e.to_string())
            .unwrap_or_default();
        tracing::error!(request_id = %id, %method, %route, status = status.as_u16(), elapsed_ms, cause, "request failed");
    } else {
        tracing::info!(request_id = %id, %method, %route, status = status.as_u16(), elapsed_ms, "request");
    }

    let mut res = normalise(res, &id);
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(res)
}

fn is_problem(res: &ServiceResponse<BoxBody>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON))
}

fn normalise(res: ServiceResponse<BoxBody>, request_id: &str) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if status.is_server_error() {
        let mut p = Problem::new(status, None);
        p.request_id = Some(request_id.to_owned());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            p.detail = Some("the service is temporarily unavailable".into());
        }
        return replace_body(res, &p);
    }
    if status.is_client_error() && !is_problem(&res) {
        let detail = match status {
            StatusCode::NOT_FOUND => Some("no such resource".to_owned()),
            StatusCode::PAYLOAD_TOO_LARGE => Some("the request body is too large".to_owned()),
            _ => res.response().error().map(|e| e.to_string()),
        };
        let p = Problem::new(status, detail);
        return replace_body(res, &p);
    }
    res
}

fn replace_body(res: ServiceResponse<BoxBody>, p: &Problem) -> ServiceResponse<BoxBody> {
    let (req, old) = res.into_parts();
    let mut new = p.response();
    // Keep headers that matter to the client (Allow, Retry-After, WWW-Authenticate).
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = old.headers().get(&name) {
            new.headers_mut().insert(name.clone(), v.clone());
        }
    }
    ServiceResponse::new(req, new)
}

/// The route table used to tell `404` (no such path) from `405` (path exists, method does not).
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<(regex::Regex, Vec<Method>)>,
}

impl RouteTable {
    /// Builds the table from the OpenAPI document's paths (`/api/v1/users/{id}`).
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        let mut routes = Vec::new();
        for (path, item) in doc.paths.paths.iter() {
            let mut pattern = String::from("^");
            for part in path.split('/').filter(|p| !p.is_empty()) {
                pattern.push('/');
                if part.starts_with('{') && part.ends_with('}') {
                    pattern.push_str("[^/]+");
                } else {
                    pattern.push_str(&regex::escape(part));
                }
            }
            pattern.push_str("/?$");
            let mut methods = Vec::new();
            let json = serde_json::to_value(item).unwrap_or_default();
            for (m, method) in [
                ("get", Method::GET),
                ("post", Method::POST),
                ("put", Method::PUT),
                ("patch", Method::PATCH),
                ("delete", Method::DELETE),
            ] {
                if json.get(m).is_some() {
                    methods.push(method);
                }
            }
            if let Ok(re) = regex::Regex::new(&pattern) {
                routes.push((re, methods));
            }
        }
        Self { routes }
    }

    pub fn allowed(&self, path: &str) -> Option<Vec<Method>> {
        let mut found: Option<Vec<Method>> = None;
        for (re, methods) in &self.routes {
            if re.is_match(path) {
                found
                    .get_or_insert_with(Vec::new)
                    .extend(methods.iter().cloned());
            }
        }
        found
    }
}

/// Fallback for requests no route matched: `405` with `Allow` when the path exists under other
/// methods, else `404`. Both as problem+json.
pub async fn fallback(req: HttpRequest, table: web::Data<Arc<RouteTable>>) -> HttpResponse {
    match table.allowed(req.path()) {
        Some(methods) if !methods.is_empty() => {
            let allow = methods
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let mut res = Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                Some(format!(
                    "{} is not allowed here; allowed: {allow}",
                    req.method()
                )),
            )
            .response();
            if let Ok(v) = HeaderValue::from_str(&allow) {
                res.headers_mut().insert(header::ALLOW, v);
            }
            res
        }
        _ => Problem::new(
            StatusCode::NOT_FOUND,
            Some(format!("no route for {}", req.path())),
        )
        .response(),
    }
}
