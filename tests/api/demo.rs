//! `officina demo` seeds a practice a newcomer can explore, and seeding twice changes nothing.

use officina::auth::Role;
use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_demo_practice_has_every_kind_of_record_and_its_logins_work() {
    let app = TestApp::spawn().await;
    let db = app.db.clone();
    let logins = tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        let first = officina::demo::seed(&mut conn).unwrap();
        let second = officina::demo::seed(&mut conn).unwrap();
        assert_eq!(first.len(), second.len());
        first
    })
    .await
    .unwrap();
    assert_eq!(logins.len(), 6);
    let admin = logins.iter().find(|l| l.role == Role::Admin).unwrap();
    let res = app
        .request(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(&json!({"email": admin.email, "password": admin.password})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let token = res.body["access_token"].as_str().unwrap();
    let count = |body: &serde_json::Value| body["items"].as_array().map_or(0, Vec::len);
    assert_eq!(count(&app.get("/api/v1/patients", token).await.body), 5);
    assert_eq!(count(&app.get("/api/v1/payers", token).await.body), 2);
    assert_eq!(count(&app.get("/api/v1/providers", token).await.body), 2);
    let specimens = app.get("/api/v1/specimens?limit=100", token).await;
    let states: std::collections::BTreeSet<String> = specimens.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect();
    for s in ["ordered", "in_transit", "received", "verified", "rejected"] {
        assert!(
            states.contains(s),
            "no {s} specimen in the demo: {states:?}"
        );
    }
    let charges = app.get("/api/v1/charges?status=unbilled", token).await;
    assert_eq!(count(&charges.body), 1);
    // The charge is priced from the standard fee schedule (85025 CBC: $35.00).
    assert_eq!(charges.body["items"][0]["procedure_code"], "85025");
    assert_eq!(charges.body["items"][0]["amount_cents"], 3500);
    let claims = app.get("/api/v1/claims", token).await;
    let statuses: Vec<&str> = claims.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 8, "{}", claims.text);
    let with = |st: &str| statuses.iter().filter(|s| **s == st).count();
    assert_eq!(with("batched"), 1, "{statuses:?}");
    // The remittance: one paid, one partially paid, one denied; two submitted claims unpaid.
    assert_eq!(
        (
            with("paid"),
            with("partially_paid"),
            with("denied"),
            with("submitted")
        ),
        (1, 1, 1, 2),
        "{statuses:?}"
    );
    let batches = app.get("/api/v1/batches", token).await;
    let batch_states: Vec<&str> = batches.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        batch_states,
        ["pending_approval", "submitted"],
        "{}",
        batches.text
    );
    let remittances = app.get("/api/v1/remittances", token).await;
    assert_eq!(remittances.status, 200, "{}", remittances.text);
    let items = remittances.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", remittances.text);
    let r = &items[0];
    assert_eq!(r["claims_matched"], 3, "{}", remittances.text);
    assert_eq!(r["claims_unmatched"].as_array().unwrap().len(), 1);
    assert_eq!(r["plb"].as_array().unwrap().len(), 1);
    assert_eq!(r["imbalances"], json!([]), "{}", remittances.text);
    assert_eq!(r["adjustments_by_reason"]["CO:50"], 12500);
    assert_eq!(r["total_paid_cents"], 29325);
    let org = app.get("/api/v1/organization", token).await;
    assert_eq!(org.body["submitter_id"], "RIVERSIDE01");
}
