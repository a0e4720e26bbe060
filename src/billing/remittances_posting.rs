//! The posting of 835 claim payments, set-based: the file's claims are locked at once
//! ([`lock_pcns`]); then, [`POST_CHUNK`] CLPs at a time, a [`Book`] reads their claims, ledger
//! entries and lines in a few statements, [`post_to`] applies DESIGN §6.5's rules to
//! each CLP in memory, and [`Book::flush`] writes every ledger entry, claim change, claim event,
//! audit row and remittance row: on PostgreSQL in three statements of column arrays whatever the
//! chunk's size (the claims' `UPDATE … FROM unnest(…)` and their events and audit rows, in
//! `claims::transitions::ClaimChanges::flush`; then the ledger entries, CLPs and SVC lines,
//! [`super::pg_rows`]); on SQLite in multi-row statements,
//! the audit rows a prepared INSERT each (`audit::record_each`). A file of 10 000 claims costs a
//! few dozen round trips instead of ~20 per claim (206 s → seconds on PostgreSQL,
//! BENCHMARKS.md).
//!
//! Everything runs in the caller's transaction: all or nothing.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::api::*;
use super::pg_rows;
use super::repo::{
    ledger_entries::dsl as l, match_lines, remittance_claims::dsl as rc,
    remittance_lines::dsl as rl,
};
use crate::audit::AuditCtx;
use crate::billing::x12::reader::remit835::{self, ClaimPayment};
use crate::claims::domain::ClaimStatus;
use crate::claims::repo::{self as claims, Claim, ClaimChanges, ClaimLine};
use crate::claims::schema::{claim_lines::dsl as cl, claims::dsl as c};
use crate::db::{ClaimId, DbConn, INSERT_CHUNK, LedgerEntryId, OrgId, RemittanceId, load_by_ids};
use crate::error::AppError;

/// CLPs posted per [`Book`]: what the posting holds in memory at once, whatever the file's size.
pub const POST_CHUNK: usize = 1_000;

/// Locks the claims of a whole file before any is posted. On PostgreSQL, `SELECT … FOR UPDATE`
/// in id order, in one statement, so two remittances paying the same claims in different orders
/// queue instead of deadlocking; on SQLite the write transaction already holds the database.
pub fn lock_pcns(conn: &mut DbConn, org: OrgId, pcns: &[String]) -> Result<(), AppError> {
    use diesel::sql_types::{Array, Text};
    if let DbConn::Postgresql(pg) = conn {
        diesel::sql_query(
            "SELECT id FROM claims WHERE org_id = $1 AND patient_control_number = ANY($2) \
             ORDER BY id FOR UPDATE",
        )
        .bind::<Text, _>(org.to_string())
        .bind::<Array<Text>, _>(pcns)
        .execute(pg)?;
    }
    Ok(())
}

/// What the posting of a chunk of a remittance reads once and writes at the end.
pub struct Book {
    remittance: RemittanceId,
    at: NaiveDateTime,
    by_pcn: HashMap<String, ClaimId>,
    claims: ClaimChanges,
    /// Each claim's ledger entries (kind, amount), read and added, in order.
    entries: HashMap<ClaimId, Vec<(String, i64)>>,
    lines: HashMap<ClaimId, Vec<ClaimLine>>,
    new_entries: Vec<NewEntry>,
    remittance_claims: Vec<RemittanceClaimRow>,
    remittance_lines: Vec<RemittanceLines>,
}

struct NewEntry {
    id: LedgerEntryId,
    claim: Option<ClaimId>,
    kind: &'static str,
    group: Option<String>,
    reason: Option<String>,
    amount: i64,
    line_control_number: Option<String>,
}

