//! Claim lifecycle handlers: `finalize`, `void`, `replace` and the event history. The scrubber
//! handler is in [`super::validate`], drafts from lab charges in [`super::from_charges`].

use actix_web::{HttpRequest, HttpResponse, get, post, web};

use super::api::*;
use super::domain::{ClaimStatus, frequency};
use super::repo::{self, Claim, ClaimFields, ClaimLine, LineFields, Origin};
use super::routes::{EDITORS, MANAGERS, READERS, load_view};
use super::scrubber::{self, Finding};
use super::validate::scrub_claim;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::auth::routes::path_id;
use crate::db::{ChargeId, ClaimId};
use crate::error::{AppError, FieldError, FieldErrors, Problem};
use crate::http::pagination::Paged;
use crate::http::{etag, if_match_version};
use crate::values::parse_text;

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
        (status = 400, description = "The body is not JSON, or `If-Match` is not an ETag like `\"3\"`", body = Problem, content_type = "application/problem+json"),
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
            if claim.status != ClaimStatus::Draft {
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
/// while `batched`: cancel the batch first). When the payer has the claim on file (its claim
/// number is on record), a void notice is created: a NEW claim, `ready`, frequency code `8`,
/// REF*F8 = the payer's claim number, with the same lines, which the next batch sends. A claim
/// voided before it was sent (`draft`, `ready`) releases the lab charges it billed (they become
/// `unbilled` again). Optional body `{"reason"}`.
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
        (status = 400, description = "The body is not JSON, or `If-Match` is not an ETag like `\"3\"`", body = Problem, content_type = "application/problem+json"),
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
            let original = repo::require_claim(c, ctx.org, id)?;
            let before = original.status;
            let why = reason.unwrap_or_else(|| "voided".into());
            let claim = repo::transition(c, &ctx, id, ClaimStatus::Void, Some(&why), version)?;
            // The payer has this claim on file: it must receive a frequency-8 claim referencing
            // its claim number. That notice is a new claim, ready for the next batch.
            if let Some(number) = original.payer_claim_number.clone()
                && !matches!(before, ClaimStatus::Draft | ClaimStatus::Ready)
            {
                let lines = repo::lines_of(c, ctx.org, id)?;
                let fields = copy_fields(&original, &lines)?;
                let notice = repo::create_claim(
                    c,
                    &ctx,
                    &fields,
                    Origin {
                        frequency_code: frequency::VOID,
                        original_claim_id: Some(id),
                        original_reference: Some(number),
                    },
                )?;
                let why = format!("void notice of {}", original.patient_control_number);
                repo::transition(c, &ctx, notice.id, ClaimStatus::Ready, Some(&why), None)?;
            }
            if matches!(before, ClaimStatus::Draft | ClaimStatus::Ready) {
                // Never sent: the lab charges it billed may be billed again.
                let ids: Vec<ChargeId> = repo::lines_of(c, ctx.org, id)?
                    .iter()
                    .filter_map(|l| l.charge_id.as_deref().and_then(|s| s.parse().ok()))
                    .collect();
                super::charges::release(c, ctx.org, &ids)?;
            }
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
