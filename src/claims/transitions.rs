//! Claim status changes: the transition table applied with a claim event and an audit row, the
//! history, and the payer's claim number. What batches, acknowledgements and remittances call.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::domain::{ClaimStatus, frequency};
use super::pg_rows;
use super::repo::{Claim, ClaimEvent, actor, require_claim};
use super::schema::{claim_events::dsl as ev, claims::dsl as c};
use crate::audit::{self, AuditCtx};
use crate::db::{ClaimEventId, ClaimId, DbConn, OrgId};
use crate::directory::repo::stale;
use crate::error::AppError;

/// The first event of a new claim, for [`append_created_events`] (or, on PostgreSQL, the claims'
/// `pg_rows`).
pub(super) struct NewEvent {
    pub claim: ClaimId,
    pub actor: Option<String>,
    pub reason: String,
}

/// The `draft` events of new claims ([`crate::insert_rows`]).
pub(super) fn append_created_events(
    conn: &mut DbConn,
    org: crate::db::OrgId,
    events: &[NewEvent],
    at: chrono::NaiveDateTime,
) -> Result<(), AppError> {
    let org = org.to_string();
    let rows = created_event_rows(&org, events, at);
    crate::insert_rows!(conn, ev::claim_events, rows);
    Ok(())
}

/// A claim event as written.
#[derive(Insertable)]
#[diesel(table_name = super::schema::claim_events)]
// `None` is NULL, not DEFAULT: a DEFAULT makes diesel render the statement anew for each pattern
// of missing values, and never cache it on PostgreSQL.
#[diesel(treat_none_as_default_value = false)]
struct EventRow<'a> {
    id: String,
    org_id: &'a str,
    claim_id: String,
    from_status: Option<&'static str>,
    to_status: &'static str,
    actor_id: Option<&'a str>,
    at: NaiveDateTime,
    reason: Option<&'a str>,
}

/// The rows of [`append_created_events`].
fn created_event_rows<'a>(
    org: &'a str,
    events: &'a [NewEvent],
    at: NaiveDateTime,
) -> Vec<EventRow<'a>> {
    events
        .iter()
        .map(|e| EventRow {
            id: ClaimEventId::new().to_string(),
            org_id: org,
            claim_id: e.claim.to_string(),
            from_status: None,
            to_status: ClaimStatus::Draft.as_str(),
            actor_id: e.actor.as_deref(),
            at,
            reason: Some(e.reason.as_str()),
        })
        .collect()
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
    let read = cur.version;
    let mut changes = ClaimChanges::new([cur]);
    changes.transition(id, to, reason)?;
    match changes.flush(conn, ctx) {
        Err(AppError::Conflict { .. }) => return Err(stale("claim", read, read + 1)),
        other => other?,
    }
    require_claim(conn, ctx.org, id)
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

/// Claim changes gathered in memory and written together, for a posting that moves thousands of
/// claims (an 835): the same rules, events and audit rows as [`transition`] and
/// [`set_payer_claim_number`], but a few statements in all instead of 3–5 per claim.
///
/// The claims must be locked for the whole gathering (`SELECT … FOR UPDATE` on PostgreSQL, e.g.
/// [`lock`]; the write transaction on SQLite): what callers decide from a tracked claim that they
/// do not change (a ledger entry, a note) is only as fresh as that lock. [`ClaimChanges::flush`]
/// still writes each *changed* claim only where its version is the one read, and fails with
/// `409` (rolling the caller's transaction back) if any was changed meanwhile.
#[derive(Debug, Default)]
pub struct ClaimChanges {
    claims: HashMap<ClaimId, Tracked>,
    events: Vec<PendingEvent>,
    audits: Vec<audit::PendingAudit>,
}

#[derive(Debug)]
struct Tracked {
    claim: Claim,
    read_version: i32,
}

#[derive(Debug)]
pub(super) struct PendingEvent {
    pub(super) id: ClaimEventId,
    pub(super) claim: ClaimId,
    pub(super) from: ClaimStatus,
    pub(super) to: ClaimStatus,
    pub(super) reason: Option<String>,
    pub(super) at: NaiveDateTime,
}

impl ClaimChanges {
    /// Tracks the claims read (and locked) by the caller.
    pub fn new(claims: impl IntoIterator<Item = Claim>) -> Self {
        Self {
            claims: claims
                .into_iter()
                .map(|c| {
                    (
                        c.id,
                        Tracked {
                            read_version: c.version,
                            claim: c,
                        },
                    )
                })
                .collect(),
            ..Self::default()
        }
    }

