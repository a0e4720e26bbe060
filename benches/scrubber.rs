//! The claim scrubber (`claims::scrubber::scrub`, a pure function of a snapshot): a clean
//! professional claim of 4 lines with 20 earlier claims of the same patient to check for
//! duplicates, and the same claim with findings (bad NPIs, a line outside the coverage, a
//! duplicate).
//!
//! `cargo bench --bench scrubber -- --quick`

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};

use officina::claims::scrubber::{
    Candidate, CoverageSnap, LineSnap, ProviderSnap, Snapshot, scrub,
};
use officina::directory::domain::ClaimKind;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
}

fn clean() -> Snapshot {
    let dos = d(2026, 9, 15);
    let lines: Vec<LineSnap> = ["99213", "85025", "80053", "36415"]
        .iter()
        .enumerate()
        .map(|(n, code)| LineSnap {
            procedure_code: (*code).into(),
            modifiers: if n == 0 { vec!["25".into()] } else { vec![] },
            pointers: vec![1, 2],
            units: 1,
            charge_cents: 2500 + 1000 * n as i64,
            service_date: dos,
            ..Default::default()
        })
        .collect();
    // Earlier visits of the same patient (other dates): candidates that do not duplicate.
    let candidates = (1..=20)
        .map(|k| Candidate {
            patient_control_number: format!("C{k:09}"),
            lines: lines
                .iter()
                .map(|l| (dos - chrono::Days::new(7 * k), l.procedure_code.clone()))
                .collect(),
        })
        .collect();
    Snapshot {
        today: d(2026, 11, 27),
        kind: ClaimKind::Professional,
        payer_claim_kind: ClaimKind::Professional,
        billing_npi: Some("1234567893".into()),
        rendering: Some(ProviderSnap {
            npi: "1245319599".into(),
            active: true,
        }),
        patient_birth_date: d(1984, 3, 12),
        coverage: CoverageSnap {
            member_id: "XJH123456789".into(),
            is_self: true,
            active: true,
            effective_from: Some(d(2026, 1, 1)),
            ..Default::default()
        },
        payer_timely_filing_days: Some(180),
        org_timely_filing_days: Some(365),
        pos_problem: None,
        diagnoses: vec!["E119".into(), "I10".into()],
        diagnosis_problems: vec![None, None],
        lines,
        candidates,
    }
}

fn with_findings() -> Snapshot {
    let mut s = clean();
    s.billing_npi = Some("1234567890".into());
    if let Some(r) = s.rendering.as_mut() {
        r.npi = "12345".into();
    }
    s.coverage.effective_to = Some(d(2026, 6, 30));
    let dup = s
        .lines
        .iter()
        .map(|l| (l.service_date, l.procedure_code.clone()))
        .collect();
    s.candidates.push(Candidate {
        patient_control_number: "CDUPLICATE".into(),
        lines: dup,
    });
    s
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("scrub");
    let ok = clean();
    assert!(scrub(&ok).is_empty(), "the clean claim has findings");
    g.bench_function("clean claim, 4 lines, 20 candidates", |b| {
        b.iter(|| black_box(scrub(black_box(&ok))))
    });
    let bad = with_findings();
    assert!(scrub(&bad).len() >= 3, "the bad claim has too few findings");
    g.bench_function("claim with findings", |b| {
        b.iter(|| black_box(scrub(black_box(&bad))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
