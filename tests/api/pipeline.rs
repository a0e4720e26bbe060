//! PostgreSQL reads by key (and a patient's page of specimens) through each worker's pipelined
//! connection (`db::pipeline`): they
//! are taken on PostgreSQL, answer what the pool answers, refuse whom the pool refuses, and a
//! lost connection costs no request. On SQLite there is no pipeline and the same requests answer
//! the same way.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use officina::auth::Role;
use officina::config::DatabaseUrl;
use officina::db::pipeline::NotUsed;
use reqwest::Method;

use crate::coding::{CPT_CSV, codes, import, load_shipped};
use crate::directory::create_provider;
use crate::helpers::{Org, TestApp};
use crate::lab::register;
use crate::patients::create_patient;

#[derive(QueryableByName)]
pub(crate) struct Backend {
    #[diesel(sql_type = Integer)]
    pub(crate) pid: i32,
    #[diesel(sql_type = Text)]
    pub(crate) query: String,
}

/// The test database's pipelined connections (by their `application_name`) and the last
/// statement of each; `None` on SQLite.
fn pipelined_backends(app: &TestApp) -> Option<Vec<Backend>> {
    backends_named(app, "officina-pipeline")
}

/// The test database's connections named `name` (`application_name`) and the last statement of
/// each; `None` on SQLite.
pub(crate) fn backends_named(app: &TestApp, name: &str) -> Option<Vec<Backend>> {
    let DatabaseUrl::Postgres(url) = &app.test_db.url else {
        return None;
    };
    let mut conn = diesel::PgConnection::establish(url).unwrap();
    Some(
        diesel::sql_query(
            "SELECT pid, query FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1",
        )
        .bind::<Text, _>(name)
        .load(&mut conn)
        .unwrap(),
    )
}

