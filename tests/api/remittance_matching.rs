//! Remittance posting rules beyond the import itself: matching an unmatched CLP by hand, SVC
//! lines matched to claim lines (REF*6R, else code + date, never guessed), allowed amounts and
//! remark codes, claims forwarded to another payer (CLP02 19–21), `Idempotency-Key` on the
//! import, and the payee check (N1*PE must be this organization).

use officina::auth::Role;
use serde_json::{Value, json};

use crate::claims::{claim_body, create};
use crate::helpers::{Res, TestApp};
use crate::remittances::{claim, ledger, post_835, remit, set_payee, two_submitted_claims};

fn match_path(id: &str, n: usize) -> String {
    format!("/api/v1/remittances/{id}/claims/{n}/match")
}

/// C0000002 (99214 200.00 on 2026-09-16) paid under a wrong patient control number, and another
/// unknown CLP.
const WRONG_PCN: &[&str] = &[
    "BPR*I*190.00*C*ACH*CCP*01*999999999*DA*123456*1234567890**01*999999999*DA*654321*20261201",
    "TRN*1*EFT-MATCH*1999999999",
    "N1*PR*ACME HEALTH",
    "N1*PE*CLINIC*XX*1234567893",
    "LX*1",
    "CLP*X0000002*1*200.00*150.00**12*PAYER-CN-2",
    "SVC*HC:99214*200.00*150.00**1",
    "DTM*472*20260916",
    "CAS*CO*45*50.00",
    "CLP*X0000009*1*40.00*40.00**12*PAYER-CN-9",
];

#[tokio::test]
async fn an_unmatched_clp_is_matched_by_hand_once_with_the_import_rules() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    let res = post_835(&app, org, Role::Biller, &remit(WRONG_PCN)).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["claims_matched"], 0);
    let unmatched = res.body["claims_unmatched"].as_array().unwrap();
    assert_eq!(unmatched.len(), 2);
    assert_eq!(unmatched[0]["n"], 1);
    let id = res.body["id"].as_str().unwrap().to_owned();
    let body = json!({"claim_id": ids[1]});

    // Roles, bad input, unknown CLP, another organization's claim.
    for role in [Role::Auditor, Role::Admin, Role::Lab, Role::Clinician] {
        app.post(&match_path(&id, 1), org.token(role), &body)
            .await
            .assert_problem(403);
    }
    let bad = app
        .post(&match_path(&id, 1), org.token(Role::Biller), &json!({}))
        .await;
    bad.assert_problem(422);
    assert_eq!(bad.error_fields(), ["claim_id"]);
    let bad = app
        .post(
            &match_path(&id, 1),
            org.token(Role::Biller),
            &json!({"claim_id": "nope"}),
        )
        .await;
    bad.assert_problem(422);
    app.post(&match_path(&id, 9), org.token(Role::Biller), &body)
        .await
        .assert_problem(404);
    let other = app.seed_org("Other").await;
    app.post(&match_path(&id, 1), other.token(Role::Biller), &body)
        .await
        .assert_problem(404);
    let fx2 = crate::claims::fixture(&app, true).await;
    let theirs = create(&app, &fx2, &claim_body(&fx2)).await;
    app.post(
        &match_path(&id, 1),
        org.token(Role::Biller),
        &json!({"claim_id": theirs["id"]}),
    )
    .await
    .assert_problem(404);
    // A draft claim cannot be paid: 409, nothing posted.
    let draft = create(&app, &fx, &claim_body(&fx)).await;
    let draft_id = draft["id"].as_str().unwrap();
    let res = app
        .post(
            &match_path(&id, 1),
            org.token(Role::Biller),
            &json!({"claim_id": draft_id}),
        )
        .await;
    res.assert_problem(409);
    assert!(res.text.contains("draft"), "{}", res.text);
    assert_eq!(ledger(&app, org, draft_id).await["items"], json!([]));

    // The match: posted like the import (status, ledger, CLP07, lines), who and when recorded.
    let res = app
        .post(&match_path(&id, 1), org.token(Role::Manager), &body)
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["claims_matched"], 1);
    let left: Vec<i64> = res.body["claims_unmatched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["n"].as_i64().unwrap())
        .collect();
    assert_eq!(left, [2]);
    let posted = &res.body["claims"][0];
    assert_eq!(posted["claim_id"], ids[1].as_str());
    assert_eq!(posted["status"], "paid");
    assert_eq!(posted["matched_by"], org.user(Role::Manager).to_string());
    chrono::DateTime::parse_from_rfc3339(posted["matched_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        posted["lines"][0]["claim_line_control_number"],
        "C0000002L01"
    );
    let c2 = claim(&app, org, &ids[1]).await;
    assert_eq!(c2["status"], "paid");
    assert_eq!(c2["payer_claim_number"], "PAYER-CN-2");
    let l2 = ledger(&app, org, &ids[1]).await;
    assert_eq!(
        (
            &l2["charge_cents"],
            &l2["paid_cents"],
            &l2["adjustment_cents"],
            &l2["balance_cents"]
        ),
        (&json!(20000), &json!(15000), &json!(5000), &json!(0))
    );
    assert!(
        l2["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "adjustment" && e["line_control_number"] == "C0000002L01")
    );
    assert_eq!(l2["remittances"][0]["matched_by"], posted["matched_by"]);
    let entries = l2["items"].as_array().unwrap().len();

    // The view afterwards, and the same CLP again: 409, nothing posted twice.
    let view = app
        .get(
            &format!("/api/v1/remittances/{id}"),
            org.token(Role::Auditor),
        )
        .await;
    assert_eq!(view.body["claims_matched"], 1);
    assert_eq!(view.body["claims_unmatched"].as_array().unwrap().len(), 1);
    let again = app
        .post(&match_path(&id, 1), org.token(Role::Biller), &body)
        .await;
    again.assert_problem(409);
    assert_eq!(
        ledger(&app, org, &ids[1]).await["items"]
            .as_array()
            .unwrap()
            .len(),
        entries
    );
    // The audit trail records the match.
    let audit = app
        .get(
            &format!("/api/v1/audit-events?action=remittance.match&entity_id={id}"),
            org.token(Role::Auditor),
        )
        .await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        audit.text
    );
}

#[tokio::test]
async fn an_unbalanced_clp_cannot_be_matched() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    let file = remit(&[
        "BPR*I*80.00*C*CHK************20261206",
        "TRN*1*CHK-UNB*1999999999",
        "N1*PE*CLINIC*XX*1234567893",
        "LX*1",
        "CLP*X0000002*1*200.00*80.00**12*PAYER-CN-2",
        "CAS*CO*45*100.00",
    ]);
    let res = post_835(&app, org, Role::Biller, &file).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let id = res.body["id"].as_str().unwrap();
    let res = app
        .post(
            &match_path(id, 1),
            org.token(Role::Biller),
            &json!({"claim_id": ids[1]}),
        )
        .await;
    res.assert_problem(409);
    assert!(res.text.contains("balance"), "{}", res.text);
    assert_eq!(ledger(&app, org, &ids[1]).await["items"], json!([]));
    assert_eq!(claim(&app, org, &ids[1]).await["status"], "submitted");
}

