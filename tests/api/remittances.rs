//! Remittances: an 835 for claims the test created posts payments, adjustments and patient
//! responsibility to the ledger, moves the claims (paid, partially paid), stores the payer claim
//! number, reports unmatched claims and imbalances; the same remittance twice posts nothing; a
//! reversal is a counter-entry; bad files are 400; roles and organizations are kept apart.

use officina::auth::Role;
use officina::billing::batches::{self, BatchStatus, Stamp};
use officina::claims::domain::ClaimStatus;
use officina::db::{self, ClaimId, PayerId};
use officina::directory::domain::ClaimKind;
use serde_json::{Value, json};

use crate::claims::{Fx, action, claim_body, create, fixture, line, load_codes};
use crate::helpers::{Org, Res, TestApp};

/// Sets the organization's NPI and EIN as stored (the payee an 835 must name), bypassing the
/// API's validation so a fixture's non-numeric tax id can be used.
pub async fn set_payee(app: &TestApp, org: &Org, npi: Option<&str>, ein: Option<&str>) {
    use diesel::prelude::*;
    use officina::db::schema::organizations::dsl as o;
    let db = app.db.clone();
    let (id, npi, ein) = (
        org.id.to_string(),
        npi.map(str::to_owned),
        ein.map(str::to_owned),
    );
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        diesel::update(o::organizations.filter(o::id.eq(id)))
            .set((o::npi.eq(npi), o::tax_id.eq(ein)))
            .execute(&mut **conn)
            .unwrap();
    })
    .await
    .unwrap();
}

pub async fn post_835(app: &TestApp, org: &Org, role: Role, body: &str) -> Res {
    app.post_raw(
        "/api/v1/remittances",
        Some(org.token(role)),
        "application/edi-x12",
        body.as_bytes().to_vec(),
    )
    .await
}

/// Two submitted claims: `C0000001` (99213 125.00 + 36415 15.00) and `C0000002` (99214 200.00).
pub async fn two_submitted_claims(app: &TestApp) -> (Fx, Vec<String>) {
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
    let db = app.db.clone();
    let ctx = officina::audit::AuditCtx::cli(fx.org.id);
    let manager = fx.org.user(Role::Manager);
    let payer: PayerId = fx.payer.parse().unwrap();
    let claim_ids: Vec<ClaimId> = ids.iter().map(|c| c.parse().unwrap()).collect();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        db::write_tx(&mut conn, |c| {
            let list = claim_ids
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
            let stamp = Stamp {
                approved: None,
                submitted: Some((manager, db::now())),
            };
            batches::transition(c, &ctx, b.id, BatchStatus::Submitted, None, None, stamp)?;
            for id in &claim_ids {
                officina::claims::repo::transition(
                    c,
                    &ctx,
                    *id,
                    ClaimStatus::Submitted,
                    Some("test"),
                    None,
                )?;
            }
            Ok::<_, officina::error::AppError>(())
        })
        .unwrap()
    })
    .await
    .unwrap();
    (fx, ids)
}

/// An 835 interchange around `body` (BPR onwards), with the right SE/GE/IEA counts.
pub fn remit(body: &[&str]) -> String {
    let mut segs = vec![
        "ISA*00*          *00*          *ZZ*PAYERCH        *ZZ*SUBMITTERID    *261201*0800*^*00501*000000201*0*P*:".to_owned(),
        "GS*HP*PAYERCH*SUBMITTERID*20261201*0800*201*X*005010X221A1".to_owned(),
        "ST*835*0001".to_owned(),
    ];
    segs.extend(body.iter().map(|s| (*s).to_owned()));
    segs.push(format!("SE*{}*0001", body.len() + 2));
    segs.push("GE*1*201".to_owned());
    segs.push("IEA*1*000000201".to_owned());
    segs.iter().map(|s| format!("{s}~\n")).collect()
}

