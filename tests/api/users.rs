use officina::auth::Role;
use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

fn new_user(email: &str) -> serde_json::Value {
    json!({"email": email, "name": "Nora Nurse", "role": "clinician", "password": "a-long-enough-password"})
}

#[tokio::test]
async fn admin_creates_a_user_who_can_log_in() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = app
        .post(
            "/api/v1/users",
            org.token(Role::Admin),
            &new_user("Nora@Clinic.example"),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["email"], "nora@clinic.example");
    assert_eq!(res.body["role"], "clinician");
    assert_eq!(res.body["version"], 1);
    assert_eq!(res.headers["etag"], "\"1\"");
    let login = app
        .request(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(&json!({"email": "nora@clinic.example", "password": "a-long-enough-password"})),
        )
        .await;
    assert_eq!(login.status, 200);
}

#[tokio::test]
async fn a_duplicate_email_is_a_422_on_the_email_field() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let email = org.emails[&Role::Lab].clone();
    let res = app
        .post("/api/v1/users", org.token(Role::Admin), &new_user(&email))
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["email"]);
}

#[tokio::test]
async fn every_field_error_comes_back_at_once() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = app
        .post(
            "/api/v1/users",
            org.token(Role::Admin),
            &json!({"email": "not-an-email", "role": "wizard", "password": "short"}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["email", "name", "role", "password"]);
    let codes: Vec<_> = res.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["invalid_format", "required", "invalid_enum", "too_short"]
    );
    // Nothing was created.
    let list = app
        .get("/api/v1/users?limit=500", org.token(Role::Admin))
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn only_admin_manages_users() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let target = org.user(Role::Lab);
    for role in [
        Role::Manager,
        Role::Biller,
        Role::Lab,
        Role::Clinician,
        Role::Auditor,
    ] {
        app.post(
            "/api/v1/users",
            org.token(role),
            &new_user(&format!("x-{role}@example.org")),
        )
        .await
        .assert_problem(403);
        app.patch(
            &format!("/api/v1/users/{target}"),
            org.token(role),
            &json!({"active": false}),
        )
        .await
        .assert_problem(403);
    }
    for role in [Role::Manager, Role::Biller, Role::Lab, Role::Clinician] {
        app.get("/api/v1/users", org.token(role))
            .await
            .assert_problem(403);
        app.get(&format!("/api/v1/users/{target}"), org.token(role))
            .await
            .assert_problem(403);
    }
    // The auditor reads.
    assert_eq!(
        app.get(&format!("/api/v1/users/{target}"), org.token(Role::Auditor))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn another_organizations_users_are_404() {
    let app = TestApp::spawn().await;
    let a = app.seed_org("Clinic A").await;
    let b = app.seed_org("Clinic B").await;
    let a_lab = a.user(Role::Lab);
    app.get(&format!("/api/v1/users/{a_lab}"), b.token(Role::Admin))
        .await
        .assert_problem(404);
    app.patch(
        &format!("/api/v1/users/{a_lab}"),
        b.token(Role::Admin),
        &json!({"active": false}),
    )
    .await
    .assert_problem(404);
    let list = app
        .get("/api/v1/users?limit=500", b.token(Role::Admin))
        .await;
    let ids: Vec<_> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 6);
    assert!(!ids.contains(&a_lab.to_string()));
    // A malformed id is just another missing record.
    app.get("/api/v1/users/not-a-uuid", b.token(Role::Admin))
        .await
        .assert_problem(404);
}

#[tokio::test]
async fn a_stale_version_is_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let id = org.user(Role::Biller);
    let admin = org.token(Role::Admin);
    let first = app
        .patch(
            &format!("/api/v1/users/{id}"),
            admin,
            &json!({"name": "Bea Biller", "version": 1}),
        )
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["version"], 2);
    let stale = app
        .patch(
            &format!("/api/v1/users/{id}"),
            admin,
            &json!({"name": "Stale", "version": 1}),
        )
        .await;
    stale.assert_problem(409);
    // If-Match works the same way.
    let res = app
        .client
        .patch(format!("{}/api/v1/users/{id}", app.address))
        .bearer_auth(admin)
        .header("if-match", "\"1\"")
        .json(&json!({"name": "Stale again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let now = app.get(&format!("/api/v1/users/{id}"), admin).await;
    assert_eq!(now.body["name"], "Bea Biller");
}

#[tokio::test]
async fn an_admin_cannot_demote_or_disable_themselves() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let me = org.user(Role::Admin);
    let res = app
        .patch(
            &format!("/api/v1/users/{me}"),
            org.token(Role::Admin),
            &json!({"role": "biller", "active": false}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["role", "active"]);
}

#[tokio::test]
async fn users_are_paginated_with_a_cursor() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let admin = org.token(Role::Admin);
    let mut seen = Vec::new();
    let mut path = "/api/v1/users?limit=4".to_owned();
    loop {
        let page = app.get(&path, admin).await;
        assert_eq!(page.status, 200);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 4);
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/users?limit=4&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    let mut dedup = seen.clone();
    dedup.dedup();
    assert_eq!(dedup, seen);
    let bad = app.get("/api/v1/users?limit=0&cursor=bogus", admin).await;
    bad.assert_problem(422);
    let filtered = app.get("/api/v1/users?role=lab", admin).await;
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 1);
}
