//! Specimens: registration, accession numbers, the custody table, rejection, aliquots, storage,
//! results and verification, charges, idempotency, roles, tenancy, concurrency.

use std::collections::{BTreeSet, HashMap};

use officina::auth::Role;
use officina::db::DbConn;
use officina::db::combine::WriteAll;
use officina::error::AppError;
use officina::lab::domain::{Accession, SpecimenStatus};
use officina::lab::repo::{Registered, Registration};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Org, Res, Step, TestApp, statements_of};
use crate::patients::create_patient;

pub fn specimen_body(patient: &str, collected: bool) -> Value {
    let mut b = json!({
        "patient_id": patient, "specimen_type": "serum", "container": "SST 5 mL", "priority": "routine",
        "tests": [
            {"code_system": "loinc", "code": "2345-7", "name": "Glucose", "billing_code": "82947"},
            {"code_system": "local", "code": "hold", "name": "Hold serum"}
        ]
    });
    if collected {
        b["collected_at"] = json!("2026-11-27T08:30:00Z");
        b["collected_by"] = json!("L. Nurse");
    }
    b
}

pub async fn register(app: &TestApp, org: &Org, patient: &str, collected: bool) -> Value {
    let res = app
        .post(
            "/api/v1/specimens",
            org.token(Role::Lab),
            &specimen_body(patient, collected),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.body
}

pub async fn event(app: &TestApp, org: &Org, role: Role, id: &str, body: Value) -> Res {
    app.post(
        &format!("/api/v1/specimens/{id}/events"),
        org.token(role),
        &body,
    )
    .await
}

/// Drives a specimen from `ordered` along a legal path to `state`.
async fn drive_to(app: &TestApp, org: &Org, id: &str, state: SpecimenStatus) {
    use SpecimenStatus::*;
    let path: &[&str] = match state {
        Ordered => &[],
        Collected => &["collected"],
        InTransit => &["collected", "in_transit"],
        Received => &["collected", "received"],
        InProcess => &["collected", "received", "in_process"],
        ReferredOut => &["collected", "received", "referred_out"],
        Resulted => &["collected", "received", "in_process", "resulted"],
        Verified => &[
            "collected",
            "received",
            "in_process",
            "resulted",
            "verified",
        ],
        Reported => &[
            "collected",
            "received",
            "in_process",
            "resulted",
            "verified",
            "reported",
        ],
        Amended => &[
            "collected",
            "received",
            "in_process",
            "resulted",
            "verified",
            "reported",
            "amended",
        ],
        Rejected => &["collected", "rejected"],
        Cancelled => &["cancelled"],
        Disposed => &["collected", "rejected", "disposed"],
        Lost => &["collected", "in_transit", "lost"],
        EnteredInError => &["entered_in_error"],
    };
    for to in path {
        let body = match *to {
            "rejected" => json!({"to": to, "reasons": ["RH"]}),
            "entered_in_error" => json!({"to": to, "note": "duplicate registration"}),
            _ => json!({"to": to}),
        };
        let role = if *to == "entered_in_error" {
            Role::Manager
        } else {
            Role::Lab
        };
        let res = event(app, org, role, id, body).await;
        assert_eq!(res.status, 200, "{to}: {}", res.text);
    }
}

#[tokio::test]
async fn registration_gives_an_accession_number_and_the_right_starting_state() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap();
    let collected = register(&app, &org, pid, true).await;
    let number = collected["accession_number"].as_str().unwrap();
    let parsed = Accession::parse(number).unwrap();
    assert_eq!(parsed.prefix, "L");
    assert_eq!(parsed.seq, 1);
    assert_eq!(collected["status"], "collected");
    assert_eq!(collected["tests"].as_array().unwrap().len(), 2);
    assert!(collected["tests"][0]["id"].is_string());
    let ordered = register(&app, &org, pid, false).await;
    assert_eq!(ordered["status"], "ordered");
    assert_eq!(
        Accession::parse(ordered["accession_number"].as_str().unwrap())
            .unwrap()
            .seq,
        2
    );
    // The timeline starts with the registration.
    let events = app
        .get(
            &format!(
                "/api/v1/specimens/{}/events",
                collected["id"].as_str().unwrap()
            ),
            org.token(Role::Biller),
        )
        .await;
    assert_eq!(events.body["items"][0]["to"], "collected");
    assert_eq!(
        events.body["items"][0]["actor_id"],
        org.user(Role::Lab).to_string()
    );
}

