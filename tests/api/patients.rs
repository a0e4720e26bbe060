use officina::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Org, TestApp};

pub fn patient_body(first: &str, last: &str, birth: &str) -> Value {
    json!({
        "first_name": first, "last_name": last, "birth_date": birth, "sex": "F",
        "phone": "+1 (217) 555-0134",
        "address": {"line1": "12 Main St", "city": "Springfield", "state": "il", "postal_code": "62701-1234"}
    })
}

pub async fn create_patient(
    app: &TestApp,
    org: &Org,
    first: &str,
    last: &str,
    birth: &str,
) -> Value {
    let res = app
        .post(
            "/api/v1/patients",
            org.token(Role::Clinician),
            &patient_body(first, last, birth),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.body
}

#[tokio::test]
async fn a_patient_is_registered_with_a_generated_mrn_and_normalised_fields() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    assert_eq!(p["mrn"], "M0000001");
    assert_eq!(p["phone"], "2175550134");
    assert_eq!(p["address"]["state"], "IL");
    assert_eq!(p["address"]["postal_code"], "627011234");
    assert_eq!(p["version"], 1);
    let second = create_patient(&app, &org, "John", "Smith", "1950-01-01").await;
    assert_eq!(second["mrn"], "M0000002");
}

#[tokio::test]
async fn a_given_mrn_is_kept_and_must_be_unique_in_the_organization() {
    let app = TestApp::spawn().await;
    let a = app.seed_org("A").await;
    let b = app.seed_org("B").await;
    let mut body = patient_body("Ann", "Lee", "1990-05-05");
    body["mrn"] = json!("chart-77");
    let res = app
        .post("/api/v1/patients", a.token(Role::Biller), &body)
        .await;
    assert_eq!(res.body["mrn"], "CHART-77");
    let dup = app
        .post("/api/v1/patients", a.token(Role::Biller), &body)
        .await;
    dup.assert_problem(422);
    assert_eq!(dup.error_fields(), ["mrn"]);
    assert_eq!(
        app.post("/api/v1/patients", b.token(Role::Biller), &body)
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn every_patient_field_error_comes_back_at_once_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Duration::days(1)).to_string();
    let res = app
        .post(
            "/api/v1/patients",
            org.token(Role::Admin),
            &json!({"first_name": "", "birth_date": tomorrow, "sex": "X", "phone": "12",
                    "address": {"line1": "1 A St", "city": "B", "state": "ZZ", "postal_code": "1234"}}),
        )
        .await;
    res.assert_problem(422);
    assert_eq!(
        res.error_fields(),
        [
            "first_name",
            "last_name",
            "birth_date",
            "sex",
            "phone",
            "address.state",
            "address.postal_code"
        ]
    );
    let list = app.get("/api/v1/patients", org.token(Role::Admin)).await;
    assert!(list.body["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn patients_are_found_by_name_words_in_any_order_birth_date_and_mrn() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    create_patient(&app, &org, "Mario", "Rossi", "1984-03-12").await;
    let smith = create_patient(&app, &org, "John", "Smith", "1950-01-01").await;
    let token = org.token(Role::Lab);
    let names = |res: &crate::helpers::Res| -> Vec<String> {
        res.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["last_name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&app.get("/api/v1/patients?name=lopez%20maria", token).await),
        ["Lopez"]
    );
    assert_eq!(
        names(&app.get("/api/v1/patients?name=MAR%20lop", token).await),
        ["Lopez"]
    );
    assert_eq!(
        names(&app.get("/api/v1/patients?name=mar", token).await),
        ["Lopez", "Rossi"]
    );
    assert_eq!(
        names(
            &app.get("/api/v1/patients?birth_date=1984-03-12&name=ross", token)
                .await
        ),
        ["Rossi"]
    );
    let mrn = smith["mrn"].as_str().unwrap();
    assert_eq!(
        names(&app.get(&format!("/api/v1/patients?mrn={mrn}"), token).await),
        ["Smith"]
    );
    // LIKE wildcards in the input are literal.
    assert!(names(&app.get("/api/v1/patients?name=%25", token).await).is_empty());
    let bad = app
        .get("/api/v1/patients?birth_date=12/03/1984", token)
        .await;
    bad.assert_problem(422);
    assert_eq!(bad.error_fields(), ["birth_date"]);
}

#[tokio::test]
async fn patient_lists_page_with_a_cursor() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    for i in 0..5 {
        create_patient(&app, &org, &format!("P{i}"), "Page", "2000-01-01").await;
    }
    let first = app
        .get("/api/v1/patients?limit=3", org.token(Role::Admin))
        .await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 3);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(
            &format!("/api/v1/patients?limit=3&cursor={cursor}"),
            org.token(Role::Admin),
        )
        .await;
    assert_eq!(second.body["items"].as_array().unwrap().len(), 2);
    assert!(second.body["next_cursor"].is_null());
}

#[tokio::test]
async fn an_update_needs_the_current_version() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let id = p["id"].as_str().unwrap();
    let path = format!("/api/v1/patients/{id}");
    app.patch(
        &path,
        org.token(Role::Biller),
        &json!({"last_name": "Garcia"}),
    )
    .await
    .assert_problem(428);
    let ok = app
        .client
        .patch(format!("{}{path}", app.address))
        .bearer_auth(org.token(Role::Biller))
        .header("if-match", "\"1\"")
        .json(&json!({"last_name": "Garcia", "address": {"city": "Chicago"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["etag"], "\"2\"");
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["last_name"], "Garcia");
    assert_eq!(body["address"]["city"], "Chicago");
    assert_eq!(body["address"]["line1"], "12 Main St");
    app.patch(
        &path,
        org.token(Role::Biller),
        &json!({"last_name": "Stale", "version": 1}),
    )
    .await
    .assert_problem(409);
    let bad = app
        .patch(
            &path,
            org.token(Role::Biller),
            &json!({"sex": "Q", "version": 2}),
        )
        .await;
    bad.assert_problem(422);
    assert_eq!(bad.error_fields(), ["sex"]);
}

#[tokio::test]
async fn every_read_and_change_of_a_patient_is_audited_without_phi() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let id = p["id"].as_str().unwrap();
    app.get(&format!("/api/v1/patients/{id}"), org.token(Role::Lab))
        .await;
    app.patch(
        &format!("/api/v1/patients/{id}"),
        org.token(Role::Biller),
        &json!({"phone": "2175550199", "version": 1}),
    )
    .await;
    app.get("/api/v1/patients?name=lopez", org.token(Role::Clinician))
        .await;
    let audit = app
        .get(
            &format!("/api/v1/audit-events?entity=patient&entity_id={id}"),
            org.token(Role::Auditor),
        )
        .await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["patient.update", "patient.read", "patient.create"]
    );
    assert_eq!(
        audit.body["items"][0]["detail"],
        json!({"changed": ["phone"]})
    );
    assert_eq!(
        audit.body["items"][1]["actor_id"],
        org.user(Role::Lab).to_string()
    );
    let searches = app
        .get(
            "/api/v1/audit-events?action=patient.search",
            org.token(Role::Auditor),
        )
        .await;
    assert_eq!(searches.body["items"].as_array().unwrap().len(), 1);
    let all = app
        .get("/api/v1/audit-events?limit=500", org.token(Role::Auditor))
        .await;
    assert!(!all.text.contains("Lopez") && !all.text.contains("2175550199"));
}

