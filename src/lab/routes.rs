//! Specimen handlers: registration, lookup, custody changes, aliquots, results, charges.
//! Lab staff and clinicians register and move specimens; everyone reads; the auditor and the
//! biller change nothing here.

use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::api::*;
use super::documents;
use super::domain::{Accession, SpecimenStatus};
use super::repo::{self, SpecimenFilter};
use crate::app::AppState;
use crate::auth::routes::path_id;
use crate::auth::{AuthUser, Bearer, Guard, Role};
use crate::db::{DbConn, OrgId, SpecimenId, SpecimenTestId};
use crate::error::{AppError, FieldErrors, Problem};
use crate::http::pagination::{DEFAULT_LIMIT, Paged};
use crate::http::{Json, PageQuery, etag, idempotency, if_match_version};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(by_accession)
        .service(list_specimens)
        .service(register_specimen)
        .service(get_specimen)
        .service(add_event)
        .service(list_events)
        .service(make_aliquots)
        .service(put_result)
        .service(verify_result)
        .service(list_charges);
}

/// Who registers specimens (issue: lab assistants and clinicians).
const REGISTRARS: [Role; 2] = [Role::Lab, Role::Clinician];
/// Who moves specimens along the custody chain.
const HANDLERS: [Role; 4] = [Role::Lab, Role::Clinician, Role::Manager, Role::Admin];
/// Who enters and verifies results.
const ANALYSTS: [Role; 3] = [Role::Lab, Role::Manager, Role::Admin];

/// The full view of a specimen: tests and their latest results, built from the tables.
pub fn load_view(
    conn: &mut DbConn,
    org: OrgId,
    s: repo::Specimen,
) -> Result<SpecimenView, AppError> {
    documents::views(conn, org, vec![s])?
        .pop()
        .ok_or_else(|| AppError::internal("a specimen's view was not built"))
}

fn parse_status(raw: &str) -> Result<SpecimenStatus, crate::error::FieldIssue> {
    raw.parse()
}

