//! Write lanes sending their batches pipelined (`db::lanes`, `db::combine::SendPipelined`): on
//! PostgreSQL, registrations after the first are sent on a lane's own connection while the batch
//! before them still runs; numbers stay gapless and in order, a batch that finds the counter moved
//! is written on the pool with the ones sent after it, a lost connection is replaced, and a batch
//! whose outcome is unknown is never written again. On SQLite the same requests answer the same
//! numbers through the pool.

use std::collections::BTreeSet;

use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use futures_util::future::{LocalBoxFuture, ready};
use officina::db::DbConn;
use officina::db::combine::{Combiner, Sent};
use officina::error::AppError;
use officina::lab::domain::Accession;

use crate::helpers::{Org, TestApp};
use crate::lab::{next_seq, register, registration_rows};
use crate::patients::create_patient;
use crate::pipeline::{Backend, backends_named};

/// The test database's write lane connections (by their `application_name`) and the last
/// statement of each; `None` where registrations are not sent pipelined (SQLite, or a PostgreSQL
/// the pipeline does not use).
fn lane_backends(app: &TestApp) -> Option<Vec<Backend>> {
    app.db.pipeline()?;
    backends_named(app, "officina-lane")
}

/// An app whose database has pipelined lanes; `None`, saying the test skipped, without them.
async fn app_with_lanes() -> Option<TestApp> {
    let app = TestApp::spawn().await;
    if app.db.pipeline().is_none() {
        eprintln!("skipped: no pipelined lanes on this database");
        return None;
    }
    Some(app)
}

/// Batches committed pipelined so far; `None` without a pipeline.
fn lane_batches(app: &TestApp) -> Option<u64> {
    app.db.pipeline().map(|p| p.lane_batches())
}

/// `n` registrations of `patient` at once: their accession numbers' sequences.
async fn register_at_once(app: &TestApp, org: &Org, patient: &str, n: usize) -> BTreeSet<u64> {
    let all = (0..n).map(|_| register(app, org, patient, false));
    futures_util::future::join_all(all)
        .await
        .iter()
        .map(|s| {
            Accession::parse(s["accession_number"].as_str().unwrap())
                .unwrap()
                .seq
        })
        .collect()
}

/// The one lane connection's backend, after checking its last statement was a registration batch.
fn the_lane_backend(app: &TestApp) -> i32 {
    let backends = lane_backends(app).expect("a lane");
    assert_eq!(backends.len(), 1, "one lane connection");
    assert!(
        backends[0].query.starts_with("WITH w0 AS (UPDATE counters"),
        "{}",
        backends[0].query
    );
    backends[0].pid
}

#[tokio::test]
async fn registrations_on_postgresql_are_sent_on_a_lane_connection_numbered_gapless() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap().to_owned();
    // No number committed yet: the first is taken in a transaction on the pool.
    assert_eq!(next_seq(&app, &org, &pid).await, 1);
    assert_eq!(lane_batches(&app).unwrap_or(0), 0);
    let seqs = register_at_once(&app, &org, &pid, 40).await;
    assert_eq!(seqs, (2..=41).collect());
    assert_eq!(
        registration_rows(&app, &org).await,
        [41, 41, 41, 41],
        "specimens, registration events, audit rows and the counter"
    );
    if lane_backends(&app).is_none() {
        eprintln!("no lane on this database: the registrations were written on the pool");
        return;
    }
    let batches = lane_batches(&app).unwrap();
    assert!(
        (1..=40).contains(&batches),
        "{batches} batches committed pipelined"
    );
    the_lane_backend(&app);
}

