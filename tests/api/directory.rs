use officina::auth::Role;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Org, TestApp};

pub fn payer_body(edi: &str) -> serde_json::Value {
    json!({"name": "Acme Health", "edi_id": edi, "claim_kind": "professional", "receiver_edi_id": "CLEARHOUSE1", "receiver_name": "Clearing House", "timely_filing_days": 180})
}

pub fn provider_body(npi: &str) -> serde_json::Value {
    json!({"kind": "individual", "npi": npi, "first_name": "Ada", "last_name": "Okafor", "taxonomy_code": "207q00000x"})
}

/// A provider of `org` ([`provider_body`]), created by its admin: its id.
pub async fn create_provider(app: &TestApp, org: &Org, npi: &str) -> String {
    let res = app
        .post(
            "/api/v1/providers",
            org.token(Role::Admin),
            &provider_body(npi),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_provider_with_a_valid_npi_is_created_and_read() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = app
        .post(
            "/api/v1/providers",
            org.token(Role::Admin),
            &provider_body("1234567893"),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["taxonomy_code"], "207Q00000X");
    let id = res.body["id"].as_str().unwrap();
    let got = app
        .get(&format!("/api/v1/providers/{id}"), org.token(Role::Lab))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["npi"], "1234567893");
}

#[tokio::test]
async fn a_wrong_npi_check_digit_is_422_naming_npi() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = app
        .post(
            "/api/v1/providers",
            org.token(Role::Admin),
            &provider_body("1234567890"),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["npi"]);
    assert_eq!(res.body["errors"][0]["code"], "invalid_npi");
}

#[tokio::test]
async fn provider_rules_are_reported_together() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = app
        .post(
            "/api/v1/providers",
            org.token(Role::Admin),
            &json!({"kind": "individual", "npi": "123", "taxonomy_code": "bad"}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(
        res.error_fields(),
        ["npi", "taxonomy_code", "first_name", "last_name"]
    );
    let res = app
        .post(
            "/api/v1/providers",
            org.token(Role::Admin),
            &json!({"kind": "organization", "npi": "1234567893"}),
        )
        .await;
    assert_eq!(res.error_fields(), ["organization_name"]);
}

#[tokio::test]
async fn an_npi_is_unique_per_organization_only() {
    let app = TestApp::spawn().await;
    let a = app.seed_org("A").await;
    let b = app.seed_org("B").await;
    assert_eq!(
        app.post(
            "/api/v1/providers",
            a.token(Role::Admin),
            &provider_body("1234567893")
        )
        .await
        .status,
        201
    );
    let dup = app
        .post(
            "/api/v1/providers",
            a.token(Role::Manager),
            &provider_body("1234567893"),
        )
        .await;
    dup.assert_problem(422);
    assert_eq!(dup.body["errors"][0]["code"], "taken");
    assert_eq!(
        app.post(
            "/api/v1/providers",
            b.token(Role::Admin),
            &provider_body("1234567893")
        )
        .await
        .status,
        201
    );
}

#[tokio::test]
async fn providers_and_payers_are_maintained_by_admin_and_manager_only() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    for role in [Role::Biller, Role::Lab, Role::Clinician, Role::Auditor] {
        app.post(
            "/api/v1/providers",
            org.token(role),
            &provider_body("1234567893"),
        )
        .await
        .assert_problem(403);
        app.post("/api/v1/payers", org.token(role), &payer_body("ACME1"))
            .await
            .assert_problem(403);
        assert_eq!(app.get("/api/v1/payers", org.token(role)).await.status, 200);
        assert_eq!(
            app.get("/api/v1/providers", org.token(role)).await.status,
            200
        );
    }
}

#[tokio::test]
async fn a_payer_is_created_listed_and_changed_with_its_version() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = app
        .post(
            "/api/v1/payers",
            org.token(Role::Manager),
            &payer_body("acme1"),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["edi_id"], "ACME1");
    let id = res.body["id"].as_str().unwrap().to_owned();
    let no_version = app
        .patch(
            &format!("/api/v1/payers/{id}"),
            org.token(Role::Admin),
            &json!({"name": "Acme"}),
        )
        .await;
    no_version.assert_problem(428);
    let changed = app
        .patch(
            &format!("/api/v1/payers/{id}"),
            org.token(Role::Admin),
            &json!({"name": "Acme Health Plan", "version": 1}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body["name"], "Acme Health Plan");
    assert_eq!(changed.body["edi_id"], "ACME1");
    assert_eq!(changed.body["timely_filing_days"], 180);
    let stale = app
        .patch(
            &format!("/api/v1/payers/{id}"),
            org.token(Role::Admin),
            &json!({"name": "Stale", "version": 1}),
        )
        .await;
    stale.assert_problem(409);
    let list = app
        .get(
            "/api/v1/payers?name=health&claim_kind=professional",
            org.token(Role::Biller),
        )
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let none = app
        .get("/api/v1/payers?claim_kind=dental", org.token(Role::Biller))
        .await;
    assert!(none.body["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn payer_field_errors_come_back_at_once() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = app
        .post(
            "/api/v1/payers",
            org.token(Role::Admin),
            &json!({"edi_id": "A*", "claim_kind": "vision", "receiver_edi_id": "WAY-TOO-LONG-RECEIVER", "timely_filing_days": 0}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(
        res.error_fields(),
        [
            "name",
            "edi_id",
            "claim_kind",
            "receiver_edi_id",
            "timely_filing_days"
        ]
    );
}

#[tokio::test]
async fn another_organizations_payers_and_providers_are_404() {
    let app = TestApp::spawn().await;
    let a = app.seed_org("A").await;
    let b = app.seed_org("B").await;
    let payer = app
        .post("/api/v1/payers", a.token(Role::Admin), &payer_body("ACME1"))
        .await;
    let prov = app
        .post(
            "/api/v1/providers",
            a.token(Role::Admin),
            &provider_body("1234567893"),
        )
        .await;
    let (pid, vid) = (
        payer.body["id"].as_str().unwrap(),
        prov.body["id"].as_str().unwrap(),
    );
    app.get(&format!("/api/v1/payers/{pid}"), b.token(Role::Admin))
        .await
        .assert_problem(404);
    app.get(&format!("/api/v1/providers/{vid}"), b.token(Role::Admin))
        .await
        .assert_problem(404);
    app.patch(
        &format!("/api/v1/payers/{pid}"),
        b.token(Role::Admin),
        &json!({"name": "X", "version": 1}),
    )
    .await
    .assert_problem(404);
    let list = app.get("/api/v1/payers", b.token(Role::Admin)).await;
    assert!(list.body["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn payers_export_as_csv() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    app.post(
        "/api/v1/payers",
        org.token(Role::Admin),
        &payer_body("ACME1"),
    )
    .await;
    let mut dental = payer_body("DELTA1");
    dental["claim_kind"] = json!("dental");
    dental["name"] = json!("=Delta Dental");
    app.post("/api/v1/payers", org.token(Role::Admin), &dental)
        .await;
    let res = app
        .client
        .request(Method::GET, format!("{}/api/v1/payers", app.address))
        .bearer_auth(org.token(Role::Biller))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = res.text().await.unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    assert_eq!(&headers[1], "name");
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    // A name that looks like a formula cannot run in a spreadsheet.
    assert!(rows.iter().any(|r| &r[1] == "'=Delta Dental"));
}