/// Register a specimen (honors `Idempotency-Key`).
#[utoipa::path(
    tag = "specimens",
    operation_id = "register_specimen",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first response and creates nothing")),
    request_body = SpecimenRequest,
    responses(
        (status = 201, description = "Registered, with its accession number", body = SpecimenView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only lab and clinician", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them): unknown patient or provider, test codes…", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/specimens")]
async fn register_specimen(
    state: web::Data<AppState>,
    bearer: Bearer,
    req: HttpRequest,
    body: Json<SpecimenRequest>,
) -> Result<HttpResponse, AppError> {
    let key = idempotency::key(&req);
    let body = body.into_inner();
    let (status, json) = match key {
        // Without a key: checked here (through the worker's pipelined connection where it can),
        // then numbered and written with the organization's other registrations of the moment
        // (`AppState::registrations`).
        Ok(None) => {
            let (ctx, new) = match check_registration_pipelined(&state, &bearer, &body).await {
                Some(checked) => checked,
                None => {
                    bearer
                        .read_by_key(&state.db, &REGISTRARS, move |c, user| {
                            let ctx = user.audit();
                            let new = check_registration(c, ctx.org, &body)?;
                            Ok((ctx, new))
                        })
                        .await?
                }
            };
            let org = ctx.org;
            let done = state
                .registrations
                .submit(&state.db, org, repo::Registration { ctx, new })
                .await?;
            // The view as the registration stored it.
            (201, done.document)
        }
        // With a key (or a malformed one, refused after the caller check): the replay check,
        // the registration and the stored response in one transaction of its own.
        key => {
            idempotency::create_once(
                bearer,
                &state.db,
                &REGISTRARS,
                key,
                "POST /specimens",
                body,
                |c, ctx, body| {
                    let new = check_registration(c, ctx.org, body)?;
                    let s = repo::register(c, ctx, new)?;
                    load_view(c, ctx.org, s)
                },
            )
            .await?
        }
    };
    Ok(idempotency::answer(status, json))
}

/// A registration request checked against the organization's patients and providers.
fn check_registration(
    c: &mut DbConn,
    org: OrgId,
    body: &SpecimenRequest,
) -> Result<repo::NewSpecimen, AppError> {
    let patient_found = match body.patient_id() {
        Some(p) => crate::patients::repo::get_patient(c, org, p)?.is_some(),
        None => false,
    };
    let provider_found = match body.provider_id() {
        Some(p) => crate::directory::repo::get_provider(c, org, p)?.is_some(),
        None => false,
    };
    body.validate(patient_found, provider_found, chrono::Utc::now())
}

/// [`check_registration`] through the worker's pipelined connection (PostgreSQL): the caller,
/// the patient and the ordering provider in one query ([`repo::registration_refs`]), answered
/// on the worker without a trip to the blocking pool. `None` for anything but a valid
/// registration by a caller who may register (or with no pipeline): the pool's check then
/// answers, with every refusal and field error.
async fn check_registration_pipelined(
    state: &AppState,
    bearer: &Bearer,
    body: &SpecimenRequest,
) -> Option<(crate::audit::AuditCtx, repo::NewSpecimen)> {
    let patient = body.patient_id()?;
    let provider = body.provider_id();
    bearer
        .check_pipelined(
            &state.db,
            &REGISTRARS,
            |guard| repo::registration_refs(guard, patient, provider),
            |provider_found: bool| body.validate(true, provider_found, chrono::Utc::now()).ok(),
        )
        .await
}

/// Find a specimen by its scanned accession number (a mistyped number is refused).
#[utoipa::path(
    tag = "specimens",
    operation_id = "get_specimen_by_accession",
    security(("bearer" = [])),
    params(("accession_number" = String, Path, description = "e.g. L26-0001237 or L26-0001237.1")),
    responses(
        (status = 200, description = "The specimen", body = SpecimenView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such specimen in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an accession number, or a wrong check digit", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/specimens/by-accession/{accession_number}")]
async fn by_accession(
    state: web::Data<AppState>,
    user: AuthUser,
    number: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let parsed = Accession::parse(&number)
        .map_err(|e| AppError::field("accession_number", e.code, &e.message))?;
    let number = parsed.full();
    let org = user.org_id;
    let view = state
        .db
        .read(move |c| {
            let s = repo::by_accession(c, org, &number)?
                .ok_or_else(|| AppError::not_found("specimen"))?;
            load_view(c, org, s)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(view.version))
        .json(view))
}

/// List specimens (filters: status, rejection reason, location prefix, patient).
#[utoipa::path(
    tag = "specimens",
    operation_id = "list_specimens",
    security(("bearer" = [])),
    params(SpecimenQuery, PageQuery),
    responses(
        (status = 200, description = "A page of specimens", body = Paged<SpecimenView>),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter or pagination", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/specimens")]
async fn list_specimens(
    state: web::Data<AppState>,
    bearer: Bearer,
    q: web::Query<SpecimenQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let mut errs = FieldErrors::new();
    let filter = SpecimenFilter {
        status: q
            .status
            .as_deref()
            .and_then(|s| errs.check("status", parse_status(s))),
        reason: q
            .reason
            .as_deref()
            .and_then(|r| errs.check("reason", super::domain::parse_reject_reason(r))),
        location: q
            .location
            .as_deref()
            .map(|l| l.trim().trim_end_matches('/').to_ascii_uppercase())
            .filter(|l| !l.is_empty()),
        patient_id: q.patient_id.as_deref().and_then(|p| {
            errs.check(
                "patient_id",
                p.trim().parse().map_err(|_| {
                    crate::error::FieldIssue::new("invalid_id", "must be an id (UUID)")
                }),
            )
        }),
    };
    let page = page.parse(&mut errs);
    // Bad filters are answered after the caller is checked (401 first, as everywhere).
    let valid = errs.into_result();
    let limit = page.limit;
    // A patient's specimens, a page of at most the default size: first through the worker's
    // pipelined connection (PostgreSQL), answered from there when every document is current.
    let by_patient = match &filter {
        SpecimenFilter {
            status: None,
            reason: None,
            location: None,
            patient_id: Some(patient),
        } if valid.is_ok() && limit <= DEFAULT_LIMIT => Some((
            patient.to_string(),
            page.after.clone().unwrap_or_default(),
            limit + 1,
        )),
        _ => None,
    };
    let views = bearer
        .read_guarded_page_pipelined(
            &state.db,
            &Role::ALL,
            by_patient.map(|(patient, after, rows)| {
                move |guard: &Guard<'_>| {
                    documents::patient_page(
                        guard.org().to_string(),
                        patient,
                        after,
                        rows,
                        guard.holds(),
                    )
                }
            }),
            |rows: Vec<(String, i64, Option<String>)>| {
                // The look-ahead row is not shown: only the page's own views must be current.
                let page = Paged::from_rows(rows, limit, |(id, _, _)| id.clone());
                Some(Paged {
                    items: documents::all_current(page.items)?,
                    next_cursor: page.next_cursor,
                })
            },
            move |c, guard| {
                valid?;
                let rows = repo::list(c, guard, &filter, &page)?;
                if rows.is_empty() {
                    // No rows, or a caller who may not read: `read_guarded` tells them apart.
                    return Ok(None);
                }
                let page = Paged::from_rows(rows, limit, |(id, _)| id.to_string());
                Ok(Some(Paged {
                    items: documents::complete(c, guard.org(), page.items)?,
                    next_cursor: page.next_cursor,
                }))
            },
        )
        .await?
        .unwrap_or_else(Paged::empty);
    // The stored views are JSON already: the page is written around them.
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(views.into_json()))
}

