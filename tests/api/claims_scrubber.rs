//! The scrubber through the API: the main rules fire with their codes and field paths, and a
//! clean claim has no findings. (The pure unit tests in `src/claims/scrubber.rs` cover every rule.)

use officina::auth::Role;
use serde_json::json;

use crate::claims::{action, claim_body, codes, create, fixture, line, load_codes};
use crate::helpers::TestApp;

fn has(found: &[(String, String)], code: &str, field: &str) -> bool {
    found.iter().any(|(c, f)| c == code && f == field)
}

#[tokio::test]
async fn the_bad_input_of_the_issue_is_found_with_codes_and_paths() {
    let app = TestApp::spawn().await;
    load_codes(&app).await;
    let fx = fixture(&app, true).await;
    let org = &fx.org;
    let clean = create(&app, &fx, &claim_body(&fx)).await;
    let res = action(
        &app,
        org,
        Role::Biller,
        clean["id"].as_str().unwrap(),
        "validate",
        None,
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["findings"], json!([]));

    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1)).to_string();
    let body = json!({
        "kind": "professional", "patient_id": fx.patient, "coverage_id": fx.coverage,
        "diagnoses": ["E11", "I10", "E11.9", "Z00.00"],
        "lines": [
            {"procedure_code": "D0120", "diagnosis_pointers": [5], "units": 0, "charge_cents": -100,
             "service_date": "2026-09-10"},
            {"procedure_code": "99213", "modifiers": ["2"], "diagnosis_pointers": [1, 1], "units": 1,
             "charge_cents": 100, "service_date": tomorrow},
            {"procedure_code": "9921", "units": 1, "charge_cents": 100, "service_date": "1980-01-01"}
        ]
    });
    let c = create(&app, &fx, &body).await;
    let res = action(
        &app,
        org,
        Role::Clinician,
        c["id"].as_str().unwrap(),
        "validate",
        None,
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let found = codes(&res);
    for (code, field) in [
        ("dx_not_billable", "diagnoses[0]"),
        ("procedure_wrong_kind", "lines[0].procedure_code"),
        ("pointer_out_of_range", "lines[0].diagnosis_pointers[0]"),
        ("units_not_positive", "lines[0].units"),
        ("charge_not_positive", "lines[0].charge_cents"),
        ("modifier_format", "lines[1].modifiers[0]"),
        ("pointer_duplicate", "lines[1].diagnosis_pointers[1]"),
        ("service_date_future", "lines[1].service_date"),
        ("procedure_format", "lines[2].procedure_code"),
        ("line_without_pointer", "lines[2].diagnosis_pointers"),
        ("service_date_before_birth", "lines[2].service_date"),
        ("coverage_not_effective", "lines[2].service_date"),
        ("timely_filing", "lines[2].service_date"),
    ] {
        assert!(
            has(&found, code, field),
            "{code} at {field} missing: {found:?}"
        );
    }
    let f = res.body["findings"].as_array().unwrap();
    let tf = f.iter().find(|x| x["code"] == "timely_filing").unwrap();
    assert_eq!(tf["severity"], "warning");
    assert!(
        f.iter()
            .all(|x| x["message"].as_str().is_some_and(|m| !m.is_empty()))
    );

    // A second claim with the same patient, payer, date and codes is a duplicate.
    let dup = create(&app, &fx, &claim_body(&fx)).await;
    let res = action(
        &app,
        org,
        Role::Biller,
        dup["id"].as_str().unwrap(),
        "validate",
        None,
    )
    .await;
    assert!(
        has(&codes(&res), "duplicate_claim", "lines"),
        "{}",
        res.text
    );
    // Not once the first is void.
    let res = action(
        &app,
        org,
        Role::Manager,
        clean["id"].as_str().unwrap(),
        "void",
        None,
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = action(
        &app,
        org,
        Role::Biller,
        dup["id"].as_str().unwrap(),
        "validate",
        None,
    )
    .await;
    assert_eq!(res.body["findings"], json!([]));
}

#[tokio::test]
async fn billing_npi_subscriber_and_member_rules() {
    let app = TestApp::spawn().await;
    load_codes(&app).await;
    let fx = fixture(&app, false).await;
    let org = &fx.org;
    // A coverage where the patient is a child of the subscriber.
    let res = app
        .post(
            &format!("/api/v1/patients/{}/coverages", fx.patient),
            org.token(Role::Biller),
            &json!({"payer_id": fx.payer, "member_id": "M-2", "priority": "secondary", "relationship": "child",
                    "subscriber": {"first_name": "Rosa", "last_name": "Lopez", "birth_date": "1960-02-02", "sex": "F",
                                   "address": {"line1": "12 Main St", "city": "Springfield", "state": "IL", "postal_code": "62701"}},
                    "effective_from": "2026-01-01", "effective_to": "2026-06-30"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let mut body = claim_body(&fx);
    body["coverage_id"] = res.body["id"].clone();
    body["place_of_service"] = json!("98");
    let c = create(&app, &fx, &body).await;
    let res = action(
        &app,
        org,
        Role::Biller,
        c["id"].as_str().unwrap(),
        "validate",
        None,
    )
    .await;
    let found = codes(&res);
    assert!(
        has(&found, "billing_npi_missing", "billing_provider.npi"),
        "{found:?}"
    );
    assert!(
        has(&found, "coverage_not_effective", "lines[0].service_date"),
        "{found:?}"
    );
    assert!(has(&found, "pos_unknown", "place_of_service"), "{found:?}");
    assert!(
        !found.iter().any(|(c, _)| c == "subscriber_missing_field"),
        "{found:?}"
    );
    let res = action(
        &app,
        org,
        Role::Biller,
        c["id"].as_str().unwrap(),
        "finalize",
        None,
    )
    .await;
    res.assert_problem(422);
    assert!(res.body["findings"].as_array().unwrap().len() >= 3);
}

#[tokio::test]
async fn dental_teeth_and_surfaces() {
    let app = TestApp::spawn().await;
    load_codes(&app).await;
    let fx = fixture(&app, true).await;
    let org = &fx.org;
    let payer = app
        .post(
            "/api/v1/payers",
            org.token(Role::Admin),
            &json!({"name": "Smile Dental", "edi_id": "DENT1", "claim_kind": "dental"}),
        )
        .await;
    assert_eq!(payer.status, 201, "{}", payer.text);
    let p = crate::patients::create_patient(&app, org, "Tom", "Teeth", "2000-05-05").await;
    let pid = p["id"].as_str().unwrap();
    let cov = crate::claims::add_coverage(&app, org, pid, payer.body["id"].as_str().unwrap()).await;
    let dental_line = |tooth: &str, surfaces: serde_json::Value| {
        json!({"procedure_code": "D2391", "units": 1, "charge_cents": 18000, "service_date": "2026-09-15",
               "tooth": tooth, "surfaces": surfaces})
    };
    let body = json!({
        "kind": "dental", "patient_id": pid, "coverage_id": cov, "diagnoses": ["Z00.00"],
        "lines": [
            dental_line("30", json!(["M", "O"])),
            dental_line("33", json!(["M"])),
            dental_line("8", json!(["M", "O"])),
            dental_line("C", json!(["X", "I", "B"])),
            dental_line("3", json!(["M", "O", "D", "B", "L", "M"])),
            line("99213", "2026-09-15", 100)
        ]
    });
    let c = create(&app, &fx, &body).await;
    assert_eq!(c["lines"][0]["tooth"], "30");
    assert_eq!(c["lines"][0]["surfaces"], json!(["M", "O"]));
    let res = action(
        &app,
        org,
        Role::Biller,
        c["id"].as_str().unwrap(),
        "validate",
        None,
    )
    .await;
    let found = codes(&res);
    for (code, field) in [
        ("tooth_invalid", "lines[1].tooth"),
        ("surface_not_for_tooth", "lines[2].surfaces[1]"),
        ("surface_invalid", "lines[3].surfaces[0]"),
        ("surface_not_for_tooth", "lines[3].surfaces[2]"),
        ("too_many_surfaces", "lines[4].surfaces"),
        ("procedure_wrong_kind", "lines[5].procedure_code"),
    ] {
        assert!(
            has(&found, code, field),
            "{code} at {field} missing: {found:?}"
        );
    }
    assert!(
        !found.iter().any(|(_, f)| f.starts_with("lines[0]")),
        "{found:?}"
    );
    // A dental claim sent to a professional payer.
    let mut wrong = body.clone();
    wrong["coverage_id"] = json!(fx.coverage);
    wrong["patient_id"] = json!(fx.patient);
    wrong["lines"] = json!([dental_line("30", json!(["O"]))]);
    let c = create(&app, &fx, &wrong).await;
    let res = action(
        &app,
        org,
        Role::Biller,
        c["id"].as_str().unwrap(),
        "validate",
        None,
    )
    .await;
    assert!(
        has(&codes(&res), "payer_kind_mismatch", "kind"),
        "{}",
        res.text
    );
}
