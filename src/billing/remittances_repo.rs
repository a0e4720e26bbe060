//! Remittance storage, the ledger, and the posting of a read 835, in the caller's transaction
//! (all or nothing). Claims move through `claims::repo::transition`.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::api::*;
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

diesel::allow_tables_to_appear_in_same_query!(remittances, remittance_claims, ledger_entries);

use ledger_entries::dsl as l;
use remittance_claims::dsl as rc;
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
        let mut v: RemittanceView = serde_json::from_str(&self.summary)
            .map_err(|e| AppError::internal(format!("unreadable remittance summary: {e}")))?;
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
    };
    for e in rows {
        v.balance_cents += e.amount_cents;
        let group = e.group_code.as_deref();
        match (e.kind.as_str(), group) {
            ("charge", _) => v.charge_cents += e.amount_cents,
            ("payment", _) | ("reversal", None) => v.paid_cents -= e.amount_cents,
            ("patient_responsibility", _) | ("reversal", Some("PR")) => {
                v.patient_responsibility_cents -= e.amount_cents
            }
            _ => v.adjustment_cents -= e.amount_cents,
        }
        v.items.push(LedgerEntryView {
            id: e.id,
            kind: e.kind,
            group_code: e.group_code,
            reason_code: e.reason_code,
            amount_cents: e.amount_cents,
            line_control_number: e.line_control_number,
            remittance_id: e.remittance_id,
            created_at: e.created_at,
        });
    }
    Ok(v)
}

fn claim_id_by_pcn(conn: &mut DbConn, org: OrgId, pcn: &str) -> Result<Option<ClaimId>, AppError> {
    use crate::claims::schema::claims::dsl as c;
    let id: Option<String> = c::claims
        .filter(c::org_id.eq(org.to_string()))
        .filter(c::patient_control_number.eq(pcn))
        .select(c::id)
        .first(conn)
        .optional()?;
    id.map(|s| parse_id::<ClaimId>(&s)).transpose()
}

struct Entry<'a> {
    claim: Option<ClaimId>,
    kind: &'a str,
    group: Option<&'a str>,
    reason: Option<&'a str>,
    amount: i64,
    line_control_number: Option<&'a str>,
}