#[tokio::test]
async fn a_pipelined_batch_that_finds_the_counter_moved_is_written_on_the_pool_and_so_are_the_next()
{
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap().to_owned();
    assert_eq!(next_seq(&app, &org, &pid).await, 1);
    assert_eq!(next_seq(&app, &org, &pid).await, 2);
    let pipelined = lane_batches(&app);
    if pipelined.is_some() {
        assert_eq!(pipelined, Some(1), "the second was sent pipelined");
    }
    // Another process of the same practice takes numbers 3 to 7 meanwhile: the next batch sent
    // expects the counter at 2, fails having written nothing, and so does any batch sent after
    // it before its failure was known.
    crate::concurrency::execute_sql(
        &app.db,
        format!(
            "UPDATE counters SET value = value + 5 WHERE org_id = '{}' AND name LIKE 'accession:%'",
            org.id
        ),
    )
    .await;
    let seqs = register_at_once(&app, &org, &pid, 10).await;
    assert_eq!(
        seqs,
        (8..=17).collect(),
        "after the other writer's, none lost"
    );
    assert_eq!(registration_rows(&app, &org).await, [12, 12, 12, 17]);
    // Pipelined again from where the pool left the counter.
    let before = lane_batches(&app);
    assert_eq!(next_seq(&app, &org, &pid).await, 18);
    if let Some(before) = before {
        assert_eq!(lane_batches(&app), Some(before + 1));
    }
}

#[tokio::test]
async fn a_lane_connection_the_server_closed_is_replaced_and_no_registration_fails() {
    let app = TestApp::spawn().await;
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    let pid = p["id"].as_str().unwrap().to_owned();
    assert_eq!(next_seq(&app, &org, &pid).await, 1);
    assert_eq!(next_seq(&app, &org, &pid).await, 2);
    if lane_backends(&app).is_none() {
        eprintln!("skipped: registrations are not sent pipelined on this database");
        return;
    }
    let first = the_lane_backend(&app);
    crate::concurrency::execute_sql(&app.db, format!("SELECT pg_terminate_backend({first})")).await;
    // Until the backend is gone, and the lane's client has seen its socket close.
    let mut tries = 0;
    while lane_backends(&app).unwrap().iter().any(|b| b.pid == first) {
        tries += 1;
        assert!(tries < 500, "the backend never went away");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(next_seq(&app, &org, &pid).await, 3);
    assert_eq!(next_seq(&app, &org, &pid).await, 4);
    let second = the_lane_backend(&app);
    assert_ne!(second, first, "a new connection");
    assert_eq!(lane_batches(&app), Some(3));
    assert_eq!(registration_rows(&app, &org).await, [4, 4, 4, 4]);
}

/// How many times [`count_write_all`] ran.
static POOL_WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A transaction's write that answers each item with itself, counting its runs.
fn count_write_all(_: &mut DbConn, items: &[u32]) -> Result<Vec<u32>, AppError> {
    POOL_WRITES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Ok(items.to_vec())
}

/// A pipelined send that declines (0), is refused by the server having written nothing (1),
/// loses the connection (2, outcome unknown), panics (3), gives a wrong count of answers (4),
/// or commits (5).
fn scripted_send<'c>(
    _: &'c AsyncPgConnection,
    items: &[u32],
) -> Result<Option<Sent<'c, u32>>, AppError> {
    let written: LocalBoxFuture<'c, Result<(), AppError>> = match items.first() {
        Some(0) => return Ok(None),
        Some(1) => ready(Err(AppError::internal("refused"))).boxed_local(),
        Some(2) => ready(Err(AppError::Unavailable("connection lost".into()))).boxed_local(),
        Some(3) => panic!("a pipelined send that panics"),
        Some(4) => {
            return Ok(Some(Sent {
                answers: Vec::new(),
                written: ready(Ok(())).boxed_local(),
            }));
        }
        _ => ready(Ok(())).boxed_local(),
    };
    Ok(Some(Sent {
        answers: items.to_vec(),
        written,
    }))
}

#[tokio::test]
async fn a_pipelined_batch_whose_outcome_is_unknown_is_never_written_again() {
    use std::sync::atomic::Ordering::SeqCst;
    let Some(app) = app_with_lanes().await else {
        return;
    };
    let lane = Combiner::new(count_write_all).pipelined(scripted_send);
    // (item, answered, written on the pool)
    for (item, answered, on_pool) in [
        (0, true, true),
        (1, true, true),
        (2, false, false),
        (3, true, true),
        (4, true, true),
        (5, true, false),
    ] {
        let before = POOL_WRITES.load(SeqCst);
        let answer = lane.submit(&app.db, officina::db::OrgId::new(), item).await;
        assert_eq!(answer.is_ok(), answered, "item {item}: {answer:?}");
        if let Ok(answer) = answer {
            assert_eq!(answer, item);
        }
        assert_eq!(
            POOL_WRITES.load(SeqCst) - before,
            usize::from(on_pool),
            "item {item}"
        );
    }
}

