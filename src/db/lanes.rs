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
//! ([`give_back`]); at most [`MOST_CONNECTIONS`] are open at once, idle ones included (a lane
//! that finds none writes its batches on the pool as before). A connection is opened with
//! [`super::pipeline::Pipeline::open_lane`]: the pipeline's checks (the same server, database,
//! user and `search_path` as the pool), its own `application_name` and `statement_timeout`.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::PoolableConnection;
use tokio::sync::mpsc;

use super::pipeline::Pipeline;

/// Most connections the lanes keep open at once (idle ones included): one per practice writing at
/// the moment, up to this; beyond it a lane writes on the pool.
pub const MOST_CONNECTIONS: usize = 4;
/// After a connection failed to open, how long the lanes write on the pool before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(2);
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

/// The lanes' thread's connections: idle ones, how many are open, and when one last failed to
/// open.
#[derive(Default)]
struct Slots {
    idle: Vec<LaneConn>,
    open: usize,
    failed_at: Option<Instant>,
}

thread_local! {
    static SLOTS: RefCell<Slots> = RefCell::default();
}

/// A connection for a lane of `pipeline`'s database: an idle one, or a new one while fewer than
/// [`MOST_CONNECTIONS`] are open (closing an idle one of another database to make room). `None`
/// when none can be had now: the lane writes on the pool.
pub async fn take(pipeline: &Pipeline) -> Option<Rc<LaneConn>> {
    let url = pipeline.url();
    let room = SLOTS.with(|s| {
        let mut s = s.borrow_mut();
        // Closed by the server meanwhile (its driver saw the socket close): dropped at once.
        let before = s.idle.len();
        s.idle.retain_mut(|c| !c.conn.is_broken());
        s.open -= before - s.idle.len();
        if let Some(at) = s.idle.iter().position(|c| c.url == *url) {
            return Ok(s.idle.swap_remove(at));
        }
        if s.failed_at.is_some_and(|t| t.elapsed() < RETRY_AFTER) {
            return Err(false);
        }
        if s.open >= MOST_CONNECTIONS {
            if s.idle.is_empty() {
                return Err(false);
            }
            // The longest idle, of another database.
            drop(s.idle.remove(0));
            s.open -= 1;
        }
        s.open += 1;
        Err(true)
    });
    let conn = match room {
        Ok(conn) if conn.idle_since.elapsed() < CHECK_AFTER => conn,
        Ok(conn) => {
            use diesel_async::SimpleAsyncConnection;
            let mut conn = conn;
            if conn.conn.batch_execute("SELECT 1").await.is_err() {
                SLOTS.with(|s| s.borrow_mut().open -= 1);
                drop(conn);
                // Opened again the next time, with room for it now.
                return Box::pin(take(pipeline)).await;
            }
            conn
        }
        Err(false) => return None,
        Err(true) => match pipeline.open_lane().await {
            Ok(conn) => LaneConn {
                url: url.clone(),
                conn,
                broken: false.into(),
                idle_since: Instant::now(),
            },
            Err(error) => {
                tracing::warn!(%error, "a write lane's connection did not open; the lane writes on the pool");
                SLOTS.with(|s| {
                    let mut s = s.borrow_mut();
                    s.open -= 1;
                    s.failed_at = Some(Instant::now());
                });
                return None;
            }
        },
    };
    Some(Rc::new(conn))
}

/// Gives a lane's connection back when the lane is done with it: kept for the next lane, or closed
/// if it broke, if its leader panicked (statements it sent may be unanswered), or if it is still
/// shared (which a leader never leaves it).
pub fn give_back(conn: Rc<LaneConn>) {
    if std::thread::panicking() {
        conn.broken.set(true);
    }
    SLOTS.with(|s| {
        let mut s = s.borrow_mut();
        match Rc::try_unwrap(conn) {
            Ok(mut conn) if !conn.broken.get() => {
                conn.idle_since = Instant::now();
                s.idle.push(conn);
            }
            _ => s.open -= 1,
        }
    });
}
