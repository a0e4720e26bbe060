//! Attacks on authentication and on the request parser, beyond the basics of `auth.rs` and
//! `errors.rs` (alg none, another key, expiry, logout, disabled user, lockout, a 1 MiB JSON body):
//! algorithm confusion, not-yet-valid and future tokens, wrong audience or issuer, missing claims,
//! a valid signature over another organization or user, hostile `Authorization` headers, the
//! lockout of an unauthenticated caller, oversized, deeply nested and non-UTF-8 bodies. Every
//! refusal is problem+json with the right status.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use officina::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Org, PASSWORD, Res, TestApp, read};

/// An Ed25519 key made for these tests only (the service never accepts EdDSA).
const ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIO/suwHxrsMqt9oD8x/i60Ak18rPRg+4/7DIfPieOJAA
-----END PRIVATE KEY-----
";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The claims the service issues for `role` of `org`, as JSON to tamper with.
fn claims(org: &Org, role: Role) -> Value {
    json!({
        "sub": org.user(role).to_string(), "org": org.id.to_string(), "role": role.to_string(),
        "iat": now(), "exp": now() + 600, "iss": "officina", "aud": "officina-api",
        "jti": uuid::Uuid::now_v7().to_string(),
    })
}

/// Signs `claims` with the service's own secret, with `alg`.
fn sign(app: &TestApp, alg: Algorithm, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(&app.secret),
    )
    .unwrap()
}

async fn me(app: &TestApp, token: &str) -> Res {
    app.get("/api/v1/me", token).await
}

async fn assert_401(app: &TestApp, token: &str, why: &str) {
    let res = me(app, token).await;
    assert_eq!(res.status, 401, "{why}: {}", res.text);
    res.assert_problem(401);
    assert!(res.headers.contains_key("www-authenticate"), "{why}");
}

#[tokio::test]
async fn the_service_secret_signs_a_working_token_so_the_refusals_below_are_meaningful() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = me(
        &app,
        &sign(&app, Algorithm::HS256, &claims(&org, Role::Lab)),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["role"], "lab");
}

#[tokio::test]
async fn only_hs256_is_accepted_even_with_the_right_secret() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let c = claims(&org, Role::Admin);
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        assert_401(&app, &sign(&app, alg, &c), &format!("{alg:?}")).await;
    }
}

#[tokio::test]
async fn an_eddsa_token_is_401() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let key = EncodingKey::from_ed_pem(ED25519_PEM.as_bytes()).unwrap();
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims(&org, Role::Admin),
        &key,
    )
    .unwrap();
    assert_401(&app, &token, "EdDSA").await;
}

#[tokio::test]
async fn a_valid_hmac_signature_under_another_alg_header_is_401() {
    // Algorithm confusion: the HS256 signature is right, the header claims RS256 / EdDSA / none.
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let good = sign(&app, Algorithm::HS256, &claims(&org, Role::Admin));
    let parts: Vec<&str> = good.split('.').collect();
    for alg in ["RS256", "EdDSA", "ES256", "none", "HS256 ", "hs256"] {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
        let forged = format!("{header}.{}.{}", parts[1], parts[2]);
        assert_401(&app, &forged, alg).await;
    }
}

#[tokio::test]
async fn a_token_not_yet_valid_or_issued_in_the_future_is_401() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let mut c = claims(&org, Role::Admin);
    c["nbf"] = json!(now() + 600);
    assert_401(&app, &sign(&app, Algorithm::HS256, &c), "nbf in 10 minutes").await;
    let mut c = claims(&org, Role::Admin);
    c["iat"] = json!(now() + 3600);
    c["exp"] = json!(now() + 7200);
    assert_401(&app, &sign(&app, Algorithm::HS256, &c), "iat in an hour").await;
    // A past nbf is fine.
    let mut c = claims(&org, Role::Admin);
    c["nbf"] = json!(now() - 60);
    assert_eq!(
        me(&app, &sign(&app, Algorithm::HS256, &c)).await.status,
        200
    );
}

#[tokio::test]
async fn a_token_just_expired_beyond_the_leeway_is_401() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let mut c = claims(&org, Role::Admin);
    c["iat"] = json!(now() - 700);
    c["exp"] = json!(now() - 60);
    assert_401(
        &app,
        &sign(&app, Algorithm::HS256, &c),
        "expired a minute ago",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_audience_or_issuer_or_a_missing_claim_is_401() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let cases: [(&str, Value); 4] = [
        ("aud", json!("another-api")),
        ("aud", json!(["another-api"])),
        ("iss", json!("someone-else")),
        ("iss", json!("")),
    ];
    for (claim, value) in cases {
        let mut c = claims(&org, Role::Admin);
        c[claim] = value.clone();
        assert_401(
            &app,
            &sign(&app, Algorithm::HS256, &c),
            &format!("{claim} = {value}"),
        )
        .await;
    }
    for claim in ["exp", "aud", "iss", "sub"] {
        let mut c = claims(&org, Role::Admin);
        c.as_object_mut().unwrap().remove(claim);
        assert_401(
            &app,
            &sign(&app, Algorithm::HS256, &c),
            &format!("without {claim}"),
        )
        .await;
    }
}

