//! What the reports read, scoped to one organization. Sums are made in Rust over the rows (the
//! same arithmetic on both backends, exact integer cents).

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::billing::remittances::repo::{ledger_entries, remittance_claims, remittances};
use crate::billing::schema::{batch_claims, batches};
use crate::claims::domain::ClaimStatus;
use crate::claims::schema::claims;
use crate::coding::schema::org_codes;
use crate::db::schema::{patients, payers};
use crate::db::{DbConn, OrgId};
use crate::error::AppError;

/// Claim statuses that were sent to a payer and can still owe money.
pub const BILLED: [ClaimStatus; 7] = [
    ClaimStatus::Submitted,
    ClaimStatus::Accepted,
    ClaimStatus::Rejected,
    ClaimStatus::Paid,
    ClaimStatus::PartiallyPaid,
    ClaimStatus::Denied,
    ClaimStatus::Closed,
];

/// A claim, as the reports need it.
#[derive(Debug, Clone, Queryable)]
pub struct ClaimRow {
    pub id: String,
    pub patient_id: String,
    pub payer_id: String,
    pub status: String,
    pub patient_control_number: String,
    pub total_charge_cents: i64,
    pub service_from: NaiveDate,
}

/// One ledger entry, as the reports need it.
#[derive(Debug, Clone, Queryable)]
pub struct EntryRow {
    pub claim_id: Option<String>,
    pub remittance_id: Option<String>,
    pub kind: String,
    pub group_code: Option<String>,
    pub reason_code: Option<String>,
    pub amount_cents: i64,
    pub created_at: NaiveDateTime,
}

/// A remittance, as the reports need it.
#[derive(Debug, Clone, Queryable)]
pub struct RemittanceRow {
    pub id: String,
    pub trace_number: String,
    pub payer_edi_id: String,
    pub paid_cents: i64,
    pub received_at: NaiveDateTime,
    pub summary: String,
}

/// One CLP of a remittance that was posted to a claim.
#[derive(Debug, Clone, Queryable)]
pub struct PostedClpRow {
    pub remittance_id: String,
    pub claim_id: Option<String>,
    pub status_code: String,
    pub charge_cents: i64,
    pub paid_cents: i64,
}

/// A batch, as the reports need it.
#[derive(Debug, Clone, Queryable)]
pub struct BatchRow {
    pub id: String,
    pub kind: String,
    pub payer_id: String,
    pub status: String,
    pub interchange_control_number: Option<i64>,
    pub claim_count: i32,
    pub total_charge_cents: i64,
    pub created_at: NaiveDateTime,
    pub approved_at: Option<NaiveDateTime>,
    pub submitted_at: Option<NaiveDateTime>,
}

/// A payer's name and EDI id.
#[derive(Debug, Clone)]
pub struct PayerName {
    pub name: String,
    pub edi_id: String,
}

/// A patient's MRN and name.
#[derive(Debug, Clone)]
pub struct PatientName {
    pub mrn: String,
    pub name: String,
}

/// The organization's billed claims (see [`BILLED`]) that can owe money: a void notice
/// (frequency 8) repeats the voided claim's lines but asks for nothing.
pub fn billed_claims(conn: &mut DbConn, org: OrgId) -> Result<Vec<ClaimRow>, AppError> {
    use claims::dsl as c;
    Ok(c::claims
        .filter(c::org_id.eq(org.to_string()))
        .filter(c::status.eq_any(BILLED.map(|s| s.as_str())))
        .filter(c::frequency_code.ne(crate::claims::domain::frequency::VOID))
        .select((
            c::id,
            c::patient_id,
            c::payer_id,
            c::status,
            c::patient_control_number,
            c::total_charge_cents,
            c::service_from,
        ))
        .order(c::id.asc())
        .load(conn)?)
}

/// Claims by id (any status), in chunks.
pub fn claims_by_id(
    conn: &mut DbConn,
    org: OrgId,
    ids: &[String],
) -> Result<HashMap<String, ClaimRow>, AppError> {
    use claims::dsl as c;
    let rows: Vec<ClaimRow> = crate::db::load_by_ids(conn, ids, |conn, chunk| {
        Ok(c::claims
            .filter(crate::same_org!(c::org_id, org.to_string()))
            .filter(c::id.eq_any(chunk))
            .select((
                c::id,
                c::patient_id,
                c::payer_id,
                c::status,
                c::patient_control_number,
                c::total_charge_cents,
                c::service_from,
            ))
            .load(conn)?)
    })?;
    Ok(rows.into_iter().map(|r| (r.id.clone(), r)).collect())
}

/// Every ledger entry of the organization posted on or before `until` (all when `None`).
pub fn ledger(
    conn: &mut DbConn,
    org: OrgId,
    until: Option<NaiveDateTime>,
) -> Result<Vec<EntryRow>, AppError> {
    use ledger_entries::dsl as l;
    let mut q = l::ledger_entries
        .filter(l::org_id.eq(org.to_string()))
        .into_boxed();
    if let Some(until) = until {
        q = q.filter(l::created_at.le(until));
    }
    Ok(q.select((
        l::claim_id,
        l::remittance_id,
        l::kind,
        l::group_code,
        l::reason_code,
        l::amount_cents,
        l::created_at,
    ))
    .order((l::created_at.asc(), l::id.asc()))
    .load(conn)?)
}

