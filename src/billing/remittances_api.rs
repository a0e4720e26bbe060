//! Request/response shapes of `/api/v1/remittances` and the claim ledger.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::claims::domain::ClaimStatus;
use crate::db::{ClaimId, LedgerEntryId, RemittanceId};

/// A claim of the remittance that was posted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PostedClaim {
    pub claim_id: ClaimId,
    /// CLP01.
    #[schema(example = "C0000001")]
    pub patient_control_number: String,
    /// CLP02 (1–3 processed, 4 denied, 22 reversal).
    #[schema(example = "1")]
    pub status_code: String,
    pub charge_cents: i64,
    pub paid_cents: i64,
    pub patient_responsibility_cents: i64,
    /// Sum of the CAS adjustments posted (every group).
    pub adjustment_cents: i64,
    /// CLP07, stored on the claim.
    pub payer_claim_number: Option<String>,
    pub previous_status: ClaimStatus,
    pub status: ClaimStatus,
    /// The claim's balance after posting (sum of its ledger entries).
    pub balance_cents: i64,
}

/// A CLP whose patient control number is no claim of this organization (never guessed).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UnmatchedClaim {
    /// Position of the CLP in the file's claims (1-based).
    pub n: usize,
    #[schema(example = "C9999999")]
    pub patient_control_number: String,
    pub charge_cents: i64,
    pub paid_cents: i64,
    pub payer_claim_number: Option<String>,
    pub message: String,
}

/// A balancing rule that does not hold (DESIGN §6.5).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImbalanceView {
    /// `line`, `claim` or `file`.
    #[schema(example = "claim")]
    pub rule: String,
    pub patient_control_number: Option<String>,
    /// 1-based line of the claim (line rule).
    pub line: Option<usize>,
    pub expected_cents: i64,
    pub actual_cents: i64,
    /// Whether the claim was posted anyway (never, for a line or claim imbalance).
    pub posted: bool,
    pub message: String,
}

/// A PLB provider-level adjustment, posted to the ledger without a claim.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PlbView {
    pub provider_id: String,
    pub date: Option<String>,
    #[schema(example = "WO")]
    pub reason: String,
    pub reference: Option<String>,
    /// Positive reduces the payment, negative increases it.
    pub amount_cents: i64,
}

/// A matched claim that was not posted (its state does not allow the move, or nothing to reverse).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkippedClaim {
    pub claim_id: ClaimId,
    pub patient_control_number: String,
    pub status: ClaimStatus,
    /// Whether the amounts were posted (a reversal is, even when the status cannot change).
    pub posted: bool,
    pub reason: String,
}

/// What an 835 said and what was posted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RemittanceView {
    pub id: RemittanceId,
    /// TRN02: check or EFT trace number.
    #[schema(example = "7170066655")]
    pub trace_number: String,
    /// TRN03 (else REF*2U, else N1*PR N104): with the trace number, the idempotency key.
    pub payer_edi_id: String,
    pub payer_name: Option<String>,
    /// BPR16 (or DTM*405), CCYYMMDD.
    pub payment_date: Option<String>,
    /// BPR04 (ACH, CHK, NON…).
    pub payment_method: Option<String>,
    /// BPR02.
    pub total_paid_cents: i64,
    /// Number of CLPs posted to a claim of this organization.
    pub claims_matched: usize,
    pub claims: Vec<PostedClaim>,
    pub claims_unmatched: Vec<UnmatchedClaim>,
    pub imbalances: Vec<ImbalanceView>,
    pub plb: Vec<PlbView>,
    pub skipped: Vec<SkippedClaim>,
    /// Adjustments posted, summed by `group:reason` (`CO:45`).
    pub adjustments_by_reason: std::collections::BTreeMap<String, i64>,
    /// What the reader tolerated (malformed lines, missing BPR16…).
    pub warnings: Vec<String>,
    /// SHA-256 of the file, hex.
    pub file_hash: String,
    pub received_at: NaiveDateTime,
    /// True when this payer's trace number had been imported before: nothing was posted, this is
    /// the first import's summary.
    pub duplicate: bool,
}

/// One ledger entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LedgerEntryView {
    pub id: LedgerEntryId,
    /// `charge`, `payment`, `adjustment`, `patient_responsibility`, `reversal`, `provider_adjustment`.
    #[schema(example = "adjustment")]
    pub kind: String,
    #[schema(example = "CO")]
    pub group_code: Option<String>,
    #[schema(example = "45")]
    pub reason_code: Option<String>,
    /// Signed: a charge is positive, what reduces the balance negative.
    pub amount_cents: i64,
    pub line_control_number: Option<String>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub remittance_id: Option<String>,
    pub created_at: NaiveDateTime,
}

/// A claim's ledger and the sums the claim view shows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimLedgerView {
    pub claim_id: ClaimId,
    pub charge_cents: i64,
    /// Payments received, net of reversals.
    pub paid_cents: i64,
    /// Patient responsibility (PR adjustments), net of reversals.
    pub patient_responsibility_cents: i64,
    /// Other adjustments (CO, OA, PI, CR), net of reversals.
    pub adjustment_cents: i64,
    /// Sum of every entry.
    pub balance_cents: i64,
    pub items: Vec<LedgerEntryView>,
}
