//! Send-out manifests: creation rules, changes while draft, shipping (every specimen to
//! `referred_out` with a custody event, all or nothing), results return, printout, roles,
//! organization scoping.

use officina::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Org, TestApp};
use crate::lab_labels::{move_to, received_specimen, register_specimen};
use crate::patients::create_patient;

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

async fn create_manifest(app: &TestApp, org: &Org, ids: &[&str]) -> Value {
    let res = app
        .post(
            "/api/v1/manifests",
            org.token(Role::Lab),
            &json!({
                "destination": "Quest Diagnostics <Chantilly>",
                "specimen_ids": ids,
                "courier": "LabCorp courier",
                "tracking_number": "1Z999AA10123456784",
                "temperature": "refrigerated"
            }),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.body
}

async fn events(app: &TestApp, org: &Org, specimen: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/api/v1/specimens/{specimen}/events"),
            org.token(Role::Lab),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["items"].as_array().unwrap().clone()
}

async fn audit_count(app: &TestApp, org: &Org, action: &str) -> usize {
    let res = app
        .get(
            &format!("/api/v1/audit-events?action={action}"),
            org.token(Role::Auditor),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn shipping_refers_out_every_specimen_with_a_custody_event_then_results_come_back() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let a = received_specimen(&app, &org).await;
    let b = received_specimen(&app, &org).await;
    let m = create_manifest(&app, &org, &[id(&a), id(&b)]).await;
    assert_eq!(m["status"], "draft");
    assert_eq!(m["version"], 1);
    assert_eq!(m["specimen_count"], 2);
    assert_eq!(m["temperature"], "refrigerated");
    assert_eq!(m["allowed_transitions"], json!(["shipped", "cancelled"]));
    let accs: Vec<&str> = m["specimens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["accession_number"].as_str().unwrap())
        .collect();
    assert_eq!(
        accs,
        [
            a["accession_number"].as_str().unwrap(),
            b["accession_number"].as_str().unwrap()
        ]
    );
    assert!(
        m["specimens"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "received")
    );
    let mid = id(&m);

    // Anyone reads it.
    for role in [Role::Biller, Role::Auditor, Role::Clinician] {
        let res = app
            .get(&format!("/api/v1/manifests/{mid}"), org.token(role))
            .await;
        assert_eq!(res.status, 200, "{role}: {}", res.text);
        assert_eq!(res.body["specimen_count"], 2);
    }
    let list = app
        .get("/api/v1/manifests?status=draft", org.token(Role::Biller))
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let list = app
        .get("/api/v1/manifests?status=shipped", org.token(Role::Biller))
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0);

    let res = app
        .post(
            &format!("/api/v1/manifests/{mid}/ship"),
            org.token(Role::Lab),
            &json!({}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["status"], "shipped");
    assert!(res.body["shipped_at"].is_string());
    assert_eq!(res.body["version"], 2);
    assert!(
        res.body["specimens"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "referred_out")
    );
    for s in [&a, &b] {
        let ev = events(&app, &org, id(s)).await;
        let last = ev.last().unwrap();
        assert_eq!(last["from"], "received");
        assert_eq!(last["to"], "referred_out");
        let note = last["note"].as_str().unwrap();
        assert!(note.contains("Quest Diagnostics <Chantilly>"), "{note}");
        assert!(note.contains(mid), "{note}");
    }

    // Shipping twice is an illegal state change.
    let again = app
        .post(
            &format!("/api/v1/manifests/{mid}/ship"),
            org.token(Role::Lab),
            &json!({}),
        )
        .await;
    again.assert_problem(409);
    assert_eq!(again.body["current"], "shipped");
    assert_eq!(again.body["allowed"], json!(["results_received"]));
    // A shipped manifest no longer changes.
    app.patch(
        &format!("/api/v1/manifests/{mid}"),
        org.token(Role::Lab),
        &json!({"courier": "FedEx"}),
    )
    .await
    .assert_problem(409);
    app.post(
        &format!("/api/v1/manifests/{mid}/cancel"),
        org.token(Role::Lab),
        &json!({}),
    )
    .await
    .assert_problem(409);

    let res = app
        .post(
            &format!("/api/v1/manifests/{mid}/receive-results"),
            org.token(Role::Manager),
            &json!({}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["status"], "results_received");
    assert!(res.body["results_received_at"].is_string());
    assert_eq!(res.body["allowed_transitions"], json!([]));
    // Specimens stay referred out: results are entered per test.
    let s = app
        .get(
            &format!("/api/v1/specimens/{}", id(&a)),
            org.token(Role::Lab),
        )
        .await;
    assert_eq!(s.body["status"], "referred_out");
    app.post(
        &format!("/api/v1/manifests/{mid}/receive-results"),
        org.token(Role::Manager),
        &json!({}),
    )
    .await
    .assert_problem(409);

    assert_eq!(audit_count(&app, &org, "manifest.create").await, 1);
    assert_eq!(audit_count(&app, &org, "manifest.ship").await, 1);
    assert_eq!(audit_count(&app, &org, "manifest.receive_results").await, 1);
}

#[tokio::test]
async fn every_create_problem_is_reported_at_once() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let other = app.seed_org("Other").await;
    let ok = received_specimen(&app, &org).await;
    let p = create_patient(&app, &org, "John", "Smith", "1950-01-01").await;
    let collected = register_specimen(&app, &org, id(&p), "routine").await;
    let theirs = received_specimen(&app, &other).await;
    let res = app
        .post(
            "/api/v1/manifests",
            org.token(Role::Lab),
            &json!({
                "specimen_ids": [id(&ok), id(&collected), id(&theirs), "nope", id(&ok)],
                "temperature": "warm"
            }),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(
        res.error_fields(),
        [
            "destination",
            "specimen_ids[3]",
            "specimen_ids[4]",
            "temperature",
            "specimen_ids[1]",
            "specimen_ids[2]"
        ]
    );
    let codes: Vec<&str> = res.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "required",
            "invalid_id",
            "duplicate",
            "invalid_enum",
            "not_received",
            "unknown_specimen"
        ]
    );
    let res = app
        .post(
            "/api/v1/manifests",
            org.token(Role::Lab),
            &json!({"destination": "Quest", "specimen_ids": []}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["specimen_ids"]);
    // Nothing was created.
    let list = app.get("/api/v1/manifests", org.token(Role::Lab)).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_specimen_is_on_one_open_manifest_at_a_time() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let a = received_specimen(&app, &org).await;
    let b = received_specimen(&app, &org).await;
    let first = create_manifest(&app, &org, &[id(&a)]).await;
    let res = app
        .post(
            "/api/v1/manifests",
            org.token(Role::Lab),
            &json!({"destination": "Mayo", "specimen_ids": [id(&b), id(&a)]}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["specimen_ids[1]"]);
    assert_eq!(res.body["errors"][0]["code"], "on_open_manifest");
    assert!(
        res.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(id(&first))
    );

    // Cancelling the draft frees the specimen.
    let res = app
        .post(
            &format!("/api/v1/manifests/{}/cancel", id(&first)),
            org.token(Role::Lab),
            &json!({}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["status"], "cancelled");
    let second = create_manifest(&app, &org, &[id(&b), id(&a)]).await;
    assert_eq!(second["specimen_count"], 2);
    app.post(
        &format!("/api/v1/manifests/{}/ship", id(&first)),
        org.token(Role::Lab),
        &json!({}),
    )
    .await
    .assert_problem(409);
}

#[tokio::test]
async fn a_draft_changes_and_ships_all_or_nothing() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let a = received_specimen(&app, &org).await;
    let b = received_specimen(&app, &org).await;
    let c = received_specimen(&app, &org).await;
    let m = create_manifest(&app, &org, &[id(&a), id(&b)]).await;
    let mid = id(&m);

    // Change: courier cleared, temperature changed, c added, b removed.
    let res = app
        .patch(
            &format!("/api/v1/manifests/{mid}"),
            org.token(Role::Manager),
            &json!({
                "version": 1, "courier": "", "temperature": "frozen",
                "add_specimen_ids": [id(&c)], "remove_specimen_ids": [id(&b)]
            }),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["version"], 2);
    assert!(res.body["courier"].is_null());
    assert_eq!(res.body["temperature"], "frozen");
    assert_eq!(res.body["tracking_number"], "1Z999AA10123456784");
    let ids: Vec<&str> = res.body["specimens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["specimen_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id(&a), id(&c)]);
    assert_eq!(res.headers["etag"], "\"2\"");

    // Stale version; bad changes reported together.
    app.patch(
        &format!("/api/v1/manifests/{mid}"),
        org.token(Role::Lab),
        &json!({"version": 1, "courier": "UPS"}),
    )
    .await
    .assert_problem(409);
    let res = app
        .patch(
            &format!("/api/v1/manifests/{mid}"),
            org.token(Role::Lab),
            &json!({"temperature": "hot", "add_specimen_ids": [id(&a)], "remove_specimen_ids": [id(&b)]}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(
        res.error_fields(),
        [
            "temperature",
            "add_specimen_ids[0]",
            "remove_specimen_ids[0]"
        ]
    );
    let res = app
        .patch(
            &format!("/api/v1/manifests/{mid}"),
            org.token(Role::Lab),
            &json!({"remove_specimen_ids": [id(&a), id(&c)]}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["remove_specimen_ids"]);
    // b is free again: it can go on another manifest.
    let other = create_manifest(&app, &org, &[id(&b)]).await;
    assert_eq!(other["status"], "draft");

    // c is rejected meanwhile: shipping refuses, naming it, and moves nothing.
    let res = app
        .post(
            &format!("/api/v1/specimens/{}/events", id(&c)),
            org.token(Role::Lab),
            &json!({"to": "rejected", "reasons": ["RH"]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = app
        .post(
            &format!("/api/v1/manifests/{mid}/ship"),
            org.token(Role::Lab),
            &json!({}),
        )
        .await;
    res.assert_problem(409);
    let blocked = res.body["specimens"].as_array().unwrap();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["accession_number"], c["accession_number"]);
    assert_eq!(blocked[0]["status"], "rejected");
    assert!(
        res.body["detail"]
            .as_str()
            .unwrap()
            .contains(c["accession_number"].as_str().unwrap())
    );
    let s = app
        .get(
            &format!("/api/v1/specimens/{}", id(&a)),
            org.token(Role::Lab),
        )
        .await;
    assert_eq!(s.body["status"], "received", "nothing moved");
    let m = app
        .get(&format!("/api/v1/manifests/{mid}"), org.token(Role::Lab))
        .await;
    assert_eq!(m.body["status"], "draft");
    assert_eq!(audit_count(&app, &org, "manifest.ship").await, 0);

    // Take c off, then it ships.
    let res = app
        .patch(
            &format!("/api/v1/manifests/{mid}"),
            org.token(Role::Lab),
            &json!({"remove_specimen_ids": [id(&c)]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/manifests/{mid}/ship"),
            Some(org.token(Role::Admin)),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["specimens"][0]["status"], "referred_out");
    assert_eq!(audit_count(&app, &org, "manifest.update").await, 2);
}

#[tokio::test]
async fn the_printout_lists_specimens_with_patient_identifiers_and_a_signature_line() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let a = received_specimen(&app, &org).await;
    let m = create_manifest(&app, &org, &[id(&a)]).await;
    let mid = id(&m);
    app.post(
        &format!("/api/v1/manifests/{mid}/ship"),
        org.token(Role::Lab),
        &json!({}),
    )
    .await;
    for path in [
        format!("/api/v1/manifests/{mid}/print"),
        format!("/api/v1/manifests/{mid}?format=html"),
    ] {
        let res = app.get(&path, org.token(Role::Clinician)).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert!(
            res.content_type().starts_with("text/html"),
            "{}",
            res.content_type()
        );
        let html = &res.text;
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(
            html.contains("Quest Diagnostics &lt;Chantilly&gt;"),
            "escaped"
        );
        assert!(!html.contains("<Chantilly>"));
        assert!(html.contains("LabCorp courier"));
        assert!(html.contains("1Z999AA10123456784"));
        assert!(html.contains("refrigerated"));
        assert!(html.contains(" UTC"));
        assert!(html.contains(a["accession_number"].as_str().unwrap()));
        assert!(html.contains("LOPEZ, Maria"));
        assert!(html.contains("1984-03-12"));
        assert!(html.contains("serum"));
        assert!(html.contains("Courier — name, signature"));
    }
    assert_eq!(audit_count(&app, &org, "manifest.print").await, 2);
    app.get(
        &format!("/api/v1/manifests/{mid}?format=pdf"),
        org.token(Role::Lab),
    )
    .await
    .assert_problem(422);
}

#[tokio::test]
async fn readers_cannot_write_and_other_organizations_see_nothing() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let other = app.seed_org("Other").await;
    let a = received_specimen(&app, &org).await;
    for role in [Role::Biller, Role::Auditor, Role::Clinician] {
        app.post(
            "/api/v1/manifests",
            org.token(role),
            &json!({"destination": "Quest", "specimen_ids": [id(&a)]}),
        )
        .await
        .assert_problem(403);
    }
    let m = create_manifest(&app, &org, &[id(&a)]).await;
    let mid = id(&m);
    for role in [Role::Biller, Role::Auditor, Role::Clinician] {
        app.post(
            &format!("/api/v1/manifests/{mid}/ship"),
            org.token(role),
            &json!({}),
        )
        .await
        .assert_problem(403);
        app.patch(
            &format!("/api/v1/manifests/{mid}"),
            org.token(role),
            &json!({"courier": "x"}),
        )
        .await
        .assert_problem(403);
    }
    for path in [
        format!("/api/v1/manifests/{mid}"),
        format!("/api/v1/manifests/{mid}/print"),
    ] {
        app.get(&path, other.token(Role::Admin))
            .await
            .assert_problem(404);
    }
    app.post(
        &format!("/api/v1/manifests/{mid}/ship"),
        other.token(Role::Lab),
        &json!({}),
    )
    .await
    .assert_problem(404);
    app.patch(
        &format!("/api/v1/manifests/{mid}"),
        other.token(Role::Lab),
        &json!({"courier": "x"}),
    )
    .await
    .assert_problem(404);
    let list = app.get("/api/v1/manifests", other.token(Role::Lab)).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0);
    // The specimen did not move.
    let s = app
        .get(
            &format!("/api/v1/specimens/{}", id(&a)),
            org.token(Role::Lab),
        )
        .await;
    assert_eq!(s.body["status"], "received");
}

#[tokio::test]
async fn the_list_pages() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    for _ in 0..3 {
        let s = received_specimen(&app, &org).await;
        create_manifest(&app, &org, &[id(&s)]).await;
    }
    let page = app
        .get("/api/v1/manifests?limit=2", org.token(Role::Lab))
        .await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 2);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/api/v1/manifests?limit=2&cursor={cursor}"),
            org.token(Role::Lab),
        )
        .await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 1);
    assert!(rest.body["next_cursor"].is_null());
    let bad = app
        .get("/api/v1/manifests?status=lost", org.token(Role::Lab))
        .await;
    bad.assert_problem(422);
    assert_eq!(bad.error_fields(), ["status"]);
    // A specimen that cannot be referred out (collected, not received) is refused by its state.
    let p = create_patient(&app, &org, "Eve", "Adams", "1970-05-05").await;
    let s = register_specimen(&app, &org, id(&p), "routine").await;
    move_to(&app, &org, id(&s), "in_transit").await;
    let res = app
        .post(
            "/api/v1/manifests",
            org.token(Role::Lab),
            &json!({"destination": "Quest", "specimen_ids": [id(&s)]}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.body["errors"][0]["code"], "not_received");
}
