//! Code sets (search, lookup, checks, imports) and fee schedules.

use std::process::Command;

use chrono::NaiveDate;
use diesel::prelude::*;
use officina::auth::domain::Role;
use officina::coding::{self, CheckFailure, CodeCheck, CodeSystem};
use officina::db::{DbConn, OrgId};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDb};

/// Loads the shipped code sets into the app's database (once per test that needs them).
pub(crate) async fn load_shipped(app: &TestApp) {
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        coding::cli::load_shipped(&mut conn, false).unwrap()
    })
    .await
    .unwrap();
}

async fn with_conn<T: Send + 'static>(
    app: &TestApp,
    f: impl FnOnce(&mut DbConn) -> T + Send + 'static,
) -> T {
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        f(&mut conn)
    })
    .await
    .unwrap()
}

pub(crate) fn codes(res: &crate::helpers::Res) -> Vec<String> {
    res.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap().to_owned())
        .collect()
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn reason(c: CodeCheck) -> Option<CheckFailure> {
    match c {
        CodeCheck::Valid { .. } => None,
        CodeCheck::Invalid { reason, .. } => Some(reason),
    }
}

#[tokio::test]
async fn shipped_code_sets_search_lookup_and_check() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let tok = org.token(Role::Clinician);

    // Before loading: an empty result, and ICD codes are checked for format only.
    let res = app
        .get("/api/v1/codes?system=icd10cm&q=diabetes", tok)
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["items"], json!([]));

    load_shipped(&app).await;

    // Words in any order, every word required.
    for q in [
        "type%202%20diabetes",
        "diabetes%20type%202",
        "DIABETES%20Type%202",
    ] {
        let res = app
            .get(&format!("/api/v1/codes?system=icd10cm&q={q}"), tok)
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        let found = codes(&res);
        assert!(found.contains(&"E119".to_owned()), "{q}: {found:?}");
        assert_eq!(found[0], "E11", "{q}: the category first");
        let e119 = found.iter().position(|c| c == "E119").unwrap();
        assert!(e119 < 10, "{q}: E11.9 is near the top: {found:?}");
        for item in res.body["items"].as_array().unwrap() {
            let desc = item["description"].as_str().unwrap().to_lowercase();
            assert!(desc.contains("diabetes") && desc.contains("type"), "{desc}");
        }
    }
    let res = app
        .get("/api/v1/codes?system=icd10cm&q=diabetes%20zzzz", tok)
        .await;
    assert_eq!(res.body["items"], json!([]));

    // Code prefix: the exact code first, then codes under it, then description matches.
    let res = app
        .get("/api/v1/codes?system=icd10cm&q=E11&limit=100", tok)
        .await;
    let found = codes(&res);
    assert_eq!(found[0], "E11");
    assert!(found[1..].iter().all(|c| c.starts_with("E11")), "{found:?}");
    assert_eq!(res.body["items"][0]["display_code"], "E11");
    assert_eq!(res.body["items"][0]["billable"], false);
    let res = app.get("/api/v1/codes?system=icd10cm&q=e11.9", tok).await;
    assert_eq!(codes(&res)[0], "E119");
    assert_eq!(res.body["items"][0]["display_code"], "E11.9");
    let res = app
        .get("/api/v1/codes?system=icd10cm&q=E11&billable=true", tok)
        .await;
    assert!(!codes(&res).contains(&"E11".to_owned()));
    assert!(
        res.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["billable"] == true)
    );

    // FY2026 QA0 codes: a letter in the second position.
    let res = app.get("/api/v1/codes?system=icd10cm&q=QA0", tok).await;
    let found = codes(&res);
    assert_eq!(found[0], "QA0");
    assert!(found.contains(&"QA00101".to_owned()), "{found:?}");
    let res = app.get("/api/v1/codes/icd10cm/QA0.0101", tok).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["code"], "QA00101");
    assert_eq!(res.body["display_code"], "QA0.0101");

    // Pagination with the ranked cursor.
    let first = app
        .get("/api/v1/codes?system=icd10cm&q=diabetes&limit=10", tok)
        .await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 10);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get(
            &format!("/api/v1/codes?system=icd10cm&q=diabetes&limit=10&cursor={cursor}"),
            tok,
        )
        .await;
    let (a, b) = (codes(&first), codes(&second));
    assert_eq!(b.len(), 10);
    assert!(a.iter().all(|c| !b.contains(c)));

    // Bad queries: every problem at once.
    let res = app
        .get("/api/v1/codes?billable=maybe&limit=0&cursor=zz", tok)
        .await;
    res.assert_problem(422);
    let mut fields = res.error_fields();
    fields.sort();
    assert_eq!(fields, ["billable", "cursor", "limit", "system"]);
    let res = app.get("/api/v1/codes?system=icd9", tok).await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["system"]);
    let res = app
        .request(
            reqwest::Method::GET,
            "/api/v1/codes?system=icd10cm",
            None,
            None,
        )
        .await;
    res.assert_problem(401);

    // Lookup by code, with or without the dot.
    for code in ["E11.9", "E119", "e119"] {
        let res = app.get(&format!("/api/v1/codes/icd10cm/{code}"), tok).await;
        assert_eq!(res.status, 200, "{code}: {}", res.text);
        assert_eq!(res.body["code"], "E119");
        assert_eq!(res.body["display_code"], "E11.9");
        assert_eq!(res.body["billable"], true);
        assert_eq!(res.body["effective_from"], "2025-10-01");
        assert_eq!(res.body["effective_to"], "2026-09-30");
    }
    app.get("/api/v1/codes/icd10cm/Z99.999", tok)
        .await
        .assert_problem(404);
    app.get("/api/v1/codes/icd10cm/E1.19", tok)
        .await
        .assert_problem(404);
    app.get("/api/v1/codes/icd9/250", tok)
        .await
        .assert_problem(404);
    let res = app.get("/api/v1/codes/pos/11", tok).await;
    assert_eq!(res.body["description"], "Office");

    // check_code: what claims will call.
    let id = org.id;
    let results = with_conn(&app, move |c| {
        let on = d("2026-03-02");
        let chk =
            |c: &mut DbConn, s, code: &str, on| coding::check_code(c, id, s, code, on).unwrap();
        (
            chk(c, CodeSystem::Icd10cm, "E11.9", on),
            reason(chk(c, CodeSystem::Icd10cm, "E11", on)),
            reason(chk(c, CodeSystem::Icd10cm, "E119", d("2026-10-01"))),
            reason(chk(c, CodeSystem::Icd10cm, "E1.19", on)),
            reason(chk(c, CodeSystem::Icd10cm, "Z99999", on)),
            chk(c, CodeSystem::Icd10cm, "QA00101", on).is_valid(),
            chk(c, CodeSystem::Pos, "11", on).is_valid(),
            reason(chk(c, CodeSystem::Pos, "98", on)),
            // No CPT table imported: format only.
            chk(c, CodeSystem::Cpt, "99213", on),
            reason(chk(c, CodeSystem::Cpt, "9921", on)),
        )
    })
    .await;
    assert_eq!(
        results.0,
        CodeCheck::Valid {
            code: "E119".into(),
            display: "E11.9".into(),
            description: Some("Type 2 diabetes mellitus without complications".into()),
        }
    );
    assert_eq!(results.1, Some(CheckFailure::NotBillable));
    assert_eq!(results.2, Some(CheckFailure::NotEffective));
    assert_eq!(results.3, Some(CheckFailure::InvalidFormat));
    assert_eq!(results.4, Some(CheckFailure::UnknownCode));
    assert!(results.5 && results.6);
    assert_eq!(results.7, Some(CheckFailure::UnknownCode));
    assert_eq!(
        results.8,
        CodeCheck::Valid {
            code: "99213".into(),
            display: "99213".into(),
            description: None,
        }
    );
    assert_eq!(results.9, Some(CheckFailure::InvalidFormat));

    // The same over HTTP.
    let res = app
        .get("/api/v1/codes/icd10cm/E11/check?date=2026-03-02", tok)
        .await;
    assert_eq!(res.body["valid"], false);
    assert_eq!(res.body["reason"], "not_billable");
    let res = app
        .get("/api/v1/codes/icd10cm/E11.9/check?date=2026-03-02", tok)
        .await;
    assert_eq!(res.body["valid"], true);
    assert_eq!(res.body["code"], "E119");
    let res = app
        .get("/api/v1/codes/icd10cm/E11.9/check?date=03/02/2026", tok)
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["date"]);

    // Loading again replaces, never duplicates.
    load_shipped(&app).await;
    let n: i64 = with_conn(&app, |c| {
        officina::coding::schema::codes::table
            .count()
            .get_result(c)
            .unwrap()
    })
    .await;
    assert_eq!(n, 98_186 + 52);
    let res = app.get("/api/v1/codes?system=icd10cm&q=E11.9", tok).await;
    assert_eq!(codes(&res)[0], "E119");
}

