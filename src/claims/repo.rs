//! Claim queries. Every function takes the organization first (through `AuditCtx` or `OrgId`);
//! every change writes its audit row and, for status changes, a claim event, in the caller's
//! transaction.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::domain::{self, ClaimStatus, frequency};
use super::schema::{claim_lines::dsl as cl, claims::dsl as c};
use super::scrubber::Candidate;
pub use super::transitions::{
    ClaimChanges, events, illegal, lock, set_payer_claim_number, transition, transition_many,
};
use super::transitions::{NewEvent, append_created_events};
use crate::audit::{self, AuditCtx};
use crate::db::{
    ChargeId, ClaimEventId, ClaimId, ClaimLineId, CoverageId, DbConn, OrgId, PatientId, PayerId,
    ProviderId,
};
use crate::directory::domain::ClaimKind;
use crate::directory::repo::stale;
use crate::error::AppError;
use crate::http::Page;

#[derive(Debug, Clone, Queryable)]
pub struct Claim {
    #[diesel(deserialize_as = String)]
    pub id: ClaimId,
    #[diesel(deserialize_as = String)]
    pub org_id: OrgId,
    pub kind: String,
    #[diesel(deserialize_as = String)]
    pub status: ClaimStatus,
    #[diesel(deserialize_as = String)]
    pub patient_id: PatientId,
    #[diesel(deserialize_as = String)]
    pub coverage_id: CoverageId,
    #[diesel(deserialize_as = String)]
    pub payer_id: PayerId,
    pub rendering_provider_id: Option<String>,
    pub place_of_service: String,
    /// JSON array of stored ICD-10-CM codes.
    pub diagnoses: String,
    pub prior_authorization: Option<String>,
    pub notes: Option<String>,
    pub patient_control_number: String,
    pub frequency_code: String,
    pub original_claim_id: Option<String>,
    pub original_reference: Option<String>,
    pub payer_claim_number: Option<String>,
    pub total_charge_cents: i64,
    pub service_from: NaiveDate,
    pub service_to: NaiveDate,
    pub version: i32,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Claim {
    pub fn kind(&self) -> Result<ClaimKind, AppError> {
        self.kind
            .parse()
            .map_err(|_| AppError::internal("unknown claim kind in database"))
    }
    pub fn diagnosis_codes(&self) -> Vec<String> {
        json_list(&self.diagnoses)
    }
    pub fn rendering_provider(&self) -> Option<ProviderId> {
        self.rendering_provider_id
            .as_deref()
            .and_then(|s| s.parse().ok())
    }
}

#[derive(Debug, Clone, Queryable)]
pub struct ClaimLine {
    #[diesel(deserialize_as = String)]
    pub id: ClaimLineId,
    #[diesel(deserialize_as = String)]
    pub org_id: OrgId,
    #[diesel(deserialize_as = String)]
    pub claim_id: ClaimId,
    pub line_number: i32,
    pub procedure_code: String,
    pub modifiers: String,
    pub diagnosis_pointers: String,
    pub units: i64,
    pub charge_cents: i64,
    pub service_date: NaiveDate,
    pub tooth: Option<String>,
    pub surfaces: String,
    pub oral_cavity_area: Option<String>,
    pub line_control_number: String,
    pub charge_id: Option<String>,
    pub created_at: NaiveDateTime,
}

impl ClaimLine {
    pub fn modifier_list(&self) -> Vec<String> {
        json_list(&self.modifiers)
    }
    pub fn pointer_list(&self) -> Vec<i64> {
        json_list(&self.diagnosis_pointers)
    }
    pub fn surface_list(&self) -> Vec<String> {
        json_list(&self.surfaces)
    }
}

#[derive(Debug, Clone, Queryable)]
pub struct ClaimEvent {
    #[diesel(deserialize_as = String)]
    pub id: ClaimEventId,
    pub org_id: String,
    pub claim_id: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor_id: Option<String>,
    pub at: NaiveDateTime,
    pub reason: Option<String>,
}

/// A checked claim line.
#[derive(Debug, Clone)]
pub struct LineFields {
    pub procedure_code: String,
    pub modifiers: Vec<String>,
    pub pointers: Vec<i64>,
    pub units: i64,
    pub charge_cents: i64,
    pub service_date: NaiveDate,
    pub tooth: Option<String>,
    pub surfaces: Vec<String>,
    pub oral_cavity_area: Option<String>,
    pub charge_id: Option<ChargeId>,
}

/// A checked claim.
#[derive(Debug, Clone)]
pub struct ClaimFields {
    pub kind: ClaimKind,
    pub patient_id: PatientId,
    pub coverage_id: CoverageId,
    pub payer_id: PayerId,
    pub rendering_provider_id: Option<ProviderId>,
    pub place_of_service: String,
    pub diagnoses: Vec<String>,
    pub prior_authorization: Option<String>,
    pub notes: Option<String>,
    pub lines: Vec<LineFields>,
}

impl ClaimFields {
    pub fn total_charge_cents(&self) -> i64 {
        self.lines.iter().map(|l| l.charge_cents).sum()
    }
    fn service_range(&self) -> (NaiveDate, NaiveDate) {
        let dates = self.lines.iter().map(|l| l.service_date);
        let from = dates.clone().min().unwrap_or_default();
        let to = dates.max().unwrap_or_default();
        (from, to)
    }
}

/// How a new claim relates to an earlier one (replacement claims).
#[derive(Debug, Clone)]
pub struct Origin {
    pub frequency_code: &'static str,
    pub original_claim_id: Option<ClaimId>,
    pub original_reference: Option<String>,
}

impl Origin {
    pub fn original() -> Self {
        Self {
            frequency_code: frequency::ORIGINAL,
            original_claim_id: None,
            original_reference: None,
        }
    }
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// A stored JSON array (diagnoses, modifiers, pointers, surfaces); empty if unreadable.
pub fn json_list<T: serde::de::DeserializeOwned>(raw: &str) -> Vec<T> {
    serde_json::from_str(raw).unwrap_or_default()
}

pub(super) fn actor(ctx: &AuditCtx) -> Option<String> {
    ctx.actor.map(|u| u.to_string())
}

pub fn get_claim(conn: &mut DbConn, org: OrgId, id: ClaimId) -> Result<Option<Claim>, AppError> {
    Ok(c::claims
        .filter(c::org_id.eq(org.to_string()))
        .filter(c::id.eq(id.to_string()))
        .first::<Claim>(conn)
        .optional()?)
}

pub fn require_claim(conn: &mut DbConn, org: OrgId, id: ClaimId) -> Result<Claim, AppError> {
    get_claim(conn, org, id)?.ok_or_else(|| AppError::not_found("claim"))
}

pub fn lines_of(conn: &mut DbConn, org: OrgId, id: ClaimId) -> Result<Vec<ClaimLine>, AppError> {
    Ok(cl::claim_lines
        .filter(cl::org_id.eq(org.to_string()))
        .filter(cl::claim_id.eq(id.to_string()))
        .order(cl::line_number.asc())
        .load::<ClaimLine>(conn)?)
}

/// The lines of claim `claim` as they will be stored, numbered from 1.
fn line_rows(
    org: OrgId,
    claim: ClaimId,
    pcn: &str,
    lines: &[LineFields],
    now: NaiveDateTime,
) -> Vec<ClaimLine> {
    lines
        .iter()
        .zip(1..)
        .map(|(l, n)| ClaimLine {
            id: ClaimLineId::new(),
            org_id: org,
            claim_id: claim,
            line_number: n,
            procedure_code: l.procedure_code.clone(),
            modifiers: json(&l.modifiers),
            diagnosis_pointers: json(&l.pointers),
            units: l.units,
            charge_cents: l.charge_cents,
            service_date: l.service_date,
            tooth: l.tooth.clone(),
            surfaces: json(&l.surfaces),
            oral_cavity_area: l.oral_cavity_area.clone(),
            line_control_number: domain::line_control_number(pcn, n),
            charge_id: l.charge_id.map(|c| c.to_string()),
            created_at: now,
        })
        .collect()
}

/// Inserts claim lines ([`crate::insert_rows`]).
fn insert_line_rows<'a>(
    conn: &mut DbConn,
    lines: impl IntoIterator<Item = &'a ClaimLine>,
) -> Result<(), AppError> {
    let rows = line_rows_of(lines);
    crate::insert_rows!(conn, cl::claim_lines, rows);
    Ok(())
}

/// A claim line as written.
#[derive(Insertable)]
#[diesel(table_name = super::schema::claim_lines)]
// `None` is NULL, not DEFAULT: a DEFAULT makes diesel render the statement anew for each pattern
// of missing values, and never cache it on PostgreSQL.
#[diesel(treat_none_as_default_value = false)]
struct LineRow<'a> {
    id: String,
    org_id: String,
    claim_id: String,
    line_number: i32,
    procedure_code: &'a str,
    modifiers: &'a str,
    diagnosis_pointers: &'a str,
    units: i64,
    charge_cents: i64,
    service_date: NaiveDate,
    tooth: Option<&'a str>,
    surfaces: &'a str,
    oral_cavity_area: Option<&'a str>,
    line_control_number: &'a str,
    charge_id: Option<&'a str>,
    created_at: NaiveDateTime,
}