#[tokio::test]
async fn registration_errors_name_every_field() {
    let app = TestApp::spawn().await;
    let a = app.seed_org("A").await;
    let b = app.seed_org("B").await;
    let other = create_patient(&app, &b, "Other", "Org", "1990-01-01").await;
    let res = app
        .post(
            "/api/v1/specimens",
            a.token(Role::Clinician),
            &json!({"patient_id": other["id"], "specimen_type": "blood-ish", "ordering_provider_id": "0199aaaa-0000-7000-8000-000000000000",
                    "priority": "asap", "collected_at": "2999-01-01T00:00:00Z",
                    "tests": [{"code_system": "loinc", "code": "2345-1", "name": "Glucose", "billing_code": "ABC"}]}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(
        res.error_fields(),
        [
            "patient_id",
            "specimen_type",
            "ordering_provider_id",
            "priority",
            "collected_at",
            "tests[0].code",
            "tests[0].billing_code"
        ]
    );
    let none = app.get("/api/v1/specimens", a.token(Role::Lab)).await;
    assert!(none.body["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_new_accession_prefix_numbers_the_next_registration_and_the_count_goes_on() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap();
    let first = register(&app, &org, pid, true).await;
    let res = app
        .patch(
            "/api/v1/organization",
            org.token(Role::Admin),
            &json!({"accession_prefix": "rf", "version": 1}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let second = register(&app, &org, pid, true).await;
    let parse =
        |s: &serde_json::Value| Accession::parse(s["accession_number"].as_str().unwrap()).unwrap();
    assert_eq!((parse(&first).prefix.as_str(), parse(&first).seq), ("L", 1));
    assert_eq!(
        (parse(&second).prefix.as_str(), parse(&second).seq),
        ("RF", 2)
    );
    // As stored: the read answers the number the registration answered.
    let read = app
        .get(
            &format!("/api/v1/specimens/{}", second["id"].as_str().unwrap()),
            org.token(Role::Lab),
        )
        .await;
    assert_eq!(read.body["accession_number"], second["accession_number"]);
}

#[tokio::test]
async fn a_scanned_number_finds_the_specimen_and_a_mistyped_one_is_refused() {
    let app = TestApp::spawn().await;
    let a = app.seed_org("A").await;
    let b = app.seed_org("B").await;
    let p = create_patient(&app, &a, "Maria", "Lopez", "1984-03-12").await;
    let s = register(&app, &a, p["id"].as_str().unwrap(), true).await;
    let number = s["accession_number"].as_str().unwrap();
    let found = app
        .get(
            &format!("/api/v1/specimens/by-accession/{}", number.to_lowercase()),
            a.token(Role::Lab),
        )
        .await;
    assert_eq!(found.status, 200);
    assert_eq!(found.body["id"], s["id"]);
    let mut typo = number.to_owned().into_bytes();
    let last = typo.len() - 2;
    typo[last] = if typo[last] == b'9' {
        b'0'
    } else {
        typo[last] + 1
    };
    let typo = String::from_utf8(typo).unwrap();
    let res = app
        .get(
            &format!("/api/v1/specimens/by-accession/{typo}"),
            a.token(Role::Lab),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.body["errors"][0]["code"], "invalid_check_digit");
    app.get(
        &format!("/api/v1/specimens/by-accession/{number}"),
        b.token(Role::Lab),
    )
    .await
    .assert_problem(404);
    app.get(
        &format!("/api/v1/specimens/{}", s["id"].as_str().unwrap()),
        b.token(Role::Lab),
    )
    .await
    .assert_problem(404);
}

#[tokio::test]
async fn every_transition_in_the_table_works_and_every_other_is_409_with_the_allowed_list() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap().to_owned();
    let mut at_state: HashMap<SpecimenStatus, String> = HashMap::new();
    for from in SpecimenStatus::ALL {
        let s = register(&app, &org, &pid, false).await;
        let id = s["id"].as_str().unwrap().to_owned();
        drive_to(&app, &org, &id, *from).await;
        at_state.insert(*from, id);
    }
    for from in SpecimenStatus::ALL {
        let allowed: Vec<&str> = from.allowed().iter().map(|s| s.as_str()).collect();
        for to in SpecimenStatus::ALL {
            let legal = allowed.contains(&to.as_str());
            if legal {
                // A fresh specimen for each legal move.
                let s = register(&app, &org, &pid, false).await;
                let id = s["id"].as_str().unwrap().to_owned();
                drive_to(&app, &org, &id, *from).await;
                let body = match to {
                    SpecimenStatus::Rejected => json!({"to": "rejected", "reasons": ["QS"]}),
                    SpecimenStatus::EnteredInError => {
                        json!({"to": "entered_in_error", "note": "wrong patient"})
                    }
                    _ => {
                        json!({"to": to.as_str(), "location": {"room": "LAB1"}, "temperature_c": 4.0})
                    }
                };
                let res = event(&app, &org, Role::Manager, &id, body).await;
                assert_eq!(res.status, 200, "{from} -> {to}: {}", res.text);
                assert_eq!(res.body["specimen"]["status"], to.as_str());
                let events = app
                    .get(
                        &format!("/api/v1/specimens/{id}/events"),
                        org.token(Role::Auditor),
                    )
                    .await;
                let last = events.body["items"]
                    .as_array()
                    .unwrap()
                    .last()
                    .unwrap()
                    .clone();
                assert_eq!(
                    (last["from"].as_str().unwrap(), last["to"].as_str().unwrap()),
                    (from.as_str(), to.as_str())
                );
                assert_eq!(last["actor_id"], org.user(Role::Manager).to_string());
            } else {
                let id = &at_state[from];
                let body = match to {
                    SpecimenStatus::Rejected => json!({"to": "rejected", "reasons": ["QS"]}),
                    SpecimenStatus::EnteredInError => {
                        json!({"to": "entered_in_error", "note": "x"})
                    }
                    _ => json!({"to": to.as_str()}),
                };
                let res = event(&app, &org, Role::Manager, id, body).await;
                res.assert_problem(409);
                let listed: Vec<&str> = res.body["allowed"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert_eq!(listed, allowed, "{from} -> {to}");
                assert_eq!(res.body["current"], from.as_str());
            }
        }
    }
}

#[tokio::test]
async fn entered_in_error_needs_a_manager_or_admin_and_a_note() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let s = register(&app, &org, p["id"].as_str().unwrap(), true).await;
    let id = s["id"].as_str().unwrap();
    event(
        &app,
        &org,
        Role::Lab,
        id,
        json!({"to": "entered_in_error", "note": "dup"}),
    )
    .await
    .assert_problem(403);
    let res = event(
        &app,
        &org,
        Role::Admin,
        id,
        json!({"to": "entered_in_error"}),
    )
    .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["note"]);
    assert_eq!(
        event(
            &app,
            &org,
            Role::Admin,
            id,
            json!({"to": "entered_in_error", "note": "dup"})
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn rejection_needs_a_table_0490_reason_and_cascades_to_aliquots() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let s = register(&app, &org, p["id"].as_str().unwrap(), true).await;
    let id = s["id"].as_str().unwrap();
    event(&app, &org, Role::Lab, id, json!({"to": "received"})).await;
    let al = app
        .post(
            &format!("/api/v1/specimens/{id}/aliquots"),
            org.token(Role::Lab),
            &json!({"count": 2}),
        )
        .await;
    assert_eq!(al.status, 201);
    let none = event(&app, &org, Role::Lab, id, json!({"to": "rejected"})).await;
    none.assert_problem(422);
    assert_eq!(none.error_fields(), ["reasons"]);
    let bad = event(
        &app,
        &org,
        Role::Lab,
        id,
        json!({"to": "rejected", "reasons": ["RH", "XX"]}),
    )
    .await;
    assert_eq!(bad.error_fields(), ["reasons[1]"]);
    let res = event(
        &app,
        &org,
        Role::Lab,
        id,
        json!({"to": "rejected", "reasons": ["RH", "QS"], "note": "grossly hemolysed"}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.body["specimen"]["rejection_reasons"],
        json!(["RH", "QS"])
    );
    assert_eq!(res.body["cascaded"].as_array().unwrap().len(), 2);
    for child in al.body["items"].as_array().unwrap() {
        let c = app
            .get(
                &format!("/api/v1/specimens/{}", child["id"].as_str().unwrap()),
                org.token(Role::Lab),
            )
            .await;
        assert_eq!(c.body["status"], "rejected");
    }
    let rh = app
        .get(
            "/api/v1/specimens?status=rejected&reason=RH",
            org.token(Role::Biller),
        )
        .await;
    assert_eq!(rh.body["items"].as_array().unwrap().len(), 3);
    let rc = app
        .get(
            "/api/v1/specimens?status=rejected&reason=RC",
            org.token(Role::Biller),
        )
        .await;
    assert!(rc.body["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn aliquots_are_numbered_after_the_parent_with_their_own_chain() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let s = register(&app, &org, p["id"].as_str().unwrap(), true).await;
    let id = s["id"].as_str().unwrap();
    let number = s["accession_number"].as_str().unwrap();
    app.post(
        &format!("/api/v1/specimens/{id}/aliquots"),
        org.token(Role::Lab),
        &json!({"count": 1}),
    )
    .await
    .assert_problem(409);
    event(&app, &org, Role::Lab, id, json!({"to": "received"})).await;
    let first = app
        .post(
            &format!("/api/v1/specimens/{id}/aliquots"),
            org.token(Role::Lab),
            &json!({"count": 2, "volume_ml": 0.5}),
        )
        .await;
    let numbers: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["accession_number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, [format!("{number}.1"), format!("{number}.2")]);
    assert_eq!(first.body["items"][0]["parent_id"], s["id"]);
    assert_eq!(first.body["items"][0]["volume_ml"], 0.5);
    let more = app
        .post(
            &format!("/api/v1/specimens/{id}/aliquots"),
            org.token(Role::Lab),
            &json!({"count": 1}),
        )
        .await;
    assert_eq!(
        more.body["items"][0]["accession_number"],
        format!("{number}.3")
    );
    let child = first.body["items"][0]["id"].as_str().unwrap();
    assert_eq!(
        event(&app, &org, Role::Lab, child, json!({"to": "in_process"}))
            .await
            .status,
        200
    );
    let parent = app
        .get(&format!("/api/v1/specimens/{id}"), org.token(Role::Lab))
        .await;
    assert_eq!(parent.body["status"], "received");
    assert_eq!(parent.body["aliquot_count"], 3);
    let scanned = app
        .get(
            &format!("/api/v1/specimens/by-accession/{number}.1"),
            org.token(Role::Lab),
        )
        .await;
    assert_eq!(scanned.body["id"], child);
    app.post(
        &format!("/api/v1/specimens/{id}/aliquots"),
        org.token(Role::Lab),
        &json!({"count": 0}),
    )
    .await
    .assert_problem(422);
}

#[tokio::test]
async fn storing_moves_a_specimen_without_changing_its_state() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let s = register(&app, &org, p["id"].as_str().unwrap(), true).await;
    let id = s["id"].as_str().unwrap();
    event(&app, &org, Role::Lab, id, json!({"to": "received"})).await;
    let loc =
        json!({"room": "lab1", "device": "FRZ-2", "shelf": "3", "box": "B12", "position": "A4"});
    let res = event(
        &app,
        &org,
        Role::Lab,
        id,
        json!({"to": "store", "location": loc, "temperature_c": -20.0}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["specimen"]["status"], "received");
    assert_eq!(res.body["specimen"]["location"]["box"], "B12");
    assert_eq!(
        app.get(
            "/api/v1/specimens?location=LAB1/FRZ-2",
            org.token(Role::Lab)
        )
        .await
        .body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        app.get(
            "/api/v1/specimens?location=LAB1/FRZ-20",
            org.token(Role::Lab)
        )
        .await
        .body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let missing = event(&app, &org, Role::Lab, id, json!({"to": "store"})).await;
    assert_eq!(missing.error_fields(), ["location"]);
    let gap = event(
        &app,
        &org,
        Role::Lab,
        id,
        json!({"to": "store", "location": {"room": "L", "shelf": "2"}}),
    )
    .await;
    assert_eq!(gap.error_fields(), ["location"]);
    let events = app
        .get(
            &format!("/api/v1/specimens/{id}/events"),
            org.token(Role::Lab),
        )
        .await;
    let last = events.body["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "store");
    assert_eq!(last["temperature_c"], -20.0);
}

#[tokio::test]
async fn results_are_versioned_and_verified_by_a_second_person_then_billed() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let s = register(&app, &org, p["id"].as_str().unwrap(), true).await;
    let id = s["id"].as_str().unwrap();
    let test = s["tests"][0]["id"].as_str().unwrap();
    let hold = s["tests"][1]["id"].as_str().unwrap();
    let put = |body: Value| {
        let path = format!("/api/v1/specimens/{id}/tests/{test}/result");
        let tok = org.token(Role::Lab).to_owned();
        let app = &app;
        async move {
            app.request(Method::PUT, &path, Some(&tok), Some(&body))
                .await
        }
    };
    put(json!({"value": "5.4"})).await.assert_problem(409);
    event(&app, &org, Role::Lab, id, json!({"to": "received"})).await;
    event(&app, &org, Role::Lab, id, json!({"to": "in_process"})).await;
    let bad = put(json!({"flag": "Z"})).await;
    assert_eq!(bad.error_fields(), ["value", "flag"]);
    let v1 =
        put(json!({"value": "9.4", "unit": "mmol/L", "reference_range": "3.9-5.5", "flag": "H"}))
            .await;
    assert_eq!(v1.status, 200, "{}", v1.text);
    assert_eq!(v1.body["result_version"], 1);
    let v2 = put(json!({"value": "5.4", "unit": "mmol/L", "reference_range": "3.9-5.5", "flag": "N", "comment": "transcription corrected"})).await;
    assert_eq!(v2.body["result_version"], 2);
    let verify = format!("/api/v1/specimens/{id}/tests/{test}/verify");
    app.request(Method::POST, &verify, Some(org.token(Role::Lab)), None)
        .await
        .assert_problem(409);
    let ok = app
        .request(Method::POST, &verify, Some(org.token(Role::Manager)), None)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["verified_by"], org.user(Role::Manager).to_string());
    app.request(Method::POST, &verify, Some(org.token(Role::Admin)), None)
        .await
        .assert_problem(409);
    let view = app
        .get(
            &format!("/api/v1/specimens/{id}"),
            org.token(Role::Clinician),
        )
        .await;
    assert_eq!(view.body["tests"][0]["result_versions"], 2);
    assert_eq!(view.body["tests"][0]["result"]["value"], "5.4");
    // The verified test with a billing code is an unbilled charge, once.
    let charges = app
        .get("/api/v1/charges?status=unbilled", org.token(Role::Biller))
        .await;
    let items = charges.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["procedure_code"], "82947");
    assert_eq!(items[0]["service_date"], "2026-11-27");
    assert_eq!(items[0]["patient_id"], p["id"]);
    // A test without a billing code produces no charge.
    let hold_path = format!("/api/v1/specimens/{id}/tests/{hold}/result");
    app.request(
        Method::PUT,
        &hold_path,
        Some(org.token(Role::Lab)),
        Some(&json!({"value": "held"})),
    )
    .await;
    app.request(
        Method::POST,
        &format!("/api/v1/specimens/{id}/tests/{hold}/verify"),
        Some(org.token(Role::Manager)),
        None,
    )
    .await;
    assert_eq!(
        app.get("/api/v1/charges", org.token(Role::Biller))
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.get("/api/v1/charges", org.token(Role::Lab))
        .await
        .assert_problem(403);
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_creates_nothing_new() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let body = specimen_body(p["id"].as_str().unwrap(), true);
    let send = |b: Value| {
        let app = &app;
        let tok = org.token(Role::Lab).to_owned();
        async move {
            let r = app
                .client
                .post(format!("{}/api/v1/specimens", app.address))
                .bearer_auth(tok)
                .header("idempotency-key", "draw-station-7-0001")
                .json(&b)
                .send()
                .await
                .unwrap();
            crate::helpers::read(r).await
        }
    };
    let first = send(body.clone()).await;
    let again = send(body.clone()).await;
    assert_eq!(first.status, 201);
    assert_eq!(again.status, 201);
    assert_eq!(first.body["id"], again.body["id"]);
    assert_eq!(
        first.body["accession_number"],
        again.body["accession_number"]
    );
    let mut other = body.clone();
    other["priority"] = json!("stat");
    send(other).await.assert_problem(422);
    let list = app.get("/api/v1/specimens", org.token(Role::Lab)).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_biller_reads_but_cannot_move_and_the_auditor_changes_nothing() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let s = register(&app, &org, p["id"].as_str().unwrap(), true).await;
    let id = s["id"].as_str().unwrap();
    for role in [Role::Biller, Role::Auditor] {
        assert_eq!(
            app.get(&format!("/api/v1/specimens/{id}"), org.token(role))
                .await
                .status,
            200
        );
        event(&app, &org, role, id, json!({"to": "received"}))
            .await
            .assert_problem(403);
        app.post(
            "/api/v1/specimens",
            org.token(role),
            &specimen_body(p["id"].as_str().unwrap(), true),
        )
        .await
        .assert_problem(403);
        app.post(
            &format!("/api/v1/specimens/{id}/aliquots"),
            org.token(role),
            &json!({"count": 1}),
        )
        .await
        .assert_problem(403);
    }
}

#[tokio::test]
async fn a_stale_version_is_409() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let s = register(&app, &org, p["id"].as_str().unwrap(), true).await;
    let id = s["id"].as_str().unwrap();
    assert_eq!(
        event(
            &app,
            &org,
            Role::Lab,
            id,
            json!({"to": "received", "version": 1})
        )
        .await
        .status,
        200
    );
    event(
        &app,
        &org,
        Role::Lab,
        id,
        json!({"to": "in_process", "version": 1}),
    )
    .await
    .assert_problem(409);
}

#[tokio::test]
async fn concurrent_registrations_get_distinct_gapless_numbers() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let body = specimen_body(p["id"].as_str().unwrap(), true);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let client = app.client.clone();
        let url = format!("{}/api/v1/specimens", app.address);
        let tok = org.token(Role::Lab).to_owned();
        let b = body.clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(tok)
                .json(&b)
                .send()
                .await
                .unwrap();
            crate::helpers::read(r).await
        }));
    }
    let mut seqs = BTreeSet::new();
    for t in tasks {
        let res = t.await.unwrap();
        assert_eq!(res.status, 201, "{}", res.text);
        let n = Accession::parse(res.body["accession_number"].as_str().unwrap()).unwrap();
        assert!(seqs.insert(n.seq), "duplicate number {}", n.seq);
    }
    assert_eq!(seqs, (1..=200).collect::<BTreeSet<u64>>());
}

#[tokio::test]
async fn registrations_written_together_answer_what_a_read_returns_each_with_its_own_audit_row() {
    use crate::concurrency::{audit_rows, race, req};
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let q = create_patient(&app, &org, "Ana", "Ruiz", "1990-01-02").await;
    // Thirty at once from two users, with different shapes, so that the organization's lane
    // writes several of them in one transaction.
    let mut requests = Vec::new();
    let mut senders = Vec::new();
    for i in 0..30 {
        let patient = if i % 2 == 0 { &p } else { &q };
        let mut body = specimen_body(patient["id"].as_str().unwrap(), i % 3 == 0);
        if i % 3 == 0 {
            // Nanoseconds: the database keeps microseconds, and so must the answer.
            body["collected_at"] = json!("2026-11-27T08:30:00.123456789Z");
        }
        if i % 5 == 0 {
            body["tests"] =
                json!([{"code_system": "loinc", "code": "718-7", "name": "Hemoglobin"}]);
            body["priority"] = json!("stat");
        }
        let role = if i % 4 == 0 {
            Role::Clinician
        } else {
            Role::Lab
        };
        senders.push(role);
        requests.push(req(&app, Method::POST, "/api/v1/specimens", org.token(role)).json(&body));
    }
    let results = race(requests).await;
    for (res, role) in results.iter().zip(&senders) {
        assert_eq!(res.status, 201, "{}", res.text);
        let id = res.body["id"].as_str().unwrap();
        let read = app
            .get(&format!("/api/v1/specimens/{id}"), org.token(Role::Auditor))
            .await;
        assert_eq!(read.status, 200, "{}", read.text);
        assert_eq!(res.body, read.body, "the answer is what was stored");
        let events = app
            .get(
                &format!("/api/v1/specimens/{id}/events"),
                org.token(Role::Auditor),
            )
            .await;
        let events = events.body["items"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["kind"], "register");
        assert_eq!(events[0]["to"], res.body["status"]);
        assert_eq!(events[0]["actor_id"], org.user(*role).to_string());
        let request_id = res.headers["x-request-id"].to_str().unwrap();
        assert_eq!(
            audit_rows(&app.db, id, "specimen.create", org.user(*role), request_id).await,
            1,
            "one audit row, with the sender and the request"
        );
    }
}

/// A registration of `patient` (the database's checks only: nothing here looks it up).
fn registration(org: &Org, patient: &str, container: &str) -> Registration {
    use officina::lab::domain::{LabPriority, SpecimenType};
    Registration {
        ctx: officina::audit::AuditCtx::cli(org.id),
        new: officina::lab::repo::NewSpecimen {
            patient_id: patient.parse().unwrap(),
            specimen_type: SpecimenType::Serum,
            container: Some(container.to_owned()),
            ordering_provider_id: None,
            priority: LabPriority::Routine,
            collected_at: None,
            collected_by: None,
            tests: Vec::new(),
        },
    }
}

/// Writes `regs` as a lane's leader does in a transaction (`write_all_or_each`), without HTTP; the accession
/// sequence of each answer, `None` for an error.
async fn write_directly(
    app: &TestApp,
    regs: Vec<Registration>,
    write: WriteAll<Registration, Registered>,
) -> Vec<Option<u64>> {
    let db = app.db.clone();
    let answers = tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        officina::db::combine::write_all_or_each(&mut conn, regs, write)
    })
    .await
    .unwrap();
    answers
        .iter()
        .map(|a| {
            a.as_ref()
                .ok()
                .map(|r| Accession::parse(&r.specimen.accession_number).unwrap().seq)
        })
        .collect()
}

/// The sequence of the next registration through the API.
pub(crate) async fn next_seq(app: &TestApp, org: &Org, patient: &str) -> u64 {
    let next = register(app, org, patient, false).await;
    Accession::parse(next["accession_number"].as_str().unwrap())
        .unwrap()
        .seq
}

/// Registrations of `patient` with the given numbers of tests, as one batch writes them.
fn batch_of(org: &Org, patient: &str, tests: &[usize]) -> Vec<Registration> {
    use officina::lab::domain::TestCodeSystem;
    tests
        .iter()
        .map(|&n| {
            let mut r = registration(org, patient, "SST");
            r.new.tests = (0..n)
                .map(|i| officina::lab::repo::NewTest {
                    code_system: TestCodeSystem::Local,
                    code: format!("T{i}"),
                    name: format!("Test {i}"),
                    billing_code: None,
                })
                .collect();
            r
        })
        .collect()
}

/// A counter's step is one statement that each connection prepares once, on both backends
/// (diesel never caches its own upsert). A registration batch also prepares nothing that an
/// earlier batch of another size already prepared, where multi-row INSERTs (a text per row
/// count) were parsed and planned again for every batch: on SQLite, under the one write lock, a
/// prepared INSERT per row; on PostgreSQL, while the batch holds the counter's row, one statement
/// of column arrays, in a transaction (after the accession counter's own upsert) and on the
/// lane's one-statement path.
#[tokio::test]
async fn counters_and_registration_batches_reuse_their_prepared_statements() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap().to_owned();
    let org_id = org.id;
    let count = move |c: &mut DbConn| {
        officina::db::next_counter(c, org_id, "test").unwrap();
    };
    let steps: Vec<Step> = vec![Box::new(count), Box::new(count)];
    let counted = statements_of(&app, steps).await;
    assert_eq!(counted[0].0.len(), 1, "one statement: {:?}", counted[0]);
    assert!(
        counted[0].0[0].starts_with("INSERT INTO counters"),
        "{:?}",
        counted[0]
    );
    assert_eq!(
        counted[0].1, counted[0].0,
        "prepared and cached by the first step"
    );
    assert_eq!(counted[1].0, counted[0].0, "the same statement again");
    assert!(
        counted[1].1.is_empty(),
        "prepared again: {:?}",
        counted[1].1
    );

    let sqlite = matches!(app.test_db.url, officina::config::DatabaseUrl::Sqlite(_));
    let write = |regs: Vec<Registration>| {
        move |c: &mut DbConn| {
            let done = officina::db::write_tx(c, |c| officina::lab::repo::register_all(c, &regs));
            assert_eq!(done.unwrap().len(), regs.len());
        }
    };
    let steps: Vec<Step> = vec![
        Box::new(write(batch_of(&org, &pid, &[2, 0]))),
        Box::new(write(batch_of(&org, &pid, &[1, 3, 2]))),
    ];
    let batches = statements_of(&app, steps).await;
    let listed = app
        .get(
            &format!("/api/v1/specimens?patient_id={pid}"),
            org.token(Role::Lab),
        )
        .await;
    let registered = listed.body["items"].as_array().unwrap().len();
    assert_eq!(registered, 5, "both batches written");
    let (first, second) = (&batches[0], &batches[1]);
    crate::helpers::assert_prepared_once(first, second);
    if sqlite {
        return;
    }
    // The lane's own path: one statement with the counter's step, numbered from where the
    // transactions above left the counter.
    let one = |regs: Vec<Registration>| {
        move |c: &mut DbConn| {
            let done = officina::lab::repo::register_all_in_one_statement(c, &regs).unwrap();
            assert_eq!(done.map(|d| d.len()), Some(regs.len()), "in one statement");
        }
    };
    let steps: Vec<Step> = vec![
        Box::new(one(batch_of(&org, &pid, &[2, 0]))),
        Box::new(one(batch_of(&org, &pid, &[1, 3, 2]))),
        // No tests at all: empty arrays.
        Box::new(one(batch_of(&org, &pid, &[0]))),
    ];
    let runs = statements_of(&app, steps).await;
    assert_eq!(runs[0].0.len(), 1, "one statement: {:?}", runs[0].0);
    assert_eq!(runs[0].1, runs[0].0, "prepared by the first batch");
    for run in &runs[1..] {
        assert_eq!(run.0, runs[0].0, "the same statement for another size");
        assert!(run.1.is_empty(), "prepared again: {:?}", run.1);
    }
    let listed = app
        .get(
            &format!("/api/v1/specimens?patient_id={pid}"),
            org.token(Role::Lab),
        )
        .await;
    let tests: Vec<usize> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tests"].as_array().unwrap().len())
        .collect();
    assert_eq!(tests.len(), 11, "every batch written");
    let mut sorted = tests.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3]);
}