fn lines_of(v: &Value) -> &Vec<Value> {
    v["lines"].as_array().unwrap()
}

#[tokio::test]
async fn svc_lines_match_by_control_number_else_by_code_and_date_never_guessed() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    let file = remit(&[
        "BPR*I*300.00*C*ACH************20261201",
        "TRN*1*EFT-LINES*1999999999",
        "N1*PE*CLINIC*XX*1234567893",
        "LX*1",
        "CLP*C0000001*1*140.00*110.00**12*PAYER-CN-1",
        // No REF*6R: 36415 on 2026-09-15 is exactly one line of the claim (line 2).
        "SVC*HC:36415*15.00*10.00**1",
        "DTM*472*20260915",
        "CAS*CO*45*5.00",
        // REF*6R names line 1.
        "SVC*HC:99213:25*125.00*100.00**1",
        "DTM*472*20260915",
        "CAS*CO*45*25.00",
        "REF*6R*C0000001L01",
        "CLP*C0000002*1*200.00*190.00**12*PAYER-CN-2",
        // No REF*6R and no line of the claim with 99215: reported, posted at claim level.
        "SVC*HC:99215*200.00*190.00**1",
        "DTM*472*20260916",
        "CAS*CO*45*10.00",
    ]);
    let res = post_835(&app, org, Role::Biller, &file).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let c1 = &res.body["claims"][0];
    let l = lines_of(c1);
    assert_eq!(l[0]["match_method"], "procedure_and_date");
    assert_eq!(l[0]["claim_line_number"], 2);
    assert_eq!(l[1]["match_method"], "line_control_number");
    assert_eq!(l[1]["claim_line_number"], 1);
    let c2 = &res.body["claims"][1];
    assert_eq!(lines_of(c2)[0]["match_method"], "none");
    assert!(lines_of(c2)[0]["claim_line_number"].is_null());
    assert!(
        lines_of(c2)[0]["message"]
            .as_str()
            .unwrap()
            .contains("99215"),
        "{}",
        res.text
    );
    assert!(res.text.contains("posted at claim level"), "{}", res.text);
    // Line-level ledger entries carry the matched line.
    let l1 = ledger(&app, org, &ids[0]).await;
    let items = l1["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|e| e["amount_cents"] == -500 && e["line_control_number"] == "C0000001L02")
    );
    assert!(
        items
            .iter()
            .any(|e| e["amount_cents"] == -2500 && e["line_control_number"] == "C0000001L01")
    );
    assert_eq!(l1["remittances"][0]["lines"][0]["claim_line_number"], 2);
    assert_eq!(
        l1["remittances"][0]["lines"][0]["claim_line_id"],
        l[0]["claim_line_id"]
    );
    assert!(l[0]["claim_line_id"].is_string(), "{}", res.text);
    let l2 = ledger(&app, org, &ids[1]).await;
    assert!(
        l2["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["amount_cents"] == -1000 && e["line_control_number"].is_null())
    );
    assert_eq!(l2["remittances"][0]["lines"][0]["match_method"], "none");
}