#[tokio::test]
async fn the_auditor_reads_patients_but_cannot_change_them() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let id = p["id"].as_str().unwrap();
    let auditor = org.token(Role::Auditor);
    assert_eq!(
        app.get(&format!("/api/v1/patients/{id}"), auditor)
            .await
            .status,
        200
    );
    app.post(
        "/api/v1/patients",
        auditor,
        &patient_body("A", "B", "2000-01-01"),
    )
    .await
    .assert_problem(403);
    app.patch(
        &format!("/api/v1/patients/{id}"),
        auditor,
        &json!({"last_name": "X", "version": 1}),
    )
    .await
    .assert_problem(403);
    // Lab and clinician register and correct patients.
    assert_eq!(
        app.post(
            "/api/v1/patients",
            org.token(Role::Lab),
            &patient_body("A", "B", "2000-01-01")
        )
        .await
        .status,
        201
    );
}

#[tokio::test]
async fn another_organizations_patients_are_404_and_invisible() {
    let app = TestApp::spawn().await;
    let a = app.seed_org("A").await;
    let b = app.seed_org("B").await;
    let p = create_patient(&app, &a, "Maria", "Lopez", "1984-03-12").await;
    let id = p["id"].as_str().unwrap();
    app.get(&format!("/api/v1/patients/{id}"), b.token(Role::Admin))
        .await
        .assert_problem(404);
    app.patch(
        &format!("/api/v1/patients/{id}"),
        b.token(Role::Admin),
        &json!({"last_name": "X", "version": 1}),
    )
    .await
    .assert_problem(404);
    let list = app
        .get("/api/v1/patients?name=lopez", b.token(Role::Admin))
        .await;
    assert!(list.body["items"].as_array().unwrap().is_empty());
    app.get(
        &format!("/api/v1/patients/{id}/coverages"),
        b.token(Role::Admin),
    )
    .await
    .assert_problem(404);
}

#[tokio::test]
async fn patients_export_as_csv_and_the_export_is_audited() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    create_patient(&app, &org, "John", "Smith", "1950-01-01").await;
    let res = app
        .client
        .request(
            Method::GET,
            format!("{}/api/v1/patients?limit=1", app.address),
        )
        .bearer_auth(org.token(Role::Biller))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(&rdr.headers().unwrap()[2], "last_name");
    // The export is the whole list, not one page.
    assert_eq!(rdr.records().count(), 2);
    let audit = app
        .get(
            "/api/v1/audit-events?action=patient.export",
            org.token(Role::Auditor),
        )
        .await;
    assert_eq!(audit.body["items"][0]["detail"], json!({"results": 2}));
}