#[tokio::test]
async fn a_registration_that_fails_in_a_shared_transaction_fails_alone_and_takes_no_number() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap();
    // The middle one names a patient no check saw (the database refuses it): the batch fails,
    // and its items are written one by one.
    let unknown = officina::db::PatientId::new().to_string();
    let regs = vec![
        registration(&org, pid, "SST"),
        registration(&org, &unknown, "SST"),
        registration(&org, pid, "SST"),
    ];
    let seqs = write_directly(&app, regs, officina::lab::repo::register_all).await;
    assert_eq!(seqs, [Some(1), None, Some(2)]);
    assert_eq!(
        next_seq(&app, &org, pid).await,
        3,
        "no number was lost to the failed item"
    );
}

/// `register_all`, except that it panics on a registration whose container is `PANIC`.
fn register_or_panic(c: &mut DbConn, regs: &[Registration]) -> Result<Vec<Registered>, AppError> {
    if regs
        .iter()
        .any(|r| r.new.container.as_deref() == Some("PANIC"))
    {
        panic!("a write that panics");
    }
    officina::lab::repo::register_all(c, regs)
}

/// `register_all`, except that it loses the last answer.
fn register_losing_one(c: &mut DbConn, regs: &[Registration]) -> Result<Vec<Registered>, AppError> {
    let mut done = officina::lab::repo::register_all(c, regs)?;
    done.pop();
    Ok(done)
}

