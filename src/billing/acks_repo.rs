//! Acknowledgement storage and the import: what a read 999 or 277CA changes, in the caller's
//! transaction (all or nothing). Batches move through `batches::set_ack_status`, claims through
//! `claims::repo::transition`; unknown control numbers are reported, never guessed.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::api::*;
use crate::audit::{self, AuditCtx};
use crate::billing::batches::{self, BatchStatus};
use crate::billing::x12::reader::ack277ca::{self, Verdict};
use crate::billing::x12::reader::ack999;
use crate::billing::x12::reader::{AckFile, Acknowledgement};
use crate::claims::domain::ClaimStatus;
use crate::claims::repo as claims;
use crate::db::{AcknowledgementId, BatchId, ClaimId, DbConn, OrgId, parse_id};
use crate::error::AppError;
use crate::http::Page;

diesel::table! {
    acknowledgements (id) {
        id -> Text,
        org_id -> Text,
        kind -> Text,
        interchange_control_number -> Text,
        group_control_number -> Nullable<Text>,
        sender -> Text,
        file_hash -> Text,
        file_size -> BigInt,
        received_by -> Nullable<Text>,
        received_at -> Timestamp,
        summary -> Text,
    }
}

diesel::table! {
    acknowledgement_batches (acknowledgement_id, batch_id) {
        acknowledgement_id -> Text,
        org_id -> Text,
        batch_id -> Text,
        status -> Text,
        errors -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(acknowledgements, acknowledgement_batches);

use acknowledgement_batches::dsl as ab;
use acknowledgements::dsl as a;

#[derive(Debug, Clone, Queryable)]
pub struct AckRow {
    #[diesel(deserialize_as = String)]
    pub id: AcknowledgementId,
    pub org_id: String,
    pub kind: String,
    pub interchange_control_number: String,
    pub group_control_number: Option<String>,
    pub sender: String,
    pub file_hash: String,
    pub file_size: i64,
    pub received_by: Option<String>,
    pub received_at: NaiveDateTime,
    pub summary: String,
}

impl AckRow {
    /// The stored summary (what the import answered).
    pub fn view(&self, duplicate: bool) -> Result<AcknowledgementView, AppError> {
        let mut v: AcknowledgementView =
            crate::billing::stored_summary(&self.summary, self.received_at, "acknowledgement")?;
        v.duplicate = duplicate;
        Ok(v)
    }
}

/// SHA-256 of the file, hex.
pub fn file_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn get(
    conn: &mut DbConn,
    org: OrgId,
    id: AcknowledgementId,
) -> Result<Option<AckRow>, AppError> {
    Ok(a::acknowledgements
        .filter(a::org_id.eq(org.to_string()))
        .filter(a::id.eq(id.to_string()))
        .first::<AckRow>(conn)
        .optional()?)
}

fn by_hash(conn: &mut DbConn, org: OrgId, hash: &str) -> Result<Option<AckRow>, AppError> {
    Ok(a::acknowledgements
        .filter(a::org_id.eq(org.to_string()))
        .filter(a::file_hash.eq(hash))
        .first::<AckRow>(conn)
        .optional()?)
}

/// A page of acknowledgements, oldest first (`limit + 1` rows).
pub fn list(
    conn: &mut DbConn,
    org: OrgId,
    kind: Option<&str>,
    batch: Option<BatchId>,
    page: &Page,
) -> Result<Vec<AckRow>, AppError> {
    let mut q = a::acknowledgements
        .filter(a::org_id.eq(org.to_string()))
        .into_boxed();
    if let Some(k) = kind {
        q = q.filter(a::kind.eq(k.to_owned()));
    }
    if let Some(b) = batch {
        let ids: Vec<String> = ab::acknowledgement_batches
            .filter(ab::org_id.eq(org.to_string()))
            .filter(ab::batch_id.eq(b.to_string()))
            .select(ab::acknowledgement_id)
            .load(conn)?;
        q = q.filter(a::id.eq_any(ids));
    }
    if let Some(after) = &page.after {
        q = q.filter(a::id.gt(after.clone()));
    }
    Ok(q.order(a::id.asc()).limit(page.limit + 1).load(conn)?)
}

/// The claim of the organization with this patient control number (CLM01 = TRN02).
fn claim_by_pcn(
    conn: &mut DbConn,
    org: OrgId,
    pcn: &str,
) -> Result<Option<claims::Claim>, AppError> {
    // The claims context has no lookup by control number; this reads its id only, then goes
    // through its public `get_claim`.
    use crate::claims::schema::claims::dsl as c;
    let id: Option<String> = c::claims
        .filter(c::org_id.eq(org.to_string()))
        .filter(c::patient_control_number.eq(pcn))
        .select(c::id)
        .first(conn)
        .optional()?;
    match id {
        Some(id) => claims::get_claim(conn, org, parse_id::<ClaimId>(&id)?),
        None => Ok(None),
    }
}

/// Reads an acknowledgement already parsed from `bytes` and applies it: a file imported before
/// (same SHA-256 in this organization) changes nothing and answers the first summary with
/// `duplicate: true`. Returns the summary and whether it is new.
pub fn import(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    bytes: &[u8],
    file: &AckFile,
) -> Result<(AcknowledgementView, bool), AppError> {
    let hash = file_hash(bytes);
    if let Some(row) = by_hash(conn, ctx.org, &hash)? {
        return Ok((row.view(true)?, false));
    }
    let ic = &file.interchange;
    let kind = match file.ack {
        Acknowledgement::Ack999(_) => "999",
        Acknowledgement::Ack277(_) => "277ca",
    };
    let mut v = AcknowledgementView {
        id: AcknowledgementId::new(),
        kind: kind.to_owned(),
        interchange_control_number: ic.control_number.clone(),
        group_control_number: ic.groups.first().map(|g| g.control_number.clone()),
        sender: ic.sender.clone(),
        file_hash: hash,
        file_size: bytes.len() as i64,
        received_at: crate::db::now().and_utc(),
        received_by: ctx.actor.map(|u| u.to_string()),
        duplicate: false,
        groups: Vec::new(),
        batches: Vec::new(),
        claims: Vec::new(),
        unmatched: Vec::new(),
        skipped: Vec::new(),
    };
    // The row first: a concurrent import of the same file waits on the unique key here.
    insert_row(conn, ctx.org, &v, "{}")?;
    match &file.ack {
        Acknowledgement::Ack999(acks) => {
            for ack in acks {
                apply_999(conn, ctx, &mut v, ack)?;
            }
        }
        Acknowledgement::Ack277(acks) => {
            let mut touched: Vec<BatchId> = Vec::new();
            for ack in acks {
                for claim in &ack.claims {
                    apply_claim(conn, ctx, &mut v, claim, &mut touched)?;
                }
            }
            for b in touched {
                settle_batch(conn, ctx, &mut v, b)?;
            }
        }
    }
    let summary =
        serde_json::to_string(&v).map_err(|e| AppError::internal(format!("summary: {e}")))?;
    diesel::update(
        a::acknowledgements
            .filter(a::org_id.eq(ctx.org.to_string()))
            .filter(a::id.eq(v.id.to_string())),
    )
    .set(a::summary.eq(&summary))
    .execute(conn)?;
    audit::record(
        conn,
        ctx,
        "acknowledgement.import",
        "acknowledgement",
        Some(&v.id.to_string()),
        Some(serde_json::json!({
            "kind": kind,
            "batches": v.batches.len(),
            "claims": v.claims.len(),
            "unmatched": v.unmatched.len(),
            "skipped": v.skipped.len(),
        })),
    )?;
    Ok((v, true))
}

fn insert_row(
    conn: &mut DbConn,
    org: OrgId,
    v: &AcknowledgementView,
    summary: &str,
) -> Result<(), AppError> {
    diesel::insert_into(a::acknowledgements)
        .values((
            a::id.eq(v.id.to_string()),
            a::org_id.eq(org.to_string()),
            a::kind.eq(&v.kind),
            a::interchange_control_number.eq(&v.interchange_control_number),
            a::group_control_number.eq(&v.group_control_number),
            a::sender.eq(&v.sender),
            a::file_hash.eq(&v.file_hash),
            a::file_size.eq(v.file_size),
            a::received_by.eq(&v.received_by),
            a::received_at.eq(v.received_at.naive_utc()),
            a::summary.eq(summary),
        ))
        .execute(conn)?;
    Ok(())
}

/// AK901 → the batch status: A and E accept, P partially accepts, R rejects.
fn batch_target(ak901: &str) -> Option<BatchStatus> {
    match ak901 {
        "A" | "E" => Some(BatchStatus::Accepted),
        "P" => Some(BatchStatus::PartiallyAccepted),
        "R" => Some(BatchStatus::Rejected),
        _ => None,
    }
}

fn apply_999(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    v: &mut AcknowledgementView,
    ack: &ack999::Ack999,
) -> Result<(), AppError> {
    let errors: Vec<TransactionSetAckView> = ack.transactions.iter().map(Into::into).collect();
    let gcn = ack.group_control_number.clone();
    let batch = match gcn.parse::<i64>() {
        Ok(n) => batches::by_control_number(conn, ctx.org, n)?
            .filter(|b| b.group_control_number == Some(n)),
        Err(_) => None,
    };
    let linked = batch
        .as_ref()
        .is_some_and(|b| v.groups.iter().any(|g| g.batch_id == Some(b.id)));
    v.groups.push(GroupAckView {
        group_control_number: gcn.clone(),
        status: ack.status.clone(),
        included: ack.included,
        received: ack.received,
        accepted: ack.accepted,
        codes: ack.codes.clone(),
        batch_id: batch.as_ref().map(|b| b.id),
        transaction_sets: errors.clone(),
    });
    let Some(batch) = batch else {
        v.unmatched.push(Unmatched {
            kind: "batch".into(),
            reference: gcn.clone(),
            message: format!("no batch of this organization has group control number {gcn}"),
        });
        return Ok(());
    };
    let Some(target) = batch_target(&ack.status) else {
        return Ok(());
    };
    let errors_json =
        serde_json::to_string(&errors).map_err(|e| AppError::internal(format!("errors: {e}")))?;
    if !linked {
        diesel::insert_into(ab::acknowledgement_batches)
            .values((
                ab::acknowledgement_id.eq(v.id.to_string()),
                ab::org_id.eq(ctx.org.to_string()),
                ab::batch_id.eq(batch.id.to_string()),
                ab::status.eq(&ack.status),
                ab::errors.eq(errors_json),
            ))
            .execute(conn)?;
    }
    let control_number = batch.interchange_control_number.unwrap_or_default();
    if batch.status == target || !batch.status.can_go_to(target) {
        let why = if batch.status == target {
            format!("the batch is already {target}")
        } else {
            format!(
                "a {} batch cannot move to {target} (only a submitted or acknowledged batch can)",
                batch.status
            )
        };
        v.skipped.push(Skipped {
            kind: "batch".into(),
            id: batch.id.to_string(),
            reference: gcn,
            status: batch.status.as_str().into(),
            reason: why,
        });
        return Ok(());
    }
    let reason = format!(
        "999 acknowledgement (interchange {}): AK9 {}",
        v.interchange_control_number, ack.status
    );
    let moved = batches::set_ack_status(conn, ctx, batch.id, target, Some(&reason))?;
    v.batches.push(BatchUpdate {
        batch_id: batch.id,
        control_number,
        previous_status: batch.status,
        status: moved.status,
        errors,
    });
    if target == BatchStatus::Rejected {
        // The payer never took these claims: each submitted claim of the batch is rejected.
        for id in batches::claim_ids(conn, ctx.org, batch.id)? {
            let claim = claims::require_claim(conn, ctx.org, id)?;
            let codes = vec![format!("999 AK9 {}", ack.status)];
            move_claim(conn, ctx, v, &claim, ClaimStatus::Rejected, codes, None)?;
        }
    }
    Ok(())
}

/// Moves a claim if its state allows it, else reports it in `skipped`.
fn move_claim(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    v: &mut AcknowledgementView,
    claim: &claims::Claim,
    to: ClaimStatus,
    codes: Vec<String>,
    payer_claim_number: Option<&str>,
) -> Result<bool, AppError> {
    if claim.status == to || !claim.status.can_go_to(to) {
        let reason = if claim.status == to {
            format!("the claim is already {to}")
        } else {
            format!("a {} claim cannot move to {to}", claim.status)
        };
        v.skipped.push(Skipped {
            kind: "claim".into(),
            id: claim.id.to_string(),
            reference: claim.patient_control_number.clone(),
            status: claim.status.as_str().into(),
            reason,
        });
        return Ok(false);
    }
    let reason = format!(
        "{} acknowledgement (interchange {}): {}",
        if v.kind == "999" { "999" } else { "277CA" },
        v.interchange_control_number,
        codes.join(", ")
    );
    let moved = claims::transition(conn, ctx, claim.id, to, Some(&reason), None)?;
    if let Some(n) = payer_claim_number
        && moved.payer_claim_number.as_deref() != Some(n)
    {
        claims::set_payer_claim_number(conn, ctx, claim.id, n)?;
    }
    v.claims.push(ClaimUpdate {
        claim_id: claim.id,
        patient_control_number: claim.patient_control_number.clone(),
        previous_status: claim.status,
        status: moved.status,
        stc_codes: codes,
        payer_claim_number: payer_claim_number.map(str::to_owned),
    });
    Ok(true)
}

fn apply_claim(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    v: &mut AcknowledgementView,
    ack: &ack277ca::ClaimAck,
    touched: &mut Vec<BatchId>,
) -> Result<(), AppError> {
    let pcn = ack.patient_control_number.trim();
    let Some(claim) = claim_by_pcn(conn, ctx.org, pcn)? else {
        v.unmatched.push(Unmatched {
            kind: "claim".into(),
            reference: pcn.to_owned(),
            message: format!("no claim of this organization has patient control number {pcn}"),
        });
        return Ok(());
    };
    let codes = ack.codes();
    let to = match ack.verdict() {
        Verdict::Accepted => ClaimStatus::Accepted,
        Verdict::Rejected => ClaimStatus::Rejected,
        Verdict::None => {
            v.skipped.push(Skipped {
                kind: "claim".into(),
                id: claim.id.to_string(),
                reference: pcn.to_owned(),
                status: claim.status.as_str().into(),
                reason: format!(
                    "status {} neither accepts nor rejects the claim",
                    if codes.is_empty() {
                        "(none)".to_owned()
                    } else {
                        codes.join(", ")
                    }
                ),
            });
            return Ok(());
        }
    };
    let moved = move_claim(
        conn,
        ctx,
        v,
        &claim,
        to,
        codes,
        ack.payer_claim_number.as_deref(),
    )?;
    if moved
        && let Some(b) = batches::batch_of_claim(conn, ctx.org, claim.id)?
        && !touched.contains(&b)
    {
        touched.push(b);
    }
    Ok(())
}

/// After a 277CA: a batch whose claims are all rejected is rejected, one with some rejected is
/// partially accepted, a submitted one whose claims are all accepted is accepted.
fn settle_batch(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    v: &mut AcknowledgementView,
    id: BatchId,
) -> Result<(), AppError> {
    let batch = batches::require(conn, ctx.org, id)?;
    let mut statuses = Vec::new();
    for c in batches::claim_ids(conn, ctx.org, id)? {
        statuses.push(claims::require_claim(conn, ctx.org, c)?.status);
    }
    let rejected = statuses
        .iter()
        .filter(|s| **s == ClaimStatus::Rejected)
        .count();
    let target = if rejected > 0 && rejected == statuses.len() {
        BatchStatus::Rejected
    } else if rejected > 0 {
        BatchStatus::PartiallyAccepted
    } else if batch.status == BatchStatus::Submitted
        && statuses.iter().all(|s| *s != ClaimStatus::Submitted)
    {
        BatchStatus::Accepted
    } else {
        return Ok(());
    };
    if batch.status == target || !batch.status.can_go_to(target) {
        return Ok(());
    }
    let reason = format!(
        "277CA acknowledgement (interchange {}): {rejected} of {} claims rejected",
        v.interchange_control_number,
        statuses.len()
    );
    let moved = batches::set_ack_status(conn, ctx, id, target, Some(&reason))?;
    v.batches.push(BatchUpdate {
        batch_id: id,
        control_number: batch.interchange_control_number.unwrap_or_default(),
        previous_status: batch.status,
        status: moved.status,
        errors: Vec::new(),
    });
    Ok(())
}
