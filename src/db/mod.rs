//! Persistence plumbing: one connection type for SQLite and PostgreSQL (diesel
//! `MultiConnection`), an r2d2 pool whose manager picks the backend from the URL, embedded
//! per-backend migrations, and the `Db` handle handlers use to run a unit of work off the async
//! executor (`web::block`; on SQLite a read by key runs at once, [`Db::read_by_key`]), with
//! write transactions that are `BEGIN IMMEDIATE` on SQLite.

pub mod combine;
pub mod cursor;
pub mod ids;
pub mod lanes;
pub mod pipeline;
pub mod schema;
mod sqlite_plans;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Utc};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseUrl;
use crate::error::AppError;

pub use ids::*;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Rows per multi-row INSERT: at most 16 columns × 2 000 = 32 000 bind parameters, under
/// SQLite's 32 766 and PostgreSQL's 65 535.
pub const INSERT_CHUNK: usize = 2_000;

/// Ids per `IN (…)` list on SQLite (one bind each). PostgreSQL binds the whole list as one array
/// (`= ANY($1)`), so it reads all ids in one statement.
pub fn id_chunk(conn: &DbConn) -> usize {
    match conn {
        DbConn::Postgresql(_) => usize::MAX,
        DbConn::Sqlite(_) => 10_000,
    }
}

/// Runs `load` over `ids` a chunk at a time, at most [`id_chunk`] ids per statement, and
/// concatenates the rows: every "these rows by id" read of thousands of ids goes through here, so
/// the bind-parameter limits are respected in one place. `load` gets the chunk as strings, ready
/// for `eq_any`.
pub fn load_by_ids<I: ToString, T>(
    conn: &mut DbConn,
    ids: &[I],
    load: impl FnMut(&mut DbConn, &[String]) -> Result<Vec<T>, AppError>,
) -> Result<Vec<T>, AppError> {
    let most = id_chunk(conn);
    load_by_ids_at_most(conn, ids, most, load)
}

/// Ids per statement for a read of a few hundred rows by id out of a table of thousands (the
/// 837's chunks on SQLite; on PostgreSQL the 837 reads through cursors now). Measured on PostgreSQL 15 with 10 000 claims and 40 000
/// lines: for 500 claim ids (2 000 lines) the planner scans the whole lines table (9 ms) where
/// the index answers in 2 ms; up to 100 ids it takes the index (0.6 ms for 400 lines). SQLite
/// always takes the index; the smaller statements cost it nothing measurable (the 837 of 10 000
/// claims stays under the time of the plain SELECT, BENCHMARKS.md).
pub const PROBE_CHUNK: usize = 100;

/// [`load_by_ids`] with at most `most` ids per statement (and never more than [`id_chunk`]).
pub fn load_by_ids_at_most<I: ToString, T>(
    conn: &mut DbConn,
    ids: &[I],
    most: usize,
    mut load: impl FnMut(&mut DbConn, &[String]) -> Result<Vec<T>, AppError>,
) -> Result<Vec<T>, AppError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(most.clamp(1, id_chunk(conn))) {
        let chunk: Vec<String> = chunk.iter().map(ToString::to_string).collect();
        out.extend(load(conn, &chunk)?);
    }
    Ok(out)
}

