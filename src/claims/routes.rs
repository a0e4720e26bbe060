//! Claim handlers: create, read, list, edit drafts, and the patient's claims. Lifecycle actions
//! (validate, finalize, void, replace, events, from-charges) are in [`super::lifecycle`].

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::api::*;
use super::repo::{self, Origin};
use crate::app::AppState;
use crate::audit;
use crate::auth::routes::path_id;
use crate::auth::{AuthUser, Bearer, Role};
use crate::db::{ClaimId, DbConn, OrgId, PatientId};
use crate::directory::routes::expected_version;
use crate::error::{AppError, FieldErrors, Problem};
use crate::http::pagination::Paged;
use crate::http::{Json, PageQuery, etag, idempotency};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_claims)
        .service(create_claim)
        .service(super::from_charges::from_charges)
        .service(get_claim)
        .service(update_claim)
        .service(super::validate::validate_claim)
        .service(super::lifecycle::finalize_claim)
        .service(super::lifecycle::void_claim)
        .service(super::lifecycle::replace_claim)
        .service(super::lifecycle::list_events)
        .service(patient_claims);
}

/// Who reads claims.
pub const READERS: [Role; 5] = [
    Role::Admin,
    Role::Manager,
    Role::Biller,
    Role::Clinician,
    Role::Auditor,
];
/// Who creates drafts.
pub const CREATORS: [Role; 3] = [Role::Biller, Role::Manager, Role::Clinician];
/// Who edits drafts and finalizes them.
pub const EDITORS: [Role; 2] = [Role::Biller, Role::Manager];
/// Who voids and replaces claims.
pub const MANAGERS: [Role; 1] = [Role::Manager];

/// The full view of a claim with its lines.
pub fn load_view(conn: &mut DbConn, org: OrgId, c: repo::Claim) -> Result<ClaimView, AppError> {
    let lines = repo::lines_of(conn, org, c.id)?;
    let money = posted_money(conn, org, c.id)?;
    let mut view = ClaimView::new(c, lines)?;
    if let Some(m) = money {
        view.paid_cents = m.paid_cents;
        view.patient_responsibility_cents = m.patient_responsibility_cents;
        view.adjustment_cents = m.adjustment_cents;
        view.balance_cents = m.balance_cents;
    }
    Ok(view)
}

/// What remittances posted for a claim (from the billing ledger), once anything was posted.
pub fn posted_money(
    conn: &mut DbConn,
    org: OrgId,
    claim: crate::db::ClaimId,
) -> Result<Option<crate::billing::remittances::api::ClaimLedgerView>, AppError> {
    let ledger = crate::billing::remittances::repo::claim_ledger(conn, org, claim)?;
    Ok((!ledger.items.is_empty()).then_some(ledger))
}

