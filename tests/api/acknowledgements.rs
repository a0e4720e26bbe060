//! Acknowledgements: a 999 sets the batch accepted or rejected with its IK3/IK4 errors; a 277CA
//! accepts or rejects each claim by its patient control number and stores the payer's claim
//! number; unknown control numbers are reported; the same file twice changes nothing; bad files
//! are 400/413/415 and change nothing.
//!
//! Most tests build the batch with the billing repo (`batches::create`, approve, submit; written
//! before the batch API existed, and quicker); `acknowledgements_answer_the_837_the_batch_api_generated`
//! goes through the batch API end to end and answers the 837 it generated.

use officina::auth::Role;
use officina::billing::batches::{self, BatchStatus, Stamp};
use officina::claims::domain::ClaimStatus;
use officina::db::{self, BatchId, ClaimId, PayerId};
use officina::directory::domain::ClaimKind;
use serde_json::{Value, json};

use crate::claims::{Fx, action, claim_body, create, fixture, line, load_codes};
use crate::helpers::{Org, Res, TestApp};

const ACCEPTED_999: &str = include_str!("../fixtures/x12/999/accepted.999");
const REJECTED_999: &str = include_str!("../fixtures/x12/999/rejected.999");
const CA_277: &str = include_str!("../fixtures/x12/277ca/mixed.277");
const CA_277_CRLF: &str = include_str!("../fixtures/x12/277ca/mixed-crlf.277");
const P837: &str = include_str!("../fixtures/x12/837/professional-two-lines.837");

async fn post_x12(app: &TestApp, org: &Org, role: Role, body: &str) -> Res {
    app.post_raw(
        "/api/v1/acknowledgements",
        Some(org.token(role)),
        "application/edi-x12",
        body.as_bytes().to_vec(),
    )
    .await
}

/// Two ready claims, `C0000001` and `C0000002`.
async fn two_ready_claims(app: &TestApp) -> (Fx, Vec<String>) {
    load_codes(app).await;
    let fx = fixture(app, true).await;
    let first = create(app, &fx, &claim_body(&fx)).await;
    let mut other = claim_body(&fx);
    other["lines"] = json!([line("99214", "2026-09-16", 20000)]);
    let second = create(app, &fx, &other).await;
    assert_eq!(first["patient_control_number"], "C0000001");
    assert_eq!(second["patient_control_number"], "C0000002");
    let mut ids = Vec::new();
    for c in [first, second] {
        let id = c["id"].as_str().unwrap().to_owned();
        let res = action(app, &fx.org, Role::Biller, &id, "finalize", None).await;
        assert_eq!(res.status, 200, "{}", res.text);
        ids.push(id);
    }
    (fx, ids)
}

/// Batches the claims, approves (ISA13 = GS06 from the `isa13` counter) and, when `submit`,
/// marks the batch and its claims submitted. Returns the batch and its control number.
async fn batch(app: &TestApp, fx: &Fx, claims: &[String], submit: bool) -> (BatchId, i64) {
    let db = app.db.clone();
    let ctx = officina::audit::AuditCtx::cli(fx.org.id);
    let manager = fx.org.user(Role::Manager);
    let payer: PayerId = fx.payer.parse().unwrap();
    let ids: Vec<ClaimId> = claims.iter().map(|c| c.parse().unwrap()).collect();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        db::write_tx(&mut conn, |c| {
            let list = ids
                .iter()
                .map(|id| officina::claims::repo::require_claim(c, ctx.org, *id))
                .collect::<Result<Vec<_>, _>>()?;
            let b = batches::create(c, &ctx, ClaimKind::Professional, payer, &list)?;
            let n = db::next_counter(c, ctx.org, "isa13")?;
            let stamp = Stamp {
                approved: Some((manager, db::now(), n)),
                submitted: None,
            };
            batches::transition(c, &ctx, b.id, BatchStatus::Approved, None, None, stamp)?;
            if submit {
                let stamp = Stamp {
                    approved: None,
                    submitted: Some((manager, db::now())),
                };
                batches::transition(c, &ctx, b.id, BatchStatus::Submitted, None, None, stamp)?;
                for id in &ids {
                    officina::claims::repo::transition(
                        c,
                        &ctx,
                        *id,
                        ClaimStatus::Submitted,
                        Some("test"),
                        None,
                    )?;
                }
            }
            Ok::<_, officina::error::AppError>((b.id, n))
        })
        .unwrap()
    })
    .await
    .unwrap()
}