fn line_rows_of<'a>(lines: impl IntoIterator<Item = &'a ClaimLine>) -> Vec<LineRow<'a>> {
    lines
        .into_iter()
        .map(|l| LineRow {
            id: l.id.to_string(),
            org_id: l.org_id.to_string(),
            claim_id: l.claim_id.to_string(),
            line_number: l.line_number,
            procedure_code: &l.procedure_code,
            modifiers: &l.modifiers,
            diagnosis_pointers: &l.diagnosis_pointers,
            units: l.units,
            charge_cents: l.charge_cents,
            service_date: l.service_date,
            tooth: l.tooth.as_deref(),
            surfaces: &l.surfaces,
            oral_cavity_area: l.oral_cavity_area.as_deref(),
            line_control_number: &l.line_control_number,
            charge_id: l.charge_id.as_deref(),
            created_at: l.created_at,
        })
        .collect()
}

/// Creates a draft claim with a new patient control number.
pub fn create_claim(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    f: &ClaimFields,
    origin: Origin,
) -> Result<Claim, AppError> {
    let one = [ClaimCreation {
        ctx: ctx.clone(),
        fields: f.clone(),
        origin,
    }];
    create_claims(conn, &one)?
        .pop()
        .map(|c| c.claim)
        .ok_or_else(|| AppError::internal("claim creation wrote nothing"))
}

