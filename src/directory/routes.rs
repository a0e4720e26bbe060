//! Provider and payer handlers. Everyone reads; admin and manager maintain them.

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::api::*;
use super::repo::{self, PayerFilter};
use crate::app::AppState;
use crate::auth::api::parse_bool;
use crate::auth::routes::path_id;
use crate::auth::{AuthUser, Role};
use crate::db::{PayerId, ProviderId};
use crate::error::{AppError, FieldErrors, Problem};
use crate::http::csv::{csv_response, wants_csv};
use crate::http::pagination::Paged;
use crate::http::{Json, PageQuery, etag, if_match_version};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_payers)
        .service(create_payer)
        .service(get_payer)
        .service(update_payer)
        .service(list_providers)
        .service(create_provider)
        .service(get_provider)
        .service(update_provider);
}

/// Who may maintain providers and payers.
const MAINTAINERS: [Role; 2] = [Role::Admin, Role::Manager];

/// The version a change applies to: `If-Match` first, else the body's `version`; one is required.
pub fn expected_version(req: &HttpRequest, body_version: Option<i32>) -> Result<i32, AppError> {
    if_match_version(req)?.or(body_version).ok_or_else(|| {
        AppError::PreconditionRequired(
            "send the version being changed: an If-Match header or a `version` field".into(),
        )
    })
}

/// List payers (JSON, or CSV with `Accept: text/csv`: every match, no paging).
#[utoipa::path(
    tag = "payers",
    operation_id = "list_payers",
    security(("bearer" = [])),
    params(PayerQuery, PageQuery),
    responses(
        (status = 200, description = "A page of payers, or all of them as CSV",
            content((Paged<PayerView> = "application/json"), (String = "text/csv"))),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter or pagination", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/payers")]
async fn list_payers(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    q: web::Query<PayerQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let mut errs = FieldErrors::new();
    let filter = PayerFilter {
        name: q.name.clone().filter(|s| !s.trim().is_empty()),
        claim_kind: q
            .claim_kind
            .as_deref()
            .and_then(|k| errs.check("claim_kind", k.parse())),
        active: q
            .active
            .as_deref()
            .and_then(|a| errs.check("active", parse_bool(a))),
    };
    let page = page.parse(&mut errs);
    errs.into_result()?;
    let org = user.org_id;
    if wants_csv(&req) {
        let rows = state
            .db
            .read(move |c| repo::list_payers(c, org, &filter, None))
            .await?;
        return csv_response(
            "payers.csv",
            &[
                "id",
                "name",
                "edi_id",
                "claim_kind",
                "receiver_edi_id",
                "receiver_name",
                "timely_filing_days",
                "active",
            ],
            rows.into_iter().map(|p| {
                vec![
                    p.id.to_string(),
                    p.name,
                    p.edi_id,
                    p.claim_kind.to_string(),
                    p.receiver_edi_id.unwrap_or_default(),
                    p.receiver_name.unwrap_or_default(),
                    p.timely_filing_days
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                    p.active.to_string(),
                ]
            }),
        );
    }
    let limit = page.limit;
    let rows = state
        .db
        .read(move |c| repo::list_payers(c, org, &filter, Some(&page)))
        .await?;
    Ok(HttpResponse::Ok()
        .json(Paged::from_rows(rows, limit, |p| p.id.to_string()).map(PayerView::from)))
}

/// Add a payer.
#[utoipa::path(
    tag = "payers",
    operation_id = "create_payer",
    security(("bearer" = [])),
    request_body = PayerRequest,
    responses(
        (status = 201, description = "Created", body = PayerView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and manager", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them), or a duplicate payer id", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/payers")]
async fn create_payer(
    state: web::Data<AppState>,
    user: AuthUser,
    body: Json<PayerRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&MAINTAINERS)?;
    let fields = body.validate()?;
    let ctx = user.audit();
    let payer = state
        .db
        .write(move |c| repo::create_payer(c, &ctx, fields))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(etag(payer.version))
        .json(PayerView::from(payer)))
}

async fn load_payer(
    state: &AppState,
    user: &AuthUser,
    id: PayerId,
) -> Result<repo::Payer, AppError> {
    let org = user.org_id;
    state
        .db
        .read(move |c| repo::get_payer(c, org, id))
        .await?
        .ok_or_else(|| AppError::not_found("payer"))
}

