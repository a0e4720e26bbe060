//! Batches: creation (default and explicit claims, 422/409), four-eyes approval, cancel,
//! mark-submitted, the 837 download, list/detail/CSV, idempotency, and concurrent creations for
//! the same claims (exactly one wins, on SQLite and PostgreSQL).

use officina::auth::Role;
use officina::billing::batches::{self, BatchStatus};
use officina::claims::domain::ClaimStatus;
use officina::db::{self, BatchId, DbConn, OrgId};
use reqwest::Method;
use serde_json::{Value, json};

use crate::claims::{Fx, action, claim_body, create, fixture, force};
use crate::helpers::{Org, Res, TestApp};

/// The organization's X12 settings (after `fixture`, which set the NPI: version 2).
pub async fn billing_settings(app: &TestApp, org: &Org) {
    let res = app
        .patch(
            "/api/v1/organization",
            org.token(Role::Admin),
            &json!({"tax_id": "12-3456789", "taxonomy_code": "207Q00000X",
                    "address": {"line1": "123 Main St", "city": "Springfield", "state": "IL",
                                "postal_code": "627011234"},
                    "submitter_id": "SUBMITTERID", "submitter_name": "Clinic Billing",
                    "contact_name": "Jane Doe", "contact_phone": "5555551234", "version": 2}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
}

/// A claim created from `body` and moved to `ready` (the scrubber is tested elsewhere).
pub async fn ready_claim(app: &TestApp, fx: &Fx, body: &Value) -> String {
    let c = create(app, fx, body).await;
    let id = c["id"].as_str().unwrap().to_owned();
    force(app, &fx.org, &id, &[ClaimStatus::Ready]).await;
    id
}

pub async fn batch_action(app: &TestApp, org: &Org, role: Role, id: &str, verb: &str) -> Res {
    app.request(
        Method::POST,
        &format!("/api/v1/batches/{id}/{verb}"),
        Some(org.token(role)),
        None,
    )
    .await
}

async fn claim_status(app: &TestApp, org: &Org, id: &str) -> String {
    let res = app
        .get(&format!("/api/v1/claims/{id}"), org.token(Role::Biller))
        .await;
    res.body["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_batch_is_created_approved_by_another_manager_generated_and_submitted() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    billing_settings(&app, &fx.org).await;
    let a = ready_claim(&app, &fx, &claim_body(&fx)).await;
    let b = ready_claim(&app, &fx, &claim_body(&fx)).await;
    let _draft = create(&app, &fx, &claim_body(&fx)).await;

    let res = app
        .post(
            "/api/v1/batches",
            fx.org.token(Role::Biller),
            &json!({"kind": "professional", "payer_id": fx.payer}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let batch = res.body.clone();
    let id = batch["id"].as_str().unwrap().to_owned();
    assert_eq!(batch["status"], "pending_approval");
    assert_eq!(batch["claim_count"], 2);
    assert_eq!(batch["total_charge_cents"], 28000);
    let mut ids = vec![a.clone(), b.clone()];
    ids.sort();
    assert_eq!(batch["claim_ids"], json!(ids));
    assert_eq!(batch["interchange_control_number"], Value::Null);
    assert_eq!(claim_status(&app, &fx.org, &a).await, "batched");

    // No 837 before approval.
    let res = app
        .get(
            &format!("/api/v1/batches/{id}/x12"),
            fx.org.token(Role::Biller),
        )
        .await;
    res.assert_problem(409);
    // Only a manager approves; mark-submitted needs approval.
    batch_action(&app, &fx.org, Role::Biller, &id, "approve")
        .await
        .assert_problem(403);
    batch_action(&app, &fx.org, Role::Biller, &id, "mark-submitted")
        .await
        .assert_problem(409);
    let res = batch_action(&app, &fx.org, Role::Manager, &id, "approve").await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["status"], "approved");
    assert_eq!(res.body["interchange_control_number"], 1);
    assert_eq!(res.body["group_control_number"], 1);
    assert_eq!(
        res.body["approved_by"],
        fx.org.user(Role::Manager).to_string()
    );
    batch_action(&app, &fx.org, Role::Manager, &id, "approve")
        .await
        .assert_problem(409);

    // The 837: same bytes every time.
    let x1 = app
        .get(
            &format!("/api/v1/batches/{id}/x12"),
            fx.org.token(Role::Biller),
        )
        .await;
    assert_eq!(x1.status, 200, "{}", x1.text);
    assert_eq!(x1.content_type(), "application/edi-x12");
    let disposition = x1.headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.contains("attachment; filename=\"837P-000000001.x12\""),
        "{disposition}"
    );
    assert!(x1.text.starts_with("ISA*00*"));
    assert!(x1.text.contains("*000000001*0*P*:~"));
    assert!(x1.text.contains("ST*837*0001*005010X222A1~"));
    assert_eq!(x1.text.matches("CLM*").count(), 2);
    assert!(x1.text.contains("REF*6R*"));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let x2 = app
        .get(
            &format!("/api/v1/batches/{id}/x12"),
            fx.org.token(Role::Manager),
        )
        .await;
    assert_eq!(x1.text, x2.text, "the same batch yields the same bytes");

    let res = batch_action(&app, &fx.org, Role::Biller, &id, "mark-submitted").await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["status"], "submitted");
    assert_eq!(
        res.body["submitted_by"],
        fx.org.user(Role::Biller).to_string()
    );
    assert!(res.body["submitted_at"].is_string());
    assert_eq!(claim_status(&app, &fx.org, &a).await, "submitted");
    assert_eq!(claim_status(&app, &fx.org, &b).await, "submitted");
    batch_action(&app, &fx.org, Role::Manager, &id, "cancel")
        .await
        .assert_problem(409);
    // Still downloadable once submitted, identical.
    let x3 = app
        .get(
            &format!("/api/v1/batches/{id}/x12"),
            fx.org.token(Role::Biller),
        )
        .await;
    assert_eq!(x1.text, x3.text);

    // Detail: history.
    let res = app
        .get(
            &format!("/api/v1/batches/{id}"),
            fx.org.token(Role::Auditor),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let history: Vec<&str> = res.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["pending_approval", "approved", "submitted"]);
    app.get(&format!("/api/v1/batches/{id}"), fx.org.token(Role::Lab))
        .await
        .assert_problem(403);

    // A voided claim since: the 837 is refused, naming it.
    let res = action(&app, &fx.org, Role::Manager, &a, "void", None).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = app
        .get(
            &format!("/api/v1/batches/{id}/x12"),
            fx.org.token(Role::Biller),
        )
        .await;
    res.assert_problem(409);
    assert_eq!(res.body["voided_claims"].as_array().unwrap().len(), 1);

    // The audit trail has the batch's changes.
    let res = app
        .get(
            &format!("/api/v1/audit-events?entity=batch&entity_id={id}"),
            fx.org.token(Role::Admin),
        )
        .await;
    let actions: Vec<&str> = res.body["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert!(actions.contains(&"batch.create"), "{actions:?}");
    assert!(actions.contains(&"batch.transition"), "{actions:?}");
    assert!(actions.contains(&"batch.x12"), "{actions:?}");
}

#[tokio::test]
async fn the_creator_cannot_approve_and_cancel_returns_claims_to_ready() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let a = ready_claim(&app, &fx, &claim_body(&fx)).await;
    let res = app
        .post(
            "/api/v1/batches",
            fx.org.token(Role::Manager),
            &json!({"kind": "professional", "payer_id": fx.payer, "claim_ids": [a]}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let id = res.body["id"].as_str().unwrap().to_owned();
    let res = batch_action(&app, &fx.org, Role::Manager, &id, "approve").await;
    res.assert_problem(409);
    assert!(res.body["detail"].as_str().unwrap().contains("creator"));

    let res = batch_action(&app, &fx.org, Role::Biller, &id, "cancel").await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["status"], "cancelled");
    assert_eq!(
        res.body["claim_ids"],
        json!([a]),
        "history keeps the claims"
    );
    assert_eq!(claim_status(&app, &fx.org, &a).await, "ready");
    batch_action(&app, &fx.org, Role::Biller, &id, "cancel")
        .await
        .assert_problem(409);

    // The claim can be batched again.
    let res = app
        .post(
            "/api/v1/batches",
            fx.org.token(Role::Biller),
            &json!({"kind": "professional", "payer_id": fx.payer, "claim_ids": [a]}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(claim_status(&app, &fx.org, &a).await, "batched");

    // List filters.
    let res = app
        .get(
            "/api/v1/batches?status=cancelled&kind=professional",
            fx.org.token(Role::Biller),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(res.body["items"][0]["id"], id.as_str());
    let res = app
        .get(
            &format!("/api/v1/batches?payer_id={}&limit=1", fx.payer),
            fx.org.token(Role::Biller),
        )
        .await;
    assert_eq!(res.body["items"].as_array().unwrap().len(), 1);
    let cursor = res.body["next_cursor"].as_str().unwrap().to_owned();
    let res = app
        .get(
            &format!("/api/v1/batches?limit=1&cursor={cursor}"),
            fx.org.token(Role::Biller),
        )
        .await;
    assert_eq!(res.body["items"].as_array().unwrap().len(), 1);
    assert!(res.body["next_cursor"].is_null());
    app.get("/api/v1/batches?status=bogus", fx.org.token(Role::Biller))
        .await
        .assert_problem(422);

    // Another organization sees nothing.
    let other = app.seed_org("Other").await;
    app.get(&format!("/api/v1/batches/{id}"), other.token(Role::Biller))
        .await
        .assert_problem(404);
}

#[tokio::test]
async fn explicit_claims_are_checked_one_by_one() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let ready = ready_claim(&app, &fx, &claim_body(&fx)).await;
    let draft = create(&app, &fx, &claim_body(&fx)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            "/api/v1/batches",
            fx.org.token(Role::Biller),
            &json!({"kind": "professional", "payer_id": fx.payer,
                    "claim_ids": [ready, draft, "nope", uuid::Uuid::now_v7().to_string(), ready]}),
        )
        .await;
    res.assert_problem(422);
    let fields = res.error_fields();
    assert!(fields.contains(&"claim_ids[1]".to_owned()), "{fields:?}");
    assert!(fields.contains(&"claim_ids[2]".to_owned()), "{fields:?}");
    assert!(fields.contains(&"claim_ids[3]".to_owned()), "{fields:?}");
    assert!(fields.contains(&"claim_ids[4]".to_owned()), "{fields:?}");
    assert!(!fields.contains(&"claim_ids[0]".to_owned()), "{fields:?}");

    // Wrong kind; unknown payer; bad kind; empty list; nothing ready.
    let res = app
        .post(
            "/api/v1/batches",
            fx.org.token(Role::Biller),
            &json!({"kind": "dental", "payer_id": fx.payer, "claim_ids": [ready]}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.body["errors"][0]["code"], "wrong_kind");
    let res = app
        .post(
            "/api/v1/batches",
            fx.org.token(Role::Biller),
            &json!({"kind": "wizard", "payer_id": "x", "claim_ids": []}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["kind", "payer_id", "claim_ids"]);
    let res = app
        .post(
            "/api/v1/batches",
            fx.org.token(Role::Biller),
            &json!({"kind": "dental", "payer_id": fx.payer}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.body["errors"][0]["code"], "no_claims");
    app.post(
        "/api/v1/batches",
        fx.org.token(Role::Clinician),
        &json!({"kind": "professional", "payer_id": fx.payer}),
    )
    .await
    .assert_problem(403);

    // Batched once; a second batch of the same claim is a 409.
    let res = app
        .post(
            "/api/v1/batches",
            fx.org.token(Role::Biller),
            &json!({"kind": "professional", "payer_id": fx.payer, "claim_ids": [ready]}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let res = app
        .post(
            "/api/v1/batches",
            fx.org.token(Role::Biller),
            &json!({"kind": "professional", "payer_id": fx.payer, "claim_ids": [ready]}),
        )
        .await;
    res.assert_problem(409);
    assert!(
        res.body["detail"]
            .as_str()
            .unwrap()
            .contains("already batched")
    );
}

#[tokio::test]
async fn an_idempotent_retry_returns_the_first_batch() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    ready_claim(&app, &fx, &claim_body(&fx)).await;
    let body = json!({"kind": "professional", "payer_id": fx.payer});
    let send = || async {
        let res = app
            .client
            .post(format!("{}/api/v1/batches", app.address))
            .bearer_auth(fx.org.token(Role::Biller))
            .header("Idempotency-Key", "batch-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        crate::helpers::read(res).await
    };
    let first = send().await;
    assert_eq!(first.status, 201, "{}", first.text);
    let second = send().await;
    assert_eq!(second.status, 201, "{}", second.text);
    assert_eq!(first.body["id"], second.body["id"]);
    let res = app.get("/api/v1/batches", fx.org.token(Role::Biller)).await;
    assert_eq!(res.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_csv_lists_the_claims_of_the_batch() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    ready_claim(&app, &fx, &claim_body(&fx)).await;
    let id = created_batch(&app, &fx).await;
    let res = app
        .client
        .get(format!("{}/api/v1/batches/{id}", app.address))
        .bearer_auth(fx.org.token(Role::Biller))
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    let res = crate::helpers::read(res).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(res.content_type().starts_with("text/csv"));
    let lines: Vec<&str> = res.text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "patient_control_number,patient,mrn,service_from,service_to,status,total_charge"
    );
    assert!(
        lines[1].starts_with("C0000001,\"Lopez, Maria\","),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with(",2026-09-15,2026-09-15,batched,140.00"),
        "{}",
        lines[1]
    );
}

#[tokio::test]
async fn acknowledgements_set_the_outcome_through_the_repo() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    ready_claim(&app, &fx, &claim_body(&fx)).await;
    let id = approved_batch(&app, &fx).await;
    let sid = id.to_string();
    batch_action(&app, &fx.org, Role::Biller, &sid, "mark-submitted").await;
    let db = app.db.clone();
    let org = fx.org.id;
    let b = tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        let ctx = officina::audit::AuditCtx::cli(org);
        db::write_tx(&mut conn, |c| {
            let found = batches::by_control_number(c, org, 1)?.unwrap();
            assert_eq!(found.id, id);
            batches::set_ack_status(c, &ctx, id, BatchStatus::Accepted, Some("999 A"))?;
            // The same acknowledgement twice changes nothing.
            batches::set_ack_status(c, &ctx, id, BatchStatus::Accepted, Some("999 A"))
        })
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(b.status, BatchStatus::Accepted);
    let res = app
        .get(
            &format!("/api/v1/batches/{sid}"),
            fx.org.token(Role::Biller),
        )
        .await;
    assert_eq!(res.body["history"].as_array().unwrap().len(), 4);
}

/// Several billers batch the same claims at the same moment: exactly one batch is created, the
/// others get 409 (explicit ids) or 409/422 (default: nothing ready left), and no claim is in two
/// batches.
#[tokio::test]
async fn concurrent_batches_of_the_same_claims_create_exactly_one() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(ready_claim(&app, &fx, &claim_body(&fx)).await);
    }
    for explicit in [true, false] {
        let body = if explicit {
            json!({"kind": "professional", "payer_id": fx.payer, "claim_ids": ids})
        } else {
            json!({"kind": "professional", "payer_id": fx.payer})
        };
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let client = app.client.clone();
            let url = format!("{}/api/v1/batches", app.address);
            let token = fx.org.token(Role::Biller).to_owned();
            let body = body.clone();
            tasks.push(tokio::spawn(async move {
                let res = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                crate::helpers::read(res).await
            }));
        }
        let mut created = Vec::new();
        for t in tasks {
            let res = t.await.unwrap();
            match res.status.as_u16() {
                201 => created.push(res.body["id"].as_str().unwrap().to_owned()),
                409 => {}
                422 if !explicit => assert_eq!(res.body["errors"][0]["code"], "no_claims"),
                _ => panic!("unexpected {}: {}", res.status, res.text),
            }
        }
        assert_eq!(created.len(), 1, "exactly one batch wins");
        // Cancel it so the next round races for the same claims again.
        let res = batch_action(&app, &fx.org, Role::Biller, &created[0], "cancel").await;
        assert_eq!(res.status, 200, "{}", res.text);
    }
    for id in &ids {
        assert_eq!(claim_status(&app, &fx.org, id).await, "ready");
    }
}

/// ISA13/GS06 come from the organization's counter at approval: increasing, and never reused,
/// not even when an approved batch is cancelled.
#[tokio::test]
async fn control_numbers_increase_and_are_never_reused() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    let mut numbers = Vec::new();
    let mut first = None;
    for round in 0..3 {
        let claim = ready_claim(&app, &fx, &claim_body(&fx)).await;
        let res = app
            .post(
                "/api/v1/batches",
                fx.org.token(Role::Biller),
                &json!({"kind": "professional", "payer_id": fx.payer, "claim_ids": [claim]}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        let id = res.body["id"].as_str().unwrap().to_owned();
        let res = batch_action(&app, &fx.org, Role::Manager, &id, "approve").await;
        assert_eq!(res.status, 200, "{}", res.text);
        numbers.push(res.body["interchange_control_number"].as_i64().unwrap());
        if round == 0 {
            first = Some(id);
        }
        if round == 1 {
            let res = batch_action(
                &app,
                &fx.org,
                Role::Biller,
                first.as_ref().unwrap(),
                "cancel",
            )
            .await;
            assert_eq!(res.status, 200, "{}", res.text);
            assert_eq!(res.body["interchange_control_number"], 1, "kept as history");
        }
    }
    assert_eq!(numbers, [1, 2, 3]);
}

/// Without the organization's X12 settings the 837 is refused, naming what is missing.
#[tokio::test]
async fn incomplete_billing_settings_refuse_the_837() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    ready_claim(&app, &fx, &claim_body(&fx)).await;
    let id = approved_batch(&app, &fx).await;
    let res = app
        .get(
            &format!("/api/v1/batches/{id}/x12"),
            fx.org.token(Role::Biller),
        )
        .await;
    res.assert_problem(409);
    let missing = res.body["missing_settings"].as_array().unwrap();
    assert!(missing.contains(&json!("tax_id")), "{missing:?}");
    assert!(missing.contains(&json!("submitter_id")), "{missing:?}");
    assert!(!missing.contains(&json!("npi")), "{missing:?}");
    app.get(
        &format!("/api/v1/batches/{id}/x12"),
        fx.org.token(Role::Auditor),
    )
    .await
    .assert_problem(403);
}

#[tokio::test]
async fn a_voided_claim_the_payer_has_goes_out_as_a_frequency_8_claim() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    billing_settings(&app, &fx.org).await;
    let id = ready_claim(&app, &fx, &claim_body(&fx)).await;
    force(
        &app,
        &fx.org,
        &id,
        &[
            ClaimStatus::Batched,
            ClaimStatus::Submitted,
            ClaimStatus::Accepted,
        ],
    )
    .await;
    let db = app.db.clone();
    let ctx = officina::audit::AuditCtx::cli(fx.org.id);
    let claim_id: officina::db::ClaimId = id.parse().unwrap();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        db::write_tx(&mut conn, |c| {
            officina::claims::repo::set_payer_claim_number(c, &ctx, claim_id, "PAYER778812")
        })
        .unwrap();
    })
    .await
    .unwrap();

    let res = action(
        &app,
        &fx.org,
        Role::Manager,
        &id,
        "void",
        Some(json!({"reason": "billed to the wrong patient"})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["status"], "void");
    // A void notice waits for the next batch: frequency 8, referencing the payer's number.
    let ready = app
        .get("/api/v1/claims?status=ready", fx.org.token(Role::Biller))
        .await;
    let items = ready.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", ready.text);
    assert_eq!(items[0]["frequency_code"], "8");
    assert_eq!(items[0]["original_reference"], "PAYER778812");
    let pcn = items[0]["patient_control_number"]
        .as_str()
        .unwrap()
        .to_owned();

    let batch = approved_batch(&app, &fx).await;
    let x12 = app
        .client
        .get(format!("{}/api/v1/batches/{batch}/x12", app.address))
        .bearer_auth(fx.org.token(Role::Biller))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let clm = x12
        .split('~')
        .map(str::trim)
        .find(|s| s.starts_with(&format!("CLM*{pcn}*")))
        .unwrap();
    assert!(clm.contains(":B:8*"), "{clm}");
    assert!(x12.contains("REF*F8*PAYER778812"), "{x12}");
    // A void before the payer saw the claim creates no notice.
    let draft = create(&app, &fx, &claim_body(&fx)).await;
    let res = action(
        &app,
        &fx.org,
        Role::Manager,
        draft["id"].as_str().unwrap(),
        "void",
        None,
    )
    .await;
    assert_eq!(res.status, 200);
    let ready = app
        .get("/api/v1/claims?status=ready", fx.org.token(Role::Biller))
        .await;
    assert!(ready.body["items"].as_array().unwrap().is_empty());
}

/// A professional batch of the organization's ready claims, created by the biller.
async fn created_batch(app: &TestApp, fx: &Fx) -> BatchId {
    let res = app
        .post(
            "/api/v1/batches",
            fx.org.token(Role::Biller),
            &json!({"kind": "professional", "payer_id": fx.payer}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.body["id"].as_str().unwrap().parse().unwrap()
}

/// [`created_batch`], approved by a manager.
async fn approved_batch(app: &TestApp, fx: &Fx) -> BatchId {
    let id = created_batch(app, fx).await;
    let res = batch_action(app, &fx.org, Role::Manager, &id.to_string(), "approve").await;
    assert_eq!(res.status, 200, "{}", res.text);
    id
}

/// The 837 of a batch, checked and ready to write (`batches_x12::prepare`).
fn prepared(
    conn: &mut DbConn,
    org: OrgId,
    id: BatchId,
) -> officina::billing::batches_x12::Prepared {
    let batch = batches::require(conn, org, id).unwrap();
    officina::billing::batches_x12::prepare(conn, org, &batch).unwrap()
}

/// What the 837's reads may leave on a PostgreSQL connection: its named cursors, and the
/// settings they change that differ from the session's.
fn left_open(conn: &mut DbConn) -> (i64, i64) {
    let mut count = |sql: &str| crate::concurrency::count_sql(conn, sql);
    (
        count("SELECT COUNT(*) AS n FROM pg_cursors WHERE name <> ''"),
        count(
            "SELECT COUNT(*) AS n FROM pg_settings WHERE name IN \
             ('work_mem', 'cursor_tuple_fraction') AND setting <> reset_val",
        ),
    )
}

/// The 837 is written a chunk of claims at a time (`batches_x12::CHUNK`, 1 000): on PostgreSQL
/// fetched from two cursors (claims, and 4x as many lines) merged by claim, on SQLite read by
/// id, at most `db::PROBE_CHUNK` (100) ids per statement. Whatever the chunk size, the bytes are
/// the ones the API serves, with the claims in control-number order and each claim with all its
/// lines: 107 claims of 1, 2 or 4 lines, so the lines of a claim straddle fetches (and a chunk
/// of 1 000 is read on SQLite in two statements of 100 and 7 ids per table), one in five without
/// a rendering provider; 248 lines, so pages of 4 and 8 lines (chunks of 1 and 2) end exactly
/// at the last line and only an empty fetch tells the end.
#[tokio::test]
async fn batch_837_bytes_do_not_depend_on_the_chunk_size() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    billing_settings(&app, &fx.org).await;
    let n_claims = db::PROBE_CHUNK + 7;
    let (mut lines_written, mut rendered) = (0, 0);
    for n in 0..n_claims {
        let mut body = claim_body(&fx);
        body["lines"][0]["charge_cents"] = json!(10000 + n);
        // Every fifth claim has no rendering provider (the provider's join finds none).
        if n % 5 == 0 {
            body["rendering_provider_id"] = Value::Null;
        } else {
            rendered += 1;
        }
        let lines = body["lines"].as_array_mut().unwrap();
        match n % 3 {
            0 => lines.truncate(1),
            1 => {}
            _ => {
                for code in ["80053", "85025"] {
                    let mut more = lines[1].clone();
                    more["procedure_code"] = json!(code);
                    lines.push(more);
                }
            }
        }
        lines_written += lines.len();
        ready_claim(&app, &fx, &body).await;
    }
    assert_eq!(lines_written % 8, 0, "{lines_written} lines");
    let id = approved_batch(&app, &fx).await;
    let served = app
        .get(
            &format!("/api/v1/batches/{id}/x12"),
            fx.org.token(Role::Biller),
        )
        .await;
    assert_eq!(served.status, 200, "{}", served.text);
    let pcns: Vec<&str> = served
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("CLM*"))
        .map(|l| l.split('*').next().unwrap())
        .collect();
    assert_eq!(pcns.len(), n_claims);
    assert!(pcns.is_sorted(), "{pcns:?}");
    let count = |tag: &str| served.text.lines().filter(|l| l.starts_with(tag)).count();
    assert_eq!(count("LX*"), lines_written);
    assert_eq!(count("NM1*82*"), rendered);
    let db = app.db.clone();
    let org = fx.org.id;
    let written = tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        let x12 = prepared(&mut conn, org, id);
        assert_eq!(x12.claims(), n_claims);
        // On PostgreSQL, with and without a second connection for the lines (the handler uses
        // one when the pool has two idle).
        let mut spare = db.conn().unwrap();
        let pg = matches!(**conn, DbConn::Postgresql(_));
        // With two connections idle (these two, back in the pool), a spare on PostgreSQL.
        drop((db.conn().unwrap(), db.conn().unwrap()));
        assert_eq!(db.with_spare(|s| Ok(s.is_some())).unwrap(), pg);
        let mut written = Vec::new();
        for chunk in [1, 2, 3, 5, 100, 1000] {
            for with_spare in if pg { &[false, true][..] } else { &[false][..] } {
                let mut out = Vec::new();
                let spare = with_spare.then_some(&mut **spare);
                x12.write_in_chunks(&mut conn, spare, &mut out, chunk)
                    .unwrap();
                written.push(String::from_utf8(out).unwrap());
            }
        }
        // On PostgreSQL, inside the caller's transaction (as the handler calls it), the 837's
        // cursors and the settings made for them end with its savepoint, and on the second
        // connection with its own transaction: none is left open, and each connection's
        // settings are its own again.
        if pg {
            let mut out = Vec::new();
            db::write_tx(&mut conn, |conn| {
                x12.write(conn, Some(&mut **spare), &mut out)?;
                assert_eq!(left_open(conn), (0, 0));
                Ok::<_, officina::error::AppError>(())
            })
            .unwrap();
            assert_eq!(left_open(&mut spare), (0, 0));
            assert_eq!(String::from_utf8(out).unwrap(), written[0]);
        }
        written
    })
    .await
    .unwrap();
    for w in written {
        assert_eq!(w, served.text);
    }
}

/// On PostgreSQL, the 837 read across two connections ends cleanly when either side fails: a
/// writer that fails stops the reads, whose cursors are gone from both connections; a lines'
/// side that cannot start (its connection already in a transaction) stops the claims' side at
/// once, and its own error is the one returned, not "changed" or "stopped early".
#[tokio::test]
async fn batch_837_errors_on_either_connection_end_the_read() {
    let app = TestApp::spawn().await;
    if !matches!(**app.db.conn().unwrap(), DbConn::Postgresql(_)) {
        return; // SQLite has no second connection for the lines.
    }
    let fx = fixture(&app, true).await;
    billing_settings(&app, &fx.org).await;
    for _ in 0..3 {
        ready_claim(&app, &fx, &claim_body(&fx)).await;
    }
    let id = approved_batch(&app, &fx).await;
    let db = app.db.clone();
    let org = fx.org.id;
    tokio::task::spawn_blocking(move || {
        let (mut conn, mut spare) = (db.conn().unwrap(), db.conn().unwrap());
        let x12 = prepared(&mut conn, org, id);

        /// Takes `left` bytes, then fails.
        struct FailAfter(usize);
        impl std::io::Write for FailAfter {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if buf.len() > self.0 {
                    return Err(std::io::Error::other("disk full"));
                }
                self.0 -= buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let failed = x12
            .write_in_chunks(&mut conn, Some(&mut **spare), &mut FailAfter(600), 1)
            .unwrap_err();
        assert!(failed.to_string().contains("x12 writer"), "{failed}");
        assert_eq!(
            (left_open(&mut conn), left_open(&mut spare)),
            ((0, 0), (0, 0))
        );

        // The spare already in a transaction: the lines' side cannot begin its own.
        let DbConn::Postgresql(pg) = &mut **spare else {
            unreachable!()
        };
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        AnsiTransactionManager::begin_transaction(pg).unwrap();
        let failed = x12
            .write_in_chunks(&mut conn, Some(&mut **spare), &mut Vec::new(), 1)
            .unwrap_err();
        let message = failed.to_string();
        assert!(
            !message.contains("changed") && !message.contains("stopped"),
            "{message}"
        );
        assert_eq!(left_open(&mut conn), (0, 0));
        let DbConn::Postgresql(pg) = &mut **spare else {
            unreachable!()
        };
        AnsiTransactionManager::rollback_transaction(pg).unwrap();
    })
    .await
    .unwrap();
}

/// Reads by id (`db::load_by_ids_at_most`; the 837's on SQLite use [`db::PROBE_CHUNK`] for
/// claims and lines) read every id once, in order, at most `most` per statement, on either
/// backend.
#[tokio::test]
async fn reads_by_id_take_at_most_the_given_number_of_ids_per_statement() {
    let app = TestApp::spawn().await;
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        let ids: Vec<u32> = (0..250).collect();
        for (most, sizes) in [
            (db::PROBE_CHUNK, vec![100, 100, 50]),
            (1_000, vec![250]),
            (0, vec![1; 250]),
        ] {
            let mut seen = Vec::new();
            let rows = db::load_by_ids_at_most(&mut conn, &ids, most, |_, chunk| {
                seen.push(chunk.len());
                Ok(chunk.to_vec())
            })
            .unwrap();
            assert_eq!(seen, sizes, "most = {most}");
            let expected: Vec<String> = ids.iter().map(ToString::to_string).collect();
            assert_eq!(rows, expected);
        }
    })
    .await
    .unwrap();
}
