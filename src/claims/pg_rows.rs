//! PostgreSQL: a batch of new claims written by one statement whose text is the same for any
//! number of claims and lines, so that each connection prepares it once (as registrations do,
//! `lab::pg_rows`): each table's rows bound as one array per column and inserted by
//! `INSERT … SELECT * FROM unnest(…)`. Multi-row INSERTs, chained in one statement before, had a
//! text per row count, parsed and planned again for every batch while it held the organization's
//! counter. The events and audit rows of claims moved together (`transitions::ClaimChanges`: an
//! 835's posting, a batch's claims) are written the same way ([`ChangeRows`]).

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text, Timestamp};
use diesel::{PgConnection, QueryResult, RunQueryDsl};

use super::domain::ClaimStatus;
use super::repo::CreatedClaim;
use super::transitions::{NewEvent, PendingEvent};
use crate::audit::repo::{AuditColumns, NewAuditRow};
use crate::db::ClaimEventId;

/// The rows of new claims, one array per column: `WITH w0 AS (claims), w1 AS (their lines),
/// w2 AS (their first events) INSERT INTO audit_events …`.
pub(super) struct ClaimRows<'a> {
    claims: Claims<'a>,
    lines: Lines<'a>,
    events: Events<'a>,
    audits: AuditColumns<'a>,
}

struct Claims<'a> {
    id: Vec<String>,
    org_id: Vec<&'a str>,
    kind: Vec<&'a str>,
    status: Vec<&'a str>,
    patient_id: Vec<String>,
    coverage_id: Vec<String>,
    payer_id: Vec<String>,
    rendering_provider_id: Vec<Option<&'a str>>,
    place_of_service: Vec<&'a str>,
    diagnoses: Vec<&'a str>,
    prior_authorization: Vec<Option<&'a str>>,
    notes: Vec<Option<&'a str>>,
    patient_control_number: Vec<&'a str>,
    frequency_code: Vec<&'a str>,
    original_claim_id: Vec<Option<&'a str>>,
    original_reference: Vec<Option<&'a str>>,
    total_charge_cents: Vec<i64>,
    service_from: Vec<chrono::NaiveDate>,
    service_to: Vec<chrono::NaiveDate>,
    version: Vec<i32>,
    created_by: Vec<Option<&'a str>>,
    created_at: Vec<chrono::NaiveDateTime>,
    updated_at: Vec<chrono::NaiveDateTime>,
}

struct Lines<'a> {
    id: Vec<String>,
    org_id: Vec<&'a str>,
    claim_id: Vec<String>,
    line_number: Vec<i32>,
    procedure_code: Vec<&'a str>,
    modifiers: Vec<&'a str>,
    diagnosis_pointers: Vec<&'a str>,
    units: Vec<i64>,
    charge_cents: Vec<i64>,
    service_date: Vec<chrono::NaiveDate>,
    tooth: Vec<Option<&'a str>>,
    surfaces: Vec<&'a str>,
    oral_cavity_area: Vec<Option<&'a str>>,
    line_control_number: Vec<&'a str>,
    charge_id: Vec<Option<&'a str>>,
    created_at: Vec<chrono::NaiveDateTime>,
}

struct Events<'a> {
    id: Vec<String>,
    org_id: Vec<&'a str>,
    claim_id: Vec<String>,
    to_status: Vec<&'static str>,
    actor_id: Vec<Option<&'a str>>,
    at: Vec<chrono::NaiveDateTime>,
    reason: Vec<&'a str>,
}