/// `column = org` in a form no index on `column` can serve, for "these rows by primary key"
/// reads (`id IN (…)`, [`load_by_ids`]): SQLite, which keeps no statistics unless told to,
/// guesses that an equality on an indexed column matches about ten rows, and so scans the
/// organization's rows in its `(org_id, …)` index rather than looking the ids up (measured: the
/// 837 of a 10 000-claim batch read every claim, patient and coverage of the practice once per
/// chunk). The rows stay scoped to the organization; only the index choice changes.
#[macro_export]
macro_rules! same_org {
    ($column:expr, $org:expr) => {
        ::diesel::ExpressionMethods::eq(::diesel::TextExpressionMethods::concat($column, ""), $org)
    };
}

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Which backend a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl DbConn {
    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgresql(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// `query.load(conn)` on the backend's own connection rather than through `MultiConnection`.
///
/// Through `MultiConnection` diesel renders a statement's SQL text again on every call, even
/// when the backend has it prepared and cached (its wrapper writes the SQL out in each pass over
/// the query: the cache check, the binds); on the backend's own connection a statement with a
/// fixed shape is found in the cache by its type and its SQL is never written again. Measured on
/// `GET /specimens/{id}` (PostgreSQL, 16 clients, A/B): 6 400–6 700 → 7 100–7 700 req/s. The
/// hot reads go through here; the rest of the code keeps the plain `load`.
pub fn load<'q, Q, U>(conn: &mut DbConn, query: Q) -> QueryResult<Vec<U>>
where
    Q: RunQueryDsl<diesel::PgConnection>
        + RunQueryDsl<diesel::SqliteConnection>
        + diesel::query_dsl::LoadQuery<'q, diesel::PgConnection, U>
        + diesel::query_dsl::LoadQuery<'q, diesel::SqliteConnection, U>,
{
    crate::on_inner!(conn, |c| query.load(c))
}

/// The one row of a read by primary key (or another unique key), if any, through [`load`].
/// Without the `LIMIT 1` of diesel's `first`, which the key makes needless: without stable
/// plans (`db/sqlite_plans.rs`) SQLite (3.53) reads a bound `LIMIT` while planning and marks the
/// statement stale whenever that parameter is bound again, so a cached statement with `LIMIT ?`
/// was parsed and planned anew on every call (measured: a third of `POST /specimens`'s time on
/// SQLite went to re-preparing the caller and patient checks).
pub fn first_row<'q, Q, U>(conn: &mut DbConn, query: Q) -> QueryResult<Option<U>>
where
    Q: RunQueryDsl<diesel::PgConnection>
        + RunQueryDsl<diesel::SqliteConnection>
        + diesel::query_dsl::LoadQuery<'q, diesel::PgConnection, U>
        + diesel::query_dsl::LoadQuery<'q, diesel::SqliteConnection, U>,
{
    let rows = load(conn, query)?;
    debug_assert!(rows.len() <= 1, "first_row reads by a unique key");
    Ok(rows.into_iter().next())
}

/// Runs the same diesel expression on the inner connection of either backend: for the query
/// forms that do not compile through `MultiConnection` (`on_conflict`, multi-row inserts, `ilike`),
/// and on hot paths to skip `MultiConnection`'s cost (see [`load`]).
#[macro_export]
macro_rules! on_inner {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Postgresql($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}

/// Inserts `rows` (a `Vec` of one table's insertable rows) into `table` in the caller's
/// transaction, `?` on failure: on PostgreSQL in multi-row INSERTs of [`INSERT_CHUNK`] rows (a
/// round trip each); on SQLite a prepared single-row INSERT per row, which in process costs less
/// than parsing a multi-row one (diesel prepares those again for every row count). The caller
/// needs diesel's `RunQueryDsl` in scope.
#[macro_export]
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            $crate::db::DbConn::Postgresql(c) => {
                for chunk in $rows.chunks($crate::db::INSERT_CHUNK) {
                    diesel::insert_into($table).values(chunk).execute(c)?;
                }
            }
            $crate::db::DbConn::Sqlite(c) => {
                for row in $rows.iter() {
                    diesel::insert_into($table).values(row).execute(c)?;
                }
            }
        }
    };
}

