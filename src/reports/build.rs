//! Assembles each report from what `repo` reads and what `domain` computes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{NaiveDate, Utc};

use super::api::*;
use super::domain::{self, AgingGroup, Bucket, DenialAdjustment, Movement, OpenClaim};
use super::repo::{self, EntryRow};
use crate::db::{DbConn, OrgId};
use crate::error::AppError;

fn totals(g: &AgingGroup) -> AgingTotals {
    AgingTotals {
        claims: g.claims,
        insurance: g.insurance,
        patient: g.patient,
    }
}

fn money_of(charge: i64, entries: Option<&Vec<&EntryRow>>) -> domain::ClaimMoney {
    domain::claim_money(
        charge,
        entries
            .into_iter()
            .flatten()
            .map(|e| (e.kind.as_str(), e.group_code.as_deref(), e.amount_cents)),
    )
}

/// A/R aging as of a date.
pub fn ar_aging(
    conn: &mut DbConn,
    org: OrgId,
    as_of: NaiveDate,
) -> Result<ArAgingReport, AppError> {
    let until = as_of.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0));
    let claims = repo::billed_claims(conn, org)?;
    let entries = repo::ledger(conn, org, until)?;
    let by_claim = repo::entries_by_claim(&entries);
    let open: Vec<(OpenClaim, &repo::ClaimRow)> = claims
        .iter()
        .filter(|c| c.service_from <= as_of)
        .map(|c| {
            let m = money_of(c.total_charge_cents, by_claim.get(c.id.as_str()));
            (
                OpenClaim {
                    claim_id: c.id.clone(),
                    patient_id: c.patient_id.clone(),
                    payer_id: c.payer_id.clone(),
                    service_from: c.service_from,
                    insurance_cents: m.insurance_cents,
                    patient_cents: m.patient_cents,
                },
                c,
            )
        })
        .filter(|(o, _)| o.insurance_cents != 0 || o.patient_cents != 0)
        .collect();
    let aging = domain::age(
        &open.iter().map(|(o, _)| o.clone()).collect::<Vec<_>>(),
        as_of,
    );
    let payers = repo::payer_names(conn, org)?;
    let patient_ids: Vec<String> = aging.by_patient.keys().cloned().collect();
    let patients = repo::patient_names(conn, org, &patient_ids)?;
    let mut by_payer: Vec<PayerAging> = aging
        .by_payer
        .iter()
        .map(|(id, g)| {
            let p = payers.get(id);
            PayerAging {
                payer_id: id.clone(),
                payer_name: p.map(|p| p.name.clone()).unwrap_or_default(),
                payer_edi_id: p.map(|p| p.edi_id.clone()).unwrap_or_default(),
                amounts: totals(g),
            }
        })
        .collect();
    by_payer.sort_by(|a, b| {
        a.payer_name
            .cmp(&b.payer_name)
            .then(a.payer_id.cmp(&b.payer_id))
    });
    let mut by_patient: Vec<PatientAging> = aging
        .by_patient
        .iter()
        .map(|(id, g)| {
            let p = patients.get(id);
            PatientAging {
                patient_id: id.clone(),
                mrn: p.map(|p| p.mrn.clone()).unwrap_or_default(),
                patient_name: p.map(|p| p.name.clone()).unwrap_or_default(),
                amounts: totals(g),
            }
        })
        .collect();
    by_patient.sort_by(|a, b| {
        a.patient_name
            .cmp(&b.patient_name)
            .then(a.patient_id.cmp(&b.patient_id))
    });
    let mut claims: Vec<ClaimAging> = open
        .iter()
        .map(|(o, c)| {
            let age = o.age_days(as_of);
            ClaimAging {
                claim_id: o.claim_id.clone(),
                patient_control_number: c.patient_control_number.clone(),
                patient_id: o.patient_id.clone(),
                payer_id: o.payer_id.clone(),
                status: c.status.clone(),
                service_from: o.service_from,
                age_days: age,
                bucket: Bucket::of_days(age).label().to_owned(),
                insurance_cents: o.insurance_cents,
                patient_cents: o.patient_cents,
            }
        })
        .collect();
    claims.sort_by(|a, b| {
        b.age_days
            .cmp(&a.age_days)
            .then(a.patient_control_number.cmp(&b.patient_control_number))
    });
    Ok(ArAgingReport {
        as_of,
        generated_at: Utc::now(),
        totals: totals(&aging.total),
        by_payer,
        by_patient,
        claims,
    })
}

/// The day a remittance was paid: BPR16 from its summary, else the day it was imported.
fn payment_date(r: &repo::RemittanceRow) -> (NaiveDate, serde_json::Value) {
    let summary: serde_json::Value = serde_json::from_str(&r.summary).unwrap_or_default();
    let date = summary
        .get("payment_date")
        .and_then(|v| v.as_str())
        .and_then(domain::parse_ccyymmdd)
        .unwrap_or_else(|| r.received_at.date());
    (date, summary)
}

