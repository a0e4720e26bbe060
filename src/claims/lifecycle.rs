//! Claim lifecycle handlers: the scrubber (`validate`), `finalize`, `void`, `replace`, the event
//! history, and drafts built from unbilled lab charges.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::NaiveDate;

use super::api::*;
use super::charges;
use super::domain::{ClaimStatus, frequency};
use super::repo::{self, Claim, ClaimFields, ClaimLine, LineFields, Origin};
use super::routes::{CREATORS, EDITORS, MANAGERS, READERS, load_view};
use super::scrubber::{self, CodeProblem, CoverageSnap, Finding, LineSnap, ProviderSnap, Snapshot};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::auth::routes::path_id;
use crate::coding::{CodeCheck, CodeSystem};
use crate::db::{ChargeId, ClaimId, DbConn, OrgId};
use crate::error::{AppError, FieldError, FieldErrors, Problem};
use crate::http::pagination::Paged;
use crate::http::{Json, etag, if_match_version};
use crate::patients::domain::Relationship;
use crate::values::parse_text;

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

fn problem_of(check: CodeCheck) -> Option<CodeProblem> {
    match check {
        CodeCheck::Valid { .. } => None,
        CodeCheck::Invalid { reason, message } => Some(CodeProblem { reason, message }),
    }
}

/// Loads everything the scrubber looks at for a claim.
pub fn load_snapshot(
    conn: &mut DbConn,
    org: OrgId,
    claim: &Claim,
    lines: &[ClaimLine],
    today: NaiveDate,
) -> Result<Snapshot, AppError> {
    let patient = crate::patients::repo::get_patient(conn, org, claim.patient_id)?
        .ok_or_else(|| AppError::internal("claim patient vanished"))?;
    let coverage = crate::patients::coverage_repo::get_coverage(conn, org, claim.coverage_id)?
        .ok_or_else(|| AppError::internal("claim coverage vanished"))?;
    let payer = crate::directory::repo::get_payer(conn, org, claim.payer_id)?
        .ok_or_else(|| AppError::internal("claim payer vanished"))?;
    let organization = crate::orgs::repo::get_org(conn, org)?
        .ok_or_else(|| AppError::internal("organization vanished"))?;
    let rendering = match claim.rendering_provider() {
        Some(p) => crate::directory::repo::get_provider(conn, org, p)?.map(|p| ProviderSnap {
            npi: p.npi,
            active: p.active,
        }),
        None => None,
    };
    let on = claim.service_from;
    let pos_problem = problem_of(crate::coding::check_code(
        conn,
        org,
        CodeSystem::Pos,
        &claim.place_of_service,
        on,
    )?);
    let diagnoses = claim.diagnosis_codes();
    let mut diagnosis_problems = Vec::new();
    for d in &diagnoses {
        diagnosis_problems.push(problem_of(crate::coding::check_code(
            conn,
            org,
            CodeSystem::Icd10cm,
            d,
            on,
        )?));
    }
    let mut line_snaps = Vec::new();
    for l in lines {
        let procedure_problem = match crate::coding::procedure_system(&l.procedure_code) {
            Ok((system, code)) => problem_of(crate::coding::check_code(
                conn,
                org,
                system,
                &code,
                l.service_date,
            )?),
            Err(_) => None,
        };
        line_snaps.push(LineSnap {
            procedure_code: l.procedure_code.clone(),
            modifiers: l.modifier_list(),
            pointers: l.pointer_list(),
            units: l.units,
            charge_cents: l.charge_cents,
            service_date: l.service_date,
            tooth: l.tooth.clone(),
            surfaces: l.surface_list(),
            procedure_problem,
        });
    }
    Ok(Snapshot {
        today,
        kind: claim.kind()?,
        payer_claim_kind: payer.claim_kind,
        billing_npi: organization.npi.clone(),
        rendering,
        patient_birth_date: patient.birth_date,
        coverage: CoverageSnap {
            member_id: coverage.member_id.clone(),
            is_self: coverage.relationship == Relationship::Myself,
            active: coverage.active,
            effective_from: Some(coverage.effective_from),
            effective_to: coverage.effective_to,
            subscriber_first_name: coverage.subscriber_first_name.clone(),
            subscriber_last_name: coverage.subscriber_last_name.clone(),
            subscriber_birth_date: coverage.subscriber_birth_date,
            subscriber_sex: coverage.subscriber_sex.clone(),
            subscriber_address_line1: coverage.subscriber_address_line1.clone(),
            subscriber_city: coverage.subscriber_city.clone(),
            subscriber_state: coverage.subscriber_state.clone(),
            subscriber_postal_code: coverage.subscriber_postal_code.clone(),
        },
        payer_timely_filing_days: payer.timely_filing_days,
        org_timely_filing_days: Some(organization.timely_filing_days),
        pos_problem,
        diagnoses,
        diagnosis_problems,
        lines: line_snaps,
        candidates: repo::duplicate_candidates(conn, org, claim)?,
    })
}