#[tokio::test]
async fn a_write_that_panics_in_a_shared_transaction_fails_only_its_own_item() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap();
    let regs = vec![
        registration(&org, pid, "SST"),
        registration(&org, pid, "PANIC"),
        registration(&org, pid, "EDTA"),
    ];
    let seqs = write_directly(&app, regs, register_or_panic).await;
    assert_eq!(seqs, [Some(1), None, Some(2)]);
    // The connection (and on SQLite the writer) is usable afterwards, and no number was lost.
    assert_eq!(next_seq(&app, &org, pid).await, 3);
}

#[tokio::test]
async fn a_batch_write_with_a_wrong_number_of_answers_writes_nothing() {
    use crate::concurrency::count;
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap();
    let regs = vec![
        registration(&org, pid, "SST"),
        registration(&org, pid, "EDTA"),
    ];
    let seqs = write_directly(&app, regs, register_losing_one).await;
    assert_eq!(seqs, [None, None], "every item answers an error");
    let org_id = org.id;
    assert_eq!(
        count(
            &app.db,
            format!("SELECT COUNT(*) AS n FROM specimens WHERE org_id = '{org_id}'")
        )
        .await,
        0,
        "rolled back, not written and then reported lost"
    );
    assert_eq!(next_seq(&app, &org, pid).await, 1);
}

