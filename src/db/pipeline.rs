//! PostgreSQL reads by key (a patient's page of specimens, a registration's checks and a code
//! search's table generation too) through one pipelined connection per server worker.
//!
//! A read by key on the pool costs a thread hop (the blocking pool) and a round trip in which the
//! connection's PostgreSQL backend is woken for one query. On a loaded server the switches between
//! those threads and processes cost more than the query (see BENCHMARKS.md). Here each actix
//! worker thread keeps one asynchronous connection (diesel-async over tokio-postgres) and every
//! request the worker is serving sends its query on it at once: queries in flight together go out
//! together and PostgreSQL answers them in order without waiting for the client between them
//! (pipelining), all on the worker's own thread.
//!
//! Only reads that answer a request from one row found by key, or from one short page of rows
//! read in index order ([`Pipeline::page`]: a patient's specimens), the checks of a
//! registration before it joins its batch and a code search's table generation (one row by key
//! each), go this way, and only as a
//! fast path: [`Pipeline::first`] and [`Pipeline::page`] answer `None` for anything they cannot
//! give (no connection yet, a failure, a timeout, no row), and the caller then runs its ordinary
//! read on the pool, which answers every other outcome (a refusal, a `404`) as before. Nothing that writes, and nothing
//! in a transaction, uses it (write lanes send their batches on connections of their own,
//! [`super::lanes`], where this pipeline is used).
//!
//! Where it is used ([`Pipeline::for_url`]): tokio-postgres speaks no TLS here, so only with
//! `sslmode=disable`, or `prefer` (libpq's default) towards a Unix socket or a loopback address,
//! one host named in the URL. tokio-postgres reads its settings from the URL only, where libpq also
//! reads `PG*` variables and service files; so a connection, once open, must reach the same
//! server, database, user and `search_path` as the pool ([`Pipeline::identify`]), or it is closed
//! and the worker keeps its reads on the pool (trying again later, as after any failure). Each
//! read gives up after [`READ_TIMEOUT`] (the server's `statement_timeout` a little sooner, so a
//! read stuck behind a lock leaves no session behind); the worker then reads on the pool and
//! opens a new connection after [`RETRY_AFTER`], doubling the wait after each failure to open
//! one, up to [`RETRY_MAX`]. `OFFICINA_PG_PIPELINE=off` turns the path off, and the write lanes' with it.

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::rt::time::timeout;
use diesel::sql_types::Text;
use diesel_async::methods::LoadQuery;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use tokio_postgres::config::{Host, SslMode, SslNegotiation};

/// How long a worker waits before opening a connection again after it was lost; doubled after
/// each failure to open one, up to [`RETRY_MAX`].
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// The longest wait between two attempts to open a connection.
const RETRY_MAX: Duration = Duration::from_secs(120);
/// The longest wait for a connection to open.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest wait for a pipelined read (queued behind the worker's others included); past it
/// the connection is dropped and the pool answers.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// The most rows a pipelined read returns: a list's default page (50) and its look-ahead row.
pub const PAGE_ROWS: usize = crate::http::pagination::DEFAULT_LIMIT as usize + 1;
/// The pipelined sessions' `statement_timeout`: the server ends a read a little before the
/// client gives up on it, so a read waiting on a lock does not outlive its connection.
const STATEMENT_TIMEOUT: &str = "1900ms";
/// A write lane's `statement_timeout` ([`Pipeline::open_lane`]): a batch waiting that long (for
/// the counter's row, held by another writer) is ended by the server, having written nothing,
/// and its items are written on the pool instead.
pub const LANE_STATEMENT_TIMEOUT: &str = "5s";

/// How the pipelined sessions plan their prepared statements: with the parameters left open (a
/// generic plan), built at a statement's first execution on the connection and kept until
/// PostgreSQL invalidates it (an `ANALYZE` or `VACUUM` of a table it reads, autovacuum's
/// included, or a schema change), never for the values of one execution. Every query here
/// ([`PipelinedQuery`]) finds its rows through an index that holds all of its conditions and its
/// order (a key; a patient's specimens by `(org_id, patient_id, id)`), plus the caller check,
/// which reads `users` and `revoked_tokens` by key once per statement: the best plan does not
/// depend on the values. Under PostgreSQL's default (`auto`), a query whose generic plan
/// PostgreSQL judged dearer than a custom one (the page of a patient's specimens, once the table
/// held thousands of other patients' rows) was planned again at every execution, about 0.1 ms,
/// more than the read itself, on the one backend every request of the worker waits on
/// (BENCHMARKS.md, *What was fixed*). The pool's sessions keep `auto`. PostgreSQL 12 or later
/// (before, the `SET` fails, so the connection never opens and every read stays on the pool).
const PLAN_CACHE_MODE: &str = "force_generic_plan";

