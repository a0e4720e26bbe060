//! Ceilings for `bench/run` (bench-only: an example, never part of the `officina` binary).
//!
//! * `insert`: the rows `POST /specimens` writes (a specimen and its custody event, one write
//!   transaction) inserted through the application's own pool (`db::connect`, `PoolConn::write`)
//!   from N threads, without HTTP: the SQLite ceiling (PostgreSQL's is `pgbench`).
//! * `bare`: an actix-web server with one route, `GET /bench/bare`, that only runs the
//!   application's bearer-token extractor (`AuthUser`: JWT verification and the user lookup) and
//!   answers a tiny JSON: the ceiling of any authenticated read.
//! * `parse835`: times the application's 835 reader on a file (best of N).
//! * `select-batch`: times a plain SELECT of the rows the 837 of a batch is made of (claims,
//!   patients, coverages, lines), best of N.
//!
//! Every command prints one JSON object on stdout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use clap::{Parser, Subcommand};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use officina::app::AppState;
use officina::auth::AuthUser;
use officina::auth::domain::TokenKeys;
use officina::config::DatabaseUrl;
use officina::db::{self, Db, DbConn};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Specimen + custody event (or claim + 5 lines) inserts through the app's pool.
    Insert {
        /// `specimen` (specimen + custody event) or `claim` (claim + 5 lines).
        #[arg(long, default_value = "specimen")]
        kind: String,
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        patient: String,
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "")]
        coverage: String,
        #[arg(long, default_value = "")]
        payer: String,
        #[arg(long, default_value = "")]
        provider: String,
        #[arg(long, default_value_t = 8)]
        clients: usize,
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
    },
    /// A bare authenticated handler.
    Bare {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        bind: String,
        #[arg(long, env = "OFFICINA_JWT_SECRET")]
        jwt_secret: String,
    },
    /// Times the 835 reader.
    Parse835 {
        file: String,
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// Times a SELECT of a batch's rows.
    SelectBatch {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        batch: String,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Cmd::Insert {
            kind,
            database_url,
            org,
            patient,
            user,
            coverage,
            payer,
            provider,
            clients,
            secs,
        } => {
            let ids = Ids {
                org: checked(&org)?.to_owned(),
                patient: checked(&patient)?.to_owned(),
                user: checked(&user)?.to_owned(),
                coverage: checked(&coverage)?.to_owned(),
                payer: checked(&payer)?.to_owned(),
                provider: checked(&provider)?.to_owned(),
            };
            let claim = match kind.as_str() {
                "specimen" => false,
                "claim" => true,
                other => anyhow::bail!("--kind: {other} is not specimen or claim"),
            };
            insert(&database_url, ids, claim, clients, secs)
        }
        Cmd::Bare {
            database_url,
            bind,
            jwt_secret,
        } => bare(&database_url, &bind, &jwt_secret),
        Cmd::Parse835 { file, repeat } => parse_835(&file, repeat),
        Cmd::SelectBatch {
            database_url,
            org,
            batch,
            repeat,
        } => select_batch(&database_url, &org, &batch, repeat),
    }
}

fn open(url: &str) -> anyhow::Result<Db> {
    let url =
        DatabaseUrl::parse(Some(url), std::path::Path::new(".")).map_err(|e| anyhow::anyhow!(e))?;
    Ok(Db::connect(&url)?)
}

/// An id that goes into SQL text: the bench only ever passes UUIDs.
fn checked(s: &str) -> anyhow::Result<&str> {
    anyhow::ensure!(
        s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
        "not an id: {s}"
    );
    Ok(s)
}

/// The ids the inserted rows refer to.
#[derive(Clone)]
struct Ids {
    org: String,
    patient: String,
    user: String,
    coverage: String,
    payer: String,
    provider: String,
}

/// The statements of one transaction: what `POST /specimens` or `POST /claims` writes, minus the
/// audit row and the counters.
fn statements(ids: &Ids, claim: bool) -> Vec<String> {
    let Ids {
        org,
        patient,
        user,
        coverage,
        payer,
        provider,
    } = ids;
    let id = uuid::Uuid::now_v7().to_string();
    let other = uuid::Uuid::now_v7().to_string();
    let now = db::now().format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    if !claim {
        return vec![
            format!(
                "INSERT INTO specimens (id, org_id, accession_number, aliquot_count, patient_id, \
                 specimen_type, container, priority, status, version, created_by, created_at, \
                 updated_at) VALUES ('{id}', '{org}', '{other}', 0, '{patient}', 'serum', \
                 'SST 5 mL', 'routine', 'ordered', 1, '{user}', '{now}', '{now}')"
            ),
            format!(
                "INSERT INTO custody_events (id, org_id, specimen_id, to_status, kind, actor_id, \
                 at) VALUES ('{other}', '{org}', '{id}', 'ordered', 'register', '{user}', '{now}')"
            ),
        ];
    }
    let mut out = vec![format!(
        "INSERT INTO claims (id, org_id, kind, status, patient_id, coverage_id, payer_id, \
         rendering_provider_id, place_of_service, diagnoses, patient_control_number, \
         frequency_code, total_charge_cents, service_from, service_to, version, created_by, \
         created_at, updated_at) VALUES ('{id}', '{org}', 'professional', 'draft', '{patient}', \
         '{coverage}', '{payer}', '{provider}', '11', '[\"E119\",\"I10\"]', '{other}', '1', 35500, \
         '2026-09-15', '2026-09-15', 1, '{user}', '{now}', '{now}')"
    )];
    for n in 1..=5 {
        let line = uuid::Uuid::now_v7();
        out.push(format!(
            "INSERT INTO claim_lines (id, org_id, claim_id, line_number, procedure_code, \
             modifiers, diagnosis_pointers, units, charge_cents, service_date, surfaces, \
             line_control_number, created_at) VALUES ('{line}', '{org}', '{id}', {n}, '9921{n}', \
             '[]', '[1]', 1, 7100, '2026-09-15', '[]', '{id}L0{n}', '{now}')"
        ));
    }
    out
}

