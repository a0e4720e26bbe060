use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use officina::auth::Role;
use officina::auth::domain::TokenKeys;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

async fn login(app: &TestApp, email: &str, password: &str) -> crate::helpers::Res {
    app.request(
        Method::POST,
        "/api/v1/auth/token",
        None,
        Some(&json!({"email": email, "password": password})),
    )
    .await
}

#[tokio::test]
async fn login_with_the_right_password_gives_a_working_bearer_token() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = login(&app, &org.emails[&Role::Biller].to_uppercase(), PASSWORD).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["token_type"], "Bearer");
    assert_eq!(res.body["expires_in"], 3600);
    let token = res.body["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/me", token).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["role"], "biller");
    assert_eq!(me.body["id"], org.user(Role::Biller).to_string());
    assert!(me.body.get("password_hash").is_none());
}

#[tokio::test]
async fn login_with_a_wrong_password_or_unknown_email_is_401() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let wrong = login(&app, &org.emails[&Role::Lab], "not-the-password").await;
    wrong.assert_problem(401);
    let unknown = login(&app, "nobody@example.org", PASSWORD).await;
    unknown.assert_problem(401);
    // Same answer for both: no account enumeration.
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);
}

#[tokio::test]
async fn login_without_fields_lists_both_missing_fields() {
    let app = TestApp::spawn().await;
    let res = app
        .request(Method::POST, "/api/v1/auth/token", None, Some(&json!({})))
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["email", "password"]);
}

#[tokio::test]
async fn repeated_failed_logins_lock_the_account_with_429() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let email = &org.emails[&Role::Clinician];
    for _ in 0..5 {
        login(&app, email, "wrong-password-x")
            .await
            .assert_problem(401);
    }
    let locked = login(&app, email, PASSWORD).await;
    locked.assert_problem(429);
    let retry: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 15 * 60);
    // Another account is not affected.
    assert_eq!(
        login(&app, &org.emails[&Role::Lab], PASSWORD).await.status,
        200
    );
    // The failures are in the audit trail.
    let audit = app
        .get(
            &format!(
                "/api/v1/audit-events?action=auth.login_failed&entity_id={}",
                org.user(Role::Clinician)
            ),
            org.token(Role::Auditor),
        )
        .await;
    assert_eq!(audit.body["items"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn requests_without_a_token_are_401() {
    let app = TestApp::spawn().await;
    let res = app.request(Method::GET, "/api/v1/me", None, None).await;
    res.assert_problem(401);
    assert!(res.headers.contains_key("www-authenticate"));
    let res = app.get("/api/v1/me", "garbage").await;
    res.assert_problem(401);
}

#[tokio::test]
async fn an_expired_token_is_401() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let two_hours_ago = chrono::Utc::now().timestamp() - 7200;
    let (token, _) = app
        .keys
        .issue(org.user(Role::Admin), org.id, Role::Admin, two_hours_ago)
        .unwrap();
    app.get("/api/v1/me", &token).await.assert_problem(401);
}

#[tokio::test]
async fn a_tampered_token_is_401() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let token = org.token(Role::Lab);
    let forged = with_role_claim(token, "admin");
    app.get("/api/v1/me", &forged).await.assert_problem(401);
}

/// `token` with its role claim changed to `role`, its header and signature kept.
fn with_role_claim(token: &str, role: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["role"] = json!(role);
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    )
}

#[tokio::test]
async fn a_token_accepted_before_is_no_excuse_for_an_altered_copy() {
    // The server keeps the tokens it verified; a copy differing in its claims or its signature
    // is verified in full all the same.
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let token = org.token(Role::Lab);
    assert_eq!(app.get("/api/v1/me", token).await.status, 200);
    let other_claims = with_role_claim(token, "admin");
    let parts: Vec<&str> = token.split('.').collect();
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[0] ^= 1;
    let other_signature = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    for forged in [other_claims, other_signature] {
        app.get("/api/v1/me", &forged).await.assert_problem(401);
    }
    let me = app.get("/api/v1/me", token).await;
    assert_eq!(
        (me.status.as_u16(), me.body["role"].as_str()),
        (200, Some("lab"))
    );
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_401() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let other = TokenKeys::new(b"another-secret-another-secret-another", 3600);
    let (token, _) = other
        .issue(
            org.user(Role::Admin),
            org.id,
            Role::Admin,
            chrono::Utc::now().timestamp(),
        )
        .unwrap();
    app.get("/api/v1/me", &token).await.assert_problem(401);
}

#[tokio::test]
async fn an_alg_none_token_is_401() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let token = org.token(Role::Admin);
    let claims = token.split('.').nth(1).unwrap();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    app.get("/api/v1/me", &format!("{header}.{claims}."))
        .await
        .assert_problem(401);
    app.get("/api/v1/me", &format!("{header}.{claims}"))
        .await
        .assert_problem(401);
}