async fn batch_status(app: &TestApp, org: &Org, id: BatchId) -> BatchStatus {
    let db = app.db.clone();
    let org = org.id;
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        batches::require(&mut conn, org, id).unwrap().status
    })
    .await
    .unwrap()
}

async fn claim(app: &TestApp, org: &Org, id: &str) -> Value {
    let res = app
        .get(&format!("/api/v1/claims/{id}"), org.token(Role::Biller))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.body
}

async fn claim_events(app: &TestApp, org: &Org, id: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/api/v1/claims/{id}/events"),
            org.token(Role::Biller),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_999_rejection_rejects_the_batch_with_readable_errors_once() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_ready_claims(&app).await;
    let org = &fx.org;
    let (bid, n) = batch(&app, &fx, &ids, true).await;
    assert_eq!(n, 1, "the samples answer group control number 1");

    let res = post_x12(&app, org, Role::Biller, REJECTED_999).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let b = &res.body;
    assert_eq!(b["kind"], "999");
    assert_eq!(b["duplicate"], false);
    assert_eq!(b["interchange_control_number"], "000000102");
    assert_eq!(b["group_control_number"], "102");
    assert_eq!(b["sender"], "CLEARINGHOUSE");
    assert_eq!(b["groups"][0]["group_control_number"], "1");
    assert_eq!(b["groups"][0]["status"], "R");
    assert_eq!(b["groups"][0]["batch_id"], bid.to_string());
    assert_eq!(b["batches"].as_array().unwrap().len(), 1);
    let upd = &b["batches"][0];
    assert_eq!(upd["batch_id"], bid.to_string());
    assert_eq!(upd["previous_status"], "submitted");
    assert_eq!(upd["status"], "rejected");
    assert_eq!(upd["control_number"], 1);
    let ts = &upd["errors"][0];
    assert_eq!(ts["control_number"], "0001");
    assert_eq!(ts["status"], "R");
    let nm1 = &ts["errors"][0];
    assert_eq!(nm1["segment_id"], "NM1");
    assert_eq!(nm1["position"], 8);
    assert_eq!(nm1["loop_id"], "2010AA");
    assert_eq!(nm1["code"], "8");
    assert_eq!(nm1["message"], "Segment has data element errors");
    assert_eq!(
        nm1["elements"][0],
        json!({"position": "9", "element_reference": "67", "code": "7",
               "message": "Invalid code value", "bad_value": "12345"})
    );
    assert_eq!(ts["errors"][1]["elements"][0]["position"], "5:1");
    // The payer never took the claims: both are rejected.
    let moved: Vec<&str> = b["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(moved, ["rejected", "rejected"]);
    assert_eq!(b["unmatched"], json!([]));
    assert_eq!(b["skipped"], json!([]));
    assert_eq!(batch_status(&app, org, bid).await, BatchStatus::Rejected);
    assert_eq!(claim(&app, org, &ids[0]).await["status"], "rejected");
    let events = claim_events(&app, org, &ids[0]).await;
    assert!(
        events.last().unwrap()["reason"]
            .as_str()
            .unwrap()
            .contains("AK9 R"),
        "{events:?}"
    );

    // The same file again: nothing changes, the first summary comes back.
    let again = post_x12(&app, org, Role::Manager, REJECTED_999).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["duplicate"], true);
    assert_eq!(again.body["id"], b["id"]);
    assert_eq!(again.body["batches"], b["batches"]);
    assert_eq!(claim_events(&app, org, &ids[0]).await.len(), events.len());

    // Read back: list, filters, detail.
    let tok = org.token(Role::Auditor);
    let list = app.get("/api/v1/acknowledgements", tok).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["items"][0]["batches"], b["batches"]);
    let by_batch = app
        .get(&format!("/api/v1/acknowledgements?batch_id={bid}"), tok)
        .await;
    assert_eq!(by_batch.body["items"].as_array().unwrap().len(), 1);
    let none = app.get("/api/v1/acknowledgements?kind=277ca", tok).await;
    assert_eq!(none.body["items"], json!([]));
    app.get("/api/v1/acknowledgements?kind=835&batch_id=x", tok)
        .await
        .assert_problem(422);
    let id = b["id"].as_str().unwrap();
    let one = app
        .get(&format!("/api/v1/acknowledgements/{id}"), tok)
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["duplicate"], false);
    assert_eq!(one.body["groups"], b["groups"]);

    // Another organization sees nothing and matches nothing.
    let other = app.seed_org("Other").await;
    app.get(
        &format!("/api/v1/acknowledgements/{id}"),
        other.token(Role::Biller),
    )
    .await
    .assert_problem(404);
    let theirs = post_x12(&app, &other, Role::Biller, REJECTED_999).await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    assert_eq!(
        theirs.body["duplicate"], false,
        "duplicates are per organization"
    );
    assert_eq!(theirs.body["batches"], json!([]));
    assert_eq!(theirs.body["unmatched"][0]["kind"], "batch");
    assert_eq!(theirs.body["unmatched"][0]["reference"], "1");
}

