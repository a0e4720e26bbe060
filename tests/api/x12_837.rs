//! The 837 files the API generates, judged by external tools: `../shared/tools/x12check` (pyx12
//! and linuxforhealth-x12, 837P) and `../shared/tools/x12lint.py` (837P and 837D). Skipped, with
//! a message, when `../shared/tools` is absent (a fresh clone). Set `OFFICINA_X12_OUT=DIR` to
//! keep the generated files.

use std::path::{Path, PathBuf};
use std::process::Command;

use officina::auth::Role;
use officina::claims::domain::ClaimStatus;
use serde_json::{Value, json};

use crate::batches::{batch_action, billing_settings, ready_claim};
use crate::claims::{Fx, action, add_coverage, create, fixture, force};
use crate::helpers::TestApp;
use crate::patients::create_patient;

fn tools() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools");
    if dir.join("x12lint.py").is_file() && dir.join("x12check").is_file() {
        Some(dir)
    } else {
        println!(
            "SKIP: {} is absent; the external X12 judges (x12check, x12lint.py) were not run",
            dir.display()
        );
        None
    }
}

fn out_dir() -> (PathBuf, Option<tempfile::TempDir>) {
    match std::env::var("OFFICINA_X12_OUT")
        .ok()
        .filter(|s| !s.is_empty())
    {
        Some(d) => {
            std::fs::create_dir_all(&d).unwrap();
            (PathBuf::from(d), None)
        }
        None => {
            let t = tempfile::tempdir().unwrap();
            (t.path().to_owned(), Some(t))
        }
    }
}

fn judge(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{what}: {text}");
    assert!(out.status.success(), "{what} failed: {text}");
}

