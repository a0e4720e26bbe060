//! Request/response shapes of `/api/v1/acknowledgements`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::billing::batches::BatchStatus;
use crate::billing::x12::reader::ack999;
use crate::claims::domain::ClaimStatus;
use crate::db::{AcknowledgementId, BatchId, ClaimId};

/// An IK4: an element in error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ElementErrorView {
    /// IK401: position in the segment (`"9"`, or `"5:1"` for a component).
    #[schema(example = "9")]
    pub position: String,
    /// IK402: data element reference number.
    #[schema(example = "67")]
    pub element_reference: Option<String>,
    /// IK403: syntax error code.
    #[schema(example = "7")]
    pub code: String,
    #[schema(example = "Invalid code value")]
    pub message: String,
    /// IK404: a copy of the bad value.
    #[schema(example = "12345")]
    pub bad_value: Option<String>,
}

/// An IK3: a segment in error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SegmentErrorView {
    /// IK301.
    #[schema(example = "NM1")]
    pub segment_id: String,
    /// IK302: position in the transaction set (ST = 1).
    #[schema(example = 8)]
    pub position: Option<u32>,
    /// IK303.
    #[schema(example = "2010AA")]
    pub loop_id: Option<String>,
    /// IK304: syntax error code.
    #[schema(example = "8")]
    pub code: String,
    #[schema(example = "Segment has data element errors")]
    pub message: String,
    pub elements: Vec<ElementErrorView>,
}

/// AK2 … IK5: one transaction set of our 837 and what the receiver found in it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TransactionSetAckView {
    #[schema(example = "837")]
    pub transaction_set_id: String,
    /// AK202: our ST02.
    #[schema(example = "0001")]
    pub control_number: String,
    /// IK501: A accepted, E accepted with errors, R rejected (also M, W, X).
    #[schema(example = "R")]
    pub status: String,
    /// IK502–IK506.
    pub codes: Vec<String>,
    pub errors: Vec<SegmentErrorView>,
}

/// What a 999 said about one functional group we sent (one AK1 … AK9).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GroupAckView {
    /// AK102: the GS06 of our 837.
    #[schema(example = "1")]
    pub group_control_number: String,
    /// AK901: A accepted, E accepted with errors, P partially accepted, R rejected.
    #[schema(example = "R")]
    pub status: String,
    pub included: Option<u32>,
    pub received: Option<u32>,
    pub accepted: Option<u32>,
    /// AK905–AK909.
    pub codes: Vec<String>,
    /// The batch it answers, when one of this organization's batches has that control number.
    pub batch_id: Option<BatchId>,
    pub transaction_sets: Vec<TransactionSetAckView>,
}

/// A batch whose status the acknowledgement changed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchUpdate {
    pub batch_id: BatchId,
    /// ISA13 = GS06 of the batch's 837.
    #[schema(example = 1)]
    pub control_number: i64,
    pub previous_status: BatchStatus,
    pub status: BatchStatus,
    /// The 999 errors (empty for a 277CA-driven change).
    pub errors: Vec<TransactionSetAckView>,
}

/// A claim the acknowledgement moved.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimUpdate {
    pub claim_id: ClaimId,
    #[schema(example = "C0000002")]
    pub patient_control_number: String,
    pub previous_status: ClaimStatus,
    pub status: ClaimStatus,
    /// The claim-level STC composites (`category:status:entity`), or the 999 verdict.
    #[schema(example = json!(["A7:562:85", "A3:21:77"]))]
    pub stc_codes: Vec<String>,
    /// REF*1K, stored on the claim.
    #[schema(example = "PAYERICN0002")]
    pub payer_claim_number: Option<String>,
}

/// Something the file names that this organization does not have (never guessed).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Unmatched {
    /// `batch` (a 999 group control number) or `claim` (a 277CA patient control number).
    #[schema(example = "claim")]
    pub kind: String,
    #[schema(example = "C9999999")]
    pub reference: String,
    #[schema(example = "no claim of this organization has patient control number C9999999")]
    pub message: String,
}

