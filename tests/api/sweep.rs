//! Sweeps driven by the served OpenAPI document, so a new endpoint is covered the day it is added:
//!
//! - every operation is in [`ROLE_TABLE`] (the test fails on one that is not: add it there);
//! - role sweep: for every operation and every role, a role the table does not allow gets `403`
//!   problem+json, an allowed role never gets `403` (nor a `5xx`);
//! - tenancy sweep: every operation with a path parameter, filled with REAL ids of organization A,
//!   called with each role of organization B, answers exactly what the same call answers for an id
//!   that does not exist (same status, same body but the request id): `404` for a role that may
//!   call it, `403` for one that may not; never a `2xx` or a `5xx`.

use std::collections::{BTreeMap, BTreeSet};

use officina::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::batches::{billing_settings, ready_claim};
use crate::claims::{Fx, add_coverage, claim_body, fixture, load_codes};
use crate::helpers::{Org, Res, TestApp, read};
use crate::lab_labels::{move_to, register_specimen};
use crate::patients::create_patient;

use Role::{Admin, Auditor, Biller, Clinician, Lab, Manager};

const ALL: &[Role] = &Role::ALL;
/// No bearer token needed (and none checked).
const PUBLIC: &[Role] = &[];

/// Who may call each operation, by `operation_id`. Every operation of the document must be here;
/// entries for operations the document does not have (yet) are allowed, so branches adding
/// endpoints in parallel can list theirs first.
const ROLE_TABLE: &[(&str, &[Role])] = &[
    // health, authentication, the caller
    ("health_live", PUBLIC),
    ("health_ready", PUBLIC),
    ("create_token", PUBLIC),
    ("logout", ALL),
    ("get_me", ALL),
    // users, organization, audit
    ("list_users", &[Admin, Auditor]),
    ("create_user", &[Admin]),
    ("get_user", &[Admin, Auditor]),
    ("update_user", &[Admin]),
    ("get_organization", ALL),
    ("update_organization", &[Admin]),
    ("list_audit_events", &[Admin, Auditor]),
    // patients and coverages
    ("list_patients", ALL),
    ("create_patient", &[Admin, Manager, Biller, Lab, Clinician]),
    ("get_patient", ALL),
    ("update_patient", &[Admin, Manager, Biller, Lab, Clinician]),
    ("list_coverages", ALL),
    ("create_coverage", &[Admin, Manager, Biller]),
    ("get_coverage", ALL),
    ("update_coverage", &[Admin, Manager, Biller]),
    (
        "list_patient_claims",
        &[Admin, Manager, Biller, Clinician, Auditor],
    ),
    // providers and payers
    ("list_providers", ALL),
    ("create_provider", &[Admin, Manager]),
    ("get_provider", ALL),
    ("update_provider", &[Admin, Manager]),
    ("list_payers", ALL),
    ("create_payer", &[Admin, Manager]),
    ("get_payer", ALL),
    ("update_payer", &[Admin, Manager]),
    // code sets and fee schedules
    ("search_codes", ALL),
    ("get_code", ALL),
    ("check_code", ALL),
    ("import_code_set", &[Admin]),
    ("list_fee_schedules", &[Admin, Manager, Biller, Auditor]),
    ("create_fee_schedule", &[Admin]),
    ("lookup_fee", &[Admin, Manager, Biller, Auditor, Clinician]),
    ("get_fee_schedule", &[Admin, Manager, Biller, Auditor]),
    ("update_fee_schedule", &[Admin]),
    ("list_fee_items", &[Admin, Manager, Biller, Auditor]),
    ("put_fee_item", &[Admin]),
    ("delete_fee_item", &[Admin]),
    // lab
    ("list_specimens", ALL),
    ("register_specimen", &[Lab, Clinician]),
    ("get_specimen_by_accession", ALL),
    ("print_specimen_labels", ALL),
    ("get_specimen", ALL),
    ("make_aliquots", &[Lab, Manager, Admin]),
    ("list_specimen_events", ALL),
    ("add_specimen_event", &[Lab, Clinician, Manager, Admin]),
    ("get_specimen_label", ALL),
    ("put_test_result", &[Lab, Manager, Admin]),
    ("verify_test_result", &[Lab, Manager, Admin]),
    ("list_charges", &[Biller, Manager, Admin, Auditor]),
    ("list_manifests", ALL),
    ("create_manifest", &[Lab, Manager, Admin]),
    ("get_manifest", ALL),
    ("update_manifest", &[Lab, Manager, Admin]),
    ("cancel_manifest", &[Lab, Manager, Admin]),
    ("print_manifest", ALL),
    ("receive_manifest_results", &[Lab, Manager, Admin]),
    ("ship_manifest", &[Lab, Manager, Admin]),
    ("report_lab_turnaround", &[Manager, Admin, Lab, Auditor]),
    // claims
    ("list_claims", &[Admin, Manager, Biller, Clinician, Auditor]),
    ("create_claim", &[Biller, Manager, Clinician]),
    ("create_claim_from_charges", &[Biller, Manager, Clinician]),
    ("get_claim", &[Admin, Manager, Biller, Clinician, Auditor]),
    ("update_claim", &[Biller, Manager]),
    (
        "list_claim_events",
        &[Admin, Manager, Biller, Clinician, Auditor],
    ),
    ("finalize_claim", &[Biller, Manager]),
    ("validate_claim", &[Biller, Manager, Clinician]),
    ("void_claim", &[Manager]),
    ("replace_claim", &[Manager]),
    ("write_off_claim", &[Manager]),
    ("get_claim_ledger", &[Biller, Manager, Admin, Auditor]),
    // batches, acknowledgements, remittances
    ("list_batches", &[Admin, Manager, Biller, Auditor]),
    ("create_batch", &[Biller, Manager]),
    ("get_batch", &[Admin, Manager, Biller, Auditor]),
    ("approve_batch", &[Manager]),
    ("cancel_batch", &[Biller, Manager]),
    ("mark_batch_submitted", &[Biller, Manager]),
    ("get_batch_x12", &[Biller, Manager]),
    ("list_acknowledgements", &[Biller, Manager, Admin, Auditor]),
    ("import_acknowledgement", &[Biller, Manager]),
    ("get_acknowledgement", &[Biller, Manager, Admin, Auditor]),
    ("list_remittances", &[Biller, Manager, Admin, Auditor]),
    ("import_remittance", &[Biller, Manager]),
    ("get_remittance", &[Biller, Manager, Admin, Auditor]),
    ("match_remittance_claim", &[Biller, Manager]),
    // reports
    ("report_ar_aging", &[Manager, Biller, Auditor]),
    ("report_denials", &[Manager, Biller, Auditor]),
    ("report_payments", &[Manager, Biller, Auditor]),
    ("report_batches", &[Manager, Biller, Auditor]),
];