/// Binds each value (a slice of rows' values, all of one length, or an error) as a PostgreSQL array
/// of its SQL type, separated by commas, into the `AstPass` `out`, `?` on failure: the arguments of
/// `unnest(…)` in an `INSERT … SELECT * FROM unnest(…)`, whose text is the same for any number of
/// rows.
#[macro_export]
macro_rules! push_arrays {
    ($out:expr, [$first_ty:ty => $first:expr $(, $ty:ty => $value:expr)* $(,)?]) => {{
        // `unnest` pads a shorter array with NULLs: arrays of one table must be of one length.
        let rows = $first.len();
        if [$($value.len()),*].iter().any(|n| *n != rows) {
            return Err(diesel::result::Error::QueryBuilderError(
                "column arrays of different lengths".into(),
            ));
        }
        $out.push_bind_param::<diesel::sql_types::Array<$first_ty>, _>($first)?;
        $(
            $out.push_sql(", ");
            $out.push_bind_param::<diesel::sql_types::Array<$ty>, _>($value)?;
        )*
    }};
}

/// Error from opening a connection; keeps the real backend message.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("cannot connect: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("cannot prepare connection: {0}")]
    Setup(#[from] diesel::result::Error),
}

/// r2d2 manager that opens the backend named by the configured URL.
pub struct ConnManager {
    url: DatabaseUrl,
    /// SQLite only: the pool's one writer connection (see [`PoolConn::write`]); opened on first
    /// use, reopened after it broke.
    writer: Option<Writer>,
}

/// The connection every write transaction of a SQLite pool runs on, one at a time.
type Writer = Arc<Mutex<Option<DbConn>>>;

impl std::fmt::Debug for ConnManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: a PostgreSQL URL may carry a password.
        let backend = match self.url {
            DatabaseUrl::Postgres(_) => "postgres",
            DatabaseUrl::Sqlite(_) => "sqlite",
        };
        f.debug_struct("ConnManager")
            .field("backend", &backend)
            .finish()
    }
}

impl ConnManager {
    fn new(url: &DatabaseUrl) -> Self {
        let writer = match url {
            DatabaseUrl::Sqlite(_) => Some(Arc::new(Mutex::new(None))),
            DatabaseUrl::Postgres(_) => None,
        };
        Self {
            url: url.clone(),
            writer,
        }
    }
}