/// One CLP of the remittance as stored (`remittance_claims`): its amounts and codes, not its
/// lines (those are stored from the summary's posted claims).
pub struct RemittanceClaimRow {
    n: usize,
    claim: Option<ClaimId>,
    outcome: &'static str,
    clp: Option<String>,
    patient_control_number: String,
    status_code: String,
    charge_cents: i64,
    paid_cents: i64,
    patient_responsibility_cents: i64,
    payer_claim_number: Option<String>,
    allowed_cents: Option<i64>,
    remark_codes: String,
    forwarded_to: Option<String>,
}

impl RemittanceClaimRow {
    /// The CLP `n` with its outcome; `clp` is the parsed CLP kept (as JSON) for an unmatched
    /// one, to be matched by hand later.
    pub fn new(
        n: usize,
        claim: Option<ClaimId>,
        outcome: &'static str,
        clp: Option<String>,
        p: &ClaimPayment,
    ) -> Self {
        Self {
            n,
            claim,
            outcome,
            clp,
            patient_control_number: p.patient_control_number.clone(),
            status_code: p.status_code.clone(),
            charge_cents: p.charge_cents,
            paid_cents: p.paid_cents,
            patient_responsibility_cents: p.patient_responsibility_cents,
            payer_claim_number: p.payer_claim_number.clone(),
            allowed_cents: p.allowed_cents,
            remark_codes: codes_json(&p.remarks),
            forwarded_to: forwarded_to(p),
        }
    }
}

/// The SVC lines of the CLP `n`: those of the summary's posted claim at `posted`.
struct RemittanceLines {
    n: usize,
    claim: ClaimId,
    posted: usize,
}

impl Book {
    /// Reads the claims with these patient control numbers (a chunk of the file's CLPs, already
    /// locked by [`lock_pcns`]).
    pub fn for_pcns(
        conn: &mut DbConn,
        org: OrgId,
        remittance: RemittanceId,
        at: NaiveDateTime,
        mut pcns: Vec<String>,
    ) -> Result<Self, AppError> {
        pcns.sort_unstable();
        pcns.dedup();
        let found = load_by_ids(conn, &pcns, |conn, chunk| {
            Ok(crate::on_inner!(conn, |db| c::claims
                .filter(c::org_id.eq(org.to_string()))
                .filter(c::patient_control_number.eq_any(chunk))
                .order(c::id.asc())
                .load::<Claim>(db))?)
        })?;
        Self::with_claims(conn, org, remittance, at, found)
    }

    /// Reads (and on PostgreSQL locks) one claim: a CLP matched by hand. `404` if it is not the
    /// organization's.
    pub fn for_claim(
        conn: &mut DbConn,
        org: OrgId,
        remittance: RemittanceId,
        at: NaiveDateTime,
        claim: ClaimId,
    ) -> Result<Self, AppError> {
        let found = claims::lock(conn, org, &[claim])?;
        if found.is_empty() {
            return Err(AppError::not_found("claim"));
        }
        Self::with_claims(conn, org, remittance, at, found)
    }

    fn with_claims(
        conn: &mut DbConn,
        org: OrgId,
        remittance: RemittanceId,
        at: NaiveDateTime,
        found: Vec<Claim>,
    ) -> Result<Self, AppError> {
        let ids: Vec<ClaimId> = found.iter().map(|c| c.id).collect();
        let mut entries: HashMap<ClaimId, Vec<(String, i64)>> = HashMap::new();
        let rows: Vec<(Option<String>, String, i64)> = load_by_ids(conn, &ids, |conn, chunk| {
            Ok(crate::on_inner!(conn, |db| {
                l::ledger_entries
                    .filter(l::org_id.eq(org.to_string()))
                    .filter(l::claim_id.eq_any(chunk))
                    .order((l::created_at.asc(), l::id.asc()))
                    .select((l::claim_id, l::kind, l::amount_cents))
                    .load(db)
            })?)
        })?;
        for (claim, kind, amount) in rows {
            if let Some(claim) = claim {
                entries
                    .entry(crate::db::parse_id(&claim)?)
                    .or_default()
                    .push((kind, amount));
            }
        }
        let mut lines: HashMap<ClaimId, Vec<ClaimLine>> = HashMap::new();
        let rows: Vec<ClaimLine> = load_by_ids(conn, &ids, |conn, chunk| {
            Ok(crate::on_inner!(conn, |db| {
                cl::claim_lines
                    .filter(cl::org_id.eq(org.to_string()))
                    .filter(cl::claim_id.eq_any(chunk))
                    .order((cl::claim_id.asc(), cl::line_number.asc()))
                    .load(db)
            })?)
        })?;
        for line in rows {
            lines.entry(line.claim_id).or_default().push(line);
        }
        Ok(Self {
            remittance,
            at,
            by_pcn: found
                .iter()
                .map(|c| (c.patient_control_number.clone(), c.id))
                .collect(),
            claims: ClaimChanges::new(found),
            entries,
            lines,
            new_entries: Vec::new(),
            remittance_claims: Vec::new(),
            remittance_lines: Vec::new(),
        })
    }