/// Create a draft claim (honors `Idempotency-Key`).
#[utoipa::path(
    tag = "claims",
    operation_id = "create_claim",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first response and creates nothing")),
    request_body = ClaimRequest,
    responses(
        (status = 201, description = "The draft, with its patient control number and total", body = ClaimView),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller, manager and clinician", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them): unknown patient, coverage or provider, a coverage of another patient, 0 or more than 12 diagnoses, 0 or more than 50 lines, more than 4 modifiers or pointers, units not a whole number ≥ 0, no charge and no standard charge (`lines[2].charge_cents`), an Idempotency-Key reused for another request", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/claims")]
async fn create_claim(
    state: web::Data<AppState>,
    bearer: Bearer,
    req: HttpRequest,
    body: Json<ClaimRequest>,
) -> Result<HttpResponse, AppError> {
    let key = idempotency::key(&req);
    let body = body.into_inner();
    let (status, json) = match key {
        // Without a key: checked here, then numbered and written with the organization's other
        // creations of the moment in one transaction (`AppState::claim_creations`).
        Ok(None) => {
            let (ctx, fields) = bearer
                .read_by_key(&state.db, &CREATORS, move |c, user| {
                    let ctx = user.audit();
                    let fields = body.resolve(c, ctx.org)?;
                    Ok((ctx, fields))
                })
                .await?;
            let org = ctx.org;
            let item = repo::ClaimCreation {
                ctx,
                fields,
                origin: Origin::original(),
            };
            let done = state.claim_creations.submit(&state.db, org, item).await?;
            // A new draft has nothing posted: its view needs no ledger read.
            let view = ClaimView::new(done.claim, done.lines)?;
            (201, idempotency::body(&view)?)
        }
        // With a key (or a malformed one, refused after the caller check): the replay check,
        // the creation and the stored response in one transaction of its own.
        key => {
            idempotency::create_once(
                bearer,
                &state.db,
                &CREATORS,
                key,
                "POST /claims",
                body,
                |c, ctx, body| {
                    let fields = body.resolve(c, ctx.org)?;
                    let claim = repo::create_claim(c, ctx, &fields, Origin::original())?;
                    load_view(c, ctx.org, claim)
                },
            )
            .await?
        }
    };
    Ok(idempotency::answer(status, json))
}

/// List claims (filters: status, payer, patient, kind, dates of service).
#[utoipa::path(
    tag = "claims",
    operation_id = "list_claims",
    security(("bearer" = [])),
    params(ClaimQuery, PageQuery),
    responses(
        (status = 200, description = "A page of claims, oldest first", body = Paged<ClaimView>),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The lab role reads no claims", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter or pagination", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/claims")]
async fn list_claims(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<ClaimQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    user.require(&READERS)?;
    let mut errs = FieldErrors::new();
    let filter = q.parse(&mut errs);
    let page = page.parse(&mut errs);
    errs.into_result()?;
    let org = user.org_id;
    let limit = page.limit;
    let views = state
        .db
        .read(move |c| {
            let rows = repo::list(c, org, &filter, &page)?;
            Paged::from_rows(rows, limit, |s| s.id.to_string()).try_map(|s| load_view(c, org, s))
        })
        .await?;
    Ok(HttpResponse::Ok().json(views))
}

/// One claim with its lines (the read is audited).
#[utoipa::path(
    tag = "claims",
    operation_id = "get_claim",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Claim id")),
    responses(
        (status = 200, description = "The claim", body = ClaimView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The lab role reads no claims", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such claim in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/claims/{id}")]
async fn get_claim(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    user.require(&READERS)?;
    let id: ClaimId = path_id(&id, "claim")?;
    let ctx = user.audit();
    let view = state
        .db
        .write(move |c| {
            let claim = repo::require_claim(c, ctx.org, id)?;
            audit::record(c, &ctx, "claim.read", "claim", Some(&id.to_string()), None)?;
            load_view(c, ctx.org, claim)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(view.version))
        .json(view))
}

/// Change a draft (send only what changes, and the version; `lines`, when sent, replace all
/// lines). Claims past `draft` are not editable (`409`).
#[utoipa::path(
    tag = "claims",
    operation_id = "update_claim",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Claim id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being changed"),
    ),
    request_body = ClaimRequest,
    responses(
        (status = 200, description = "Updated", body = ClaimView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller and manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such claim in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale version, or the claim is no longer a draft (`allowed` lists its next states)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No version sent", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/claims/{id}")]
async fn update_claim(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
    body: Json<ClaimRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&EDITORS)?;
    let id: ClaimId = path_id(&id, "claim")?;
    let body = body.into_inner();
    let version = expected_version(&req, body.version)?;
    let ctx = user.audit();
    let view = state
        .db
        .write(move |c| {
            let cur = repo::require_claim(c, ctx.org, id)?;
            if cur.status != super::domain::ClaimStatus::Draft {
                return Err(repo::illegal(
                    cur.status,
                    "be edited (only drafts are editable)",
                ));
            }
            let lines = repo::lines_of(c, ctx.org, id)?;
            let merged = body.over(ClaimRequest::from_claim(&cur, &lines));
            let fields = merged.resolve(c, ctx.org)?;
            let claim = repo::update_draft(c, &ctx, id, version, &fields)?;
            load_view(c, ctx.org, claim)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(view.version))
        .json(view))
}

/// The patient's claims with charges, payments, adjustments and balance. Payments and
/// adjustments are 0 until remittances (835) are posted, which a later release adds; the balance
/// is then the charges of the live (not void, not replaced) claims.
#[utoipa::path(
    tag = "claims",
    operation_id = "list_patient_claims",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Patient id")),
    responses(
        (status = 200, description = "The patient's claims, oldest first, and totals", body = PatientClaimsView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The lab role reads no claims", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such patient in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/patients/{id}/claims")]
async fn patient_claims(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    user.require(&READERS)?;
    let patient: PatientId = path_id(&id, "patient")?;
    let ctx = user.audit();
    let view = state
        .db
        .write(move |c| {
            crate::patients::repo::get_patient(c, ctx.org, patient)?
                .ok_or_else(|| AppError::not_found("patient"))?;
            let claims = repo::for_patient(c, ctx.org, patient)?;
            audit::record(
                c,
                &ctx,
                "claim.list",
                "patient",
                Some(&patient.to_string()),
                None,
            )?;
            let mut items = Vec::new();
            for cl in claims {
                let money = posted_money(c, ctx.org, cl.id)?;
                items.push(PatientClaimView {
                    kind: cl.kind()?,
                    balance_cents: money.as_ref().map_or(balance(&cl), |m| m.balance_cents),
                    id: cl.id.to_string(),
                    patient_control_number: cl.patient_control_number,
                    status: cl.status,
                    payer_id: cl.payer_id.to_string(),
                    service_from: cl.service_from,
                    service_to: cl.service_to,
                    total_charge_cents: cl.total_charge_cents,
                    paid_cents: money.as_ref().map_or(0, |m| m.paid_cents),
                    adjustment_cents: money.as_ref().map_or(0, |m| m.adjustment_cents),
                    patient_responsibility_cents: money
                        .as_ref()
                        .map_or(0, |m| m.patient_responsibility_cents),
                });
            }
            let total = items
                .iter()
                .filter(|i| i.status.is_live())
                .map(|i| i.total_charge_cents)
                .sum();
            let balance = items.iter().map(|i| i.balance_cents).sum();
            let paid = items.iter().map(|i| i.paid_cents).sum();
            let adjusted = items.iter().map(|i| i.adjustment_cents).sum();
            Ok(PatientClaimsView {
                items,
                total_charge_cents: total,
                paid_cents: paid,
                adjustment_cents: adjusted,
                balance_cents: balance,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