    /// The claim as it stands with the changes gathered so far.
    pub fn get(&self, id: ClaimId) -> Result<&Claim, AppError> {
        self.claims
            .get(&id)
            .map(|t| &t.claim)
            .ok_or_else(|| AppError::not_found("claim"))
    }

    fn tracked(&mut self, id: ClaimId) -> Result<&mut Claim, AppError> {
        self.claims
            .get_mut(&id)
            .map(|t| &mut t.claim)
            .ok_or_else(|| AppError::not_found("claim"))
    }

    /// [`transition`], gathered: `409` listing the allowed states when the move is not allowed.
    pub fn transition(
        &mut self,
        id: ClaimId,
        to: ClaimStatus,
        reason: Option<&str>,
    ) -> Result<&Claim, AppError> {
        let now = crate::db::now();
        let claim = self.tracked(id)?;
        let from = claim.status;
        if !from.can_go_to(to) {
            return Err(illegal(from, &format!("move to {to}")));
        }
        if to == ClaimStatus::Void {
            claim.frequency_code = frequency::VOID.to_owned();
        }
        claim.status = to;
        claim.version += 1;
        self.events.push(PendingEvent {
            id: ClaimEventId::new(),
            claim: id,
            from,
            to,
            reason: reason.map(str::to_owned),
            at: now,
        });
        self.audits.push(audit::PendingAudit::now(
            "claim.transition",
            "claim",
            Some(id.to_string()),
            Some(serde_json::json!({ "from": from.as_str(), "to": to.as_str() })),
        ));
        self.get(id)
    }

    /// A note in the claim's history without a status change (an 835 forwarding the claim to
    /// another payer), with its audit row.
    pub fn note(&mut self, id: ClaimId, reason: &str) -> Result<(), AppError> {
        let status = self.get(id)?.status;
        self.events.push(PendingEvent {
            id: ClaimEventId::new(),
            claim: id,
            from: status,
            to: status,
            reason: Some(reason.to_owned()),
            at: crate::db::now(),
        });
        self.audits.push(audit::PendingAudit::now(
            "claim.note",
            "claim",
            Some(id.to_string()),
            Some(serde_json::json!({ "status": status.as_str() })),
        ));
        Ok(())
    }

    /// [`set_payer_claim_number`], gathered.
    pub fn set_payer_claim_number(&mut self, id: ClaimId, number: &str) -> Result<(), AppError> {
        let claim = self.tracked(id)?;
        claim.payer_claim_number = Some(number.to_owned());
        claim.version += 1;
        self.audits.push(audit::PendingAudit::now(
            "claim.payer_claim_number",
            "claim",
            Some(id.to_string()),
            None,
        ));
        Ok(())
    }

    /// Writes the changed claims (status, frequency code, payer claim number, version), then
    /// their events and audit rows, in the caller's transaction: on PostgreSQL two statements
    /// whatever the number of claims (the events and audit rows as column arrays,
    /// `pg_rows::ChangeRows`); on SQLite an `UPDATE` per claim, multi-row event INSERTs and a
    /// prepared INSERT per audit row.
    pub fn flush(self, conn: &mut DbConn, ctx: &AuditCtx) -> Result<(), AppError> {
        let mut changed: Vec<&Tracked> = self
            .claims
            .values()
            .filter(|t| t.claim.version != t.read_version)
            .collect();
        changed.sort_by_key(|t| t.claim.id);
        let written = update_claims(conn, ctx.org, &changed)?;
        if written != changed.len() {
            return Err(AppError::conflict(
                "a claim of this posting was changed by someone else meanwhile; nothing posted, try again",
            ));
        }
        let org = ctx.org.to_string();
        let actor = actor(ctx);
        match conn {
            // One statement of column arrays (`pg_rows`), whatever the number of claims.
            DbConn::Postgresql(pg) => {
                if self.events.is_empty() && self.audits.is_empty() {
                    return Ok(());
                }
                let audits: Vec<_> = self.audits.iter().map(|p| (ctx, p)).collect();
                let audits = audit::new_rows(&audits);
                pg_rows::ChangeRows::new(&org, actor.as_deref(), &self.events, &audits).run(pg)?;
                Ok(())
            }
            DbConn::Sqlite(lite) => {
                for chunk in self.events.chunks(crate::db::INSERT_CHUNK) {
                    let rows: Vec<_> = chunk
                        .iter()
                        .map(|e| {
                            (
                                ev::id.eq(e.id.to_string()),
                                ev::org_id.eq(org.clone()),
                                ev::claim_id.eq(e.claim.to_string()),
                                ev::from_status.eq(Some(e.from.as_str())),
                                ev::to_status.eq(e.to.as_str()),
                                ev::actor_id.eq(actor.clone()),
                                ev::at.eq(e.at),
                                ev::reason.eq(e.reason.as_deref()),
                            )
                        })
                        .collect();
                    diesel::insert_into(ev::claim_events)
                        .values(&rows)
                        .execute(lite)?;
                }
                audit::record_many(conn, ctx, &self.audits)
            }
        }
    }
}

