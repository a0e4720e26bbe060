//! The connection pool when things go wrong: the database server dropped its sessions (a
//! restart, a failover, an administrator's `pg_terminate_backend`; PostgreSQL only, a SQLite
//! connection has no server to lose), a write panicked on SQLite's writer, another process holds
//! SQLite's write lock.

use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};
use officina::auth::Role;
use officina::config::DatabaseUrl;

use officina::db::Db;
use officina::error::AppError;

use crate::helpers::{TestApp, TestDb};

/// Ends every other session on the app's database, as a server restart would.
fn terminate_app_sessions(url: &str) {
    let mut admin = diesel::PgConnection::establish(url).unwrap();
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut admin)
    .unwrap();
}

/// The app's SQLite database, or `None` (with a note) on PostgreSQL.
fn sqlite_url(app: &TestApp, why: &str) -> Option<DatabaseUrl> {
    sqlite_url_of(&app.test_db, why)
}

/// The test database's SQLite URL, or `None` (with a note) on PostgreSQL.
fn sqlite_url_of(test_db: &TestDb, why: &str) -> Option<DatabaseUrl> {
    match &test_db.url {
        url @ DatabaseUrl::Sqlite(_) => Some(url.clone()),
        DatabaseUrl::Postgres(_) => {
            eprintln!("skipped: SQLite only ({why})");
            None
        }
    }
}

fn postgres_url(app: &TestApp) -> Option<String> {
    match &app.test_db.url {
        DatabaseUrl::Postgres(url) => Some(url.clone()),
        DatabaseUrl::Sqlite(_) => {
            eprintln!("skipped: PostgreSQL only (a SQLite connection has no server to lose)");
            None
        }
    }
}

/// Busy connections are handed out without a `SELECT 1`; one whose server went away answers
/// its request with a 503 problem (retry), never a 500, and is dropped instead of going back to
/// the pool, so the app recovers by itself within one request per pooled connection.
#[tokio::test]
async fn a_connection_the_server_closed_answers_503_once_and_is_replaced() {
    let app = TestApp::spawn().await;
    let Some(url) = postgres_url(&app) else {
        return;
    };
    let org = app.seed_org("Pool").await;
    let token = org.token(Role::Lab);
    for _ in 0..4 {
        assert_eq!(app.get("/api/v1/specimens", token).await.status, 200);
    }
    terminate_app_sessions(&url);
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let res = app.get("/api/v1/specimens", token).await;
        if res.status == 503 {
            res.assert_problem(503);
        }
        statuses.push(res.status.as_u16());
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "only 200 or 503: {statuses:?}"
    );
    // At most one failure per connection the pool held (16), then only successes.
    let failures = statuses.iter().filter(|s| **s == 503).count();
    assert!(failures <= 16, "{failures} failures: {statuses:?}");
    assert!(
        statuses[statuses.len() - 20..].iter().all(|s| *s == 200),
        "recovered: {statuses:?}"
    );
}

/// A connection idle for more than two seconds is checked (`SELECT 1`) before it is handed out,
/// so after a quiet spell a dead connection is replaced before any request sees it.
#[tokio::test]
async fn an_idle_connection_is_checked_before_use() {
    let app = TestApp::spawn().await;
    let Some(url) = postgres_url(&app) else {
        return;
    };
    let org = app.seed_org("Pool").await;
    let token = org.token(Role::Lab);
    assert_eq!(app.get("/api/v1/specimens", token).await.status, 200);
    terminate_app_sessions(&url);
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    for _ in 0..5 {
        let res = app.get("/api/v1/specimens", token).await;
        assert_eq!(res.status, 200, "{}", res.text);
    }
}

/// A write on `conn` that runs a statement, then panics (the panic is caught here).
fn panic_in_a_write(conn: &mut officina::db::PoolConn) {
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = conn.write(|c| -> Result<(), diesel::result::Error> {
            diesel::sql_query("SELECT 1").execute(c)?;
            panic!("a bug in the middle of a write");
        });
    }));
    assert!(panicked.is_err());
}

/// A write that panicked while it held SQLite's writer connection leaves neither an open
/// transaction nor a locked database behind: the next write gets a fresh writer.
#[tokio::test]
async fn a_write_that_panicked_leaves_the_sqlite_writer_usable() {
    let app = TestApp::spawn().await;
    let Some(url) = sqlite_url(&app, "one writer connection per pool") else {
        return;
    };
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        panic_in_a_write(&mut conn);
        conn.write(|c| diesel::sql_query("SELECT 1").execute(c))
            .expect("the next write runs");
        // Nothing holds the write lock: another connection takes it without waiting.
        let mut other = officina::db::connect_once(&url).unwrap();
        other
            .batch_execute("PRAGMA busy_timeout = 0; BEGIN IMMEDIATE; COMMIT;")
            .expect("the database is not left locked");
    })
    .await
    .unwrap();
}

