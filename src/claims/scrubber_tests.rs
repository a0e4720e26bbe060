//! Unit tests of the scrubber: one per rule that triggers it, and a clean claim with none.

use super::*;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn clean() -> Snapshot {
    Snapshot {
        today: d("2026-11-27"),
        kind: ClaimKind::Professional,
        payer_claim_kind: ClaimKind::Professional,
        billing_npi: Some("1234567893".into()),
        rendering: Some(ProviderSnap {
            npi: "1245319599".into(),
            active: true,
        }),
        patient_birth_date: d("1984-03-12"),
        coverage: CoverageSnap {
            member_id: "XJH123".into(),
            is_self: true,
            active: true,
            effective_from: Some(d("2026-01-01")),
            ..Default::default()
        },
        payer_timely_filing_days: Some(180),
        org_timely_filing_days: Some(365),
        pos_problem: None,
        diagnoses: vec!["E119".into(), "I10".into()],
        diagnosis_problems: vec![None, None],
        lines: vec![LineSnap {
            procedure_code: "99213".into(),
            modifiers: vec!["25".into()],
            pointers: vec![1, 2],
            units: 1,
            charge_cents: 12500,
            service_date: d("2026-09-15"),
            ..Default::default()
        }],
        candidates: vec![],
    }
}

fn dental() -> Snapshot {
    let mut s = clean();
    s.kind = ClaimKind::Dental;
    s.payer_claim_kind = ClaimKind::Dental;
    s.lines[0].procedure_code = "D2391".into();
    s.lines[0].modifiers.clear();
    s.lines[0].tooth = Some("30".into());
    s.lines[0].surfaces = vec!["M".into(), "O".into()];
    s
}

fn codes(s: &Snapshot) -> Vec<(String, String)> {
    scrub(s).into_iter().map(|f| (f.code, f.field)).collect()
}

fn fires(s: &Snapshot, code: &str, field: &str) {
    let all = codes(s);
    assert!(
        all.iter().any(|(c, f)| c == code && f == field),
        "expected {code} at {field}, got {all:?}"
    );
}

fn problem(reason: CheckFailure) -> Option<CodeProblem> {
    Some(CodeProblem {
        reason,
        message: "x".into(),
    })
}

#[test]
fn a_clean_claim_has_no_findings() {
    assert_eq!(scrub(&clean()), vec![]);
    assert_eq!(scrub(&dental()), vec![]);
}

#[test]
fn every_code_is_documented() {
    let documented: HashSet<&str> = CODES.iter().map(|c| c.0).collect();
    let src = include_str!("scrubber.rs");
    for (code, _, _) in CODES {
        assert!(
            src.matches(&format!("\"{code}\"")).count() >= 2,
            "{code} is never produced"
        );
    }
    assert_eq!(documented.len(), CODES.len());
}

#[test]
fn billing_npi_missing_and_check_digit() {
    let mut s = clean();
    s.billing_npi = None;
    fires(&s, "billing_npi_missing", "billing_provider.npi");
    s.billing_npi = Some("1234567890".into());
    fires(&s, "npi_check_digit", "billing_provider.npi");
}

#[test]
fn rendering_npi_and_inactive() {
    let mut s = clean();
    s.rendering = Some(ProviderSnap {
        npi: "1234567890".into(),
        active: false,
    });
    fires(&s, "rendering_npi_check_digit", "rendering_provider_id");
    let f = scrub(&s);
    let w = f
        .iter()
        .find(|f| f.code == "rendering_provider_inactive")
        .unwrap();
    assert_eq!(w.severity, Severity::Warning);
}

#[test]
fn member_id_and_subscriber_fields() {
    let mut s = clean();
    s.coverage.member_id = " ".into();
    fires(&s, "member_id_missing", "coverage.member_id");
    s.coverage.is_self = false;
    s.coverage.subscriber_first_name = Some("Ana".into());
    fires(
        &s,
        "subscriber_missing_field",
        "coverage.subscriber.last_name",
    );
    fires(
        &s,
        "subscriber_missing_field",
        "coverage.subscriber.birth_date",
    );
    fires(
        &s,
        "subscriber_missing_field",
        "coverage.subscriber.address.postal_code",
    );
    assert!(
        !codes(&s)
            .iter()
            .any(|(_, f)| f == "coverage.subscriber.first_name")
    );
}

#[test]
fn coverage_not_effective() {
    let mut s = clean();
    s.coverage.effective_to = Some(d("2026-06-30"));
    fires(&s, "coverage_not_effective", "lines[0].service_date");
    let mut s = clean();
    s.coverage.active = false;
    fires(&s, "coverage_not_effective", "lines[0].service_date");
}

#[test]
fn payer_kind_mismatch_and_pos() {
    let mut s = clean();
    s.payer_claim_kind = ClaimKind::Dental;
    fires(&s, "payer_kind_mismatch", "kind");
    s.pos_problem = problem(CheckFailure::UnknownCode);
    fires(&s, "pos_unknown", "place_of_service");
}

#[test]
fn diagnosis_rules() {
    let mut s = clean();
    s.diagnoses.clear();
    s.diagnosis_problems.clear();
    s.lines[0].pointers.clear();
    fires(&s, "dx_missing", "diagnoses");
    let mut s = clean();
    s.diagnoses = (0..13).map(|i| format!("E11{i}")).collect();
    s.diagnosis_problems = vec![None; 13];
    fires(&s, "dx_limit", "diagnoses");
    let mut s = clean();
    s.diagnosis_problems = vec![
        problem(CheckFailure::NotBillable),
        problem(CheckFailure::UnknownCode),
    ];
    fires(&s, "dx_not_billable", "diagnoses[0]");
    fires(&s, "dx_unknown", "diagnoses[1]");
    s.diagnosis_problems = vec![
        problem(CheckFailure::InvalidFormat),
        problem(CheckFailure::NotEffective),
    ];
    fires(&s, "dx_format", "diagnoses[0]");
    fires(&s, "dx_not_effective", "diagnoses[1]");
    let mut s = clean();
    s.diagnoses = vec!["E119".into(), "E119".into()];
    fires(&s, "dx_duplicate", "diagnoses[1]");
    assert!(!has_errors(&scrub(&s)));
}

