//! Billing reports: A/R aging, denials, payments and batches agree with the ledger; the CSV
//! parses and the XLSX opens (read back with calamine) with money as numbers and dates as
//! dates; roles, organizations and bad queries.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use officina::auth::Role;
use serde_json::Value;

use crate::helpers::{Org, TestApp};
use crate::remittances::{PAYMENT, ledger, post_835, remit, two_submitted_claims};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// GET with an Accept header; the status, content type and raw bytes.
async fn fetch(app: &TestApp, path: &str, token: &str, accept: &str) -> (u16, String, Vec<u8>) {
    let res = app
        .client
        .get(format!("{}{}", app.address, path))
        .bearer_auth(token)
        .header("accept", accept)
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

async fn report(app: &TestApp, org: &Org, path: &str) -> Value {
    let res = app.get(path, org.token(Role::Manager)).await;
    assert_eq!(res.status, 200, "{path}: {}", res.text);
    res.body
}

fn csv_rows(bytes: &[u8]) -> Vec<csv::StringRecord> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes);
    r.records().map(|x| x.unwrap()).collect()
}

fn sheet(bytes: &[u8], name: &str) -> calamine::Range<Data> {
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes.to_vec())).unwrap();
    wb.worksheet_range(name).unwrap()
}

fn sheet_names(bytes: &[u8]) -> Vec<String> {
    let wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes.to_vec())).unwrap();
    wb.sheet_names()
}

fn col(range: &calamine::Range<Data>, name: &str) -> usize {
    let headers: Vec<String> = range
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    headers
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {headers:?}"))
}

/// The aging bucket of a balance `days` after the date of service.
fn bucket(days: i64) -> &'static str {
    match days {
        ..=30 => "days_0_30",
        31..=60 => "days_31_60",
        61..=90 => "days_61_90",
        91..=120 => "days_91_120",
        _ => "days_over_120",
    }
}