fn allowed(op: &str) -> Option<&'static [Role]> {
    ROLE_TABLE.iter().find(|(id, _)| *id == op).map(|(_, r)| *r)
}

/// One operation of the served document.
#[derive(Debug, Clone)]
struct Op {
    id: String,
    method: Method,
    path: String,
    /// The media type of the request body, if it has one.
    body_type: Option<String>,
}

async fn operations(app: &TestApp) -> Vec<Op> {
    let doc = app
        .request(Method::GET, "/api-docs/openapi.json", None, None)
        .await;
    assert_eq!(doc.status, 200);
    let mut ops = Vec::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = match method.as_str() {
                "get" => Method::GET,
                "post" => Method::POST,
                "put" => Method::PUT,
                "patch" => Method::PATCH,
                "delete" => Method::DELETE,
                _ => continue,
            };
            let body_type = op["requestBody"]["content"]
                .as_object()
                .and_then(|c| c.keys().next().cloned());
            ops.push(Op {
                id: op["operationId"].as_str().unwrap().to_owned(),
                method,
                path: path.clone(),
                body_type,
            });
        }
    }
    assert!(
        ops.len() > 80,
        "the document lists {} operations",
        ops.len()
    );
    ops
}

#[tokio::test]
async fn every_operation_of_the_document_is_in_the_role_table() {
    let app = TestApp::spawn().await;
    let missing: Vec<String> = operations(&app)
        .await
        .into_iter()
        .filter(|op| allowed(&op.id).is_none())
        .map(|op| format!("{} {} ({})", op.method, op.path, op.id))
        .collect();
    assert!(
        missing.is_empty(),
        "operations missing from ROLE_TABLE in tests/api/sweep.rs (say who may call them): {missing:#?}"
    );
    let ids: BTreeSet<&str> = ROLE_TABLE.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), ROLE_TABLE.len(), "an operation is listed twice");
}