#[tokio::test]
async fn a_999_acceptance_then_a_277ca_accepts_and_rejects_claims() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_ready_claims(&app).await;
    let org = &fx.org;
    let (bid, _) = batch(&app, &fx, &ids, true).await;

    let res = post_x12(&app, org, Role::Manager, ACCEPTED_999).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["batches"][0]["status"], "accepted");
    assert_eq!(res.body["batches"][0]["errors"][0]["errors"], json!([]));
    assert_eq!(
        res.body["claims"],
        json!([]),
        "a 999 acceptance leaves claims to the 277CA"
    );
    assert_eq!(batch_status(&app, org, bid).await, BatchStatus::Accepted);
    assert_eq!(claim(&app, org, &ids[0]).await["status"], "submitted");

    let res = post_x12(&app, org, Role::Biller, CA_277_CRLF).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let b = &res.body;
    assert_eq!(b["kind"], "277ca");
    assert_eq!(b["interchange_control_number"], "000000202");
    assert_eq!(b["groups"], json!([]));
    let claims = b["claims"].as_array().unwrap();
    assert_eq!(claims.len(), 2, "{b}");
    assert_eq!(claims[0]["claim_id"], ids[0].as_str());
    assert_eq!(claims[0]["patient_control_number"], "C0000001");
    assert_eq!(claims[0]["previous_status"], "submitted");
    assert_eq!(claims[0]["status"], "accepted");
    assert_eq!(claims[0]["stc_codes"], json!(["A1:20:PR"]));
    assert_eq!(claims[0]["payer_claim_number"], "PAYERICN0001");
    assert_eq!(claims[1]["patient_control_number"], "C0000002");
    assert_eq!(claims[1]["status"], "rejected");
    assert_eq!(claims[1]["stc_codes"], json!(["A7:562:85", "A3:21:77"]));
    assert_eq!(
        b["unmatched"],
        json!([{"kind": "claim", "reference": "C9999999",
                "message": "no claim of this organization has patient control number C9999999"}])
    );
    assert_eq!(b["batches"][0]["batch_id"], bid.to_string());
    assert_eq!(b["batches"][0]["previous_status"], "accepted");
    assert_eq!(b["batches"][0]["status"], "partially_accepted");
    assert_eq!(
        batch_status(&app, org, bid).await,
        BatchStatus::PartiallyAccepted
    );

    let c1 = claim(&app, org, &ids[0]).await;
    assert_eq!(c1["status"], "accepted");
    assert_eq!(c1["payer_claim_number"], "PAYERICN0001");
    let c2 = claim(&app, org, &ids[1]).await;
    assert_eq!(c2["status"], "rejected");
    assert_eq!(c2["payer_claim_number"], "PAYERICN0002");
    let events = claim_events(&app, org, &ids[1]).await;
    let last = events.last().unwrap();
    assert_eq!(last["to"], "rejected", "{last}");
    let reason = last["reason"].as_str().unwrap();
    assert!(
        reason.contains("A7:562:85") && reason.contains("A3:21:77"),
        "{reason}"
    );

    // Same file: duplicate. Same content in another file: nothing moves, each claim says why.
    let again = post_x12(&app, org, Role::Biller, CA_277_CRLF).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["duplicate"], true);
    let other = post_x12(&app, org, Role::Biller, CA_277).await;
    assert_eq!(other.status, 201, "{}", other.text);
    assert_eq!(other.body["claims"], json!([]));
    assert_eq!(other.body["batches"], json!([]));
    let skipped = other.body["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2);
    assert_eq!(skipped[0]["reference"], "C0000001");
    assert_eq!(skipped[0]["reason"], "the claim is already accepted");
    assert_eq!(skipped[1]["reason"], "the claim is already rejected");
    assert_eq!(claim_events(&app, org, &ids[1]).await.len(), events.len());
}