/// Scrubs a stored claim.
pub fn scrub_claim(conn: &mut DbConn, org: OrgId, claim: &Claim) -> Result<Vec<Finding>, AppError> {
    let lines = repo::lines_of(conn, org, claim.id)?;
    let snap = load_snapshot(conn, org, claim, &lines, today())?;
    Ok(scrubber::scrub(&snap))
}

/// Run the scrubber: every finding at once, each with a stable `code`, the `field` path, a
/// `severity` (`error` blocks `finalize`, `warning` does not) and a message. Changes nothing.
///
/// Codes:
/// - `billing_npi_missing` (error): the organization has no billing NPI
/// - `npi_check_digit` (error): the billing NPI fails the Luhn check
/// - `rendering_npi_check_digit` (error): the rendering provider's NPI fails the Luhn check
/// - `rendering_provider_inactive` (warning): the rendering provider is deactivated
/// - `member_id_missing` (error): the coverage has no member id
/// - `subscriber_missing_field` (error): the subscriber (patient is not the subscriber) lacks a name, birth date, sex or address part
/// - `coverage_not_effective` (error): the coverage is inactive or not effective on a line's date of service
/// - `payer_kind_mismatch` (error): the payer does not accept this kind of claim
/// - `pos_unknown` (error): the place of service is not in the loaded CMS table
/// - `dx_missing` (error): the claim has no diagnosis
/// - `dx_limit` (error): more than 12 diagnoses
/// - `dx_format` (error): not an ICD-10-CM code
/// - `dx_unknown` (error): not in the loaded ICD-10-CM table
/// - `dx_not_billable` (error): an ICD-10-CM category header, not a billable code (E11)
/// - `dx_not_effective` (error): the ICD-10-CM code is not valid on the date of service
/// - `dx_duplicate` (warning): the same diagnosis is listed twice
/// - `lines_missing` (error): the claim has no line
/// - `line_limit` (error): more than 50 lines
/// - `procedure_format` (error): not a CPT, HCPCS Level II or CDT code
/// - `procedure_unknown` (error): not in the organization's imported table for that system (only when one is imported)
/// - `procedure_not_effective` (error): the procedure code is not effective on the date of service (imported table)
/// - `procedure_wrong_kind` (error): a CDT code on a professional claim, or a CPT/HCPCS code on a dental claim
/// - `modifier_limit` (error): more than 4 modifiers
/// - `modifier_format` (error): a modifier is not two letters or digits
/// - `pointer_limit` (error): more than 4 diagnosis pointers
/// - `pointer_out_of_range` (error): a diagnosis pointer does not point into the claim's diagnoses
/// - `pointer_duplicate` (error): a line points to the same diagnosis twice
/// - `line_without_pointer` (error): a professional line has no diagnosis pointer
/// - `units_not_positive` (error): units must be more than 0
/// - `charge_not_positive` (error): the line charge must be more than 0
/// - `service_date_future` (error): the date of service is after today
/// - `service_date_before_birth` (error): the date of service is before the patient's birth
/// - `tooth_invalid` (error): not a tooth in universal numbering (1-32, A-T)
/// - `surface_invalid` (error): not a surface (M O D B L F I)
/// - `surface_not_for_tooth` (error): O/B only on posterior teeth, I/F only on anterior teeth
/// - `surface_without_tooth` (error): surfaces given without a tooth
/// - `too_many_surfaces` (error): more than 5 surfaces
/// - `duplicate_claim` (error): another live claim has the same patient, payer, dates of service and codes
/// - `timely_filing` (warning): the date of service is older than the payer's filing limit (else the organization's, default 365 days)
#[utoipa::path(
    tag = "claims",
    operation_id = "validate_claim",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Claim id")),
    responses(
        (status = 200, description = "The findings (empty when the claim is clean)", body = FindingsView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller, manager and clinician", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such claim in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/claims/{id}/validate")]