/// What identifies the server, database, user and schema path a connection reached; the pool's
/// and the pipeline's must be equal. Nothing in it changes when the server restarts, nor depends
/// on the session's `DateStyle` (the address and port are NULL, and left out, on a Unix socket;
/// the server's configured port tells two clusters on one host apart there).
const IDENTITY_SQL: &str = "concat_ws(' ', current_database(), current_user, \
     inet_server_addr(), inet_server_port(), current_setting('port'), \
     current_setting('search_path'))";

/// A query the pipelined connection can load into rows of `U`: what [`Pipeline::first`] and
/// [`Pipeline::page`] read (any diesel query on PostgreSQL's tables with its binds owned). The
/// connection plans it once for every value ([`PLAN_CACHE_MODE`]), so only a query whose best
/// plan is the same for all its values belongs here: rows found by a key, or read in the order of
/// an index that holds all of the query's conditions.
pub trait PipelinedQuery<U>:
    for<'c> LoadQuery<'static, &'c AsyncPgConnection, U> + 'static
{
}

impl<U, Q> PipelinedQuery<U> for Q where
    Q: for<'c> LoadQuery<'static, &'c AsyncPgConnection, U> + 'static
{
}

/// The row of a read by a unique key ([`Pipeline::page`] gives a page): at most one, checked in
/// debug builds.
pub fn by_key<U>(rows: Vec<U>) -> Option<U> {
    debug_assert!(rows.len() <= 1, "a pipelined read is by a unique key");
    rows.into_iter().next()
}

/// Where the workers' pipelined connections go, and what they answered.
#[derive(Clone)]
pub struct Pipeline {
    url: Arc<str>,
    /// What the pool's connections reached ([`IDENTITY_SQL`]).
    identity: Arc<str>,
    counts: Arc<Counts>,
}

/// Requests the pipeline answered (a row or page found and accepted), connections it dropped
/// after a failure, and write lanes' batches committed pipelined ([`super::lanes`]) (for tests
/// and operators' curiosity; not exported as metrics).
#[derive(Default)]
struct Counts {
    answered: AtomicU64,
    dropped: AtomicU64,
    lane_batches: AtomicU64,
}

/// Why a PostgreSQL URL keeps its reads on the pool (logged once at start-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotUsed {
    /// The database is SQLite (its reads by key already run on the worker).
    Sqlite,
    /// `OFFICINA_PG_PIPELINE=off`.
    TurnedOff,
    /// tokio-postgres cannot read the URL (a libpq-only parameter or `sslmode`).
    Unreadable,
    /// The URL names no host or several (libpq would choose; the pipeline does not).
    NotOneHost,
    /// TLS is asked for, or is libpq's default towards a host that is not this one.
    WantsTls,
    /// The pool's connection could not tell which server it reached.
    NoIdentity,
}

impl std::fmt::Display for NotUsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "the database is SQLite",
            Self::TurnedOff => "OFFICINA_PG_PIPELINE=off",
            Self::Unreadable => "the URL has a parameter the pipelined client does not read",
            Self::NotOneHost => "the URL does not name exactly one host",
            Self::WantsTls => "the URL asks for TLS, or may use it towards another host",
            Self::NoIdentity => "the pool's connection could not name its server",
        })
    }
}