#[tokio::test]
async fn claims_and_batches_not_yet_submitted_are_skipped_not_forced() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_ready_claims(&app).await;
    let org = &fx.org;
    // Approved but not marked submitted: claims are still `batched`.
    let (bid, _) = batch(&app, &fx, &ids, false).await;
    let res = post_x12(&app, org, Role::Biller, ACCEPTED_999).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["batches"], json!([]));
    assert_eq!(res.body["skipped"][0]["kind"], "batch");
    assert_eq!(res.body["skipped"][0]["status"], "approved");
    assert_eq!(batch_status(&app, org, bid).await, BatchStatus::Approved);

    let res = post_x12(&app, org, Role::Biller, CA_277).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["claims"], json!([]));
    let skipped = res.body["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2);
    assert_eq!(skipped[0]["id"], ids[0].as_str());
    assert_eq!(skipped[0]["status"], "batched");
    assert_eq!(
        skipped[0]["reason"],
        "a batched claim cannot move to accepted"
    );
    assert_eq!(
        skipped[1]["reason"],
        "a batched claim cannot move to rejected"
    );
    assert_eq!(claim(&app, org, &ids[0]).await["status"], "batched");
    assert_eq!(
        claim(&app, org, &ids[0]).await["payer_claim_number"],
        Value::Null
    );
}