#[tokio::test]
async fn allowed_amounts_and_remark_codes_are_shown_not_posted() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    let file = remit(&[
        "BPR*I*150.00*C*ACH************20261201",
        "TRN*1*EFT-AMT*1999999999",
        "N1*PE*CLINIC*XX*1234567893",
        "LX*1",
        "CLP*C0000002*1*200.00*150.00*20.00*12*PAYER-CN-2",
        "MOA***MA01*N130",
        "AMT*B6*170.00",
        "SVC*HC:99214*200.00*150.00**1",
        "DTM*472*20260916",
        "CAS*CO*45*30.00",
        "CAS*PR*2*20.00",
        "REF*6R*C0000002L01",
        "AMT*B6*170.00",
        "LQ*HE*M15",
        "LQ*HE*N381",
    ]);
    let res = post_835(&app, org, Role::Biller, &file).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let c = &res.body["claims"][0];
    assert_eq!(c["allowed_cents"], 17000);
    assert_eq!(c["remark_codes"], json!(["MA01", "N130"]));
    assert_eq!(lines_of(c)[0]["allowed_cents"], 17000);
    assert_eq!(lines_of(c)[0]["remark_codes"], json!(["M15", "N381"]));
    let l = ledger(&app, org, &ids[1]).await;
    let r = &l["remittances"][0];
    assert_eq!(r["trace_number"], "EFT-AMT");
    assert_eq!(r["allowed_cents"], 17000);
    assert_eq!(r["remark_codes"], json!(["MA01", "N130"]));
    assert_eq!(r["lines"][0]["allowed_cents"], 17000);
    assert_eq!(r["lines"][0]["remark_codes"], json!(["M15", "N381"]));
    // Allowed is information: the ledger holds the charge, payment and the two CAS only.
    let kinds: Vec<&str> = l["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["charge", "payment", "adjustment", "patient_responsibility"]
    );
    assert_eq!(l["balance_cents"], 0);
}

#[tokio::test]
async fn a_claim_forwarded_to_another_payer_is_posted_and_the_crossover_recorded() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    let file = remit(&[
        "BPR*I*220.00*C*ACH************20261201",
        "TRN*1*EFT-XOVER*1999999999",
        "N1*PE*CLINIC*XX*1234567893",
        "LX*1",
        "CLP*C0000002*19*200.00*120.00*80.00*12*PAYER-CN-2",
        "NM1*QC*1*LOPEZ*MARIA****MI*XJH123456789",
        "NM1*TT*2*PRAIRIE MEDIGAP*****PI*MG001",
        "CAS*PR*1*80.00",
        "CLP*C0000001*20*140.00*100.00**12*PAYER-CN-1",
        "CAS*CO*45*40.00",
    ]);
    let res = post_835(&app, org, Role::Biller, &file).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let c2 = &res.body["claims"][0];
    assert_eq!(c2["forwarded_to"], "PRAIRIE MEDIGAP (MG001)");
    // What is left is patient responsibility (for the crossover payer): settled for this payer.
    assert_eq!(c2["status"], "paid");
    let c1 = &res.body["claims"][1];
    assert_eq!(c1["forwarded_to"], "another payer");
    assert_eq!(c1["status"], "paid");
    let l2 = ledger(&app, org, &ids[1]).await;
    assert_eq!(l2["paid_cents"], 12000);
    assert_eq!(
        l2["remittances"][0]["forwarded_to"],
        "PRAIRIE MEDIGAP (MG001)"
    );
    let events = app
        .get(
            &format!("/api/v1/claims/{}/events", ids[1]),
            org.token(Role::Biller),
        )
        .await;
    assert_eq!(events.status, 200, "{}", events.text);
    assert!(
        events.text.contains("forwarded to PRAIRIE MEDIGAP (MG001)"),
        "{}",
        events.text
    );
    assert_eq!(claim(&app, org, &ids[0]).await["status"], "paid");
}