pub(crate) const CPT_CSV: &str = "code,description,effective_from,effective_to\n\
99213,Office visit established low,2026-01-01,\n\
99214,\"Office visit, established, moderate\",,\n\
0001F,Heart failure composite,,2025-12-31\n";

pub(crate) async fn import(
    app: &TestApp,
    token: &str,
    system: &str,
    csv: &str,
) -> crate::helpers::Res {
    app.post_raw(
        &format!("/api/v1/code-sets/{system}/import"),
        Some(token),
        "text/csv; charset=utf-8",
        csv.as_bytes().to_vec(),
    )
    .await
}

#[tokio::test]
async fn licensed_table_import_replace_roles_and_isolation() {
    let app = TestApp::spawn().await;
    let a = app.seed_org("A").await;
    let b = app.seed_org("B").await;
    let admin = a.token(Role::Admin);

    // Only admin imports.
    for role in [
        Role::Manager,
        Role::Biller,
        Role::Lab,
        Role::Clinician,
        Role::Auditor,
    ] {
        import(&app, a.token(role), "cpt", CPT_CSV)
            .await
            .assert_problem(403);
    }
    // Content type, system.
    app.post_raw(
        "/api/v1/code-sets/cpt/import",
        Some(admin),
        "application/json",
        b"{}".to_vec(),
    )
    .await
    .assert_problem(415);
    import(&app, admin, "icd11", CPT_CSV)
        .await
        .assert_problem(404);
    let res = import(&app, admin, "icd10cm", CPT_CSV).await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["system"]);
    let big = vec![b'a'; 20 * 1024 * 1024 + 1];
    app.post_raw("/api/v1/code-sets/cpt/import", Some(admin), "text/csv", big)
        .await
        .assert_problem(413);

    let res = import(&app, admin, "cpt", CPT_CSV).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["rows"], 3);
    assert_eq!(res.body["replaced_rows"], 0);

    let tok = a.token(Role::Biller);
    let res = app
        .get("/api/v1/codes?system=cpt&q=office%20visit", tok)
        .await;
    assert_eq!(codes(&res), ["99213", "99214"]);
    let res = app.get("/api/v1/codes/cpt/99214", tok).await;
    assert_eq!(
        res.body["description"],
        "Office visit, established, moderate"
    );
    // Now CPT codes are checked for existence and dates.
    let res = app
        .get("/api/v1/codes/cpt/99215/check?date=2026-03-02", tok)
        .await;
    assert_eq!(res.body["reason"], "unknown_code");
    let res = app
        .get("/api/v1/codes/cpt/99213/check?date=2025-12-01", tok)
        .await;
    assert_eq!(res.body["reason"], "not_effective");
    let res = app
        .get("/api/v1/codes/cpt/0001F/check?date=2025-12-01", tok)
        .await;
    assert_eq!(res.body["valid"], true);

    // Another organization sees none of it.
    let tb = b.token(Role::Biller);
    let res = app.get("/api/v1/codes?system=cpt&q=office", tb).await;
    assert_eq!(res.body["items"], json!([]));
    app.get("/api/v1/codes/cpt/99213", tb)
        .await
        .assert_problem(404);
    let res = app
        .get("/api/v1/codes/cpt/99215/check?date=2026-03-02", tb)
        .await;
    assert_eq!(res.body["valid"], true, "B has no table: format only");

    // A file with two bad rows is refused whole, both rows listed, nothing changes.
    let bad = "code,description\n99202,New patient visit\n9920,Too short\n99203,Fine\n99204,\n";
    let res = import(&app, admin, "cpt", bad).await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["rows[1].code", "rows[3].description"]);
    let messages: Vec<&str> = res.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(messages[0].starts_with("line 3:"), "{messages:?}");
    assert!(messages[1].starts_with("line 5:"), "{messages:?}");
    let res = app.get("/api/v1/codes?system=cpt", tok).await;
    assert_eq!(codes(&res), ["0001F", "99213", "99214"]);
    let res = import(&app, admin, "cpt", "foo,bar\n1,2\n").await;
    assert_eq!(res.error_fields(), ["header"]);

    // Re-importing replaces the table.
    let res = import(
        &app,
        admin,
        "cpt",
        "code,description\n99202,New patient visit\n",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["replaced_rows"], 3);
    let res = app.get("/api/v1/codes?system=cpt", tok).await;
    assert_eq!(codes(&res), ["99202"]);

    // LOINC check digits.
    let res = import(
        &app,
        admin,
        "loinc",
        "code,description\n2345-7,Glucose\n2345-6,Wrong\n",
    )
    .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["rows[1].code"]);

    // Audited.
    let res = app
        .get(
            "/api/v1/audit-events?action=code_set.import",
            a.token(Role::Auditor),
        )
        .await;
    let items = res.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", res.text);
    assert_eq!(items[0]["entity_id"], "cpt");
}

