use officina::auth::Role;
use serde_json::{Value, json};

use crate::directory::payer_body;
use crate::helpers::{Org, TestApp};
use crate::patients::create_patient;

async fn payer(app: &TestApp, org: &Org) -> String {
    let res = app
        .post(
            "/api/v1/payers",
            org.token(Role::Admin),
            &payer_body("ACME1"),
        )
        .await;
    res.body["id"].as_str().unwrap().to_owned()
}

fn coverage(payer: &str, priority: &str, from: &str) -> Value {
    json!({"payer_id": payer, "member_id": "XJH123456789", "group_number": "G-100", "priority": priority,
           "relationship": "self", "effective_from": from})
}

#[tokio::test]
async fn a_self_coverage_is_added_and_listed() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let payer = payer(&app, &org).await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap();
    let res = app
        .post(
            &format!("/api/v1/patients/{pid}/coverages"),
            org.token(Role::Biller),
            &coverage(&payer, "primary", "2026-01-01"),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert!(res.body["subscriber"].is_null());
    let list = app
        .get(
            &format!("/api/v1/patients/{pid}/coverages"),
            org.token(Role::Clinician),
        )
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["items"][0]["priority"], "primary");
}

#[tokio::test]
async fn a_dependent_needs_the_subscribers_details_reported_by_path() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let payer = payer(&app, &org).await;
    let p = create_patient(&app, &org, "Timmy", "Lopez", "2015-06-01").await;
    let path = format!("/api/v1/patients/{}/coverages", p["id"].as_str().unwrap());
    let mut body = coverage(&payer, "primary", "2026-01-01");
    body["relationship"] = json!("child");
    let missing = app.post(&path, org.token(Role::Biller), &body).await;
    missing.assert_problem(422);
    assert_eq!(missing.error_fields(), ["subscriber"]);
    body["subscriber"] = json!({"first_name": "Maria", "birth_date": "3000-01-01", "sex": "F",
                                "address": {"line1": "12 Main St", "city": "Springfield", "state": "IL"}});
    let partial = app.post(&path, org.token(Role::Biller), &body).await;
    partial.assert_problem(422);
    assert_eq!(
        partial.error_fields(),
        [
            "subscriber.last_name",
            "subscriber.birth_date",
            "subscriber.address.postal_code"
        ]
    );
    body["subscriber"]["last_name"] = json!("Lopez");
    body["subscriber"]["birth_date"] = json!("1984-03-12");
    body["subscriber"]["address"]["postal_code"] = json!("62701");
    let ok = app.post(&path, org.token(Role::Biller), &body).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert_eq!(ok.body["subscriber"]["last_name"], "Lopez");
}

#[tokio::test]
async fn coverage_fields_are_all_checked_including_an_unknown_payer() {
    let app = TestApp::spawn().await;
    let a = app.seed_org("A").await;
    let b = app.seed_org("B").await;
    let other_orgs_payer = payer(&app, &b).await;
    let p = create_patient(&app, &a, "Maria", "Lopez", "1984-03-12").await;
    let path = format!("/api/v1/patients/{}/coverages", p["id"].as_str().unwrap());
    let res = app
        .post(
            &path,
            a.token(Role::Biller),
            &json!({"payer_id": other_orgs_payer, "member_id": "bad id!", "priority": "fourth",
            "relationship": "self", "effective_from": "2026-02-01", "effective_to": "2026-01-01"}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(
        res.error_fields(),
        ["payer_id", "member_id", "priority", "effective_to"]
    );
}

#[tokio::test]
async fn only_one_active_coverage_per_priority_at_a_time() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let payer = payer(&app, &org).await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let path = format!("/api/v1/patients/{}/coverages", p["id"].as_str().unwrap());
    let tok = org.token(Role::Biller);
    let first = app
        .post(&path, tok, &coverage(&payer, "primary", "2026-01-01"))
        .await;
    let clash = app
        .post(&path, tok, &coverage(&payer, "primary", "2026-06-01"))
        .await;
    clash.assert_problem(409);
    assert_eq!(clash.body["conflicting_coverage_id"], first.body["id"]);
    assert_eq!(
        app.post(&path, tok, &coverage(&payer, "secondary", "2026-06-01"))
            .await
            .status,
        201
    );
    // End the first coverage; a new primary can start the day after.
    let cid = first.body["id"].as_str().unwrap();
    let ended = app
        .patch(
            &format!("{path}/{cid}"),
            tok,
            &json!({"effective_to": "2026-05-31", "version": 1}),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.text);
    assert_eq!(
        app.post(&path, tok, &coverage(&payer, "primary", "2026-06-01"))
            .await
            .status,
        201
    );
    let list = app.get(&path, tok).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn lab_clinician_and_auditor_read_coverage_but_cannot_edit_it() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let payer = payer(&app, &org).await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let path = format!("/api/v1/patients/{}/coverages", p["id"].as_str().unwrap());
    let created = app
        .post(
            &path,
            org.token(Role::Manager),
            &coverage(&payer, "primary", "2026-01-01"),
        )
        .await;
    let cid = created.body["id"].as_str().unwrap();
    for role in [Role::Lab, Role::Clinician, Role::Auditor] {
        app.post(
            &path,
            org.token(role),
            &coverage(&payer, "secondary", "2026-01-01"),
        )
        .await
        .assert_problem(403);
        app.patch(
            &format!("{path}/{cid}"),
            org.token(role),
            &json!({"member_id": "X1", "version": 1}),
        )
        .await
        .assert_problem(403);
        assert_eq!(
            app.get(&format!("{path}/{cid}"), org.token(role))
                .await
                .status,
            200
        );
    }
}

#[tokio::test]
async fn a_coverage_of_another_patient_or_organization_is_404() {
    let app = TestApp::spawn().await;
    let a = app.seed_org("A").await;
    let b = app.seed_org("B").await;
    let payer = payer(&app, &a).await;
    let p1 = create_patient(&app, &a, "Maria", "Lopez", "1984-03-12").await;
    let p2 = create_patient(&app, &a, "John", "Smith", "1950-01-01").await;
    let (id1, id2) = (p1["id"].as_str().unwrap(), p2["id"].as_str().unwrap());
    let c = app
        .post(
            &format!("/api/v1/patients/{id1}/coverages"),
            a.token(Role::Biller),
            &coverage(&payer, "primary", "2026-01-01"),
        )
        .await;
    let cid = c.body["id"].as_str().unwrap();
    app.get(
        &format!("/api/v1/patients/{id2}/coverages/{cid}"),
        a.token(Role::Biller),
    )
    .await
    .assert_problem(404);
    app.get(
        &format!("/api/v1/patients/{id1}/coverages/{cid}"),
        b.token(Role::Admin),
    )
    .await
    .assert_problem(404);
    app.post(
        &format!("/api/v1/patients/{id1}/coverages"),
        b.token(Role::Biller),
        &coverage(&payer, "primary", "2026-01-01"),
    )
    .await
    .assert_problem(404);
}
