use officina::auth::Role;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn a_change_writes_an_audit_row_with_actor_and_request_id() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = app
        .post(
            "/api/v1/users",
            org.token(Role::Admin),
            &json!({"email": "new@example.org", "name": "New", "role": "lab", "password": "a-long-enough-password"}),
        )
        .await;
    assert_eq!(res.status, 201);
    let user_id = res.body["id"].as_str().unwrap();
    let request_id = res.headers["x-request-id"].to_str().unwrap();
    let audit = app
        .get(
            &format!("/api/v1/audit-events?entity=user&entity_id={user_id}"),
            org.token(Role::Auditor),
        )
        .await;
    assert_eq!(audit.status, 200);
    let items = audit.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["action"], "user.create");
    assert_eq!(items[0]["actor_id"], org.user(Role::Admin).to_string());
    assert_eq!(items[0]["request_id"], request_id);
    // Field names, never values.
    let patch = app
        .patch(
            &format!("/api/v1/users/{user_id}"),
            org.token(Role::Admin),
            &json!({"name": "Renamed Person"}),
        )
        .await;
    assert_eq!(patch.status, 200);
    let audit = app
        .get(
            &format!("/api/v1/audit-events?action=user.update&entity_id={user_id}"),
            org.token(Role::Admin),
        )
        .await;
    let items = audit.body["items"].as_array().unwrap();
    assert_eq!(items[0]["detail"], json!({"changed": ["name"]}));
    assert!(!audit.text.contains("Renamed Person"));
}

#[tokio::test]
async fn a_failed_change_writes_no_audit_row() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let before = app
        .get("/api/v1/audit-events?limit=500", org.token(Role::Admin))
        .await;
    let res = app
        .post("/api/v1/users", org.token(Role::Admin), &json!({"email": org.emails[&Role::Lab], "name": "Dup", "role": "lab", "password": "a-long-enough-password"}))
        .await;
    res.assert_problem(422);
    let after = app
        .get("/api/v1/audit-events?limit=500", org.token(Role::Admin))
        .await;
    assert_eq!(before.body["items"], after.body["items"]);
}

#[tokio::test]
async fn audit_events_are_only_for_admin_and_auditor_and_only_their_organization() {
    let app = TestApp::spawn().await;
    let a = app.seed_org("Clinic A").await;
    let b = app.seed_org("Clinic B").await;
    for role in [Role::Manager, Role::Biller, Role::Lab, Role::Clinician] {
        app.get("/api/v1/audit-events", a.token(role))
            .await
            .assert_problem(403);
    }
    let a_lab = a.user(Role::Lab);
    let seen_by_b = app
        .get(
            &format!("/api/v1/audit-events?entity_id={a_lab}"),
            b.token(Role::Admin),
        )
        .await;
    assert_eq!(seen_by_b.status, 200);
    assert!(seen_by_b.body["items"].as_array().unwrap().is_empty());
    let seen_by_a = app
        .get(
            &format!("/api/v1/audit-events?entity_id={a_lab}"),
            a.token(Role::Auditor),
        )
        .await;
    assert_eq!(seen_by_a.body["items"].as_array().unwrap().len(), 1);
    let all_b = app
        .get("/api/v1/audit-events?limit=500", b.token(Role::Auditor))
        .await;
    let a_users: Vec<String> = a.users.values().map(|u| u.to_string()).collect();
    for item in all_b.body["items"].as_array().unwrap() {
        assert!(!a_users.contains(&item["entity_id"].as_str().unwrap_or("").to_owned()));
    }
}

#[tokio::test]
async fn audit_filters_are_checked() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = app
        .get(
            "/api/v1/audit-events?from=yesterday&limit=9999",
            org.token(Role::Admin),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["from", "limit"]);
    let res = app
        .get(
            "/api/v1/audit-events?from=2020-01-01&to=2100-01-01T00:00:00Z",
            org.token(Role::Admin),
        )
        .await;
    assert_eq!(res.status, 200);
    assert!(!res.body["items"].as_array().unwrap().is_empty());
}