pub const PAYMENT: &[&str] = &[
    "BPR*I*270.00*C*ACH*CCP*01*999999999*DA*123456*1234567890**01*999999999*DA*654321*20261201",
    "TRN*1*EFT0001*1999999999",
    "DTM*405*20261201",
    "N1*PR*ACME HEALTH",
    "N1*PE*CLINIC*XX*1234567893",
    "LX*1",
    "CLP*C0000001*1*140.00*100.00*10.00*12*PAYER-CN-1",
    "NM1*QC*1*LOPEZ*MARIA****MI*XJH123456789",
    "SVC*HC:99213:25*125.00*90.00**1",
    "DTM*472*20260915",
    "CAS*CO*45*25.00",
    "CAS*PR*1*10.00",
    "REF*6R*C0000001L01",
    "SVC*HC>36415*15.00*10.00**1",
    "DTM*472*20260915",
    "CAS*CO*45*5",
    "REF*6R*C0000001L02",
    "CLP*C0000002*1*150.00*120.00**12*PAYER-CN-2",
    "CAS*CO*45*30.00",
    "CLP*C9999999*1*50.00*50.00**12*PAYER-CN-9",
];

pub async fn claim(app: &TestApp, org: &Org, id: &str) -> Value {
    let res = app
        .get(&format!("/api/v1/claims/{id}"), org.token(Role::Biller))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.body
}