async fn create_payer(app: &TestApp, org: OrgId, name: &str) -> String {
    let name = name.to_owned();
    with_conn(app, move |c| {
        use officina::db::schema::payers::dsl as p;
        let id = officina::db::PayerId::new().to_string();
        let now = officina::db::now();
        diesel::insert_into(p::payers)
            .values((
                p::id.eq(&id),
                p::org_id.eq(org.to_string()),
                p::name.eq(name),
                p::edi_id.eq(format!("E{}", &id[..8])),
                p::claim_kind.eq("professional"),
                p::active.eq(true),
                p::version.eq(1),
                p::created_at.eq(now),
                p::updated_at.eq(now),
            ))
            .execute(c)
            .unwrap();
        id
    })
    .await
}

#[tokio::test]
async fn fee_schedules_items_lookup_roles_and_isolation() {
    let app = TestApp::spawn().await;
    let a = app.seed_org("A").await;
    let b = app.seed_org("B").await;
    let admin = a.token(Role::Admin);
    let payer = create_payer(&app, a.id, "Acme Health").await;
    let other_payer = create_payer(&app, b.id, "Other Health").await;

    // Writes are admin only.
    for role in [
        Role::Manager,
        Role::Biller,
        Role::Lab,
        Role::Clinician,
        Role::Auditor,
    ] {
        app.post(
            "/api/v1/fee-schedules",
            a.token(role),
            &json!({"kind": "standard", "name": "Standard"}),
        )
        .await
        .assert_problem(403);
    }

    // Every problem at once.
    let res = app
        .post(
            "/api/v1/fee-schedules",
            admin,
            &json!({"kind": "weird", "effective_from": "2026-13-01", "effective_to": "x"}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(
        res.error_fields(),
        ["kind", "name", "effective_from", "effective_to"]
    );
    let res = app
        .post(
            "/api/v1/fee-schedules",
            admin,
            &json!({"kind": "payer", "name": "No payer"}),
        )
        .await;
    assert_eq!(res.error_fields(), ["payer_id"]);
    // A payer of another organization is unknown here.
    let res = app
        .post(
            "/api/v1/fee-schedules",
            admin,
            &json!({"kind": "payer", "payer_id": other_payer, "name": "Theirs"}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["payer_id"]);

    let res = app
        .post(
            "/api/v1/fee-schedules",
            admin,
            &json!({"kind": "standard", "name": "Standard charges"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let standard = res.body["id"].as_str().unwrap().to_owned();
    app.post(
        "/api/v1/fee-schedules",
        admin,
        &json!({"kind": "standard", "name": "Second"}),
    )
    .await
    .assert_problem(409);
    let res = app
        .post(
            "/api/v1/fee-schedules",
            admin,
            &json!({"kind": "payer", "payer_id": payer, "name": "Acme 2026",
                    "effective_from": "2026-01-01", "effective_to": "2026-12-31"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["payer_id"], payer.as_str());
    let acme = res.body["id"].as_str().unwrap().to_owned();

    // Items: create, upsert, bad ones.
    let items = |id: &str| format!("/api/v1/fee-schedules/{id}/items");
    let res = app
        .post(
            &items(&standard),
            admin,
            &json!({"code": "99213", "amount_cents": 12500}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["modifier"], Value::Null);
    let res = app
        .post(
            &items(&standard),
            admin,
            &json!({"code": "99213", "modifier": "25", "amount_cents": 14000}),
        )
        .await;
    assert_eq!(res.status, 201);
    let modifier_item = res.body["id"].as_str().unwrap().to_owned();
    let res = app
        .post(
            &items(&standard),
            admin,
            &json!({"code": "99213", "amount_cents": 13000}),
        )
        .await;
    assert_eq!(res.status, 200, "an upsert of the same code + modifier");
    assert_eq!(res.body["amount_cents"], 13000);
    assert_eq!(res.body["version"], 2);
    app.post(
        &items(&standard),
        admin,
        &json!({"code": "d0120", "amount_cents": 6000}),
    )
    .await;
    app.post(
        &items(&acme),
        admin,
        &json!({"code": "99213", "amount_cents": 9800}),
    )
    .await;
    let res = app
        .post(
            &items(&standard),
            admin,
            &json!({"code": "E11.9", "modifier": "2", "amount_cents": 12.5}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["code", "modifier", "amount_cents"]);
    let res = app
        .post(
            &items(&standard),
            admin,
            &json!({"code": "99213", "amount_cents": 0}),
        )
        .await;
    assert_eq!(res.error_fields(), ["amount_cents"]);
    app.post(
        &items(&standard),
        a.token(Role::Biller),
        &json!({"code": "99213", "amount_cents": 1}),
    )
    .await
    .assert_problem(403);

    // Reads: admin, manager, biller, auditor.
    let res = app
        .get(
            &format!("{}?limit=2", items(&standard)),
            a.token(Role::Manager),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["items"].as_array().unwrap().len(), 2);
    let cursor = res.body["next_cursor"].as_str().unwrap().to_owned();
    let res = app
        .get(
            &format!("{}?limit=2&cursor={cursor}", items(&standard)),
            a.token(Role::Manager),
        )
        .await;
    assert_eq!(res.body["items"].as_array().unwrap().len(), 1);
    let res = app
        .get("/api/v1/fee-schedules", a.token(Role::Biller))
        .await;
    assert_eq!(res.body["items"].as_array().unwrap().len(), 2);
    let res = app
        .get("/api/v1/fee-schedules?kind=payer", a.token(Role::Auditor))
        .await;
    assert_eq!(res.body["items"].as_array().unwrap().len(), 1);
    app.get("/api/v1/fee-schedules", a.token(Role::Lab))
        .await
        .assert_problem(403);
    let res = app
        .get(
            &format!("/api/v1/fee-schedules/{acme}"),
            a.token(Role::Biller),
        )
        .await;
    assert_eq!(res.body["name"], "Acme 2026");

    // Change a schedule's period, with optimistic concurrency.
    let res = app
        .patch(
            &format!("/api/v1/fee-schedules/{acme}"),
            admin,
            &json!({"effective_to": "2025-01-01", "name": ""}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["name"]);
    let res = app
        .patch(
            &format!("/api/v1/fee-schedules/{acme}"),
            admin,
            &json!({"effective_to": "2025-01-01"}),
        )
        .await;
    assert_eq!(res.error_fields(), ["effective_to"]);
    let res = app
        .patch(
            &format!("/api/v1/fee-schedules/{acme}"),
            admin,
            &json!({"effective_to": null, "version": 1}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["effective_to"], Value::Null);
    assert_eq!(res.body["version"], 2);
    app.patch(
        &format!("/api/v1/fee-schedules/{acme}"),
        admin,
        &json!({"effective_to": "2026-12-31", "version": 1}),
    )
    .await
    .assert_problem(409);
    app.patch(
        &format!("/api/v1/fee-schedules/{acme}"),
        a.token(Role::Manager),
        &json!({"name": "x"}),
    )
    .await
    .assert_problem(403);
    app.patch(
        &format!("/api/v1/fee-schedules/{acme}"),
        b.token(Role::Admin),
        &json!({"name": "x"}),
    )
    .await
    .assert_problem(404);
    let res = app
        .patch(
            &format!("/api/v1/fee-schedules/{acme}"),
            admin,
            &json!({"effective_to": "2026-12-31", "version": 2}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);

    // Lookup: exact modifier, else the item without one; payer's expected amount by date.
    let lookup = |q: &str| format!("/api/v1/fee-schedules/lookup?{q}");
    let tok = a.token(Role::Biller);
    let res = app
        .get(
            &lookup(&format!(
                "code=99213&modifier=25&payer_id={payer}&date=2026-03-02"
            )),
            tok,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["charge_cents"], 14000);
    assert_eq!(res.body["expected_cents"], 9800);
    let res = app
        .get(
            &lookup(&format!(
                "code=99213&modifier=LT&payer_id={payer}&date=2026-03-02"
            )),
            tok,
        )
        .await;
    assert_eq!(res.body["charge_cents"], 13000, "falls back to no modifier");
    assert_eq!(res.body["expected_cents"], 9800);
    let res = app
        .get(
            &lookup(&format!("code=99213&payer_id={payer}&date=2027-01-05")),
            tok,
        )
        .await;
    assert_eq!(res.body["charge_cents"], 13000);
    assert_eq!(
        res.body["expected_cents"],
        Value::Null,
        "payer schedule expired"
    );
    let res = app.get(&lookup("code=99999"), tok).await;
    assert_eq!(res.body["charge_cents"], Value::Null);
    let res = app
        .get(&lookup("code=D0120"), a.token(Role::Clinician))
        .await;
    assert_eq!(res.body["charge_cents"], 6000);
    let res = app
        .get(
            &lookup(&format!(
                "code=x&modifier=toolong&payer_id={other_payer}&date=no"
            )),
            tok,
        )
        .await;
    res.assert_problem(422);
    let mut fields = res.error_fields();
    fields.sort();
    assert_eq!(fields, ["code", "date", "modifier"], "{}", res.text);
    let res = app
        .get(&lookup(&format!("code=99213&payer_id={other_payer}")), tok)
        .await;
    assert_eq!(res.error_fields(), ["payer_id"]);
    let res = app.get(&lookup("code=x&modifier=toolong"), tok).await;
    assert_eq!(res.error_fields(), ["code", "modifier"]);
    app.get(&lookup("code=99213"), a.token(Role::Lab))
        .await
        .assert_problem(403);

    // fee_lookup as claims call it.
    let (org, payer_id) = (a.id, payer.parse().unwrap());
    let found = with_conn(&app, move |c| {
        coding::fee_lookup(c, org, Some(payer_id), "99213", Some("25"), d("2026-03-02")).unwrap()
    })
    .await;
    assert_eq!(
        (found.charge_cents, found.expected_cents),
        (Some(14000), Some(9800))
    );

    // Other organization: 404 everywhere.
    let tb = b.token(Role::Admin);
    app.get(&format!("/api/v1/fee-schedules/{standard}"), tb)
        .await
        .assert_problem(404);
    app.get(&items(&standard), tb).await.assert_problem(404);
    app.post(
        &items(&standard),
        tb,
        &json!({"code": "99213", "amount_cents": 1}),
    )
    .await
    .assert_problem(404);
    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("{}/{modifier_item}", items(&standard)),
            Some(tb),
            None,
        )
        .await;
    res.assert_problem(404);
    let res = app.get("/api/v1/fee-schedules", tb).await;
    assert_eq!(res.body["items"], json!([]));
    app.get("/api/v1/fee-schedules/not-an-id", admin)
        .await
        .assert_problem(404);

    // Delete an item: then the modifier falls back.
    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("{}/{modifier_item}", items(&standard)),
            Some(a.token(Role::Manager)),
            None,
        )
        .await;
    res.assert_problem(403);
    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("{}/{modifier_item}", items(&standard)),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    let res = app
        .get(&lookup("code=99213&modifier=25&date=2026-03-02"), tok)
        .await;
    assert_eq!(res.body["charge_cents"], 13000);

    // Audited.
    let res = app
        .get(
            "/api/v1/audit-events?entity=fee_schedule_item",
            a.token(Role::Auditor),
        )
        .await;
    let actions: Vec<&str> = res.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"fee_schedule.item_delete"), "{actions:?}");
    assert!(actions.contains(&"fee_schedule.item_update"), "{actions:?}");
}

fn officina(db: &TestDb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_officina"));
    cmd.env("DATABASE_URL", db.env_url())
        .env_remove("OFFICINA_JWT_SECRET")
        .env("RUST_LOG", "warn");
    cmd
}

#[test]
fn codes_load_and_import_via_the_binary() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        // From another directory: the sets are embedded in the binary.
        let out = officina(&db)
            .current_dir(dir.path())
            .args(["codes", "load"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = String::from_utf8(out.stdout).unwrap();
        assert!(summary.contains("98186 codes"), "{summary}");
        assert_eq!(summary.trim().lines().count(), 1, "{summary}");
    }
    let mut conn = match &db.url {
        officina::config::DatabaseUrl::Sqlite(p) => {
            DbConn::Sqlite(diesel::SqliteConnection::establish(&p.to_string_lossy()).unwrap())
        }
        officina::config::DatabaseUrl::Postgres(u) => {
            DbConn::Postgresql(diesel::PgConnection::establish(u).unwrap())
        }
    };
    use officina::coding::schema::codes::dsl as c;
    let n: i64 = c::codes.count().get_result(&mut conn).unwrap();
    assert_eq!(n, 98_186 + 52, "loading twice does not duplicate");
    let billable: i64 = c::codes
        .filter(c::system.eq("icd10cm"))
        .filter(c::billable.eq(true))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(billable, 74_719);

    // Import a licensed table for an organization.
    let out = officina(&db)
        .args(["org", "create", "--name", "Harbor Dental"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let org = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let file = dir.path().join("cdt.csv");
    std::fs::write(&file, "code,description\nD0120,Periodic oral evaluation\n").unwrap();
    let out = officina(&db)
        .args(["codes", "import", "--org", &org, "--system", "cdt"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{:?} {} {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 1 cdt codes"));
    std::fs::write(&file, "code,description\nX0120,Bad\n").unwrap();
    let out = officina(&db)
        .args(["codes", "import", "--org", &org, "--system", "cdt"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rows[0].code"));
}