/// Opens one connection to the backend `url` names, set up as the application needs it.
fn open(url: &DatabaseUrl) -> Result<DbConn, ConnError> {
    Ok(match url {
        DatabaseUrl::Postgres(url) => {
            let mut c = diesel::PgConnection::establish(url)?;
            // Timestamps are stored as UTC in TIMESTAMP columns.
            c.batch_execute("SET TIME ZONE 'UTC'")?;
            DbConn::Postgresql(c)
        }
        DatabaseUrl::Sqlite(path) => {
            sqlite_plans::ensure();
            let mut c = diesel::SqliteConnection::establish(&path.to_string_lossy())?;
            // busy_timeout first: the journal_mode switch itself may need to wait for a lock.
            c.batch_execute(
                "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            )?;
            DbConn::Sqlite(c)
        }
    })
}

/// How long a connection may sit idle in the pool and still be handed out without a liveness
/// check. A connection used again within this window was working a moment ago; one idle longer
/// (for instance across a database restart) is checked with `SELECT 1` first.
const TRUST_IDLE: Duration = Duration::from_secs(2);

/// A pooled connection, when it last went back to the pool, and whether its last unit of work
/// failed (then its next checkout checks it, however recent). Derefs to [`DbConn`].
pub struct PoolConn {
    conn: DbConn,
    returned: Instant,
    suspect: bool,
    writer: Option<(Writer, DatabaseUrl)>,
}

impl std::ops::Deref for PoolConn {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl std::ops::DerefMut for PoolConn {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

impl PoolConn {
    /// Runs `f` in one write transaction ([`write_tx`]). On SQLite every write transaction of
    /// the pool runs on the pool's one writer connection, one at a time, queued on an in-process
    /// lock: SQLite has one writer anyway; a writer that finds the database locked would wait in
    /// SQLite's busy handler, which sleeps 1, 2, 5, 10… ms between tries while the lock sits
    /// free; and a connection whose cache another connection's commit invalidated re-reads every
    /// page it touches, while the writer's cache stays warm. Writers from other processes (the
    /// CLI) still meet `busy_timeout`.
    pub fn write<T, E>(&mut self, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
    {
        let Some((writer, url)) = &self.writer else {
            return write_tx(&mut self.conn, f);
        };
        let mut slot = lock_writer(writer);
        let broken = slot.as_mut().is_some_and(|conn| {
            on_inner!(conn, |c| {
                AnsiTransactionManager::is_broken_transaction_manager(c)
            })
        });
        if broken {
            *slot = None;
        }
        let conn = match &mut *slot {
            Some(conn) => conn,
            empty => empty.insert(
                open(url).map_err(|e| diesel::result::Error::QueryBuilderError(Box::new(e)))?,
            ),
        };
        let result = write_tx(conn, f);
        if on_inner!(conn, |c| {
            AnsiTransactionManager::is_broken_transaction_manager(c)
        }) {
            *slot = None;
        }
        result
    }

    /// Runs `f` on this connection; after an error, [`PoolConn::after_error`].
    fn run<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, AppError>) -> Result<T, AppError> {
        let result = f(self);
        if let Err(e) = &result {
            self.after_error(e);
        }
        result
    }

    /// After a failed unit of work: an error that says the server is gone marks the connection
    /// broken, so the pool drops it; any other error makes its next checkout check it first.
    fn after_error(&mut self, error: &AppError) {
        if matches!(error, AppError::Unavailable(_)) {
            self.mark_broken();
        } else {
            self.suspect = true;
        }
    }
}

/// The writer's slot. After a write panicked while it held the writer, its transaction may
/// still be open: that connection is closed (SQLite rolls back), the slot left empty for a fresh
/// one, and the lock cleared of its poison, so the writer is one kept connection again.
fn lock_writer(writer: &Writer) -> std::sync::MutexGuard<'_, Option<DbConn>> {
    writer.lock().unwrap_or_else(|poisoned| {
        let mut slot = poisoned.into_inner();
        *slot = None;
        writer.clear_poison();
        slot
    })
}

impl PoolConn {
    /// After a write panicked: closes the SQLite writer at once if that panic left it inside its
    /// transaction (the write lock is released now, not at the next write). No-op on PostgreSQL.
    fn recover_writer(&mut self) {
        if let Some((writer, _)) = &self.writer {
            drop(lock_writer(writer));
        }
    }

    /// Makes the pool drop this connection when it comes back.
    fn mark_broken(&mut self) {
        on_inner!(&mut self.conn, |c| {
            AnsiTransactionManager::transaction_manager_status_mut(c).set_in_error()
        });
    }
}

impl r2d2::ManageConnection for ConnManager {
    type Connection = PoolConn;
    type Error = ConnError;

    fn connect(&self) -> Result<PoolConn, ConnError> {
        Ok(PoolConn {
            conn: open(&self.url)?,
            returned: Instant::now(),
            suspect: false,
            writer: self.writer.clone().map(|w| (w, self.url.clone())),
        })
    }

    /// Checks out without a round trip when the connection was in use a moment ago and its last
    /// work succeeded (the busy case); otherwise `SELECT 1`, so a connection a database restart
    /// killed is replaced.
    fn is_valid(&self, conn: &mut PoolConn) -> Result<(), ConnError> {
        if !conn.suspect && conn.returned.elapsed() < TRUST_IDLE {
            return Ok(());
        }
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(ConnError::Setup)?;
        conn.suspect = false;
        Ok(())
    }

    /// Called when a connection goes back to the pool: a connection left in a transaction, in a
    /// failed transaction state, or marked lost ([`PoolConn::after_error`]) is dropped.
    fn has_broken(&self, conn: &mut PoolConn) -> bool {
        conn.returned = Instant::now();
        on_inner!(&mut conn.conn, |c| {
            AnsiTransactionManager::is_broken_transaction_manager(c)
        })
    }
}

pub type Pool = r2d2::Pool<ConnManager>;

/// One connection outside any pool, for one-shot commands: no background thread is left opening
/// connections while the process exits.
pub fn connect_once(url: &DatabaseUrl) -> Result<DbConn, ConnError> {
    r2d2::ManageConnection::connect(&ConnManager::new(url)).map(|c| c.conn)
}

/// Builds the pool. SQLite gets a small pool (one writer at a time anyway).
pub fn connect(url: &DatabaseUrl) -> Result<Pool, ConnError> {
    let size = match url {
        DatabaseUrl::Sqlite(_) => 8,
        DatabaseUrl::Postgres(_) => 16,
    };
    let manager = ConnManager::new(url);
    // Open one connection eagerly so a wrong URL fails here with the backend's own message.
    let first = r2d2::ManageConnection::connect(&manager)?;
    drop(first);
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(10))
        .build(manager)
        .map_err(|e| ConnError::Setup(diesel::result::Error::QueryBuilderError(Box::new(e))))
}

/// Applies pending migrations; returns how many ran.
pub fn run_migrations(conn: &mut DbConn) -> Result<usize, AppError> {
    let applied = match conn {
        DbConn::Postgresql(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    applied.map_err(|e| AppError::internal(format!("migration failed: {e}")))
}

/// True when every embedded migration has been applied.
pub fn migrations_current(conn: &mut DbConn) -> Result<bool, AppError> {
    let pending = match conn {
        DbConn::Postgresql(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
        DbConn::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
    };
    pending
        .map(|p| !p)
        .map_err(|e| AppError::internal(format!("cannot read migrations: {e}")))
}

/// Runs `f` in a write transaction: `BEGIN IMMEDIATE` on SQLite (takes the write lock up front, so
/// concurrent writers queue on `busy_timeout` instead of failing), a plain `BEGIN` on PostgreSQL.
/// Commits on `Ok`, rolls back on `Err`.
pub fn write_tx<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Postgresql(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    let result = f(conn);
    match result {
        Ok(value) => {
            on_inner!(conn, |c| AnsiTransactionManager::commit_transaction(c))?;
            Ok(value)
        }
        Err(e) => {
            // The original error matters more than a failed rollback (which drops the connection).
            let _ = on_inner!(conn, |c| AnsiTransactionManager::rollback_transaction(c));
            Err(e)
        }
    }
}

/// The handle handlers hold: runs units of work on a pooled connection in the blocking pool
/// (on SQLite, reads by key at once: [`Db::read_by_key`]).
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// SQLite: reads by key run on the calling thread when a connection is idle.
    inline_reads: bool,
    /// PostgreSQL: reads by key (and a patient's page of specimens) through each worker's
    /// pipelined connection, or why not.
    pipeline: Result<pipeline::Pipeline, pipeline::NotUsed>,
}

impl Db {
    /// Opens the pool for `url` ([`connect`]), with pipelined reads by key where the URL allows
    /// them ([`pipeline`]).
    pub fn connect(url: &DatabaseUrl) -> Result<Self, ConnError> {
        let pool = connect(url)?;
        let pipeline = match url {
            DatabaseUrl::Postgres(raw) => pipeline::Pipeline::for_url(raw).and_then(|p| {
                let mut conn = pool.get().map_err(|_| pipeline::NotUsed::NoIdentity)?;
                match &mut conn.conn {
                    DbConn::Postgresql(pg) => p.identify(pg),
                    DbConn::Sqlite(_) => Err(pipeline::NotUsed::Sqlite),
                }
            }),
            DatabaseUrl::Sqlite(_) => Err(pipeline::NotUsed::Sqlite),
        };
        Ok(Self {
            pool,
            inline_reads: matches!(url, DatabaseUrl::Sqlite(_)),
            pipeline,
        })
    }

    /// Turns pipelined reads by key off (`OFFICINA_PG_PIPELINE=off`).
    pub fn without_pipeline(mut self) -> Self {
        self.pipeline = Err(pipeline::NotUsed::TurnedOff);
        self
    }

    /// Whether reads by key go through the pipeline, and why not ([`pipeline`]).
    pub fn pipeline_status(&self) -> Result<(), &pipeline::NotUsed> {
        self.pipeline.as_ref().map(|_| ())
    }

    /// The pipelined connections of reads by key ([`pipeline`]), where they are used.
    pub fn pipeline(&self) -> Option<&pipeline::Pipeline> {
        self.pipeline.as_ref().ok()
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Gets a connection on the current thread (for CLI commands and start-up).
    pub fn conn(&self) -> Result<r2d2::PooledConnection<ConnManager>, AppError> {
        self.pool.get().map_err(AppError::from)
    }

    /// PostgreSQL: runs `f` with a second pooled connection if the pool has one idle now and
    /// another left idle after it, for work that can split across two connections (the 837's
    /// reads). Never waits on the pool, so a unit of work already holding a connection cannot
    /// stall on it, and leaves an idle connection for the next request. `None` on SQLite or when
    /// fewer are idle. After `f` fails the connection is checked before its next use (`f`'s
    /// error may have come from the other connection).
    pub fn with_spare<T>(
        &self,
        f: impl FnOnce(Option<&mut DbConn>) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let sqlite = self.inline_reads;
        if sqlite || self.pool.state().idle_connections < 2 {
            return f(None);
        }
        let Some(mut spare) = self.pool.try_get() else {
            return f(None);
        };
        let result = f(Some(&mut spare.conn));
        if result.is_err() {
            spare.suspect = true;
        }
        result
    }

    /// Runs `f` on a pooled connection in the blocking pool (one trip). A connection that lost
    /// its server is dropped instead of going back to the pool.
    async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut PoolConn) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get()?;
            conn.run(f)
        })
        .await
        .map_err(|e| AppError::internal(format!("blocking task failed: {e}")))?
    }

    /// Runs a read (or a self-contained statement) off the async executor.
    pub async fn read<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |conn| f(conn)).await
    }

    /// A read of rows by key: a few rows found through a primary or unique key, never a scan,
    /// a sort of many rows or a write. On SQLite it runs at once on the calling thread (an async
    /// worker) when a pooled connection is idle, instead of a trip to the blocking pool and back:
    /// such a read takes SQLite microseconds, less than waking a blocking thread and being woken
    /// back (A/B on 2 cores: `POST /specimens` +55–65 %, `POST /claims` +40 %,
    /// `GET /specimens/{id}` +12 %). With no connection idle, and always on PostgreSQL (whose
    /// reads wait on the network), it is [`Db::read`], so the worker never waits for a
    /// connection. A WAL reader can still wait in SQLite's busy handler in rare cases (another
    /// process recovering the WAL after a crash, or changing the journal mode); anything longer
    /// than a read by key would hold up the worker's other requests, so it goes through
    /// [`Db::read`]. A panic in `f` answers an internal error, as in the blocking pool, and the
    /// connection it left is dropped rather than pooled again.
    pub async fn read_by_key<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        if self.inline_reads
            && let Some(mut conn) = self.pool.try_get()
        {
            return match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                conn.run(|c| f(c))
            })) {
                Ok(result) => result,
                Err(panic) => {
                    conn.mark_broken();
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Err(AppError::internal(format!("a read panicked: {what}")))
                }
            };
        }
        self.read(f).await
    }

    /// Runs `f` in one write transaction ([`PoolConn::write`]) off the async executor.
    pub async fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |conn| conn.write(f)).await
    }

    /// Runs `first` outside any transaction (a check, say), then `f` with its result in one write
    /// transaction, on the same connection in the same trip. A `first` that fails ends the work
    /// before the transaction begins (on SQLite, before the write lock is taken).
    pub async fn write_after<A, T, F, G>(&self, first: G, f: F) -> Result<T, AppError>
    where
        G: FnOnce(&mut DbConn) -> Result<A, AppError> + Send + 'static,
        F: FnOnce(&mut DbConn, A) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |conn| {
            let a = first(conn)?;
            conn.write(|c| f(c, a))
        })
        .await
    }
}