/// Real records of one organization, one of each kind the paths name.
struct World {
    fx: Fx,
    ids: BTreeMap<&'static str, String>,
}

const X12_999: &str = "ISA*00*          *00*          *ZZ*CLEARINGHOUSE  *ZZ*SUBMITTERID    *261128*0900*^*00501*000000101*0*P*:~GS*FA*CLEARINGHOUSE*SUBMITTERID*20261128*0900*101*X*005010X231A1~ST*999*0001*005010X231A1~AK1*HC*1*005010X222A1~AK2*837*0001*005010X222A1~IK5*A~AK9*A*1*1*1~SE*6*0001~GE*1*101~IEA*1*000000101~";

const X12_835: &str = "ISA*00*          *00*          *ZZ*PAYERCH        *ZZ*SUBMITTERID    *261201*0800*^*00501*000000201*0*P*:~\
GS*HP*PAYERCH*SUBMITTERID*20261201*0800*201*X*005010X221A1~ST*835*0001~\
BPR*I*50.00*C*ACH*CCP*01*999999999*DA*123456*1234567890**01*999999999*DA*654321*20261201~\
TRN*1*SWEEP0001*1999999999~DTM*405*20261201~N1*PR*ACME HEALTH~N1*PE*CLINIC*XX*1234567893~LX*1~\
CLP*C9999999*1*50.00*50.00**12*PAYER-CN-9~SE*9*0001~GE*1*201~IEA*1*000000201~";

const CPT_CSV: &str = "code,description\n99213,Office visit (test descriptor)\n";

async fn created(res: Res, what: &str) -> String {
    assert!(
        res.status.is_success(),
        "creating {what}: {} {}",
        res.status,
        res.text
    );
    res.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{what} has no id: {}", res.text))
        .to_owned()
}

/// Organization A with a record of every kind, created through the API.
async fn world(app: &TestApp) -> World {
    load_codes(app).await;
    let fx = fixture(app, true).await;
    billing_settings(app, &fx.org).await;
    let org = &fx.org;
    let mut ids: BTreeMap<&'static str, String> = BTreeMap::new();
    ids.insert("patients", fx.patient.clone());
    ids.insert("coverage_id", fx.coverage.clone());
    ids.insert("payers", fx.payer.clone());
    ids.insert("providers", fx.provider.clone());
    ids.insert("users", org.user(Role::Lab).to_string());

    // A draft claim, and a ready one in a batch.
    let draft = app
        .post("/api/v1/claims", org.token(Biller), &claim_body(&fx))
        .await;
    ids.insert("claims", created(draft, "claim").await);
    let mut other = claim_body(&fx);
    other["lines"][0]["service_date"] = json!("2026-09-16");
    other["lines"][1]["service_date"] = json!("2026-09-16");
    let ready = ready_claim(app, &fx, &other).await;
    let batch = app
        .post(
            "/api/v1/batches",
            org.token(Biller),
            &json!({"kind": "professional", "payer_id": fx.payer, "claim_ids": [ready]}),
        )
        .await;
    ids.insert("batches", created(batch, "batch").await);

    // A specimen with a test, received, on a draft manifest.
    let patient = create_patient(app, org, "Ana", "Sweep", "1990-01-02").await;
    let specimen = register_specimen(app, org, patient["id"].as_str().unwrap(), "routine").await;
    let sid = specimen["id"].as_str().unwrap().to_owned();
    move_to(app, org, &sid, "received").await;
    ids.insert(
        "test_id",
        specimen["tests"][0]["id"].as_str().unwrap().to_owned(),
    );
    ids.insert(
        "accession_number",
        specimen["accession_number"].as_str().unwrap().to_owned(),
    );
    ids.insert("specimens", sid.clone());
    let manifest = app
        .post(
            "/api/v1/manifests",
            org.token(Lab),
            &json!({"destination": "Reference Lab", "specimen_ids": [sid]}),
        )
        .await;
    ids.insert("manifests", created(manifest, "manifest").await);

    // A fee schedule with an item; a licensed CPT table.
    let schedule = app
        .post(
            "/api/v1/fee-schedules",
            org.token(Admin),
            &json!({"kind": "payer", "payer_id": fx.payer, "name": "Sweep payer schedule"}),
        )
        .await;
    let schedule = created(schedule, "fee schedule").await;
    let item = app
        .post(
            &format!("/api/v1/fee-schedules/{schedule}/items"),
            org.token(Admin),
            &json!({"code": "99213", "amount_cents": 9900}),
        )
        .await;
    ids.insert("item_id", created(item, "fee item").await);
    ids.insert("fee-schedules", schedule);
    let csv = app
        .post_raw(
            "/api/v1/code-sets/cpt/import",
            Some(org.token(Admin)),
            "text/csv",
            CPT_CSV.into(),
        )
        .await;
    assert!(csv.status.is_success(), "{}", csv.text);

    // An acknowledgement and a remittance (neither matches anything; both are recorded).
    let ack = app
        .post_raw(
            "/api/v1/acknowledgements",
            Some(org.token(Biller)),
            "application/edi-x12",
            X12_999.into(),
        )
        .await;
    ids.insert("acknowledgements", created(ack, "acknowledgement").await);
    let remit = app
        .post_raw(
            "/api/v1/remittances",
            Some(org.token(Biller)),
            "application/edi-x12",
            X12_835.into(),
        )
        .await;
    ids.insert("remittances", created(remit, "remittance").await);
    // A second coverage id is not needed; keep the helper in use for other kinds of patients.
    let _ = add_coverage;
    World { fx, ids }
}