/// Denials posted by the remittances paid in a period.
pub fn denials(
    conn: &mut DbConn,
    org: OrgId,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<DenialsReport, AppError> {
    let remits: HashMap<String, NaiveDate> = repo::remittance_list(conn, org)?
        .iter()
        .map(|r| (r.id.clone(), payment_date(r).0))
        .filter(|(_, d)| domain::in_period(*d, from, to))
        .collect();
    let denied: Vec<repo::PostedClpRow> = repo::posted_clps(conn, org)?
        .into_iter()
        .filter(|c| remits.contains_key(&c.remittance_id))
        .filter(|c| domain::is_denial(&c.status_code, c.charge_cents, c.paid_cents))
        .collect();
    let keys: BTreeSet<(&str, &str)> = denied
        .iter()
        .filter_map(|c| Some((c.remittance_id.as_str(), c.claim_id.as_deref()?)))
        .collect();
    let claim_ids: Vec<String> = keys.iter().map(|(_, c)| (*c).to_owned()).collect();
    let claims = repo::claims_by_id(conn, org, &claim_ids)?;
    let entries = repo::ledger(conn, org, None)?;
    let mut rows = Vec::new();
    for e in &entries {
        let (Some(rid), Some(cid)) = (e.remittance_id.as_deref(), e.claim_id.as_deref()) else {
            continue;
        };
        if !keys.contains(&(rid, cid)) {
            continue;
        }
        let kind = domain::movement(&e.kind, e.group_code.as_deref());
        if !matches!(kind, Movement::Adjustment | Movement::PatientResponsibility)
            || e.kind == "reversal"
        {
            continue;
        }
        rows.push(DenialAdjustment {
            payer_id: claims
                .get(cid)
                .map(|c| c.payer_id.clone())
                .unwrap_or_default(),
            claim_id: cid.to_owned(),
            group: e.group_code.clone().unwrap_or_default(),
            reason: e.reason_code.clone().unwrap_or_default(),
            amount_cents: -e.amount_cents,
        });
    }
    let descriptions = repo::carc_descriptions(conn, org)?;
    let payers = repo::payer_names(conn, org)?;
    let by_payer_and_reason: Vec<DenialRow> = domain::group_denials(&rows)
        .into_iter()
        .map(|((payer, group, reason), (n, amount))| DenialRow {
            payer_name: payers
                .get(&payer)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            payer_id: payer,
            group_code: group,
            reason_description: descriptions.get(&reason).cloned(),
            reason_code: reason,
            claims: n,
            amount_cents: amount,
        })
        .collect();
    let everyone: Vec<DenialAdjustment> = rows
        .into_iter()
        .map(|r| DenialAdjustment {
            payer_id: String::new(),
            ..r
        })
        .collect();
    let by_reason = domain::group_denials(&everyone)
        .into_iter()
        .map(|((_, group, reason), (n, amount))| DenialReasonRow {
            group_code: group,
            reason_description: descriptions.get(&reason).cloned(),
            reason_code: reason,
            claims: n,
            amount_cents: amount,
        })
        .collect();
    let distinct: BTreeSet<&str> = keys.iter().map(|(_, c)| *c).collect();
    Ok(DenialsReport {
        from,
        to,
        generated_at: Utc::now(),
        denied_claims: distinct.len(),
        denied_charge_cents: denied.iter().map(|c| c.charge_cents).sum(),
        by_reason,
        by_payer_and_reason,
    })
}

/// Payments received in a period.
pub fn payments(
    conn: &mut DbConn,
    org: OrgId,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<PaymentsReport, AppError> {
    let entries = repo::ledger(conn, org, None)?;
    let mut posted: HashMap<&str, (i64, i64)> = HashMap::new();
    for e in &entries {
        let Some(rid) = e.remittance_id.as_deref() else {
            continue;
        };
        let slot = posted.entry(rid).or_default();
        if e.kind == "provider_adjustment" {
            slot.1 += e.amount_cents;
        } else if e.claim_id.is_some()
            && domain::movement(&e.kind, e.group_code.as_deref()) == Movement::Payment
        {
            slot.0 -= e.amount_cents;
        }
    }
    let mut rows = Vec::new();
    for r in repo::remittance_list(conn, org)? {
        let (date, summary) = payment_date(&r);
        if !domain::in_period(date, from, to) {
            continue;
        }
        let (paid, plb) = posted.get(r.id.as_str()).copied().unwrap_or_default();
        let text = |k: &str| summary.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let count = |k: &str| {
            summary
                .get(k)
                .and_then(|v| v.as_array())
                .map_or(0, Vec::len)
        };
        rows.push(PaymentRow {
            remittance_id: r.id.clone(),
            payment_date: date,
            payer_edi_id: r.payer_edi_id.clone(),
            payer_name: text("payer_name"),
            trace_number: r.trace_number.clone(),
            payment_method: text("payment_method"),
            total_paid_cents: r.paid_cents,
            posted_payment_cents: paid,
            // Stored with the 835's sign: positive reduces the payment (BPR02 = Σ CLP04 − Σ PLB).
            provider_adjustment_cents: plb,
            claims_matched: count("claims"),
            claims_unmatched: count("claims_unmatched"),
        });
    }
    rows.sort_by(|a, b| {
        a.payment_date
            .cmp(&b.payment_date)
            .then(a.trace_number.cmp(&b.trace_number))
    });
    let mut periods: BTreeMap<(String, String), PaymentPeriodRow> = BTreeMap::new();
    for r in &rows {
        let month = domain::month_of(r.payment_date);
        let p = periods
            .entry((r.payer_edi_id.clone(), month.clone()))
            .or_insert_with(|| PaymentPeriodRow {
                payer_edi_id: r.payer_edi_id.clone(),
                payer_name: r.payer_name.clone(),
                month,
                remittances: 0,
                total_paid_cents: 0,
                posted_payment_cents: 0,
                trace_numbers: Vec::new(),
            });
        p.remittances += 1;
        p.total_paid_cents += r.total_paid_cents;
        p.posted_payment_cents += r.posted_payment_cents;
        p.trace_numbers.push(r.trace_number.clone());
    }
    Ok(PaymentsReport {
        from,
        to,
        generated_at: Utc::now(),
        total_paid_cents: rows.iter().map(|r| r.total_paid_cents).sum(),
        posted_payment_cents: rows.iter().map(|r| r.posted_payment_cents).sum(),
        remittances: rows,
        by_payer_and_month: periods.into_values().collect(),
    })
}

/// Batches created in a period and what became of their claims.
pub fn batches(
    conn: &mut DbConn,
    org: OrgId,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<BatchesReport, AppError> {
    use crate::claims::domain::ClaimStatus as S;
    let batches: Vec<repo::BatchRow> = repo::batch_list(conn, org)?
        .into_iter()
        .filter(|b| domain::in_period(b.created_at.date(), from, to))
        .collect();
    let members = repo::batch_members(conn, org)?;
    let ids: Vec<String> = batches
        .iter()
        .flat_map(|b| members.get(&b.id).into_iter().flatten().cloned())
        .collect();
    let claims = repo::claims_by_id(conn, org, &ids)?;
    let entries = repo::ledger(conn, org, None)?;
    let by_claim = repo::entries_by_claim(&entries);
    let payers = repo::payer_names(conn, org)?;
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    let mut out = Vec::new();
    for b in batches {
        let mut row = BatchReportRow {
            batch_id: b.id.clone(),
            kind: b.kind.clone(),
            payer_name: payers
                .get(&b.payer_id)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            payer_id: b.payer_id.clone(),
            status: b.status.clone(),
            interchange_control_number: b.interchange_control_number,
            created_on: b.created_at.date(),
            submitted_on: b.submitted_at.map(|t| t.date()),
            claims: usize::try_from(b.claim_count).unwrap_or(0),
            total_charge_cents: b.total_charge_cents,
            accepted: 0,
            rejected: 0,
            paid: 0,
            denied: 0,
            paid_cents: 0,
            pending: 0,
        };
        // A batch that never went out (cancelled, or awaiting approval) has no outcomes.
        if b.submitted_at.is_some() {
            for id in members.get(&b.id).into_iter().flatten() {
                let Some(c) = claims.get(id) else { continue };
                let paid = money_of(c.total_charge_cents, by_claim.get(id.as_str())).paid_cents;
                row.paid_cents += paid;
                let status: Option<S> = c.status.parse().ok();
                match status {
                    Some(S::Submitted) => row.pending += 1,
                    Some(S::Rejected) => row.rejected += 1,
                    Some(S::Accepted) => row.accepted += 1,
                    Some(S::Paid | S::PartiallyPaid) => {
                        row.accepted += 1;
                        row.paid += 1;
                    }
                    Some(S::Closed) => {
                        row.accepted += 1;
                        row.paid += usize::from(paid != 0);
                    }
                    Some(S::Denied) => {
                        row.accepted += 1;
                        row.denied += 1;
                    }
                    _ => {}
                }
            }
        }
        for (k, v) in [
            ("claims", row.claims),
            ("accepted", row.accepted),
            ("rejected", row.rejected),
            ("paid", row.paid),
            ("denied", row.denied),
            ("pending", row.pending),
        ] {
            *totals.entry(k.to_owned()).or_insert(0) += i64::try_from(v).unwrap_or(0);
        }
        *totals.entry("paid_cents".to_owned()).or_insert(0) += row.paid_cents;
        *totals.entry("total_charge_cents".to_owned()).or_insert(0) += row.total_charge_cents;
        out.push(row);
    }
    Ok(BatchesReport {
        from,
        to,
        generated_at: Utc::now(),
        batches: out,
        totals,
    })
}