/// One specimen with its tests and latest results.
#[utoipa::path(
    tag = "specimens",
    operation_id = "get_specimen",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Specimen id")),
    responses(
        (status = 200, description = "The specimen", body = SpecimenView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such specimen in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/specimens/{id}")]
async fn get_specimen(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    // A malformed id is answered after the caller is checked (401 first, as everywhere).
    let id: Result<SpecimenId, AppError> = path_id(&id, "specimen");
    let key = id.as_ref().ok().copied();
    let view = bearer
        .read_guarded_by_key_pipelined(
            &state.db,
            &Role::ALL,
            key.map(|key| move |guard: &Guard<'_>| documents::by_id_stored(guard, key)),
            documents::current,
            move |c, guard| documents::by_id(c, guard, id?),
        )
        .await?
        .ok_or_else(|| AppError::not_found("specimen"))?;
    let (version, document) = view;
    Ok(HttpResponse::Ok()
        .insert_header(etag(version))
        .content_type("application/json")
        .body(document))
}

/// Move a specimen along its custody chain (or `store` it somewhere); appends an immutable event.
#[utoipa::path(
    tag = "specimens",
    operation_id = "add_specimen_event",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Specimen id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being changed (optional)"),
    ),
    request_body = EventRequest,
    responses(
        (status = 200, description = "Done; rejected aliquots are listed", body = TransitionView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Biller and auditor read only; entered_in_error needs manager or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such specimen in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Illegal transition (`allowed` lists the legal ones) or stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields: unknown state, missing reasons, bad location…", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/specimens/{id}/events")]
async fn add_event(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
    body: Json<EventRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&HANDLERS)?;
    let id: SpecimenId = path_id(&id, "specimen")?;
    let version = if_match_version(&req)?.or(body.version);
    let change = body.validate()?;
    let ctx = user.audit();
    let role = user.role;
    let view = state
        .db
        .write(move |c| {
            let done = repo::apply(c, &ctx, role, id, version, change)?;
            Ok(TransitionView {
                specimen: load_view(c, ctx.org, done.specimen)?,
                cascaded: done.cascaded,
                cascade_skipped: done.cascade_skipped,
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(view.specimen.version))
        .json(view))
}

/// The specimen's custody timeline, oldest first.
#[utoipa::path(
    tag = "specimens",
    operation_id = "list_specimen_events",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Specimen id")),
    responses(
        (status = 200, description = "Every event (one page)", body = Paged<EventView>),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such specimen in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/specimens/{id}/events")]
async fn list_events(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id: SpecimenId = path_id(&id, "specimen")?;
    let org = user.org_id;
    let events = state
        .db
        .read(move |c| {
            repo::require_specimen(c, org, id)?;
            repo::events(c, org, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Paged {
        items: events.into_iter().map(EventView::from).collect::<Vec<_>>(),
        next_cursor: None,
    }))
}

/// Split a received specimen into aliquots numbered `{parent}.1`, `.2`, …
#[utoipa::path(
    tag = "specimens",
    operation_id = "make_aliquots",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Parent specimen id")),
    request_body = AliquotRequest,
    responses(
        (status = 201, description = "The new aliquots", body = Paged<SpecimenView>),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only lab, manager and admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such specimen in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The parent is not received or in process", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid count or volume", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/specimens/{id}/aliquots")]
async fn make_aliquots(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    body: Json<AliquotRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&ANALYSTS)?;
    let id: SpecimenId = path_id(&id, "specimen")?;
    let (count, container, volume_ul) = body.validate()?;
    let ctx = user.audit();
    let items = state
        .db
        .write(move |c| {
            let children = repo::make_aliquots(c, &ctx, id, count, container, volume_ul)?;
            children
                .into_iter()
                .map(|s| load_view(c, ctx.org, s))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(HttpResponse::Created().json(Paged {
        items,
        next_cursor: None,
    }))
}

/// Enter (or correct) a test's result; a correction adds a new version.
#[utoipa::path(
    tag = "specimens",
    operation_id = "put_test_result",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Specimen id"),
        ("test_id" = String, Path, description = "Test id"),
    ),
    request_body = ResultRequest,
    responses(
        (status = 200, description = "The new result version", body = ResultView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only lab, manager and admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such specimen or test", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The specimen's state does not take results", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/specimens/{id}/tests/{test_id}/result")]
async fn put_result(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
    body: Json<ResultRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&ANALYSTS)?;
    let id: SpecimenId = path_id(&path.0, "specimen")?;
    let test: SpecimenTestId = path_id(&path.1, "test")?;
    let input = body.validate()?;
    let ctx = user.audit();
    let r = state
        .db
        .write(move |c| repo::enter_result(c, &ctx, id, test, input))
        .await?;
    Ok(HttpResponse::Ok().json(ResultView::from(r)))
}

/// Verify a test's latest result (four eyes: not by the user who entered it).
#[utoipa::path(
    tag = "specimens",
    operation_id = "verify_test_result",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Specimen id"),
        ("test_id" = String, Path, description = "Test id"),
    ),
    responses(
        (status = 200, description = "Verified", body = ResultView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only lab, manager and admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such specimen or test", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No result, already verified, or the same user entered it", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/specimens/{id}/tests/{test_id}/verify")]
async fn verify_result(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    user.require(&ANALYSTS)?;
    let id: SpecimenId = path_id(&path.0, "specimen")?;
    let test: SpecimenTestId = path_id(&path.1, "test")?;
    let ctx = user.audit();
    let r = state
        .db
        .write(move |c| repo::verify_result(c, &ctx, id, test))
        .await?;
    Ok(HttpResponse::Ok().json(ResultView::from(r)))
}

/// Billable lab charges (verified tests with a billing code) for claims to pick up.
#[utoipa::path(
    tag = "charges",
    operation_id = "list_charges",
    security(("bearer" = [])),
    params(ChargeQuery, PageQuery),
    responses(
        (status = 200, description = "A page of charges", body = Paged<ChargeView>),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller, manager, admin and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter or pagination", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/charges")]
async fn list_charges(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<ChargeQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    user.require(&[Role::Biller, Role::Manager, Role::Admin, Role::Auditor])?;
    let mut errs = FieldErrors::new();
    let status = match q.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s @ ("unbilled" | "billed")) => Some(s.to_owned()),
        Some(_) => {
            errs.add("status", "invalid_enum", "must be one of: unbilled, billed");
            None
        }
    };
    let page = page.parse(&mut errs);
    errs.into_result()?;
    let org = user.org_id;
    let limit = page.limit;
    let rows = state
        .db
        .read(move |c| repo::list_charges(c, org, status.as_deref(), &page))
        .await?;
    Ok(HttpResponse::Ok()
        .json(Paged::from_rows(rows, limit, |c| c.id.to_string()).map(ChargeView::from)))
}