/// Rows of the organization's registrations: specimens, registration events, creation audit
/// rows, and where its accession counter stands.
pub(crate) async fn registration_rows(app: &TestApp, org: &Org) -> [i64; 4] {
    use crate::concurrency::count;
    let org = org.id;
    let mut out = [0; 4];
    for (n, sql) in out.iter_mut().zip([
        format!("SELECT COUNT(*) AS n FROM specimens WHERE org_id = '{org}'"),
        format!("SELECT COUNT(*) AS n FROM custody_events WHERE org_id = '{org}' AND kind = 'register'"),
        format!("SELECT COUNT(*) AS n FROM audit_events WHERE org_id = '{org}' AND action = 'specimen.create'"),
        format!("SELECT COALESCE(MAX(value), 0) AS n FROM counters WHERE org_id = '{org}' AND name LIKE 'accession:%'"),
    ]) {
        *n = count(&app.db, sql).await;
    }
    out
}

/// `register_all_in_one_statement` on a pooled connection: the sequences written, `Ok(None)`
/// when it declined.
fn in_one_statement(
    app: &TestApp,
    regs: Vec<Registration>,
) -> impl Future<Output = Result<Option<Vec<u64>>, AppError>> + 'static {
    let db = app.db.clone();
    let write = tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        let done = officina::lab::repo::register_all_in_one_statement(&mut conn, &regs)?;
        Ok(done.map(|done| {
            done.iter()
                .map(|r| Accession::parse(&r.specimen.accession_number).unwrap().seq)
                .collect()
        }))
    });
    async move { write.await.unwrap() }
}

