//! Claim status changes: the transition table applied with a claim event and an audit row, the
//! history, and the payer's claim number. What batches, acknowledgements and remittances call.

use diesel::prelude::*;

use super::domain::{ClaimStatus, frequency};
use super::repo::{Claim, ClaimEvent, actor, require_claim};
use super::schema::{claim_events::dsl as ev, claims::dsl as c};
use crate::audit::{self, AuditCtx};
use crate::db::{ClaimEventId, ClaimId, DbConn, OrgId};
use crate::directory::repo::stale;
use crate::error::AppError;

pub(super) fn append_event(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    claim: ClaimId,
    from: Option<ClaimStatus>,
    to: ClaimStatus,
    reason: Option<&str>,
) -> Result<(), AppError> {
    diesel::insert_into(ev::claim_events)
        .values((
            ev::id.eq(ClaimEventId::new().to_string()),
            ev::org_id.eq(ctx.org.to_string()),
            ev::claim_id.eq(claim.to_string()),
            ev::from_status.eq(from.map(|s| s.as_str())),
            ev::to_status.eq(to.as_str()),
            ev::actor_id.eq(actor(ctx)),
            ev::at.eq(crate::db::now()),
            ev::reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(())
}

/// The `409` for a change the claim's status does not allow.
pub fn illegal(from: ClaimStatus, what: &str) -> AppError {
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
        detail: format!("a {from} claim cannot {what}"),
        extra: Some(extra),
    }
}

/// Moves a claim to `to` with a claim event (who, when, why) and an audit row, or `409` listing
/// the allowed states. What batches, acknowledgements and remittances call. `expected_version`,
/// when given, must match (`409` if stale).
pub fn transition(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: ClaimId,
    to: ClaimStatus,
    reason: Option<&str>,
    expected_version: Option<i32>,
) -> Result<Claim, AppError> {
    let cur = require_claim(conn, ctx.org, id)?;
    if let Some(v) = expected_version
        && v != cur.version
    {
        return Err(stale("claim", v, cur.version));
    }
    if !cur.status.can_go_to(to) {
        return Err(illegal(cur.status, &format!("move to {to}")));
    }
    let mut frequency_code = cur.frequency_code.clone();
    if to == ClaimStatus::Void {
        frequency_code = frequency::VOID.to_owned();
    }
    let n = diesel::update(
        c::claims
            .filter(c::org_id.eq(ctx.org.to_string()))
            .filter(c::id.eq(id.to_string()))
            .filter(c::version.eq(cur.version)),
    )
    .set((
        c::status.eq(to.as_str()),
        c::frequency_code.eq(frequency_code),
        c::version.eq(cur.version + 1),
        c::updated_at.eq(crate::db::now()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(stale("claim", cur.version, cur.version + 1));
    }
    append_event(conn, ctx, id, Some(cur.status), to, reason)?;
    audit::record(
        conn,
        ctx,
        "claim.transition",
        "claim",
        Some(&id.to_string()),
        Some(serde_json::json!({ "from": cur.status.as_str(), "to": to.as_str() })),
    )?;
    require_claim(conn, ctx.org, id)
}

/// Records a note in the claim's history without a status change (an 835 forwarding the claim
/// to another payer), with its audit row.
pub fn note(conn: &mut DbConn, ctx: &AuditCtx, id: ClaimId, reason: &str) -> Result<(), AppError> {
    let cur = require_claim(conn, ctx.org, id)?;
    append_event(conn, ctx, id, Some(cur.status), cur.status, Some(reason))?;
    audit::record(
        conn,
        ctx,
        "claim.note",
        "claim",
        Some(&id.to_string()),
        Some(serde_json::json!({ "status": cur.status.as_str() })),
    )
}

/// Records the payer's claim control number (from a 277CA or an 835, CLP07).
pub fn set_payer_claim_number(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: ClaimId,
    number: &str,
) -> Result<(), AppError> {
    let n = diesel::update(
        c::claims
            .filter(c::org_id.eq(ctx.org.to_string()))
            .filter(c::id.eq(id.to_string())),
    )
    .set((
        c::payer_claim_number.eq(number),
        c::version.eq(c::version + 1),
        c::updated_at.eq(crate::db::now()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(AppError::not_found("claim"));
    }
    audit::record(
        conn,
        ctx,
        "claim.payer_claim_number",
        "claim",
        Some(&id.to_string()),
        None,
    )
}

pub fn events(conn: &mut DbConn, org: OrgId, id: ClaimId) -> Result<Vec<ClaimEvent>, AppError> {
    Ok(ev::claim_events
        .filter(ev::org_id.eq(org.to_string()))
        .filter(ev::claim_id.eq(id.to_string()))
        .order(ev::id.asc())
        .load::<ClaimEvent>(conn)?)
}