pub async fn ledger(app: &TestApp, org: &Org, id: &str) -> Value {
    let res = app
        .get(
            &format!("/api/v1/claims/{id}/ledger"),
            org.token(Role::Auditor),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.body
}

#[tokio::test]
async fn a_remittance_posts_once_and_a_reversal_counters_it() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    let file = remit(PAYMENT);

    let res = post_835(&app, org, Role::Biller, &file).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let v = &res.body;
    assert_eq!(v["trace_number"], "EFT0001");
    assert_eq!(v["total_paid_cents"], 27000);
    assert_eq!(v["claims_matched"], 2, "{}", res.text);
    assert_eq!(v["duplicate"], false);
    assert_eq!(v["imbalances"], json!([]));
    assert_eq!(
        v["claims_unmatched"][0]["patient_control_number"],
        "C9999999"
    );
    assert_eq!(v["claims_unmatched"].as_array().unwrap().len(), 1);
    assert_eq!(v["adjustments_by_reason"]["CO:45"], 6000);
    let id = v["id"].as_str().unwrap().to_owned();

    let c1 = claim(&app, org, &ids[0]).await;
    assert_eq!(c1["status"], "paid");
    assert_eq!(c1["payer_claim_number"], "PAYER-CN-1");
    let c2 = claim(&app, org, &ids[1]).await;
    assert_eq!(c2["status"], "partially_paid");
    assert_eq!(c2["payer_claim_number"], "PAYER-CN-2");

    let l1 = ledger(&app, org, &ids[0]).await;
    assert_eq!(l1["charge_cents"], 14000);
    assert_eq!(l1["paid_cents"], 10000);
    assert_eq!(l1["patient_responsibility_cents"], 1000);
    assert_eq!(l1["adjustment_cents"], 3000);
    assert_eq!(l1["balance_cents"], 0);
    let items = l1["items"].as_array().unwrap();
    // Instants are RFC 3339 with their offset, as documented (`date-time`).
    for t in [&v["received_at"], &items[0]["created_at"]] {
        chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap()).expect("an RFC 3339 instant");
    }
    assert_eq!(items.len(), 5);
    let sum: i64 = items
        .iter()
        .map(|e| e["amount_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, 0);
    assert!(items.iter().any(|e| e["kind"] == "patient_responsibility"
        && e["group_code"] == "PR"
        && e["line_control_number"] == "C0000001L01"));
    assert!(items.iter().any(|e| e["kind"] == "adjustment"
        && e["amount_cents"] == -500
        && e["line_control_number"] == "C0000001L02"));
    let l2 = ledger(&app, org, &ids[1]).await;
    assert_eq!(l2["balance_cents"], 5000);
    // The claim itself and the patient's claims show the posted money (DESIGN §11).
    let c1 = claim(&app, org, &ids[0]).await;
    assert_eq!(
        (
            c1["paid_cents"].as_i64(),
            c1["patient_responsibility_cents"].as_i64(),
            c1["adjustment_cents"].as_i64(),
            c1["balance_cents"].as_i64()
        ),
        (Some(10000), Some(1000), Some(3000), Some(0))
    );
    assert_eq!(claim(&app, org, &ids[1]).await["balance_cents"], 5000);
    let patient = c1["patient_id"].as_str().unwrap();
    let mine = app
        .get(
            &format!("/api/v1/patients/{patient}/claims"),
            org.token(Role::Biller),
        )
        .await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    let posted: i64 = mine.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["paid_cents"].as_i64().unwrap())
        .sum();
    assert!(posted >= 10000, "{}", mine.text);

    // The same remittance again: nothing new.
    let again = post_835(&app, org, Role::Manager, &file).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["duplicate"], true);
    assert_eq!(again.body["id"], id.as_str());
    assert_eq!(
        ledger(&app, org, &ids[0]).await["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let list = app
        .get("/api/v1/remittances", org.token(Role::Auditor))
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let one = app
        .get(&format!("/api/v1/remittances/{id}"), org.token(Role::Admin))
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["claims_matched"], 2);
    assert_eq!(one.body["duplicate"], false);

    // A reversal of claim 2 (new trace number): counter-entries bring the balance back.
    let reversal = remit(&[
        "BPR*I*0*C*NON************20261205",
        "TRN*1*EFT0002*1999999999",
        "N1*PR*ACME HEALTH",
        "LX*1",
        "CLP*C0000002*22*-150.00*-120.00**12*PAYER-CN-2",
        "CAS*CO*45*-30.00",
        "CLP*C0000002*1*120.00*100.00**12*PAYER-CN-2",
        "CAS*CO*45*20.00",
        "PLB*1234567893*20261231*WO:ABC*20.00",
    ]);
    let res = post_835(&app, org, Role::Biller, &reversal).await;
    assert_eq!(res.status, 201, "{}", res.text);
    // BPR02 0 but −120.00 + 100.00 − 20.00 (PLB): the file imbalance is reported, the claims posted.
    let imb = res.body["imbalances"].as_array().unwrap();
    assert_eq!(imb.len(), 1, "{}", res.text);
    assert_eq!(imb[0]["rule"], "file");
    assert_eq!(imb[0]["actual_cents"], -4000);
    assert_eq!(res.body["plb"][0]["reason"], "WO");
    assert_eq!(res.body["plb"][0]["amount_cents"], 2000);
    // A partially paid claim cannot move back to accepted: the reversal is posted, status kept.
    assert_eq!(res.body["skipped"][0]["posted"], true, "{}", res.text);
    let l2 = ledger(&app, org, &ids[1]).await;
    assert!(
        l2["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "reversal" && e["amount_cents"] == 12000)
    );
    assert_eq!(l2["paid_cents"], 10000);
    assert_eq!(l2["adjustment_cents"], 2000);
    assert_eq!(l2["balance_cents"], 8000);
    assert_eq!(claim(&app, org, &ids[1]).await["status"], "partially_paid");

    // A claim whose CAS do not balance is reported and not posted.
    let bad = remit(&[
        "BPR*I*80.00*C*CHK************20261206",
        "TRN*1*CHK0003*1999999999",
        "LX*1",
        "CLP*C0000002*1*200.00*80.00**12*PAYER-CN-2",
        "CAS*CO*45*100.00",
    ]);
    let before = ledger(&app, org, &ids[1]).await["items"]
        .as_array()
        .unwrap()
        .len();
    let res = post_835(&app, org, Role::Biller, &bad).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["claims_matched"], 0);
    assert_eq!(res.body["imbalances"][0]["rule"], "claim");
    assert_eq!(res.body["imbalances"][0]["posted"], false);
    assert_eq!(res.body["imbalances"][0]["expected_cents"], 12000);
    let after = ledger(&app, org, &ids[1]).await["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);
}

#[tokio::test]
async fn a_denial_and_a_claim_not_yet_submitted() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    let file = remit(&[
        "BPR*H*0*C*NON************20261201",
        "TRN*1*DENY01*1999999999",
        "LX*1",
        "CLP*C0000002*4*200.00*0**12*PAYER-CN-2",
        "CAS*CO*50*200.00",
    ]);
    let res = post_835(&app, org, Role::Biller, &file).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["claims"][0]["status"], "denied");
    assert_eq!(claim(&app, org, &ids[1]).await["status"], "denied");
    let l = ledger(&app, org, &ids[1]).await;
    assert_eq!(l["balance_cents"], 0);
    assert_eq!(l["adjustment_cents"], 20000);
}