/// Whether the app runs on SQLite.
fn on_sqlite(app: &TestApp) -> bool {
    matches!(app.test_db.url, officina::config::DatabaseUrl::Sqlite(_))
}

#[tokio::test]
async fn numbers_another_writer_took_are_skipped_by_the_next_batch_and_none_is_lost() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap();
    assert_eq!(next_seq(&app, &org, pid).await, 1);
    assert_eq!(next_seq(&app, &org, pid).await, 2);
    // Another process of the same practice takes numbers 3 to 7 meanwhile.
    crate::concurrency::execute_sql(
        &app.db,
        format!(
            "UPDATE counters SET value = value + 5 WHERE org_id = '{}' AND name LIKE 'accession:%'",
            org.id
        ),
    )
    .await;
    assert_eq!(
        next_seq(&app, &org, pid).await,
        8,
        "after the other writer's"
    );
    assert_eq!(next_seq(&app, &org, pid).await, 9);
    assert_eq!(registration_rows(&app, &org).await, [4, 4, 4, 9]);
}

#[tokio::test]
async fn on_postgresql_a_batch_after_a_committed_number_is_written_in_one_statement() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap().to_owned();
    let one = || vec![registration(&org, &pid, "SST")];
    if on_sqlite(&app) {
        assert_eq!(next_seq(&app, &org, &pid).await, 1);
        assert_eq!(
            in_one_statement(&app, one()).await.unwrap(),
            None,
            "SQLite declines"
        );
        return;
    }
    // No number committed yet: the counter's own transaction hands out the first.
    assert_eq!(in_one_statement(&app, one()).await.unwrap(), None);
    assert_eq!(registration_rows(&app, &org).await, [0, 0, 0, 0]);
    assert_eq!(next_seq(&app, &org, &pid).await, 1);
    let two = vec![
        registration(&org, &pid, "SST"),
        registration(&org, &pid, "EDTA"),
    ];
    assert_eq!(in_one_statement(&app, two).await.unwrap(), Some(vec![2, 3]));
    assert_eq!(
        registration_rows(&app, &org).await,
        [3, 3, 3, 3],
        "rows, events, audit rows and the counter together"
    );
    assert_eq!(next_seq(&app, &org, &pid).await, 4);
}

