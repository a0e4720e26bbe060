//! Claims: drafts, validation of the shape (422), roles, tenancy, idempotency, the lifecycle
//! (finalize, void, replace, events), drafts from lab charges, the patient's claims.

use diesel::prelude::*;
use officina::auth::Role;
use officina::claims::domain::ClaimStatus;
use officina::coding::{self, CodeSystem};
use officina::db::{self, ClaimId};
use reqwest::Method;
use serde_json::{Value, json};

use crate::directory::{create_provider, payer_body};
use crate::helpers::{Org, Res, TestApp};
use crate::patients::create_patient;

/// The ICD-10-CM codes the claim tests use, taken from the shipped table (loading all 98 186
/// rows per test is slow; a few real rows make the table "loaded" with real billable flags).
const DX: [&str; 6] = ["E11", "E119", "I10", "Z0000", "J069", "R51"];

pub async fn load_codes(app: &TestApp) {
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        let icd: Vec<_> = coding::shipped::icd10cm()
            .unwrap()
            .into_iter()
            .filter(|e| DX.contains(&e.code.as_str()))
            .collect();
        assert_eq!(icd.len(), DX.len());
        let pos = coding::shipped::pos().unwrap();
        let mut conn = db.conn().unwrap();
        db::write_tx(&mut conn, |c| {
            coding::repo::replace_shipped(
                c,
                CodeSystem::Icd10cm,
                "test subset",
                "t",
                &icd,
                &mut |_| {},
            )?;
            coding::repo::replace_shipped(c, CodeSystem::Pos, "test", "t", &pos, &mut |_| {})
        })
        .unwrap();
    })
    .await
    .unwrap();
}

/// An organization ready to bill: billing NPI, a professional payer, a rendering provider, a
/// patient with a primary self coverage from 2026-01-01.
pub struct Fx {
    pub org: Org,
    pub payer: String,
    pub provider: String,
    pub patient: String,
    pub coverage: String,
}