#[tokio::test]
async fn a_signed_token_naming_another_organization_or_an_unknown_user_is_401() {
    let app = TestApp::spawn().await;
    let a = app.seed_org("A").await;
    let b = app.seed_org("B").await;
    // A's admin claiming to be in B (as if the secret leaked into a token-minting bug).
    let mut c = claims(&a, Role::Admin);
    c["org"] = json!(b.id.to_string());
    assert_401(&app, &sign(&app, Algorithm::HS256, &c), "A's user in B").await;
    let mut c = claims(&a, Role::Admin);
    c["sub"] = json!(uuid::Uuid::now_v7().to_string());
    assert_401(&app, &sign(&app, Algorithm::HS256, &c), "unknown user").await;
    let mut c = claims(&a, Role::Admin);
    c["sub"] = json!("not-a-uuid");
    assert_401(&app, &sign(&app, Algorithm::HS256, &c), "sub not an id").await;
    // The role in the token is not trusted: the database's is used.
    let mut c = claims(&a, Role::Lab);
    c["role"] = json!("admin");
    let res = app
        .get("/api/v1/users", &sign(&app, Algorithm::HS256, &c))
        .await;
    res.assert_problem(403);
}

#[tokio::test]
async fn a_token_revoked_within_its_expiry_leeway_stays_revoked() {
    // Tokens are accepted up to 5 s past `exp` (clock skew). One logged out in that window keeps
    // its revocation until the window closes: the clean-up of expired revocations must not drop
    // it at once.
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let now = chrono::Utc::now().timestamp();
    let (token, claims) = app
        .keys
        .issue(
            org.user(Role::Lab),
            org.id,
            Role::Lab,
            now - app.keys.ttl_secs - 1,
        )
        .unwrap();
    assert!(claims.exp < now, "expired, but within the leeway");
    assert_eq!(me(&app, &token).await.status, 200);
    let res = app
        .request(Method::POST, "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    me(&app, &token).await.assert_problem(401);
}

#[tokio::test]
async fn a_revoked_token_stays_revoked_and_logout_needs_a_valid_token() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let token = org.token(Role::Biller);
    let res = app
        .request(Method::POST, "/api/v1/auth/logout", Some(token), None)
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    for path in ["/api/v1/me", "/api/v1/claims", "/api/v1/patients"] {
        app.get(path, token).await.assert_problem(401);
    }
    app.request(Method::POST, "/api/v1/auth/logout", Some(token), None)
        .await
        .assert_problem(401);
    app.request(Method::POST, "/api/v1/auth/logout", None, None)
        .await
        .assert_problem(401);
    // A new login of the same user works.
    let res = app
        .request(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(&json!({"email": org.emails[&Role::Biller], "password": PASSWORD})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let fresh = res.body["access_token"].as_str().unwrap();
    assert_eq!(me(&app, fresh).await.status, 200);
}

#[tokio::test]
async fn a_disabled_user_cannot_log_in_even_with_the_right_password_and_gets_no_hint() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    app.disable(&org, Role::Lab).await;
    let login = |password: &'static str| {
        let email = org.emails[&Role::Lab].clone();
        let app = &app;
        async move {
            app.request(
                Method::POST,
                "/api/v1/auth/token",
                None,
                Some(&json!({"email": email, "password": password})),
            )
            .await
        }
    };
    let right = login(PASSWORD).await;
    right.assert_problem(401);
    let wrong = login("wrong-password-123").await;
    wrong.assert_problem(401);
    assert_eq!(right.body["detail"], wrong.body["detail"]);
    // A token minted before the deactivation is refused too (also for writes).
    let res = app
        .post(
            "/api/v1/specimens",
            org.token(Role::Lab),
            &json!({"patient_id": uuid::Uuid::now_v7().to_string()}),
        )
        .await;
    res.assert_problem(401);
}

#[tokio::test]
async fn hostile_authorization_headers_are_401() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let token = org.token(Role::Admin).to_owned();
    let headers: Vec<Vec<u8>> = vec![
        b"Bearer".to_vec(),
        b"Bearer ".to_vec(),
        b"Basic YWRtaW46YWRtaW4=".to_vec(),
        format!("Token {token}").into_bytes(),
        format!("Bearer {token}x").into_bytes(),
        format!("Bearer {}", &token[..token.len() - 2]).into_bytes(),
        b"Bearer a.b.c".to_vec(),
        b"Bearer \xff\xfe.\xfa".to_vec(),
        format!("Bearer {}", "a".repeat(8000)).into_bytes(),
    ];
    for h in headers {
        let value = reqwest::header::HeaderValue::from_bytes(&h).unwrap();
        let res = read(
            app.client
                .get(format!("{}/api/v1/me", app.address))
                .header("authorization", value)
                .send()
                .await
                .unwrap(),
        )
        .await;
        res.assert_problem(401);
    }
    // A token in the query string is not a credential.
    let res = read(
        app.client
            .get(format!("{}/api/v1/me?access_token={token}", app.address))
            .send()
            .await
            .unwrap(),
    )
    .await;
    res.assert_problem(401);
}