#[tokio::test]
async fn on_postgresql_a_one_statement_batch_that_finds_the_counter_moved_or_gone_writes_nothing() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap().to_owned();
    let one = || vec![registration(&org, &pid, "SST")];
    if on_sqlite(&app) {
        eprintln!("skipped: SQLite writes every batch in a transaction");
        return;
    }
    assert_eq!(next_seq(&app, &org, &pid).await, 1);
    assert_eq!(in_one_statement(&app, one()).await.unwrap(), Some(vec![2]));
    let counter = format!("org_id = '{}' AND name LIKE 'accession:%'", org.id);
    // Moved by another writer since this process last wrote it.
    crate::concurrency::execute_sql(
        &app.db,
        format!("UPDATE counters SET value = value + 5 WHERE {counter}"),
    )
    .await;
    assert!(in_one_statement(&app, one()).await.is_err());
    assert_eq!(
        registration_rows(&app, &org).await,
        [2, 2, 2, 7],
        "nothing written"
    );
    // Read again as committed: the next batch goes on from there.
    assert_eq!(in_one_statement(&app, one()).await.unwrap(), Some(vec![8]));
    // A new prefix since.
    let res = app
        .patch(
            "/api/v1/organization",
            org.token(Role::Admin),
            &json!({"accession_prefix": "rf", "version": 1}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(in_one_statement(&app, one()).await.is_err());
    assert_eq!(
        registration_rows(&app, &org).await,
        [3, 3, 3, 8],
        "nothing written"
    );
    let next = register(&app, &org, &pid, false).await;
    let next = Accession::parse(next["accession_number"].as_str().unwrap()).unwrap();
    assert_eq!((next.prefix.as_str(), next.seq), ("RF", 9));
    // Gone (nothing in the application deletes a counter; a hand-made repair might).
    crate::concurrency::execute_sql(&app.db, format!("DELETE FROM counters WHERE {counter}")).await;
    assert!(in_one_statement(&app, one()).await.is_err());
    assert_eq!(
        registration_rows(&app, &org).await,
        [4, 4, 4, 0],
        "nothing written"
    );
}

#[tokio::test]
async fn a_one_statement_batch_takes_the_counter_before_it_writes_a_row() {
    use crate::concurrency::count;
    use chrono::Datelike;
    use diesel::connection::SimpleConnection;
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap().to_owned();
    if on_sqlite(&app) {
        eprintln!("skipped: SQLite writes every batch in a transaction");
        return;
    }
    assert_eq!(next_seq(&app, &org, &pid).await, 1);
    let year = chrono::Utc::now().year();
    let second = Accession::new("L", year, 2).base();
    // Another writer holds the counter: a transaction of its own, until told to write.
    let (held_tx, held) = std::sync::mpsc::channel();
    let (go_tx, go) = std::sync::mpsc::channel::<()>();
    let db = app.db.clone();
    let (org_id, patient) = (org.id, pid.clone());
    let other = tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        let DbConn::Postgresql(c) = &mut **conn else {
            unreachable!()
        };
        c.batch_execute(&format!(
            "BEGIN; SELECT value FROM counters WHERE org_id = '{org_id}' FOR UPDATE"
        ))
        .unwrap();
        held_tx.send(()).unwrap();
        go.recv().unwrap();
        // The number the waiting batch is about to write: had it written its rows before
        // asking for the counter, this would wait on its row and time out.
        let wrote = c.batch_execute(&format!(
            "SET LOCAL lock_timeout = '2s'; INSERT INTO specimens (id, org_id, accession_number, \
             aliquot_count, patient_id, specimen_type, priority, status, version, created_by, \
             created_at, updated_at) VALUES ('{}', '{org_id}', '{second}', 0, '{patient}', \
             'serum', 'routine', 'ordered', 1, 'other', now(), now())",
            officina::db::SpecimenId::new()
        ));
        c.batch_execute("ROLLBACK").unwrap();
        wrote
    });
    tokio::task::spawn_blocking(move || held.recv().unwrap())
        .await
        .unwrap();
    let batch = tokio::spawn(in_one_statement(
        &app,
        vec![registration(&org, &pid, "SST")],
    ));
    // Until the batch waits for the counter's lock.
    let waiting = "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                   AND query LIKE 'WITH w0 AS (UPDATE counters%'";
    let mut tries = 0;
    while count(&app.db, waiting.to_owned()).await == 0 {
        tries += 1;
        assert!(tries < 500, "the batch never waited for the counter");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    go_tx.send(()).unwrap();
    let wrote = other.await.unwrap();
    assert!(
        wrote.is_ok(),
        "the batch wrote a row before it held the counter: {wrote:?}"
    );
    // The other writer rolled back: the counter stands where the batch expects it.
    assert_eq!(batch.await.unwrap().unwrap(), Some(vec![2]));
    assert_eq!(next_seq(&app, &org, &pid).await, 3);
}

