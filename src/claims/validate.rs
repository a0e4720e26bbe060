//! The scrubber's handler side: loading a claim's snapshot (claim, patient, coverage, payer,
//! providers, organization, code checks, duplicate candidates) and `POST /claims/{id}/validate`.

use actix_web::{HttpResponse, post, web};
use chrono::NaiveDate;

use super::api::FindingsView;
use super::repo::{self, Claim, ClaimLine};
use super::routes::CREATORS;
use super::scrubber::{self, CodeProblem, CoverageSnap, Finding, LineSnap, ProviderSnap, Snapshot};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::auth::routes::path_id;
use crate::coding::{CodeCheck, CodeSystem};
use crate::db::{ClaimId, DbConn, OrgId};
use crate::error::{AppError, Problem};
use crate::patients::domain::Relationship;

pub fn today() -> NaiveDate {
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

#[cfg(test)]
mod tests {
    #[test]
    fn every_finding_code_is_in_the_endpoint_description() {
        let src = include_str!("validate.rs");
        for (code, severity, _) in super::scrubber::CODES {
            assert!(
                src.contains(&format!("/// - `{code}` ({severity})")),
                "{code} undocumented"
            );
        }
    }
}