pub async fn validate_claim(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    user.require(&CREATORS)?;
    let id: ClaimId = path_id(&id, "claim")?;
    let org = user.org_id;
    let findings = state
        .db
        .read(move |c| {
            let claim = repo::require_claim(c, org, id)?;
            scrub_claim(c, org, &claim)
        })
        .await?;
    Ok(HttpResponse::Ok().json(FindingsView { findings }))
}

/// The `422` of a claim the scrubber refuses: `errors` holds the error findings as field errors,
/// `findings` every finding (warnings too).
fn refused(findings: Vec<Finding>) -> HttpResponse {
    let mut p = Problem::new(
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        Some("the scrubber found errors; see `findings` (the claim stays a draft)".into()),
    );
    p.errors = findings
        .iter()
        .filter(|f| f.severity == scrubber::Severity::Error)
        .map(|f| FieldError::new(&f.field, &f.code, &f.message))
        .collect();
    let mut extra = serde_json::Map::new();
    extra.insert(
        "findings".into(),
        serde_json::to_value(&findings).unwrap_or_default(),
    );
    p.extra = Some(extra);
    p.response()
}

/// The optional body of an action (`{}` or nothing).
fn optional_body<T: serde::de::DeserializeOwned + Default>(
    body: &web::Bytes,
) -> Result<T, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        crate::http::json::parse(body)
    }
}

fn reason_of(raw: Option<&str>) -> Result<Option<String>, AppError> {
    let mut errs = FieldErrors::new();
    let r = crate::values::optional(&mut errs, "reason", raw, |v| parse_text(v, 500));
    errs.into_result()?;
    Ok(r)
}

enum Finalized {
    Done(Box<ClaimView>),
    Refused(Vec<Finding>),
}

