//! Query and response shapes of `/api/v1/reports/…` (the billing reports).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::domain::AgingAmounts;

/// `GET /reports/ar-aging` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgingQuery {
    /// Age claims as of this date (`YYYY-MM-DD`, default today, UTC): entries posted after it
    /// and claims with a later date of service are left out.
    #[param(example = "2026-11-30")]
    pub as_of: Option<String>,
    /// The CSV's rows: `payer` (default), `patient` or `claim`. JSON and XLSX hold all three.
    #[param(example = "payer")]
    pub by: Option<String>,
    /// `json` (default), `csv` or `xlsx`.
    pub format: Option<String>,
}

/// `GET /reports/denials|payments|batches` query: an inclusive period.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// First day (`YYYY-MM-DD`), inclusive; default: no lower bound.
    #[param(example = "2026-11-01")]
    pub from: Option<String>,
    /// Last day (`YYYY-MM-DD`), inclusive; default: no upper bound.
    #[param(example = "2026-11-30")]
    pub to: Option<String>,
    /// `json` (default), `csv` or `xlsx`.
    pub format: Option<String>,
}

/// Insurance and patient amounts owed, by aging bucket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgingTotals {
    /// Open claims counted.
    pub claims: usize,
    /// Still owed by the payers.
    pub insurance: AgingAmounts,
    /// Patient responsibility assigned by the payers (PR adjustments).
    pub patient: AgingAmounts,
}

/// A payer's aging.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PayerAging {
    pub payer_id: String,
    pub payer_name: String,
    pub payer_edi_id: String,
    #[serde(flatten)]
    pub amounts: AgingTotals,
}

/// A patient's aging.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PatientAging {
    pub patient_id: String,
    pub mrn: String,
    /// `Last, First`.
    pub patient_name: String,
    #[serde(flatten)]
    pub amounts: AgingTotals,
}

/// An open claim and its age.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimAging {
    pub claim_id: String,
    pub patient_control_number: String,
    pub patient_id: String,
    pub payer_id: String,
    pub status: String,
    pub service_from: NaiveDate,
    pub age_days: i64,
    /// `0-30`, `31-60`, `61-90`, `91-120` or `120+`.
    #[schema(example = "31-60")]
    pub bucket: String,
    pub insurance_cents: i64,
    pub patient_cents: i64,
}

/// A/R aging: what is owed on billed claims, by days since the date of service.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArAgingReport {
    pub as_of: NaiveDate,
    pub generated_at: DateTime<Utc>,
    pub totals: AgingTotals,
    pub by_payer: Vec<PayerAging>,
    pub by_patient: Vec<PatientAging>,
    pub claims: Vec<ClaimAging>,
}

/// Denials of one reason code at one payer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DenialRow {
    pub payer_id: String,
    pub payer_name: String,
    /// CAS group (CO, PR, OA, PI, CR).
    #[schema(example = "CO")]
    pub group_code: String,
    /// CARC.
    #[schema(example = "50")]
    pub reason_code: String,
    /// From the CARC table the practice imported (`POST /code-sets/carc/import`); absent
    /// otherwise (X12's text is not shipped).
    pub reason_description: Option<String>,
    /// Denied claims with this adjustment.
    pub claims: usize,
    /// What these adjustments took off the denied claims.
    pub amount_cents: i64,
}

/// Denials of one reason code, every payer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DenialReasonRow {
    pub group_code: String,
    pub reason_code: String,
    pub reason_description: Option<String>,
    pub claims: usize,
    pub amount_cents: i64,
}

/// Denials posted in a period, by CARC reason and payer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DenialsReport {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub generated_at: DateTime<Utc>,
    /// Claims denied (CLP02 4, or nothing paid on a charge) by the remittances of the period.
    pub denied_claims: usize,
    /// Their charges.
    pub denied_charge_cents: i64,
    pub by_reason: Vec<DenialReasonRow>,
    pub by_payer_and_reason: Vec<DenialRow>,
}

/// One remittance (check or EFT) received.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentRow {
    pub remittance_id: String,
    /// BPR16 (else the day it was imported).
    pub payment_date: NaiveDate,
    pub payer_edi_id: String,
    pub payer_name: Option<String>,
    /// TRN02.
    pub trace_number: String,
    /// BPR04 (ACH, CHK…).
    pub payment_method: Option<String>,
    /// BPR02: the check or transfer amount.
    pub total_paid_cents: i64,
    /// Payments posted to claims from the ledger (net of reversals).
    pub posted_payment_cents: i64,
    /// PLB provider-level adjustments from the ledger (positive reduces the payment).
    pub provider_adjustment_cents: i64,
    pub claims_matched: usize,
    pub claims_unmatched: usize,
}

/// Payments of one payer in one month.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentPeriodRow {
    pub payer_edi_id: String,
    pub payer_name: Option<String>,
    /// `YYYY-MM`.
    #[schema(example = "2026-11")]
    pub month: String,
    pub remittances: usize,
    pub total_paid_cents: i64,
    pub posted_payment_cents: i64,
    pub trace_numbers: Vec<String>,
}

/// Payments received in a period, by payer and month, with trace numbers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentsReport {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub generated_at: DateTime<Utc>,
    pub total_paid_cents: i64,
    pub posted_payment_cents: i64,
    pub remittances: Vec<PaymentRow>,
    pub by_payer_and_month: Vec<PaymentPeriodRow>,
}

/// One batch and what became of its claims.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchReportRow {
    pub batch_id: String,
    pub kind: String,
    pub payer_id: String,
    pub payer_name: String,
    pub status: String,
    /// ISA13, once approved.
    pub interchange_control_number: Option<i64>,
    pub created_on: NaiveDate,
    pub submitted_on: Option<NaiveDate>,
    /// Claims submitted in the batch.
    pub claims: usize,
    pub total_charge_cents: i64,
    /// Claims the payer accepted (accepted, or adjudicated since).
    pub accepted: usize,
    pub rejected: usize,
    /// Claims paid in full or in part.
    pub paid: usize,
    pub denied: usize,
    /// Payments posted to the batch's claims (ledger, net of reversals).
    pub paid_cents: i64,
    /// Claims still awaiting an answer.
    pub pending: usize,
}

/// Batches created in a period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchesReport {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub generated_at: DateTime<Utc>,
    pub batches: Vec<BatchReportRow>,
    /// Claim counts summed over the batches, by outcome.
    pub totals: BTreeMap<String, i64>,
}