/// Writes each claim's gathered state where its version is still the one read; returns how many
/// rows were written. PostgreSQL: one `UPDATE … FROM unnest(…)`; SQLite: one statement per claim
/// (no round trip: it runs in the process).
fn update_claims(conn: &mut DbConn, org: OrgId, changed: &[&Tracked]) -> Result<usize, AppError> {
    use diesel::sql_types::{Array, Integer, Nullable, Text, Timestamp};
    if changed.is_empty() {
        return Ok(0);
    }
    let now = crate::db::now();
    match conn {
        DbConn::Postgresql(pg) => {
            Ok(diesel::sql_query(
                "UPDATE claims AS c SET status = v.status, frequency_code = v.frequency_code, \
                 payer_claim_number = v.payer_claim_number, version = v.version, updated_at = $1 \
                 FROM unnest($2::text[], $3::int4[], $4::text[], $5::text[], $6::text[], $7::int4[]) \
                 AS v(id, read_version, status, frequency_code, payer_claim_number, version) \
                 WHERE c.org_id = $8 AND c.id = v.id AND c.version = v.read_version",
            )
            .bind::<Timestamp, _>(now)
            .bind::<Array<Text>, _>(changed.iter().map(|t| t.claim.id.to_string()).collect::<Vec<_>>())
            .bind::<Array<Integer>, _>(changed.iter().map(|t| t.read_version).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(changed.iter().map(|t| t.claim.status.as_str()).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(changed.iter().map(|t| t.claim.frequency_code.clone()).collect::<Vec<_>>())
            .bind::<Array<Nullable<Text>>, _>(
                changed.iter().map(|t| t.claim.payer_claim_number.clone()).collect::<Vec<_>>(),
            )
            .bind::<Array<Integer>, _>(changed.iter().map(|t| t.claim.version).collect::<Vec<_>>())
            .bind::<Text, _>(org.to_string())
            .execute(pg)?)
        }
        DbConn::Sqlite(lite) => {
            let mut n = 0;
            for t in changed {
                n += diesel::update(
                    c::claims
                        .filter(c::org_id.eq(org.to_string()))
                        .filter(c::id.eq(t.claim.id.to_string()))
                        .filter(c::version.eq(t.read_version)),
                )
                .set((
                    c::status.eq(t.claim.status.as_str()),
                    c::frequency_code.eq(&t.claim.frequency_code),
                    c::payer_claim_number.eq(&t.claim.payer_claim_number),
                    c::version.eq(t.claim.version),
                    c::updated_at.eq(now),
                ))
                .execute(lite)?;
            }
            Ok(n)
        }
    }
}

/// The organization's claims with these ids, in id order (duplicates once). On PostgreSQL they
/// are locked (`SELECT … FOR UPDATE`) in that order, in one statement, so two requests over
/// overlapping claims queue instead of deadlocking; on SQLite the write transaction (`BEGIN
/// IMMEDIATE`) already holds the database. Ids of no claim of the organization are left out.
pub fn lock(conn: &mut DbConn, org: OrgId, ids: &[ClaimId]) -> Result<Vec<Claim>, AppError> {
    let mut ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    ids.sort_unstable();
    ids.dedup();
    crate::db::load_by_ids(conn, &ids, |conn, chunk| {
        let q = c::claims
            .filter(crate::same_org!(c::org_id, org.to_string()))
            .filter(c::id.eq_any(chunk))
            .order(c::id.asc());
        Ok(match conn {
            DbConn::Postgresql(pg) => q.for_update().load::<Claim>(pg)?,
            DbConn::Sqlite(lite) => q.load::<Claim>(lite)?,
        })
    })
}

/// [`transition`] for many claims at once (a batch of thousands): locks them, moves each to `to`
/// with its event and audit row, and writes it all in a few statements. `404` if one is not the
/// organization's, `409` (nothing written) if one cannot move.
pub fn transition_many(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    ids: &[ClaimId],
    to: ClaimStatus,
    reason: &str,
) -> Result<(), AppError> {
    let found = lock(conn, ctx.org, ids)?;
    let mut changes = ClaimChanges::new(found);
    for id in ids {
        changes.transition(*id, to, Some(reason))?;
    }
    changes.flush(conn, ctx)
}