impl Pipeline {
    /// Whether `url` may be read through the pipeline (see the module's documentation); the
    /// identity is set by [`Pipeline::identify`].
    pub fn for_url(url: &str) -> Result<Self, NotUsed> {
        let config = tokio_postgres::Config::from_str(url).map_err(|_| NotUsed::Unreadable)?;
        let [host] = config.get_hosts() else {
            return Err(NotUsed::NotOneHost);
        };
        let local = match host {
            Host::Unix(_) => true,
            Host::Tcp(name) => {
                name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
            }
        } && config.get_hostaddrs().iter().all(|ip| ip.is_loopback());
        let plain = match config.get_ssl_mode() {
            SslMode::Disable => true,
            SslMode::Prefer => local && config.get_ssl_negotiation() == SslNegotiation::Postgres,
            _ => false,
        };
        if !plain {
            return Err(NotUsed::WantsTls);
        }
        Ok(Self {
            url: url.into(),
            identity: "".into(),
            counts: Arc::default(),
        })
    }

    /// Records what the pool's connection `conn` reached: server, database, user and
    /// `search_path`.
    pub fn identify(mut self, conn: &mut diesel::PgConnection) -> Result<Self, NotUsed> {
        use diesel::RunQueryDsl;
        let identity: String = diesel::select(diesel::dsl::sql::<Text>(IDENTITY_SQL))
            .get_result(conn)
            .map_err(|_| NotUsed::NoIdentity)?;
        self.identity = identity.into();
        Ok(self)
    }

