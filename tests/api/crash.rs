//! Crash safety: the real `officina serve` process, SIGKILLed in the middle of a load of concurrent
//! writes (specimen registrations, three-line claims, patients, 835 imports), then restarted on the
//! same database (an SQLite file, or a fresh PostgreSQL database when `TEST_DATABASE_URL` is set).
//! Every write that was answered `2xx` is there; no write is half there (a claim without all its
//! lines, a specimen without its tests, custody event or audit row, a remittance partly posted);
//! and the control numbers (accession sequence, patient control number, MRN) go on from where the
//! committed data left them: no repeat, no gap, also for the writes made after the restart.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use officina::claims::domain::ClaimStatus;
use officina::db::{self, ClaimId, OrgId, PayerId, UserId};
use officina::lab::domain::Accession;
use serde_json::{Value, json};

use crate::concurrency::{count_sql, remit_for, submit_claims};
use crate::directory::{payer_body, provider_body};
use crate::helpers::{Res, TestDb, free_port, read};
use crate::patients::patient_body;

const SECRET: &str = "crash-test-signing-secret-0123456789abcdef";
const PASSWORD: &str = "a-long-enough-password";

fn officina(db: &TestDb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_officina"));
    cmd.env("DATABASE_URL", db.env_url())
        .env("OFFICINA_JWT_SECRET", SECRET)
        .env("OFFICINA_PASSWORD", PASSWORD)
        .env_remove("OFFICINA_BIND")
        .env("RUST_LOG", "error");
    cmd
}

fn run(db: &TestDb, args: &[&str]) -> String {
    let out = officina(db).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A running `officina serve`.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(db: &TestDb) -> Server {
        let port = free_port();
        let child = officina(db)
            .args(["serve"])
            .env("OFFICINA_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{base}/health/ready")).send().await
                && r.status() == 200
            {
                break;
            }
            assert!(Instant::now() < deadline, "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server { child, base }
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown hook, no flush, no rollback.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: &str) -> Api {
        Api {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base: format!("{base}/api/v1"),
        }
    }
    /// `None` when the request did not get a response (the server is gone).
    async fn send(&self, r: reqwest::RequestBuilder) -> Option<Res> {
        match r.send().await {
            Ok(res) => Some(read(res).await),
            Err(_) => None,
        }
    }
    async fn post(&self, token: &str, path: &str, body: &Value) -> Option<Res> {
        let mut r = self.client.post(format!("{}{path}", self.base)).json(body);
        if !token.is_empty() {
            r = r.bearer_auth(token);
        }
        self.send(r).await
    }
    async fn post_x12(&self, token: &str, body: &str) -> Option<Res> {
        let r = self
            .client
            .post(format!("{}/remittances", self.base))
            .bearer_auth(token)
            .header("content-type", "application/edi-x12")
            .body(body.to_owned());
        self.send(r).await
    }
    async fn get(&self, token: &str, path: &str) -> Res {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token);
        self.send(r).await.expect("server up")
    }
    async fn created(&self, token: &str, path: &str, body: &Value) -> Value {
        let res = self.post(token, path, body).await.expect("server up");
        assert_eq!(res.status, 201, "{path}: {}", res.text);
        res.body
    }
    async fn token(&self, email: &str) -> String {
        let res = self
            .post(
                "",
                "/auth/token",
                &json!({"email": email, "password": PASSWORD}),
            )
            .await
            .expect("server up");
        assert_eq!(res.status, 200, "{}", res.text);
        res.body["access_token"].as_str().unwrap().to_owned()
    }
}

struct Tokens {
    lab: String,
    biller: String,
    clinician: String,
}

/// What the patient, coverage and provider of the load's claims are.
#[derive(Clone)]
struct Refs {
    patient: String,
    coverage: String,
    provider: String,
}

fn claim_body(r: &Refs, lines: usize, charge: i64) -> Value {
    let lines: Vec<Value> = (0..lines)
        .map(|i| {
            json!({"procedure_code": if i == 0 { "99213" } else { "36415" }, "modifiers": [],
                   "diagnosis_pointers": [1], "units": 1, "service_date": "2026-09-15",
                   "charge_cents": if i == 0 { charge } else { 1500 }})
        })
        .collect();
    json!({"kind": "professional", "patient_id": r.patient, "coverage_id": r.coverage,
           "rendering_provider_id": r.provider, "diagnoses": ["E11.9", "I10"], "lines": lines})
}

