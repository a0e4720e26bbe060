use officina::auth::Role;
use reqwest::Method;

use crate::helpers::TestApp;

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = app
        .post_raw(
            "/api/v1/users",
            Some(org.token(Role::Admin)),
            "application/json",
            b"{\"email\": ".to_vec(),
        )
        .await;
    res.assert_problem(400);
}

#[tokio::test]
async fn a_wrong_json_type_is_a_422_naming_the_field_without_echoing_the_value() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = app
        .post_raw(
            "/api/v1/users",
            Some(org.token(Role::Admin)),
            "application/json",
            br#"{"email": ["secret-phi"]}"#.to_vec(),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["email"]);
    assert!(!res.text.contains("secret-phi"));
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = app
        .post_raw(
            "/api/v1/users",
            Some(org.token(Role::Admin)),
            "text/plain",
            b"hello".to_vec(),
        )
        .await;
    res.assert_problem(415);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let mut body = b"{\"name\": \"".to_vec();
    body.extend(std::iter::repeat_n(b'a', 1024 * 1024 + 10));
    body.extend(b"\"}");
    let res = app
        .post_raw(
            "/api/v1/users",
            Some(org.token(Role::Admin)),
            "application/json",
            body,
        )
        .await;
    res.assert_problem(413);
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = TestApp::spawn().await;
    let res = app
        .request(Method::GET, "/api/v1/nothing-here", None, None)
        .await;
    res.assert_problem(404);
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let app = TestApp::spawn().await;
    let res = app
        .request(Method::DELETE, "/api/v1/users", None, None)
        .await;
    res.assert_problem(405);
    let allow = res.headers["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let res = app
        .request(
            Method::PUT,
            "/api/v1/users/0199aaaa-0000-7000-8000-000000000000",
            None,
            None,
        )
        .await;
    res.assert_problem(405);
}

#[tokio::test]
async fn every_response_has_a_request_id_and_an_incoming_one_is_kept() {
    let app = TestApp::spawn().await;
    for path in ["/health/live", "/api/v1/me", "/nope"] {
        let res = app.request(Method::GET, path, None, None).await;
        assert!(res.headers.contains_key("x-request-id"), "{path}");
    }
    let res = app
        .client
        .get(format!("{}/health/live", app.address))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    // A hostile one is replaced.
    let res = app
        .client
        .get(format!("{}/health/live", app.address))
        .header("x-request-id", "a b<script>")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "a b<script>");
}

#[tokio::test]
async fn health_probes_answer() {
    let app = TestApp::spawn().await;
    let live = app.request(Method::GET, "/health/live", None, None).await;
    assert_eq!(live.status, 200);
    let ready = app.request(Method::GET, "/health/ready", None, None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["status"], "ok");
}

#[tokio::test]
async fn swagger_ui_and_the_document_are_served() {
    let app = TestApp::spawn().await;
    let docs = app
        .client
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
    let redirect = app
        .client
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .unwrap();
    assert!(redirect.status().is_redirection());
    let doc = app
        .request(Method::GET, "/api-docs/openapi.json", None, None)
        .await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.body["openapi"], "3.1.0");
}

#[tokio::test]
async fn an_internal_error_is_an_opaque_500_carrying_only_the_request_id() {
    use diesel::connection::SimpleConnection;
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    // Break the database under the running app: every authenticated request now fails inside.
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        conn.batch_execute("DROP TABLE revoked_tokens").unwrap();
    })
    .await
    .unwrap();
    let res = app.get("/api/v1/me", org.token(Role::Admin)).await;
    res.assert_problem(500);
    let request_id = res.headers["x-request-id"].to_str().unwrap();
    assert_eq!(res.body["request_id"], request_id);
    assert!(res.body.get("detail").is_none(), "{}", res.text);
    assert!(
        !res.text.contains("revoked_tokens"),
        "the cause leaked: {}",
        res.text
    );
}