/// Now, as a UTC timestamp with microsecond precision (what both backends store).
pub fn now() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.with_nanosecond((now.nanosecond() / 1000) * 1000)
        .unwrap_or(now)
}

use chrono::Timelike;

/// Increments and returns a per-organization counter inside the caller's transaction, creating it
/// at 1: one `INSERT … ON CONFLICT DO UPDATE … RETURNING` statement. Gapless and unique under
/// concurrency on both backends: the upsert locks the counter's row until the caller's
/// transaction ends (PostgreSQL), or runs under the write lock (SQLite).
pub fn next_counter(conn: &mut DbConn, org: OrgId, name: &str) -> Result<i64, AppError> {
    Ok(*next_counters(conn, org, name, 1)?.end())
}

/// A counter step of `n` numbers: at least one.
pub fn counter_step(n: usize) -> Result<i64, AppError> {
    i64::try_from(n)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| AppError::internal("a counter step must be positive"))
}

/// As [`next_counter`], taking `n` (at least 1) consecutive numbers at once in one statement.
pub fn next_counters(
    conn: &mut DbConn,
    org: OrgId,
    name: &str,
    n: usize,
) -> Result<std::ops::RangeInclusive<i64>, AppError> {
    let step = counter_step(n)?;
    let org = org.to_string();
    let upsert = CounterUpsert::<false> {
        org: &org,
        name,
        step,
    };
    let last: i64 = on_inner!(conn, |inner| upsert.get_result(inner))?;
    Ok(last - step + 1..=last)
}

