use officina::auth::Role;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_admin_sets_billing_and_x12_settings() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let current = app
        .get("/api/v1/organization", org.token(Role::Biller))
        .await;
    assert_eq!(current.status, 200);
    assert_eq!(current.body["accession_prefix"], "L");
    assert_eq!(current.body["default_place_of_service"], "11");
    assert_eq!(current.body["timely_filing_days"], 365);
    let res = app
        .patch(
            "/api/v1/organization",
            org.token(Role::Admin),
            &json!({"name": "Riverside Family Practice", "npi": "1234567893", "tax_id": "12-3456789",
                    "taxonomy_code": "207Q00000X", "submitter_id": "RIVERSIDE01", "submitter_name": "Riverside FP",
                    "contact_name": "Billing Office", "contact_phone": "217-555-0100", "accession_prefix": "rf",
                    "address": {"line1": "1 River Rd", "city": "Springfield", "state": "IL", "postal_code": "62701"},
                    "version": 1}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["tax_id"], "123456789");
    assert_eq!(res.body["accession_prefix"], "RF");
    assert_eq!(res.body["contact_phone"], "2175550100");
    assert_eq!(res.body["address"]["city"], "Springfield");
    assert_eq!(res.body["version"], 2);
}

#[tokio::test]
async fn bad_settings_are_all_reported_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = app
        .patch(
            "/api/v1/organization",
            org.token(Role::Admin),
            &json!({"npi": "1234567890", "tax_id": "1234", "accession_prefix": "L1", "default_place_of_service": "1",
                    "timely_filing_days": 0, "version": 1}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(
        res.error_fields(),
        [
            "npi",
            "tax_id",
            "accession_prefix",
            "default_place_of_service",
            "timely_filing_days"
        ]
    );
    let after = app
        .get("/api/v1/organization", org.token(Role::Admin))
        .await;
    assert_eq!(after.body["version"], 1);
}

#[tokio::test]
async fn only_the_admin_changes_settings() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    for role in [
        Role::Manager,
        Role::Biller,
        Role::Lab,
        Role::Clinician,
        Role::Auditor,
    ] {
        app.patch(
            "/api/v1/organization",
            org.token(role),
            &json!({"name": "X", "version": 1}),
        )
        .await
        .assert_problem(403);
    }
    app.patch(
        "/api/v1/organization",
        org.token(Role::Admin),
        &json!({"name": "X", "version": 9}),
    )
    .await
    .assert_problem(409);
}
