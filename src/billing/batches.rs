//! Batches: statuses and the queries that create, move and read them. Every function takes the
//! organization first (through `AuditCtx` or `OrgId`); every change writes a batch event and an
//! audit row in the caller's transaction.
//!
//! Membership (`batch_claims`): a claim is in at most one ACTIVE batch, enforced by a partial
//! unique index on `(org_id, claim_id) WHERE active`. Cancelling a batch sets its rows'
//! `active = false`: the rows stay (the cancelled batch still lists its claims) and the claims can
//! be batched again. What acknowledgements call: [`by_control_number`], [`claim_ids`],
//! [`set_ack_status`].

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::schema::{batch_claims::dsl as bc, batch_events::dsl as be, batches::dsl as b};
use crate::audit::{self, AuditCtx};
use crate::claims::domain::ClaimStatus;
use crate::claims::repo as claims;
use crate::db::{BatchEventId, BatchId, ClaimId, DbConn, OrgId, PayerId, UserId, parse_id};
use crate::directory::domain::ClaimKind;
use crate::directory::repo::stale;
use crate::error::{AppError, FieldIssue};
use crate::http::Page;

/// Where a batch is in its life (DESIGN §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    PendingApproval,
    Approved,
    Submitted,
    Accepted,
    PartiallyAccepted,
    Rejected,
    Cancelled,
}

impl BatchStatus {
    pub const ALL: [BatchStatus; 7] = [
        Self::PendingApproval,
        Self::Approved,
        Self::Submitted,
        Self::Accepted,
        Self::PartiallyAccepted,
        Self::Rejected,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingApproval => "pending_approval",
            Self::Approved => "approved",
            Self::Submitted => "submitted",
            Self::Accepted => "accepted",
            Self::PartiallyAccepted => "partially_accepted",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }

    /// The states reachable from this one. An acknowledgement may revise an earlier one (a 999
    /// accepts the file, a 277CA then rejects some claims: `accepted → partially_accepted`).
    pub fn next(self) -> &'static [BatchStatus] {
        use BatchStatus::*;
        match self {
            PendingApproval => &[Approved, Cancelled],
            Approved => &[Submitted, Cancelled],
            Submitted => &[Accepted, PartiallyAccepted, Rejected],
            Accepted => &[PartiallyAccepted, Rejected],
            PartiallyAccepted => &[Accepted, Rejected],
            Rejected => &[Accepted, PartiallyAccepted],
            Cancelled => &[],
        }
    }

    pub fn can_go_to(self, to: BatchStatus) -> bool {
        self.next().contains(&to)
    }

    /// Whether the 837 can be generated (approved or already submitted).
    pub fn can_generate(self) -> bool {
        matches!(self, Self::Approved | Self::Submitted)
    }
}

impl fmt::Display for BatchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BatchStatus {
    type Err = FieldIssue;
    fn from_str(s: &str) -> Result<Self, FieldIssue> {
        let s = s.trim();
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            FieldIssue::new(
                "invalid_enum",
                "must be one of: pending_approval, approved, submitted, accepted, partially_accepted, rejected, cancelled",
            )
        })
    }
}

impl TryFrom<String> for BatchStatus {
    type Error = FieldIssue;
    fn try_from(s: String) -> Result<Self, FieldIssue> {
        s.parse()
    }
}

