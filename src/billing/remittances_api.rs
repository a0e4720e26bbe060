//! Request/response shapes of `/api/v1/remittances` and the claim ledger.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::claims::domain::ClaimStatus;
use crate::db::{ClaimId, ClaimLineId, LedgerEntryId, RemittanceId};

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
    /// AMT*B6 at claim level: what the payer allows (information, not a ledger entry).
    #[serde(default)]
    pub allowed_cents: Option<i64>,
    /// Claim-level remark codes (MOA/MIA).
    #[serde(default)]
    pub remark_codes: Vec<String>,
    /// CLP02 19–21: the claim was forwarded to another payer (NM1*TT crossover carrier, or
    /// `another payer` when the 835 does not name it).
    #[serde(default)]
    pub forwarded_to: Option<String>,
    /// Each SVC and the claim line it was matched to.
    #[serde(default)]
    pub lines: Vec<PostedLine>,
    /// Who matched this CLP to the claim by hand (`POST …/claims/{n}/match`); `None` when the
    /// import matched it by its patient control number.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub matched_by: Option<String>,
    #[serde(default)]
    pub matched_at: Option<DateTime<Utc>>,
}

/// One SVC service line of a posted claim and the claim line it was matched to: by REF*6R (our
/// line item control number), else by procedure code and date of service when exactly one claim
/// line fits; otherwise it is reported (`claim_line_number: null` and a `message`), never guessed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PostedLine {
    /// Position of the SVC in its CLP (1-based).
    pub n: usize,
    /// SVC01 as sent.
    #[schema(example = "HC:99213:25")]
    pub procedure: String,
    /// DTM*472, CCYYMMDD.
    pub service_date: Option<String>,
    /// REF*6R as sent.
    pub line_control_number: Option<String>,
    /// `line_control_number`, `procedure_and_date`, or `none`.
    #[schema(example = "line_control_number")]
    pub match_method: String,
    /// The claim line it was matched to.
    #[serde(default)]
    pub claim_line_id: Option<ClaimLineId>,
    pub claim_line_number: Option<i32>,
    pub claim_line_control_number: Option<String>,
    pub charge_cents: i64,
    pub paid_cents: i64,
    /// AMT*B6: allowed amount (information, not a ledger entry).
    pub allowed_cents: Option<i64>,
    /// LQ remark codes (RARC).
    pub remark_codes: Vec<String>,
    /// Why the line was not matched.
    pub message: Option<String>,
}

/// What a remittance said about one claim, as the claim's ledger shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimRemittanceView {
    pub remittance_id: RemittanceId,
    pub trace_number: String,
    /// Position of the CLP in the file (1-based).
    pub n: usize,
    /// CLP02.
    pub status_code: String,
    pub charge_cents: i64,
    pub paid_cents: i64,
    pub patient_responsibility_cents: i64,
    /// AMT*B6 at claim level (information, not a ledger entry).
    pub allowed_cents: Option<i64>,
    /// MOA/MIA remark codes.
    pub remark_codes: Vec<String>,
    /// CLP02 19–21: the payer it was forwarded to.
    pub forwarded_to: Option<String>,
    /// Set when the CLP was matched to this claim by hand.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub matched_by: Option<String>,
    pub matched_at: Option<DateTime<Utc>>,
    pub lines: Vec<PostedLine>,
}

/// Match an unmatched CLP of a remittance to a claim of this organization.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct MatchRequest {
    #[schema(example = "0192b5a4-3c1e-7f00-8000-000000000001")]
    pub claim_id: Option<String>,
}

/// A CLP whose patient control number is no claim of this organization (never guessed).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UnmatchedClaim {
    /// Position of the CLP in the file's claims (1-based).
    pub n: usize,
    #[schema(example = "C9999999")]
    pub patient_control_number: String,
    /// CLP02.
    #[serde(default)]
    pub status_code: String,
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
    pub received_at: DateTime<Utc>,
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
    pub created_at: DateTime<Utc>,
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
    /// What each remittance posted to this claim said: allowed amounts, remark codes,
    /// forwarding, and the SVC lines with the claim lines they were matched to.
    pub remittances: Vec<ClaimRemittanceView>,
}