/// `GET path` on a new connection: the server hands connections to its workers in turn, so
/// reads on new connections reach every worker.
async fn get_fresh(app: &TestApp, path: &str, token: &str) -> crate::helpers::Res {
    let client = reqwest::Client::new();
    crate::helpers::read(
        client
            .get(format!("{}{}", app.address, path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// The pipeline's counts (reads it answered, connections it dropped); `None` without one.
fn counts(app: &TestApp) -> Option<(u64, u64)> {
    app.db.pipeline().map(|p| p.counts())
}

/// Whether this test runs where the pipeline is used: PostgreSQL on this host. On SQLite the
/// requests answer as before (checked by the callers); a PostgreSQL the pipeline does not use
/// (a `TEST_DATABASE_URL` on another host, say) skips the test with a message.
fn pipelined(app: &TestApp) -> bool {
    match app.db.pipeline_status() {
        Ok(()) => true,
        Err(NotUsed::Sqlite) => false,
        Err(why) => {
            eprintln!("skipped: the test database is not read through the pipeline ({why})");
            false
        }
    }
}

/// A specimen of a new patient, the path that reads it, and the answer of the pool for it (its
/// item in the patient's list, which is read on the pool); then reads on new connections until
/// every worker's pipelined connection is open (PostgreSQL).
async fn specimen_read_until_pipelined(app: &TestApp, org: &Org) -> (String, serde_json::Value) {
    let patient = create_patient(app, org, "Ada", "Quill", "1970-01-01").await;
    let pid = patient["id"].as_str().unwrap();
    let id = register(app, org, pid, true).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = app
        .get(
            &format!("/api/v1/specimens?patient_id={pid}"),
            org.token(Role::Lab),
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let pooled = listed.body["items"][0].clone();
    assert_eq!(pooled["id"], id.as_str());
    let path = format!("/api/v1/specimens/{id}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.db.pipeline().is_some() && pipelined_backends(app).is_some_and(|b| b.len() < 2) {
        assert!(
            std::time::Instant::now() < deadline,
            "the pipelined connections open"
        );
        assert_eq!(
            get_fresh(app, &path, org.token(Role::Lab)).await.status,
            200
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (path, pooled)
}

#[tokio::test]
async fn reads_by_key_on_postgresql_go_through_the_pipelined_connections_and_answer_as_the_pool() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let (path, pooled) = specimen_read_until_pipelined(&app, &org).await;
    let before = counts(&app);
    for _ in 0..10 {
        let res = get_fresh(&app, &path, org.token(Role::Lab)).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(
            res.body, pooled,
            "the pipelined read answers the pool's document"
        );
        assert_eq!(
            res.headers["etag"].to_str().unwrap(),
            format!("\"{}\"", pooled["version"])
        );
    }
    if !pipelined(&app) {
        assert_eq!(counts(&app), None);
        return;
    }
    let (answered, dropped) = counts(&app).unwrap();
    assert_eq!(
        answered - before.unwrap().0,
        10,
        "every read was answered through the pipeline"
    );
    assert_eq!(dropped, 0);
    // One connection per worker (the test server has two), each last used by this read.
    let backends = pipelined_backends(&app).unwrap();
    assert_eq!(backends.len(), 2, "one pipelined connection per worker");
    for b in &backends {
        assert!(b.query.contains("\"specimens\""), "{}", b.query);
    }
}

#[tokio::test]
async fn code_searches_on_postgresql_go_through_the_pipelined_connections_and_answer_as_the_pool() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let other = app.seed_org("Elsewhere").await;
    specimen_read_until_pipelined(&app, &org).await;
    load_shipped(&app).await;
    let res = import(&app, org.token(Role::Admin), "cpt", CPT_CSV).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let shipped = "/api/v1/codes?system=icd10cm&q=diab%20typ%202&limit=5";
    let imported = "/api/v1/codes?system=cpt&q=office";
    let tok = org.token(Role::Biller);

    // The first search of a table builds its index, on the pool.
    let first_shipped = get_fresh(&app, shipped, tok).await;
    assert_eq!(first_shipped.status, 200, "{}", first_shipped.text);
    assert_eq!(first_shipped.body["items"][0]["code"], "E11");
    assert!(first_shipped.body["next_cursor"].is_string());
    let first_imported = get_fresh(&app, imported, tok).await;
    assert_eq!(first_imported.status, 200, "{}", first_imported.text);
    assert_eq!(codes(&first_imported), ["99213", "99214"]);

    // Then the caller check and the table's generation are one pipelined read, the search the
    // process's index: the same pages.
    let before = counts(&app);
    for _ in 0..5 {
        assert_eq!(get_fresh(&app, shipped, tok).await.body, first_shipped.body);
        assert_eq!(
            get_fresh(&app, imported, tok).await.body,
            first_imported.body
        );
    }
    if pipelined(&app) {
        let (answered, dropped) = counts(&app).unwrap();
        assert_eq!(
            answered - before.unwrap().0,
            10,
            "every search was answered through the pipeline"
        );
        assert_eq!(dropped, 0);
        // Each worker's last pipelined statement read a table's generation (the caller check
        // inside it), not only the caller.
        for b in &pipelined_backends(&app).unwrap() {
            assert!(b.query.contains("code_sets\""), "{}", b.query);
        }
    } else {
        assert_eq!(counts(&app), None);
    }

    // Another organization searches the shipped table, and none of this one's import.
    let theirs = other.token(Role::Biller);
    assert_eq!(
        get_fresh(&app, shipped, theirs).await.body,
        first_shipped.body
    );
    let res = get_fresh(&app, imported, theirs).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["items"], serde_json::json!([]));

    // A bad query is the caller's 422; a revoked token is refused first.
    let bad = "/api/v1/codes?q=diab";
    let res = get_fresh(&app, bad, tok).await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["system"]);
    let token = org.token(Role::Manager);
    assert_eq!(get_fresh(&app, shipped, token).await.status, 200);
    let res = app
        .request(Method::POST, "/api/v1/auth/logout", Some(token), None)
        .await;
    assert_eq!(res.status, 204);
    get_fresh(&app, shipped, token).await.assert_problem(401);
    get_fresh(&app, imported, token).await.assert_problem(401);
    get_fresh(&app, bad, token).await.assert_problem(401);
}

#[tokio::test]
async fn pipelined_reads_refuse_revoked_disabled_demoted_and_foreign_callers_as_the_pool_does() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let other = app.seed_org("Elsewhere").await;
    let (path, _) = specimen_read_until_pipelined(&app, &org).await;
    // The extractor's read (`AuthUser`, here on `/me` and `/users`) goes through it too.
    let before = counts(&app);
    for _ in 0..4 {
        assert_eq!(
            app.get("/api/v1/me", org.token(Role::Biller)).await.status,
            200
        );
    }
    assert_eq!(
        app.get("/api/v1/users", org.token(Role::Auditor))
            .await
            .status,
        200
    );
    if let (Some(before), Some(after)) = (before, counts(&app)) {
        assert_eq!(
            after.0 - before.0,
            5,
            "the extractor read through the pipeline"
        );
    }

    // The patient's specimens, a page the pipeline reads too (`GET /specimens?patient_id=`).
    let shown = app.get(&path, org.token(Role::Lab)).await;
    let list = format!(
        "/api/v1/specimens?patient_id={}",
        shown.body["patient_id"].as_str().unwrap()
    );

    // Another organization's caller learns nothing.
    app.get(&path, other.token(Role::Lab))
        .await
        .assert_problem(404);
    let foreign = app.get(&list, other.token(Role::Lab)).await;
    assert_eq!(foreign.status, 200, "{}", foreign.text);
    assert_eq!(foreign.body["items"], serde_json::json!([]));

    // A revoked token is refused at once, by the guarded read and by the extractor.
    let token = org.token(Role::Manager);
    assert_eq!(app.get(&path, token).await.status, 200);
    assert_eq!(app.get(&list, token).await.status, 200);
    let res = app
        .request(Method::POST, "/api/v1/auth/logout", Some(token), None)
        .await;
    assert_eq!(res.status, 204);
    app.get(&path, token).await.assert_problem(401);
    app.get(&list, token).await.assert_problem(401);
    app.get("/api/v1/me", token).await.assert_problem(401);

    // A disabled user too.
    assert_eq!(app.get(&path, org.token(Role::Biller)).await.status, 200);
    app.disable(&org, Role::Biller).await;
    app.get(&path, org.token(Role::Biller))
        .await
        .assert_problem(401);
    app.get(&list, org.token(Role::Biller))
        .await
        .assert_problem(401);
    app.get("/api/v1/me", org.token(Role::Biller))
        .await
        .assert_problem(401);

    // A demoted user holds its new role at once (the role comes from the row, not the token).
    let res = app
        .patch(
            &format!("/api/v1/users/{}", org.user(Role::Auditor)),
            org.token(Role::Admin),
            &serde_json::json!({"role": "biller"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    app.get("/api/v1/users", org.token(Role::Auditor))
        .await
        .assert_problem(403);

    // A malformed or unknown id is a 404 for a caller who may read.
    app.get("/api/v1/specimens/nope", org.token(Role::Lab))
        .await
        .assert_problem(404);
    app.get(
        &format!("/api/v1/specimens/{}", uuid::Uuid::now_v7()),
        org.token(Role::Lab),
    )
    .await
    .assert_problem(404);
}

#[tokio::test]
async fn a_lost_pipelined_connection_costs_no_request_and_is_opened_again() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let (path, pooled) = specimen_read_until_pipelined(&app, &org).await;
    if !pipelined(&app) {
        assert_eq!(app.get(&path, org.token(Role::Lab)).await.body, pooled);
        return;
    }
    let backends = pipelined_backends(&app).unwrap();
    let DatabaseUrl::Postgres(url) = &app.test_db.url else {
        unreachable!()
    };
    let mut admin = diesel::PgConnection::establish(url).unwrap();
    for b in &backends {
        diesel::sql_query(format!("SELECT pg_terminate_backend({})", b.pid))
            .execute(&mut admin)
            .unwrap();
    }
    // Every read still answers (from the pool while a worker's connection is gone).
    for _ in 0..10 {
        let res = get_fresh(&app, &path, org.token(Role::Lab)).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.body, pooled);
        assert_eq!(
            get_fresh(&app, "/api/v1/me", org.token(Role::Lab))
                .await
                .status,
            200
        );
    }
    let (_, dropped) = counts(&app).unwrap();
    assert!(dropped >= 1, "the lost connections were dropped");
    // After the retry delay (2 s) each worker opens a new one and reads go through it again.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (path, _) = specimen_read_until_pipelined(&app, &org).await;
    let before = counts(&app).unwrap().0;
    for _ in 0..4 {
        assert_eq!(
            get_fresh(&app, &path, org.token(Role::Lab)).await.status,
            200
        );
    }
    assert_eq!(
        counts(&app).unwrap().0 - before,
        4,
        "reads go through the new connections"
    );
    let pids: Vec<i32> = pipelined_backends(&app)
        .unwrap()
        .iter()
        .map(|b| b.pid)
        .collect();
    assert!(
        backends.iter().all(|b| !pids.contains(&b.pid)),
        "new connections"
    );
}

/// A patient's specimens, a page at a time (the default page size or less, no other filter):
/// through the pipelined connection on PostgreSQL, the same bytes and cursors as the pool's read
/// (which a status filter selecting the same specimens still takes), only that patient's (another
/// patient's specimens registered between them); a page with a view to rebuild is answered by
/// the pool, and invalid parameters as before.
#[tokio::test]
async fn a_patients_specimen_pages_go_through_the_pipeline_and_answer_as_the_pool() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let (_, pooled) = specimen_read_until_pipelined(&app, &org).await;
    let patient = pooled["patient_id"].as_str().unwrap().to_owned();
    let status = pooled["status"].as_str().unwrap().to_owned();
    let other = create_patient(&app, &org, "Bo", "Other", "1980-02-02").await;
    let mut last = String::new();
    for _ in 0..2 {
        register(&app, &org, other["id"].as_str().unwrap(), true).await;
        last = register(&app, &org, &patient, true).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    // Each path with a page of two: its first page, then the page after its cursor.
    let pages = |extra: String| {
        let (app, org, patient) = (&app, &org, patient.clone());
        async move {
            let base = format!("/api/v1/specimens?patient_id={patient}&limit=2{extra}");
            let first = get_fresh(app, &base, org.token(Role::Lab)).await;
            assert_eq!(first.status, 200, "{}", first.text);
            let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
            let next = get_fresh(
                app,
                &format!("{base}&cursor={cursor}"),
                org.token(Role::Lab),
            )
            .await;
            assert_eq!(next.status, 200, "{}", next.text);
            assert_eq!(next.body["next_cursor"], serde_json::Value::Null);
            (first.text, next.text)
        }
    };
    let before = counts(&app);
    let pipelined_pages = pages(String::new()).await;
    let middle = counts(&app);
    let pooled_pages = pages(format!("&status={status}")).await;
    let after = counts(&app);
    assert_eq!(
        pipelined_pages, pooled_pages,
        "the same pages, byte for byte"
    );
    for page in [&pipelined_pages.0, &pipelined_pages.1] {
        let page: serde_json::Value = serde_json::from_str(page).unwrap();
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["patient_id"], patient.as_str(), "only the patient's");
        }
    }
    let first: serde_json::Value = serde_json::from_str(&pipelined_pages.0).unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);

    // Invalid parameters are refused as before, not read through the pipeline.
    for bad in ["&limit=abc", "&cursor=bogus", "&status=wizard"] {
        get_fresh(
            &app,
            &format!("/api/v1/specimens?patient_id={patient}{bad}"),
            org.token(Role::Lab),
        )
        .await
        .assert_problem(422);
    }

    // A stored view of an older format on the second page: that page is the pool's, with the
    // view built from the tables.
    crate::concurrency::execute_sql(
        &app.db,
        format!("UPDATE specimens SET document_format = 0 WHERE id = '{last}'"),
    )
    .await;
    let stale_before = counts(&app);
    let rebuilt = pages(String::new()).await;
    assert_eq!(rebuilt, pipelined_pages, "the view built from the tables");
    if !pipelined(&app) {
        assert_eq!(counts(&app), None);
        return;
    }
    let (before, middle, after) = (before.unwrap(), middle.unwrap(), after.unwrap());
    assert_eq!(
        middle.0 - before.0,
        2,
        "the two pages without a status filter were answered through the pipeline"
    );
    assert_eq!(
        after.0, middle.0,
        "the pages with a status filter, by the pool"
    );
    assert_eq!(
        counts(&app).unwrap().0 - stale_before.unwrap().0,
        1,
        "only the first page, whose views are current, through the pipeline"
    );
}