/// A checked claim of one request, waiting for its patient control number.
#[derive(Debug, Clone)]
pub struct ClaimCreation {
    pub ctx: AuditCtx,
    pub fields: ClaimFields,
    pub origin: Origin,
}

/// A draft as its creation wrote it, with its lines.
#[derive(Debug, Clone)]
pub struct CreatedClaim {
    pub claim: Claim,
    pub lines: Vec<ClaimLine>,
}

/// Creates drafts of one organization in the caller's transaction, their patient control numbers
/// in order (one counter step of `items.len()`, gapless): the counter, then the claims, their
/// lines, their first events and their audit rows (on PostgreSQL one prepared statement of column
/// arrays whatever their number, `pg_rows`; on SQLite a prepared INSERT per row). Returns them as
/// written, without reading them back.
pub fn create_claims(
    conn: &mut DbConn,
    items: &[ClaimCreation],
) -> Result<Vec<CreatedClaim>, AppError> {
    let Some(org) = AuditCtx::common_org(items.iter().map(|i| &i.ctx))? else {
        return Ok(Vec::new());
    };
    let numbers = crate::db::next_counters(conn, org, "patient_control_number", items.len())?;
    let now = crate::db::now();
    let created: Vec<CreatedClaim> = items
        .iter()
        .zip(numbers)
        .map(|(item, seq)| {
            let f = &item.fields;
            let id = ClaimId::new();
            let pcn = domain::patient_control_number(seq);
            let (from, to) = f.service_range();
            let lines = line_rows(org, id, &pcn, &f.lines, now);
            let claim = Claim {
                id,
                org_id: org,
                kind: f.kind.as_str().to_owned(),
                status: ClaimStatus::Draft,
                patient_id: f.patient_id,
                coverage_id: f.coverage_id,
                payer_id: f.payer_id,
                rendering_provider_id: f.rendering_provider_id.map(|p| p.to_string()),
                place_of_service: f.place_of_service.clone(),
                diagnoses: json(&f.diagnoses),
                prior_authorization: f.prior_authorization.clone(),
                notes: f.notes.clone(),
                patient_control_number: pcn,
                frequency_code: item.origin.frequency_code.to_owned(),
                original_claim_id: item.origin.original_claim_id.map(|o| o.to_string()),
                original_reference: item.origin.original_reference.clone(),
                payer_claim_number: None,
                total_charge_cents: f.total_charge_cents(),
                service_from: from,
                service_to: to,
                version: 1,
                created_by: actor(&item.ctx),
                created_at: now,
                updated_at: now,
            };
            CreatedClaim { claim, lines }
        })
        .collect();
    let org_s = org.to_string();
    let events: Vec<NewEvent> = created
        .iter()
        .zip(items)
        .map(|(cc, item)| NewEvent {
            claim: cc.claim.id,
            actor: cc.claim.created_by.clone(),
            reason: match item.origin.original_claim_id {
                Some(o) => format!("replacement of claim {o}"),
                None => "created".to_owned(),
            },
        })
        .collect();
    let audits: Vec<audit::PendingAudit> = created
        .iter()
        .map(|cc| audit::PendingAudit {
            action: "claim.create",
            entity: "claim",
            entity_id: Some(cc.claim.id.to_string()),
            detail: Some(serde_json::json!({
                "patient_id": cc.claim.patient_id.to_string(),
                "lines": cc.lines.len(),
            })),
            at: now,
        })
        .collect();
    let audits: Vec<(&AuditCtx, &audit::PendingAudit)> =
        items.iter().map(|i| &i.ctx).zip(&audits).collect();
    match conn {
        // One statement, one round trip, while the batch holds the counter: the same text and
        // the same parameters (an array per column) for any batch, prepared once per connection.
        DbConn::Postgresql(x) => {
            let audits = audit::new_rows(&audits);
            super::pg_rows::ClaimRows::new(&org_s, &created, &events, now, &audits).run(x)?;
        }
        // A row per statement: in process, a prepared single-row INSERT costs less than parsing
        // a multi-row one, and diesel prepares those (of any row count) again for every batch.
        DbConn::Sqlite(x) => {
            let claims: Vec<_> = created
                .iter()
                .map(|cc| {
                    let k = &cc.claim;
                    (
                        (
                            c::id.eq(k.id.to_string()),
                            c::org_id.eq(&org_s),
                            c::kind.eq(&k.kind),
                            c::status.eq(k.status.as_str()),
                            c::patient_id.eq(k.patient_id.to_string()),
                            c::coverage_id.eq(k.coverage_id.to_string()),
                            c::payer_id.eq(k.payer_id.to_string()),
                            c::rendering_provider_id.eq(&k.rendering_provider_id),
                            c::place_of_service.eq(&k.place_of_service),
                            c::diagnoses.eq(&k.diagnoses),
                            c::prior_authorization.eq(&k.prior_authorization),
                            c::notes.eq(&k.notes),
                        ),
                        (
                            c::patient_control_number.eq(&k.patient_control_number),
                            c::frequency_code.eq(&k.frequency_code),
                            c::original_claim_id.eq(&k.original_claim_id),
                            c::original_reference.eq(&k.original_reference),
                            c::total_charge_cents.eq(k.total_charge_cents),
                            c::service_from.eq(k.service_from),
                            c::service_to.eq(k.service_to),
                            c::version.eq(k.version),
                            c::created_by.eq(&k.created_by),
                            c::created_at.eq(k.created_at),
                            c::updated_at.eq(k.updated_at),
                        ),
                    )
                })
                .collect();
            for row in &claims {
                diesel::insert_into(c::claims).values(row).execute(x)?;
            }
            insert_line_rows(conn, created.iter().flat_map(|cc| &cc.lines))?;
            append_created_events(conn, org, &events, now)?;
            audit::record_each(conn, &audits)?;
        }
    }
    Ok(created)
}