#[tokio::test]
async fn logout_revokes_the_token() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let token = org.token(Role::Manager);
    assert_eq!(app.get("/api/v1/me", token).await.status, 200);
    let res = app
        .request(Method::POST, "/api/v1/auth/logout", Some(token), None)
        .await;
    assert_eq!(res.status, 204);
    app.get("/api/v1/me", token).await.assert_problem(401);
    // Other tokens of the organization still work.
    assert_eq!(
        app.get("/api/v1/me", org.token(Role::Biller)).await.status,
        200
    );
}

#[tokio::test]
async fn a_disabled_users_token_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    app.disable(&org, Role::Lab).await;
    app.get("/api/v1/me", org.token(Role::Lab))
        .await
        .assert_problem(401);
    login(&app, &org.emails[&Role::Lab], PASSWORD)
        .await
        .assert_problem(401);
}

#[tokio::test]
async fn a_role_change_takes_effect_without_a_new_token() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let auditor = org.user(Role::Auditor);
    assert_eq!(
        app.get("/api/v1/users", org.token(Role::Auditor))
            .await
            .status,
        200
    );
    let res = app
        .patch(
            &format!("/api/v1/users/{auditor}"),
            org.token(Role::Admin),
            &json!({"role": "clinician"}),
        )
        .await;
    assert_eq!(res.status, 200);
    app.get("/api/v1/users", org.token(Role::Auditor))
        .await
        .assert_problem(403);
}