/// `draft` → `ready`: runs the scrubber; any error finding refuses it (`422` with the findings).
/// Optional body `{"reason"}`; optional `If-Match`.
#[utoipa::path(
    tag = "claims",
    operation_id = "finalize_claim",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Claim id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being finalized"),
    ),
    request_body(content = Option<ReasonRequest>, description = "Optional"),
    responses(
        (status = 200, description = "The claim, now `ready`", body = ClaimView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller and manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such claim in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft (`allowed` lists its next states), or a stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The scrubber found errors: `errors` (as field errors) and `findings` (all, warnings too)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/claims/{id}/finalize")]
pub async fn finalize_claim(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    user.require(&EDITORS)?;
    let id: ClaimId = path_id(&id, "claim")?;
    let version = if_match_version(&req)?;
    let reason = reason_of(optional_body::<ReasonRequest>(&body)?.reason.as_deref())?;
    let ctx = user.audit();
    let out = state
        .db
        .write(move |c| {
            let claim = repo::require_claim(c, ctx.org, id)?;
            if !claim.status.can_go_to(ClaimStatus::Ready) || claim.status != ClaimStatus::Draft {
                return Err(repo::illegal(
                    claim.status,
                    "be finalized (only drafts are)",
                ));
            }
            let findings = scrub_claim(c, ctx.org, &claim)?;
            if scrubber::has_errors(&findings) {
                return Ok(Finalized::Refused(findings));
            }
            let why =
                reason.unwrap_or_else(|| format!("scrubber passed ({} warnings)", findings.len()));
            let claim = repo::transition(c, &ctx, id, ClaimStatus::Ready, Some(&why), version)?;
            Ok(Finalized::Done(Box::new(load_view(c, ctx.org, claim)?)))
        })
        .await?;
    Ok(match out {
        Finalized::Refused(f) => refused(f),
        Finalized::Done(view) => HttpResponse::Ok()
            .insert_header(etag(view.version))
            .json(view),
    })
}

/// Void a claim (manager): status `void`, frequency code `8`. Allowed from `draft`, `ready`,
/// `submitted`, `accepted`, `rejected`, `paid`, `partially_paid`, `denied` and `closed` (not
/// while `batched`: cancel the batch first). A voided claim that had reached the payer is sent
/// as a frequency-8 claim by the batch workflow. Optional body `{"reason"}`.
#[utoipa::path(
    tag = "claims",
    operation_id = "void_claim",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Claim id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being voided"),
    ),
    request_body(content = Option<ReasonRequest>, description = "Optional"),
    responses(
        (status = 200, description = "The claim, now `void`", body = ClaimView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such claim in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not voidable from its status (`allowed` lists its next states), or a stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid reason", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/claims/{id}/void")]
pub async fn void_claim(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    user.require(&MANAGERS)?;
    let id: ClaimId = path_id(&id, "claim")?;
    let version = if_match_version(&req)?;
    let reason = reason_of(optional_body::<ReasonRequest>(&body)?.reason.as_deref())?;
    let ctx = user.audit();
    let view = state
        .db
        .write(move |c| {
            let why = reason.unwrap_or_else(|| "voided".into());
            let claim = repo::transition(c, &ctx, id, ClaimStatus::Void, Some(&why), version)?;
            load_view(c, ctx.org, claim)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(view.version))
        .json(view))
}

fn copy_fields(claim: &Claim, lines: &[ClaimLine]) -> Result<ClaimFields, AppError> {
    Ok(ClaimFields {
        kind: claim.kind()?,
        patient_id: claim.patient_id,
        coverage_id: claim.coverage_id,
        payer_id: claim.payer_id,
        rendering_provider_id: claim.rendering_provider(),
        place_of_service: claim.place_of_service.clone(),
        diagnoses: claim.diagnosis_codes(),
        prior_authorization: claim.prior_authorization.clone(),
        notes: claim.notes.clone(),
        lines: lines
            .iter()
            .map(|l| LineFields {
                procedure_code: l.procedure_code.clone(),
                modifiers: l.modifier_list(),
                pointers: l.pointer_list(),
                units: l.units,
                charge_cents: l.charge_cents,
                service_date: l.service_date,
                tooth: l.tooth.clone(),
                surfaces: l.surface_list(),
                oral_cavity_area: l.oral_cavity_area.clone(),
                charge_id: l.charge_id.as_deref().and_then(|s| s.parse().ok()),
            })
            .collect(),
    })
}

/// Replace a claim (manager): a NEW draft copying this claim's data and lines, with frequency
/// code `7` and REF*F8 = the payer's claim number of this claim (from the body, else the one on
/// record; `422` if neither). This claim becomes `replaced`. Allowed from `accepted`, `rejected`,
/// `paid`, `partially_paid`, `denied` and `closed`. Edit the new draft, then finalize it.
#[utoipa::path(
    tag = "claims",
    operation_id = "replace_claim",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Claim id")),
    request_body(content = Option<ReplaceRequest>, description = "Optional when the payer's claim number is on record"),
    responses(
        (status = 201, description = "The replacement draft", body = ClaimView),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such claim in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not replaceable from its status (`allowed` lists its next states)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No payer claim number (`payer_claim_number`), or an invalid one", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/claims/{id}/replace")]