    /// The organization's claim with this patient control number, if the file named it.
    pub fn claim_by_pcn(&self, pcn: &str) -> Option<ClaimId> {
        self.by_pcn.get(pcn).copied()
    }

    /// The claim's balance: the sum of its ledger entries, with what this posting added.
    pub fn balance(&self, claim: ClaimId) -> i64 {
        self.entries
            .get(&claim)
            .map_or(0, |e| e.iter().map(|x| x.1).sum())
    }

    fn entry(
        &mut self,
        claim: Option<ClaimId>,
        kind: &'static str,
        adjustment: Option<&remit835::Adjustment>,
        amount: i64,
        line_control_number: Option<String>,
    ) {
        if let Some(claim) = claim {
            self.entries
                .entry(claim)
                .or_default()
                .push((kind.to_owned(), amount));
        }
        self.new_entries.push(NewEntry {
            id: LedgerEntryId::new(),
            claim,
            kind,
            group: adjustment.map(|a| a.group.clone()),
            reason: adjustment.map(|a| a.reason.clone()),
            amount,
            line_control_number,
        });
    }

    /// A PLB provider-level adjustment: a ledger entry of no claim.
    pub fn provider_adjustment(&mut self, reason: &str, amount: i64) {
        self.new_entries.push(NewEntry {
            id: LedgerEntryId::new(),
            claim: None,
            kind: "provider_adjustment",
            group: Some("PLB".into()),
            reason: Some(reason.to_owned()),
            amount,
            line_control_number: None,
        });
    }

    /// Keeps the CLP `n` as read, with its outcome.
    pub fn remittance_claim(&mut self, row: RemittanceClaimRow) {
        self.remittance_claims.push(row);
    }

    /// Keeps the SVC lines of the CLP `n` just posted to `claim` (the last of `v.claims`), to be
    /// stored from the summary at [`Book::flush`].
    pub fn remittance_lines(&mut self, n: usize, claim: ClaimId, v: &RemittanceView) {
        if let Some(posted) = v.claims.len().checked_sub(1) {
            self.remittance_lines
                .push(RemittanceLines { n, claim, posted });
        }
    }

    /// Writes everything gathered in the caller's transaction: the claims first, then on
    /// PostgreSQL the ledger entries, CLPs and SVC lines in one statement of column arrays
    /// ([`super::pg_rows`]), on SQLite in multi-row statements (see the module's doc).
    /// `v` is the summary the posted claims were added to.
    pub fn flush(
        self,
        conn: &mut DbConn,
        ctx: &AuditCtx,
        v: &RemittanceView,
    ) -> Result<(), AppError> {
        let org = ctx.org.to_string();
        let remittance = self.remittance.to_string();
        let actor = ctx.actor.map(|u| u.to_string());
        // Claims first: a claim changed since it was read fails the posting before anything else.
        self.claims.flush(conn, ctx)?;
        let lines: Vec<(&RemittanceLines, &PostedLine)> = self
            .remittance_lines
            .iter()
            .filter_map(|x| v.claims.get(x.posted).map(|p| (x, p)))
            .flat_map(|(x, p)| p.lines.iter().map(move |ln| (x, ln)))
            .collect();
        let written = Written {
            org: &org,
            remittance: &remittance,
            actor: actor.as_deref(),
            at: self.at,
            entries: &self.new_entries,
            claims: &self.remittance_claims,
            lines: &lines,
        };
        match conn {
            DbConn::Postgresql(pg) => {
                if !written.is_empty() {
                    written.as_columns().run(pg)?;
                }
            }
            DbConn::Sqlite(lite) => written.insert_each_table(lite)?,
        }
        Ok(())
    }
}