#[tokio::test]
async fn bad_files_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_ready_claims(&app).await;
    let org = &fx.org;
    batch(&app, &fx, &ids, true).await;

    let cases: Vec<(String, &str)> = vec![
        ("{\"not\": \"x12\"}".into(), "ISA"),
        (REJECTED_999[..80].into(), "106"),
        (
            REJECTED_999[..REJECTED_999.find("GE*").unwrap()].into(),
            "no GE",
        ),
        (
            REJECTED_999.replace("IEA*1*000000102", "IEA*1*000000103"),
            "IEA02",
        ),
        (REJECTED_999.replace("SE*11*", "SE*12*"), "SE01"),
        (P837.into(), "837"),
    ];
    for (body, words) in cases {
        let res = post_x12(&app, org, Role::Biller, &body).await;
        res.assert_problem(400);
        let detail = res.body["detail"].as_str().unwrap();
        assert!(detail.contains(words), "{detail} should say {words}");
    }
    app.post_raw(
        "/api/v1/acknowledgements",
        Some(org.token(Role::Biller)),
        "application/json",
        ACCEPTED_999.as_bytes().to_vec(),
    )
    .await
    .assert_problem(415);
    for ct in ["text/plain; charset=utf-8", "application/octet-stream"] {
        let res = app
            .post_raw(
                "/api/v1/acknowledgements",
                Some(org.token(Role::Biller)),
                ct,
                b"ISA".to_vec(),
            )
            .await;
        res.assert_problem(400);
    }
    let mut big = ACCEPTED_999.as_bytes().to_vec();
    big.resize(20 * 1024 * 1024 + 1, b'\n');
    app.post_raw(
        "/api/v1/acknowledgements",
        Some(org.token(Role::Biller)),
        "application/edi-x12",
        big,
    )
    .await
    .assert_problem(413);
    for role in [Role::Clinician, Role::Lab, Role::Auditor, Role::Admin] {
        post_x12(&app, org, role, ACCEPTED_999)
            .await
            .assert_problem(403);
    }
    app.get("/api/v1/acknowledgements", org.token(Role::Lab))
        .await
        .assert_problem(403);
    let list = app
        .get("/api/v1/acknowledgements", org.token(Role::Biller))
        .await;
    assert_eq!(list.body["items"], json!([]));
    assert_eq!(claim(&app, org, &ids[0]).await["status"], "submitted");
}

#[tokio::test]
async fn the_same_file_imported_concurrently_applies_once() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_ready_claims(&app).await;
    let org = &fx.org;
    batch(&app, &fx, &ids, true).await;
    let before = claim_events(&app, org, &ids[0]).await.len();
    let posts = (0..4).map(|_| post_x12(&app, org, Role::Biller, CA_277));
    let results = futures_util::future::join_all(posts).await;
    let mut statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 200, 200, 201], "{results:?}");
    let ids_seen: std::collections::HashSet<_> =
        results.iter().map(|r| r.body["id"].clone()).collect();
    assert_eq!(ids_seen.len(), 1);
    assert_eq!(claim_events(&app, org, &ids[0]).await.len(), before + 1);
    let list = app
        .get("/api/v1/acknowledgements", org.token(Role::Biller))
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

/// An interchange around one transaction set, with the right SE/GE/IEA counts.
fn interchange(isa13: u32, fid: &str, version: &str, st_id: &str, body: &[String]) -> String {
    let mut segs = vec![
        format!(
            "ISA*00*          *00*          *ZZ*{:<15}*ZZ*{:<15}*261130*0800*^*00501*{isa13:09}*0*P*:",
            "PAYERCH", "SUBMITTERID"
        ),
        format!("GS*{fid}*PAYERCH*SUBMITTERID*20261130*0800*{isa13}*X*{version}"),
        format!("ST*{st_id}*0001*{version}"),
    ];
    segs.extend(body.iter().cloned());
    segs.push(format!("SE*{}*0001", body.len() + 2));
    segs.push(format!("GE*1*{isa13}"));
    segs.push(format!("IEA*1*{isa13:09}"));
    segs.iter().map(|s| format!("{s}~\n")).collect()
}