/// Replaces a draft's fields and lines (drafts only).
pub fn update_draft(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: ClaimId,
    version: i32,
    f: &ClaimFields,
) -> Result<Claim, AppError> {
    let cur = require_claim(conn, ctx.org, id)?;
    if cur.status != ClaimStatus::Draft {
        return Err(illegal(cur.status, "be edited (only drafts are editable)"));
    }
    if cur.version != version {
        return Err(stale("claim", version, cur.version));
    }
    let (from, to) = f.service_range();
    let n = diesel::update(
        c::claims
            .filter(c::org_id.eq(ctx.org.to_string()))
            .filter(c::id.eq(id.to_string()))
            .filter(c::version.eq(version)),
    )
    .set((
        (
            c::kind.eq(f.kind.as_str()),
            c::coverage_id.eq(f.coverage_id.to_string()),
            c::payer_id.eq(f.payer_id.to_string()),
            c::rendering_provider_id.eq(f.rendering_provider_id.map(|p| p.to_string())),
            c::place_of_service.eq(&f.place_of_service),
            c::diagnoses.eq(json(&f.diagnoses)),
        ),
        (
            c::prior_authorization.eq(&f.prior_authorization),
            c::notes.eq(&f.notes),
            c::total_charge_cents.eq(f.total_charge_cents()),
            c::service_from.eq(from),
            c::service_to.eq(to),
            c::version.eq(version + 1),
            c::updated_at.eq(crate::db::now()),
        ),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(stale("claim", version, version + 1));
    }
    diesel::delete(
        cl::claim_lines
            .filter(cl::org_id.eq(ctx.org.to_string()))
            .filter(cl::claim_id.eq(id.to_string())),
    )
    .execute(conn)?;
    let lines = line_rows(
        ctx.org,
        id,
        &cur.patient_control_number,
        &f.lines,
        crate::db::now(),
    );
    insert_line_rows(conn, &lines)?;
    audit::record(
        conn,
        ctx,
        "claim.update",
        "claim",
        Some(&id.to_string()),
        None,
    )?;
    require_claim(conn, ctx.org, id)
}

#[derive(Debug, Clone, Default)]
pub struct ClaimFilter {
    pub status: Option<ClaimStatus>,
    pub payer_id: Option<PayerId>,
    pub patient_id: Option<PatientId>,
    pub kind: Option<ClaimKind>,
    /// Claims with a date of service on or after.
    pub from: Option<NaiveDate>,
    /// Claims with a date of service on or before.
    pub to: Option<NaiveDate>,
}

pub fn list(
    conn: &mut DbConn,
    org: OrgId,
    f: &ClaimFilter,
    page: &Page,
) -> Result<Vec<Claim>, AppError> {
    let mut q = c::claims.filter(c::org_id.eq(org.to_string())).into_boxed();
    if let Some(s) = f.status {
        q = q.filter(c::status.eq(s.as_str()));
    }
    if let Some(p) = f.payer_id {
        q = q.filter(c::payer_id.eq(p.to_string()));
    }
    if let Some(p) = f.patient_id {
        q = q.filter(c::patient_id.eq(p.to_string()));
    }
    if let Some(k) = f.kind {
        q = q.filter(c::kind.eq(k.as_str()));
    }
    if let Some(d) = f.from {
        q = q.filter(c::service_to.ge(d));
    }
    if let Some(d) = f.to {
        q = q.filter(c::service_from.le(d));
    }
    if let Some(after) = &page.after {
        q = q.filter(c::id.gt(after.clone()));
    }
    Ok(q.order(c::id.asc()).limit(page.limit + 1).load(conn)?)
}

/// Every claim of a patient, oldest first.
pub fn for_patient(
    conn: &mut DbConn,
    org: OrgId,
    patient: PatientId,
) -> Result<Vec<Claim>, AppError> {
    Ok(c::claims
        .filter(c::org_id.eq(org.to_string()))
        .filter(c::patient_id.eq(patient.to_string()))
        .order(c::id.asc())
        .load(conn)?)
}

/// The live claims of the same patient and payer (this one excluded), with their lines, for the
/// duplicate rule.
pub fn duplicate_candidates(
    conn: &mut DbConn,
    org: OrgId,
    claim: &Claim,
) -> Result<Vec<Candidate>, AppError> {
    let others: Vec<Claim> = c::claims
        .filter(c::org_id.eq(org.to_string()))
        .filter(c::patient_id.eq(claim.patient_id.to_string()))
        .filter(c::payer_id.eq(claim.payer_id.to_string()))
        .filter(c::id.ne(claim.id.to_string()))
        .filter(c::service_from.le(claim.service_to))
        .filter(c::service_to.ge(claim.service_from))
        .load(conn)?;
    let live: Vec<Claim> = others.into_iter().filter(|o| o.status.is_live()).collect();
    // The candidates' lines in one statement (chunked on SQLite), not one per candidate: a
    // patient seen often has hundreds of claims over the same dates.
    let ids: Vec<ClaimId> = live.iter().map(|o| o.id).collect();
    let rows: Vec<(String, NaiveDate, String)> =
        crate::db::load_by_ids(conn, &ids, |conn, chunk| {
            Ok(crate::on_inner!(conn, |db| cl::claim_lines
                .filter(cl::org_id.eq(org.to_string()))
                .filter(cl::claim_id.eq_any(chunk))
                .order((cl::claim_id.asc(), cl::line_number.asc()))
                .select((cl::claim_id, cl::service_date, cl::procedure_code))
                .load(db))?)
        })?;
    let mut lines: std::collections::HashMap<String, Vec<(NaiveDate, String)>> =
        std::collections::HashMap::new();
    for (claim, date, code) in rows {
        lines.entry(claim).or_default().push((date, code));
    }
    Ok(live
        .into_iter()
        .map(|o| Candidate {
            lines: lines.remove(&o.id.to_string()).unwrap_or_default(),
            patient_control_number: o.patient_control_number,
        })
        .collect())
}