/// What the server answered 2xx to before it died.
#[derive(Default)]
struct Acked {
    specimens: Vec<(String, String)>,
    claims: Vec<(String, String)>,
    patients: Vec<(String, String)>,
    remittances: Vec<usize>,
    lost: usize,
}

fn spec_body(patient: &str) -> Value {
    json!({"patient_id": patient, "specimen_type": "serum", "priority": "routine",
           "collected_at": "2026-11-27T08:30:00Z", "collected_by": "L. Nurse",
           "tests": [{"code_system": "loinc", "code": "2345-7", "name": "Glucose", "billing_code": "82947"},
                     {"code_system": "local", "code": "hold", "name": "Hold serum"}]})
}

/// Starts the load: specimen, claim and patient writers in loops, and the 835 files one after
/// the other, until the server stops answering.
fn load(
    api: &Api,
    t: &Tokens,
    refs: &Refs,
    files: &[String],
    acked: &Arc<Mutex<Acked>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (api, tok, acked) = (api.clone(), t.lab.clone(), acked.clone());
        let body = spec_body(&refs.patient);
        tasks.push(tokio::spawn(async move {
            while let Some(res) = api.post(&tok, "/specimens", &body).await {
                assert_eq!(res.status, 201, "{}", res.text);
                let number = res.body["accession_number"].as_str().unwrap().to_owned();
                let id = res.body["id"].as_str().unwrap().to_owned();
                acked.lock().unwrap().specimens.push((id, number));
            }
            acked.lock().unwrap().lost += 1;
        }));
    }
    for w in 0..3 {
        let (api, tok, acked, refs) = (api.clone(), t.biller.clone(), acked.clone(), refs.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            loop {
                i += 1;
                let body = claim_body(&refs, 3, 10_000 + w * 1000 + i);
                let Some(res) = api.post(&tok, "/claims", &body).await else {
                    break;
                };
                assert_eq!(res.status, 201, "{}", res.text);
                assert_eq!(res.body["lines"].as_array().unwrap().len(), 3);
                let pcn = res.body["patient_control_number"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let id = res.body["id"].as_str().unwrap().to_owned();
                acked.lock().unwrap().claims.push((id, pcn));
            }
            acked.lock().unwrap().lost += 1;
        }));
    }
    {
        let (api, tok, acked) = (api.clone(), t.clinician.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let body = patient_body("Ana", "Ruiz", "1990-01-02");
            while let Some(res) = api.post(&tok, "/patients", &body).await {
                assert_eq!(res.status, 201, "{}", res.text);
                let mrn = res.body["mrn"].as_str().unwrap().to_owned();
                let id = res.body["id"].as_str().unwrap().to_owned();
                acked.lock().unwrap().patients.push((id, mrn));
            }
            acked.lock().unwrap().lost += 1;
        }));
    }
    {
        let (api, tok, acked, files) =
            (api.clone(), t.biller.clone(), acked.clone(), files.to_vec());
        tasks.push(tokio::spawn(async move {
            for (i, f) in files.iter().enumerate() {
                let Some(res) = api.post_x12(&tok, f).await else {
                    acked.lock().unwrap().lost += 1;
                    break;
                };
                assert_eq!(res.status, 201, "{}", res.text);
                assert_eq!(res.body["claims_matched"], 2, "{}", res.text);
                acked.lock().unwrap().remittances.push(i);
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }));
    }
    tasks
}