fn insert_entry(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    remittance: RemittanceId,
    e: Entry<'_>,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::insert_into(l::ledger_entries)
        .values((
            l::id.eq(LedgerEntryId::new().to_string()),
            l::org_id.eq(ctx.org.to_string()),
            l::claim_id.eq(e.claim.map(|c| c.to_string())),
            l::remittance_id.eq(Some(remittance.to_string())),
            l::kind.eq(e.kind),
            l::group_code.eq(e.group),
            l::reason_code.eq(e.reason),
            l::amount_cents.eq(e.amount),
            l::line_control_number.eq(e.line_control_number),
            l::created_by.eq(ctx.actor.map(|u| u.to_string())),
            l::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
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

/// Posts a read 835: a payer + trace number imported before posts nothing and answers the first
/// summary with `duplicate: true`. Returns the summary and whether it is new.
pub fn import(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    hash: &str,
    rem: &Remittance835,
) -> Result<(RemittanceView, bool), AppError> {
    let payer = rem
        .payer_id
        .clone()
        .or_else(|| rem.payer_name.clone())
        .unwrap_or_default();
    if let Some(row) = by_trace(conn, ctx.org, &payer, &rem.trace_number)? {
        return Ok((row.view(true)?, false));
    }
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
        warnings: rem.warnings.clone(),
        file_hash: hash.to_owned(),
        received_at: now,
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
    for (i, c) in rem.claims.iter().enumerate() {
        let outcome = post_claim(conn, ctx, &mut v, i + 1, c, now)?;
        diesel::insert_into(rc::remittance_claims)
            .values((
                rc::remittance_id.eq(v.id.to_string()),
                rc::seq.eq(i32::try_from(i + 1).unwrap_or(i32::MAX)),
                rc::org_id.eq(ctx.org.to_string()),
                rc::patient_control_number.eq(&c.patient_control_number),
                rc::claim_id.eq(outcome.1.map(|id| id.to_string())),
                rc::status_code.eq(&c.status_code),
                rc::charge_cents.eq(c.charge_cents),
                rc::paid_cents.eq(c.paid_cents),
                rc::patient_responsibility_cents.eq(c.patient_responsibility_cents),
                rc::payer_claim_number.eq(&c.payer_claim_number),
                rc::outcome.eq(outcome.0),
            ))
            .execute(conn)?;
    }
    for p in &rem.provider_adjustments {
        insert_entry(
            conn,
            ctx,
            v.id,
            Entry {
                claim: None,
                kind: "provider_adjustment",
                group: Some("PLB"),
                reason: Some(&p.reason),
                amount: p.amount_cents,
                line_control_number: None,
            },
            now,
        )?;
        v.plb.push(PlbView {
            provider_id: p.provider_id.clone(),
            date: p.date.clone(),
            reason: p.reason.clone(),
            reference: p.reference.clone(),
            amount_cents: p.amount_cents,
        });
    }
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

fn balance(conn: &mut DbConn, org: OrgId, claim: ClaimId) -> Result<i64, AppError> {
    Ok(claim_entries(conn, org, claim)?
        .iter()
        .map(|e| e.amount_cents)
        .sum())
}

/// Posts one CLP; returns its outcome and the matched claim.
fn post_claim(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    v: &mut RemittanceView,
    n: usize,
    c: &ClaimPayment,
    now: NaiveDateTime,
) -> Result<(&'static str, Option<ClaimId>), AppError> {
    let pcn = c.patient_control_number.trim();
    let Some(claim_id) = claim_id_by_pcn(conn, ctx.org, pcn)? else {
        v.claims_unmatched.push(UnmatchedClaim {
            n,
            patient_control_number: pcn.to_owned(),
            charge_cents: c.charge_cents,
            paid_cents: c.paid_cents,
            payer_claim_number: c.payer_claim_number.clone(),
            message: format!("no claim of this organization has patient control number {pcn}"),
        });
        return Ok(("unmatched", None));
    };
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
        return Ok(("imbalanced", Some(claim_id)));
    }
    let claim = claims::require_claim(conn, ctx.org, claim_id)?;
    let skip = |v: &mut RemittanceView, posted: bool, reason: String| {
        v.skipped.push(SkippedClaim {
            claim_id,
            patient_control_number: pcn.to_owned(),
            status: claim.status,
            posted,
            reason,
        });
    };
    let entries = claim_entries(conn, ctx.org, claim_id)?;
    let before: i64 = entries.iter().map(|e| e.amount_cents).sum();
    let has_charge = entries.iter().any(|e| e.kind == "charge");
    let lines = claims::lines_of(conn, ctx.org, claim_id)?;
    let known_lcn = |lcn: &Option<String>| -> Option<String> {
        lcn.as_ref()
            .filter(|x| lines.iter().any(|l| &l.line_control_number == *x))
            .cloned()
    };
    let reversal = c.is_reversal();
    let adjustments: Vec<(&remit835::Adjustment, Option<String>)> = c
        .adjustments
        .iter()
        .map(|a| (a, None))
        .chain(c.lines.iter().flat_map(|ln| {
            let lcn = known_lcn(&ln.line_control_number);
            ln.adjustments.iter().map(move |a| (a, lcn.clone()))
        }))
        .collect();
    for ln in &c.lines {
        if let Some(x) = &ln.line_control_number
            && known_lcn(&ln.line_control_number).is_none()
        {
            v.warnings.push(format!(
                "claim {pcn}: REF*6R {x} is no line of the claim; its adjustments are posted at claim level"
            ));
        }
    }
    let posted_adj: i64 = adjustments.iter().map(|(a, _)| a.amount_cents).sum();
    let to = if reversal {
        if entries
            .iter()
            .all(|e| e.kind != "payment" && e.kind != "adjustment")
        {
            skip(
                v,
                false,
                "a reversal (CLP02 22) of a claim with nothing posted: nothing to reverse".into(),
            );
            return Ok(("skipped", Some(claim_id)));
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
            return Ok(("skipped", Some(claim_id)));
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
            return Ok(("skipped", Some(claim_id)));
        }
        Some(to)
    };
    if !has_charge && !reversal {
        insert_entry(
            conn,
            ctx,
            v.id,
            Entry {
                claim: Some(claim_id),
                kind: "charge",
                group: None,
                reason: None,
                amount: claim.total_charge_cents,
                line_control_number: None,
            },
            now,
        )?;
    }
    if c.paid_cents != 0 {
        insert_entry(
            conn,
            ctx,
            v.id,
            Entry {
                claim: Some(claim_id),
                kind: if reversal { "reversal" } else { "payment" },
                group: None,
                reason: None,
                amount: -c.paid_cents,
                line_control_number: None,
            },
            now,
        )?;
    }
    for (a, lcn) in &adjustments {
        let kind = if reversal {
            "reversal"
        } else if a.group == "PR" {
            "patient_responsibility"
        } else {
            "adjustment"
        };
        insert_entry(
            conn,
            ctx,
            v.id,
            Entry {
                claim: Some(claim_id),
                kind,
                group: Some(&a.group),
                reason: Some(&a.reason),
                amount: -a.amount_cents,
                line_control_number: lcn.as_deref(),
            },
            now,
        )?;
        *v.adjustments_by_reason
            .entry(format!("{}:{}", a.group, a.reason))
            .or_insert(0) += a.amount_cents;
    }
    if let Some(n) = &c.payer_claim_number
        && claim.payer_claim_number.as_deref() != Some(n.as_str())
        && !reversal
    {
        claims::set_payer_claim_number(conn, ctx, claim_id, n)?;
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
            status = claims::transition(conn, ctx, claim_id, to, Some(&why), None)?.status;
        }
        Some(_) => {}
        None => {
            let to = ClaimStatus::Accepted;
            if claim.status.can_go_to(to) {
                status = claims::transition(conn, ctx, claim_id, to, Some(&why), None)?.status;
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
        balance_cents: balance(conn, ctx.org, claim_id)?,
    });
    Ok(("posted", Some(claim_id)))
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