#[tokio::test]
async fn aging_payments_and_batches_equal_the_ledger_in_json_csv_and_xlsx() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    // Before any remittance, the payer owes both charges: 140.00 + 200.00, served 2026-09-15/16.
    let aging = report(&app, org, "/api/v1/reports/ar-aging?as_of=2026-10-01").await;
    assert_eq!(aging["totals"]["claims"], 2);
    assert_eq!(aging["totals"]["insurance"]["days_0_30"], 34000);
    assert_eq!(aging["totals"]["patient"]["total"], 0);
    // C0000001: paid 100.00, CO 30.00, PR 10.00 → the payer owes 0, the patient 10.00.
    // C0000002: paid 120.00, CO 30.00 on a 200.00 claim → the payer still owes 50.00.
    let res = post_835(&app, org, Role::Biller, &remit(PAYMENT)).await;
    assert_eq!(res.status, 201, "{}", res.text);

    // As of today: the remittance is posted today, and `as_of` leaves out later entries.
    let today = chrono::Utc::now().date_naive();
    let as_of = today.to_string();
    let aging = report(
        &app,
        org,
        &format!("/api/v1/reports/ar-aging?as_of={as_of}"),
    )
    .await;
    assert_eq!(aging["as_of"], as_of.as_str());
    let (mut balance, mut patient) = (0i64, 0i64);
    for id in &ids {
        let l = ledger(&app, org, id).await;
        balance += l["balance_cents"].as_i64().unwrap();
        patient += l["patient_responsibility_cents"].as_i64().unwrap();
    }
    assert_eq!((balance, patient), (5000, 1000));
    let t = &aging["totals"];
    assert_eq!(t["claims"], 2);
    assert_eq!(t["insurance"]["total"], balance, "aging = ledger balances");
    assert_eq!(
        t["patient"]["total"], patient,
        "aging = patient responsibility"
    );
    // C0000002 (the payer's 50.00) was served 2026-09-16, C0000001 (the patient's 10.00)
    // 2026-09-15: each is in the bucket of its days since then.
    let served = |d: u32| (today - chrono::NaiveDate::from_ymd_opt(2026, 9, d).unwrap()).num_days();
    let (insurance_bucket, patient_bucket) = (bucket(served(16)), bucket(served(15)));
    assert_eq!(t["insurance"][insurance_bucket], 5000, "{t}");
    assert_eq!(t["patient"][patient_bucket], 1000, "{t}");
    assert_eq!(t["insurance"]["days_0_30"], 0);
    let payer = &aging["by_payer"][0];
    assert_eq!(payer["payer_id"], fx.payer.as_str());
    assert_eq!(payer["insurance"]["total"], 5000);
    assert_eq!(aging["by_patient"][0]["patient_id"], fx.patient.as_str());
    assert_eq!(aging["by_patient"][0]["claims"], 2);
    assert_eq!(aging["claims"].as_array().unwrap().len(), 2);
    // 150 days later everything is over 120.
    let later = report(
        &app,
        org,
        &format!(
            "/api/v1/reports/ar-aging?as_of={}",
            today + chrono::Duration::days(150)
        ),
    )
    .await;
    assert_eq!(later["totals"]["insurance"]["days_over_120"], 5000);
    // As of a day before the remittance was posted (today), the ledger entries are left out.
    let before = report(
        &app,
        org,
        &format!(
            "/api/v1/reports/ar-aging?as_of={}",
            today.pred_opt().unwrap()
        ),
    )
    .await;
    assert_eq!(before["totals"]["insurance"]["total"], 34000);

    // Payments: BPR02 270.00; 220.00 posted to claims (C9999999 is unmatched).
    let pay = report(
        &app,
        org,
        "/api/v1/reports/payments?from=2026-12-01&to=2026-12-31",
    )
    .await;
    let mut paid = 0i64;
    for id in &ids {
        paid += ledger(&app, org, id).await["paid_cents"].as_i64().unwrap();
    }
    assert_eq!(
        pay["posted_payment_cents"], paid,
        "payments = ledger payments"
    );
    assert_eq!(pay["posted_payment_cents"], 22000);
    assert_eq!(pay["total_paid_cents"], 27000);
    let row = &pay["remittances"][0];
    assert_eq!(row["trace_number"], "EFT0001");
    assert_eq!(row["payment_date"], "2026-12-01");
    assert_eq!(row["payment_method"], "ACH");
    assert_eq!(row["claims_matched"], 2);
    assert_eq!(row["claims_unmatched"], 1);
    assert_eq!(pay["by_payer_and_month"][0]["month"], "2026-12");
    assert_eq!(pay["by_payer_and_month"][0]["trace_numbers"][0], "EFT0001");
    let none = report(&app, org, "/api/v1/reports/payments?to=2026-11-30").await;
    assert_eq!(none["remittances"].as_array().unwrap().len(), 0);

    // Batches: the one batch, both claims accepted and paid, 220.00 posted.
    let b = report(&app, org, "/api/v1/reports/batches").await;
    let batch = &b["batches"][0];
    assert_eq!(batch["claims"], 2);
    assert_eq!(batch["accepted"], 2);
    assert_eq!(batch["paid"], 2);
    assert_eq!(batch["rejected"], 0);
    assert_eq!(batch["pending"], 0);
    assert_eq!(batch["paid_cents"], paid);
    assert_eq!(batch["total_charge_cents"], 34000);
    assert_eq!(b["totals"]["paid_cents"], paid);

    // CSV: parses, a header row, money as decimals, one row per payer plus the total.
    let token = org.token(Role::Biller);
    let (status, ct, body) = fetch(
        &app,
        &format!("/api/v1/reports/ar-aging?as_of={as_of}"),
        token,
        "text/csv",
    )
    .await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/csv"), "{ct}");
    let rows = csv_rows(&body);
    assert_eq!(&rows[0][0], "payer");
    assert_eq!(rows.len(), 3, "header, the payer, the total");
    let total = rows.iter().position(|r| &r[0] == "Total").unwrap();
    let column = format!("insurance_{}", insurance_bucket.trim_start_matches("days_"));
    let idx = rows[0].iter().position(|h| *h == column).unwrap();
    assert_eq!(&rows[total][idx], "50.00");
    let (_, _, body) = fetch(
        &app,
        &format!("/api/v1/reports/ar-aging?as_of={as_of}&by=claim&format=csv"),
        token,
        "*/*",
    )
    .await;
    let rows = csv_rows(&body);
    assert_eq!(&rows[0][0], "patient_control_number");
    assert_eq!(rows.len(), 3);
    let (_, _, body) = fetch(&app, "/api/v1/reports/payments", token, "text/csv").await;
    let rows = csv_rows(&body);
    let trace = rows[0].iter().position(|h| h == "trace_number").unwrap();
    let posted = rows[0].iter().position(|h| h == "posted_payments").unwrap();
    assert_eq!((&rows[1][trace], &rows[1][posted]), ("EFT0001", "220.00"));

    // XLSX: three sheets, a header row, money as numbers, dates as dates.
    let (status, ct, body) = fetch(
        &app,
        &format!("/api/v1/reports/ar-aging?as_of={as_of}&format=xlsx"),
        token,
        "*/*",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ct, XLSX);
    assert_eq!(sheet_names(&body), ["By payer", "By patient", "Claims"]);
    let payers = sheet(&body, "By payer");
    let c = col(&payers, "insurance_total");
    assert_eq!(payers.get((1, c)), Some(&Data::Float(50.0)));
    let claims = sheet(&body, "Claims");
    let c = col(&claims, "service_from");
    assert!(
        matches!(claims.get((1, c)), Some(Data::DateTime(_))),
        "{:?}",
        claims.get((1, c))
    );
    let c = col(&claims, "insurance_owed");
    let owed: f64 = claims
        .rows()
        .skip(1)
        .filter_map(|r| match r[c] {
            Data::Float(f) => Some(f),
            _ => None,
        })
        .sum();
    assert_eq!(owed, 50.0);
    // Asked by media type, the payments workbook.
    let (status, ct, body) = fetch(&app, "/api/v1/reports/payments", token, XLSX).await;
    assert_eq!((status, ct.as_str()), (200, XLSX));
    let p = sheet(&body, "Payments");
    let c = col(&p, "posted_payments");
    assert_eq!(p.get((1, c)), Some(&Data::Float(220.0)));
    let c = col(&p, "payment_date");
    assert!(matches!(p.get((1, c)), Some(Data::DateTime(_))));
    let (_, _, body) = fetch(&app, "/api/v1/reports/batches?format=xlsx", token, "*/*").await;
    let b = sheet(&body, "Batches");
    assert_eq!(
        b.get((1, col(&b, "paid_amount"))),
        Some(&Data::Float(220.0))
    );
}

