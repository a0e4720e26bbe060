//! Group commit for writes that take a gapless counter.
//!
//! A gapless number (an accession number) can only be handed out by one transaction at a time:
//! the counter's row stays locked until the transaction commits, and on PostgreSQL a commit
//! waits for its WAL flush. One registration per transaction therefore caps a practice at one
//! flush per number, whatever the hardware. A [`Combiner`] lets concurrent requests of one
//! organization share a transaction instead: each request prepares its item outside (checks and
//! reads, in parallel), then hands it to the organization's lane and waits; one blocking task at a
//! time, the lane's leader, takes everything queued (up to [`MAX_BATCH`]), opens one write
//! transaction and runs the combiner's [`WriteAll`] function in it, which returns one result per
//! item. Numbers stay gapless and follow the order in which the items were queued; each request
//! gets its own response, after the commit that made it durable.
//!
//! A combiner may also have a [`WriteOneStatement`] function, tried first on each batch: one
//! statement that commits on its own (no `BEGIN`, no `COMMIT`), or `None` to send the batch to
//! the transaction.
//!
//! The leader runs in the blocking pool and takes a pooled connection per batch; waiting requests
//! hold neither a thread nor a connection.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use tokio::sync::oneshot;

use super::{Db, DbConn, OrgId, Pool, PoolConn};
use crate::error::AppError;

/// Most items one transaction carries: enough to amortize the commit, few enough that the first
/// request of a batch does not wait long for the last.
pub const MAX_BATCH: usize = 64;

/// Writes items in the caller's transaction: one result per item, in the items' order, or an
/// error for them all.
pub type WriteAll<I, O> = fn(&mut DbConn, &[I]) -> Result<Vec<O>, AppError>;

/// Writes items in one statement outside any transaction, on the pooled connection (PostgreSQL;
/// on SQLite it must decline, writes there belong to the pool's writer): one result per item, or
/// `Ok(None)` when it cannot (the items then go to the combiner's [`WriteAll`]). An error that is
/// not `Unavailable` sends them there too (the failed statement wrote nothing), where each one's
/// own error, if any, is found.
pub type WriteOneStatement<I, O> = fn(&mut DbConn, &[I]) -> Result<Option<Vec<O>>, AppError>;

/// Per-organization lanes of queued items and the functions that write them.
pub struct Combiner<I, O> {
    lanes: Arc<Mutex<HashMap<OrgId, Lane<I, O>>>>,
    write: WriteAll<I, O>,
    one_statement: Option<WriteOneStatement<I, O>>,
}

impl<I, O> Combiner<I, O> {
    /// The lanes, locked (a panic elsewhere never leaves them half-changed: every change is one
    /// push, drain or flag).
    fn lanes(&self) -> MutexGuard<'_, HashMap<OrgId, Lane<I, O>>> {
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<I, O> Clone for Combiner<I, O> {
    fn clone(&self) -> Self {
        Self {
            lanes: self.lanes.clone(),
            write: self.write,
            one_statement: self.one_statement,
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
    pub fn new(write: WriteAll<I, O>) -> Self {
        Self {
            lanes: Arc::default(),
            write,
            one_statement: None,
        }
    }

    /// Tries `write` on each batch before the transaction ([`WriteOneStatement`]).
    pub fn one_statement(mut self, write: WriteOneStatement<I, O>) -> Self {
        self.one_statement = Some(write);
        self
    }

    /// Queues `item` in `org`'s lane and waits for its answer. Starts a leader when the lane has
    /// none.
    pub async fn submit(&self, db: &Db, org: OrgId, item: I) -> Result<O, AppError> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut lanes = self.lanes();
            let lane = lanes.entry(org).or_default();
            lane.queued.push((item, tx));
            !std::mem::replace(&mut lane.leading, true)
        };
        if start {
            let this = self.clone();
            let pool = db.pool().clone();
            // Detached: the leader drains the lane whoever started it; each request waits for
            // its own answer below. Should the task never run (the runtime shutting down), its
            // guard is dropped with it and the queued requests get an error.
            let guard = Leading {
                combiner: this,
                org,
                finished: false,
            };
            drop(actix_web::rt::task::spawn_blocking(move || {
                guard.lead(&pool)
            }));
        }
        rx.await
            .map_err(|_| AppError::internal("the write queue's worker stopped"))?
    }
}

/// A lane's leadership: whoever holds it writes the lane's batches. Dropped (the lane emptied,
/// or the leader unwinding), it gives the lane up, so the next request starts a new leader; if
/// items are still queued then (only when the leader failed), they are answered with an error
/// instead of waiting for ever.
struct Leading<I, O> {
    combiner: Combiner<I, O>,
    org: OrgId,
    /// Set when the leader gave the lane up itself (under the lane's lock, having seen it empty).
    finished: bool,
}

impl<I, O> Drop for Leading<I, O> {
    fn drop(&mut self) {
        if self.finished {
            // A new leader may own the lane by now.
            return;
        }
        let mut lanes = self.combiner.lanes();
        if let Some(lane) = lanes.get_mut(&self.org) {
            lane.leading = false;
            for (_, reply) in lane.queued.drain(..) {
                let _ = reply.send(Err(AppError::internal("the write queue's worker stopped")));
            }
        }
    }
}

impl<I, O> Leading<I, O> {
    /// Takes what is queued, writes it, answers, and again until the lane is empty.
    fn lead(mut self, pool: &Pool) {
        loop {
            let batch = {
                let mut lanes = self.combiner.lanes();
                let lane = lanes.entry(self.org).or_default();
                if lane.queued.is_empty() {
                    // Given up under the same lock that saw the lane empty: a request queued
                    // after this starts a new leader.
                    lane.leading = false;
                    self.finished = true;
                    return;
                }
                let take = lane.queued.len().min(MAX_BATCH);
                lane.queued.drain(..take).collect::<Vec<_>>()
            };
            let (items, replies): (Vec<I>, Vec<Reply<O>>) = batch.into_iter().unzip();
            tracing::debug!(items = items.len(), "writing a batch of queued items");
            // A connection per batch, given back between batches (a pooled connection checked
            // out a moment ago is handed out again without a round trip).
            let answers = match pool.get() {
                Ok(mut conn) => {
                    let answers = match self
                        .combiner
                        .one_statement
                        .map(|f| one_statement_caught(&mut conn, &items, f))
                    {
                        Some(Some(answers)) => answers,
                        _ => write_all_or_each(&mut conn, items, self.combiner.write),
                    };
                    // The worst error decides: a lost server drops the connection.
                    let worst = answers
                        .iter()
                        .filter_map(|a| a.as_ref().err())
                        .max_by_key(|e| matches!(e, AppError::Unavailable(_)));
                    if let Some(e) = worst {
                        conn.after_error(e);
                    }
                    answers
                }
                Err(e) => {
                    let msg = format!("database pool: {e}");
                    items
                        .iter()
                        .map(|_| Err(AppError::Unavailable(msg.clone())))
                        .collect()
                }
            };
            for (reply, answer) in replies.into_iter().zip(answers) {
                // A request that went away meanwhile no longer waits for its answer.
                let _ = reply.send(answer);
            }
        }
    }
}

/// `items` through `write`, outside a transaction: their answers, or `None` to write them in
/// one. The answers are every item's error when the outcome may be unknown, for the statement
/// may have committed and the items must not be written twice: the server lost or busy
/// (`Unavailable`, which a transaction on the same connection would meet too), a panic (the
/// connection is then dropped), answers of a wrong count (a bug).
fn one_statement_caught<I, O>(
    conn: &mut PoolConn,
    items: &[I],
    write: WriteOneStatement<I, O>,
) -> Option<Vec<Result<O, AppError>>> {
    let unknown = |e: &dyn Fn() -> AppError| Some(items.iter().map(|_| Err(e())).collect());
    match catch_unwind(AssertUnwindSafe(|| write(conn, items))) {
        Ok(Ok(Some(done))) if done.len() == items.len() => Some(done.into_iter().map(Ok).collect()),
        Ok(Ok(Some(_))) => {
            unknown(&|| AppError::internal("a batch write gave a wrong number of answers"))
        }
        Ok(Ok(None)) => None,
        Ok(Err(AppError::Unavailable(msg))) => unknown(&|| AppError::Unavailable(msg.clone())),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "a one-statement batch failed; writing it in a transaction");
            None
        }
        Err(_) => {
            conn.mark_broken();
            unknown(&|| AppError::internal("a write panicked"))
        }
    }
}

