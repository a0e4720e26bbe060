//! Group commit for writes that take a gapless counter.
//!
//! A gapless number (an accession number) can only be handed out by one transaction at a time:
//! the counter's row stays locked until the transaction commits, and on PostgreSQL a commit
//! waits for its WAL flush. One registration per transaction therefore caps a practice at one
//! flush per number, whatever the hardware. A [`Combiner`] lets concurrent requests of one
//! organization share a transaction instead: each request prepares its item outside (checks and
//! reads, in parallel), then hands it to the organization's lane and waits; one blocking task at a
//! time, the lane's leader, takes everything queued (up to [`MAX_BATCH`]) and runs it through the
//! caller's `run` function, which writes the batch in one transaction and returns one answer per
//! item, in order. Numbers stay gapless and in arrival order; each request still gets its own
//! response, after the commit that made it durable.
//!
//! The leader runs in the blocking pool on its own pooled connection; waiting requests hold
//! neither a thread nor a connection.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::{Db, DbConn, OrgId, Pool, PoolConn};
use crate::error::AppError;

/// Most items one transaction carries: enough to amortize the commit, few enough that the first
/// request of a batch does not wait long for the last.
pub const MAX_BATCH: usize = 64;

/// Writes items in the caller's transaction: one result per item, in the items' order, or an
/// error for them all.
pub type WriteAll<I, O> = fn(&mut DbConn, &[I]) -> Result<Vec<O>, AppError>;

/// Per-organization lanes of queued items and the function that writes them.
pub struct Combiner<I, O> {
    lanes: Arc<Mutex<HashMap<OrgId, Lane<I, O>>>>,
    run: WriteAll<I, O>,
}

impl<I, O> Clone for Combiner<I, O> {
    fn clone(&self) -> Self {
        Self {
            lanes: self.lanes.clone(),
            run: self.run,
        }
    }
}

type Reply<O> = oneshot::Sender<Result<O, AppError>>;

/// One organization's queue, and whether a leader is working on it.
struct Lane<I, O> {
    queued: Vec<(I, Reply<O>)>,
    leading: bool,
}

impl<I, O> Default for Lane<I, O> {
    fn default() -> Self {
        Self {
            queued: Vec::new(),
            leading: false,
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Combiner<I, O> {
    pub fn new(run: WriteAll<I, O>) -> Self {
        Self {
            lanes: Arc::default(),
            run,
        }
    }

    /// Queues `item` in `org`'s lane and waits for its answer. Starts a leader when the lane has
    /// none.
    pub async fn submit(&self, db: &Db, org: OrgId, item: I) -> Result<O, AppError> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
            let lane = lanes.entry(org).or_default();
            lane.queued.push((item, tx));
            !std::mem::replace(&mut lane.leading, true)
        };
        if start {
            let this = self.clone();
            let pool = db.pool().clone();
            // Detached: the leader drains the lane whoever started it; each request waits for
            // its own answer below.
            drop(actix_web::rt::task::spawn_blocking(move || {
                this.lead(&pool, org)
            }));
        }
        rx.await
            .map_err(|_| AppError::internal("the write queue's worker stopped"))?
    }

    /// The leader: takes what is queued, writes it, answers, and again until the lane is empty.
    fn lead(&self, pool: &Pool, org: OrgId) {
        let mut conn: Option<r2d2::PooledConnection<super::ConnManager>> = None;
        loop {
            let batch = {
                let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(lane) = lanes.get_mut(&org) else {
                    return;
                };
                if lane.queued.is_empty() {
                    lane.leading = false;
                    return;
                }
                let take = lane.queued.len().min(MAX_BATCH);
                lane.queued.drain(..take).collect::<Vec<_>>()
            };
            let (items, replies): (Vec<I>, Vec<Reply<O>>) = batch.into_iter().unzip();
            tracing::debug!(items = items.len(), "writing a batch of queued items");
            let answers = match &mut conn {
                Some(c) => self.write(c, items),
                empty => match pool.get() {
                    Ok(c) => self.write(empty.insert(c), items),
                    Err(e) => {
                        let msg = format!("database pool: {e}");
                        items
                            .iter()
                            .map(|_| Err(AppError::Unavailable(msg.clone())))
                            .collect()
                    }
                },
            };
            // A connection whose work failed is given back (the pool checks or drops it); the
            // next batch takes a fresh one.
            if answers.iter().any(Result::is_err)
                && let Some(mut c) = conn.take()
                && let Some(Err(e)) = answers.iter().find(|a| a.is_err())
            {
                c.after_error(e);
            }
            let mut answers = answers.into_iter();
            for reply in replies {
                let answer = answers
                    .next()
                    .unwrap_or_else(|| Err(AppError::internal("a batch gave too few answers")));
                // A request that went away meanwhile no longer waits for its answer.
                let _ = reply.send(answer);
            }
        }
    }

    /// Runs the batch function; a panic in it fails this batch (the connection, possibly inside
    /// a transaction, is then dropped by the caller's error path) instead of the lane.
    fn write(&self, conn: &mut PoolConn, items: Vec<I>) -> Vec<Result<O, AppError>> {
        let n = items.len();
        match catch_unwind(AssertUnwindSafe(|| {
            write_all_or_each(conn, items, self.run)
        })) {
            Ok(answers) => answers,
            Err(_) => {
                conn.mark_broken();
                (0..n)
                    .map(|_| Err(AppError::internal("a batched write panicked")))
                    .collect()
            }
        }
    }
}

/// `items` in one write transaction; if it fails (an item met a constraint no check caught),
/// each item in a transaction of its own, so only the failing one answers an error, and a gapless
/// counter loses no number (a failed transaction takes none).
pub fn write_all_or_each<I, O>(
    conn: &mut PoolConn,
    items: Vec<I>,
    write: WriteAll<I, O>,
) -> Vec<Result<O, AppError>> {
    let error = match conn.write(|c| write(c, &items)) {
        Ok(done) if done.len() == items.len() => return done.into_iter().map(Ok).collect(),
        Ok(_) => AppError::internal("a batch gave too few answers"),
        Err(e) => e,
    };
    if items.len() == 1 {
        return vec![Err(error)];
    }
    if let AppError::Unavailable(msg) = &error {
        return items
            .iter()
            .map(|_| Err(AppError::Unavailable(msg.clone())))
            .collect();
    }
    items
        .iter()
        .map(|item| {
            conn.write(|c| write(c, std::slice::from_ref(item)))?
                .pop()
                .ok_or_else(|| AppError::internal("a write gave no answer"))
        })
        .collect()
}