pub async fn add_coverage(app: &TestApp, org: &Org, patient: &str, payer: &str) -> String {
    let res = app
        .post(
            &format!("/api/v1/patients/{patient}/coverages"),
            org.token(Role::Biller),
            &json!({"payer_id": payer, "member_id": "XJH123456789", "priority": "primary",
                    "relationship": "self", "effective_from": "2026-01-01"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.body["id"].as_str().unwrap().to_owned()
}

pub async fn fixture(app: &TestApp, with_npi: bool) -> Fx {
    let org = app.seed_org("Clinic").await;
    if with_npi {
        let res = app
            .patch(
                "/api/v1/organization",
                org.token(Role::Admin),
                &json!({"npi": "1234567893", "version": 1}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
    }
    let payer = app
        .post(
            "/api/v1/payers",
            org.token(Role::Admin),
            &payer_body("ACME1"),
        )
        .await;
    assert_eq!(payer.status, 201, "{}", payer.text);
    let provider = create_provider(app, &org, "1245319599").await;
    let patient = create_patient(app, &org, "Maria", "Lopez", "1984-03-12").await;
    let patient = patient["id"].as_str().unwrap().to_owned();
    let payer = payer.body["id"].as_str().unwrap().to_owned();
    let coverage = add_coverage(app, &org, &patient, &payer).await;
    Fx {
        org,
        payer,
        provider,
        patient,
        coverage,
    }
}

pub fn line(code: &str, date: &str, charge: i64) -> Value {
    json!({"procedure_code": code, "modifiers": [], "diagnosis_pointers": [1], "units": 1,
           "charge_cents": charge, "service_date": date})
}

pub fn claim_body(fx: &Fx) -> Value {
    json!({
        "kind": "professional", "patient_id": fx.patient, "coverage_id": fx.coverage,
        "rendering_provider_id": fx.provider, "diagnoses": ["E11.9", "I10"],
        "prior_authorization": "PA-1", "notes": "follow-up",
        "lines": [
            {"procedure_code": "99213", "modifiers": ["25"], "diagnosis_pointers": [1, 2], "units": 1,
             "charge_cents": 12500, "service_date": "2026-09-15"},
            line("36415", "2026-09-15", 1500)
        ]
    })
}

pub async fn create(app: &TestApp, fx: &Fx, body: &Value) -> Value {
    let res = app
        .post("/api/v1/claims", fx.org.token(Role::Biller), body)
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.body
}

pub async fn action(
    app: &TestApp,
    org: &Org,
    role: Role,
    id: &str,
    verb: &str,
    body: Option<Value>,
) -> Res {
    app.request(
        Method::POST,
        &format!("/api/v1/claims/{id}/{verb}"),
        Some(org.token(role)),
        body.as_ref(),
    )
    .await
}

pub fn codes(res: &Res) -> Vec<(String, String)> {
    res.body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_owned(),
                f["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Moves a claim along by the function batches and remittances call.
pub async fn force(app: &TestApp, org: &Org, id: &str, to: &[ClaimStatus]) {
    let db = app.db.clone();
    let ctx = officina::audit::AuditCtx::cli(org.id);
    let id: ClaimId = id.parse().unwrap();
    let to = to.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        for s in to {
            db::write_tx(&mut conn, |c| {
                officina::claims::repo::transition(c, &ctx, id, s, Some("test"), None)
            })
            .unwrap();
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_draft_is_created_read_listed_and_edited() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let c = create(&app, &fx, &claim_body(&fx)).await;
    assert_eq!(c["status"], "draft");
    assert_eq!(c["patient_control_number"], "C0000001");
    assert_eq!(c["diagnoses"], json!(["E119", "I10"]));
    assert_eq!(c["total_charge_cents"], 14000);
    assert_eq!(c["balance_cents"], 14000);
    assert_eq!(c["paid_cents"], 0);
    assert_eq!(c["place_of_service"], "11", "the organization's default");
    assert_eq!(c["frequency_code"], "1");
    assert_eq!(c["payer_id"], fx.payer.as_str());
    assert_eq!(c["version"], 1);
    assert_eq!(c["lines"][0]["line_control_number"], "C0000001L01");
    assert_eq!(c["lines"][1]["line_control_number"], "C0000001L02");
    assert_eq!(c["lines"][0]["modifiers"], json!(["25"]));
    assert!(c["lines"][0]["id"].is_string());
    let id = c["id"].as_str().unwrap();

    let second = create(&app, &fx, &claim_body(&fx)).await;
    assert_eq!(second["patient_control_number"], "C0000002");

    let got = app
        .get(&format!("/api/v1/claims/{id}"), fx.org.token(Role::Auditor))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.headers["etag"], "\"1\"");
    assert_eq!(got.body["lines"].as_array().unwrap().len(), 2);

    let tok = fx.org.token(Role::Biller);
    let list = |q: String| {
        let app = &app;
        async move { app.get(&format!("/api/v1/claims?{q}"), tok).await }
    };
    let all = list(String::new()).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
    let n = |r: &Res| r.body["items"].as_array().unwrap().len();
    assert_eq!(
        n(&list(format!(
            "status=draft&patient_id={}&payer_id={}&kind=professional",
            fx.patient, fx.payer
        ))
        .await),
        2
    );
    assert_eq!(n(&list("status=ready".into()).await), 0);
    assert_eq!(n(&list("kind=dental".into()).await), 0);
    assert_eq!(n(&list("from=2026-09-15&to=2026-09-15".into()).await), 2);
    assert_eq!(n(&list("from=2026-09-16".into()).await), 0);
    assert_eq!(n(&list("to=2026-09-14".into()).await), 0);
    let bad = list("status=open&from=soon&payer_id=x".into()).await;
    bad.assert_problem(422);
    assert_eq!(bad.error_fields(), ["status", "payer_id", "from"]);

    // Edit: new diagnoses and lines, total recomputed.
    let res = app
        .patch(
            &format!("/api/v1/claims/{id}"),
            tok,
            &json!({"version": 1, "diagnoses": ["R51"], "place_of_service": "22",
                    "lines": [line("99214", "2026-09-16", 20000)]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["version"], 2);
    assert_eq!(res.body["total_charge_cents"], 20000);
    assert_eq!(res.body["diagnoses"], json!(["R51"]));
    assert_eq!(res.body["place_of_service"], "22");
    assert_eq!(res.body["notes"], "follow-up", "untouched fields stay");
    assert_eq!(res.body["lines"][0]["line_control_number"], "C0000001L01");
    let stale = app
        .patch(
            &format!("/api/v1/claims/{id}"),
            tok,
            &json!({"version": 1, "notes": "x"}),
        )
        .await;
    stale.assert_problem(409);
    let none = app
        .patch(&format!("/api/v1/claims/{id}"), tok, &json!({"notes": "x"}))
        .await;
    none.assert_problem(428);
}

#[tokio::test]
async fn impossible_shapes_are_422_with_every_field() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let other = create_patient(&app, &fx.org, "Ann", "Other", "1990-01-01").await;
    let dx: Vec<String> = (0..13).map(|_| "E119".to_owned()).collect();
    let res = app
        .post(
            "/api/v1/claims",
            fx.org.token(Role::Biller),
            &json!({
                "kind": "institutional", "patient_id": other["id"], "coverage_id": fx.coverage,
                "rendering_provider_id": uuid::Uuid::now_v7().to_string(),
                "place_of_service": "1", "diagnoses": dx,
                "lines": [
                    {"procedure_code": "99213", "modifiers": ["25", "59", "LT", "RT", "76"],
                     "diagnosis_pointers": [1, 2, 3, 4, 5], "units": 1.5, "charge_cents": 100, "service_date": "2026-09-15"},
                    {"procedure_code": "99213", "diagnosis_pointers": ["one"], "units": -1, "service_date": "15/09/2026"},
                    {"procedure_code": "99213", "units": 1, "service_date": "2026-09-15", "tooth": "8"},
                    {"procedure_code": "99213", "units": 1, "service_date": "2026-09-15"}
                ]
            }),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(
        res.error_fields(),
        [
            "kind",
            "coverage_id",
            "rendering_provider_id",
            "place_of_service",
            "diagnoses",
            "lines[0].modifiers",
            "lines[0].diagnosis_pointers",
            "lines[0].units",
            "lines[1].diagnosis_pointers[0]",
            "lines[1].units",
            "lines[1].service_date",
            "lines[2].charge_cents",
            "lines[3].charge_cents",
        ]
    );
    let codes: Vec<&str> = res.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes[1], "coverage_not_of_patient");
    assert_eq!(codes[11], "no_standard_charge");

    // A professional line with dental fields.
    let mut b = claim_body(&fx);
    b["lines"][0]["tooth"] = json!("8");
    b["lines"][0]["surfaces"] = json!(["O"]);
    let res = app
        .post("/api/v1/claims", fx.org.token(Role::Biller), &b)
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["lines[0].tooth", "lines[0].surfaces"]);

    // 51 lines, no diagnoses, unknown patient and coverage, a malformed ICD code.
    let lines: Vec<Value> = (0..51).map(|_| line("99213", "2026-09-15", 100)).collect();
    let res = app
        .post(
            "/api/v1/claims",
            fx.org.token(Role::Biller),
            &json!({"kind": "professional", "patient_id": uuid::Uuid::now_v7().to_string(),
                    "coverage_id": "nope", "diagnoses": ["E11.9.1"], "lines": lines}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(
        res.error_fields(),
        ["patient_id", "coverage_id", "diagnoses[0]", "lines"]
    );
    let res = app
        .post(
            "/api/v1/claims",
            fx.org.token(Role::Biller),
            &json!({"kind": "professional", "patient_id": fx.patient, "coverage_id": fx.coverage,
                    "diagnoses": [], "lines": []}),
        )
        .await;
    assert_eq!(res.error_fields(), ["diagnoses", "lines"]);
}

#[tokio::test]
async fn a_missing_charge_comes_from_the_fee_schedule() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let admin = fx.org.token(Role::Admin);
    let s = app
        .post(
            "/api/v1/fee-schedules",
            admin,
            &json!({"name": "Standard 2026", "kind": "standard", "effective_from": "2026-01-01"}),
        )
        .await;
    assert_eq!(s.status, 201, "{}", s.text);
    let sid = s.body["id"].as_str().unwrap();
    let item = app
        .post(
            &format!("/api/v1/fee-schedules/{sid}/items"),
            admin,
            &json!({"code": "99213", "amount_cents": 13000}),
        )
        .await;
    assert!(item.status.is_success(), "{}", item.text);
    let mut b = claim_body(&fx);
    b["lines"][0]
        .as_object_mut()
        .unwrap()
        .remove("charge_cents");
    let c = create(&app, &fx, &b).await;
    assert_eq!(c["lines"][0]["charge_cents"], 13000);
    assert_eq!(c["total_charge_cents"], 14500);
}

#[tokio::test]
async fn roles_tenancy_and_idempotency() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let body = claim_body(&fx);
    for role in [Role::Lab, Role::Auditor, Role::Admin] {
        app.post("/api/v1/claims", fx.org.token(role), &body)
            .await
            .assert_problem(403);
    }
    let res = app
        .post("/api/v1/claims", fx.org.token(Role::Clinician), &body)
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let id = res.body["id"].as_str().unwrap().to_owned();
    app.patch(
        &format!("/api/v1/claims/{id}"),
        fx.org.token(Role::Clinician),
        &json!({"version": 1, "notes": "x"}),
    )
    .await
    .assert_problem(403);
    app.get(&format!("/api/v1/claims/{id}"), fx.org.token(Role::Lab))
        .await
        .assert_problem(403);
    app.get("/api/v1/claims", fx.org.token(Role::Lab))
        .await
        .assert_problem(403);

    // Another organization sees nothing and cannot use this one's records.
    let other = app.seed_org("Elsewhere").await;
    for path in [
        format!("/api/v1/claims/{id}"),
        format!("/api/v1/claims/{id}/events"),
        format!("/api/v1/patients/{}/claims", fx.patient),
    ] {
        app.get(&path, other.token(Role::Biller))
            .await
            .assert_problem(404);
    }
    action(&app, &other, Role::Biller, &id, "validate", None)
        .await
        .assert_problem(404);
    action(&app, &other, Role::Manager, &id, "void", None)
        .await
        .assert_problem(404);
    let res = app
        .post("/api/v1/claims", other.token(Role::Biller), &body)
        .await;
    res.assert_problem(422);
    assert_eq!(
        res.error_fields(),
        ["patient_id", "coverage_id", "rendering_provider_id"]
    );
    let list = app.get("/api/v1/claims", other.token(Role::Biller)).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0);

    // Idempotency-Key: a retry returns the first response and creates nothing.
    let send = |key: &'static str, body: Value| {
        let app = &app;
        let tok = fx.org.token(Role::Biller).to_owned();
        async move {
            let res = app
                .client
                .post(format!("{}/api/v1/claims", app.address))
                .bearer_auth(tok)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            crate::helpers::read(res).await
        }
    };
    let a = send("claim-1", body.clone()).await;
    let b = send("claim-1", body.clone()).await;
    assert_eq!(a.status, 201);
    assert_eq!(b.status, 201);
    assert_eq!(a.body["id"], b.body["id"]);
    let mut changed = body.clone();
    changed["notes"] = json!("different");
    send("claim-1", changed).await.assert_problem(422);
    let list = app.get("/api/v1/claims", fx.org.token(Role::Biller)).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_lifecycle_finalize_void_replace_and_events() {
    let app = TestApp::spawn().await;
    load_codes(&app).await;
    let fx = fixture(&app, true).await;
    let org = &fx.org;

    // A claim with an error cannot leave draft.
    let mut bad = claim_body(&fx);
    bad["diagnoses"] = json!(["E11", "I10"]);
    bad["lines"] = json!([line("99212", "2026-09-14", 9000)]);
    let b = create(&app, &fx, &bad).await;
    let bid = b["id"].as_str().unwrap();
    let res = action(&app, org, Role::Biller, bid, "finalize", None).await;
    res.assert_problem(422);
    assert_eq!(res.body["errors"][0]["code"], "dx_not_billable");
    assert_eq!(res.body["errors"][0]["field"], "diagnoses[0]");
    assert_eq!(res.body["findings"][0]["severity"], "error");
    let still = app
        .get(&format!("/api/v1/claims/{bid}"), org.token(Role::Biller))
        .await;
    assert_eq!(still.body["status"], "draft");

    // A clean claim: validate says nothing, finalize makes it ready.
    let c = create(&app, &fx, &claim_body(&fx)).await;
    let id = c["id"].as_str().unwrap();
    let v = action(&app, org, Role::Biller, id, "validate", None).await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["findings"], json!([]));
    action(&app, org, Role::Clinician, id, "finalize", None)
        .await
        .assert_problem(403);
    let res = action(
        &app,
        org,
        Role::Biller,
        id,
        "finalize",
        Some(json!({"reason": "checked"})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["status"], "ready");
    assert_eq!(res.body["version"], 2);

    // Not editable, not finalizable again: 409 with the allowed next states.
    let res = app
        .patch(
            &format!("/api/v1/claims/{id}"),
            org.token(Role::Biller),
            &json!({"version": 2, "notes": "x"}),
        )
        .await;
    res.assert_problem(409);
    assert_eq!(res.body["allowed"], json!(["draft", "batched", "void"]));
    let res = action(&app, org, Role::Biller, id, "finalize", None).await;
    res.assert_problem(409);
    assert_eq!(res.body["current"], "ready");

    // Replace needs the payer to have the claim.
    action(
        &app,
        org,
        Role::Manager,
        id,
        "replace",
        Some(json!({"payer_claim_number": "X1"})),
    )
    .await
    .assert_problem(409);
    force(
        &app,
        org,
        id,
        &[
            ClaimStatus::Batched,
            ClaimStatus::Submitted,
            ClaimStatus::Denied,
        ],
    )
    .await;
    action(&app, org, Role::Biller, id, "replace", None)
        .await
        .assert_problem(403);
    let res = action(&app, org, Role::Manager, id, "replace", None).await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["payer_claim_number"]);
    let res = action(
        &app,
        org,
        Role::Manager,
        id,
        "replace",
        Some(json!({"payer_claim_number": "PCN-778899"})),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let new = res.body.clone();
    assert_eq!(new["status"], "draft");
    assert_eq!(new["frequency_code"], "7");
    assert_eq!(new["original_reference"], "PCN-778899");
    assert_eq!(new["original_claim_id"], id);
    assert_eq!(new["lines"].as_array().unwrap().len(), 2);
    assert_eq!(new["total_charge_cents"], 14000);
    assert_ne!(new["patient_control_number"], c["patient_control_number"]);
    let old = app
        .get(&format!("/api/v1/claims/{id}"), org.token(Role::Biller))
        .await;
    assert_eq!(old.body["status"], "replaced");
    assert_eq!(old.body["payer_claim_number"], "PCN-778899");
    assert_eq!(old.body["balance_cents"], 0);
    // The replacement is no duplicate of the claim it replaces, and finalizes.
    let nid = new["id"].as_str().unwrap();
    let v = action(&app, org, Role::Biller, nid, "validate", None).await;
    assert_eq!(v.body["findings"], json!([]));

    // The history.
    let ev = app
        .get(
            &format!("/api/v1/claims/{id}/events"),
            org.token(Role::Auditor),
        )
        .await;
    assert_eq!(ev.status, 200);
    let steps: Vec<(Value, Value)> = ev.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].clone(), e["to"].clone()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (Value::Null, json!("draft")),
            (json!("draft"), json!("ready")),
            (json!("ready"), json!("batched")),
            (json!("batched"), json!("submitted")),
            (json!("submitted"), json!("denied")),
            (json!("denied"), json!("replaced")),
        ]
    );
    let items = ev.body["items"].as_array().unwrap();
    assert_eq!(items[1]["reason"], "checked");
    assert_eq!(items[1]["actor_id"], org.user(Role::Biller).to_string());
    assert!(items[1]["at"].is_string());

    // Void: manager only; from a terminal state 409 with nothing allowed.
    action(&app, org, Role::Biller, nid, "void", None)
        .await
        .assert_problem(403);
    let res = action(
        &app,
        org,
        Role::Manager,
        nid,
        "void",
        Some(json!({"reason": "patient self-pays"})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["status"], "void");
    assert_eq!(res.body["frequency_code"], "8");
    let res = action(&app, org, Role::Manager, nid, "void", None).await;
    res.assert_problem(409);
    assert_eq!(res.body["allowed"], json!([]));
    action(&app, org, Role::Manager, id, "void", None)
        .await
        .assert_problem(409);

    // Audited.
    let audit = app
        .get(
            &format!("/api/v1/audit-events?entity_id={id}"),
            org.token(Role::Auditor),
        )
        .await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"claim.create"));
    assert!(actions.contains(&"claim.transition"));

    // The patient's account: live claims only in the balance.
    let acct = app
        .get(
            &format!("/api/v1/patients/{}/claims", fx.patient),
            org.token(Role::Clinician),
        )
        .await;
    assert_eq!(acct.status, 200, "{}", acct.text);
    assert_eq!(acct.body["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        acct.body["total_charge_cents"], 9000,
        "only the bad draft is live"
    );
    assert_eq!(acct.body["balance_cents"], 9000);
    assert_eq!(acct.body["paid_cents"], 0);
    app.get(
        &format!("/api/v1/patients/{}/claims", fx.patient),
        org.token(Role::Lab),
    )
    .await
    .assert_problem(403);
}

async fn add_charge(app: &TestApp, org: &Org, patient: &str, amount: Option<i64>) -> String {
    let s = crate::lab::register(app, org, patient, true).await;
    let specimen = s["id"].as_str().unwrap().to_owned();
    let test = s["tests"][0]["id"].as_str().unwrap().to_owned();
    let (org_id, patient) = (org.id.to_string(), patient.to_owned());
    let db = app.db.clone();
    let id = officina::db::ChargeId::new().to_string();
    let cid = id.clone();
    tokio::task::spawn_blocking(move || {
        use officina::lab::schema::lab_charges::dsl as ch;
        let mut conn = db.conn().unwrap();
        diesel::insert_into(ch::lab_charges)
            .values((
                ch::id.eq(&cid),
                ch::org_id.eq(org_id),
                ch::patient_id.eq(patient),
                ch::specimen_id.eq(specimen),
                ch::test_id.eq(test),
                ch::procedure_code.eq("82947"),
                ch::service_date.eq(chrono::NaiveDate::from_ymd_opt(2026, 9, 15).unwrap()),
                ch::amount_cents.eq(amount),
                ch::status.eq("unbilled"),
                ch::created_at.eq(officina::db::now()),
            ))
            .execute(&mut **conn)
            .unwrap();
    })
    .await
    .unwrap();
    id
}

async fn charge_status(app: &TestApp, id: &str) -> String {
    let db = app.db.clone();
    let id = id.to_owned();
    tokio::task::spawn_blocking(move || {
        use officina::lab::schema::lab_charges::dsl as ch;
        let mut conn = db.conn().unwrap();
        ch::lab_charges
            .filter(ch::id.eq(id))
            .select(ch::status)
            .first::<String>(&mut **conn)
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_draft_from_lab_charges_bills_them_once() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let org = &fx.org;
    let a = add_charge(&app, org, &fx.patient, Some(2500)).await;
    let b = add_charge(&app, org, &fx.patient, Some(1800)).await;
    let other = create_patient(&app, org, "Ann", "Other", "1990-01-01").await;
    let foreign = add_charge(&app, org, other["id"].as_str().unwrap(), Some(900)).await;

    let res = app
        .post(
            "/api/v1/claims/from-charges",
            org.token(Role::Biller),
            &json!({"charge_ids": [a, foreign, uuid::Uuid::now_v7().to_string(), "x"], "coverage_id": fx.coverage, "diagnoses": ["E11.9"]}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["charge_ids[3]"]);
    let res = app
        .post(
            "/api/v1/claims/from-charges",
            org.token(Role::Biller),
            &json!({"charge_ids": [a, foreign, uuid::Uuid::now_v7().to_string()], "coverage_id": fx.coverage, "diagnoses": ["E11.9"]}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["charge_ids[2]", "charge_ids"]);
    let res = app
        .post(
            "/api/v1/claims/from-charges",
            org.token(Role::Biller),
            &json!({"charge_ids": [a, b], "coverage_id": fx.coverage}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["diagnoses"]);
    assert_eq!(
        charge_status(&app, &a).await,
        "unbilled",
        "nothing billed on a refusal"
    );

    let res = app
        .post(
            "/api/v1/claims/from-charges",
            org.token(Role::Biller),
            &json!({"charge_ids": [a, b], "coverage_id": fx.coverage, "diagnoses": ["E11.9", "I10"]}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["status"], "draft");
    assert_eq!(res.body["patient_id"], fx.patient.as_str());
    assert_eq!(res.body["total_charge_cents"], 4300);
    assert_eq!(res.body["lines"][0]["procedure_code"], "82947");
    assert_eq!(res.body["lines"][0]["diagnosis_pointers"], json!([1, 2]));
    assert_eq!(res.body["lines"][0]["charge_id"], a.as_str());
    assert_eq!(charge_status(&app, &a).await, "billed");
    assert_eq!(charge_status(&app, &b).await, "billed");
    let first = res.body["id"].as_str().unwrap().to_owned();

    let res = app
        .post(
            "/api/v1/claims/from-charges",
            org.token(Role::Biller),
            &json!({"charge_ids": [b], "coverage_id": fx.coverage, "diagnoses": ["E11.9"]}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.body["errors"][0]["code"], "already_billed");
    // Voiding the unsent draft releases its charges; they can be billed again.
    let res = action(&app, org, Role::Manager, &first, "void", None).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(charge_status(&app, &b).await, "unbilled");
    let res = app
        .post(
            "/api/v1/claims/from-charges",
            org.token(Role::Biller),
            &json!({"charge_ids": [b], "coverage_id": fx.coverage, "diagnoses": ["E11.9"]}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    app.post(
        "/api/v1/claims/from-charges",
        org.token(Role::Lab),
        &json!({"charge_ids": [b], "coverage_id": fx.coverage, "diagnoses": ["E11.9"]}),
    )
    .await
    .assert_problem(403);

    // Concurrent attempts on the same charge: exactly one wins.
    let c = add_charge(&app, org, &fx.patient, None).await;
    let body = json!({"charge_ids": [c], "coverage_id": fx.coverage, "diagnoses": ["E11.9"]});
    let mut b2 = body.clone();
    b2["notes"] = json!("second");
    // No amount and no fee schedule: the line needs a charge.
    let res = app
        .post(
            "/api/v1/claims/from-charges",
            org.token(Role::Biller),
            &body,
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["lines[0].charge_cents"]);
    let d = add_charge(&app, org, &fx.patient, Some(700)).await;
    let body = json!({"charge_ids": [d], "coverage_id": fx.coverage, "diagnoses": ["E11.9"]});
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let client = app.client.clone();
            let url = format!("{}/api/v1/claims/from-charges", app.address);
            let tok = org.token(Role::Biller).to_owned();
            let body = body.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(tok)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [201, 409, 422].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn concurrent_creations_get_unique_gapless_control_numbers() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let client = app.client.clone();
            let url = format!("{}/api/v1/claims", app.address);
            let tok = fx.org.token(Role::Biller).to_owned();
            let mut body = claim_body(&fx);
            body["lines"][1]["charge_cents"] = json!(1000 + i);
            tokio::spawn(async move {
                let res = client
                    .post(url)
                    .bearer_auth(tok)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                crate::helpers::read(res).await
            })
        })
        .collect();
    let mut pcns = Vec::new();
    for t in tasks {
        let res = t.await.unwrap();
        assert_eq!(res.status, 201, "{}", res.text);
        pcns.push(
            res.body["patient_control_number"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    pcns.sort();
    let expected: Vec<String> = (1..=12).map(|n| format!("C{n:07}")).collect();
    assert_eq!(pcns, expected);
}

#[tokio::test]
async fn claims_created_together_answer_what_a_read_returns_each_with_its_own_event_and_audit_row()
{
    use crate::concurrency::{audit_rows, race, req};
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    // Twenty at once from two users, with different lines, so that several share a transaction.
    let mut requests = Vec::new();
    let mut senders = Vec::new();
    for i in 0..20 {
        let mut body = claim_body(&fx);
        body["lines"][1]["charge_cents"] = json!(1000 + i);
        if i % 3 == 0 {
            body["lines"]
                .as_array_mut()
                .unwrap()
                .push(line("85025", "2026-09-16", 2200));
        }
        let role = if i % 4 == 0 {
            Role::Manager
        } else {
            Role::Biller
        };
        senders.push(role);
        requests.push(req(&app, Method::POST, "/api/v1/claims", fx.org.token(role)).json(&body));
    }
    let results = race(requests).await;
    for (res, role) in results.iter().zip(&senders) {
        assert_eq!(res.status, 201, "{}", res.text);
        let id = res.body["id"].as_str().unwrap();
        let read = app
            .get(&format!("/api/v1/claims/{id}"), fx.org.token(Role::Auditor))
            .await;
        assert_eq!(read.status, 200, "{}", read.text);
        assert_eq!(res.body, read.body, "the answer is what was stored");
        let events = app
            .get(
                &format!("/api/v1/claims/{id}/events"),
                fx.org.token(Role::Auditor),
            )
            .await;
        let events = events.body["items"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["to"], "draft");
        assert_eq!(events[0]["actor_id"], fx.org.user(*role).to_string());
        let request_id = res.headers["x-request-id"].to_str().unwrap();
        assert_eq!(
            audit_rows(&app.db, id, "claim.create", fx.org.user(*role), request_id).await,
            1,
            "one audit row, with the sender and the request"
        );
    }
}

/// A checked professional claim of the fixture's patient with `lines` lines, as the handler
/// hands it to the writer.
fn creation_of(fx: &Fx, lines: usize) -> officina::claims::repo::ClaimCreation {
    use officina::claims::repo::{ClaimCreation, ClaimFields, LineFields, Origin};
    let date = chrono::NaiveDate::from_ymd_opt(2026, 9, 15).unwrap();
    let lines = (0..lines)
        .map(|i| LineFields {
            procedure_code: ["99213", "36415", "85025"][i % 3].to_owned(),
            modifiers: Vec::new(),
            pointers: vec![1],
            units: 1,
            charge_cents: 1500 + i as i64,
            service_date: date,
            tooth: None,
            surfaces: Vec::new(),
            oral_cavity_area: None,
            charge_id: None,
        })
        .collect();
    ClaimCreation {
        ctx: officina::audit::AuditCtx::cli(fx.org.id),
        fields: ClaimFields {
            kind: officina::directory::domain::ClaimKind::Professional,
            patient_id: fx.patient.parse().unwrap(),
            coverage_id: fx.coverage.parse().unwrap(),
            payer_id: fx.payer.parse().unwrap(),
            rendering_provider_id: Some(fx.provider.parse().unwrap()),
            place_of_service: "11".to_owned(),
            diagnoses: vec!["E119".to_owned()],
            prior_authorization: None,
            notes: None,
            lines,
        },
        origin: Origin::original(),
    }
}

/// A batch of claim creations prepares nothing that an earlier batch of another shape already
/// prepared, where multi-row INSERTs (a text per row count) were parsed and planned again for
/// every batch while it held the counter: on SQLite, under the one write lock, a prepared INSERT
/// per row (claims, lines, first events, audit rows); on PostgreSQL one statement of column arrays.
#[tokio::test]
async fn claim_creations_reuse_their_prepared_statements() {
    use crate::helpers::{Step, statements_of};
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let write = |items: Vec<officina::claims::repo::ClaimCreation>| {
        move |c: &mut db::DbConn| {
            let done = db::write_tx(c, |c| officina::claims::repo::create_claims(c, &items));
            assert_eq!(done.unwrap().len(), items.len());
        }
    };
    let steps: Vec<Step> = vec![
        Box::new(write(vec![creation_of(&fx, 2), creation_of(&fx, 1)])),
        Box::new(write(vec![
            creation_of(&fx, 3),
            creation_of(&fx, 1),
            creation_of(&fx, 4),
        ])),
    ];
    let batches = statements_of(&app, steps).await;
    let listed = app
        .get(
            &format!("/api/v1/claims?patient_id={}", fx.patient),
            fx.org.token(Role::Biller),
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let claims = listed.body["items"].as_array().unwrap();
    assert_eq!(claims.len(), 5, "both batches written");
    let mut lines: Vec<usize> = claims
        .iter()
        .map(|c| c["lines"].as_array().unwrap().len())
        .collect();
    lines.sort_unstable();
    assert_eq!(lines, [1, 1, 2, 3, 4]);
    let (first, second) = (&batches[0], &batches[1]);
    for table in ["claims", "claim_lines", "claim_events", "audit_events"] {
        // SQLite's INSERT per table; PostgreSQL's one statement, with an INSERT per table.
        let (sqlite, postgres) = (
            format!("INSERT INTO `{table}`"),
            format!("INSERT INTO {table} ("),
        );
        assert!(
            first
                .1
                .iter()
                .any(|sql| sql.starts_with(&sqlite) || sql.contains(&postgres)),
            "the first batch prepares its INSERT INTO {table}: {:?}",
            first.1
        );
    }
    crate::helpers::assert_prepared_once(first, second);
}