/// Invariants over everything committed, acknowledged or not: nothing is half there.
fn nothing_half_applied(url: &officina::config::DatabaseUrl, org: OrgId) {
    let mut conn = db::connect_once(url).unwrap();
    let checks = [
        (
            "claims whose lines are missing or do not add up",
            format!(
                "SELECT COUNT(*) AS n FROM claims c WHERE c.org_id = '{org}' AND (c.total_charge_cents <> \
                 (SELECT COALESCE(SUM(l.charge_cents), 0) FROM claim_lines l WHERE l.claim_id = c.id) \
                 OR (SELECT COUNT(*) FROM claim_lines l WHERE l.claim_id = c.id) NOT IN (2, 3))"
            ),
        ),
        (
            "claims without their creation event or audit row",
            format!(
                "SELECT COUNT(*) AS n FROM claims c WHERE c.org_id = '{org}' AND (\
                 NOT EXISTS (SELECT 1 FROM claim_events e WHERE e.claim_id = c.id) OR \
                 NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.entity_id = c.id AND a.action = 'claim.create'))"
            ),
        ),
        (
            "specimens without both tests, the custody event or the audit row",
            format!(
                "SELECT COUNT(*) AS n FROM specimens s WHERE s.org_id = '{org}' AND (\
                 (SELECT COUNT(*) FROM specimen_tests t WHERE t.specimen_id = s.id) <> 2 OR \
                 (SELECT COUNT(*) FROM custody_events e WHERE e.specimen_id = s.id AND e.kind = 'register') <> 1 OR \
                 (SELECT COUNT(*) FROM audit_events a WHERE a.entity_id = s.id AND a.action = 'specimen.create') <> 1)"
            ),
        ),
        (
            "remittances not fully posted (5 entries per matched claim, their audit row)",
            format!(
                "SELECT COUNT(*) AS n FROM remittances r WHERE r.org_id = '{org}' AND (\
                 (SELECT COUNT(*) FROM ledger_entries l WHERE l.remittance_id = r.id) <> \
                 5 * (SELECT COUNT(*) FROM remittance_claims rc WHERE rc.remittance_id = r.id AND rc.claim_id IS NOT NULL) OR \
                 (SELECT COUNT(*) FROM remittance_claims rc WHERE rc.remittance_id = r.id) <> 2 OR \
                 NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.entity_id = r.id AND a.action = 'remittance.import'))"
            ),
        ),
        (
            "ledger entries of a remittance that is not there",
            format!(
                "SELECT COUNT(*) AS n FROM ledger_entries l WHERE l.org_id = '{org}' AND l.remittance_id IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM remittances r WHERE r.id = l.remittance_id)"
            ),
        ),
        (
            "claims paid by a remittance but not moved to paid",
            format!(
                "SELECT COUNT(*) AS n FROM remittance_claims rc JOIN claims c ON c.id = rc.claim_id \
                 WHERE rc.org_id = '{org}' AND c.status <> 'paid'"
            ),
        ),
    ];
    for (what, sql) in checks {
        assert_eq!(count_sql(&mut conn, &sql), 0, "{what}");
    }
}

