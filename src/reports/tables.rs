//! Each report as spreadsheet tables (the CSV is one of them, the workbook all of them).

use super::api::*;
use super::domain::AgingAmounts;
use super::render::{Cell, Table};

const AGING_HEADERS: [&str; 13] = [
    "claims",
    "insurance_0_30",
    "insurance_31_60",
    "insurance_61_90",
    "insurance_91_120",
    "insurance_over_120",
    "insurance_total",
    "patient_0_30",
    "patient_31_60",
    "patient_61_90",
    "patient_91_120",
    "patient_over_120",
    "patient_total",
];

fn aging_cells(t: &AgingTotals) -> Vec<Cell> {
    let money = |a: &AgingAmounts| a.columns().into_iter().map(Cell::Money).collect::<Vec<_>>();
    let mut row = vec![Cell::Int(i64::try_from(t.claims).unwrap_or(i64::MAX))];
    row.extend(money(&t.insurance));
    row.extend(money(&t.patient));
    row
}

fn with(lead: &[&'static str], rest: &[&'static str]) -> Vec<&'static str> {
    lead.iter().chain(rest).copied().collect()
}

fn count(n: usize) -> Cell {
    Cell::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// An aging table: two leading cells per group, the amounts, and a total row.
fn aging_table<'a>(
    name: &'static str,
    lead: [&'static str; 2],
    groups: impl Iterator<Item = ([Cell; 2], &'a AgingTotals)>,
    total: &AgingTotals,
) -> Table {
    let mut rows: Vec<Vec<Cell>> = groups
        .map(|(lead, amounts)| {
            let mut row = lead.to_vec();
            row.extend(aging_cells(amounts));
            row
        })
        .collect();
    let mut last = vec![Cell::text("Total"), Cell::Empty];
    last.extend(aging_cells(total));
    rows.push(last);
    Table {
        name,
        headers: with(&lead, &AGING_HEADERS),
        rows,
    }
}

/// A/R aging by payer (with a total row).
pub fn aging_by_payer(r: &ArAgingReport) -> Table {
    aging_table(
        "By payer",
        ["payer", "payer_edi_id"],
        r.by_payer.iter().map(|p| {
            (
                [Cell::text(&p.payer_name), Cell::text(&p.payer_edi_id)],
                &p.amounts,
            )
        }),
        &r.totals,
    )
}

/// A/R aging by patient (with a total row).
pub fn aging_by_patient(r: &ArAgingReport) -> Table {
    aging_table(
        "By patient",
        ["patient", "mrn"],
        r.by_patient.iter().map(|p| {
            (
                [Cell::text(&p.patient_name), Cell::text(&p.mrn)],
                &p.amounts,
            )
        }),
        &r.totals,
    )
}

/// A/R aging claim by claim.
pub fn aging_claims(r: &ArAgingReport) -> Table {
    Table {
        name: "Claims",
        headers: vec![
            "patient_control_number",
            "status",
            "service_from",
            "age_days",
            "bucket",
            "insurance_owed",
            "patient_owed",
            "claim_id",
            "payer_id",
            "patient_id",
        ],
        rows: r
            .claims
            .iter()
            .map(|c| {
                vec![
                    Cell::text(&c.patient_control_number),
                    Cell::text(&c.status),
                    Cell::Date(c.service_from),
                    Cell::Int(c.age_days),
                    Cell::text(&c.bucket),
                    Cell::Money(c.insurance_cents),
                    Cell::Money(c.patient_cents),
                    Cell::text(&c.claim_id),
                    Cell::text(&c.payer_id),
                    Cell::text(&c.patient_id),
                ]
            })
            .collect(),
    }
}

/// Denials by payer and reason.
pub fn denials_by_payer(r: &DenialsReport) -> Table {
    Table {
        name: "By payer and reason",
        headers: vec![
            "payer",
            "group_code",
            "reason_code",
            "reason_description",
            "claims",
            "amount",
            "payer_id",
        ],
        rows: r
            .by_payer_and_reason
            .iter()
            .map(|d| {
                vec![
                    Cell::text(&d.payer_name),
                    Cell::text(&d.group_code),
                    Cell::text(&d.reason_code),
                    Cell::opt_text(d.reason_description.as_deref()),
                    count(d.claims),
                    Cell::Money(d.amount_cents),
                    Cell::text(&d.payer_id),
                ]
            })
            .collect(),
    }
}

/// Denials by reason, every payer.
pub fn denials_by_reason(r: &DenialsReport) -> Table {
    Table {
        name: "By reason",
        headers: vec![
            "group_code",
            "reason_code",
            "reason_description",
            "claims",
            "amount",
        ],
        rows: r
            .by_reason
            .iter()
            .map(|d| {
                vec![
                    Cell::text(&d.group_code),
                    Cell::text(&d.reason_code),
                    Cell::opt_text(d.reason_description.as_deref()),
                    count(d.claims),
                    Cell::Money(d.amount_cents),
                ]
            })
            .collect(),
    }
}

/// One row per remittance, with its trace number.
pub fn payments(r: &PaymentsReport) -> Table {
    Table {
        name: "Payments",
        headers: vec![
            "payment_date",
            "payer",
            "payer_edi_id",
            "trace_number",
            "payment_method",
            "total_paid",
            "posted_payments",
            "provider_adjustments",
            "claims_matched",
            "claims_unmatched",
            "remittance_id",
        ],
        rows: r
            .remittances
            .iter()
            .map(|p| {
                vec![
                    Cell::Date(p.payment_date),
                    Cell::opt_text(p.payer_name.as_deref()),
                    Cell::text(&p.payer_edi_id),
                    Cell::text(&p.trace_number),
                    Cell::opt_text(p.payment_method.as_deref()),
                    Cell::Money(p.total_paid_cents),
                    Cell::Money(p.posted_payment_cents),
                    Cell::Money(p.provider_adjustment_cents),
                    count(p.claims_matched),
                    count(p.claims_unmatched),
                    Cell::text(&p.remittance_id),
                ]
            })
            .collect(),
    }
}

/// Payments by payer and month.
pub fn payments_by_month(r: &PaymentsReport) -> Table {
    Table {
        name: "By payer and month",
        headers: vec![
            "payer",
            "payer_edi_id",
            "month",
            "remittances",
            "total_paid",
            "posted_payments",
            "trace_numbers",
        ],
        rows: r
            .by_payer_and_month
            .iter()
            .map(|p| {
                vec![
                    Cell::opt_text(p.payer_name.as_deref()),
                    Cell::text(&p.payer_edi_id),
                    Cell::text(&p.month),
                    count(p.remittances),
                    Cell::Money(p.total_paid_cents),
                    Cell::Money(p.posted_payment_cents),
                    Cell::text(p.trace_numbers.join(" ")),
                ]
            })
            .collect(),
    }
}

/// One row per batch.
pub fn batches(r: &BatchesReport) -> Table {
    Table {
        name: "Batches",
        headers: vec![
            "created_on",
            "submitted_on",
            "payer",
            "kind",
            "status",
            "interchange_control_number",
            "claims",
            "total_charge",
            "accepted",
            "rejected",
            "paid",
            "denied",
            "pending",
            "paid_amount",
            "batch_id",
        ],
        rows: r
            .batches
            .iter()
            .map(|b| {
                vec![
                    Cell::Date(b.created_on),
                    Cell::opt_date(b.submitted_on),
                    Cell::text(&b.payer_name),
                    Cell::text(&b.kind),
                    Cell::text(&b.status),
                    b.interchange_control_number.map_or(Cell::Empty, Cell::Int),
                    count(b.claims),
                    Cell::Money(b.total_charge_cents),
                    count(b.accepted),
                    count(b.rejected),
                    count(b.paid),
                    count(b.denied),
                    count(b.pending),
                    Cell::Money(b.paid_cents),
                    Cell::text(&b.batch_id),
                ]
            })
            .collect(),
    }
}
