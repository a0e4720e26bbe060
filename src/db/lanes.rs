//! PostgreSQL: the thread where write lanes send their batches pipelined ([`super::combine`]), and
//! the connections they send them on.
//!
//! A lane that writes one statement per batch ([`super::combine::SendPipelined`]) would leave its
//! PostgreSQL backend idle between two batches: the time for the answer to come back, for the
//! leader to answer the requests and to build the next statement, and for that one to arrive.
//! Here the lane's leader is an asynchronous task on one thread of the process, and it sends the
//! next batch while the one before it is still running, on the same connection: PostgreSQL runs
//! them in the order they were sent, the second right after the first commits.
//!
//! Each lane that leads takes one connection ([`take`]) and gives it back when its queue empties
//! ([`give_back`]); at most [`MOST_CONNECTIONS`] per database are open at once, idle ones
//! included (a lane that finds none writes its batches on the pool as before), and one the server
//! closed is let go as soon as its client has seen it close, or found closed by a check when it
//! has been idle for [`CHECK_AFTER`]. A connection is opened with
//! [`super::pipeline::Pipeline::open_lane`]: the pipeline's checks (the same server, database,
//! user and `search_path` as the pool), its own `application_name` and `statement_timeout`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::PoolableConnection;
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::pipeline::Pipeline;

/// Most connections the lanes keep open to one database at once (idle ones included): one per
/// practice writing at the moment, up to this; beyond it a lane writes on the pool.
pub const MOST_CONNECTIONS: usize = 4;
/// After a connection failed to open, how long the lanes write on the pool before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// The longest wait for a connection to open, or for an idle one to answer its check.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection idle for longer is checked before a lane sends a batch on it (the server may have
/// closed it meanwhile, and a batch sent on a lost connection answers "outcome unknown").
const CHECK_AFTER: Duration = Duration::from_secs(5);

/// A leader to start on the lanes' thread: it builds its (not `Send`) future there.
pub type Start = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// Whether the lanes' thread runs (started with the first call).
pub fn running() -> bool {
    thread().is_some()
}

/// Starts `leader` on the lanes' thread, where it runs until it gives its lane up. `Err` gives
/// the leader back when that thread does not run ([`running`]).
pub fn spawn(leader: Start) -> Result<(), Start> {
    let Some(thread) = thread() else {
        return Err(leader);
    };
    thread.send(leader).map_err(|e| e.0)
}

/// The lanes' thread's queue of leaders to start, the thread started with the first call.
fn thread() -> Option<&'static mpsc::UnboundedSender<Start>> {
    static THREAD: OnceLock<Option<mpsc::UnboundedSender<Start>>> = OnceLock::new();
    THREAD.get_or_init(start_thread).as_ref()
}

/// The lanes' thread: a single-threaded runtime that starts each leader it is sent as a local
/// task (its blocking pool runs the batches a leader writes on the pool).
fn start_thread() -> Option<mpsc::UnboundedSender<Start>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Start>();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("officina-lanes-blocking")
        .build()
        .map_err(|e| tracing::warn!(error = %e, "the write lanes' runtime did not start; lanes write on the pool"))
        .ok()?;
    std::thread::Builder::new()
        .name("officina-lanes".into())
        .spawn(move || {
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                while let Some(start) = rx.recv().await {
                    drop(tokio::task::spawn_local(start()));
                }
            });
        })
        .map_err(|e| tracing::warn!(error = %e, "the write lanes' thread did not start; lanes write on the pool"))
        .ok()?;
    Some(tx)
}

/// A lane's connection, and the database it reaches.
pub struct LaneConn {
    url: Arc<str>,
    pub conn: AsyncPgConnection,
    /// Set after a failure whose outcome is unknown: the connection is closed when given back.
    pub broken: std::cell::Cell<bool>,
    /// When it was last given back.
    idle_since: Instant,
}

/// One database's lane connections on the lanes' thread: idle ones, how many are open (idle
/// ones included), and when one last failed to open.
#[derive(Default)]
struct Slots {
    idle: Vec<LaneConn>,
    open: usize,
    failed_at: Option<Instant>,
}