/// One file that pays a claim in part, reverses that and pays it in full: the posting (set-based,
/// in memory until the end) sees its own earlier entries and status, so the claim moves twice,
/// each move with its event and audit row, and the balance is the sum of all six entries.
#[tokio::test]
async fn one_file_that_moves_a_claim_twice_posts_each_step_in_order() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    let file = remit(&[
        "BPR*I*110.00*C*ACH************20261201",
        "TRN*1*TWICE01*1999999999",
        "LX*1",
        "CLP*C0000001*1*100.00*50.00**12*PAYER-CN-1",
        "CAS*CO*45*50.00",
        "CLP*C0000001*22*-100.00*-50.00**12*PAYER-CN-1",
        "CAS*CO*45*-50.00",
        "CLP*C0000001*1*140.00*110.00**12*PAYER-CN-1",
        "CAS*CO*45*30.00",
    ]);
    let res = post_835(&app, org, Role::Biller, &file).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let posted = res.body["claims"].as_array().unwrap();
    let steps: Vec<(&str, &str, i64)> = posted
        .iter()
        .map(|c| {
            (
                c["previous_status"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
                c["balance_cents"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("submitted", "partially_paid", 4000),
            // A partially paid claim cannot go back to accepted: the reversal posts, status kept.
            ("partially_paid", "partially_paid", 14000),
            ("partially_paid", "paid", 0),
        ],
        "{}",
        res.text
    );
    let l = ledger(&app, org, &ids[0]).await;
    assert_eq!(l["items"].as_array().unwrap().len(), 7, "{l}");
    assert_eq!(l["balance_cents"], 0);
    assert_eq!(l["charge_cents"], 14000);
    let c = claim(&app, org, &ids[0]).await;
    assert_eq!(c["status"], "paid");
    assert_eq!(c["payer_claim_number"], "PAYER-CN-1");

    let events = app
        .get(
            &format!("/api/v1/claims/{}/events", ids[0]),
            org.token(Role::Biller),
        )
        .await;
    assert_eq!(events.status, 200, "{}", events.text);
    let moves: Vec<(String, String)> = events.body["items"]
        .as_array()
        .unwrap_or_else(|| events.body.as_array().unwrap())
        .iter()
        .filter(|e| e["reason"].as_str().is_some_and(|r| r.contains("TWICE01")))
        .map(|e| {
            (
                e["from"].as_str().unwrap_or("").to_owned(),
                e["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            ("submitted".to_owned(), "partially_paid".to_owned()),
            ("partially_paid".to_owned(), "paid".to_owned())
        ],
        "{}",
        events.text
    );
    let audit = app
        .get(
            &format!(
                "/api/v1/audit-events?action=claim.transition&entity_id={}",
                ids[0]
            ),
            org.token(Role::Admin),
        )
        .await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    // Newest first: the file's two moves, one request, then the moves before the file.
    let rows = audit.body["items"].as_array().unwrap();
    let mine: Vec<(&str, &str)> = rows
        .iter()
        .filter(|a| a["request_id"] == rows[0]["request_id"])
        .map(|a| {
            (
                a["detail"]["from"].as_str().unwrap(),
                a["detail"]["to"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        mine,
        [("partially_paid", "paid"), ("submitted", "partially_paid")],
        "{}",
        audit.text
    );
}

#[tokio::test]
async fn bad_files_roles_and_other_organizations() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    let res = post_835(&app, org, Role::Biller, "not an x12 file at all").await;
    assert_eq!(res.status, 400, "{}", res.text);
    let p837 = include_str!("../fixtures/x12/837/professional-two-lines.837");
    let res = post_835(&app, org, Role::Biller, p837).await;
    assert_eq!(res.status, 400, "{}", res.text);
    let bad_amount = remit(&[
        "BPR*I*1O.00*C*CHK************20261201",
        "TRN*1*X1*1999999999",
    ]);
    let res = post_835(&app, org, Role::Biller, &bad_amount).await;
    assert_eq!(res.status, 400, "{}", res.text);
    let res = app
        .post_raw(
            "/api/v1/remittances",
            Some(org.token(Role::Biller)),
            "application/json",
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(res.status, 415, "{}", res.text);
    for role in [Role::Lab, Role::Clinician, Role::Auditor, Role::Admin] {
        let res = post_835(&app, org, role, &remit(PAYMENT)).await;
        assert_eq!(res.status, 403, "{role:?}: {}", res.text);
    }
    let list = app
        .get("/api/v1/remittances", org.token(Role::Biller))
        .await;
    assert_eq!(list.body["items"], json!([]));
    assert_eq!(claim(&app, org, &ids[0]).await["status"], "submitted");

    // Another organization: none of these claims match there, and it cannot read ours.
    let other = app.seed_org("Other").await;
    set_payee(&app, &other, Some("1234567893"), None).await;
    let res = post_835(&app, &other, Role::Biller, &remit(PAYMENT)).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["claims_matched"], 0);
    assert_eq!(res.body["claims_unmatched"].as_array().unwrap().len(), 3);
    let theirs = res.body["id"].as_str().unwrap().to_owned();
    assert_eq!(claim(&app, org, &ids[0]).await["status"], "submitted");
    let res = post_835(&app, org, Role::Biller, &remit(PAYMENT)).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["claims_matched"], 2);
    let res = app
        .get(
            &format!("/api/v1/remittances/{theirs}"),
            org.token(Role::Biller),
        )
        .await;
    assert_eq!(res.status, 404, "{}", res.text);
    let res = app
        .get(
            &format!("/api/v1/claims/{}/ledger", ids[0]),
            other.token(Role::Biller),
        )
        .await;
    assert_eq!(res.status, 404, "{}", res.text);
    let res = app
        .get(
            &format!("/api/v1/claims/{}/ledger", ids[0]),
            org.token(Role::Lab),
        )
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
}

#[tokio::test]
async fn every_fixture_imports_with_the_amounts_it_states() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Fixtures").await;
    // Each fixture's payee (N1*PE) is set as the organization's NPI or EIN before its import.
    for (name, paid, npi, ein) in [
        ("managed-care", 94500, Some("5544667733"), None),
        ("cob-contractual-adjustment", 3400, None, Some("3UR334563")),
        ("secondary-payment", 122_200, None, Some("59-9944521")),
        ("tertiary-payment", 18750, None, Some("599944521")),
        ("medicare-part-a", 15_000_000, Some("6543210903"), None),
    ] {
        set_payee(&app, &org, npi, ein).await;
        let path = format!(
            "{}/tests/fixtures/x12/835/{name}.835",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).unwrap();
        let res = post_835(&app, &org, Role::Biller, &text).await;
        assert_eq!(res.status, 201, "{name}: {}", res.text);
        assert_eq!(res.body["total_paid_cents"], paid, "{name}");
        assert_eq!(res.body["imbalances"], json!([]), "{name}");
        assert_eq!(res.body["claims_matched"], 0, "{name}");
    }
}

#[tokio::test]
async fn the_same_remittance_imported_concurrently_posts_once() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    let file = remit(PAYMENT);
    let posts = (0..4).map(|_| post_835(&app, org, Role::Biller, &file));
    let results = futures_util::future::join_all(posts).await;
    let mut statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 200, 200, 201], "{results:?}");
    let ids_seen: std::collections::HashSet<_> =
        results.iter().map(|r| r.body["id"].clone()).collect();
    assert_eq!(ids_seen.len(), 1);
    let l1 = ledger(&app, org, &ids[0]).await;
    assert_eq!(l1["items"].as_array().unwrap().len(), 5);
    assert_eq!(l1["balance_cents"], 0);
    let list = app
        .get("/api/v1/remittances", org.token(Role::Biller))
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_manager_writes_off_a_settled_balance_and_the_claim_closes() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    // Not settled yet: nothing to write off.
    let path = format!("/api/v1/claims/{}/write-off", ids[1]);
    app.post(
        &path,
        org.token(Role::Manager),
        &json!({"reason": "small balance"}),
    )
    .await
    .assert_problem(409);
    assert_eq!(
        post_835(&app, org, Role::Biller, &remit(PAYMENT))
            .await
            .status,
        201
    );
    assert_eq!(claim(&app, org, &ids[1]).await["status"], "partially_paid");
    app.post(
        &path,
        org.token(Role::Biller),
        &json!({"reason": "small balance"}),
    )
    .await
    .assert_problem(403);
    let bad = app
        .post(
            &path,
            org.token(Role::Manager),
            &json!({"amount_cents": 6000}),
        )
        .await;
    bad.assert_problem(422);
    assert_eq!(bad.error_fields(), ["reason"]);
    app.post(
        &path,
        org.token(Role::Manager),
        &json!({"reason": "x", "amount_cents": 6000}),
    )
    .await
    .assert_problem(422);
    let part = app
        .post(
            &path,
            org.token(Role::Manager),
            &json!({"reason": "courtesy", "amount_cents": 2000}),
        )
        .await;
    assert_eq!(part.status, 200, "{}", part.text);
    assert_eq!(part.body["balance_cents"], 3000);
    assert_eq!(claim(&app, org, &ids[1]).await["status"], "partially_paid");
    let rest = app
        .post(
            &path,
            org.token(Role::Manager),
            &json!({"reason": "small balance"}),
        )
        .await;
    assert_eq!(rest.status, 200, "{}", rest.text);
    assert_eq!(rest.body["balance_cents"], 0);
    let entries = rest.body["items"].as_array().unwrap();
    let written: i64 = entries
        .iter()
        .filter(|e| e["kind"] == "write_off")
        .map(|e| e["amount_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(written, -5000);
    let closed = claim(&app, org, &ids[1]).await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["balance_cents"], 0);
    app.post(&path, org.token(Role::Manager), &json!({"reason": "again"}))
        .await
        .assert_problem(409);
}

/// Gathered claim changes are written only where the claim's version is still the one read: a
/// claim changed in between fails the whole write with a 409 instead of overwriting the change.
#[tokio::test]
async fn gathered_claim_changes_never_overwrite_a_change_made_meanwhile() {
    use officina::claims::repo::{self as claims, ClaimChanges};
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let db = app.db.clone();
    let ctx = officina::audit::AuditCtx::cli(fx.org.id);
    let id: ClaimId = ids[0].parse().unwrap();
    let (stale, fresh) = tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        let read = claims::require_claim(&mut conn, ctx.org, id).unwrap();
        // Read, changed by someone else, then written: refused, nothing written.
        let mut changes = ClaimChanges::new([read.clone()]);
        changes
            .transition(id, ClaimStatus::Accepted, Some("test"))
            .unwrap();
        claims::set_payer_claim_number(&mut conn, &ctx, id, "OTHER-1").unwrap();
        let stale = db::write_tx(&mut conn, |c| changes.flush(c, &ctx));
        let after = claims::require_claim(&mut conn, ctx.org, id).unwrap();
        assert_eq!(after.status, ClaimStatus::Submitted);
        assert_eq!(after.payer_claim_number.as_deref(), Some("OTHER-1"));
        // Read again: written, the version moved by one.
        let mut changes = ClaimChanges::new([after.clone()]);
        changes
            .transition(id, ClaimStatus::Accepted, Some("test"))
            .unwrap();
        let fresh = db::write_tx(&mut conn, |c| changes.flush(c, &ctx));
        let last = claims::require_claim(&mut conn, ctx.org, id).unwrap();
        assert_eq!(last.status, ClaimStatus::Accepted);
        assert_eq!(last.version, after.version + 1);
        (stale, fresh)
    })
    .await
    .unwrap();
    assert!(
        matches!(stale, Err(officina::error::AppError::Conflict { .. })),
        "{stale:?}"
    );
    assert!(fresh.is_ok(), "{fresh:?}");
}

