//! The lab turnaround report on what the API records: structure, counts, period filter,
//! non-negative intervals, CSV, validation, roles. (The percentile arithmetic on known numbers
//! is unit-tested in `src/lab/turnaround.rs`.)

use officina::auth::Role;
use serde_json::{Value, json};

use crate::helpers::{Org, TestApp};
use crate::lab_labels::{minutes_ago, move_to, register_specimen};
use crate::patients::create_patient;

async fn result_and_verify(app: &TestApp, org: &Org, specimen: &Value, verify: bool) {
    let sid = specimen["id"].as_str().unwrap();
    let tid = specimen["tests"][0]["id"].as_str().unwrap();
    let res = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/specimens/{sid}/tests/{tid}/result"),
            Some(org.token(Role::Lab)),
            Some(&json!({"value": "5.4", "unit": "mmol/L", "flag": "N"})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    if verify {
        let res = app
            .post(
                &format!("/api/v1/specimens/{sid}/tests/{tid}/verify"),
                org.token(Role::Manager),
                &json!({}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
    }
}

fn day(offset: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(offset))
        .format("%Y-%m-%d")
        .to_string()
}

fn assert_stats(s: &Value, n: u64) {
    assert_eq!(s["n"], n, "{s}");
    if n == 0 {
        assert!(s["median_min"].is_null() && s["p90_min"].is_null() && s["max_min"].is_null());
    } else {
        let (median, p90, max) = (
            s["median_min"].as_f64().unwrap(),
            s["p90_min"].as_f64().unwrap(),
            s["max_min"].as_f64().unwrap(),
        );
        assert!(0.0 <= median && median <= p90 && p90 <= max, "{s}");
    }
}

#[tokio::test]
async fn turnaround_per_test_code_from_what_the_lab_recorded() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let other = app.seed_org("Other").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap();

    // Two glucose specimens collected 30 minutes ago: one verified, one only resulted.
    let a = register_specimen(&app, &org, pid, "routine").await;
    move_to(&app, &org, a["id"].as_str().unwrap(), "received").await;
    result_and_verify(&app, &org, &a, true).await;
    let b = register_specimen(&app, &org, pid, "stat").await;
    move_to(&app, &org, b["id"].as_str().unwrap(), "received").await;
    result_and_verify(&app, &org, &b, false).await;
    // A local test never received.
    let res = app
        .post(
            "/api/v1/specimens",
            org.token(Role::Lab),
            &json!({
                "patient_id": pid, "specimen_type": "urine", "priority": "routine",
                "collected_at": minutes_ago(10), "collected_by": "J. Doe",
                "tests": [{"code_system": "local", "code": "ua-dip", "name": "Urine dipstick"}]
            }),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    // A glucose specimen collected five days ago: outside this week's report.
    let res = app
        .post(
            "/api/v1/specimens",
            org.token(Role::Lab),
            &json!({
                "patient_id": pid, "specimen_type": "serum", "priority": "routine",
                "collected_at": minutes_ago(5 * 24 * 60), "collected_by": "J. Doe",
                "tests": [{"code_system": "loinc", "code": "2345-7", "name": "Glucose"}]
            }),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let old = res.body;
    move_to(&app, &org, old["id"].as_str().unwrap(), "received").await;

    let path = format!(
        "/api/v1/reports/lab-turnaround?from={}&to={}",
        day(-1),
        day(1)
    );
    let res = app.get(&path, org.token(Role::Manager)).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["from"], day(-1));
    assert_eq!(res.body["to"], day(1));
    let items = res.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", res.text);
    let glucose = &items[0];
    assert_eq!(glucose["test_code"], "2345-7");
    assert_eq!(glucose["code_system"], "loinc");
    assert_eq!(glucose["test_name"], "Glucose");
    assert_eq!(glucose["count"], 2);
    assert_stats(&glucose["collected_to_received"], 2);
    assert_stats(&glucose["received_to_resulted"], 2);
    assert_stats(&glucose["resulted_to_verified"], 1);
    // Collected 30 minutes before it was received (give or take the test's own run time).
    let c2r = glucose["collected_to_received"]["median_min"]
        .as_f64()
        .unwrap();
    assert!((29.0..=40.0).contains(&c2r), "{c2r}");
    let dip = &items[1];
    assert_eq!(dip["test_code"], "UA-DIP");
    assert_eq!(dip["code_system"], "local");
    assert_eq!(dip["count"], 1);
    assert_stats(&dip["collected_to_received"], 0);
    assert_stats(&dip["received_to_resulted"], 0);
    assert_stats(&dip["resulted_to_verified"], 0);

    // The older period holds only the old specimen.
    let res = app
        .get(
            &format!(
                "/api/v1/reports/lab-turnaround?from={}&to={}",
                day(-10),
                day(-2)
            ),
            org.token(Role::Auditor),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let items = res.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["count"], 1);
    assert_stats(&items[0]["collected_to_received"], 1);
    assert!(
        items[0]["collected_to_received"]["median_min"]
            .as_f64()
            .unwrap()
            >= 5.0 * 24.0 * 60.0 - 1.0
    );

    // CSV for the spreadsheet.
    let res = app
        .client
        .get(format!("{}{}", app.address, path))
        .bearer_auth(org.token(Role::Lab))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = res.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with(
        "test_code,test_name,count,collected_to_received_median_min,collected_to_received_p90_min,collected_to_received_max_min,received_to_resulted_median_min"
    ));
    assert!(lines[1].starts_with("2345-7,Glucose,2,"));
    assert!(lines[2].starts_with("UA-DIP,Urine dipstick,1,,,,,,,,,,local,0,0,0"));

    // The same table as a workbook: minutes as numbers, empty cells where nothing was measured.
    let res = app
        .client
        .get(format!("{}{}&format=xlsx", app.address, path))
        .bearer_auth(org.token(Role::Lab))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap().to_vec();
    use calamine::{Data, Reader};
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let sheet = wb.worksheet_range("Turnaround").unwrap();
    assert_eq!(sheet.get((0, 0)), Some(&Data::String("test_code".into())));
    assert_eq!(sheet.get((1, 2)), Some(&Data::Float(2.0)));
    assert!(matches!(sheet.get((1, 3)), Some(Data::Float(m)) if *m > 0.0));
    assert!(matches!(sheet.get((2, 3)), None | Some(Data::Empty)));
    let res = app
        .get(&format!("{path}&format=pdf"), org.token(Role::Lab))
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["format"]);

    // Another organization's report is empty.
    let res = app.get(&path, other.token(Role::Manager)).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body["items"], json!([]));
}

#[tokio::test]
async fn the_period_is_checked_and_the_report_is_for_managers_lab_admin_and_auditors() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let res = app
        .get("/api/v1/reports/lab-turnaround", org.token(Role::Manager))
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["from", "to"]);
    let res = app
        .get(
            "/api/v1/reports/lab-turnaround?from=2026-13-01&to=yesterday",
            org.token(Role::Manager),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.error_fields(), ["from", "to"]);
    let res = app
        .get(
            "/api/v1/reports/lab-turnaround?from=2026-03-02&to=2026-03-01",
            org.token(Role::Manager),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(res.body["errors"][0]["code"], "invalid_range");
    let ok = "/api/v1/reports/lab-turnaround?from=2026-03-01&to=2026-04-01";
    for role in [Role::Manager, Role::Admin, Role::Lab, Role::Auditor] {
        let res = app.get(ok, org.token(role)).await;
        assert_eq!(res.status, 200, "{role}: {}", res.text);
    }
    for role in [Role::Biller, Role::Clinician] {
        app.get(ok, org.token(role)).await.assert_problem(403);
    }
}
