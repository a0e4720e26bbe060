//! Claim response types, list filters and the bodies of lifecycle actions.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::api::parse_id;
use super::domain::ClaimStatus;
use super::repo::{Claim, ClaimEvent, ClaimLine};
use super::scrubber::Finding;
use crate::directory::domain::ClaimKind;
use crate::error::{AppError, FieldErrors};
use crate::values::{optional, parse_date};

/// A claim line as returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineView {
    pub id: String,
    pub line_number: i32,
    pub procedure_code: String,
    pub modifiers: Vec<String>,
    pub diagnosis_pointers: Vec<i64>,
    pub units: i64,
    pub charge_cents: i64,
    pub service_date: NaiveDate,
    pub tooth: Option<String>,
    pub surfaces: Vec<String>,
    pub oral_cavity_area: Option<String>,
    /// Line item control number (REF*6R), unique in the organization.
    #[schema(example = "C0000042L01")]
    pub line_control_number: String,
    /// The lab charge this line bills, if any.
    pub charge_id: Option<String>,
}

impl From<ClaimLine> for LineView {
    fn from(l: ClaimLine) -> Self {
        Self {
            modifiers: l.modifier_list(),
            diagnosis_pointers: l.pointer_list(),
            surfaces: l.surface_list(),
            id: l.id.to_string(),
            line_number: l.line_number,
            procedure_code: l.procedure_code,
            units: l.units,
            charge_cents: l.charge_cents,
            service_date: l.service_date,
            tooth: l.tooth,
            oral_cavity_area: l.oral_cavity_area,
            line_control_number: l.line_control_number,
            charge_id: l.charge_id,
        }
    }
}

/// A claim. Payments and adjustments stay 0 until remittances are posted (a later issue).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimView {
    pub id: String,
    pub kind: ClaimKind,
    pub status: ClaimStatus,
    pub patient_id: String,
    pub coverage_id: String,
    pub payer_id: String,
    pub rendering_provider_id: Option<String>,
    pub place_of_service: String,
    /// Stored ICD-10-CM codes, without the dot, principal first.
    #[schema(example = json!(["E119", "I10"]))]
    pub diagnoses: Vec<String>,
    pub prior_authorization: Option<String>,
    pub notes: Option<String>,
    /// CLM01: unique per organization, at most 20 letters and digits.
    #[schema(example = "C0000042")]
    pub patient_control_number: String,
    /// CLM05-3: `1` original, `7` replacement, `8` void.
    #[schema(example = "1")]
    pub frequency_code: String,
    /// The claim this one replaces.
    pub original_claim_id: Option<String>,
    /// REF*F8: the payer's claim number of the claim replaced.
    pub original_reference: Option<String>,
    /// The payer's claim control number (from a 277CA or 835).
    pub payer_claim_number: Option<String>,
    /// Sum of the line charges.
    pub total_charge_cents: i64,
    pub paid_cents: i64,
    pub patient_responsibility_cents: i64,
    pub adjustment_cents: i64,
    /// Charges minus payments and adjustments; 0 for void and replaced claims.
    pub balance_cents: i64,
    pub service_from: NaiveDate,
    pub service_to: NaiveDate,
    pub lines: Vec<LineView>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a claim owes before any remittance: its charge, unless it is void, replaced, or a void
/// notice (frequency 8, which repeats the voided claim's lines but asks for nothing).
pub fn balance(c: &Claim) -> i64 {
    if c.status.is_live() && c.frequency_code != super::domain::frequency::VOID {
        c.total_charge_cents
    } else {
        0
    }
}

impl ClaimView {
    pub fn new(c: Claim, lines: Vec<ClaimLine>) -> Result<Self, AppError> {
        Ok(Self {
            kind: c.kind()?,
            diagnoses: c.diagnosis_codes(),
            balance_cents: balance(&c),
            id: c.id.to_string(),
            status: c.status,
            patient_id: c.patient_id.to_string(),
            coverage_id: c.coverage_id.to_string(),
            payer_id: c.payer_id.to_string(),
            rendering_provider_id: c.rendering_provider_id,
            place_of_service: c.place_of_service,
            prior_authorization: c.prior_authorization,
            notes: c.notes,
            patient_control_number: c.patient_control_number,
            frequency_code: c.frequency_code,
            original_claim_id: c.original_claim_id,
            original_reference: c.original_reference,
            payer_claim_number: c.payer_claim_number,
            total_charge_cents: c.total_charge_cents,
            paid_cents: 0,
            patient_responsibility_cents: 0,
            adjustment_cents: 0,
            service_from: c.service_from,
            service_to: c.service_to,
            lines: lines.into_iter().map(LineView::from).collect(),
            version: c.version,
            created_at: c.created_at.and_utc(),
            updated_at: c.updated_at.and_utc(),
        })
    }
}