/// The hot handlers check the caller on the connection that then does their work (one trip):
/// a revoked token, a disabled user and a demoted user are refused there at once, before any
/// work, and a refused registration writes nothing.
#[tokio::test]
async fn one_trip_handlers_refuse_revoked_disabled_and_demoted_callers_before_any_work() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let patient = crate::patients::create_patient(&app, &org, "Ana", "Ruiz", "1980-01-02").await;
    let pid = patient["id"].as_str().unwrap();
    let specimen = crate::lab::register(&app, &org, pid, true).await;
    let sid = specimen["id"].as_str().unwrap();
    let body = crate::lab::specimen_body(pid, true);
    let list = format!("/api/v1/specimens?patient_id={pid}");
    let manager = org.token(Role::Manager).to_owned();

    // Demoted from lab to biller: the registration is now 403, and nothing was written.
    let lab = org.user(Role::Lab);
    let res = app
        .patch(
            &format!("/api/v1/users/{lab}"),
            org.token(Role::Admin),
            &json!({"role": "biller"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    app.post("/api/v1/specimens", org.token(Role::Lab), &body)
        .await
        .assert_problem(403);
    assert_eq!(
        app.get(&list, &manager).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Disabled: reads and writes are 401.
    app.disable(&org, Role::Clinician).await;
    let token = org.token(Role::Clinician);
    app.get(&format!("/api/v1/specimens/{sid}"), token)
        .await
        .assert_problem(401);
    app.post("/api/v1/specimens", token, &body)
        .await
        .assert_problem(401);
    assert_eq!(
        app.get(&list, &manager).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Revoked (logged out): 401 on the single read, the list and a claim.
    let token = org.token(Role::Biller);
    assert_eq!(
        app.get(&format!("/api/v1/specimens/{sid}"), token)
            .await
            .status,
        200
    );
    let res = app
        .request(Method::POST, "/api/v1/auth/logout", Some(token), None)
        .await;
    assert_eq!(res.status, 204);
    app.get(&format!("/api/v1/specimens/{sid}"), token)
        .await
        .assert_problem(401);
    app.get(&format!("/api/v1/specimens?patient_id={pid}"), token)
        .await
        .assert_problem(401);
    // The caller is refused before its input is judged: 401, not 404 or 422.
    app.get("/api/v1/specimens/not-an-id", token)
        .await
        .assert_problem(401);
    app.get("/api/v1/specimens?status=wizard&limit=0", token)
        .await
        .assert_problem(401);
    app.post("/api/v1/claims", token, &json!({}))
        .await
        .assert_problem(401);
}

/// `GET /specimens/{id}` and the list check their caller inside their own query (one trip): a
/// disabled caller gets 401 whether the specimen exists, is missing or is another practice's, and
/// on a list page with rows or without, never 200 or 404; an enabled caller still gets 404 for
/// another practice's specimen.
#[tokio::test]
async fn a_read_that_checks_its_caller_in_its_own_query_refuses_before_it_answers() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let other = app.seed_org("Other clinic").await;
    let mine = {
        let p = crate::patients::create_patient(&app, &org, "Ana", "Ruiz", "1980-01-02").await;
        crate::lab::register(&app, &org, p["id"].as_str().unwrap(), true).await
    };
    let theirs = {
        let p = crate::patients::create_patient(&app, &other, "Bo", "Lind", "1975-05-06").await;
        crate::lab::register(&app, &other, p["id"].as_str().unwrap(), true).await
    };
    let mine = format!("/api/v1/specimens/{}", mine["id"].as_str().unwrap());
    let theirs = format!("/api/v1/specimens/{}", theirs["id"].as_str().unwrap());
    let missing = "/api/v1/specimens/00000000-0000-4000-8000-000000000000";

    let token = org.token(Role::Clinician);
    let res = app.get(&mine, token).await;
    assert_eq!(res.status, 200, "{}", res.text);
    app.get(&theirs, token).await.assert_problem(404);
    app.get(missing, token).await.assert_problem(404);

    app.disable(&org, Role::Clinician).await;
    for path in [mine.as_str(), theirs.as_str(), missing] {
        app.get(path, token).await.assert_problem(401);
    }
    // The list too, with rows to show and with none (the empty page is told apart from a refusal).
    let nobody = "00000000-0000-4000-8000-000000000000";
    for path in [
        format!(
            "/api/v1/specimens?patient_id={}",
            patient_of(&app, &org).await
        ),
        format!("/api/v1/specimens?patient_id={nobody}"),
    ] {
        app.get(&path, token).await.assert_problem(401);
        let res = app.get(&path, org.token(Role::Lab)).await;
        assert_eq!(res.status, 200, "{}", res.text);
    }
}

/// The id of a patient of `org` with a specimen.
async fn patient_of(app: &TestApp, org: &crate::helpers::Org) -> String {
    let list = app.get("/api/v1/specimens", org.token(Role::Lab)).await;
    list.body["items"][0]["patient_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `auth::repo::caller_holds`, the condition a guarded read puts in its own query: true only for
/// the token's user, in the token's organization, active, holding one of the allowed roles (unused
/// role slots match nobody, not even a row whose role is empty), with the token not revoked. On
/// the database itself, both backends.
#[tokio::test]
async fn the_guard_condition_holds_only_for_an_allowed_active_caller_with_a_live_token() {
    use diesel::RunQueryDsl;
    use officina::audit::AuditCtx;
    use officina::auth::repo;

    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let other = app.seed_org("Other clinic").await;
    let (org_id, other_id) = (org.id, other.id);
    let clinician = org.user(Role::Clinician);
    let auditor = org.user(Role::Auditor);
    app.disable(&org, Role::Lab).await;
    let disabled = org.user(Role::Lab);
    let db = app.db.clone();
    fn holds(
        conn: &mut officina::db::DbConn,
        org: officina::db::OrgId,
        user: officina::db::UserId,
        jti: &str,
        roles: &[Role],
    ) -> bool {
        let condition = repo::caller_holds(org, user, jti.to_owned(), roles);
        diesel::select(condition).get_result::<bool>(conn).unwrap()
    }
    tokio::task::spawn_blocking(move || {
        let mut pooled = db.conn().unwrap();
        let conn: &mut officina::db::DbConn = &mut pooled;
        let all = &Role::ALL[..];
        assert!(holds(conn, org_id, clinician, "live", all));
        assert!(holds(conn, org_id, clinician, "live", &[Role::Clinician]));
        assert!(holds(
            conn,
            org_id,
            clinician,
            "live",
            &[Role::Admin, Role::Clinician]
        ));
        // Not an allowed role; no role at all (every slot unused).
        assert!(!holds(
            conn,
            org_id,
            clinician,
            "live",
            &[Role::Admin, Role::Lab]
        ));
        assert!(!holds(conn, org_id, clinician, "live", &[]));
        // A user row whose role is empty (no role the application knows) holds none, whatever
        // the number of allowed roles.
        diesel::sql_query(format!("UPDATE users SET role = '' WHERE id = '{auditor}'"))
            .execute(conn)
            .unwrap();
        assert!(!holds(conn, org_id, auditor, "live", &[Role::Lab]));
        assert!(!holds(conn, org_id, auditor, "live", all));
        // Another organization; a user who does not exist; a disabled user.
        assert!(!holds(conn, other_id, clinician, "live", all));
        assert!(!holds(
            conn,
            org_id,
            officina::db::UserId::new(),
            "live",
            all
        ));
        assert!(!holds(conn, org_id, disabled, "live", all));
        // A revoked token.
        let ctx = AuditCtx {
            org: org_id,
            actor: Some(clinician),
            request_id: None,
        };
        let later = chrono::Utc::now().naive_utc() + chrono::Duration::hours(1);
        repo::revoke(conn, &ctx, "gone", later).unwrap();
        assert!(!holds(conn, org_id, clinician, "gone", all));
        assert!(holds(conn, org_id, clinician, "live", all));
    })
    .await
    .unwrap();
}