#[test]
fn line_count_rules() {
    let mut s = clean();
    s.lines.clear();
    fires(&s, "lines_missing", "lines");
    let mut s = clean();
    s.lines = (0..51).map(|_| clean().lines[0].clone()).collect();
    fires(&s, "line_limit", "lines");
}

#[test]
fn procedure_rules() {
    let mut s = clean();
    s.lines[0].procedure_code = "9921".into();
    fires(&s, "procedure_format", "lines[0].procedure_code");
    s.lines[0].procedure_code = "D0120".into();
    fires(&s, "procedure_wrong_kind", "lines[0].procedure_code");
    let mut s = dental();
    s.lines[0].procedure_code = "99213".into();
    fires(&s, "procedure_wrong_kind", "lines[0].procedure_code");
    let mut s = clean();
    s.lines[0].procedure_problem = problem(CheckFailure::UnknownCode);
    fires(&s, "procedure_unknown", "lines[0].procedure_code");
    s.lines[0].procedure_problem = problem(CheckFailure::NotEffective);
    fires(&s, "procedure_not_effective", "lines[0].procedure_code");
}

#[test]
fn modifier_rules() {
    let mut s = clean();
    s.lines[0].modifiers = vec!["25".into(), "2".into()];
    fires(&s, "modifier_format", "lines[0].modifiers[1]");
    s.lines[0].modifiers = vec!["25".into(); 5];
    fires(&s, "modifier_limit", "lines[0].modifiers");
}

#[test]
fn pointer_rules() {
    let mut s = clean();
    s.lines[0].pointers = vec![1, 5];
    fires(&s, "pointer_out_of_range", "lines[0].diagnosis_pointers[1]");
    s.lines[0].pointers = vec![0];
    fires(&s, "pointer_out_of_range", "lines[0].diagnosis_pointers[0]");
    s.lines[0].pointers = vec![2, 2];
    fires(&s, "pointer_duplicate", "lines[0].diagnosis_pointers[1]");
    s.lines[0].pointers = vec![1, 2, 1, 2, 1];
    fires(&s, "pointer_limit", "lines[0].diagnosis_pointers");
    s.lines[0].pointers.clear();
    fires(&s, "line_without_pointer", "lines[0].diagnosis_pointers");
    let mut s = dental();
    s.lines[0].pointers.clear();
    assert_eq!(scrub(&s), vec![], "dental lines need no pointer");
}

#[test]
fn units_and_charge_rules() {
    let mut s = clean();
    s.lines[0].units = 0;
    s.lines[0].charge_cents = -100;
    fires(&s, "units_not_positive", "lines[0].units");
    fires(&s, "charge_not_positive", "lines[0].charge_cents");
}

#[test]
fn date_rules() {
    let mut s = clean();
    s.lines[0].service_date = d("2026-11-28");
    fires(&s, "service_date_future", "lines[0].service_date");
    s.lines[0].service_date = d("1984-03-11");
    fires(&s, "service_date_before_birth", "lines[0].service_date");
}

#[test]
fn timely_filing_is_a_warning_using_the_payer_then_org_limit() {
    let mut s = clean();
    s.lines[0].service_date = d("2026-05-01");
    let f = scrub(&s);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code, "timely_filing");
    assert_eq!(f[0].severity, Severity::Warning);
    s.payer_timely_filing_days = None;
    assert_eq!(scrub(&s), vec![]);
    s.org_timely_filing_days = None;
    s.lines[0].service_date = d("2025-11-01");
    fires(&s, "timely_filing", "lines[0].service_date");
}

#[test]
fn tooth_and_surface_rules() {
    let mut s = dental();
    s.lines[0].tooth = Some("33".into());
    fires(&s, "tooth_invalid", "lines[0].tooth");
    let mut s = dental();
    s.lines[0].tooth = Some("8".into());
    fires(&s, "surface_not_for_tooth", "lines[0].surfaces[1]");
    s.lines[0].surfaces = vec!["I".into(), "F".into()];
    assert_eq!(scrub(&s), vec![]);
    s.lines[0].tooth = Some("3".into());
    fires(&s, "surface_not_for_tooth", "lines[0].surfaces[0]");
    let mut s = dental();
    s.lines[0].surfaces = vec!["X".into()];
    fires(&s, "surface_invalid", "lines[0].surfaces[0]");
    s.lines[0].surfaces = ["M", "O", "D", "B", "L", "M"]
        .iter()
        .map(|x| x.to_string())
        .collect();
    fires(&s, "too_many_surfaces", "lines[0].surfaces");
    s.lines[0].tooth = None;
    fires(&s, "surface_without_tooth", "lines[0].surfaces");
}

#[test]
fn duplicate_claim() {
    let mut s = clean();
    s.candidates = vec![
        Candidate {
            patient_control_number: "C0000001".into(),
            lines: vec![(d("2026-09-15"), "99214".into())],
        },
        Candidate {
            patient_control_number: "C0000002".into(),
            lines: vec![(d("2026-09-15"), "99213".into())],
        },
    ];
    let f = scrub(&s);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code, "duplicate_claim");
    assert!(f[0].message.contains("C0000002"));
}