/// The counter's upsert, written out: diesel never caches the statement of its own upsert
/// (`do_update`), so each use would parse and plan it again (on SQLite, under the write lock);
/// this one has a fixed text and a static query id, so each connection prepares it once. It
/// returns the counter's new value and, with `PREFIX`, the organization's accession prefix too
/// (the accession counter's step in a transaction on PostgreSQL, `lab::repo`), a text of its own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CounterUpsert<'a, const PREFIX: bool> {
    pub(crate) org: &'a str,
    pub(crate) name: &'a str,
    pub(crate) step: i64,
}

impl<const PREFIX: bool> diesel::query_builder::QueryId for CounterUpsert<'_, PREFIX> {
    type QueryId = CounterUpsert<'static, PREFIX>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for CounterUpsert<'_, false> {
    type SqlType = diesel::sql_types::BigInt;
}

impl diesel::query_builder::Query for CounterUpsert<'_, true> {
    type SqlType = (
        diesel::sql_types::BigInt,
        diesel::sql_types::Nullable<diesel::sql_types::Text>,
    );
}

impl<C, const PREFIX: bool> RunQueryDsl<C> for CounterUpsert<'_, PREFIX> {}

impl<DB, const PREFIX: bool> diesel::query_builder::QueryFragment<DB> for CounterUpsert<'_, PREFIX>
where
    DB: diesel::backend::Backend,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Text};
        out.push_sql("INSERT INTO counters (org_id, name, value) VALUES (");
        out.push_bind_param::<Text, _>(self.org)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.name)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.step)?;
        out.push_sql(
            ") ON CONFLICT (org_id, name) DO UPDATE SET value = counters.value + excluded.value \
             RETURNING value",
        );
        if PREFIX {
            // A scalar subquery: the organization's row, not a join with the counter's.
            out.push_sql(", (SELECT accession_prefix FROM organizations WHERE id = ");
            out.push_bind_param::<Text, _>(self.org)?;
            out.push_sql(")");
        }
        Ok(())
    }
}