/// What [`Book::flush`] writes after the claims, borrowed from the book.
struct Written<'a> {
    org: &'a str,
    remittance: &'a str,
    actor: Option<&'a str>,
    at: NaiveDateTime,
    entries: &'a [NewEntry],
    claims: &'a [RemittanceClaimRow],
    lines: &'a [(&'a RemittanceLines, &'a PostedLine)],
}

impl<'a> Written<'a> {
    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.claims.is_empty() && self.lines.is_empty()
    }

    /// PostgreSQL: every row as one array per column, for one statement (the columns as
    /// [`Written::insert_each_table`] writes them on SQLite).
    fn as_columns(&self) -> pg_rows::PostingRows<'a> {
        let (org, remittance, at) = (self.org, self.remittance, self.at);
        let mut e = pg_rows::Entries::default();
        for x in self.entries {
            e.id.push(x.id.to_string());
            e.org_id.push(org);
            e.claim_id.push(x.claim.map(|c| c.to_string()));
            e.remittance_id.push(remittance);
            e.kind.push(x.kind);
            e.group_code.push(x.group.as_deref());
            e.reason_code.push(x.reason.as_deref());
            e.amount_cents.push(x.amount);
            e.line_control_number.push(x.line_control_number.as_deref());
            e.created_by.push(self.actor);
            e.created_at.push(at);
        }
        let mut c = pg_rows::Claims::default();
        for x in self.claims {
            c.remittance_id.push(remittance);
            c.seq.push(seq(x.n));
            c.org_id.push(org);
            c.patient_control_number.push(&x.patient_control_number);
            c.claim_id.push(x.claim.map(|id| id.to_string()));
            c.status_code.push(&x.status_code);
            c.charge_cents.push(x.charge_cents);
            c.paid_cents.push(x.paid_cents);
            c.patient_responsibility_cents
                .push(x.patient_responsibility_cents);
            c.payer_claim_number.push(x.payer_claim_number.as_deref());
            c.outcome.push(x.outcome);
            c.clp.push(x.clp.as_deref());
            c.allowed_cents.push(x.allowed_cents);
            c.remark_codes.push(&x.remark_codes);
            c.forwarded_to.push(x.forwarded_to.as_deref());
        }
        let mut l = pg_rows::Lines::default();
        for (x, ln) in self.lines {
            l.remittance_id.push(remittance);
            l.claim_seq.push(seq(x.n));
            l.line_seq.push(seq(ln.n));
            l.org_id.push(org);
            l.claim_id.push(x.claim.to_string());
            l.claim_line_id
                .push(ln.claim_line_id.map(|id| id.to_string()));
            l.match_method.push(&ln.match_method);
            l.procedure.push(&ln.procedure);
            l.service_date.push(ln.service_date.as_deref());
            l.line_control_number
                .push(ln.line_control_number.as_deref());
            l.charge_cents.push(ln.charge_cents);
            l.paid_cents.push(ln.paid_cents);
            l.allowed_cents.push(ln.allowed_cents);
            l.remark_codes.push(codes_json(&ln.remark_codes));
        }
        pg_rows::PostingRows {
            entries: e,
            claims: c,
            lines: l,
        }
    }

    /// SQLite: multi-row INSERTs of [`INSERT_CHUNK`] rows, table by table, the columns as
    /// [`Written::as_columns`] fills them.
    fn insert_each_table(&self, db: &mut SqliteConnection) -> Result<(), AppError> {
        let (org, remittance, at) = (self.org, self.remittance, self.at);
        for chunk in self.entries.chunks(INSERT_CHUNK) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|e| {
                    (
                        l::id.eq(e.id.to_string()),
                        l::org_id.eq(org),
                        l::claim_id.eq(e.claim.map(|c| c.to_string())),
                        l::remittance_id.eq(Some(remittance)),
                        l::kind.eq(e.kind),
                        l::group_code.eq(e.group.as_deref()),
                        l::reason_code.eq(e.reason.as_deref()),
                        l::amount_cents.eq(e.amount),
                        l::line_control_number.eq(e.line_control_number.as_deref()),
                        l::created_by.eq(self.actor),
                        l::created_at.eq(at),
                    )
                })
                .collect();
            diesel::insert_into(l::ledger_entries)
                .values(&rows)
                .execute(db)?;
        }
        for chunk in self.claims.chunks(INSERT_CHUNK) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|x| {
                    (
                        rc::remittance_id.eq(remittance),
                        rc::seq.eq(seq(x.n)),
                        rc::org_id.eq(org),
                        rc::patient_control_number.eq(&x.patient_control_number),
                        rc::claim_id.eq(x.claim.map(|id| id.to_string())),
                        rc::status_code.eq(&x.status_code),
                        rc::charge_cents.eq(x.charge_cents),
                        rc::paid_cents.eq(x.paid_cents),
                        rc::patient_responsibility_cents.eq(x.patient_responsibility_cents),
                        rc::payer_claim_number.eq(&x.payer_claim_number),
                        rc::outcome.eq(x.outcome),
                        rc::clp.eq(&x.clp),
                        rc::allowed_cents.eq(x.allowed_cents),
                        rc::remark_codes.eq(&x.remark_codes),
                        rc::forwarded_to.eq(&x.forwarded_to),
                    )
                })
                .collect();
            diesel::insert_into(rc::remittance_claims)
                .values(&rows)
                .execute(db)?;
        }
        for chunk in self.lines.chunks(INSERT_CHUNK) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|(x, ln)| {
                    (
                        rl::remittance_id.eq(remittance),
                        rl::claim_seq.eq(seq(x.n)),
                        rl::line_seq.eq(seq(ln.n)),
                        rl::org_id.eq(org),
                        rl::claim_id.eq(x.claim.to_string()),
                        rl::claim_line_id.eq(ln.claim_line_id.map(|l| l.to_string())),
                        rl::match_method.eq(&ln.match_method),
                        rl::procedure.eq(&ln.procedure),
                        rl::service_date.eq(&ln.service_date),
                        rl::line_control_number.eq(&ln.line_control_number),
                        rl::charge_cents.eq(ln.charge_cents),
                        rl::paid_cents.eq(ln.paid_cents),
                        rl::allowed_cents.eq(ln.allowed_cents),
                        rl::remark_codes.eq(codes_json(&ln.remark_codes)),
                    )
                })
                .collect();
            diesel::insert_into(rl::remittance_lines)
                .values(&rows)
                .execute(db)?;
        }
        Ok(())
    }
}

