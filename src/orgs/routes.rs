//! `GET/PATCH /api/v1/organization`: the caller's practice settings.

use actix_web::{HttpRequest, HttpResponse, get, patch, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::api::{OrganizationRequest, OrganizationView};
use super::repo;
use crate::app::AppState;
use crate::auth::{AuthUser, Role};
use crate::directory::routes::expected_version;
use crate::error::{AppError, Problem};
use crate::http::{Json, etag};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_organization).service(update_organization);
}

/// The caller's organization and its billing settings (every role reads them).
#[utoipa::path(
    tag = "organization",
    operation_id = "get_organization",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The organization", body = OrganizationView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/organization")]
async fn get_organization(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, AppError> {
    let org = user.org_id;
    let o = state
        .db
        .read(move |c| repo::get_org(c, org))
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(o.version))
        .json(OrganizationView::from(o)))
}

/// Change the organization's settings (admin; send only what changes, and the version).
#[utoipa::path(
    tag = "organization",
    operation_id = "update_organization",
    security(("bearer" = [])),
    params(("If-Match" = Option<String>, Header, description = "ETag of the version being changed")),
    request_body = OrganizationRequest,
    responses(
        (status = 200, description = "Updated", body = OrganizationView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No version sent", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/organization")]
async fn update_organization(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    body: Json<OrganizationRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&[Role::Admin])?;
    let body = body.into_inner();
    let version = expected_version(&req, body.version)?;
    let org = user.org_id;
    let current = state
        .db
        .read(move |c| repo::get_org(c, org))
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let settings = body
        .over(OrganizationRequest::from_org(&current))
        .validate()?;
    let ctx = user.audit();
    let o = state
        .db
        .write(move |c| repo::update_settings(c, &ctx, version, settings))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(o.version))
        .json(OrganizationView::from(o)))
}