    /// Reads answered through the pipeline, and connections dropped after a failure, so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.counts.answered.load(Ordering::Relaxed),
            self.counts.dropped.load(Ordering::Relaxed),
        )
    }

    /// The one row of `query`, a read by key, through this worker's connection; `None` when
    /// there is no row or the pipeline cannot answer (the caller then reads on the pool).
    pub async fn first<Q, U>(&self, query: Q) -> Option<U>
    where
        Q: PipelinedQuery<U>,
        U: Send,
    {
        let row = by_key(self.page(query).await?);
        self.answered();
        row
    }

    /// The rows of `query`, one short page read in the order of an index (a `LIMIT` of at most
    /// [`PAGE_ROWS`], as a list's default page and its look-ahead row), through this worker's
    /// connection; `None` when there is no row or the pipeline cannot answer (the caller then
    /// reads on the pool). Anything longer would hold up the reads queued behind it on the
    /// connection. The caller counts the request as answered ([`Pipeline::answered`]) once it
    /// accepts the rows.
    pub async fn page<Q, U>(&self, query: Q) -> Option<Vec<U>>
    where
        Q: PipelinedQuery<U>,
        U: Send,
    {
        use diesel_async::RunQueryDsl;
        let conn = self.connection().await?;
        let mut shared: &AsyncPgConnection = &conn;
        match timeout(READ_TIMEOUT, query.load(&mut shared)).await {
            Ok(Ok(rows)) if rows.is_empty() => None,
            Ok(Ok(rows)) => {
                debug_assert!(rows.len() <= PAGE_ROWS, "a pipelined page is short");
                Some(rows)
            }
            failed => {
                // The first request here drops the connection and says so; the others in flight
                // on it finish (or fail) on their own.
                if self.drop_connection(&conn) {
                    match failed {
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "pipelined read failed; pipelined reads use the pool until the connection is reopened")
                        }
                        _ => tracing::warn!(
                            timeout_ms = READ_TIMEOUT.as_millis() as u64,
                            "pipelined read timed out; pipelined reads use the pool until the connection is reopened"
                        ),
                    }
                }
                None
            }
        }
    }

    /// Write lanes' batches committed pipelined so far ([`super::lanes`]).
    pub fn lane_batches(&self) -> u64 {
        self.counts.lane_batches.load(Ordering::Relaxed)
    }

    /// Counts a write lane's batch committed pipelined.
    pub fn lane_batch_committed(&self) {
        self.counts.lane_batches.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request answered from what [`Pipeline::page`] read.
    pub fn answered(&self) {
        self.counts.answered.fetch_add(1, Ordering::Relaxed);
    }

    /// This worker's open connection. With none, the first caller once the slot's [`wait`] is
    /// over opens one and waits for it; callers meanwhile get `None`.
    async fn connection(&self) -> Option<Rc<AsyncPgConnection>> {
        let failures = match self.with_slot(|slot| match slot {
            Slot::Open(conn) => Err(Some(conn.clone())),
            Slot::Opening => Err(None),
            Slot::Closed { since, failures }
                if since.is_some_and(|t| t.elapsed() < wait(*failures)) =>
            {
                Err(None)
            }
            Slot::Closed { failures, .. } => {
                let failures = *failures;
                *slot = Slot::Opening;
                Ok(failures)
            }
        }) {
            Ok(failures) => failures,
            Err(answer) => return answer,
        };
        // Back to `Closed` should this request be dropped while it waits.
        let mut opening = Opening {
            pipeline: self,
            failures,
            done: false,
        };
        let slot = match timeout(OPEN_TIMEOUT, self.open()).await {
            Ok(Ok(conn)) => Slot::Open(Rc::new(conn)),
            failed => {
                let error = match failed {
                    Ok(Err(Refusal::Failed(e))) => e,
                    Ok(Err(Refusal::OtherServer)) => "it reached another server, database, user or search_path than the pool (libpq's PG* variables, a service file?)".to_owned(),
                    _ => format!("no connection within {} s", OPEN_TIMEOUT.as_secs()),
                };
                let retry_s = wait(failures + 1).as_secs();
                if failures == 0 {
                    tracing::warn!(%error, retry_s, "pipelined PostgreSQL connection failed; pipelined reads use the pool until it opens");
                } else {
                    tracing::debug!(%error, failures, retry_s, "pipelined PostgreSQL connection failed again");
                }
                Slot::Closed {
                    since: Some(Instant::now()),
                    failures: failures + 1,
                }
            }
        };
        opening.done = true;
        let conn = match &slot {
            Slot::Open(conn) => Some(conn.clone()),
            _ => None,
        };
        self.with_slot(|s| *s = slot);
        conn
    }

    /// Opens a worker's connection and checks it reached what the pool did.
    async fn open(&self) -> Result<AsyncPgConnection, Refusal> {
        self.open_named("officina-pipeline", STATEMENT_TIMEOUT)
            .await
    }

    /// Opens a connection for a write lane ([`super::lanes`]), checked as a worker's is, named
    /// `officina-lane`, its statements ended by the server after [`LANE_STATEMENT_TIMEOUT`].
    pub async fn open_lane(&self) -> Result<AsyncPgConnection, String> {
        self.open_named("officina-lane", LANE_STATEMENT_TIMEOUT)
            .await
            .map_err(|refusal| match refusal {
                Refusal::Failed(e) => e,
                Refusal::OtherServer => {
                    "it reached another server, database, user or search_path than the pool"
                        .to_owned()
                }
            })
    }

    /// The database's URL (what tells one database's connections from another's).
    pub fn url(&self) -> &Arc<str> {
        &self.url
    }

    /// Opens a session named `name` (for pg_stat_activity, and the tests that look for these
    /// connections there) whose statements the server ends after `statement_timeout`.
    async fn open_named(
        &self,
        name: &str,
        statement_timeout: &str,
    ) -> Result<AsyncPgConnection, Refusal> {
        use diesel_async::RunQueryDsl;
        let mut conn = AsyncPgConnection::establish(&self.url)
            .await
            .map_err(|e| Refusal::Failed(e.to_string()))?;
        // diesel-async sets the time zone to UTC, as `db::open` does for the pool. Generic plans
        // only ([`PLAN_CACHE_MODE`]).
        conn.batch_execute(&format!(
            "SET application_name = '{name}'; SET statement_timeout = '{statement_timeout}'; \
             SET plan_cache_mode = {PLAN_CACHE_MODE}"
        ))
        .await
        .map_err(|e| Refusal::Failed(e.to_string()))?;
        let identity: String = diesel::select(diesel::dsl::sql::<Text>(IDENTITY_SQL))
            .get_result(&mut conn)
            .await
            .map_err(|e| Refusal::Failed(e.to_string()))?;
        if identity.as_str() != &*self.identity {
            return Err(Refusal::OtherServer);
        }
        Ok(conn)
    }

    /// Closes this worker's connection after it failed, unless another request did already;
    /// true for the request that did.
    fn drop_connection(&self, failed: &Rc<AsyncPgConnection>) -> bool {
        let dropped = self.with_slot(|slot| {
            let same = matches!(slot, Slot::Open(c) if Rc::ptr_eq(c, failed));
            if same {
                *slot = Slot::Closed {
                    since: Some(Instant::now()),
                    failures: 0,
                };
            }
            same
        });
        if dropped {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
        dropped
    }

    /// `f` on this thread's slot for this pipeline's database.
    fn with_slot<T>(&self, f: impl FnOnce(&mut Slot) -> T) -> T {
        SLOTS.with(|slots| {
            let mut slots = slots.borrow_mut();
            let at = match slots.iter().position(|(url, _)| *url == self.url) {
                Some(at) => at,
                None => {
                    let closed = Slot::Closed {
                        since: None,
                        failures: 0,
                    };
                    slots.push((self.url.clone(), closed));
                    slots.len() - 1
                }
            };
            f(&mut slots[at].1)
        })
    }
}

/// Why [`Pipeline::open`] gave no connection.
#[cfg_attr(test, derive(Debug))]
enum Refusal {
    Failed(String),
    /// It reached another server, database, user or `search_path` than the pool.
    OtherServer,
}

/// One worker's connection to one database.
enum Slot {
    /// None open: never opened (`since` is `None`), or closed at `since`, to be opened again
    /// after [`wait`]`(failures)`; `failures`: attempts to open one that failed in a row.
    Closed {
        since: Option<Instant>,
        failures: u32,
    },
    /// Being opened by one request; the others read on the pool meanwhile.
    Opening,
    Open(Rc<AsyncPgConnection>),
}

/// The wait before opening a connection again after `failures` failed attempts in a row:
/// [`RETRY_AFTER`], doubled after each, at most [`RETRY_MAX`].
fn wait(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    RETRY_AFTER.saturating_mul(1 << doublings).min(RETRY_MAX)
}

/// Puts the slot back to `Closed` if the request opening it is dropped before it is done.
struct Opening<'a> {
    pipeline: &'a Pipeline,
    failures: u32,
    done: bool,
}

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        if !self.done {
            let failures = self.failures;
            // `try_with`: nothing to reset while the thread's slots are being torn down.
            let _ = SLOTS.try_with(|slots| {
                if let Some((_, slot)) = slots
                    .borrow_mut()
                    .iter_mut()
                    .find(|(url, _)| *url == self.pipeline.url)
                {
                    *slot = Slot::Closed {
                        since: None,
                        failures,
                    };
                }
            });
        }
    }
}