/// Ledger entries grouped by claim.
pub fn entries_by_claim(entries: &[EntryRow]) -> HashMap<&str, Vec<&EntryRow>> {
    let mut m: HashMap<&str, Vec<&EntryRow>> = HashMap::new();
    for e in entries {
        if let Some(c) = e.claim_id.as_deref() {
            m.entry(c).or_default().push(e);
        }
    }
    m
}

/// Every remittance of the organization.
pub fn remittance_list(conn: &mut DbConn, org: OrgId) -> Result<Vec<RemittanceRow>, AppError> {
    use remittances::dsl as r;
    Ok(r::remittances
        .filter(r::org_id.eq(org.to_string()))
        .select((
            r::id,
            r::trace_number,
            r::payer_edi_id,
            r::paid_cents,
            r::received_at,
            r::summary,
        ))
        .order(r::id.asc())
        .load(conn)?)
}

/// Every CLP of the organization's remittances that was posted to a claim (at import or by hand).
pub fn posted_clps(conn: &mut DbConn, org: OrgId) -> Result<Vec<PostedClpRow>, AppError> {
    use remittance_claims::dsl as rc;
    Ok(rc::remittance_claims
        .filter(rc::org_id.eq(org.to_string()))
        // `matched`: an unmatched CLP posted later by hand.
        .filter(rc::outcome.eq_any(["posted", "matched"]))
        .filter(rc::claim_id.is_not_null())
        .select((
            rc::remittance_id,
            rc::claim_id,
            rc::status_code,
            rc::charge_cents,
            rc::paid_cents,
        ))
        .order((rc::remittance_id.asc(), rc::seq.asc()))
        .load(conn)?)
}

/// Every batch of the organization, oldest first.
pub fn batch_list(conn: &mut DbConn, org: OrgId) -> Result<Vec<BatchRow>, AppError> {
    use batches::dsl as b;
    Ok(b::batches
        .filter(b::org_id.eq(org.to_string()))
        .select((
            b::id,
            b::kind,
            b::payer_id,
            b::status,
            b::interchange_control_number,
            b::claim_count,
            b::total_charge_cents,
            b::created_at,
            b::approved_at,
            b::submitted_at,
        ))
        .order(b::id.asc())
        .load(conn)?)
}

/// Claim ids per batch (the membership rows, active or not).
pub fn batch_members(
    conn: &mut DbConn,
    org: OrgId,
) -> Result<BTreeMap<String, Vec<String>>, AppError> {
    use batch_claims::dsl as bc;
    let rows: Vec<(String, String)> = bc::batch_claims
        .filter(bc::org_id.eq(org.to_string()))
        .select((bc::batch_id, bc::claim_id))
        .load(conn)?;
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (b, c) in rows {
        m.entry(b).or_default().push(c);
    }
    Ok(m)
}

/// The organization's payers by id.
pub fn payer_names(conn: &mut DbConn, org: OrgId) -> Result<HashMap<String, PayerName>, AppError> {
    use payers::dsl as p;
    let rows: Vec<(String, String, String)> = p::payers
        .filter(p::org_id.eq(org.to_string()))
        .select((p::id, p::name, p::edi_id))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, edi_id)| (id, PayerName { name, edi_id }))
        .collect())
}

/// Patients' MRN and "Last, First" by id, in chunks.
pub fn patient_names(
    conn: &mut DbConn,
    org: OrgId,
    ids: &[String],
) -> Result<HashMap<String, PatientName>, AppError> {
    use patients::dsl as p;
    let rows: Vec<(String, String, String, String)> =
        crate::db::load_by_ids(conn, ids, |conn, chunk| {
            Ok(p::patients
                .filter(crate::same_org!(p::org_id, org.to_string()))
                .filter(p::id.eq_any(chunk))
                .select((p::id, p::mrn, p::last_name, p::first_name))
                .load(conn)?)
        })?;
    Ok(rows
        .into_iter()
        .map(|(id, mrn, last, first)| {
            let name = format!("{last}, {first}");
            (id, PatientName { mrn, name })
        })
        .collect())
}

/// Descriptions of the claim adjustment reason codes the organization imported (none shipped:
/// the text is X12's).
pub fn carc_descriptions(
    conn: &mut DbConn,
    org: OrgId,
) -> Result<HashMap<String, String>, AppError> {
    use org_codes::dsl as o;
    let rows: Vec<(String, String)> = o::org_codes
        .filter(o::org_id.eq(org.to_string()))
        .filter(o::system.eq(crate::coding::domain::CodeSystem::Carc.as_str()))
        .select((o::code, o::description))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}