#[tokio::test]
async fn denials_by_reason_and_payer_with_the_imported_descriptions() {
    let app = TestApp::spawn().await;
    let (fx, _ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    let file = remit(&[
        "BPR*H*0*C*NON************20261201",
        "TRN*1*DENY01*1999999999",
        "LX*1",
        "CLP*C0000002*4*200.00*0**12*PAYER-CN-2",
        "CAS*CO*50*150.00**197*50.00",
    ]);
    let res = post_835(&app, org, Role::Biller, &file).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let d = report(&app, org, "/api/v1/reports/denials").await;
    assert_eq!(d["denied_claims"], 1);
    assert_eq!(d["denied_charge_cents"], 20000);
    let reasons = d["by_reason"].as_array().unwrap();
    assert_eq!(reasons.len(), 2);
    assert_eq!(reasons[0]["reason_code"], "197");
    assert_eq!(reasons[1]["reason_code"], "50");
    assert_eq!(reasons[1]["amount_cents"], 15000);
    assert!(
        reasons[1]["reason_description"].is_null(),
        "no table imported: codes only"
    );
    let by_payer = &d["by_payer_and_reason"][0];
    assert_eq!(by_payer["payer_id"], fx.payer.as_str());
    assert_eq!(by_payer["group_code"], "CO");
    assert_eq!(by_payer["claims"], 1);
    // Out of the period: nothing.
    let none = report(&app, org, "/api/v1/reports/denials?from=2027-01-01").await;
    assert_eq!(none["denied_claims"], 0);

    // The practice imports its CARC table (its own text here); descriptions appear.
    let res = app
        .post_raw(
            "/api/v1/code-sets/carc/import",
            Some(org.token(Role::Admin)),
            "text/csv",
            b"code,description\n50,Practice note: not medically necessary per payer\n197,Practice note: authorization missing\n".to_vec(),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let d = report(
        &app,
        org,
        "/api/v1/reports/denials?from=2026-12-01&to=2026-12-01",
    )
    .await;
    assert_eq!(
        d["by_reason"][1]["reason_description"],
        "Practice note: not medically necessary per payer"
    );
    let (_, _, body) = fetch(
        &app,
        "/api/v1/reports/denials",
        org.token(Role::Auditor),
        "text/csv",
    )
    .await;
    let rows = csv_rows(&body);
    assert_eq!(
        rows[0].iter().collect::<Vec<_>>(),
        [
            "payer",
            "group_code",
            "reason_code",
            "reason_description",
            "claims",
            "amount",
            "payer_id"
        ]
    );
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[2][5], "150.00");
    // A malformed CARC code in the table is refused with its row.
    let res = app
        .post_raw(
            "/api/v1/code-sets/carc/import",
            Some(org.token(Role::Admin)),
            "text/csv",
            b"code,description\n50-1,bad\n".to_vec(),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["rows[0].code"]);
}

#[tokio::test]
async fn roles_organizations_audit_and_bad_queries() {
    let app = TestApp::spawn().await;
    let (fx, _ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    let paths = [
        "/api/v1/reports/ar-aging",
        "/api/v1/reports/denials",
        "/api/v1/reports/payments",
        "/api/v1/reports/batches",
    ];
    for path in paths {
        for role in [Role::Manager, Role::Biller, Role::Auditor] {
            let res = app.get(path, org.token(role)).await;
            assert_eq!(res.status, 200, "{path} {role:?}: {}", res.text);
        }
        for role in [Role::Admin, Role::Lab, Role::Clinician] {
            app.get(path, org.token(role)).await.assert_problem(403);
        }
        let res = app
            .client
            .get(format!("{}{}", app.address, path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 401);
    }
    // Another organization sees none of this one's claims, batches or payments.
    let other = app.seed_org("Other practice").await;
    let aging = report(&app, &other, "/api/v1/reports/ar-aging").await;
    assert_eq!(aging["totals"]["claims"], 0);
    assert_eq!(
        report(&app, &other, "/api/v1/reports/batches").await["batches"],
        serde_json::json!([])
    );
    let mine = report(&app, org, "/api/v1/reports/ar-aging").await;
    assert_eq!(mine["totals"]["claims"], 2);

    // Reading the aging (it names patients) is audited.
    let res = app
        .get(
            "/api/v1/audit-events?action=report.ar_aging",
            org.token(Role::Auditor),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(!res.body["items"].as_array().unwrap().is_empty());

    // Every bad parameter at once.
    let res = app
        .get(
            "/api/v1/reports/ar-aging?as_of=2026-13-01&by=doctor&format=pdf",
            org.token(Role::Manager),
        )
        .await;
    res.assert_problem(422);
    let mut fields = res.error_fields();
    fields.sort();
    assert_eq!(fields, ["as_of", "by", "format"]);
    let res = app
        .get(
            "/api/v1/reports/payments?from=2026-11-30&to=2026-11-01",
            org.token(Role::Manager),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["to"]);
    let res = app
        .get(
            "/api/v1/reports/denials?from=yesterday&to=2026-02-30",
            org.token(Role::Manager),
        )
        .await;
    res.assert_problem(422);
    let mut fields = res.error_fields();
    fields.sort();
    assert_eq!(fields, ["from", "to"]);
}

#[tokio::test]
async fn a_void_notice_owes_nothing_and_the_voided_claim_leaves_the_aging() {
    let app = TestApp::spawn().await;
    let (fx, ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    // The payer has C0000002 on file (a 277CA gave its number); voiding it creates a
    // frequency-8 notice with the same lines, which is then sent.
    let (db, ctx) = (app.db.clone(), officina::audit::AuditCtx::cli(org.id));
    let id: officina::db::ClaimId = ids[1].parse().unwrap();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        officina::claims::transitions::set_payer_claim_number(&mut conn, &ctx, id, "PAYER-CN-2")
    })
    .await
    .unwrap()
    .unwrap();
    let res = crate::claims::action(&app, org, Role::Manager, &ids[1], "void", None).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let list = app
        .get("/api/v1/claims?status=ready", org.token(Role::Biller))
        .await;
    let notice = list.body["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list.body["items"][0]["frequency_code"], "8");
    assert_eq!(
        list.body["items"][0]["balance_cents"], 0,
        "a notice asks for nothing"
    );
    let (db, ctx) = (app.db.clone(), officina::audit::AuditCtx::cli(org.id));
    let nid: officina::db::ClaimId = notice.parse().unwrap();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        use officina::claims::domain::ClaimStatus;
        for to in [ClaimStatus::Batched, ClaimStatus::Submitted] {
            officina::claims::repo::transition(&mut conn, &ctx, nid, to, Some("test"), None)?;
        }
        Ok::<_, officina::error::AppError>(())
    })
    .await
    .unwrap()
    .unwrap();
    let aging = report(&app, org, "/api/v1/reports/ar-aging").await;
    let claims: Vec<&str> = aging["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["claim_id"].as_str().unwrap())
        .collect();
    assert_eq!(claims, [ids[0].as_str()], "only the first claim still owes");
    assert_eq!(aging["totals"]["insurance"]["total"], 14000);
}

#[tokio::test]
async fn payments_show_provider_adjustments_with_the_835_sign() {
    let app = TestApp::spawn().await;
    let (fx, _ids) = two_submitted_claims(&app).await;
    let org = &fx.org;
    // 120.00 paid on C0000002 plus 1.25 interest (a negative PLB increases the payment).
    let file = remit(&[
        "BPR*I*121.25*C*ACH*CCP*01*999999999*DA*123456*1234567890**01*999999999*DA*654321*20261202",
        "TRN*1*EFT0002*1999999999",
        "N1*PR*ACME HEALTH",
        "N1*PE*CLINIC*XX*1234567893",
        "LX*1",
        "CLP*C0000002*1*150.00*120.00**12*PAYER-CN-2",
        "CAS*CO*45*30.00",
        "PLB*1234567893*20261231*L6:INTEREST*-1.25",
    ]);
    let res = post_835(&app, org, Role::Biller, &file).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert!(
        res.body["imbalances"].as_array().unwrap().is_empty(),
        "{}",
        res.text
    );
    let pay = report(&app, org, "/api/v1/reports/payments").await;
    let row = &pay["remittances"][0];
    assert_eq!(row["total_paid_cents"], 12125);
    assert_eq!(row["posted_payment_cents"], 12000);
    assert_eq!(
        row["provider_adjustment_cents"], -125,
        "BPR02 = Σ CLP04 − Σ PLB"
    );
}