#[derive(Debug, Clone, Queryable)]
pub struct Batch {
    #[diesel(deserialize_as = String)]
    pub id: BatchId,
    #[diesel(deserialize_as = String)]
    pub org_id: OrgId,
    pub kind: String,
    #[diesel(deserialize_as = String)]
    pub payer_id: PayerId,
    #[diesel(deserialize_as = String)]
    pub status: BatchStatus,
    /// ISA13, assigned at approval.
    pub interchange_control_number: Option<i64>,
    /// GS06, assigned at approval.
    pub group_control_number: Option<i64>,
    pub created_by: Option<String>,
    pub approved_by: Option<String>,
    /// Also the date and time written in the envelope (ISA09/10, GS04/05, BHT04/05).
    pub approved_at: Option<NaiveDateTime>,
    pub submitted_by: Option<String>,
    pub submitted_at: Option<NaiveDateTime>,
    pub claim_count: i32,
    pub total_charge_cents: i64,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Batch {
    pub fn kind(&self) -> Result<ClaimKind, AppError> {
        self.kind
            .parse()
            .map_err(|_| AppError::internal("unknown batch kind in database"))
    }
}

#[derive(Debug, Clone, Queryable)]
pub struct BatchEvent {
    #[diesel(deserialize_as = String)]
    pub id: BatchEventId,
    pub org_id: String,
    pub batch_id: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor_id: Option<String>,
    pub at: NaiveDateTime,
    pub reason: Option<String>,
}

fn actor(ctx: &AuditCtx) -> Option<String> {
    ctx.actor.map(|u| u.to_string())
}

/// The `409` for a change the batch's status does not allow.
pub fn illegal(from: BatchStatus, what: &str) -> AppError {
    let mut extra = serde_json::Map::new();
    extra.insert("current".into(), from.as_str().into());
    extra.insert(
        "allowed".into(),
        from.next()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .into(),
    );
    AppError::Conflict {
        detail: format!("a {from} batch cannot {what}"),
        extra: Some(extra),
    }
}

/// The `409` when a claim is already in an active batch: `claim_ids` lists it, as the documented
/// `409` of `POST /batches` promises (also when the race is lost at the membership insert).
pub fn already_batched(claims: &[ClaimId]) -> AppError {
    let mut extra = serde_json::Map::new();
    extra.insert(
        "claim_ids".into(),
        claims
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .into(),
    );
    AppError::Conflict {
        detail: "claim already batched: another batch took one of these claims".into(),
        extra: Some(extra),
    }
}

fn append_event(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    batch: BatchId,
    from: Option<BatchStatus>,
    to: BatchStatus,
    reason: Option<&str>,
) -> Result<(), AppError> {
    diesel::insert_into(be::batch_events)
        .values((
            be::id.eq(BatchEventId::new().to_string()),
            be::org_id.eq(ctx.org.to_string()),
            be::batch_id.eq(batch.to_string()),
            be::from_status.eq(from.map(|s| s.as_str())),
            be::to_status.eq(to.as_str()),
            be::actor_id.eq(actor(ctx)),
            be::at.eq(crate::db::now()),
            be::reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut DbConn, org: OrgId, id: BatchId) -> Result<Option<Batch>, AppError> {
    Ok(b::batches
        .filter(b::org_id.eq(org.to_string()))
        .filter(b::id.eq(id.to_string()))
        .first::<Batch>(conn)
        .optional()?)
}

pub fn require(conn: &mut DbConn, org: OrgId, id: BatchId) -> Result<Batch, AppError> {
    get(conn, org, id)?.ok_or_else(|| AppError::not_found("batch"))
}

/// The batch whose 837 carried this interchange control number (ISA13), for a 999.
pub fn by_control_number(
    conn: &mut DbConn,
    org: OrgId,
    isa13: i64,
) -> Result<Option<Batch>, AppError> {
    Ok(b::batches
        .filter(b::org_id.eq(org.to_string()))
        .filter(b::interchange_control_number.eq(isa13))
        .first::<Batch>(conn)
        .optional()?)
}

/// The claims of a batch (of a cancelled batch too), in claim id order.
pub fn claim_ids(conn: &mut DbConn, org: OrgId, id: BatchId) -> Result<Vec<ClaimId>, AppError> {
    let raw: Vec<String> = bc::batch_claims
        .filter(bc::org_id.eq(org.to_string()))
        .filter(bc::batch_id.eq(id.to_string()))
        .order(bc::claim_id.asc())
        .select(bc::claim_id)
        .load(conn)?;
    raw.iter().map(|s| parse_id(s)).collect()
}

/// The active batch a claim is in, if any.
pub fn batch_of_claim(
    conn: &mut DbConn,
    org: OrgId,
    claim: ClaimId,
) -> Result<Option<BatchId>, AppError> {
    let raw: Option<String> = bc::batch_claims
        .filter(bc::org_id.eq(org.to_string()))
        .filter(bc::claim_id.eq(claim.to_string()))
        .filter(bc::active.eq(true))
        .select(bc::batch_id)
        .first(conn)
        .optional()?;
    raw.map(|s| parse_id(&s)).transpose()
}

/// Status history, oldest first.
pub fn events(conn: &mut DbConn, org: OrgId, id: BatchId) -> Result<Vec<BatchEvent>, AppError> {
    Ok(be::batch_events
        .filter(be::org_id.eq(org.to_string()))
        .filter(be::batch_id.eq(id.to_string()))
        .order(be::id.asc())
        .load::<BatchEvent>(conn)?)
}

fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Creates a `pending_approval` batch of these claims (already checked: `ready`, of the kind and
/// payer) and moves each claim to `batched`, in claim id order. A claim another batch took
/// meanwhile fails the membership insert (unique index) or the claim's version check: `409`
/// "claim already batched" listing it.
pub fn create(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    kind: ClaimKind,
    payer: PayerId,
    claim_list: &[claims::Claim],
) -> Result<Batch, AppError> {
    let id = BatchId::new();
    let now = crate::db::now();
    let total: i64 = claim_list.iter().map(|c| c.total_charge_cents).sum();
    diesel::insert_into(b::batches)
        .values((
            b::id.eq(id.to_string()),
            b::org_id.eq(ctx.org.to_string()),
            b::kind.eq(kind.as_str()),
            b::payer_id.eq(payer.to_string()),
            b::status.eq(BatchStatus::PendingApproval.as_str()),
            b::created_by.eq(actor(ctx)),
            b::claim_count.eq(claim_list.len() as i32),
            b::total_charge_cents.eq(total),
            b::version.eq(1),
            b::created_at.eq(now),
            b::updated_at.eq(now),
        ))
        .execute(conn)?;
    let why = format!("batch {id}");
    // The claims are locked in id order (PostgreSQL): two batches racing for overlapping claims
    // queue instead of deadlocking (a 500 for both). One another batch took meanwhile has moved
    // on from the version read: `409` listing those.
    let ids: Vec<ClaimId> = claim_list.iter().map(|c| c.id).collect();
    let current = claims::lock(conn, ctx.org, &ids)?;
    let versions: std::collections::HashMap<ClaimId, i32> =
        current.iter().map(|c| (c.id, c.version)).collect();
    let taken: Vec<ClaimId> = claim_list
        .iter()
        .filter(|c| versions.get(&c.id) != Some(&c.version))
        .map(|c| c.id)
        .collect();
    if !taken.is_empty() {
        return Err(already_batched(&taken));
    }
    let org = ctx.org.to_string();
    let batch = id.to_string();
    for chunk in current.chunks(crate::db::INSERT_CHUNK) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|c| {
                (
                    bc::org_id.eq(org.clone()),
                    bc::batch_id.eq(batch.clone()),
                    bc::claim_id.eq(c.id.to_string()),
                    bc::active.eq(true),
                )
            })
            .collect();
        match crate::on_inner!(conn, |db| diesel::insert_into(bc::batch_claims)
            .values(&rows)
            .execute(db))
        {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(already_batched(&ids)),
            Err(e) => return Err(e.into()),
        }
    }
    let mut changes = claims::ClaimChanges::new(current);
    for c in &ids {
        changes.transition(*c, ClaimStatus::Batched, Some(&why))?;
    }
    match changes.flush(conn, ctx) {
        Err(AppError::Conflict { .. }) => return Err(already_batched(&ids)),
        other => other?,
    }
    append_event(
        conn,
        ctx,
        id,
        None,
        BatchStatus::PendingApproval,
        Some("created"),
    )?;
    audit::record(
        conn,
        ctx,
        "batch.create",
        "batch",
        Some(&id.to_string()),
        Some(serde_json::json!({ "claims": claim_list.len(), "kind": kind.as_str() })),
    )?;
    require(conn, ctx.org, id)
}

/// What a status change sets besides the status.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stamp {
    pub approved: Option<(UserId, NaiveDateTime, i64)>,
    pub submitted: Option<(UserId, NaiveDateTime)>,
}

/// Moves a batch to `to` with a batch event and an audit row, or `409` listing the allowed
/// states. `expected_version`, when given, must match.
pub fn transition(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: BatchId,
    to: BatchStatus,
    reason: Option<&str>,
    expected_version: Option<i32>,
    stamp: Stamp,
) -> Result<Batch, AppError> {
    let cur = require(conn, ctx.org, id)?;
    if let Some(v) = expected_version
        && v != cur.version
    {
        return Err(stale("batch", v, cur.version));
    }
    if !cur.status.can_go_to(to) {
        return Err(illegal(cur.status, &format!("move to {to}")));
    }
    let (approved_by, approved_at, isa13) = match stamp.approved {
        Some((u, at, n)) => (Some(u.to_string()), Some(at), Some(n)),
        None => (
            cur.approved_by.clone(),
            cur.approved_at,
            cur.interchange_control_number,
        ),
    };
    let (submitted_by, submitted_at) = match stamp.submitted {
        Some((u, at)) => (Some(u.to_string()), Some(at)),
        None => (cur.submitted_by.clone(), cur.submitted_at),
    };
    let group = match stamp.approved {
        Some((_, _, n)) => Some(n),
        None => cur.group_control_number,
    };
    let n = diesel::update(
        b::batches
            .filter(b::org_id.eq(ctx.org.to_string()))
            .filter(b::id.eq(id.to_string()))
            .filter(b::version.eq(cur.version)),
    )
    .set((
        b::status.eq(to.as_str()),
        b::approved_by.eq(approved_by),
        b::approved_at.eq(approved_at),
        b::interchange_control_number.eq(isa13),
        b::group_control_number.eq(group),
        b::submitted_by.eq(submitted_by),
        b::submitted_at.eq(submitted_at),
        b::version.eq(cur.version + 1),
        b::updated_at.eq(crate::db::now()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(stale("batch", cur.version, cur.version + 1));
    }
    append_event(conn, ctx, id, Some(cur.status), to, reason)?;
    audit::record(
        conn,
        ctx,
        "batch.transition",
        "batch",
        Some(&id.to_string()),
        Some(serde_json::json!({ "from": cur.status.as_str(), "to": to.as_str() })),
    )?;
    require(conn, ctx.org, id)
}

/// Ends the batch's memberships (cancel): the rows stay, the claims may be batched again.
pub fn release_claims(conn: &mut DbConn, org: OrgId, id: BatchId) -> Result<(), AppError> {
    diesel::update(
        bc::batch_claims
            .filter(bc::org_id.eq(org.to_string()))
            .filter(bc::batch_id.eq(id.to_string())),
    )
    .set(bc::active.eq(false))
    .execute(conn)?;
    Ok(())
}

/// Sets the outcome an acknowledgement reports (`accepted`, `partially_accepted`, `rejected`) on
/// a submitted (or already acknowledged) batch. Setting the status it already has changes nothing
/// (importing the same acknowledgement twice). The claims are not touched: the caller moves each
/// claim with `claims::repo::transition`.
pub fn set_ack_status(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: BatchId,
    to: BatchStatus,
    reason: Option<&str>,
) -> Result<Batch, AppError> {
    if !matches!(
        to,
        BatchStatus::Accepted | BatchStatus::PartiallyAccepted | BatchStatus::Rejected
    ) {
        return Err(AppError::internal(format!(
            "an acknowledgement cannot set a batch {to}"
        )));
    }
    let cur = require(conn, ctx.org, id)?;
    if cur.status == to {
        return Ok(cur);
    }
    transition(conn, ctx, id, to, reason, None, Stamp::default())
}

/// Batch list filters.
#[derive(Debug, Clone, Default)]
pub struct BatchFilter {
    pub status: Option<BatchStatus>,
    pub kind: Option<ClaimKind>,
    pub payer_id: Option<PayerId>,
}

/// A page of batches, oldest first (`limit + 1` rows).
pub fn list(
    conn: &mut DbConn,
    org: OrgId,
    f: &BatchFilter,
    page: &Page,
) -> Result<Vec<Batch>, AppError> {
    let mut q = b::batches
        .filter(b::org_id.eq(org.to_string()))
        .into_boxed();
    if let Some(s) = f.status {
        q = q.filter(b::status.eq(s.as_str()));
    }
    if let Some(k) = f.kind {
        q = q.filter(b::kind.eq(k.as_str()));
    }
    if let Some(p) = f.payer_id {
        q = q.filter(b::payer_id.eq(p.to_string()));
    }
    if let Some(after) = &page.after {
        q = q.filter(b::id.gt(after.clone()));
    }
    Ok(q.order(b::id.asc()).limit(page.limit + 1).load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in BatchStatus::ALL {
            assert_eq!(s.as_str().parse::<BatchStatus>().unwrap(), s);
        }
        assert!(BatchStatus::Cancelled.next().is_empty());
        assert!(BatchStatus::PendingApproval.can_go_to(BatchStatus::Approved));
        assert!(!BatchStatus::PendingApproval.can_go_to(BatchStatus::Submitted));
        assert!(!BatchStatus::Submitted.can_go_to(BatchStatus::Cancelled));
        assert!(BatchStatus::Approved.can_generate());
        assert!(!BatchStatus::PendingApproval.can_generate());
    }
}
