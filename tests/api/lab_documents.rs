//! The stored specimen views (`specimens.document`): rewritten by every change to a specimen,
//! its tests or their results, served as they are by `GET /specimens/{id}` and the list, never
//! served when missing or written by another version (the view is then built from the tables),
//! and rewritten at start.

use diesel::prelude::*;
use officina::auth::Role;
use officina::db::{DbConn, OrgId};
use officina::lab::documents;
use officina::lab::repo::{SPECIMEN_COLUMNS, Specimen};
use officina::lab::schema::specimens::dsl as sp;
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::officina;
use crate::concurrency::{race, req};
use crate::helpers::{Org, TestApp};
use crate::lab::{event, register, specimen_body};
use crate::patients::create_patient;

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

async fn blocking<T: Send + 'static>(
    app: &TestApp,
    f: impl FnOnce(&mut DbConn) -> T + Send + 'static,
) -> T {
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || f(&mut db.conn().unwrap()))
        .await
        .unwrap()
}

/// Every specimen of the organization whose stored document is missing, of another format, or
/// not the view built from the tables now; with what was found.
async fn stale_documents(app: &TestApp, org: &Org) -> Vec<String> {
    let org_id: OrgId = org.id;
    blocking(app, move |c| {
        let specimens: Vec<Specimen> = sp::specimens
            .filter(sp::org_id.eq(org_id.to_string()))
            .select(SPECIMEN_COLUMNS)
            .load(c)
            .unwrap();
        let stored: Vec<(String, i64, Option<String>)> = sp::specimens
            .filter(sp::org_id.eq(org_id.to_string()))
            .select((sp::id, sp::document_format, sp::document))
            .load(c)
            .unwrap();
        assert!(!specimens.is_empty(), "the organization has specimens");
        let views = documents::views(c, org_id, specimens).unwrap();
        views
            .iter()
            .filter_map(|v| {
                let built = documents::render(v).unwrap();
                let (_, format, doc) = stored.iter().find(|(id, _, _)| *id == v.id).unwrap();
                (*format != documents::format() || doc.as_deref() != Some(built.as_str())).then(
                    || {
                        format!(
                            "{} {}: stored {doc:?}, built {built}",
                            v.accession_number, v.id
                        )
                    },
                )
            })
            .collect()
    })
    .await
}

async fn assert_current(app: &TestApp, org: &Org, after: &str) {
    let stale = stale_documents(app, org).await;
    assert!(stale.is_empty(), "after {after}: {stale:#?}");
}

async fn get_text(app: &TestApp, org: &Org, path: &str) -> (u16, String) {
    let res = app
        .client
        .get(format!("{}{}", app.address, path))
        .bearer_auth(org.token(Role::Clinician))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(ct, "application/json", "{path}");
    (status, res.text().await.unwrap())
}