/// What [`controlled_send`] sent and [`record_write_all`] wrote on the pool, in order, and each
/// batch's outcome, given by the test.
static SENT: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());
static POOLED: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());
type Outcome = tokio::sync::oneshot::Receiver<Result<(), AppError>>;
static OUTCOMES: std::sync::Mutex<Vec<(u32, Outcome)>> = std::sync::Mutex::new(Vec::new());

fn record_write_all(_: &mut DbConn, items: &[u32]) -> Result<Vec<u32>, AppError> {
    POOLED.lock().unwrap().extend(items);
    Ok(items.to_vec())
}

/// A pipelined send whose outcome comes when the test says (by the batch's first item).
fn controlled_send<'c>(
    _: &'c AsyncPgConnection,
    items: &[u32],
) -> Result<Option<Sent<'c, u32>>, AppError> {
    SENT.lock().unwrap().extend(items);
    let mut outcomes = OUTCOMES.lock().unwrap();
    let at = outcomes
        .iter()
        .position(|(item, _)| Some(item) == items.first())
        .expect("an outcome for each batch");
    let (_, outcome) = outcomes.remove(at);
    let written = async move {
        outcome
            .await
            .unwrap_or_else(|_| Err(AppError::internal("the test dropped the outcome")))
    };
    Ok(Some(Sent {
        answers: items.to_vec(),
        written: written.boxed_local(),
    }))
}

/// Waits until `list` holds `want`.
async fn until(list: &std::sync::Mutex<Vec<u32>>, want: &[u32]) {
    for _ in 0..500 {
        if list.lock().unwrap().as_slice() == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("never {want:?}: {:?}", list.lock().unwrap());
}

#[tokio::test]
async fn after_a_pipelined_batch_fails_nothing_is_sent_until_the_batches_before_are_answered() {
    use tokio::sync::oneshot;
    let Some(app) = app_with_lanes().await else {
        return;
    };
    let lane = Combiner::new(record_write_all).pipelined(controlled_send);
    let org = officina::db::OrgId::new();
    let mut outcome = Vec::new();
    for item in [10, 11, 12] {
        let (tx, rx) = oneshot::channel();
        OUTCOMES.lock().unwrap().push((item, rx));
        outcome.push(tx);
    }
    let [done10, done11, done12]: [_; 3] = outcome.try_into().ok().unwrap();
    let submit = |item: u32| {
        let (lane, db) = (lane.clone(), app.db.clone());
        tokio::spawn(async move { lane.submit(&db, org, item).await })
    };
    // Two batches in flight; the third waits for room.
    let a10 = submit(10);
    until(&SENT, &[10]).await;
    let a11 = submit(11);
    until(&SENT, &[10, 11]).await;
    let a12 = submit(12);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(*SENT.lock().unwrap(), [10, 11], "at most two in flight");
    // The first wrote nothing: it is written on the pool, and 12 is not sent before 11 is
    // answered (it would otherwise take its numbers before 11, should 11 fail too).
    done10.send(Err(AppError::internal("refused"))).unwrap();
    until(&POOLED, &[10]).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        *SENT.lock().unwrap(),
        [10, 11],
        "nothing sent while 11 is unanswered"
    );
    done11.send(Err(AppError::internal("refused"))).unwrap();
    until(&POOLED, &[10, 11]).await;
    until(&SENT, &[10, 11, 12]).await;
    done12.send(Ok(())).unwrap();
    for (answer, item) in [(a10, 10), (a11, 11), (a12, 12)] {
        assert_eq!(answer.await.unwrap().unwrap(), item);
    }
    assert_eq!(
        *POOLED.lock().unwrap(),
        [10, 11],
        "the committed one is not written again"
    );
}
