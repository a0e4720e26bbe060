//! The 837 writer (`billing::x12::writer::write_837`, a pure function) on a realistic batch:
//! professional claims of 4 lines, 2 diagnoses, a rendering provider, one patient in five not the
//! subscriber (the shape `bench/run` sends through the API).
//!
//! `cargo bench --bench x12_837 -- --quick`

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use officina::billing::x12::writer::{
    Address, BillingProvider, Claim837, Interchange, Line837, Person, Receiver, Rendering,
    Submitter, write_837,
};
use officina::directory::domain::ClaimKind;

fn address(i: usize) -> Address {
    Address {
        line1: format!("{} Main Street", 100 + i),
        line2: i.is_multiple_of(3).then(|| "Apt 4B".to_owned()),
        city: "Hartford".into(),
        state: "CT".into(),
        postal_code: "061031234".into(),
    }
}

fn person(i: usize) -> Person {
    Person {
        last_name: format!("Patient{i}"),
        first_name: "Bench".into(),
        middle_name: None,
        birth_date: NaiveDate::from_ymd_opt(1950 + (i % 50) as i32, 1 + (i % 12) as u32, 1)
            .unwrap_or_default(),
        sex: if i.is_multiple_of(2) { "F" } else { "M" }.into(),
        address: address(i),
    }
}

fn interchange() -> Interchange {
    Interchange {
        kind: ClaimKind::Professional,
        control_number: 42,
        at: NaiveDate::from_ymd_opt(2026, 11, 27)
            .and_then(|d| d.and_hms_opt(15, 30, 0))
            .unwrap_or_default(),
        test: false,
        submitter: Submitter {
            id: "SUBMITTERID".into(),
            name: "Bench Clinic".into(),
            contact_name: "Billing Office".into(),
            contact_phone: Some("(860) 555-1212".into()),
            contact_email: Some("billing@example.org".into()),
        },
        receiver: Receiver {
            id: "ACME1".into(),
            name: "Acme Health".into(),
        },
        billing_provider: BillingProvider {
            name: "Bench Clinic".into(),
            npi: "1234567893".into(),
            tax_id: "12-3456789".into(),
            taxonomy_code: Some("207Q00000X".into()),
            address: address(0),
        },
    }
}

fn claim(i: usize) -> Claim837 {
    let day = NaiveDate::from_ymd_opt(2025, 10, 1).unwrap_or_default()
        + chrono::Days::new((i / 100) as u64);
    let lines: Vec<Line837> = ["99213", "85025", "80053", "36415"]
        .iter()
        .enumerate()
        .map(|(n, code)| Line837 {
            procedure_code: (*code).into(),
            modifiers: if n == 0 { vec!["25".into()] } else { vec![] },
            diagnosis_pointers: vec![1, 2],
            units: 1,
            charge_cents: 2500 + 1000 * n as i64,
            service_date: day,
            place_of_service: None,
            tooth: None,
            surfaces: vec![],
            oral_cavity_area: None,
            control_number: format!("L{i:08}{n}"),
        })
        .collect();
    Claim837 {
        subscriber: person(i),
        member_id: format!("XJH{i:09}"),
        group_number: Some("GRP100".into()),
        payer_responsibility: 'P',
        patient: i
            .is_multiple_of(5)
            .then(|| (person(i + 1), "19".to_owned())),
        payer_name: "Acme Health".into(),
        payer_id: "ACME1".into(),
        patient_control_number: format!("C{i:09}"),
        total_charge_cents: lines.iter().map(|l| l.charge_cents).sum(),
        place_of_service: "11".into(),
        frequency_code: "1".into(),
        payer_claim_number: None,
        prior_authorization: None,
        diagnoses: vec!["E119".into(), "I10".into()],
        rendering: Some(Rendering {
            is_person: true,
            last_name: "Welby".into(),
            first_name: Some("Marcus".into()),
            npi: "1245319599".into(),
            taxonomy_code: Some("207Q00000X".into()),
        }),
        lines,
    }
}

fn bench(c: &mut Criterion) {
    let ix = interchange();
    let mut g = c.benchmark_group("write_837");
    for n in [1_000usize, 10_000] {
        let claims: Vec<Claim837> = (0..n).map(claim).collect();
        let mut out = Vec::with_capacity(n * 1024);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("{n} claims x 4 lines"), |b| {
            b.iter(|| {
                out.clear();
                write_837(&mut out, &ix, black_box(&claims)).unwrap_or_default();
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
