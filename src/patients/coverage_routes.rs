//! Coverage handlers under `/patients/{id}/coverages`. Everyone reads (audited); admin, manager
//! and biller keep insurance up to date.

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::coverage_api::{CoverageRequest, CoverageView};
use super::coverage_repo::{self as repo, Coverage};
use super::repo::get_patient;
use crate::app::AppState;
use crate::audit::{self, AuditCtx};
use crate::auth::routes::path_id;
use crate::auth::{AuthUser, Role};
use crate::db::{CoverageId, DbConn, PatientId};
use crate::directory::repo::get_payer;
use crate::directory::routes::expected_version;
use crate::error::{AppError, Problem};
use crate::http::pagination::Paged;
use crate::http::{Json, etag};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_coverages)
        .service(create_coverage)
        .service(get_coverage)
        .service(update_coverage);
}

pub const COVERAGE_EDITORS: [Role; 3] = [Role::Admin, Role::Manager, Role::Biller];

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

fn require_patient(conn: &mut DbConn, ctx: &AuditCtx, patient: PatientId) -> Result<(), AppError> {
    get_patient(conn, ctx.org, patient)?
        .map(|_| ())
        .ok_or_else(|| AppError::not_found("patient"))
}

/// A coverage of this patient in this organization, or `404`.
fn coverage_of(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    patient: PatientId,
    id: CoverageId,
) -> Result<Coverage, AppError> {
    repo::get_coverage(conn, ctx.org, id)?
        .filter(|c| c.patient_id == patient)
        .ok_or_else(|| AppError::not_found("coverage"))
}

/// The patient's coverages, oldest first (the read is audited).
#[utoipa::path(
    tag = "coverages",
    operation_id = "list_coverages",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Patient id")),
    responses(
        (status = 200, description = "All the patient's coverages (one page)", body = Paged<CoverageView>),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such patient in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/patients/{id}/coverages")]
async fn list_coverages(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let patient: PatientId = path_id(&id, "patient")?;
    let ctx = user.audit();
    let rows = state
        .db
        .write(move |c| {
            require_patient(c, &ctx, patient)?;
            let rows = repo::list_for_patient(c, ctx.org, patient)?;
            audit::record(
                c,
                &ctx,
                "coverage.read",
                "patient",
                Some(&patient.to_string()),
                None,
            )?;
            Ok(rows)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Paged {
        items: rows.into_iter().map(CoverageView::from).collect::<Vec<_>>(),
        next_cursor: None,
    }))
}

/// Add a coverage to the patient.
#[utoipa::path(
    tag = "coverages",
    operation_id = "create_coverage",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Patient id")),
    request_body = CoverageRequest,
    responses(
        (status = 201, description = "Created", body = CoverageView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin, manager and biller", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such patient in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An active coverage of the same priority overlaps", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them), e.g. `subscriber.birth_date`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/patients/{id}/coverages")]
async fn create_coverage(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    body: Json<CoverageRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&COVERAGE_EDITORS)?;
    let patient: PatientId = path_id(&id, "patient")?;
    let body = body.into_inner();
    let ctx = user.audit();
    let c = state
        .db
        .write(move |c| {
            require_patient(c, &ctx, patient)?;
            let payer_found = match body.payer_id() {
                Some(p) => get_payer(c, ctx.org, p)?.is_some(),
                None => false,
            };
            let fields = body.validate(payer_found, today())?;
            repo::create_coverage(c, &ctx, patient, fields)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(etag(c.version))
        .json(CoverageView::from(c)))
}

/// One coverage of the patient.
#[utoipa::path(
    tag = "coverages",
    operation_id = "get_coverage",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Patient id"),
        ("coverage_id" = String, Path, description = "Coverage id"),
    ),
    responses(
        (status = 200, description = "The coverage", body = CoverageView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such patient or coverage in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/patients/{id}/coverages/{coverage_id}")]
async fn get_coverage(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let patient: PatientId = path_id(&path.0, "patient")?;
    let id: CoverageId = path_id(&path.1, "coverage")?;
    let ctx = user.audit();
    let c = state
        .db
        .write(move |c| {
            let cov = coverage_of(c, &ctx, patient, id)?;
            audit::record(
                c,
                &ctx,
                "coverage.read",
                "coverage",
                Some(&id.to_string()),
                None,
            )?;
            Ok(cov)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(c.version))
        .json(CoverageView::from(c)))
}

/// Change a coverage (send only what changes, and the version). End it with `effective_to` or
/// `active: false`; coverages are never deleted.
#[utoipa::path(
    tag = "coverages",
    operation_id = "update_coverage",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Patient id"),
        ("coverage_id" = String, Path, description = "Coverage id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being changed"),
    ),
    request_body = CoverageRequest,
    responses(
        (status = 200, description = "Updated", body = CoverageView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin, manager and biller", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such patient or coverage in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale version, or an overlapping active coverage of the same priority", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No version sent", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/patients/{id}/coverages/{coverage_id}")]
async fn update_coverage(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: Json<CoverageRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&COVERAGE_EDITORS)?;
    let patient: PatientId = path_id(&path.0, "patient")?;
    let id: CoverageId = path_id(&path.1, "coverage")?;
    let body = body.into_inner();
    let version = expected_version(&req, body.version)?;
    let ctx = user.audit();
    let c = state
        .db
        .write(move |c| {
            let current = coverage_of(c, &ctx, patient, id)?;
            let merged = body.over(CoverageRequest::from_coverage(&current));
            let payer_found = match merged.payer_id() {
                Some(p) => get_payer(c, ctx.org, p)?.is_some(),
                None => false,
            };
            let fields = merged.validate(payer_found, today())?;
            repo::update_coverage(c, &ctx, id, version, fields)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(c.version))
        .json(CoverageView::from(c)))
}
