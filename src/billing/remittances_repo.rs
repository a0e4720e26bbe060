//! Remittance storage, the ledger, and the posting of a read 835, in the caller's transaction
//! (all or nothing). Claims move through `claims::repo::transition`.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::api::*;
use super::posting::{Book, POST_CHUNK, RemittanceClaimRow, lock_pcns, post_to, seq};
use crate::audit::{self, AuditCtx};
use crate::billing::x12::reader::remit835::{self, ClaimPayment, Remittance835};
use crate::claims::domain::ClaimStatus;
use crate::claims::repo as claims;
use crate::db::{ClaimId, DbConn, LedgerEntryId, OrgId, RemittanceId, parse_id};
use crate::error::AppError;
use crate::http::Page;

diesel::table! {
    remittances (id) {
        id -> Text,
        org_id -> Text,
        trace_number -> Text,
        payer_edi_id -> Text,
        paid_cents -> BigInt,
        file_hash -> Text,
        received_by -> Nullable<Text>,
        received_at -> Timestamp,
        summary -> Text,
    }
}

diesel::table! {
    remittance_claims (remittance_id, seq) {
        remittance_id -> Text,
        seq -> Integer,
        org_id -> Text,
        patient_control_number -> Text,
        claim_id -> Nullable<Text>,
        status_code -> Text,
        charge_cents -> BigInt,
        paid_cents -> BigInt,
        patient_responsibility_cents -> BigInt,
        payer_claim_number -> Nullable<Text>,
        outcome -> Text,
        clp -> Nullable<Text>,
        allowed_cents -> Nullable<BigInt>,
        remark_codes -> Text,
        forwarded_to -> Nullable<Text>,
        matched_by -> Nullable<Text>,
        matched_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    remittance_lines (remittance_id, claim_seq, line_seq) {
        remittance_id -> Text,
        claim_seq -> Integer,
        line_seq -> Integer,
        org_id -> Text,
        claim_id -> Text,
        claim_line_id -> Nullable<Text>,
        match_method -> Text,
        procedure -> Text,
        service_date -> Nullable<Text>,
        line_control_number -> Nullable<Text>,
        charge_cents -> BigInt,
        paid_cents -> BigInt,
        allowed_cents -> Nullable<BigInt>,
        remark_codes -> Text,
    }
}

diesel::table! {
    ledger_entries (id) {
        id -> Text,
        org_id -> Text,
        claim_id -> Nullable<Text>,
        remittance_id -> Nullable<Text>,
        kind -> Text,
        group_code -> Nullable<Text>,
        reason_code -> Nullable<Text>,
        amount_cents -> BigInt,
        line_control_number -> Nullable<Text>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    remittances,
    remittance_claims,
    remittance_lines,
    ledger_entries
);

use ledger_entries::dsl as l;
use remittance_claims::dsl as rc;
use remittance_lines::dsl as rl;
use remittances::dsl as r;

#[derive(Debug, Clone, Queryable)]
pub struct RemittanceRow {
    #[diesel(deserialize_as = String)]
    pub id: RemittanceId,
    pub org_id: String,
    pub trace_number: String,
    pub payer_edi_id: String,
    pub paid_cents: i64,
    pub file_hash: String,
    pub received_by: Option<String>,
    pub received_at: NaiveDateTime,
    pub summary: String,
}

impl RemittanceRow {
    pub fn view(&self, duplicate: bool) -> Result<RemittanceView, AppError> {
        let mut v: RemittanceView =
            crate::billing::stored_summary(&self.summary, self.received_at, "remittance")?;
        v.duplicate = duplicate;
        Ok(v)
    }
}

#[derive(Debug, Clone, Queryable)]
pub struct LedgerRow {
    #[diesel(deserialize_as = String)]
    pub id: LedgerEntryId,
    pub org_id: String,
    pub claim_id: Option<String>,
    pub remittance_id: Option<String>,
    pub kind: String,
    pub group_code: Option<String>,
    pub reason_code: Option<String>,
    pub amount_cents: i64,
    pub line_control_number: Option<String>,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn get(
    conn: &mut DbConn,
    org: OrgId,
    id: RemittanceId,
) -> Result<Option<RemittanceRow>, AppError> {
    Ok(r::remittances
        .filter(r::org_id.eq(org.to_string()))
        .filter(r::id.eq(id.to_string()))
        .first::<RemittanceRow>(conn)
        .optional()?)
}

fn by_trace(
    conn: &mut DbConn,
    org: OrgId,
    payer: &str,
    trace: &str,
) -> Result<Option<RemittanceRow>, AppError> {
    Ok(r::remittances
        .filter(r::org_id.eq(org.to_string()))
        .filter(r::payer_edi_id.eq(payer))
        .filter(r::trace_number.eq(trace))
        .first::<RemittanceRow>(conn)
        .optional()?)
}

/// A page of remittances, oldest first (`limit + 1` rows).
pub fn list(conn: &mut DbConn, org: OrgId, page: &Page) -> Result<Vec<RemittanceRow>, AppError> {
    let mut q = r::remittances
        .filter(r::org_id.eq(org.to_string()))
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(r::id.gt(after.clone()));
    }
    Ok(q.order(r::id.asc()).limit(page.limit + 1).load(conn)?)
}

/// Every ledger entry of a claim, in order.
pub fn claim_entries(
    conn: &mut DbConn,
    org: OrgId,
    claim: ClaimId,
) -> Result<Vec<LedgerRow>, AppError> {
    Ok(l::ledger_entries
        .filter(l::org_id.eq(org.to_string()))
        .filter(l::claim_id.eq(claim.to_string()))
        .order((l::created_at.asc(), l::id.asc()))
        .load(conn)?)
}

/// The claim's ledger with its sums.
pub fn claim_ledger(
    conn: &mut DbConn,
    org: OrgId,
    claim: ClaimId,
) -> Result<ClaimLedgerView, AppError> {
    let rows = claim_entries(conn, org, claim)?;
    let mut v = ClaimLedgerView {
        claim_id: claim,
        charge_cents: 0,
        paid_cents: 0,
        patient_responsibility_cents: 0,
        adjustment_cents: 0,
        balance_cents: 0,
        items: Vec::new(),
        remittances: claim_remittances(conn, org, claim)?,
    };
    for e in rows {
        v.balance_cents += e.amount_cents;
        use crate::billing::ledger::{Movement, movement};
        match movement(&e.kind, e.group_code.as_deref()) {
            Movement::Charge => v.charge_cents += e.amount_cents,
            Movement::Payment => v.paid_cents -= e.amount_cents,
            Movement::PatientResponsibility => v.patient_responsibility_cents -= e.amount_cents,
            Movement::Adjustment => v.adjustment_cents -= e.amount_cents,
        }
        v.items.push(LedgerEntryView {
            id: e.id,
            kind: e.kind,
            group_code: e.group_code,
            reason_code: e.reason_code,
            amount_cents: e.amount_cents,
            line_control_number: e.line_control_number,
            remittance_id: e.remittance_id,
            created_at: e.created_at.and_utc(),
        });
    }
    Ok(v)
}

fn codes(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

/// What each remittance posted to a claim said (allowed amounts, remark codes, forwarding, lines).
pub fn claim_remittances(
    conn: &mut DbConn,
    org: OrgId,
    claim: ClaimId,
) -> Result<Vec<ClaimRemittanceView>, AppError> {
    type Row = (
        String,
        String,
        i32,
        String,
        i64,
        i64,
        i64,
        Option<i64>,
        String,
        Option<String>,
        Option<String>,
        Option<NaiveDateTime>,
    );
    let rows: Vec<Row> = rc::remittance_claims
        .inner_join(r::remittances.on(r::id.eq(rc::remittance_id)))
        .filter(rc::org_id.eq(org.to_string()))
        .filter(rc::claim_id.eq(claim.to_string()))
        .filter(rc::outcome.eq_any(["posted", "matched"]))
        .order((r::received_at.asc(), rc::remittance_id.asc(), rc::seq.asc()))
        .select((
            rc::remittance_id,
            r::trace_number,
            rc::seq,
            rc::status_code,
            rc::charge_cents,
            rc::paid_cents,
            rc::patient_responsibility_cents,
            rc::allowed_cents,
            rc::remark_codes,
            rc::forwarded_to,
            rc::matched_by,
            rc::matched_at,
        ))
        .load(conn)?;
    let mut lines = posted_lines(conn, org, claim)?;
    rows.into_iter()
        .map(|x| {
            let n = usize::try_from(x.2).unwrap_or(0);
            let mine = lines.remove(&(x.0.clone(), x.2)).unwrap_or_default();
            Ok(ClaimRemittanceView {
                remittance_id: parse_id(&x.0)?,
                trace_number: x.1,
                n,
                status_code: x.3,
                charge_cents: x.4,
                paid_cents: x.5,
                patient_responsibility_cents: x.6,
                allowed_cents: x.7,
                remark_codes: codes(&x.8),
                forwarded_to: x.9,
                matched_by: x.10,
                matched_at: x.11.map(|t| t.and_utc()),
                lines: mine,
            })
        })
        .collect()
}

/// The SVC lines posted to a claim, by (remittance, CLP position).
fn posted_lines(
    conn: &mut DbConn,
    org: OrgId,
    claim: ClaimId,
) -> Result<BTreeMap<(String, i32), Vec<PostedLine>>, AppError> {
    type Row = (
        String,
        i32,
        i32,
        String,
        String,
        Option<String>,
        Option<String>,
        i64,
        i64,
        Option<i64>,
        String,
        Option<String>,
    );
    let by_id: BTreeMap<String, (i32, String)> = claims::lines_of(conn, org, claim)?
        .into_iter()
        .map(|l| (l.id.to_string(), (l.line_number, l.line_control_number)))
        .collect();
    let rows: Vec<Row> = rl::remittance_lines
        .filter(rl::org_id.eq(org.to_string()))
        .filter(rl::claim_id.eq(claim.to_string()))
        .order((
            rl::remittance_id.asc(),
            rl::claim_seq.asc(),
            rl::line_seq.asc(),
        ))
        .select((
            rl::remittance_id,
            rl::claim_seq,
            rl::line_seq,
            rl::match_method,
            rl::procedure,
            rl::service_date,
            rl::line_control_number,
            rl::charge_cents,
            rl::paid_cents,
            rl::allowed_cents,
            rl::remark_codes,
            rl::claim_line_id,
        ))
        .load(conn)?;
    let mut out: BTreeMap<(String, i32), Vec<PostedLine>> = BTreeMap::new();
    for x in rows {
        let line = x.11.as_ref().and_then(|id| by_id.get(id));
        out.entry((x.0, x.1)).or_default().push(PostedLine {
            n: usize::try_from(x.2).unwrap_or(0),
            procedure: x.4,
            service_date: x.5,
            line_control_number: x.6,
            message: (x.3 == "none").then(|| "not matched to a claim line".to_owned()),
            match_method: x.3,
            claim_line_id: x.11.as_deref().map(parse_id).transpose()?,
            claim_line_number: line.map(|l| l.0),
            claim_line_control_number: line.map(|l| l.1.clone()),
            charge_cents: x.7,
            paid_cents: x.8,
            allowed_cents: x.9,
            remark_codes: codes(&x.10),
        });
    }
    Ok(out)
}

/// Matches each SVC of a CLP to a claim line: by REF*6R; when the SVC has no REF*6R, by
/// procedure code and date of service (an SVC without DTM*472 takes any date) when exactly one
/// claim line not matched already fits. Otherwise the line is reported, never guessed.
pub fn match_lines<'a>(
    c: &ClaimPayment,
    lines: &'a [claims::ClaimLine],
) -> Vec<(Option<&'a claims::ClaimLine>, &'static str, Option<String>)> {
    let mut taken = vec![false; lines.len()];
    let mut out: Vec<(Option<&claims::ClaimLine>, &'static str, Option<String>)> =
        Vec::with_capacity(c.lines.len());
    // REF*6R first, so a line matched by its control number is never taken by code and date.
    for ln in &c.lines {
        match &ln.line_control_number {
            Some(x) => match lines.iter().position(|l| &l.line_control_number == x) {
                Some(i) => {
                    taken[i] = true;
                    out.push((Some(&lines[i]), "line_control_number", None));
                }
                None => out.push((
                    None,
                    "none",
                    Some(format!("REF*6R {x} is no line of the claim")),
                )),
            },
            None => out.push((None, "", None)),
        }
    }
    for (k, ln) in c.lines.iter().enumerate() {
        if !out[k].1.is_empty() {
            continue;
        }
        let Some(code) = ln.code.as_deref() else {
            out[k] = (None, "none", Some("no REF*6R and no procedure code".into()));
            continue;
        };
        let fits: Vec<usize> = (0..lines.len())
            .filter(|&i| !taken[i])
            .filter(|&i| lines[i].procedure_code.eq_ignore_ascii_case(code.trim()))
            .filter(|&i| {
                ln.service_date
                    .as_deref()
                    .is_none_or(|d| lines[i].service_date.format("%Y%m%d").to_string() == d.trim())
            })
            .collect();
        let date = ln.service_date.as_deref().unwrap_or("any date");
        out[k] = match fits.as_slice() {
            [i] => {
                taken[*i] = true;
                (Some(&lines[*i]), "procedure_and_date", None)
            }
            [] => (
                None,
                "none",
                Some(format!("no REF*6R, and no claim line has {code} on {date}")),
            ),
            many => (
                None,
                "none",
                Some(format!(
                    "no REF*6R, and {} claim lines have {code} on {date}: not guessed",
                    many.len()
                )),
            ),
        };
    }
    out
}

/// The 835's payee (N1*PE) must be this organization: N103 `XX` → its NPI or one of its
/// providers' NPIs; `FI` → its EIN. Otherwise `422`, nothing posted. A file without a payee id,
/// or with another qualifier, is posted with a warning.
pub fn check_payee(
    conn: &mut DbConn,
    org: OrgId,
    rem: &Remittance835,
) -> Result<Option<String>, AppError> {
    let Some(id) = rem.payee_id.as_deref().map(str::trim) else {
        return Ok(Some(
            "the 835 names no payee id (N1*PE N104); the payee was not checked".into(),
        ));
    };
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_uppercase()
    };
    let the_org = crate::orgs::repo::get_org(conn, org)?
        .ok_or_else(|| AppError::not_found("organization"))?;
    match rem.payee_id_qualifier.as_deref() {
        Some("XX") => {
            use crate::db::schema::providers::dsl as p;
            let mut npis: Vec<String> = p::providers
                .filter(p::org_id.eq(org.to_string()))
                .select(p::npi)
                .load(conn)?;
            npis.extend(the_org.npi.clone());
            if npis.iter().any(|n| clean(n) == clean(id)) {
                Ok(None)
            } else {
                Err(AppError::field(
                    "payee",
                    "not_this_organization",
                    &format!(
                        "the 835 pays NPI {id} (N1*PE), which is neither this organization's NPI nor one of its providers'; nothing posted"
                    ),
                ))
            }
        }
        Some("FI") => {
            if the_org.tax_id.as_deref().map(clean) == Some(clean(id)) {
                Ok(None)
            } else {
                Err(AppError::field(
                    "payee",
                    "not_this_organization",
                    &format!(
                        "the 835 pays tax id {id} (N1*PE), which is not this organization's EIN; nothing posted"
                    ),
                ))
            }
        }
        other => Ok(Some(format!(
            "the payee id qualifier (N1*PE N103) is {}; the payee was not checked",
            other.unwrap_or("missing")
        ))),
    }
}

/// Posts a read 835: a payer + trace number imported before posts nothing and answers the first
/// summary with `duplicate: true`. Returns the summary and whether it is new. The posting itself
/// is set-based (`posting::Book`): the file's claims are read and locked once, the rows are
/// written a chunk at a time, on PostgreSQL as column arrays, on SQLite in multi-row statements
/// (the audit rows one prepared INSERT each).
pub fn import(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    hash: &str,
    rem: &Remittance835,
) -> Result<(RemittanceView, bool), AppError> {
    import_in_chunks(conn, ctx, hash, rem, POST_CHUNK)
}

/// [`import`], posting `chunk` CLPs per `Book` (tests show the result does not depend on it).
pub fn import_in_chunks(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    hash: &str,
    rem: &Remittance835,
    chunk: usize,
) -> Result<(RemittanceView, bool), AppError> {
    let chunk = chunk.max(1);
    let payer = rem
        .payer_id
        .clone()
        .or_else(|| rem.payer_name.clone())
        .unwrap_or_default();
    if let Some(row) = by_trace(conn, ctx.org, &payer, &rem.trace_number)? {
        return Ok((row.view(true)?, false));
    }
    let payee_warning = check_payee(conn, ctx.org, rem)?;
    let now = crate::db::now();
    let mut v = RemittanceView {
        id: RemittanceId::new(),
        trace_number: rem.trace_number.clone(),
        payer_edi_id: payer.clone(),
        payer_name: rem.payer_name.clone(),
        payment_date: rem.payment_date.clone(),
        payment_method: rem.payment_method.clone(),
        total_paid_cents: rem.total_paid_cents,
        claims_matched: 0,
        claims: Vec::new(),
        claims_unmatched: Vec::new(),
        imbalances: Vec::new(),
        plb: Vec::new(),
        skipped: Vec::new(),
        adjustments_by_reason: BTreeMap::new(),
        warnings: rem.warnings.iter().cloned().chain(payee_warning).collect(),
        file_hash: hash.to_owned(),
        received_at: now.and_utc(),
        duplicate: false,
    };
    // The row first: a concurrent import of the same remittance waits on the unique key here.
    diesel::insert_into(r::remittances)
        .values((
            r::id.eq(v.id.to_string()),
            r::org_id.eq(ctx.org.to_string()),
            r::trace_number.eq(&v.trace_number),
            r::payer_edi_id.eq(&payer),
            r::paid_cents.eq(v.total_paid_cents),
            r::file_hash.eq(hash),
            r::received_by.eq(ctx.actor.map(|u| u.to_string())),
            r::received_at.eq(now),
            r::summary.eq("{}"),
        ))
        .execute(conn)?;
    let pcns = |claims: &[ClaimPayment]| -> Vec<String> {
        claims
            .iter()
            .map(|c| c.patient_control_number.trim().to_owned())
            .collect()
    };
    lock_pcns(conn, ctx.org, &pcns(&rem.claims))?;
    for (k, part) in rem.claims.chunks(chunk).enumerate() {
        let mut book = Book::for_pcns(conn, ctx.org, v.id, now, pcns(part))?;
        for (i, c) in part.iter().enumerate() {
            let n = k * chunk + i + 1;
            let pcn = c.patient_control_number.trim();
            let (outcome, claim, clp) = match book.claim_by_pcn(pcn) {
                Some(claim_id) => (
                    post_to(&mut book, &mut v, c, claim_id, None)?,
                    Some(claim_id),
                    None,
                ),
                None => {
                    v.claims_unmatched.push(UnmatchedClaim {
                        n,
                        patient_control_number: pcn.to_owned(),
                        status_code: c.status_code.clone(),
                        charge_cents: c.charge_cents,
                        paid_cents: c.paid_cents,
                        payer_claim_number: c.payer_claim_number.clone(),
                        message: format!(
                            "no claim of this organization has patient control number {pcn}"
                        ),
                    });
                    // An unmatched CLP keeps its parsed data, to be matched by hand later.
                    let clp = serde_json::to_string(c)
                        .map_err(|e| AppError::internal(format!("clp json: {e}")))?;
                    ("unmatched", None, Some(clp))
                }
            };
            if let (Some(claim), "posted") = (claim, outcome) {
                book.remittance_lines(n, claim, &v);
            }
            book.remittance_claim(RemittanceClaimRow::new(n, claim, outcome, clp, c));
        }
        book.flush(conn, ctx, &v)?;
    }
    let mut book = Book::for_pcns(conn, ctx.org, v.id, now, Vec::new())?;
    for p in &rem.provider_adjustments {
        book.provider_adjustment(&p.reason, p.amount_cents);
        v.plb.push(PlbView {
            provider_id: p.provider_id.clone(),
            date: p.date.clone(),
            reason: p.reason.clone(),
            reference: p.reference.clone(),
            amount_cents: p.amount_cents,
        });
    }
    book.flush(conn, ctx, &v)?;
    if let Some(i) = remit835::file_imbalance(rem) {
        v.imbalances.push(ImbalanceView {
            rule: i.rule.as_str().into(),
            patient_control_number: None,
            line: None,
            expected_cents: i.expected_cents,
            actual_cents: i.actual_cents,
            posted: true,
            message: i.message,
        });
    }
    v.claims_matched = v.claims.len();
    let summary =
        serde_json::to_string(&v).map_err(|e| AppError::internal(format!("summary: {e}")))?;
    diesel::update(
        r::remittances
            .filter(r::org_id.eq(ctx.org.to_string()))
            .filter(r::id.eq(v.id.to_string())),
    )
    .set(r::summary.eq(&summary))
    .execute(conn)?;
    audit::record(
        conn,
        ctx,
        "remittance.import",
        "remittance",
        Some(&v.id.to_string()),
        Some(serde_json::json!({
            "trace_number": v.trace_number,
            "payer_edi_id": v.payer_edi_id,
            "total_paid_cents": v.total_paid_cents,
            "claims_matched": v.claims_matched,
            "claims_unmatched": v.claims_unmatched.len(),
            "imbalances": v.imbalances.len(),
            "skipped": v.skipped.len(),
        })),
    )?;
    Ok((v, true))
}

/// Posts the unmatched CLP `n` of a remittance to `claim` (chosen by hand) with the import's
/// rules, records who matched it and when, and updates the remittance's summary (the CLP moves
/// from `claims_unmatched` to `claims`). `404` for an unknown remittance, CLP or claim; `409` for
/// a CLP already matched or posted, one that does not balance, or a claim whose state cannot take
/// the posting (nothing posted).
pub fn match_claim(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: RemittanceId,
    n: usize,
    claim_id: ClaimId,
) -> Result<RemittanceView, AppError> {
    let row = get(conn, ctx.org, id)?.ok_or_else(|| AppError::not_found("remittance"))?;
    let found: Option<(String, Option<String>, Option<String>)> = rc::remittance_claims
        .filter(rc::org_id.eq(ctx.org.to_string()))
        .filter(rc::remittance_id.eq(id.to_string()))
        .filter(rc::seq.eq(seq(n)))
        .select((rc::outcome, rc::clp, rc::claim_id))
        .first(conn)
        .optional()?;
    let Some((outcome, clp, _)) = found else {
        return Err(AppError::not_found("remittance claim"));
    };
    if outcome != "unmatched" {
        return Err(AppError::conflict(format!(
            "claim {n} of this remittance is {outcome} already; it can be matched once"
        )));
    }
    let claim =
        claims::get_claim(conn, ctx.org, claim_id)?.ok_or_else(|| AppError::not_found("claim"))?;
    let clp = clp.ok_or_else(|| {
        AppError::conflict(format!(
            "claim {n} of this remittance was imported before its data was kept; import the file again to match it"
        ))
    })?;
    let c: ClaimPayment = serde_json::from_str(&clp)
        .map_err(|e| AppError::internal(format!("unreadable stored CLP: {e}")))?;
    let now = crate::db::now();
    let actor = ctx.actor.map(|u| u.to_string());
    // Claim the row first: a concurrent match of the same CLP finds it taken (409).
    let taken = diesel::update(
        rc::remittance_claims
            .filter(rc::org_id.eq(ctx.org.to_string()))
            .filter(rc::remittance_id.eq(id.to_string()))
            .filter(rc::seq.eq(seq(n)))
            .filter(rc::outcome.eq("unmatched")),
    )
    .set((
        rc::outcome.eq("matched"),
        rc::claim_id.eq(Some(claim_id.to_string())),
        rc::matched_by.eq(&actor),
        rc::matched_at.eq(Some(now)),
    ))
    .execute(conn)?;
    if taken == 0 {
        return Err(AppError::conflict(format!(
            "claim {n} of this remittance was matched already; it can be matched once"
        )));
    }
    let mut v = row.view(false)?;
    let (imbalances, skipped) = (v.imbalances.len(), v.skipped.len());
    let matched = Some((actor.clone().unwrap_or_default(), now));
    let mut book = Book::for_claim(conn, ctx.org, id, now, claim_id)?;
    let outcome = post_to(&mut book, &mut v, &c, claim_id, matched)?;
    match outcome {
        "imbalanced" => {
            let why: Vec<String> = v.imbalances[imbalances..]
                .iter()
                .map(|i| i.message.clone())
                .collect();
            return Err(AppError::conflict(format!(
                "claim {n} of this remittance does not balance ({}); nothing posted",
                why.join("; ")
            )));
        }
        "skipped" => {
            let why = v.skipped[skipped..]
                .iter()
                .map(|s| s.reason.clone())
                .collect::<Vec<_>>()
                .join("; ");
            // The status the decision was made on: the claim as read under its lock.
            let status = v.skipped.get(skipped).map_or(claim.status, |s| s.status);
            return Err(AppError::conflict(format!(
                "claim {} ({status}) cannot take this posting: {why}",
                claim.patient_control_number
            )));
        }
        _ => {}
    }
    book.remittance_lines(n, claim_id, &v);
    book.flush(conn, ctx, &v)?;
    v.claims_unmatched.retain(|u| u.n != n);
    v.claims_matched = v.claims.len();
    let summary =
        serde_json::to_string(&v).map_err(|e| AppError::internal(format!("summary: {e}")))?;
    diesel::update(
        r::remittances
            .filter(r::org_id.eq(ctx.org.to_string()))
            .filter(r::id.eq(id.to_string())),
    )
    .set(r::summary.eq(&summary))
    .execute(conn)?;
    audit::record(
        conn,
        ctx,
        "remittance.match",
        "remittance",
        Some(&id.to_string()),
        Some(serde_json::json!({
            "n": n,
            "claim_id": claim_id.to_string(),
            "paid_cents": c.paid_cents,
        })),
    )?;
    Ok(v)
}

/// Writes off `amount` (default: the whole balance) of a claim the payer has settled (`paid`,
/// `partially_paid`, `denied`) as a `write_off` ledger entry; a claim whose balance reaches 0 is
/// `closed`. The reason goes to the claim event and the audit row. Nothing is updated or deleted.
pub fn write_off(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: ClaimId,
    amount: Option<i64>,
    reason: &str,
) -> Result<ClaimLedgerView, AppError> {
    let claim = claims::require_claim(conn, ctx.org, id)?;
    if !matches!(
        claim.status,
        ClaimStatus::Paid | ClaimStatus::PartiallyPaid | ClaimStatus::Denied
    ) {
        return Err(AppError::conflict(format!(
            "only a paid, partially paid or denied claim has a balance to write off; this one is {}",
            claim.status
        )));
    }
    let before = claim_ledger(conn, ctx.org, id)?;
    let amount = amount.unwrap_or(before.balance_cents);
    if amount <= 0 || amount > before.balance_cents {
        return Err(AppError::field(
            "amount_cents",
            "out_of_range",
            &format!(
                "must be more than 0 and at most the balance ({} cents)",
                before.balance_cents
            ),
        ));
    }
    diesel::insert_into(l::ledger_entries)
        .values((
            l::id.eq(LedgerEntryId::new().to_string()),
            l::org_id.eq(ctx.org.to_string()),
            l::claim_id.eq(Some(id.to_string())),
            l::remittance_id.eq(None::<String>),
            l::kind.eq("write_off"),
            l::group_code.eq(None::<String>),
            l::reason_code.eq(None::<String>),
            l::amount_cents.eq(-amount),
            l::line_control_number.eq(None::<String>),
            l::created_by.eq(ctx.actor.map(|u| u.to_string())),
            l::created_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        ctx,
        "claim.write_off",
        "claim",
        Some(&id.to_string()),
        Some(serde_json::json!({ "amount_cents": amount })),
    )?;
    let after = claim_ledger(conn, ctx.org, id)?;
    if after.balance_cents == 0 {
        let why = format!("balance written off: {reason}");
        claims::transition(conn, ctx, id, ClaimStatus::Closed, Some(&why), None)?;
    }
    Ok(after)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn claim_line(n: i32, code: &str, date: &str) -> claims::ClaimLine {
        claims::ClaimLine {
            id: crate::db::ClaimLineId::new(),
            org_id: OrgId::new(),
            claim_id: ClaimId::new(),
            line_number: n,
            procedure_code: code.into(),
            modifiers: "[]".into(),
            diagnosis_pointers: "[1]".into(),
            units: 1,
            charge_cents: 100,
            service_date: chrono::NaiveDate::parse_from_str(date, "%Y%m%d").unwrap(),
            tooth: None,
            surfaces: "[]".into(),
            oral_cavity_area: None,
            line_control_number: format!("C1L{n:02}"),
            charge_id: None,
            created_at: crate::db::now(),
        }
    }

    fn svc(code: &str, date: Option<&str>, lcn: Option<&str>) -> remit835::ServiceLine {
        remit835::ServiceLine {
            procedure: format!("HC:{code}"),
            qualifier: "HC".into(),
            code: Some(code.into()),
            modifiers: vec![],
            charge_cents: 100,
            paid_cents: 100,
            units: None,
            line_control_number: lcn.map(str::to_owned),
            service_date: date.map(str::to_owned),
            allowed_cents: None,
            remarks: vec![],
            adjustments: vec![],
            malformed: None,
            position: 1,
        }
    }

    fn clp(lines: Vec<remit835::ServiceLine>) -> ClaimPayment {
        ClaimPayment {
            patient_control_number: "C1".into(),
            status_code: "1".into(),
            charge_cents: 0,
            paid_cents: 0,
            patient_responsibility_cents: 0,
            filing_indicator: None,
            payer_claim_number: None,
            adjustments: vec![],
            lines,
            allowed_cents: None,
            remarks: vec![],
            crossover_payer_name: None,
            crossover_payer_id: None,
            position: 1,
        }
    }

    #[test]
    fn lines_match_by_control_number_then_code_and_date_and_are_never_guessed() {
        let lines = vec![
            claim_line(1, "99213", "20260915"),
            claim_line(2, "36415", "20260915"),
            claim_line(3, "36415", "20260915"),
            claim_line(4, "85025", "20260916"),
        ];
        let c = clp(vec![
            // Code + date: line 4 only.
            svc("85025", Some("20260916"), None),
            // Two lines fit: reported, not guessed.
            svc("36415", Some("20260915"), None),
            // REF*6R wins over code and date.
            svc("99213", Some("20990101"), Some("C1L01")),
            // An unknown REF*6R is reported, not matched by code.
            svc("36415", Some("20260915"), Some("C1L99")),
            // No date: the code alone, when exactly one line fits; the line 4 is taken already.
            svc("85025", None, None),
        ]);
        let m = match_lines(&c, &lines);
        let got: Vec<(Option<i32>, &str)> = m
            .iter()
            .map(|x| (x.0.map(|l| l.line_number), x.1))
            .collect();
        assert_eq!(
            got,
            [
                (Some(4), "procedure_and_date"),
                (None, "none"),
                (Some(1), "line_control_number"),
                (None, "none"),
                (None, "none"),
            ]
        );
        assert!(m[1].2.as_deref().unwrap().contains("2 claim lines"));
        assert!(m[3].2.as_deref().unwrap().contains("C1L99"));
    }
}
