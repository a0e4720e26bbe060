//! Patient handlers. Every read and change is audited.

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::api::*;
use super::repo;
use crate::app::AppState;
use crate::auth::routes::path_id;
use crate::auth::{AuthUser, Role};
use crate::db::PatientId;
use crate::directory::routes::expected_version;
use crate::error::{AppError, FieldErrors, Problem};
use crate::http::csv::{csv_response, wants_csv};
use crate::http::pagination::Paged;
use crate::http::{Json, PageQuery, etag};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_patients)
        .service(create_patient)
        .service(get_patient)
        .service(update_patient);
}

/// Who may register and correct patient demographics (everyone but the auditor).
pub const PATIENT_EDITORS: [Role; 5] = [
    Role::Admin,
    Role::Manager,
    Role::Biller,
    Role::Lab,
    Role::Clinician,
];

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// Search patients by name words, birth date or MRN (JSON, or CSV with `Accept: text/csv`).
#[utoipa::path(
    tag = "patients",
    operation_id = "list_patients",
    security(("bearer" = [])),
    params(PatientQuery, PageQuery),
    responses(
        (status = 200, description = "A page of patients, or every match as CSV",
            content((Paged<PatientView> = "application/json"), (String = "text/csv"))),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter or pagination", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/patients")]
async fn list_patients(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    q: web::Query<PatientQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let mut errs = FieldErrors::new();
    let filter = q.parse(&mut errs);
    let page = page.parse(&mut errs);
    errs.into_result()?;
    let ctx = user.audit();
    if wants_csv(&req) {
        let rows = state
            .db
            .write(move |c| repo::search(c, &ctx, &filter, None, "patient.export"))
            .await?;
        return csv_response(
            "patients.csv",
            &[
                "id",
                "mrn",
                "last_name",
                "first_name",
                "middle_name",
                "birth_date",
                "sex",
                "phone",
                "email",
                "address_line1",
                "address_line2",
                "city",
                "state",
                "postal_code",
            ],
            rows.into_iter().map(|p| {
                vec![
                    p.id.to_string(),
                    p.mrn,
                    p.last_name,
                    p.first_name,
                    p.middle_name.unwrap_or_default(),
                    p.birth_date.to_string(),
                    p.sex.to_string(),
                    p.phone.unwrap_or_default(),
                    p.email.unwrap_or_default(),
                    p.address_line1,
                    p.address_line2.unwrap_or_default(),
                    p.city,
                    p.state,
                    p.postal_code,
                ]
            }),
        );
    }
    let limit = page.limit;
    let rows = state
        .db
        .write(move |c| repo::search(c, &ctx, &filter, Some(&page), "patient.search"))
        .await?;
    Ok(HttpResponse::Ok()
        .json(Paged::from_rows(rows, limit, |p| p.id.to_string()).map(PatientView::from)))
}

/// Register a patient.
#[utoipa::path(
    tag = "patients",
    operation_id = "create_patient",
    security(("bearer" = [])),
    request_body = PatientRequest,
    responses(
        (status = 201, description = "Created (the MRN is generated when none was sent)", body = PatientView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The auditor reads only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them), or an MRN already in use", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/patients")]
async fn create_patient(
    state: web::Data<AppState>,
    user: AuthUser,
    body: Json<PatientRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&PATIENT_EDITORS)?;
    let fields = body.validate(today())?;
    let ctx = user.audit();
    let p = state
        .db
        .write(move |c| repo::create_patient(c, &ctx, fields))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(etag(p.version))
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/patients/{}", p.id),
        ))
        .json(PatientView::from(p)))
}

/// One patient (the read is audited).
#[utoipa::path(
    tag = "patients",
    operation_id = "get_patient",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Patient id")),
    responses(
        (status = 200, description = "The patient", body = PatientView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such patient in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/patients/{id}")]
async fn get_patient(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id: PatientId = path_id(&id, "patient")?;
    let ctx = user.audit();
    let p = state
        .db
        .write(move |c| repo::read_patient(c, &ctx, id))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(p.version))
        .json(PatientView::from(p)))
}

/// Correct a patient's demographics (send only what changes, and the version).
#[utoipa::path(
    tag = "patients",
    operation_id = "update_patient",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Patient id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being changed"),
    ),
    request_body = PatientRequest,
    responses(
        (status = 200, description = "Updated", body = PatientView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The auditor reads only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such patient in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No version sent", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/patients/{id}")]
async fn update_patient(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
    body: Json<PatientRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&PATIENT_EDITORS)?;
    let id: PatientId = path_id(&id, "patient")?;
    let body = body.into_inner();
    let version = expected_version(&req, body.version)?;
    let org = user.org_id;
    let current = state
        .db
        .read(move |c| repo::get_patient(c, org, id))
        .await?
        .ok_or_else(|| AppError::not_found("patient"))?;
    let fields = body
        .over(PatientRequest::from_patient(&current))
        .validate(today())?;
    let ctx = user.audit();
    let p = state
        .db
        .write(move |c| repo::update_patient(c, &ctx, id, version, fields))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(p.version))
        .json(PatientView::from(p)))
}