/// The path with its parameters filled from `ids` (`{id}` by the collection it follows), or with
/// ids that do not exist when `ids` is `None`.
fn fill(path: &str, ids: Option<&BTreeMap<&'static str, String>>) -> String {
    let mut out = Vec::new();
    let mut previous = "";
    for seg in path.split('/') {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let key = if name == "id" { previous } else { name };
            let value = match (name, ids) {
                ("system", _) => "cpt".to_owned(),
                ("code", Some(_)) => "99213".to_owned(),
                ("code", None) => "99214".to_owned(),
                ("n", _) => "1".to_owned(),
                ("accession_number", None) => {
                    officina::lab::domain::Accession::new("L", 2026, 999_999).base()
                }
                (_, Some(ids)) => ids
                    .get(key)
                    .unwrap_or_else(|| panic!("no id for {{{name}}} in {path}"))
                    .clone(),
                (_, None) => uuid::Uuid::now_v7().to_string(),
            };
            out.push(value);
        } else {
            out.push(seg.to_owned());
            previous = seg;
        }
    }
    out.join("/")
}

/// A body each operation accepts as far as its shape goes, so that the answer is about the
/// caller and the ids, not about a missing field.
fn body_for(op: &Op, world: &World) -> Option<(String, Vec<u8>)> {
    let ty = op.body_type.clone()?;
    let fx = &world.fx;
    let bytes = match ty.as_str() {
        "application/edi-x12" if op.path.contains("remittances") => X12_835.as_bytes().to_vec(),
        "application/edi-x12" => X12_999.as_bytes().to_vec(),
        "text/csv" => CPT_CSV.as_bytes().to_vec(),
        _ => {
            let v = match op.id.as_str() {
                "create_token" => json!({"email": "nobody@example.org", "password": "x"}),
                "create_coverage" => json!({"payer_id": fx.payer, "member_id": "M1",
                    "priority": "secondary", "relationship": "self", "effective_from": "2026-01-01"}),
                "create_claim" => claim_body(fx),
                "create_batch" => json!({"kind": "professional", "payer_id": fx.payer}),
                "write_off_claim" => json!({"reason": "sweep"}),
                "match_remittance_claim" => json!({"claim_id": world.ids["claims"]}),
                "add_specimen_event" => json!({"to": "in_process"}),
                "make_aliquots" => json!({"count": 1}),
                "put_test_result" => json!({"value": "5.4", "unit": "mmol/L"}),
                "put_fee_item" => json!({"code": "99214", "amount_cents": 100}),
                _ if op.method == Method::PATCH => json!({"version": 1}),
                _ => json!({}),
            };
            v.to_string().into_bytes()
        }
    };
    Some((ty, bytes))
}