/// How many times [`count_write_all`] ran.
static WRITE_ALL_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A transaction's write that answers each item with itself, counting its runs.
fn count_write_all(_: &mut DbConn, items: &[u32]) -> Result<Vec<u32>, AppError> {
    WRITE_ALL_RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Ok(items.to_vec())
}

/// A one-statement write that declines (0), fails after the server refused it (1), loses the
/// server (2), panics (3) or answers a wrong count (4).
fn scripted_one_statement(_: &mut DbConn, items: &[u32]) -> Result<Option<Vec<u32>>, AppError> {
    match items.first() {
        Some(0) => Ok(None),
        Some(1) => Err(AppError::internal("refused")),
        Some(2) => Err(AppError::Unavailable("server lost".into())),
        Some(3) => panic!("a one-statement write that panics"),
        _ => Ok(Some(Vec::new())),
    }
}

#[tokio::test]
async fn a_one_statement_batch_whose_outcome_is_unknown_is_never_written_again() {
    use std::sync::atomic::Ordering::SeqCst;
    let app = TestApp::spawn().await;
    let lane =
        officina::db::combine::Combiner::new(count_write_all).one_statement(scripted_one_statement);
    // (item, answered, written in a transaction)
    for (item, answered, again) in [
        (0, true, true),
        (1, true, true),
        (2, false, false),
        (3, false, false),
        (4, false, false),
    ] {
        let before = WRITE_ALL_RUNS.load(SeqCst);
        let answer = lane.submit(&app.db, officina::db::OrgId::new(), item).await;
        assert_eq!(answer.is_ok(), answered, "item {item}: {answer:?}");
        assert_eq!(
            WRITE_ALL_RUNS.load(SeqCst) - before,
            usize::from(again),
            "item {item}"
        );
    }
}