impl<'a> ClaimRows<'a> {
    /// `created`'s claims and lines, their `draft` events (`events`, one per claim, at `now`)
    /// and their audit rows.
    pub(super) fn new(
        org_id: &'a str,
        created: &'a [CreatedClaim],
        events: &'a [NewEvent],
        now: chrono::NaiveDateTime,
        audits: &'a [NewAuditRow],
    ) -> Self {
        let k = || created.iter().map(|cc| &cc.claim);
        let claims = Claims {
            id: k().map(|c| c.id.to_string()).collect(),
            org_id: k().map(|_| org_id).collect(),
            kind: k().map(|c| c.kind.as_str()).collect(),
            status: k().map(|c| c.status.as_str()).collect(),
            patient_id: k().map(|c| c.patient_id.to_string()).collect(),
            coverage_id: k().map(|c| c.coverage_id.to_string()).collect(),
            payer_id: k().map(|c| c.payer_id.to_string()).collect(),
            rendering_provider_id: k().map(|c| c.rendering_provider_id.as_deref()).collect(),
            place_of_service: k().map(|c| c.place_of_service.as_str()).collect(),
            diagnoses: k().map(|c| c.diagnoses.as_str()).collect(),
            prior_authorization: k().map(|c| c.prior_authorization.as_deref()).collect(),
            notes: k().map(|c| c.notes.as_deref()).collect(),
            patient_control_number: k().map(|c| c.patient_control_number.as_str()).collect(),
            frequency_code: k().map(|c| c.frequency_code.as_str()).collect(),
            original_claim_id: k().map(|c| c.original_claim_id.as_deref()).collect(),
            original_reference: k().map(|c| c.original_reference.as_deref()).collect(),
            total_charge_cents: k().map(|c| c.total_charge_cents).collect(),
            service_from: k().map(|c| c.service_from).collect(),
            service_to: k().map(|c| c.service_to).collect(),
            version: k().map(|c| c.version).collect(),
            created_by: k().map(|c| c.created_by.as_deref()).collect(),
            created_at: k().map(|c| c.created_at).collect(),
            updated_at: k().map(|c| c.updated_at).collect(),
        };
        let l = || created.iter().flat_map(|cc| &cc.lines);
        let lines = Lines {
            id: l().map(|x| x.id.to_string()).collect(),
            org_id: l().map(|_| org_id).collect(),
            claim_id: l().map(|x| x.claim_id.to_string()).collect(),
            line_number: l().map(|x| x.line_number).collect(),
            procedure_code: l().map(|x| x.procedure_code.as_str()).collect(),
            modifiers: l().map(|x| x.modifiers.as_str()).collect(),
            diagnosis_pointers: l().map(|x| x.diagnosis_pointers.as_str()).collect(),
            units: l().map(|x| x.units).collect(),
            charge_cents: l().map(|x| x.charge_cents).collect(),
            service_date: l().map(|x| x.service_date).collect(),
            tooth: l().map(|x| x.tooth.as_deref()).collect(),
            surfaces: l().map(|x| x.surfaces.as_str()).collect(),
            oral_cavity_area: l().map(|x| x.oral_cavity_area.as_deref()).collect(),
            line_control_number: l().map(|x| x.line_control_number.as_str()).collect(),
            charge_id: l().map(|x| x.charge_id.as_deref()).collect(),
            created_at: l().map(|x| x.created_at).collect(),
        };
        let events = Events {
            id: events
                .iter()
                .map(|_| ClaimEventId::new().to_string())
                .collect(),
            org_id: events.iter().map(|_| org_id).collect(),
            claim_id: events.iter().map(|e| e.claim.to_string()).collect(),
            to_status: events.iter().map(|_| ClaimStatus::Draft.as_str()).collect(),
            actor_id: events.iter().map(|e| e.actor.as_deref()).collect(),
            at: events.iter().map(|_| now).collect(),
            reason: events.iter().map(|e| e.reason.as_str()).collect(),
        };
        Self {
            claims,
            lines,
            events,
            audits: AuditColumns::new(audits),
        }
    }

    pub(super) fn run(self, conn: &mut PgConnection) -> QueryResult<usize> {
        self.execute(conn)
    }
}