/// The list of the patient's specimens answers one page holding `document`, as it is.
async fn assert_patient_page_is(app: &TestApp, org: &Org, patient: &str, document: &str) {
    let (status, page) =
        get_text(app, org, &format!("/api/v1/specimens?patient_id={patient}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        page,
        format!(r#"{{"items":[{document}],"next_cursor":null}}"#)
    );
}

#[tokio::test]
async fn every_change_rewrites_the_stored_view_in_the_same_transaction() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = id(&p).to_owned();

    // Registration, without and with an idempotency key.
    let a = register(&app, &org, &pid, true).await;
    let keyed = app
        .client
        .post(format!("{}/api/v1/specimens", app.address))
        .bearer_auth(org.token(Role::Lab))
        .header("idempotency-key", "draw-station-3-0042")
        .json(&specimen_body(&pid, false))
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), 201);
    assert_current(&app, &org, "registration").await;
    let a = id(&a).to_owned();

    // Transitions, a storage move, aliquots, a rejection cascading to them.
    event(&app, &org, Role::Lab, &a, json!({"to": "received"})).await;
    assert_current(&app, &org, "a transition").await;
    let res = event(
        &app,
        &org,
        Role::Lab,
        &a,
        json!({"to": "store", "location": {"room": "lab1", "device": "FRZ-2", "shelf": "3"}}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_current(&app, &org, "a storage move").await;
    let al = app
        .post(
            &format!("/api/v1/specimens/{a}/aliquots"),
            org.token(Role::Lab),
            &json!({"count": 2}),
        )
        .await;
    assert_eq!(al.status, 201, "{}", al.text);
    assert_current(&app, &org, "aliquots").await;

    // Results: entry, correction, verification.
    let b = register(&app, &org, &pid, true).await;
    let (b, test) = (
        id(&b).to_owned(),
        b["tests"][0]["id"].as_str().unwrap().to_owned(),
    );
    event(&app, &org, Role::Lab, &b, json!({"to": "received"})).await;
    event(&app, &org, Role::Lab, &b, json!({"to": "in_process"})).await;
    let put = format!("/api/v1/specimens/{b}/tests/{test}/result");
    for value in ["9.4", "5.4"] {
        let res = app
            .request(
                Method::PUT,
                &put,
                Some(org.token(Role::Lab)),
                Some(&json!({"value": value, "unit": "mmol/L", "flag": "N"})),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_current(&app, &org, "a result").await;
    }
    let verify = format!("/api/v1/specimens/{b}/tests/{test}/verify");
    let res = app
        .request(Method::POST, &verify, Some(org.token(Role::Manager)), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_current(&app, &org, "a verification").await;
    let (_, text) = get_text(&app, &org, &format!("/api/v1/specimens/{b}")).await;
    let view: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(view["tests"][0]["result_versions"], 2);
    assert_eq!(view["tests"][0]["result"]["value"], "5.4");
    assert!(view["tests"][0]["result"]["verified_at"].is_string());

    // Rejection of the parent cascades to its aliquots; a send-out refers specimens out.
    let res = event(
        &app,
        &org,
        Role::Lab,
        &a,
        json!({"to": "rejected", "reasons": ["RH"]}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_current(&app, &org, "a rejection cascade").await;
    let c = register(&app, &org, &pid, true).await;
    let c = id(&c).to_owned();
    event(&app, &org, Role::Lab, &c, json!({"to": "received"})).await;
    let m = app
        .post(
            "/api/v1/manifests",
            org.token(Role::Lab),
            &json!({"destination": "Reference lab", "specimen_ids": [c]}),
        )
        .await;
    assert_eq!(m.status, 201, "{}", m.text);
    let ship = app
        .post(
            &format!("/api/v1/manifests/{}/ship", id(&m.body)),
            org.token(Role::Lab),
            &json!({}),
        )
        .await;
    assert_eq!(ship.status, 200, "{}", ship.text);
    assert_current(&app, &org, "a send-out").await;
    let (_, text) = get_text(&app, &org, &format!("/api/v1/specimens/{c}")).await;
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["status"],
        "referred_out"
    );
}

#[tokio::test]
async fn reads_answer_the_stored_view_as_it_is() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let created = app
        .client
        .post(format!("{}/api/v1/specimens", app.address))
        .bearer_auth(org.token(Role::Lab))
        .json(&specimen_body(id(&p), true))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created = created.text().await.unwrap();
    let sid = serde_json::from_str::<Value>(&created).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored: String = {
        let sid = sid.clone();
        blocking(&app, move |c| {
            sp::specimens
                .filter(sp::id.eq(sid))
                .select(sp::document.assume_not_null())
                .first(c)
                .unwrap()
        })
        .await
    };
    // The registration answers the document it stored; the read by id answers it byte for byte,
    // and the list holds it as an item.
    assert_eq!(created, stored);
    let (status, one) = get_text(&app, &org, &format!("/api/v1/specimens/{sid}")).await;
    assert_eq!(status, 200);
    assert_eq!(one, stored);
    assert_patient_page_is(&app, &org, id(&p), &stored).await;
}

#[tokio::test]
async fn a_missing_or_older_view_is_never_served_and_is_rewritten_at_start() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let s = register(&app, &org, id(&p), true).await;
        ids.push(id(&s).to_owned());
    }
    event(&app, &org, Role::Lab, &ids[0], json!({"to": "received"})).await;
    let before: Vec<String> = {
        let mut v = Vec::new();
        for sid in &ids {
            v.push(
                get_text(&app, &org, &format!("/api/v1/specimens/{sid}"))
                    .await
                    .1,
            );
        }
        v
    };
    let list_before = get_text(&app, &org, "/api/v1/specimens?limit=2").await.1;

    // As a database written by an earlier version would hold them: one row without a document
    // (older than the column), one with a document of another format (an older view).
    let (none, older) = (ids[0].clone(), ids[1].clone());
    blocking(&app, move |c| {
        diesel::update(sp::specimens.filter(sp::id.eq(none)))
            .set((
                sp::document.eq(None::<String>),
                sp::document_format.eq(0_i64),
            ))
            .execute(c)
            .unwrap();
        diesel::update(sp::specimens.filter(sp::id.eq(older)))
            .set((
                sp::document.eq(Some(r#"{"stale":true}"#)),
                sp::document_format.eq(documents::format() ^ 2),
            ))
            .execute(c)
            .unwrap();
    })
    .await;
    assert_eq!(stale_documents(&app, &org).await.len(), 2);

    // Reads build those views from the tables: the same answers as before.
    for (sid, expected) in ids.iter().zip(&before) {
        let (status, text) = get_text(&app, &org, &format!("/api/v1/specimens/{sid}")).await;
        assert_eq!(status, 200);
        assert_eq!(&text, expected);
    }
    let list = get_text(&app, &org, "/api/v1/specimens?limit=2").await.1;
    assert_eq!(list, list_before);
    let next: Value = serde_json::from_str(&list).unwrap();
    let cursor = next["next_cursor"].as_str().unwrap().to_owned();
    let rest = get_text(
        &app,
        &org,
        &format!("/api/v1/specimens?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&rest.1).unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Reading rewrote nothing.
    assert_eq!(stale_documents(&app, &org).await.len(), 2);

    // The start rewrites exactly those two, and then none.
    let rebuilt = blocking(&app, |c| {
        documents::rebuild_stale(c, documents::REBUILD_CHUNK).unwrap()
    })
    .await;
    assert_eq!(rebuilt, 2);
    assert_current(&app, &org, "the rebuild").await;
    assert_eq!(
        blocking(&app, |c| documents::rebuild_stale(
            c,
            documents::REBUILD_CHUNK
        )
        .unwrap())
        .await,
        0
    );
    for (sid, expected) in ids.iter().zip(&before) {
        let (_, text) = get_text(&app, &org, &format!("/api/v1/specimens/{sid}")).await;
        assert_eq!(&text, expected);
    }
}

#[tokio::test]
async fn reads_serve_the_stored_document_not_a_view_built_again() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let s = register(&app, &org, id(&p), true).await;
    let sid = id(&s).to_owned();
    event(&app, &org, Role::Lab, &sid, json!({"to": "received"})).await;
    // A current-format document that no view would render: reads answer it as it is.
    let sentinel = r#"{"sentinel":1}"#;
    {
        let sid = sid.clone();
        blocking(&app, move |c| {
            diesel::update(sp::specimens.filter(sp::id.eq(sid)))
                .set(sp::document.eq(Some(sentinel)))
                .execute(c)
                .unwrap()
        })
        .await;
    }
    let res = app
        .client
        .get(format!("{}/api/v1/specimens/{sid}", app.address))
        .bearer_auth(org.token(Role::Biller))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The ETag is the row's version (2 after one transition), not read from the document.
    assert_eq!(res.headers()["etag"], "\"2\"");
    assert_eq!(res.text().await.unwrap(), sentinel);
    assert_patient_page_is(&app, &org, id(&p), sentinel).await;
}

#[tokio::test]
async fn the_rewrite_at_start_goes_through_every_organization_a_chunk_at_a_time() {
    let app = TestApp::spawn().await;
    let mut orgs = Vec::new();
    for name in ["North Clinic", "South Clinic"] {
        let org = app.seed_org(name).await;
        let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
        for _ in 0..3 {
            register(&app, &org, id(&p), true).await;
        }
        orgs.push(org);
    }
    blocking(&app, |c| {
        diesel::update(sp::specimens)
            .set((
                sp::document.eq(None::<String>),
                sp::document_format.eq(0_i64),
            ))
            .execute(c)
            .unwrap()
    })
    .await;
    for org in &orgs {
        assert_eq!(stale_documents(&app, org).await.len(), 3);
    }
    // Six stale documents, two per transaction: every one rewritten in one pass.
    assert_eq!(
        blocking(&app, |c| documents::rebuild_stale(c, 2).unwrap()).await,
        6
    );
    for org in &orgs {
        assert_current(&app, org, "the rebuild").await;
    }
}

#[tokio::test]
async fn officina_migrate_rewrites_older_documents() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    register(&app, &org, id(&p), true).await;
    blocking(&app, |c| {
        diesel::update(sp::specimens)
            .set(sp::document_format.eq(0_i64))
            .execute(c)
            .unwrap()
    })
    .await;
    assert_eq!(stale_documents(&app, &org).await.len(), 1);
    let out = officina(&app.test_db).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 specimen view(s) rewritten"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_current(&app, &org, "officina migrate").await;
}

#[tokio::test]
async fn concurrent_changes_of_one_specimen_leave_its_complete_view() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let s = register(&app, &org, id(&p), true).await;
    let sid = id(&s).to_owned();
    event(&app, &org, Role::Lab, &sid, json!({"to": "received"})).await;
    let tests: Vec<String> = s["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| id(t).to_owned())
        .collect();
    // Results of both tests entered at once, with a storage move among them.
    let mut requests = Vec::new();
    for round in 0..4 {
        for test in &tests {
            requests.push(
                req(
                    &app,
                    Method::PUT,
                    &format!("/api/v1/specimens/{sid}/tests/{test}/result"),
                    org.token(Role::Lab),
                )
                .json(&json!({"value": format!("{round}.0")})),
            );
        }
    }
    requests.push(
        req(
            &app,
            Method::POST,
            &format!("/api/v1/specimens/{sid}/events"),
            org.token(Role::Lab),
        )
        .json(&json!({"to": "store", "location": {"room": "lab1", "device": "FRZ-2"}})),
    );
    for res in race(requests).await {
        assert_eq!(res.status, 200, "{}", res.text);
    }
    assert_current(&app, &org, "concurrent changes").await;
    let (_, text) = get_text(&app, &org, &format!("/api/v1/specimens/{sid}")).await;
    let view: Value = serde_json::from_str(&text).unwrap();
    for t in view["tests"].as_array().unwrap() {
        assert_eq!(t["result_versions"], 4, "{text}");
    }
    assert!(view["location"].is_object(), "{text}");

    // Two verifications of the same result at once: one verifies and bills, the other is told.
    let verify = format!("/api/v1/specimens/{sid}/tests/{}/verify", tests[0]);
    let answers = race(vec![
        req(&app, Method::POST, &verify, org.token(Role::Manager)),
        req(&app, Method::POST, &verify, org.token(Role::Admin)),
    ])
    .await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{answers:?}");
    let charges = app
        .get("/api/v1/charges?status=unbilled", org.token(Role::Biller))
        .await;
    assert_eq!(
        charges.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        charges.text
    );
    assert_current(&app, &org, "concurrent verifications").await;
}