/// After a write panicked, the pool's writer is one connection again: the write after the
/// recovery and the one after it share a connection (a TEMP table, which only its connection
/// sees, survives from one to the next).
#[tokio::test]
async fn after_a_panic_the_sqlite_writer_is_kept_again() {
    let app = TestApp::spawn().await;
    if sqlite_url(&app, "one writer connection per pool").is_none() {
        return;
    }
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        panic_in_a_write(&mut conn);
        conn.write(|c| c.batch_execute("CREATE TEMP TABLE seen_by_this_connection (x INTEGER)"))
            .expect("the next write runs");
        conn.write(|c| {
            diesel::sql_query("SELECT x FROM seen_by_this_connection")
                .execute(c)
                .map(|_| ())
        })
        .expect("the write after it runs on the same writer connection");
    })
    .await
    .unwrap();
}

/// A SQLite database another process holds locked past the busy timeout answers `503` (retry
/// later), not `500`, and the registration is not written.
#[tokio::test]
async fn a_sqlite_database_locked_by_another_process_answers_503() {
    use crate::lab::specimen_body;
    use crate::patients::create_patient;
    let app = TestApp::spawn().await;
    let Some(url) = sqlite_url(&app, "a file lock held by another process") else {
        return;
    };
    let org = app.seed_org("Clinic").await;
    let p = create_patient(&app, &org, "Maria", "Lopez", "1984-03-12").await;
    // Another process (the CLI, say) takes the write lock and keeps it.
    let mut other = officina::db::connect_once(&url).unwrap();
    other.batch_execute("BEGIN IMMEDIATE").unwrap();
    let res = app
        .post(
            "/api/v1/specimens",
            org.token(Role::Lab),
            &specimen_body(p["id"].as_str().unwrap(), false),
        )
        .await;
    res.assert_problem(503);
    other.batch_execute("ROLLBACK").unwrap();
    let list = app
        .get(
            &format!("/api/v1/specimens?patient_id={}", p["id"].as_str().unwrap()),
            org.token(Role::Lab),
        )
        .await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        0,
        "{}",
        list.text
    );
}

/// The thread a read by key ran on, and the thread that asked for it.
async fn read_by_key_threads(db: &Db) -> (std::thread::ThreadId, std::thread::ThreadId) {
    let asked = std::thread::current().id();
    let ran = db
        .read_by_key(|c| {
            diesel::sql_query("SELECT 1").execute(c)?;
            Ok(std::thread::current().id())
        })
        .await
        .expect("the read runs");
    (asked, ran)
}

/// A read by key on SQLite runs on the thread that asked for it when the pool has a connection
/// idle (no trip to the blocking pool); on PostgreSQL, whose reads wait on the network, always in
/// the blocking pool.
#[tokio::test]
async fn a_read_by_key_runs_on_the_calling_thread_on_sqlite_only() {
    let test_db = TestDb::new();
    let db = Db::connect(&test_db.url).unwrap();
    let (asked, ran) = read_by_key_threads(&db).await;
    match test_db.url {
        DatabaseUrl::Sqlite(_) => assert_eq!(asked, ran, "SQLite: on the calling thread"),
        DatabaseUrl::Postgres(_) => assert_ne!(asked, ran, "PostgreSQL: in the blocking pool"),
    }
}

/// With every pooled connection in use, a read by key does not wait on the calling thread (an
/// async worker, which would stop serving meanwhile): it waits in the blocking pool for a
/// connection, like any read, and runs there.
#[tokio::test]
async fn a_read_by_key_waits_in_the_blocking_pool_when_no_connection_is_idle() {
    let test_db = TestDb::new();
    let Some(_) = sqlite_url_of(
        &test_db,
        "PostgreSQL reads by key always go to the blocking pool",
    ) else {
        return;
    };
    let db = Db::connect(&test_db.url).unwrap();
    let pool = db.pool().clone();
    let held: Vec<_> = (0..pool.max_size()).map(|_| pool.get().unwrap()).collect();
    let reader = tokio::spawn({
        let db = db.clone();
        async move { read_by_key_threads(&db).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!reader.is_finished(), "the read waits for a connection");
    drop(held);
    let (asked, ran) = reader.await.unwrap();
    assert_ne!(asked, ran, "it ran in the blocking pool");
}

/// A read by key that panics answers an internal error instead of taking its thread down; on
/// SQLite the connection it ran on is dropped rather than pooled again (a TEMP table it made,
/// which only that connection sees, is gone), and the pool goes on serving.
#[tokio::test]
async fn a_read_by_key_that_panicked_answers_an_error_and_its_connection_is_dropped() {
    let test_db = TestDb::new();
    let db = Db::connect(&test_db.url).unwrap();
    let failed = db
        .read_by_key(|c| -> Result<(), AppError> {
            c.batch_execute("CREATE TEMP TABLE made_before_the_panic (x INTEGER)")?;
            panic!("a bug in a read")
        })
        .await;
    assert!(matches!(failed, Err(AppError::Internal(_))), "{failed:?}");
    for _ in 0..3 {
        read_by_key_threads(&db).await;
    }
    if sqlite_url_of(&test_db, "on PostgreSQL the read ran in the blocking pool").is_some() {
        let seen = db
            .read_by_key(|c| {
                Ok(c.batch_execute("SELECT x FROM made_before_the_panic")
                    .is_ok())
            })
            .await
            .unwrap();
        assert!(!seen, "the connection the panic left was not pooled again");
    }
}