impl QueryFragment<Pg> for ClaimRows<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let c = &self.claims;
        out.push_sql(
            "WITH w0 AS (INSERT INTO claims (id, org_id, kind, status, patient_id, coverage_id, \
             payer_id, rendering_provider_id, place_of_service, diagnoses, prior_authorization, \
             notes, patient_control_number, frequency_code, original_claim_id, \
             original_reference, total_charge_cents, service_from, service_to, version, \
             created_by, created_at, updated_at) SELECT * FROM unnest(",
        );
        crate::push_arrays!(out, [
            Text => &c.id,
            Text => &c.org_id,
            Text => &c.kind,
            Text => &c.status,
            Text => &c.patient_id,
            Text => &c.coverage_id,
            Text => &c.payer_id,
            Nullable<Text> => &c.rendering_provider_id,
            Text => &c.place_of_service,
            Text => &c.diagnoses,
            Nullable<Text> => &c.prior_authorization,
            Nullable<Text> => &c.notes,
            Text => &c.patient_control_number,
            Text => &c.frequency_code,
            Nullable<Text> => &c.original_claim_id,
            Nullable<Text> => &c.original_reference,
            BigInt => &c.total_charge_cents,
            Date => &c.service_from,
            Date => &c.service_to,
            Integer => &c.version,
            Nullable<Text> => &c.created_by,
            Timestamp => &c.created_at,
            Timestamp => &c.updated_at,
        ]);
        let l = &self.lines;
        out.push_sql(
            ")), w1 AS (INSERT INTO claim_lines (id, org_id, claim_id, line_number, \
             procedure_code, modifiers, diagnosis_pointers, units, charge_cents, service_date, \
             tooth, surfaces, oral_cavity_area, line_control_number, charge_id, created_at) \
             SELECT * FROM unnest(",
        );
        crate::push_arrays!(out, [
            Text => &l.id,
            Text => &l.org_id,
            Text => &l.claim_id,
            Integer => &l.line_number,
            Text => &l.procedure_code,
            Text => &l.modifiers,
            Text => &l.diagnosis_pointers,
            BigInt => &l.units,
            BigInt => &l.charge_cents,
            Date => &l.service_date,
            Nullable<Text> => &l.tooth,
            Text => &l.surfaces,
            Nullable<Text> => &l.oral_cavity_area,
            Text => &l.line_control_number,
            Nullable<Text> => &l.charge_id,
            Timestamp => &l.created_at,
        ]);
        let e = &self.events;
        out.push_sql(
            ")), w2 AS (INSERT INTO claim_events (id, org_id, claim_id, to_status, actor_id, at, \
             reason) SELECT * FROM unnest(",
        );
        crate::push_arrays!(out, [
            Text => &e.id,
            Text => &e.org_id,
            Text => &e.claim_id,
            Text => &e.to_status,
            Nullable<Text> => &e.actor_id,
            Timestamp => &e.at,
            Text => &e.reason,
        ]);
        out.push_sql(")) ");
        self.audits.walk_ast(out.reborrow())
    }
}

/// One text for any batch, cached by diesel per connection (by its text).
impl QueryId for ClaimRows<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl RunQueryDsl<PgConnection> for ClaimRows<'_> {}

/// The events and audit rows of claims moved together (`transitions::ClaimChanges`):
/// `WITH w0 AS (INSERT INTO claim_events …) INSERT INTO audit_events …`, one text for any
/// number of rows.
pub(super) struct ChangeRows<'a> {
    events: ChangedEvents<'a>,
    audits: AuditColumns<'a>,
}

struct ChangedEvents<'a> {
    id: Vec<String>,
    org_id: Vec<&'a str>,
    claim_id: Vec<String>,
    from_status: Vec<&'a str>,
    to_status: Vec<&'a str>,
    actor_id: Vec<Option<&'a str>>,
    at: Vec<chrono::NaiveDateTime>,
    reason: Vec<Option<&'a str>>,
}

impl<'a> ChangeRows<'a> {
    /// `events` of the organization `org`, all by `actor`, and the audit rows `audits`.
    pub(super) fn new(
        org: &'a str,
        actor: Option<&'a str>,
        events: &'a [PendingEvent],
        audits: &'a [NewAuditRow],
    ) -> Self {
        Self {
            events: ChangedEvents {
                id: events.iter().map(|e| e.id.to_string()).collect(),
                org_id: vec![org; events.len()],
                claim_id: events.iter().map(|e| e.claim.to_string()).collect(),
                from_status: events.iter().map(|e| e.from.as_str()).collect(),
                to_status: events.iter().map(|e| e.to.as_str()).collect(),
                actor_id: vec![actor; events.len()],
                at: events.iter().map(|e| e.at).collect(),
                reason: events.iter().map(|e| e.reason.as_deref()).collect(),
            },
            audits: AuditColumns::new(audits),
        }
    }

    pub(super) fn run(self, conn: &mut PgConnection) -> QueryResult<usize> {
        self.execute(conn)
    }
}

impl QueryFragment<Pg> for ChangeRows<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let e = &self.events;
        out.push_sql(
            "WITH w0 AS (INSERT INTO claim_events (id, org_id, claim_id, from_status, to_status, \
             actor_id, at, reason) SELECT * FROM unnest(",
        );
        crate::push_arrays!(out, [
            Text => &e.id,
            Text => &e.org_id,
            Text => &e.claim_id,
            Text => &e.from_status,
            Text => &e.to_status,
            Nullable<Text> => &e.actor_id,
            Timestamp => &e.at,
            Nullable<Text> => &e.reason,
        ]);
        out.push_sql(")) ");
        self.audits.walk_ast(out.reborrow())
    }
}

/// One text for any number of rows, cached by diesel per connection (by its text).
impl QueryId for ChangeRows<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl RunQueryDsl<PgConnection> for ChangeRows<'_> {}