/// Filters of the claim list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct ClaimQuery {
    /// A claim status, e.g. `draft`.
    pub status: Option<String>,
    pub payer_id: Option<String>,
    pub patient_id: Option<String>,
    /// `professional` or `dental`.
    pub kind: Option<String>,
    /// Claims with a date of service on or after this date (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Claims with a date of service on or before this date.
    pub to: Option<String>,
}

impl ClaimQuery {
    pub fn parse(&self, errs: &mut FieldErrors) -> super::repo::ClaimFilter {
        super::repo::ClaimFilter {
            status: optional(
                errs,
                "status",
                self.status.as_deref(),
                str::parse::<ClaimStatus>,
            ),
            payer_id: optional(errs, "payer_id", self.payer_id.as_deref(), parse_id),
            patient_id: optional(errs, "patient_id", self.patient_id.as_deref(), parse_id),
            kind: optional(errs, "kind", self.kind.as_deref(), str::parse::<ClaimKind>),
            from: optional(errs, "from", self.from.as_deref(), parse_date),
            to: optional(errs, "to", self.to.as_deref(), parse_date),
        }
    }
}

/// The scrubber's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct FindingsView {
    pub findings: Vec<Finding>,
}

/// One status change of a claim.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimEventView {
    pub id: String,
    /// Absent on the creation event.
    pub from: Option<String>,
    pub to: String,
    /// The user who made the change (absent for system changes).
    pub actor_id: Option<String>,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
}

impl From<ClaimEvent> for ClaimEventView {
    fn from(e: ClaimEvent) -> Self {
        Self {
            id: e.id.to_string(),
            from: e.from_status,
            to: e.to_status,
            actor_id: e.actor_id,
            at: e.at.and_utc(),
            reason: e.reason,
        }
    }
}

/// `POST /claims/{id}/void`, `/finalize`: an optional reason (the body may be empty).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ReasonRequest {
    pub reason: Option<String>,
}

/// `POST /claims/{id}/replace`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ReplaceRequest {
    /// The payer's claim control number of this claim (REF*F8 of the replacement); default: the
    /// one recorded from the payer's acknowledgement or remittance.
    pub payer_claim_number: Option<String>,
    pub reason: Option<String>,
}

/// `POST /claims/from-charges`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct FromChargesRequest {
    /// Unbilled lab charges of one patient.
    pub charge_ids: Option<Vec<String>>,
    /// A coverage of that patient.
    pub coverage_id: Option<String>,
    /// 1 to 12 ICD-10-CM codes; every line points to the first four.
    #[schema(example = json!(["E11.9"]))]
    pub diagnoses: Option<Vec<String>>,
    /// Default `professional`.
    pub kind: Option<String>,
    pub rendering_provider_id: Option<String>,
    pub place_of_service: Option<String>,
    pub notes: Option<String>,
}

/// A claim in the patient's account.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientClaimView {
    pub id: String,
    pub patient_control_number: String,
    pub status: ClaimStatus,
    pub kind: ClaimKind,
    pub payer_id: String,
    pub service_from: NaiveDate,
    pub service_to: NaiveDate,
    pub total_charge_cents: i64,
    pub paid_cents: i64,
    pub adjustment_cents: i64,
    pub patient_responsibility_cents: i64,
    pub balance_cents: i64,
}

/// The patient's claims and totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientClaimsView {
    pub items: Vec<PatientClaimView>,
    /// Charges of live claims (void and replaced claims excluded).
    pub total_charge_cents: i64,
    pub paid_cents: i64,
    pub adjustment_cents: i64,
    pub balance_cents: i64,
}