thread_local! {
    /// By database URL (a process serves one database; tests, one each).
    static SLOTS: RefCell<HashMap<Arc<str>, Slots>> = RefCell::default();
}

/// What [`take`] found for a lane.
enum Found {
    Idle(Box<LaneConn>),
    /// Room to open one (counted open already).
    Room,
    None,
}

/// A connection for a lane of `pipeline`'s database: an idle one, or a new one while fewer than
/// [`MOST_CONNECTIONS`] of that database are open. `None` when none can be had now (all in use,
/// or one failed to open less than [`RETRY_AFTER`] ago): the lane writes on the pool.
pub async fn take(pipeline: &Pipeline) -> Option<Rc<LaneConn>> {
    let url = pipeline.url();
    let found = SLOTS.with(|all| {
        let mut all = all.borrow_mut();
        // Idle connections the server closed (its driver saw the socket close), of any database
        // (a dropped one's included), are let go; so is a database's entry once it has none.
        all.retain(|_, s| {
            let before = s.idle.len();
            s.idle.retain_mut(|c| !c.conn.is_broken());
            s.open -= before - s.idle.len();
            s.open > 0 || s.failed_at.is_some()
        });
        let s = all.entry(url.clone()).or_default();
        if let Some(conn) = s.idle.pop() {
            return Found::Idle(Box::new(conn));
        }
        if s.failed_at.is_some_and(|t| t.elapsed() < RETRY_AFTER) || s.open >= MOST_CONNECTIONS {
            return Found::None;
        }
        s.open += 1;
        Found::Room
    });
    let conn = match found {
        Found::Idle(conn) if conn.idle_since.elapsed() < CHECK_AFTER => *conn,
        Found::Idle(mut conn) => {
            use diesel_async::SimpleAsyncConnection;
            let alive = timeout(OPEN_TIMEOUT, conn.conn.batch_execute("SELECT 1")).await;
            if !matches!(alive, Ok(Ok(()))) {
                closed(url);
                drop(conn);
                // Opened again, with room for it now.
                return Box::pin(take(pipeline)).await;
            }
            *conn
        }
        Found::None => return None,
        Found::Room => match timeout(OPEN_TIMEOUT, pipeline.open_lane()).await {
            Ok(Ok(conn)) => LaneConn {
                url: url.clone(),
                conn,
                broken: false.into(),
                idle_since: Instant::now(),
            },
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e,
                    _ => format!("no connection within {} s", OPEN_TIMEOUT.as_secs()),
                };
                tracing::warn!(%error, "a write lane's connection did not open; the lane writes on the pool");
                closed(url);
                SLOTS.with(|all| {
                    if let Some(s) = all.borrow_mut().get_mut(url) {
                        s.failed_at = Some(Instant::now());
                    }
                });
                return None;
            }
        },
    };
    // One opened or found: any failure before is over.
    SLOTS.with(|all| {
        if let Some(s) = all.borrow_mut().get_mut(url) {
            s.failed_at = None;
        }
    });
    Some(Rc::new(conn))
}

/// Counts one connection of `url`'s closed.
fn closed(url: &Arc<str>) {
    SLOTS.with(|all| {
        if let Some(s) = all.borrow_mut().get_mut(url) {
            s.open -= 1;
        }
    });
}

/// Gives a lane's connection back when the lane is done with it: kept for the next lane, or closed
/// if it broke, if its leader panicked (statements it sent may be unanswered), or if it is still
/// shared (which a leader never leaves it).
pub fn give_back(conn: Rc<LaneConn>) {
    if std::thread::panicking() {
        conn.broken.set(true);
    }
    match Rc::try_unwrap(conn) {
        Ok(mut conn) if !conn.broken.get() => {
            conn.idle_since = Instant::now();
            let url = conn.url.clone();
            SLOTS.with(|all| all.borrow_mut().entry(url).or_default().idle.push(conn));
        }
        Ok(conn) => closed(&conn.url),
        Err(shared) => closed(&shared.url),
    }
}