/// The posting reads and writes its CLPs a chunk at a time: the same file posts the same whatever
/// the chunk size, including a claim paid in one chunk and reversed and repaid in the next ones.
#[tokio::test]
async fn the_posting_does_not_depend_on_its_chunk_size() {
    use officina::billing::remittances::repo;
    use officina::billing::x12::reader::remit835;
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let file = remit(&[
        "BPR*I*230.00*C*ACH************20261201",
        "TRN*1*CHUNKS1*1999999999",
        "LX*1",
        "CLP*C0000001*1*100.00*50.00**12*PAYER-CN-1",
        "CAS*CO*45*50.00",
        "CLP*C0000002*1*200.00*120.00**12*PAYER-CN-2",
        "CAS*CO*45*80.00",
        "CLP*C0000001*22*-100.00*-50.00**12*PAYER-CN-1",
        "CAS*CO*45*-50.00",
        "CLP*C9999999*1*50.00*50.00**12*PAYER-CN-9",
        "CLP*C0000001*1*140.00*110.00**12*PAYER-CN-1",
        "CAS*CO*45*30.00",
    ]);
    let rem = remit835::read_remittances(file.as_bytes())
        .unwrap()
        .remove(0);
    let db = app.db.clone();
    let ctx = officina::audit::AuditCtx::cli(fx.org.id);
    let claims: Vec<ClaimId> = ids.iter().map(|c| c.parse().unwrap()).collect();
    let runs = tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        let mut runs = Vec::new();
        for chunk in [1, 2, 3, 1000] {
            // Each run is rolled back, so each starts from the same claims.
            let mut seen = None;
            let _ = db::write_tx(&mut conn, |c| {
                let (v, _) = repo::import_in_chunks(c, &ctx, "hash", &rem, chunk)?;
                let balances: Vec<(String, i64)> = claims
                    .iter()
                    .map(|id| {
                        let l = repo::claim_ledger(c, ctx.org, *id).unwrap();
                        let status = officina::claims::repo::require_claim(c, ctx.org, *id)
                            .unwrap()
                            .status;
                        (status.to_string(), l.balance_cents)
                    })
                    .collect();
                let summary: Vec<(usize, String, i64)> = v
                    .claims
                    .iter()
                    .map(|p| (p.lines.len(), p.status.to_string(), p.balance_cents))
                    .collect();
                let unmatched: Vec<usize> = v.claims_unmatched.iter().map(|u| u.n).collect();
                seen = Some((balances, summary, unmatched, v.skipped.len()));
                Err::<(), _>(officina::error::AppError::conflict("roll back"))
            });
            runs.push((chunk, seen.unwrap()));
        }
        runs
    })
    .await
    .unwrap();
    let (_, first) = &runs[0];
    assert_eq!(
        first.0,
        [("paid".to_owned(), 0), ("paid".to_owned(), 0)],
        "{first:?}"
    );
    assert_eq!(first.2, [4], "the unmatched CLP keeps its position");
    for (chunk, seen) in &runs {
        assert_eq!(seen, first, "chunk size {chunk}");
    }
}