/// Builds, approves (by another manager) and downloads the batch of every ready claim.
async fn generate(app: &TestApp, fx: &Fx, kind: &str, payer: &str) -> String {
    let res = app
        .post(
            "/api/v1/batches",
            fx.org.token(Role::Biller),
            &json!({"kind": kind, "payer_id": payer}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let id = res.body["id"].as_str().unwrap().to_owned();
    let res = batch_action(app, &fx.org, Role::Manager, &id, "approve").await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = app
        .get(
            &format!("/api/v1/batches/{id}/x12"),
            fx.org.token(Role::Biller),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.text
}

const TWELVE: [&str; 12] = [
    "E11.9", "I10", "J06.9", "R51.9", "Z00.00", "E78.5", "M54.50", "K21.9", "F41.9", "N39.0",
    "R05.9", "G47.00",
];

fn professional_claim(fx: &Fx, coverage: &str, patient: &str, n: usize) -> Value {
    let dx: Vec<&str> = if n == 0 {
        TWELVE.to_vec()
    } else {
        TWELVE[..4 + n % 3].to_vec()
    };
    json!({
        "kind": "professional", "patient_id": patient, "coverage_id": coverage,
        "rendering_provider_id": fx.provider, "diagnoses": dx,
        "prior_authorization": if n.is_multiple_of(2) { Some("PA12345") } else { None },
        "lines": [
            {"procedure_code": "99214", "modifiers": ["25"], "diagnosis_pointers": [1, 2, 3, 4],
             "units": 1, "charge_cents": 15050, "service_date": "2026-09-15"},
            {"procedure_code": "36415", "modifiers": [], "diagnosis_pointers": [1], "units": 1,
             "charge_cents": 1500, "service_date": "2026-09-15"},
            {"procedure_code": "97110", "modifiers": ["GP", "59"], "diagnosis_pointers": [2, 1],
             "units": 3, "charge_cents": 9999, "service_date": "2026-09-16"}
        ]
    })
}

#[tokio::test]
async fn generated_837p_files_pass_pyx12_linuxforhealth_and_x12lint() {
    let Some(tools) = tools() else { return };
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    billing_settings(&app, &fx.org).await;
    // A child covered by a parent's policy.
    let child = create_patient(&app, &fx.org, "Tommy", "Lopez", "2015-06-01").await;
    let child = child["id"].as_str().unwrap().to_owned();
    let res = app
        .post(
            &format!("/api/v1/patients/{child}/coverages"),
            fx.org.token(Role::Biller),
            &json!({"payer_id": fx.payer, "member_id": "XJH123456789", "group_number": "GRP-77",
                    "priority": "primary", "relationship": "child",
                    "subscriber": {"first_name": "María José", "last_name": "López-O'Neil",
                                   "birth_date": "1984-03-12", "sex": "F",
                                   "address": {"line1": "12 Main St #4", "city": "Springfield",
                                               "state": "IL", "postal_code": "62701"}},
                    "effective_from": "2026-01-01"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let child_coverage = res.body["id"].as_str().unwrap().to_owned();
    let mut claims = Vec::new();
    for n in 0..5 {
        let (cov, pat) = if n % 2 == 1 {
            (child_coverage.as_str(), child.as_str())
        } else {
            (fx.coverage.as_str(), fx.patient.as_str())
        };
        claims.push(ready_claim(&app, &fx, &professional_claim(&fx, cov, pat, n)).await);
    }
    // A replacement (frequency 7) of a claim the payer rejected: REF*F8 = its claim number.
    let original = create(
        &app,
        &fx,
        &professional_claim(&fx, &fx.coverage, &fx.patient, 5),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    force(
        &app,
        &fx.org,
        &original,
        &[
            ClaimStatus::Ready,
            ClaimStatus::Batched,
            ClaimStatus::Submitted,
            ClaimStatus::Rejected,
        ],
    )
    .await;
    let res = action(
        &app,
        &fx.org,
        Role::Manager,
        &original,
        "replace",
        Some(json!({"payer_claim_number": "PAYERCLM123"})),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let replacement = res.body["id"].as_str().unwrap().to_owned();
    force(&app, &fx.org, &replacement, &[ClaimStatus::Ready]).await;

    let x12 = generate(&app, &fx, "professional", &fx.payer).await;
    assert_eq!(x12.matches("CLM*").count(), 6);
    assert!(x12.contains("*11:B:7*Y*A*Y*Y~"));
    assert!(x12.contains("REF*F8*PAYERCLM123~"));
    assert!(x12.contains("HI*ABK:E119*ABF:I10*ABF:J069"));
    assert!(x12.contains("PAT*19~"));
    assert!(x12.contains("NM1*IL*1*LOPEZ-O'NEIL*MARIA JOSE****MI*XJH123456789~"));
    assert!(x12.contains("SV1*HC:97110:GP:59*99.99*UN*3***2:1~"));
    assert_eq!(x12.matches("REF*6R*").count(), 18);

    let (dir, _keep) = out_dir();
    let file = dir.join("professional-api.837");
    std::fs::write(&file, &x12).unwrap();
    judge(
        Command::new("python3")
            .arg(tools.join("x12lint.py"))
            .arg(&file),
        "x12lint.py",
    );
    judge(Command::new(tools.join("x12check")).arg(&file), "x12check");
}

#[tokio::test]
async fn generated_837d_files_pass_x12lint() {
    let Some(tools) = tools() else { return };
    let app = TestApp::spawn().await;
    let fx = fixture(&app, true).await;
    billing_settings(&app, &fx.org).await;
    let res = app
        .post(
            "/api/v1/payers",
            fx.org.token(Role::Admin),
            &json!({"name": "Delta Test", "edi_id": "PAYER02", "claim_kind": "dental"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let payer = res.body["id"].as_str().unwrap().to_owned();
    let patient = create_patient(&app, &fx.org, "Ana", "Ruiz", "1990-02-03").await;
    let patient = patient["id"].as_str().unwrap().to_owned();
    let coverage = add_coverage(&app, &fx.org, &patient, &payer).await;
    for n in 0..3 {
        let body = json!({
            "kind": "dental", "patient_id": patient, "coverage_id": coverage,
            "rendering_provider_id": fx.provider, "diagnoses": ["K02.52"],
            "lines": [
                {"procedure_code": "D0120", "units": 1, "charge_cents": 5000,
                 "service_date": "2026-09-15"},
                {"procedure_code": "D2392", "units": 1, "charge_cents": 18000 + n,
                 "service_date": "2026-09-15", "tooth": "30", "surfaces": ["M", "O"]},
                {"procedure_code": "D2331", "units": 1, "charge_cents": 15500,
                 "service_date": "2026-09-16", "tooth": "8", "surfaces": ["M", "I", "F"]},
                {"procedure_code": "D1120", "units": 1, "charge_cents": 7000,
                 "service_date": "2026-09-16", "tooth": "T"}
            ]
        });
        ready_claim(&app, &fx, &body).await;
    }
    let x12 = generate(&app, &fx, "dental", &payer).await;
    assert!(x12.contains("ST*837*0001*005010X224A2~"));
    assert_eq!(x12.matches("CLM*").count(), 3);
    assert!(x12.contains("TOO*JP*30*M:O~"));
    assert!(x12.contains("TOO*JP*8*M:I:F~"));
    assert!(x12.contains("TOO*JP*T~"));
    assert!(x12.contains("SV3*AD:D2392*180.01****1~"));

    let (dir, _keep) = out_dir();
    let file = dir.join("dental-api.837");
    std::fs::write(&file, &x12).unwrap();
    judge(
        Command::new("python3")
            .arg(tools.join("x12lint.py"))
            .arg(&file),
        "x12lint.py",
    );
}