pub fn codes_json(codes: &[String]) -> String {
    serde_json::to_string(codes).unwrap_or_else(|_| "[]".into())
}

pub fn seq(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// CLP02 19–21: who the claim was forwarded to.
pub fn forwarded_to(c: &ClaimPayment) -> Option<String> {
    c.is_forwarded().then(|| {
        c.crossover_payer()
            .unwrap_or_else(|| "another payer".into())
    })
}

/// What a processed (CLP02 1–3, 19–21) or denied (4) claim becomes once posted.
fn target(c: &ClaimPayment, balance_after: i64) -> Option<ClaimStatus> {
    match c.status_code.as_str() {
        "4" => Some(ClaimStatus::Denied),
        "1" | "2" | "3" | "19" | "20" | "21" => Some(if c.paid_cents <= 0 {
            ClaimStatus::Denied
        } else if balance_after <= 0 {
            ClaimStatus::Paid
        } else {
            ClaimStatus::PartiallyPaid
        }),
        _ => None,
    }
}

/// Posts one CLP to `claim_id` (read into `book`) with the import's rules: `posted`, or
/// `imbalanced`/`skipped` (nothing of it posted, the reason pushed to `v.imbalances`/
/// `v.skipped`). `matched` is who matched it by hand and when.
pub fn post_to(
    book: &mut Book,
    v: &mut RemittanceView,
    c: &ClaimPayment,
    claim_id: ClaimId,
    matched: Option<(String, NaiveDateTime)>,
) -> Result<&'static str, AppError> {
    let pcn = c.patient_control_number.trim();
    let found = remit835::claim_imbalances(c);
    if !found.is_empty() {
        for i in found {
            v.imbalances.push(ImbalanceView {
                rule: i.rule.as_str().into(),
                patient_control_number: i.patient_control_number,
                line: i.line.map(|x| x + 1),
                expected_cents: i.expected_cents,
                actual_cents: i.actual_cents,
                posted: false,
                message: i.message,
            });
        }
        return Ok("imbalanced");
    }
    let claim = book.claims.get(claim_id)?.clone();
    let skip = |v: &mut RemittanceView, posted: bool, reason: String| {
        v.skipped.push(SkippedClaim {
            claim_id,
            patient_control_number: pcn.to_owned(),
            status: claim.status,
            posted,
            reason,
        });
    };
    let (before, has_charge, has_posting) = {
        let entries = book.entries.get(&claim_id).map_or(&[][..], Vec::as_slice);
        (
            entries.iter().map(|e| e.1).sum::<i64>(),
            entries.iter().any(|e| e.0 == "charge"),
            entries
                .iter()
                .any(|e| e.0 == "payment" || e.0 == "adjustment"),
        )
    };
    let no_lines = Vec::new();
    let lines = book.lines.get(&claim_id).unwrap_or(&no_lines);
    let matches = match_lines(c, lines);
    let reversal = c.is_reversal();
    let adjustments: Vec<(&remit835::Adjustment, Option<String>)> = c
        .adjustments
        .iter()
        .map(|a| (a, None))
        .chain(c.lines.iter().zip(&matches).flat_map(|(ln, m)| {
            let lcn = m.0.map(|l| l.line_control_number.clone());
            ln.adjustments.iter().map(move |a| (a, lcn.clone()))
        }))
        .collect();
    let posted_lines: Vec<PostedLine> = c
        .lines
        .iter()
        .zip(&matches)
        .enumerate()
        .map(|(k, (ln, m))| PostedLine {
            n: k + 1,
            procedure: ln.procedure.clone(),
            service_date: ln.service_date.clone(),
            line_control_number: ln.line_control_number.clone(),
            match_method: m.1.to_owned(),
            claim_line_id: m.0.map(|l| l.id),
            claim_line_number: m.0.map(|l| l.line_number),
            claim_line_control_number: m.0.map(|l| l.line_control_number.clone()),
            charge_cents: ln.charge_cents,
            paid_cents: ln.paid_cents,
            allowed_cents: ln.allowed_cents,
            remark_codes: ln.remarks.clone(),
            message: m.2.clone(),
        })
        .collect();
    let line_warnings: Vec<String> = posted_lines
        .iter()
        .filter_map(|l| {
            l.message.as_ref().map(|m| {
                format!(
                    "claim {pcn} line {} ({}): {m}; its adjustments are posted at claim level",
                    l.n, l.procedure
                )
            })
        })
        .collect();
    let posted_adj: i64 = adjustments.iter().map(|(a, _)| a.amount_cents).sum();
    let to = if reversal {
        if !has_posting {
            skip(
                v,
                false,
                "a reversal (CLP02 22) of a claim with nothing posted: nothing to reverse".into(),
            );
            return Ok("skipped");
        }
        None
    } else {
        let charge = if has_charge {
            0
        } else {
            claim.total_charge_cents
        };
        let after = before + charge - c.paid_cents - posted_adj;
        let Some(to) = target(c, after) else {
            skip(
                v,
                false,
                format!(
                    "CLP02 {} is not a payment, denial or reversal; nothing posted",
                    c.status_code
                ),
            );
            return Ok("skipped");
        };
        if claim.status != to && !claim.status.can_go_to(to) {
            skip(
                v,
                false,
                format!(
                    "a {} claim cannot move to {to}; nothing posted",
                    claim.status
                ),
            );
            return Ok("skipped");
        }
        Some(to)
    };
    if !has_charge && !reversal {
        book.entry(
            Some(claim_id),
            "charge",
            None,
            claim.total_charge_cents,
            None,
        );
    }
    if c.paid_cents != 0 {
        let kind = if reversal { "reversal" } else { "payment" };
        book.entry(Some(claim_id), kind, None, -c.paid_cents, None);
    }
    for (a, lcn) in &adjustments {
        let kind = if reversal {
            "reversal"
        } else if a.group == "PR" {
            "patient_responsibility"
        } else {
            "adjustment"
        };
        book.entry(Some(claim_id), kind, Some(a), -a.amount_cents, lcn.clone());
        *v.adjustments_by_reason
            .entry(format!("{}:{}", a.group, a.reason))
            .or_insert(0) += a.amount_cents;
    }
    if let Some(n) = &c.payer_claim_number
        && claim.payer_claim_number.as_deref() != Some(n.as_str())
        && !reversal
    {
        book.claims.set_payer_claim_number(claim_id, n)?;
    }
    v.warnings.extend(line_warnings);
    let forwarded = forwarded_to(c);
    if let Some(to) = &forwarded {
        book.claims.note(
            claim_id,
            &format!(
                "835 remittance {} (CLP02 {}): processed and forwarded to {to}",
                v.trace_number, c.status_code
            ),
        )?;
    }
    let why = format!(
        "835 remittance {} (CLP02 {}): paid {}",
        v.trace_number,
        c.status_code,
        remit835::format_cents(c.paid_cents)
    );
    let mut status = claim.status;
    match to {
        Some(to) if to != claim.status => {
            status = book.claims.transition(claim_id, to, Some(&why))?.status;
        }
        Some(_) => {}
        None => {
            let to = ClaimStatus::Accepted;
            if claim.status.can_go_to(to) {
                status = book.claims.transition(claim_id, to, Some(&why))?.status;
            } else {
                skip(
                    v,
                    true,
                    format!(
                        "the reversal is posted; a {} claim cannot move back to accepted, its status stays",
                        claim.status
                    ),
                );
            }
        }
    }
    v.claims.push(PostedClaim {
        claim_id,
        patient_control_number: pcn.to_owned(),
        status_code: c.status_code.clone(),
        charge_cents: c.charge_cents,
        paid_cents: c.paid_cents,
        patient_responsibility_cents: c.patient_responsibility_cents,
        adjustment_cents: posted_adj,
        payer_claim_number: c.payer_claim_number.clone(),
        previous_status: claim.status,
        status,
        balance_cents: book.balance(claim_id),
        allowed_cents: c.allowed_cents,
        remark_codes: c.remarks.clone(),
        forwarded_to: forwarded,
        lines: posted_lines,
        matched_by: matched.as_ref().map(|m| m.0.clone()),
        matched_at: matched.map(|m| m.1.and_utc()),
    });
    Ok("posted")
}