thread_local! {
    /// This thread's connections, by database URL (an actix worker serves one application, so
    /// in practice one entry).
    static SLOTS: RefCell<Vec<(Arc<str>, Slot)>> = const { RefCell::new(Vec::new()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(url: &str) -> Result<(), NotUsed> {
        Pipeline::for_url(url).map(|_| ())
    }

    #[test]
    fn a_database_on_this_host_or_without_tls_is_read_through_the_pipeline() {
        assert_eq!(used("postgres://u@127.0.0.1:5432/db"), Ok(()));
        assert_eq!(used("postgres://u@localhost/db?sslmode=prefer"), Ok(()));
        assert_eq!(used("postgres://u@[::1]/db"), Ok(()));
        assert_eq!(used("postgres://u@/db?host=/var/run/postgresql"), Ok(()));
        assert_eq!(used("postgres://u@db.internal/db?sslmode=disable"), Ok(()));
    }

    #[test]
    fn tls_asked_for_or_possible_towards_another_host_keeps_reads_on_the_pool() {
        // libpq's default (prefer) would encrypt; the pipeline cannot, so it is not used.
        assert_eq!(used("postgres://u@db.internal/db"), Err(NotUsed::WantsTls));
        assert_eq!(
            used("postgres://u@10.0.0.5/db?sslmode=require"),
            Err(NotUsed::WantsTls)
        );
        // Asked for explicitly, even on this host.
        assert_eq!(
            used("postgres://u@localhost/db?sslmode=require"),
            Err(NotUsed::WantsTls)
        );
        // A local name that libpq would connect to another address.
        assert_eq!(
            used("postgres://u@localhost/db?hostaddr=10.0.0.5"),
            Err(NotUsed::WantsTls)
        );
        assert_eq!(
            used("postgres://u@127.0.0.1/db?sslmode=verify-full"),
            Err(NotUsed::Unreadable)
        );
    }

    #[test]
    fn a_connection_that_keeps_failing_to_open_is_tried_less_and_less_often() {
        let waits: Vec<u64> = (0..10).map(|f| wait(f).as_secs()).collect();
        // Lost (0 failures to open) or failed once: 2 s; then doubled, at most two minutes.
        assert_eq!(waits, [2, 2, 4, 8, 16, 32, 64, 120, 120, 120]);
        assert_eq!(wait(u32::MAX), RETRY_MAX);
    }

    /// The session a worker opens: named, with the server's timeout, and planning its statements
    /// with the parameters left open from the first execution on, never for one execution's
    /// values (under PostgreSQL's default the first five executions are planned for their values,
    /// and a statement whose generic plan looks dearer at every execution). Needs PostgreSQL 14
    /// or later (`pg_prepared_statements.generic_plans`) on this host (`TEST_DATABASE_URL`); on
    /// SQLite, or a database the pipeline does not use, it says it skipped.
    #[actix_rt::test]
    async fn a_pipelined_session_never_plans_a_statement_for_the_values_of_one_execution() {
        use diesel::Connection;
        use diesel::prelude::{ExpressionMethods, QueryDsl};
        use diesel::sql_types::BigInt;
        use diesel_async::RunQueryDsl;

        let Some(url) = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
        else {
            eprintln!("skipped: TEST_DATABASE_URL names no PostgreSQL database");
            return;
        };
        let pipeline = match Pipeline::for_url(&url) {
            Ok(pipeline) => pipeline,
            Err(why) => {
                eprintln!("skipped: the test database is not read through the pipeline ({why})");
                return;
            }
        };
        let mut pool_side = diesel::PgConnection::establish(&url).expect("connect");
        let pipeline = pipeline
            .identify(&mut pool_side)
            .expect("the server names itself");
        let mut conn = pipeline.open().await.expect("the pipelined session opens");

        #[derive(diesel::QueryableByName)]
        struct Setting {
            #[diesel(sql_type = Text)]
            name: String,
            #[diesel(sql_type = Text)]
            setting: String,
        }
        let settings: Vec<(String, String)> = diesel::sql_query(
            "SELECT name, setting || coalesce(unit, '') AS setting FROM pg_settings \
             WHERE name IN ('application_name', 'plan_cache_mode', 'statement_timeout') \
             ORDER BY name",
        )
        .load::<Setting>(&mut conn)
        .await
        .expect("settings")
        .into_iter()
        .map(|s| (s.name, s.setting))
        .collect();
        assert_eq!(
            settings,
            [
                (
                    "application_name".to_owned(),
                    "officina-pipeline".to_owned()
                ),
                (
                    "plan_cache_mode".to_owned(),
                    "force_generic_plan".to_owned()
                ),
                ("statement_timeout".to_owned(), "1900ms".to_owned()),
            ]
        );

        // One prepared statement run with six values: six generic plans, no custom one.
        diesel::table! {
            pg_catalog.pg_class (oid) {
                oid -> Oid,
                relname -> Text,
            }
        }
        for oid in 1..=6u32 {
            let found: Vec<String> = pg_class::table
                .filter(pg_class::oid.eq(oid))
                .select(pg_class::relname)
                .load(&mut conn)
                .await
                .expect("read");
            assert!(found.len() <= 1);
        }
        #[derive(diesel::QueryableByName)]
        struct Plans {
            #[diesel(sql_type = BigInt)]
            generic_plans: i64,
            #[diesel(sql_type = BigInt)]
            custom_plans: i64,
        }
        let plans = diesel::sql_query(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements \
             WHERE statement LIKE '%FROM \"pg_catalog\".\"pg_class\"%' \
             AND statement NOT LIKE '%pg_prepared_statements%'",
        )
        .load::<Plans>(&mut conn)
        .await
        .expect("this session's prepared statements");
        let plans: Vec<(i64, i64)> = plans
            .into_iter()
            .map(|p| (p.generic_plans, p.custom_plans))
            .collect();
        assert_eq!(plans, [(6, 0)]);
    }

    #[test]
    fn a_url_without_exactly_one_host_keeps_reads_on_the_pool() {
        assert_eq!(used("postgres:///db"), Err(NotUsed::NotOneHost));
        assert_eq!(
            used("postgres://u@127.0.0.1,127.0.0.2/db?sslmode=disable"),
            Err(NotUsed::NotOneHost)
        );
    }
}