async fn post_with_key(app: &TestApp, token: &str, key: &str, body: &str) -> Res {
    let res = app
        .client
        .post(format!("{}/api/v1/remittances", app.address))
        .bearer_auth(token)
        .header("content-type", "application/edi-x12")
        .header("Idempotency-Key", key)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    crate::helpers::read(res).await
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    let token = org.token(Role::Biller);
    let file = remit(crate::remittances::PAYMENT);
    let first = post_with_key(&app, token, "era-1", &file).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["duplicate"], false);
    let retry = post_with_key(&app, token, "era-1", &file).await;
    assert_eq!(retry.status, 201, "{}", retry.text);
    assert_eq!(retry.body, first.body);
    let other = remit(&[
        "BPR*I*0*C*NON************20261205",
        "TRN*1*EFT-OTHER*1999999999",
        "N1*PE*CLINIC*XX*1234567893",
    ]);
    let reused = post_with_key(&app, token, "era-1", &other).await;
    reused.assert_problem(422);
    assert_eq!(reused.error_fields(), ["Idempotency-Key"]);
    let bad = post_with_key(&app, token, " ", &file).await;
    bad.assert_problem(400);
    // Without a key, the same file is the payer + trace duplicate: 200, nothing posted.
    let dup = post_835(&app, org, Role::Biller, &file).await;
    assert_eq!(dup.status, 200, "{}", dup.text);
    assert_eq!(dup.body["duplicate"], true);
    assert_eq!(
        ledger(&app, org, &ids[0]).await["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let list = app.get("/api/v1/remittances", token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_835_for_another_payee_is_refused_and_nothing_posted() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    let with_payee = |payee: &str| {
        let mut body: Vec<&str> = crate::remittances::PAYMENT.to_vec();
        body[4] = payee;
        remit(&body)
    };
    // Another NPI.
    let res = post_835(
        &app,
        org,
        Role::Biller,
        &with_payee("N1*PE*ELSEWHERE*XX*1111111112"),
    )
    .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["payee"]);
    assert!(res.text.contains("1111111112"), "{}", res.text);
    // A tax id that is not the organization's EIN.
    let res = post_835(
        &app,
        org,
        Role::Biller,
        &with_payee("N1*PE*CLINIC*FI*987654321"),
    )
    .await;
    res.assert_problem(422);
    assert!(res.text.contains("987654321"), "{}", res.text);
    let list = app
        .get("/api/v1/remittances", org.token(Role::Biller))
        .await;
    assert_eq!(list.body["items"], json!([]));
    assert_eq!(claim(&app, org, &ids[0]).await["status"], "submitted");
    assert_eq!(ledger(&app, org, &ids[0]).await["items"], json!([]));
    // One of the organization's providers is a payee too; so is its EIN.
    let res = post_835(
        &app,
        org,
        Role::Biller,
        &with_payee("N1*PE*DR REYES*XX*1245319599"),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    set_payee(&app, org, Some("1234567893"), Some("98-7654321")).await;
    let mut body: Vec<&str> = crate::remittances::PAYMENT.to_vec();
    body[1] = "TRN*1*EFT-FI*1999999999";
    body[4] = "N1*PE*CLINIC*FI*987654321";
    let res = post_835(&app, org, Role::Biller, &remit(&body)).await;
    assert_eq!(res.status, 201, "{}", res.text);
    // No payee id at all: posted, with a warning that it was not checked.
    let res = post_835(
        &app,
        org,
        Role::Biller,
        &remit(&[
            "BPR*H*0*C*NON************20261201",
            "TRN*1*NO-PAYEE*1999999999",
            "N1*PE*CLINIC",
        ]),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert!(
        res.body["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("not checked")),
        "{}",
        res.text
    );
}

#[tokio::test]
async fn the_same_clp_matched_concurrently_posts_once() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    let res = post_835(&app, org, Role::Biller, &remit(WRONG_PCN)).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let id = res.body["id"].as_str().unwrap().to_owned();
    let body = json!({"claim_id": ids[1]});
    let path = match_path(&id, 1);
    let tries = (0..4).map(|_| app.post(&path, org.token(Role::Biller), &body));
    let results = futures_util::future::join_all(tries).await;
    let mut statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 409, 409, 409], "{results:?}");
    let l = ledger(&app, org, &ids[1]).await;
    assert_eq!(l["paid_cents"], 15000);
    assert_eq!(l["balance_cents"], 0);
}
