//! `POST /claims/from-charges`: a draft from unbilled lab charges of one patient.

use actix_web::{HttpResponse, post, web};

use super::api::*;
use super::charges;
use super::repo::{self, Origin};
use super::routes::{CREATORS, load_view};
use super::scrubber;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::db::ChargeId;
use crate::error::{AppError, FieldErrors, Problem};
use crate::http::{Json, etag};

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