#[tokio::test]
async fn brute_force_on_one_account_is_429_with_retry_after_for_any_password() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let email = org.emails[&Role::Admin].clone();
    let login = |password: String| {
        let email = email.clone();
        let app = &app;
        async move {
            app.request(
                Method::POST,
                "/api/v1/auth/token",
                None,
                Some(&json!({"email": email, "password": password})),
            )
            .await
        }
    };
    for i in 0..5 {
        login(format!("guess-number-{i}")).await.assert_problem(401);
    }
    // Locked: every further try is 429 with Retry-After, right or wrong, and does not extend
    // what it tells (the attacker learns nothing about the password).
    let mut retry_afters = Vec::new();
    for password in ["guess-number-6".to_owned(), PASSWORD.to_owned()] {
        let res = login(password).await;
        res.assert_problem(429);
        let retry: u64 = res.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry > 0 && retry <= 15 * 60, "{retry}");
        retry_afters.push(res.body["detail"].clone());
    }
    assert_eq!(retry_afters[0], retry_afters[1]);
    // Existing tokens of the account keep working: the lock is on passwords, not sessions.
    assert_eq!(me(&app, org.token(Role::Admin)).await.status, 200);
}

#[tokio::test]
async fn an_oversized_body_is_413_before_authentication_and_for_every_kind_of_upload() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let big_json = {
        let mut b = b"{\"email\": \"".to_vec();
        b.extend(std::iter::repeat_n(b'a', 1024 * 1024 + 1));
        b.extend(b"\"}");
        b
    };
    // Unauthenticated: the login itself.
    app.post_raw(
        "/api/v1/auth/token",
        None,
        "application/json",
        big_json.clone(),
    )
    .await
    .assert_problem(413);
    // A declared length over the limit is refused without reading the body.
    let res = read(
        app.client
            .post(format!("{}/api/v1/patients", app.address))
            .bearer_auth(org.token(Role::Admin))
            .header("content-type", "application/json")
            .body(big_json)
            .send()
            .await
            .unwrap(),
    )
    .await;
    res.assert_problem(413);
    // An action's optional body (read as bytes) has a limit too.
    let res = app
        .post_raw(
            &format!("/api/v1/claims/{}/void", uuid::Uuid::now_v7()),
            Some(org.token(Role::Manager)),
            "application/json",
            format!("{{\"reason\": \"{}\"}}", "a".repeat(2 * 1024 * 1024)).into_bytes(),
        )
        .await;
    res.assert_problem(413);
    // Raw uploads have their own, larger limit (20 MiB).
    let mut big = b"code,description\n".to_vec();
    big.resize(20 * 1024 * 1024 + 1, b'x');
    app.post_raw(
        "/api/v1/code-sets/cpt/import",
        Some(org.token(Role::Admin)),
        "text/csv",
        big,
    )
    .await
    .assert_problem(413);
}

#[tokio::test]
async fn deeply_nested_json_is_a_400_problem_and_the_service_survives() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let deep_array = "[".repeat(10_000).into_bytes();
    let mut deep_field = b"{\"first_name\": ".to_vec();
    deep_field.extend("{\"a\":".repeat(10_000).as_bytes());
    deep_field.extend(b"1");
    deep_field.extend("}".repeat(10_001).as_bytes());
    let closed = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes();
    for body in [deep_array, deep_field, closed] {
        app.post_raw("/api/v1/auth/token", None, "application/json", body.clone())
            .await
            .assert_problem(400);
        app.post_raw(
            "/api/v1/patients",
            Some(org.token(Role::Admin)),
            "application/json",
            body,
        )
        .await
        .assert_problem(400);
    }
    assert_eq!(me(&app, org.token(Role::Admin)).await.status, 200);
}

#[tokio::test]
async fn invalid_utf8_in_a_json_body_is_a_400_problem() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let bodies: [&[u8]; 3] = [
        b"{\"email\": \"adm\xffin@example.org\", \"password\": \"x\"}",
        b"{\"email\": \"\xc3\x28\"}",
        b"\xef\xbb\xbf{\"email\": \"a@b.org\"}",
    ];
    for body in bodies {
        app.post_raw(
            "/api/v1/auth/token",
            None,
            "application/json",
            body.to_vec(),
        )
        .await
        .assert_problem(400);
        app.post_raw(
            "/api/v1/users",
            Some(org.token(Role::Admin)),
            "application/json",
            body.to_vec(),
        )
        .await
        .assert_problem(400);
    }
    // Invalid UTF-8 in an X12 upload is refused as well, not half-read.
    app.post_raw(
        "/api/v1/acknowledgements",
        Some(org.token(Role::Biller)),
        "application/edi-x12",
        b"ISA*00*\xff\xfe~".to_vec(),
    )
    .await
    .assert_problem(400);
}