/// One payer.
#[utoipa::path(
    tag = "payers",
    operation_id = "get_payer",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Payer id")),
    responses(
        (status = 200, description = "The payer", body = PayerView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such payer in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/payers/{id}")]
async fn get_payer(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let payer = load_payer(&state, &user, path_id(&id, "payer")?).await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(payer.version))
        .json(PayerView::from(payer)))
}

/// Change a payer (send only the fields that change, and the version).
#[utoipa::path(
    tag = "payers",
    operation_id = "update_payer",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Payer id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being changed"),
    ),
    request_body = PayerRequest,
    responses(
        (status = 200, description = "Updated", body = PayerView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such payer in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No version sent", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/payers/{id}")]
async fn update_payer(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
    body: Json<PayerRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&MAINTAINERS)?;
    let id: PayerId = path_id(&id, "payer")?;
    let current = load_payer(&state, &user, id).await?;
    let body = body.into_inner();
    let version = expected_version(&req, body.version)?;
    let fields = body.over(PayerRequest::from_payer(&current)).validate()?;
    let ctx = user.audit();
    let payer = state
        .db
        .write(move |c| repo::update_payer(c, &ctx, id, version, fields))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(payer.version))
        .json(PayerView::from(payer)))
}

/// List providers.
#[utoipa::path(
    tag = "providers",
    operation_id = "list_providers",
    security(("bearer" = [])),
    params(ProviderQuery, PageQuery),
    responses(
        (status = 200, description = "A page of providers", body = Paged<ProviderView>),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter or pagination", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/providers")]
async fn list_providers(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<ProviderQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let mut errs = FieldErrors::new();
    let active = q
        .active
        .as_deref()
        .and_then(|a| errs.check("active", parse_bool(a)));
    let page = page.parse(&mut errs);
    errs.into_result()?;
    let npi = q.npi.clone();
    let org = user.org_id;
    let limit = page.limit;
    let rows = state
        .db
        .read(move |c| repo::list_providers(c, org, npi.as_deref(), active, &page))
        .await?;
    Ok(HttpResponse::Ok()
        .json(Paged::from_rows(rows, limit, |p| p.id.to_string()).map(ProviderView::from)))
}

/// Add a provider (rendering, ordering or billing).
#[utoipa::path(
    tag = "providers",
    operation_id = "create_provider",
    security(("bearer" = [])),
    request_body = ProviderRequest,
    responses(
        (status = 201, description = "Created", body = ProviderView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and manager", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (a wrong NPI check digit is `invalid_npi` on `npi`), or a duplicate NPI", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/providers")]
async fn create_provider(
    state: web::Data<AppState>,
    user: AuthUser,
    body: Json<ProviderRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&MAINTAINERS)?;
    let fields = body.validate()?;
    let ctx = user.audit();
    let p = state
        .db
        .write(move |c| repo::create_provider(c, &ctx, fields))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(etag(p.version))
        .json(ProviderView::from(p)))
}

async fn load_provider(
    state: &AppState,
    user: &AuthUser,
    id: ProviderId,
) -> Result<repo::Provider, AppError> {
    let org = user.org_id;
    state
        .db
        .read(move |c| repo::get_provider(c, org, id))
        .await?
        .ok_or_else(|| AppError::not_found("provider"))
}

/// One provider.
#[utoipa::path(
    tag = "providers",
    operation_id = "get_provider",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Provider id")),
    responses(
        (status = 200, description = "The provider", body = ProviderView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such provider in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/providers/{id}")]
async fn get_provider(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let p = load_provider(&state, &user, path_id(&id, "provider")?).await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(p.version))
        .json(ProviderView::from(p)))
}

/// Change a provider (send only the fields that change, and the version).
#[utoipa::path(
    tag = "providers",
    operation_id = "update_provider",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Provider id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being changed"),
    ),
    request_body = ProviderRequest,
    responses(
        (status = 200, description = "Updated", body = ProviderView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such provider in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No version sent", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/providers/{id}")]
async fn update_provider(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
    body: Json<ProviderRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&MAINTAINERS)?;
    let id: ProviderId = path_id(&id, "provider")?;
    let current = load_provider(&state, &user, id).await?;
    let body = body.into_inner();
    let version = expected_version(&req, body.version)?;
    let fields = body
        .over(ProviderRequest::from_provider(&current))
        .validate()?;
    let ctx = user.audit();
    let p = state
        .db
        .write(move |c| repo::update_provider(c, &ctx, id, version, fields))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(p.version))
        .json(ProviderView::from(p)))
}