fn insert(url: &str, ids: Ids, claim: bool, clients: usize, secs: f64) -> anyhow::Result<()> {
    let db = open(url)?;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (db, stop, done, failed) = (db.clone(), stop.clone(), done.clone(), failed.clone());
            let ids = ids.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let sql = statements(&ids, claim);
                    let ok = db.conn().ok().and_then(|mut conn| {
                        conn.write(|c: &mut DbConn| {
                            for s in &sql {
                                diesel::sql_query(s).execute(c)?;
                            }
                            Ok::<_, diesel::result::Error>(())
                        })
                        .ok()
                    });
                    if ok.is_some() {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "tps": n as f64 / elapsed,
            "transactions": n,
            "failed": failed.load(Ordering::Relaxed),
            "clients": clients,
            "secs": elapsed,
        })
    );
    Ok(())
}

async fn bare_handler(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "user_id": user.user_id.to_string() }))
}

fn bare(url: &str, bind: &str, secret: &str) -> anyhow::Result<()> {
    let state = web::Data::new(AppState::new(
        open(url)?,
        TokenKeys::new(secret.as_bytes(), 3600),
    ));
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/bench/bare", web::get().to(bare_handler))
        })
        .bind(bind)?
        .run()
        .await
    })?;
    Ok(())
}

fn parse_835(file: &str, repeat: usize) -> anyhow::Result<()> {
    let bytes = std::fs::read(file)?;
    let mut best = f64::MAX;
    let mut claims = 0;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let r = officina::billing::x12::reader::remit835::read_remittances(&bytes)
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        best = best.min(t.elapsed().as_secs_f64());
        claims = r.iter().map(|x| x.claims.len()).sum::<usize>();
    }
    println!(
        "{}",
        serde_json::json!({ "secs": best, "claims": claims, "bytes": bytes.len() })
    );
    Ok(())
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Nullable<Text>)]
    r: Option<String>,
}

fn select_batch(url: &str, org: &str, batch: &str, repeat: usize) -> anyhow::Result<()> {
    let db = open(url)?;
    let (org, batch) = (checked(org)?, checked(batch)?);
    let claims_q = format!(
        "SELECT c.id || '|' || c.status || '|' || c.patient_control_number || '|' || c.diagnoses \
         || '|' || c.place_of_service || '|' || c.frequency_code || '|' || c.total_charge_cents \
         || '|' || COALESCE(c.rendering_provider_id, '') || '|' || COALESCE(c.prior_authorization, '') \
         || '|' || p.last_name || '|' || p.first_name || '|' || p.birth_date || '|' || p.sex \
         || '|' || COALESCE(p.address_line1, '') || '|' || COALESCE(p.city, '') \
         || '|' || COALESCE(p.state, '') || '|' || COALESCE(p.postal_code, '') \
         || '|' || v.member_id || '|' || v.priority || '|' || v.relationship AS r \
         FROM batch_claims b JOIN claims c ON c.id = b.claim_id \
         JOIN patients p ON p.id = c.patient_id JOIN coverages v ON v.id = c.coverage_id \
         WHERE b.org_id = '{org}' AND b.batch_id = '{batch}' ORDER BY c.patient_control_number"
    );
    let lines_q = format!(
        "SELECT l.claim_id || '|' || l.line_number || '|' || l.procedure_code || '|' || l.modifiers \
         || '|' || l.diagnosis_pointers || '|' || l.units || '|' || l.charge_cents || '|' \
         || l.service_date || '|' || l.line_control_number AS r \
         FROM batch_claims b JOIN claim_lines l ON l.org_id = b.org_id AND l.claim_id = b.claim_id \
         WHERE b.org_id = '{org}' AND b.batch_id = '{batch}' ORDER BY l.claim_id, l.line_number"
    );
    let mut conn = db.conn()?;
    let mut best = f64::MAX;
    let (mut claims, mut lines, mut bytes) = (0, 0, 0);
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let a: Vec<Row> =
            officina::on_inner!(&mut **conn, |c| diesel::sql_query(&claims_q).load::<Row>(c))?;
        let b: Vec<Row> =
            officina::on_inner!(&mut **conn, |c| diesel::sql_query(&lines_q).load::<Row>(c))?;
        best = best.min(t.elapsed().as_secs_f64());
        claims = a.len();
        lines = b.len();
        bytes = a
            .iter()
            .chain(b.iter())
            .map(|r| r.r.as_deref().map_or(0, str::len))
            .sum::<usize>();
    }
    println!(
        "{}",
        serde_json::json!({ "secs": best, "claims": claims, "lines": lines, "bytes": bytes })
    );
    Ok(())
}
