//! Specimen labels: SVG with a Code 128 barcode that decodes to exactly the accession number,
//! print-ready HTML (one and many), audit, organization scoping. Also the specimen helpers the
//! other lab test files use.

use std::process::Command;

use officina::auth::Role;
use serde_json::{Value, json};

use crate::helpers::{Org, TestApp};
use crate::patients::create_patient;

/// An RFC 3339 instant `minutes_ago` before now.
pub fn minutes_ago(minutes: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(minutes))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Registers a collected serum specimen with one glucose test (as the lab assistant).
pub async fn register_specimen(
    app: &TestApp,
    org: &Org,
    patient_id: &str,
    priority: &str,
) -> Value {
    let res = app
        .post(
            "/api/v1/specimens",
            org.token(Role::Lab),
            &json!({
                "patient_id": patient_id,
                "specimen_type": "serum",
                "priority": priority,
                "collected_at": minutes_ago(30),
                "collected_by": "J. Doe",
                "tests": [{"code_system": "loinc", "code": "2345-7", "name": "Glucose", "billing_code": "82947"}]
            }),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.body
}

/// Moves a specimen along the custody chain (as the lab assistant).
pub async fn move_to(app: &TestApp, org: &Org, id: &str, to: &str) -> Value {
    let res = app
        .post(
            &format!("/api/v1/specimens/{id}/events"),
            org.token(Role::Lab),
            &json!({"to": to}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.body
}

/// A patient plus one received specimen of theirs.
pub async fn received_specimen(app: &TestApp, org: &Org) -> Value {
    let p = create_patient(app, org, "Maria", "Lopez", "1984-03-12").await;
    let s = register_specimen(app, org, p["id"].as_str().unwrap(), "routine").await;
    move_to(app, org, s["id"].as_str().unwrap(), "received").await;
    s
}

/// Fetches raw bytes with a token.
async fn get_bytes(app: &TestApp, path: &str, token: &str) -> (u16, String, Vec<u8>) {
    let res = app
        .client
        .get(format!("{}{}", app.address, path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, ct, res.bytes().await.unwrap().to_vec())
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool} >/dev/null 2>&1"))
        .status()
        .is_ok_and(|s| s.success())
}

/// Renders an SVG to PNG (rsvg-convert) and decodes its Code 128 with zbarimg. `None` (with a
/// printed reason) when either tool is missing.
fn decode(svg: &[u8]) -> Option<String> {
    if !have("rsvg-convert") || !have("zbarimg") {
        eprintln!(
            "SKIPPED barcode decode: rsvg-convert and zbarimg are needed \
             (apt-get install librsvg2-bin zbar-tools)"
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let svg_path = dir.path().join("label.svg");
    let png_path = dir.path().join("label.png");
    std::fs::write(&svg_path, svg).unwrap();
    let out = Command::new("rsvg-convert")
        .args(["-d", "600", "-p", "600", "-b", "white", "-o"])
        .arg(&png_path)
        .arg(&svg_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rsvg-convert: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("zbarimg")
        .args(["--raw", "-q", "-Sdisable", "-Scode128.enable"])
        .arg(&png_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "zbarimg found no barcode: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end_matches('\n')
            .to_owned(),
    )
}

#[tokio::test]
async fn the_label_is_an_svg_with_both_identifiers_and_a_barcode_that_reads_back_exactly() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Ann", "O'Brien", "1980-02-03").await;
    let s = register_specimen(&app, &org, p["id"].as_str().unwrap(), "stat").await;
    let id = s["id"].as_str().unwrap();
    let acc = s["accession_number"].as_str().unwrap();

    let (status, ct, body) = get_bytes(
        &app,
        &format!("/api/v1/specimens/{id}/label"),
        org.token(Role::Lab),
    )
    .await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("image/svg+xml"), "{ct}");
    let svg = String::from_utf8(body.clone()).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.contains(r#"width="50.8mm" height="25.4mm""#));
    assert!(svg.contains(acc));
    assert!(svg.contains("O&apos;BRIEN, Ann"), "name escaped: {svg}");
    assert!(svg.contains("DOB 1980-02-03"));
    assert!(svg.contains(&format!("MRN {}", p["mrn"].as_str().unwrap())));
    assert!(svg.contains("serum"));
    assert!(svg.contains("Coll 20"));
    assert!(svg.contains("STAT"));

    if let Some(text) = decode(&body) {
        assert_eq!(text, acc);
    }

    // The render is audited.
    let audit = app
        .get(
            &format!("/api/v1/audit-events?action=specimen.label&entity_id={id}"),
            org.token(Role::Auditor),
        )
        .await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    assert_eq!(audit.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_aliquot_label_decodes_to_the_aliquot_number_and_routine_has_no_stat() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let s = received_specimen(&app, &org).await;
    let res = app
        .post(
            &format!("/api/v1/specimens/{}/aliquots", s["id"].as_str().unwrap()),
            org.token(Role::Lab),
            &json!({"count": 1}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let child = &res.body["items"][0];
    let acc = child["accession_number"].as_str().unwrap();
    assert!(acc.ends_with(".1"), "{acc}");
    let (status, _, body) = get_bytes(
        &app,
        &format!("/api/v1/specimens/{}/label", child["id"].as_str().unwrap()),
        org.token(Role::Clinician),
    )
    .await;
    assert_eq!(status, 200);
    let svg = String::from_utf8(body.clone()).unwrap();
    assert!(!svg.contains("STAT"));
    assert!(svg.contains("LOPEZ, Maria"));
    if let Some(text) = decode(&body) {
        assert_eq!(text, acc);
    }
}

#[tokio::test]
async fn html_labels_print_one_per_two_by_one_inch_page() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap();
    let a = register_specimen(&app, &org, pid, "routine").await;
    let b = register_specimen(&app, &org, pid, "stat").await;
    let (ida, idb) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());

    let (status, ct, body) = get_bytes(
        &app,
        &format!("/api/v1/specimens/{ida}/label?format=html"),
        org.token(Role::Lab),
    )
    .await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = String::from_utf8(body).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("@page { size: 2in 1in; margin: 0 }"));
    assert_eq!(html.matches("<div class=\"label\"><svg").count(), 1);

    let bad = app
        .get(
            &format!("/api/v1/specimens/{ida}/label?format=pdf"),
            org.token(Role::Lab),
        )
        .await;
    bad.assert_problem(422);
    assert_eq!(bad.error_fields(), ["format"]);

    // Many labels on one page, in the order asked, a page break after each.
    let (status, ct, body) = get_bytes(
        &app,
        &format!("/api/v1/specimens/labels?ids={idb},{ida}"),
        org.token(Role::Lab),
    )
    .await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/html"));
    let html = String::from_utf8(body).unwrap();
    assert_eq!(html.matches("<div class=\"label\"><svg").count(), 2);
    assert!(html.contains("break-after: page"));
    let (acc_a, acc_b) = (
        a["accession_number"].as_str().unwrap(),
        b["accession_number"].as_str().unwrap(),
    );
    assert!(html.find(acc_b).unwrap() < html.find(acc_a).unwrap());

    // Each label of the batch is audited.
    let audit = app
        .get(
            "/api/v1/audit-events?action=specimen.label",
            org.token(Role::Admin),
        )
        .await;
    assert_eq!(audit.body["items"].as_array().unwrap().len(), 3);

    // Bad lists: every problem at once.
    let res = app
        .get(
            &format!("/api/v1/specimens/labels?ids={ida},nope,{ida}"),
            org.token(Role::Lab),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["ids[1]", "ids[2]"]);
    let res = app
        .get("/api/v1/specimens/labels", org.token(Role::Lab))
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["ids"]);
}

#[tokio::test]
async fn another_organizations_specimen_has_no_label() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let other = app.seed_org("Other").await;
    let s = received_specimen(&app, &org).await;
    let id = s["id"].as_str().unwrap();
    app.get(
        &format!("/api/v1/specimens/{id}/label"),
        other.token(Role::Lab),
    )
    .await
    .assert_problem(404);
    app.get(
        &format!("/api/v1/specimens/{id}/label?format=html"),
        other.token(Role::Lab),
    )
    .await
    .assert_problem(404);
    let mine = received_specimen(&app, &other).await;
    let res = app
        .get(
            &format!(
                "/api/v1/specimens/labels?ids={},{id}",
                mine["id"].as_str().unwrap()
            ),
            other.token(Role::Lab),
        )
        .await;
    res.assert_problem(404);
    assert!(res.body["detail"].as_str().unwrap().contains(id));
    // Nothing was audited for the refused batch.
    let audit = app
        .get(
            "/api/v1/audit-events?action=specimen.label",
            other.token(Role::Admin),
        )
        .await;
    assert_eq!(audit.body["items"].as_array().unwrap().len(), 0);
    app.get("/api/v1/specimens/not-an-id/label", org.token(Role::Lab))
        .await
        .assert_problem(404);
}