async fn call(app: &TestApp, op: &Op, path: &str, token: Option<&str>, world: &World) -> Res {
    let mut req = app
        .client
        .request(op.method.clone(), format!("{}{}", app.address, path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some((ty, bytes)) = body_for(op, world) {
        req = req.header("content-type", ty).body(bytes);
    }
    read(req.send().await.expect("request failed")).await
}

/// A fresh token per call, so that `logout` revokes only its own.
fn token(app: &TestApp, org: &Org, role: Role) -> String {
    app.keys
        .issue(org.user(role), org.id, role, chrono::Utc::now().timestamp())
        .unwrap()
        .0
}

fn describe(op: &Op, role: Role, res: &Res) -> String {
    format!(
        "{} {} ({}) as {role}: {} {}",
        op.method,
        op.path,
        op.id,
        res.status,
        res.text.chars().take(300).collect::<String>()
    )
}

#[tokio::test]
async fn every_role_gets_403_exactly_where_the_table_says_it_may_not() {
    let app = TestApp::spawn().await;
    let world = world(&app).await;
    let ops = operations(&app).await;
    let mut failures = Vec::new();
    let (mut forbidden, mut permitted) = (0, 0);
    for op in &ops {
        let Some(roles) = allowed(&op.id) else {
            continue; // reported by every_operation_of_the_document_is_in_the_role_table
        };
        if roles.is_empty() {
            continue;
        }
        let path = fill(&op.path, Some(&world.ids));
        // Forbidden roles first, so the allowed ones cannot change what they see.
        let mut order: Vec<Role> = ALL.iter().copied().filter(|r| !roles.contains(r)).collect();
        order.extend(roles.iter().copied());
        for role in order {
            let t = token(&app, &world.fx.org, role);
            let res = call(&app, op, &path, Some(&t), &world).await;
            if roles.contains(&role) {
                permitted += 1;
            } else {
                forbidden += 1;
            }
            if res.status.is_server_error() {
                failures.push(format!("5xx: {}", describe(op, role, &res)));
            } else if roles.contains(&role) {
                if res.status == 403 {
                    failures.push(format!("allowed but 403: {}", describe(op, role, &res)));
                }
            } else if res.status != 403
                || !res.content_type().starts_with("application/problem+json")
            {
                failures.push(format!(
                    "forbidden but not a 403 problem: {}",
                    describe(op, role, &res)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // 6 roles × every authenticated operation.
    assert!(
        forbidden > 150 && permitted > 250,
        "{forbidden} forbidden, {permitted} permitted calls"
    );
}

#[tokio::test]
async fn another_organizations_ids_answer_like_ids_that_do_not_exist() {
    let app = TestApp::spawn().await;
    let world = world(&app).await;
    let b = app.seed_org("Organization B").await;
    let ops = operations(&app).await;
    let mut failures = Vec::new();
    let mut swept = 0;
    // Ids of records; `/code-sets/{system}` names a code system, not a record (an import by B
    // goes to B's own table). `/codes/{system}/{code}`: A imported 99213, B did not.
    let with_ids = ops
        .iter()
        .filter(|op| op.path.contains('{') && !op.path.starts_with("/api/v1/code-sets/"));
    for op in with_ids {
        let roles = allowed(&op.id).unwrap_or(ALL);
        // A verdict on a code (with or without a table): only its status must not tell.
        let is_code = op.id == "check_code";
        let theirs = fill(&op.path, Some(&world.ids));
        let missing = fill(&op.path, None);
        swept += 1;
        for role in Role::ALL {
            let t = token(&app, &b, role);
            let res = call(&app, op, &theirs, Some(&t), &world).await;
            let expected = if roles.contains(&role) || roles.is_empty() {
                404
            } else {
                403
            };
            if !is_code
                && (res.status != expected
                    || !res.content_type().starts_with("application/problem+json"))
            {
                failures.push(format!(
                    "expected a {expected} problem: {}",
                    describe(op, role, &res)
                ));
                continue;
            }
            // Nothing tells their record from no record: same answer but the request id.
            let none = call(&app, op, &missing, Some(&t), &world).await;
            let strip = |v: &Value| {
                let mut v = v.clone();
                if let Some(o) = v.as_object_mut() {
                    o.remove("request_id");
                }
                v
            };
            if none.status != res.status || (!is_code && strip(&none.body) != strip(&res.body)) {
                failures.push(format!(
                    "differs from a missing id ({} {}): {}",
                    none.status,
                    none.text,
                    describe(op, role, &res)
                ));
            }
        }
    }
    assert!(swept >= 40, "only {swept} operations with ids");
    // A's records are all still there and unchanged for A.
    let res = app
        .get(
            &format!("/api/v1/claims/{}", world.ids["claims"]),
            world.fx.org.token(Biller),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body["status"], "draft");
    assert_eq!(res.body["version"], 1);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