#[tokio::test]
async fn acknowledgements_answer_the_837_the_batch_api_generated() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_ready_claims(&app).await;
    let org = &fx.org;
    crate::batches::billing_settings(&app, org).await;
    // Another batch first, so this one's control number is not 1.
    let (_, first) = batch(&app, &fx, &[], false).await;
    let res = app
        .post(
            "/api/v1/batches",
            org.token(Role::Biller),
            &json!({"kind": "professional", "payer_id": fx.payer}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let bid = res.body["id"].as_str().unwrap().to_owned();
    let ok = |r: Res| assert_eq!(r.status, 200, "{}", r.text);
    ok(crate::batches::batch_action(&app, org, Role::Manager, &bid, "approve").await);
    ok(crate::batches::batch_action(&app, org, Role::Manager, &bid, "mark-submitted").await);
    let x12 = app
        .get(
            &format!("/api/v1/batches/{bid}/x12"),
            org.token(Role::Biller),
        )
        .await;
    assert_eq!(x12.status, 200);
    // What the payer answers: read the 837 back with the reader.
    let ic = officina::billing::x12::reader::tokenizer::parse(&x12.text).unwrap();
    let group = &ic.groups[0];
    let gs06 = group.control_number.clone();
    assert_eq!(gs06, (first + 1).to_string());
    let st02 = group.transactions[0].control_number.clone();
    let pcns: Vec<String> = group.transactions[0]
        .segments
        .iter()
        .filter(|s| s.id == "CLM")
        .map(|s| s.el(1).to_owned())
        .collect();
    assert_eq!(pcns, ["C0000001", "C0000002"]);

    let ack999 = interchange(
        301,
        "FA",
        "005010X231A1",
        "999",
        &[
            format!("AK1*HC*{gs06}*005010X222A1"),
            format!("AK2*837*{st02}*005010X222A1"),
            "IK3*REF*12*2010AA*8".into(),
            "IK4*2*127*6*12-3456789".into(),
            "IK5*E".into(),
            "AK9*E*1*1*1".into(),
        ],
    );
    let res = post_x12(&app, org, Role::Biller, &ack999).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["batches"][0]["batch_id"], bid.as_str());
    assert_eq!(
        res.body["batches"][0]["status"], "accepted",
        "E is accepted with errors"
    );
    let err = &res.body["batches"][0]["errors"][0]["errors"][0];
    assert_eq!(err["segment_id"], "REF");
    assert_eq!(err["elements"][0]["bad_value"], "12-3456789");
    assert_eq!(
        err["elements"][0]["message"],
        "Invalid character in data element"
    );

    let ack277 = interchange(
        302,
        "HN",
        "005010X214",
        "277",
        &[
            "BHT*0085*08*X1*20261130*0800*TH".into(),
            "HL*1**20*1".into(),
            "NM1*PR*2*ACME*****PI*ACME1".into(),
            "HL*2*1*21*1".into(),
            "NM1*41*2*CLINIC*****46*SUBMITTERID".into(),
            "HL*3*2*19*1".into(),
            "NM1*85*2*CLINIC*****XX*1234567893".into(),
            "HL*4*3*PT".into(),
            format!("TRN*2*{}", pcns[0]),
            "STC*A2:20:PR*20261130*WQ*140".into(),
            "REF*1K*ICN-A".into(),
            "HL*5*3*PT".into(),
            format!("TRN*2*{}", pcns[1]),
            "STC*A3:21:85*20261130*U*200".into(),
        ],
    );
    let res = post_x12(&app, org, Role::Biller, &ack277).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let claims: Vec<(&str, &str)> = res.body["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["patient_control_number"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(claims, [("C0000001", "accepted"), ("C0000002", "rejected")]);
    assert_eq!(
        claim(&app, org, &ids[0]).await["payer_claim_number"],
        "ICN-A"
    );

    let b = app
        .get(&format!("/api/v1/batches/{bid}"), org.token(Role::Biller))
        .await;
    assert_eq!(b.status, 200, "{}", b.text);
    assert_eq!(b.body["status"], "partially_accepted");
    let history: Vec<&str> = b.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        history,
        [
            "pending_approval",
            "approved",
            "submitted",
            "accepted",
            "partially_accepted"
        ]
    );
    let by_batch = app
        .get(
            &format!("/api/v1/acknowledgements?batch_id={bid}"),
            org.token(Role::Biller),
        )
        .await;
    assert_eq!(by_batch.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(by_batch.body["items"][0]["kind"], "999");
}