/// `POST /specimens` (without an `Idempotency-Key`) checks its caller, patient and ordering
/// provider through the pipeline on PostgreSQL: registrations that may go ahead are answered
/// there (one read each), everything else is answered by the pool's check, as on SQLite, with the
/// same status and every field error.
#[tokio::test]
async fn registrations_are_checked_through_the_pipeline_and_refused_as_the_pool_refuses() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let other = app.seed_org("Elsewhere").await;
    let (path, _) = specimen_read_until_pipelined(&app, &org).await;
    let shown = app.get(&path, org.token(Role::Lab)).await;
    let patient = shown.body["patient_id"].as_str().unwrap().to_owned();
    let provider = create_provider(&app, &org, "1245319599").await;
    let foreign = create_patient(&app, &other, "Other", "Org", "1990-01-01").await;
    let foreign_provider = create_provider(&app, &other, "1245319599").await;
    let body = |patient: &str| crate::lab::specimen_body(patient, true);
    let with_provider = |provider: &str| {
        let mut b = body(&patient);
        b["ordering_provider_id"] = serde_json::json!(provider);
        b
    };
    let post = |role: Role, body: serde_json::Value| {
        let (app, org) = (&app, &org);
        async move { app.post("/api/v1/specimens", org.token(role), &body).await }
    };

    // The pipeline's answers since `before`, no connection dropped; `None` without a pipeline.
    let on_pipeline = pipelined(&app);
    let pipelined_reads = |before: Option<(u64, u64)>| {
        counts(&app).zip(before).map(|(after, before)| {
            assert_eq!(after.1, before.1, "no pipelined connection dropped");
            after.0 - before.0
        })
    };

    // Registered through the pipeline: by both registering roles, with and without a provider.
    let mut numbers = std::collections::HashSet::new();
    for (role, body) in [
        (Role::Lab, body(&patient)),
        (Role::Clinician, body(&patient)),
        (Role::Lab, with_provider(&provider)),
    ] {
        let before = counts(&app);
        let res = post(role, body).await;
        assert_eq!(res.status, 201, "{}", res.text);
        if on_pipeline {
            assert_eq!(pipelined_reads(before), Some(1), "{role:?}: checked there");
        }
        assert_eq!(res.body["patient_id"], patient.as_str());
        numbers.insert(res.body["accession_number"].as_str().unwrap().to_owned());
        let id = res.body["id"].as_str().unwrap();
        let request_id = res.headers["x-request-id"].to_str().unwrap();
        assert_eq!(
            crate::concurrency::audit_rows(
                &app.db,
                id,
                "specimen.create",
                org.user(role),
                request_id
            )
            .await,
            1,
            "one audit row, with the sender and the request"
        );
        let stored = app
            .get(&format!("/api/v1/specimens/{id}"), org.token(Role::Lab))
            .await;
        assert_eq!(stored.body, res.body, "the stored view is the one answered");
    }
    assert_eq!(numbers.len(), 3, "distinct numbers: {numbers:?}");
    let listed = app
        .get(
            &format!("/api/v1/specimens?patient_id={patient}"),
            org.token(Role::Lab),
        )
        .await;
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{}", listed.text);
    assert_eq!(items[3]["ordering_provider_id"], provider.as_str());
    assert_eq!(items[1]["ordering_provider_id"], serde_json::Value::Null);

    // Refused by the pool's check, as on SQLite: nothing answered through the pipeline and
    // nothing registered.
    app.disable(&org, Role::Clinician).await;
    let before = counts(&app);
    post(Role::Biller, body(&patient)).await.assert_problem(403);
    post(Role::Clinician, body(&patient))
        .await
        .assert_problem(401);
    let res = post(Role::Lab, body(foreign["id"].as_str().unwrap())).await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["patient_id"]);
    for provider in [uuid::Uuid::now_v7().to_string(), foreign_provider] {
        let res = post(Role::Lab, with_provider(&provider)).await;
        res.assert_problem(422);
        assert_eq!(res.error_fields(), ["ordering_provider_id"]);
    }
    let mut bad = body(&patient);
    bad["specimen_type"] = serde_json::json!("blood-ish");
    bad["priority"] = serde_json::json!("asap");
    let res = post(Role::Lab, bad).await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["specimen_type", "priority"]);
    let res = app
        .post("/api/v1/specimens", other.token(Role::Lab), &body(&patient))
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["patient_id"]);
    if on_pipeline {
        assert_eq!(pipelined_reads(before), Some(0));
    }
    let token = org.token(Role::Lab);
    let res = app
        .request(Method::POST, "/api/v1/auth/logout", Some(token), None)
        .await;
    assert_eq!(res.status, 204);
    let before = counts(&app);
    post(Role::Lab, body(&patient)).await.assert_problem(401);
    if on_pipeline {
        assert_eq!(pipelined_reads(before), Some(0));
    }
    let after = app
        .get(
            &format!("/api/v1/specimens?patient_id={patient}"),
            org.token(Role::Manager),
        )
        .await;
    assert_eq!(after.body["items"].as_array().unwrap().len(), 4);
}