/// Every committed control number of `table`: distinct and exactly 1..=n.
fn gapless(url: &officina::config::DatabaseUrl, org: OrgId, table: &str, parse: fn(&str) -> u64) {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Num {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    let column = match table {
        "specimens" => "accession_number",
        "claims" => "patient_control_number",
        _ => "mrn",
    };
    let sql = format!("SELECT {column} AS v FROM {table} WHERE org_id = '{org}'");
    let mut conn = db::connect_once(url).unwrap();
    let rows: Vec<Num> = match &mut conn {
        db::DbConn::Postgresql(c) => diesel::sql_query(&sql).load(c),
        db::DbConn::Sqlite(c) => diesel::sql_query(&sql).load(c),
    }
    .unwrap();
    let nums: BTreeSet<u64> = rows.iter().map(|r| parse(&r.v)).collect();
    assert_eq!(nums.len(), rows.len(), "{table}: a number is repeated");
    assert_eq!(
        nums,
        (1..=rows.len() as u64).collect(),
        "{table}: numbers are not 1..=n"
    );
}

fn accession_seq(s: &str) -> u64 {
    Accession::parse(s).unwrap().seq
}
fn pcn_seq(s: &str) -> u64 {
    s.trim_start_matches('C').parse().unwrap()
}
fn mrn_seq(s: &str) -> u64 {
    s.chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sigkill_under_load_loses_no_acknowledged_write_and_half_applies_none() {
    let test_db = TestDb::new();
    run(&test_db, &["migrate"]);
    let org: OrgId = run(
        &test_db,
        &[
            "org",
            "create",
            "--name",
            "Crash Clinic",
            "--npi",
            "1234567893",
        ],
    )
    .parse()
    .unwrap();
    let org_s = org.to_string();
    let mut users = std::collections::HashMap::new();
    for role in ["admin", "biller", "lab", "clinician", "manager"] {
        let email = format!("{role}@crash.example");
        let id = run(
            &test_db,
            &[
                "user", "create", "--org", &org_s, "--email", &email, "--name", role, "--role",
                role,
            ],
        );
        users.insert(role, (email, id));
    }

    let mut server = Server::start(&test_db).await;
    let api = Api::new(&server.base);
    let admin = api.token(&users["admin"].0).await;
    let t = Tokens {
        lab: api.token(&users["lab"].0).await,
        biller: api.token(&users["biller"].0).await,
        clinician: api.token(&users["clinician"].0).await,
    };
    let payer = api.created(&admin, "/payers", &payer_body("ACME1")).await;
    let provider = api
        .created(&admin, "/providers", &provider_body("1245319599"))
        .await;
    let patient = api
        .created(
            &t.clinician,
            "/patients",
            &patient_body("Maria", "Lopez", "1984-03-12"),
        )
        .await;
    let coverage = api
        .created(
            &t.biller,
            &format!("/patients/{}/coverages", patient["id"].as_str().unwrap()),
            &json!({"payer_id": payer["id"], "member_id": "XJH123456789", "priority": "primary",
                    "relationship": "self", "effective_from": "2026-01-01"}),
        )
        .await;
    let refs = Refs {
        patient: patient["id"].as_str().unwrap().to_owned(),
        coverage: coverage["id"].as_str().unwrap().to_owned(),
        provider: provider["id"].as_str().unwrap().to_owned(),
    };

    // Twenty submitted two-line claims, and ten 835 files paying two of them each.
    let mut paid = Vec::new();
    for _ in 0..20 {
        let c = api
            .created(&t.biller, "/claims", &claim_body(&refs, 2, 12500))
            .await;
        paid.push((
            c["id"].as_str().unwrap().parse::<ClaimId>().unwrap(),
            c["patient_control_number"].as_str().unwrap().to_owned(),
        ));
    }
    {
        let ids: Vec<ClaimId> = paid.iter().map(|p| p.0).collect();
        let url = test_db.url.clone();
        let payer: PayerId = payer["id"].as_str().unwrap().parse().unwrap();
        let manager: UserId = users["manager"].1.parse().unwrap();
        tokio::task::spawn_blocking(move || {
            let mut conn = db::connect_once(&url).unwrap();
            let ctx = officina::audit::AuditCtx::cli(org);
            db::write_tx(&mut conn, |c| {
                for id in &ids {
                    officina::claims::repo::transition(
                        c,
                        &ctx,
                        *id,
                        ClaimStatus::Ready,
                        None,
                        None,
                    )?;
                }
                Ok::<_, officina::error::AppError>(())
            })
            .unwrap();
            submit_claims(&mut conn, org, manager, payer, &ids);
        })
        .await
        .unwrap();
    }
    let files: Vec<String> = paid
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            let pcns: Vec<String> = pair.iter().map(|p| p.1.clone()).collect();
            remit_for(&pcns, &format!("EFT-CRASH-{i}"))
        })
        .collect();

    // The load, and the kill in its middle.
    let acked = Arc::new(Mutex::new(Acked::default()));
    let tasks = load(&api, &t, &refs, &files, &acked);
    // Kill once the load is well under way (at least 1.5 s, and some of every kind of write
    // acknowledged, so a slow machine still kills in the middle), while imports are still due.
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let a = acked.lock().unwrap();
        let under_way = a.specimens.len() >= 10 && a.claims.len() >= 5 && !a.remittances.is_empty();
        if (under_way && started.elapsed() >= Duration::from_millis(1500))
            || started.elapsed() >= Duration::from_secs(20)
        {
            break;
        }
    }
    server.kill();
    for task in tasks {
        task.await.unwrap();
    }
    let acked = Arc::try_unwrap(acked).ok().unwrap().into_inner().unwrap();
    assert!(
        acked.specimens.len() >= 10 && acked.claims.len() >= 5 && !acked.remittances.is_empty(),
        "the load wrote too little before the kill: {} specimens, {} claims, {} remittances",
        acked.specimens.len(),
        acked.claims.len(),
        acked.remittances.len()
    );
    assert!(
        acked.remittances.len() < files.len(),
        "the kill came after every import"
    );
    eprintln!(
        "crash: killed after {} specimens, {} claims, {} patients, {} remittances acknowledged; {} writers cut off",
        acked.specimens.len(),
        acked.claims.len(),
        acked.patients.len(),
        acked.remittances.len(),
        acked.lost
    );

    // Restart on the same database.
    let server = Server::start(&test_db).await;
    let api = Api::new(&server.base);
    let url = test_db.url.clone();
    tokio::task::spawn_blocking(move || nothing_half_applied(&url, org))
        .await
        .unwrap();

    // Every acknowledged write is there, whole.
    for (id, number) in &acked.specimens {
        let res = api.get(&t.lab, &format!("/specimens/{id}")).await;
        assert_eq!(res.status, 200, "acknowledged specimen {number} lost");
        assert_eq!(res.body["accession_number"], number.as_str());
    }
    for (id, pcn) in &acked.claims {
        let res = api.get(&t.biller, &format!("/claims/{id}")).await;
        assert_eq!(res.status, 200, "acknowledged claim {pcn} lost");
        assert_eq!(res.body["patient_control_number"], pcn.as_str());
        assert_eq!(res.body["lines"].as_array().unwrap().len(), 3);
    }
    for (id, mrn) in &acked.patients {
        let res = api.get(&t.clinician, &format!("/patients/{id}")).await;
        assert_eq!(res.status, 200, "acknowledged patient {mrn} lost");
        assert_eq!(res.body["mrn"], mrn.as_str());
    }
    // Each file again: the acknowledged ones are duplicates; the rest post now; all exactly once.
    for (i, f) in files.iter().enumerate() {
        let res = api.post_x12(&t.biller, f).await.expect("server up");
        if acked.remittances.contains(&i) {
            assert_eq!(res.status, 200, "file {i}: {}", res.text);
            assert_eq!(res.body["duplicate"], true);
        } else {
            assert!(
                [200, 201].contains(&res.status.as_u16()),
                "file {i}: {}",
                res.text
            );
        }
    }
    for (id, pcn) in &paid {
        let l = api.get(&t.biller, &format!("/claims/{id}/ledger")).await;
        assert_eq!(l.status, 200, "{}", l.text);
        assert_eq!(
            l.body["items"].as_array().unwrap().len(),
            5,
            "claim {pcn}: {}",
            l.text
        );
        assert_eq!(l.body["balance_cents"], 0, "claim {pcn}");
    }

    // Writes go on after the restart, and the numbers never repeat or skip.
    let acked2 = Arc::new(Mutex::new(Acked::default()));
    let tasks = load(&api, &t, &refs, &[], &acked2);
    tokio::time::sleep(Duration::from_millis(700)).await;
    drop(server);
    for task in tasks {
        task.await.unwrap();
    }
    let acked2 = Arc::try_unwrap(acked2).ok().unwrap().into_inner().unwrap();
    assert!(
        !acked2.specimens.is_empty() && !acked2.claims.is_empty() && !acked2.patients.is_empty()
    );
    let before: BTreeSet<&String> = acked.specimens.iter().map(|s| &s.1).collect();
    assert!(acked2.specimens.iter().all(|s| !before.contains(&s.1)));
    let before: BTreeSet<&String> = acked.claims.iter().map(|s| &s.1).collect();
    assert!(acked2.claims.iter().all(|s| !before.contains(&s.1)));
    let url = test_db.url.clone();
    tokio::task::spawn_blocking(move || {
        nothing_half_applied(&url, org);
        gapless(&url, org, "specimens", accession_seq);
        gapless(&url, org, "claims", pcn_seq);
        gapless(&url, org, "patients", mrn_seq);
    })
    .await
    .unwrap();
}