/// `items` in one write transaction; if it fails (an item met a constraint no check caught),
/// each item in a transaction of its own, so only the failing one answers an error, and a gapless
/// counter loses no number (a failed transaction takes none). A lost or busy database
/// (`Unavailable`) is answered to every item not yet written instead of being tried again item by
/// item. Always one answer per item.
pub fn write_all_or_each<I, O>(
    conn: &mut PoolConn,
    items: Vec<I>,
    write: WriteAll<I, O>,
) -> Vec<Result<O, AppError>> {
    let error = match write_caught(conn, |c| {
        let done = write(c, &items)?;
        if done.len() == items.len() {
            Ok(done)
        } else {
            // Checked inside the transaction, so that it rolls back.
            Err(AppError::internal(
                "a batch write gave a wrong number of answers",
            ))
        }
    }) {
        Ok(done) => return done.into_iter().map(Ok).collect(),
        Err(e) => e,
    };
    if items.len() == 1 {
        return vec![Err(error)];
    }
    let mut stop = match &error {
        AppError::Unavailable(msg) => Some(msg.clone()),
        _ => None,
    };
    items
        .iter()
        .map(|item| {
            if let Some(msg) = &stop {
                return Err(AppError::Unavailable(msg.clone()));
            }
            let answer = write_caught(conn, |c| {
                let mut done = write(c, std::slice::from_ref(item))?;
                match (done.pop(), done.is_empty()) {
                    (Some(one), true) => Ok(one),
                    _ => Err(AppError::internal("a write gave a wrong number of answers")),
                }
            });
            if let Err(AppError::Unavailable(msg)) = &answer {
                stop = Some(msg.clone());
            }
            answer
        })
        .collect()
}

/// [`PoolConn::write`], with a panic in `f` turned into this transaction's error: the
/// transaction is rolled back (on SQLite by closing the writer connection the panic left in it;
/// the next write opens a fresh one), and a connection that cannot roll back is marked broken.
fn write_caught<T>(
    conn: &mut PoolConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, AppError>,
) -> Result<T, AppError> {
    match catch_unwind(AssertUnwindSafe(|| conn.write(f))) {
        Ok(result) => result,
        Err(_) => {
            // SQLite: the write ran on the pool's writer; close it now if it is mid-transaction.
            conn.recover_writer();
            let open = crate::on_inner!(&mut **conn, |c| {
                AnsiTransactionManager::transaction_manager_status_mut(c)
                    .transaction_depth()
                    .ok()
                    .flatten()
                    .is_some()
            });
            let rolled_back = !open
                || crate::on_inner!(&mut **conn, |c| {
                    AnsiTransactionManager::rollback_transaction(c).is_ok()
                });
            if !rolled_back {
                conn.mark_broken();
                return Err(AppError::Unavailable(
                    "a write failed and its connection was dropped; retry".into(),
                ));
            }
            Err(AppError::internal("a write panicked"))
        }
    }
}