/// A batch or claim that was found but not moved (its state does not allow it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Skipped {
    /// `batch` or `claim`.
    #[schema(example = "claim")]
    pub kind: String,
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    /// The group control number or patient control number.
    #[schema(example = "C0000003")]
    pub reference: String,
    /// Its current status.
    #[schema(example = "batched")]
    pub status: String,
    #[schema(example = "a batched claim cannot move to accepted")]
    pub reason: String,
}

/// What an acknowledgement file said and what it changed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AcknowledgementView {
    pub id: AcknowledgementId,
    /// `999` or `277ca`.
    #[schema(example = "999")]
    pub kind: String,
    /// ISA13 of the acknowledgement file.
    #[schema(example = "000000102")]
    pub interchange_control_number: String,
    /// GS06 of the acknowledgement file.
    #[schema(example = "102")]
    pub group_control_number: Option<String>,
    /// ISA06 of the acknowledgement file.
    #[schema(example = "CLEARINGHOUSE")]
    pub sender: String,
    /// SHA-256 of the file, hex.
    pub file_hash: String,
    pub file_size: i64,
    pub received_at: DateTime<Utc>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub received_by: Option<String>,
    /// True when this exact file had been imported before: nothing changed, this is the first
    /// import's summary.
    pub duplicate: bool,
    /// 999 only: every acknowledged group with its transaction sets and errors.
    pub groups: Vec<GroupAckView>,
    pub batches: Vec<BatchUpdate>,
    pub claims: Vec<ClaimUpdate>,
    pub unmatched: Vec<Unmatched>,
    pub skipped: Vec<Skipped>,
}

/// Filters of the acknowledgement list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct AckQuery {
    /// `999` or `277ca`.
    pub kind: Option<String>,
    /// Only the 999s that answered this batch.
    pub batch_id: Option<String>,
}

/// IK304 (implementation segment syntax error code) in words.
pub fn segment_error_text(code: &str) -> &'static str {
    match code {
        "1" => "Unrecognized segment ID",
        "2" => "Unexpected segment",
        "3" => "Required segment missing",
        "4" => "Loop occurs over maximum times",
        "5" => "Segment exceeds maximum use",
        "6" => "Segment not in defined transaction set",
        "7" => "Segment not in proper sequence",
        "8" => "Segment has data element errors",
        "I4" => "Implementation \"not used\" segment present",
        "I6" => "Implementation dependent segment missing",
        "I7" => "Implementation loop occurs under minimum times",
        "I8" => "Implementation segment below minimum use",
        "I9" => "Implementation dependent \"not used\" segment present",
        _ => "Other segment error",
    }
}

/// IK403 (implementation data element syntax error code) in words.
pub fn element_error_text(code: &str) -> &'static str {
    match code {
        "1" => "Required data element missing",
        "2" => "Conditional required data element missing",
        "3" => "Too many data elements",
        "4" => "Data element too short",
        "5" => "Data element too long",
        "6" => "Invalid character in data element",
        "7" => "Invalid code value",
        "8" => "Invalid date",
        "9" => "Invalid time",
        "10" => "Exclusion condition violated",
        "12" => "Too many repetitions",
        "13" => "Too many components",
        "I6" => "Code value not used in implementation",
        "I9" => "Implementation dependent data element missing",
        "I10" => "Implementation \"not used\" data element present",
        "I11" => "Implementation too few repetitions",
        "I12" => "Implementation pattern match failure",
        "I13" => "Implementation dependent \"not used\" data element present",
        _ => "Other data element error",
    }
}

impl From<&ack999::TransactionAck> for TransactionSetAckView {
    fn from(t: &ack999::TransactionAck) -> Self {
        Self {
            transaction_set_id: t.transaction_set_id.clone(),
            control_number: t.control_number.clone(),
            status: t.status.clone(),
            codes: t.codes.clone(),
            errors: t
                .errors
                .iter()
                .map(|e| SegmentErrorView {
                    segment_id: e.segment_id.clone(),
                    position: e.position,
                    loop_id: e.loop_id.clone(),
                    code: e.code.clone(),
                    message: segment_error_text(&e.code).to_owned(),
                    elements: e
                        .elements
                        .iter()
                        .map(|el| ElementErrorView {
                            position: el.position.clone(),
                            element_reference: el.element_reference.clone(),
                            code: el.code.clone(),
                            message: element_error_text(&el.code).to_owned(),
                            bad_value: el.bad_value.clone(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}