pub async fn replace_claim(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    user.require(&MANAGERS)?;
    let id: ClaimId = path_id(&id, "claim")?;
    let body: ReplaceRequest = optional_body(&body)?;
    let mut errs = FieldErrors::new();
    let sent = crate::values::optional(
        &mut errs,
        "payer_claim_number",
        body.payer_claim_number.as_deref(),
        |v| parse_text(v, 50),
    );
    let reason = crate::values::optional(&mut errs, "reason", body.reason.as_deref(), |v| {
        parse_text(v, 500)
    });
    errs.into_result()?;
    let ctx = user.audit();
    let view = state
        .db
        .write(move |c| {
            let original = repo::require_claim(c, ctx.org, id)?;
            if !original.status.can_go_to(ClaimStatus::Replaced) {
                return Err(repo::illegal(original.status, "be replaced"));
            }
            let Some(number) = sent.or_else(|| original.payer_claim_number.clone()) else {
                return Err(AppError::field(
                    "payer_claim_number",
                    "required",
                    "is required: the payer's claim number of the claim being replaced is not on record",
                ));
            };
            if original.payer_claim_number.as_deref() != Some(number.as_str()) {
                repo::set_payer_claim_number(c, &ctx, id, &number)?;
            }
            let lines = repo::lines_of(c, ctx.org, id)?;
            let fields = copy_fields(&original, &lines)?;
            let new = repo::create_claim(
                c,
                &ctx,
                &fields,
                Origin {
                    frequency_code: frequency::REPLACEMENT,
                    original_claim_id: Some(id),
                    original_reference: Some(number),
                },
            )?;
            let why = match &reason {
                Some(r) => format!("replaced by {}: {r}", new.patient_control_number),
                None => format!("replaced by {}", new.patient_control_number),
            };
            repo::transition(c, &ctx, id, ClaimStatus::Replaced, Some(&why), None)?;
            load_view(c, ctx.org, new)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(etag(view.version))
        .json(view))
}

/// The claim's history: every status change with who, when, from, to and why.
#[utoipa::path(
    tag = "claims",
    operation_id = "list_claim_events",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Claim id")),
    responses(
        (status = 200, description = "Oldest first", body = Paged<ClaimEventView>),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The lab role reads no claims", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such claim in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/claims/{id}/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    user.require(&READERS)?;
    let id: ClaimId = path_id(&id, "claim")?;
    let org = user.org_id;
    let items = state
        .db
        .read(move |c| {
            repo::require_claim(c, org, id)?;
            repo::events(c, org, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Paged {
        items: items
            .into_iter()
            .map(ClaimEventView::from)
            .collect::<Vec<_>>(),
        next_cursor: None,
    }))
}

/// Build a draft from unbilled lab charges of one patient: one line per charge (units 1, the
/// charge's amount, else the standard charge; pointers to the first four diagnoses). The charges
/// become `billed` in the same transaction; a charge is never billed twice (of two concurrent
/// attempts one wins, the other gets `409` or `422`).
#[utoipa::path(
    tag = "claims",
    operation_id = "create_claim_from_charges",
    security(("bearer" = [])),
    request_body = FromChargesRequest,
    responses(
        (status = 201, description = "The draft", body = ClaimView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only biller, manager and clinician", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A charge was billed by a concurrent request", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown or already billed charges (`charge_ids[i]`), charges of several patients, and every claim field error", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/claims/from-charges")]
pub async fn from_charges(
    state: web::Data<AppState>,
    user: AuthUser,
    body: Json<FromChargesRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&CREATORS)?;
    let body = body.into_inner();
    let mut errs = FieldErrors::new();
    let mut ids: Vec<(usize, ChargeId)> = Vec::new();
    match &body.charge_ids {
        None => errs.add("charge_ids", "required", "is required"),
        Some(list) if list.is_empty() => {
            errs.add("charge_ids", "too_few", "name at least one charge")
        }
        Some(list) if list.len() > scrubber::MAX_LINES => errs.add(
            "charge_ids",
            "too_many",
            format!("at most {} charges per claim", scrubber::MAX_LINES),
        ),
        Some(list) => {
            for (i, raw) in list.iter().enumerate() {
                match raw.trim().parse::<ChargeId>() {
                    Ok(id) if ids.iter().any(|(_, x)| *x == id) => {
                        errs.add(format!("charge_ids[{i}]"), "duplicate", "is listed twice")
                    }
                    Ok(id) => ids.push((i, id)),
                    Err(_) => errs.add(
                        format!("charge_ids[{i}]"),
                        "invalid_id",
                        "must be an id (UUID)",
                    ),
                }
            }
        }
    }
    errs.into_result()?;
    let ctx = user.audit();
    let view = state
        .db
        .write(move |c| {
            let just_ids: Vec<ChargeId> = ids.iter().map(|(_, id)| *id).collect();
            let found = charges::charges_by_id(c, ctx.org, &just_ids)?;
            let mut errs = FieldErrors::new();
            let mut rows = Vec::new();
            for (i, id) in &ids {
                match found.iter().find(|ch| ch.id == *id) {
                    None => errs.add(format!("charge_ids[{i}]"), "unknown_charge", "no such charge in this organization"),
                    Some(ch) if ch.status != charges::UNBILLED => {
                        errs.add(format!("charge_ids[{i}]"), "already_billed", "the charge is already billed")
                    }
                    Some(ch) => rows.push(ch.clone()),
                }
            }
            let patient = rows.first().map(|r| r.patient_id);
            if rows.iter().any(|r| Some(r.patient_id) != patient) {
                errs.add("charge_ids", "mixed_patients", "the charges belong to more than one patient");
            }
            errs.into_result()?;
            let ndx = body.diagnoses.as_ref().map_or(0, Vec::len).clamp(0, 4);
            let pointers: Vec<serde_json::Value> = (1..=ndx as i64).map(Into::into).collect();
            let request = ClaimRequest {
                kind: Some(body.kind.clone().unwrap_or_else(|| "professional".into())),
                patient_id: patient.map(|p| p.to_string()),
                coverage_id: body.coverage_id.clone(),
                rendering_provider_id: body.rendering_provider_id.clone(),
                place_of_service: body.place_of_service.clone(),
                diagnoses: body.diagnoses.clone(),
                prior_authorization: None,
                notes: body.notes.clone(),
                lines: Some(
                    rows.iter()
                        .map(|r| LineInput {
                            procedure_code: Some(r.procedure_code.clone()),
                            diagnosis_pointers: Some(pointers.clone()),
                            units: Some(1.into()),
                            charge_cents: r.amount_cents.map(Into::into),
                            service_date: Some(r.service_date.to_string()),
                            charge_id: Some(r.id),
                            ..Default::default()
                        })
                        .collect(),
                ),
                version: None,
            };
            let fields = request.resolve(c, ctx.org)?;
            if !charges::mark_billed(c, ctx.org, &just_ids)? {
                return Err(AppError::conflict(
                    "a charge was billed by a concurrent request; reload the charges",
                ));
            }
            let claim = repo::create_claim(c, &ctx, &fields, Origin::original())?;
            crate::audit::record(
                c,
                &ctx,
                "charge.bill",
                "claim",
                Some(&claim.id.to_string()),
                Some(serde_json::json!({ "charge_ids": just_ids.iter().map(ToString::to_string).collect::<Vec<_>>() })),
            )?;
            load_view(c, ctx.org, claim)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(etag(view.version))
        .json(view))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_finding_code_is_in_the_endpoint_description() {
        let src = include_str!("lifecycle.rs");
        for (code, severity, _) in super::scrubber::CODES {
            assert!(
                src.contains(&format!("/// - `{code}` ({severity})")),
                "{code} undocumented"
            );
        }
    }
}
