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
//!
//! On PostgreSQL (where the workers' reads are pipelined, [`super::pipeline`]), a combiner may
//! also have a [`SendPipelined`] function: the lane's leader is then an asynchronous task on the
//! lanes' thread ([`super::lanes`]) with a connection of its own, and sends each batch's one
//! statement while the batch before it is still running ([`IN_FLIGHT`] at most), so PostgreSQL
//! starts the next batch as soon as one commits instead of waiting for the leader to hear of it.
//! A batch the function declines, or whose statement fails having written nothing, is written
//! on the pool as above, after the batches sent before it, and nothing more is sent until those
//! are answered (a batch sent meanwhile could otherwise take its numbers before one of them); one
//! whose outcome is unknown (the connection lost, no answer in time) answers `Unavailable`, as it
//! does on the pool, and the lane goes on with a new connection.

use std::collections::{HashMap, VecDeque};
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel_async::AsyncPgConnection;
use futures_util::future::LocalBoxFuture;
use tokio::sync::{Notify, oneshot};

use super::lanes::{self, LaneConn};
use super::pipeline::Pipeline;
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

/// PostgreSQL: sends items' one statement (it commits on its own) on a write lane's connection
/// without waiting for its outcome, and gives the items' answers with the outcome to come
/// ([`Sent`]); `Ok(None)` when it cannot, and the items are then written on the pool
/// ([`WriteOneStatement`], [`WriteAll`]), as they are after an error. Batches are sent in the
/// lane's order, a batch while the ones before it may still be running: it may count on them
/// committing only if its statement checks that they did (and fails, writing nothing, if not).
pub type SendPipelined<I, O> =
    for<'c> fn(&'c AsyncPgConnection, &[I]) -> Result<Option<Sent<'c, O>>, AppError>;

/// A batch's statement sent on a lane's connection ([`SendPipelined`]).
pub struct Sent<'c, O> {
    /// One per item, in order: what each item answers once the statement commits.
    pub answers: Vec<O>,
    /// The statement's outcome: `Ok` once it committed; `Unavailable` when the outcome is unknown
    /// (the connection was lost); any other error when it wrote nothing.
    pub written: LocalBoxFuture<'c, Result<(), AppError>>,
}

/// Batches a pipelined lane has sent and not yet answered, at most: the one running and the next,
/// waiting on the connection for it to commit.
pub const IN_FLIGHT: usize = 2;

/// How long a pipelined lane waits for the outcome of a batch it sent (the ones sent before it
/// included) before it takes the outcome as unknown and drops the connection: past the server's
/// `statement_timeout` for each of [`IN_FLIGHT`] batches ([`super::pipeline::LANE_STATEMENT_TIMEOUT`]).
const OUTCOME_TIMEOUT: Duration = Duration::from_secs(12);

/// Per-organization lanes of queued items and the functions that write them.
pub struct Combiner<I, O> {
    lanes: Arc<Mutex<HashMap<OrgId, Lane<I, O>>>>,
    write: WriteAll<I, O>,
    one_statement: Option<WriteOneStatement<I, O>>,
    pipelined: Option<SendPipelined<I, O>>,
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
            pipelined: self.pipelined,
        }
    }
}

type Reply<O> = oneshot::Sender<Result<O, AppError>>;

/// One organization's queue, whether a leader is working on it, and how a pipelined leader
/// waiting for a batch's outcome learns of new items.
struct Lane<I, O> {
    queued: Vec<(I, Reply<O>)>,
    leading: bool,
    queued_more: Arc<Notify>,
}

impl<I, O> Default for Lane<I, O> {
    fn default() -> Self {
        Self {
            queued: Vec::new(),
            leading: false,
            queued_more: Arc::default(),
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Combiner<I, O> {
    pub fn new(write: WriteAll<I, O>) -> Self {
        Self {
            lanes: Arc::default(),
            write,
            one_statement: None,
            pipelined: None,
        }
    }

    /// Sends each batch pipelined on PostgreSQL when the database's reads are ([`SendPipelined`]).
    pub fn pipelined(mut self, send: SendPipelined<I, O>) -> Self {
        self.pipelined = Some(send);
        self
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
        let (start, queued_more) = {
            let mut lanes = self.lanes();
            let lane = lanes.entry(org).or_default();
            lane.queued.push((item, tx));
            (
                !std::mem::replace(&mut lane.leading, true),
                lane.queued_more.clone(),
            )
        };
        if start {
            self.start_leader(db, org, queued_more);
        } else if self.pipelined.is_some() {
            queued_more.notify_one();
        }
        // Dropped unanswered only by a leader that stopped (a panic) with the item in a batch
        // it may have written: its outcome is unknown. (Items still queued are answered with an
        // error by the leader's guard.)
        rx.await.map_err(|_| {
            AppError::Unavailable(
                "the write queue's worker stopped; the write may or may not have been made; retry"
                    .into(),
            )
        })?
    }

    /// Starts `org`'s leader: pipelined on the lanes' thread where it can be, else in the blocking
    /// pool. Detached: the leader drains the lane whoever started it; each request waits for its
    /// own answer. Should it never run (the runtime shutting down), its guard is dropped with it
    /// and the queued requests get an error.
    fn start_leader(&self, db: &Db, org: OrgId, queued_more: Arc<Notify>) {
        let guard = Leading {
            combiner: self.clone(),
            org,
            finished: false,
        };
        let pool = db.pool().clone();
        if let (Some(send), Some(pipeline)) = (self.pipelined, db.pipeline())
            && lanes::running()
        {
            let pipeline = pipeline.clone();
            let leader: lanes::Start =
                Box::new(move || Box::pin(guard.lead_pipelined(pool, pipeline, send, queued_more)));
            // The lanes' thread, once running, never stops (its loop ends only when every
            // sender is gone, and the one sender is static); should it fail anyway, the leader
            // is dropped with its guard, which answers the queued items with an error.
            if lanes::spawn(leader).is_err() {
                tracing::error!("the write lanes' thread stopped; queued writes answer an error");
            }
            return;
        }
        drop(actix_web::rt::task::spawn_blocking(move || {
            guard.lead(&pool)
        }));
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

/// What a leader found in its lane.
enum Taken<I, O> {
    Batch(Vec<(I, Reply<O>)>),
    /// Nothing queued (and the leader may not give the lane up: it has batches in flight).
    Empty,
    /// Nothing queued, and the lane given up.
    GaveUp,
}

impl<I, O> Leading<I, O> {
    /// What is queued (up to [`MAX_BATCH`]); when nothing is and `may_give_up`, gives the lane up
    /// under the same lock that saw it empty, so a request queued after this starts a new leader.
    fn take(&mut self, may_give_up: bool) -> Taken<I, O> {
        let mut lanes = self.combiner.lanes();
        let lane = lanes.entry(self.org).or_default();
        if lane.queued.is_empty() {
            if !may_give_up {
                return Taken::Empty;
            }
            lane.leading = false;
            self.finished = true;
            return Taken::GaveUp;
        }
        let take = lane.queued.len().min(MAX_BATCH);
        Taken::Batch(lane.queued.drain(..take).collect())
    }

    /// Takes what is queued, writes it, answers, and again until the lane is empty.
    fn lead(mut self, pool: &Pool) {
        while let Taken::Batch(batch) = self.take(true) {
            let (items, replies): (Vec<I>, Vec<Reply<O>>) = batch.into_iter().unzip();
            tracing::debug!(items = items.len(), "writing a batch of queued items");
            answer(replies, self.combiner.write_batch(pool, items));
        }
    }
}

/// Sends each answer to its request (one that went away meanwhile no longer waits for it).
fn answer<O>(replies: Vec<Reply<O>>, answers: Vec<Result<O, AppError>>) {
    for (reply, answer) in replies.into_iter().zip(answers) {
        let _ = reply.send(answer);
    }
}

impl<I, O> Combiner<I, O> {
    /// Writes one batch on a pooled connection: in one statement if the combiner has a function
    /// for that and it can, else in a transaction ([`write_all_or_each`]). One answer per item.
    fn write_batch(&self, pool: &Pool, items: Vec<I>) -> Vec<Result<O, AppError>> {
        // A connection per batch, given back between batches (a pooled connection checked out a
        // moment ago is handed out again without a round trip).
        let mut conn = match pool.get() {
            Ok(conn) => conn,
            Err(e) => {
                let msg = format!("database pool: {e}");
                return items
                    .iter()
                    .map(|_| Err(AppError::Unavailable(msg.clone())))
                    .collect();
            }
        };
        let answers = match self
            .one_statement
            .map(|f| one_statement_caught(&mut conn, &items, f))
        {
            Some(Some(answers)) => answers,
            _ => write_all_or_each(&mut conn, items, self.write),
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
}

/// A batch a pipelined leader sent and has not answered yet.
struct InFlight<'c, I, O> {
    items: Vec<I>,
    replies: Vec<Reply<O>>,
    answers: Vec<O>,
    written: LocalBoxFuture<'c, Result<(), AppError>>,
    /// Its statement's outcome, once known.
    outcome: Option<Result<(), AppError>>,
    sent_at: Instant,
}

/// What a pipelined leader waking up found.
enum Woke {
    /// The oldest batch's outcome is known.
    Outcome,
    /// More items were queued (and there is room to send another batch).
    Queued,
    /// The oldest batch's outcome did not come in time.
    TimedOut,
}

impl<I: Send + 'static, O: Send + 'static> Leading<I, O> {
    /// Leads the lane on a connection of the lanes' own ([`lanes::take`]), and on a new one after
    /// it broke; when none can be had, in the blocking pool as [`Leading::lead`] does.
    async fn lead_pipelined(
        mut self,
        pool: Pool,
        pipeline: Pipeline,
        send: SendPipelined<I, O>,
        queued_more: Arc<Notify>,
    ) {
        loop {
            let Some(conn) = lanes::take(&pipeline).await else {
                let _ = tokio::task::spawn_blocking(move || self.lead(&pool)).await;
                return;
            };
            // Given back however this ends (a panic included: the connection is then closed).
            let held = Held(Some(conn));
            let Some(conn) = &held.0 else { return };
            match self
                .lead_on(conn, &pool, &pipeline, send, &queued_more)
                .await
            {
                Some(leading) => self = leading,
                None => return,
            }
        }
    }

    /// Sends batches on `conn` while at most [`IN_FLIGHT`] are unanswered, answers each as its
    /// outcome comes, in the lane's order, and gives the lane up once it is empty and every batch
    /// is answered (`None`). After a batch that did not commit, sends nothing more until every
    /// batch sent before is answered, so that the batches written on the pool take their numbers
    /// in the lane's order. Once the connection broke and nothing is in flight, hands the lane
    /// back for a new connection (`Some`).
    async fn lead_on(
        mut self,
        conn: &Rc<LaneConn>,
        pool: &Pool,
        pipeline: &Pipeline,
        send: SendPipelined<I, O>,
        queued_more: &Notify,
    ) -> Option<Self> {
        let mut flying: VecDeque<InFlight<'_, I, O>> = VecDeque::new();
        loop {
            if conn.broken.get() && flying.is_empty() {
                return Some(self);
            }
            if flying.len() < IN_FLIGHT {
                match self.take(flying.is_empty()) {
                    Taken::GaveUp => return None,
                    Taken::Empty => {}
                    Taken::Batch(batch) => {
                        let (items, replies): (Vec<I>, Vec<Reply<O>>) = batch.into_iter().unzip();
                        match self.send_batch(conn, items, replies, send).await {
                            Ok(sent) => flying.push_back(sent),
                            Err((items, replies)) => {
                                // On the pool, after the batches sent before it.
                                self.answer_all(conn, pool, pipeline, &mut flying).await;
                                let answers = self.write_on_pool(pool, items).await;
                                answer(replies, answers);
                            }
                        }
                        continue;
                    }
                }
            }
            let room = (flying.len() < IN_FLIGHT).then_some(queued_more);
            if !self
                .answer_next(conn, pool, pipeline, &mut flying, room)
                .await
            {
                self.answer_all(conn, pool, pipeline, &mut flying).await;
            }
        }
    }

    /// Answers every batch in flight, in order.
    async fn answer_all(
        &self,
        conn: &LaneConn,
        pool: &Pool,
        pipeline: &Pipeline,
        flying: &mut VecDeque<InFlight<'_, I, O>>,
    ) {
        while !flying.is_empty() {
            self.answer_next(conn, pool, pipeline, flying, None).await;
        }
    }

    /// Waits for the outcome of the oldest batch in `flying` and answers it, or, with `room` for
    /// another batch, returns as soon as more items are queued there. False when a batch did not
    /// commit (written on the pool, or its outcome unknown).
    async fn answer_next(
        &self,
        conn: &LaneConn,
        pool: &Pool,
        pipeline: &Pipeline,
        flying: &mut VecDeque<InFlight<'_, I, O>>,
        room: Option<&Notify>,
    ) -> bool {
        match wait(flying, room).await {
            Woke::Queued => true,
            Woke::Outcome => match flying.pop_front() {
                Some(sent) => self.finish(conn, pool, pipeline, sent).await,
                None => true,
            },
            Woke::TimedOut => {
                conn.broken.set(true);
                tracing::warn!(
                    timeout_s = OUTCOME_TIMEOUT.as_secs(),
                    "a write lane's batch got no answer in time; its outcome is unknown and the connection is dropped"
                );
                let unknown = AppError::Unavailable(
                    "the database did not answer in time; the write may or may not have been made; retry".into(),
                );
                for sent in flying.drain(..) {
                    answer(sent.replies, error_for_each(&sent.items, &unknown));
                }
                false
            }
        }
    }

    /// Sends `items`' statement on `conn` ([`SendPipelined`]): the batch in flight, or the items
    /// back when they are to be written on the pool (the function declined or failed, the
    /// connection is broken, or the answers are of a wrong count: the statement, never polled,
    /// was not sent).
    #[allow(clippy::type_complexity)]
    async fn send_batch<'c>(
        &self,
        conn: &'c LaneConn,
        items: Vec<I>,
        replies: Vec<Reply<O>>,
        send: SendPipelined<I, O>,
    ) -> Result<InFlight<'c, I, O>, (Vec<I>, Vec<Reply<O>>)> {
        if conn.broken.get() {
            return Err((items, replies));
        }
        let sent = match catch_unwind(AssertUnwindSafe(|| send(&conn.conn, &items))) {
            Ok(Ok(Some(sent))) if sent.answers.len() == items.len() => sent,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "a pipelined batch could not be sent; writing it on the pool");
                return Err((items, replies));
            }
            _ => return Err((items, replies)),
        };
        tracing::debug!(
            items = items.len(),
            "sending a batch of queued items pipelined"
        );
        let mut sent = InFlight {
            items,
            replies,
            answers: sent.answers,
            written: sent.written,
            outcome: None,
            sent_at: Instant::now(),
        };
        // Polled once now, so that its statement goes out before the next batch's.
        let first = poll_fn(|cx| Poll::Ready(sent.written.as_mut().poll(cx))).await;
        if let Poll::Ready(outcome) = first {
            sent.outcome = Some(outcome);
        }
        Ok(sent)
    }

    /// Answers a batch whose outcome is known: its answers once committed (true); written on the
    /// pool if its statement wrote nothing; `Unavailable` if the outcome is unknown (the
    /// connection is then dropped, and the batches after it answer their own outcomes).
    async fn finish(
        &self,
        conn: &LaneConn,
        pool: &Pool,
        pipeline: &Pipeline,
        sent: InFlight<'_, I, O>,
    ) -> bool {
        let InFlight {
            items,
            replies,
            answers,
            outcome,
            ..
        } = sent;
        match outcome {
            Some(Ok(())) => {
                pipeline.lane_batch_committed();
                answer(replies, answers.into_iter().map(Ok).collect());
                return true;
            }
            Some(Err(unknown @ AppError::Unavailable(_))) => {
                conn.broken.set(true);
                tracing::warn!(error = %unknown, "a write lane's connection failed; its batches' outcome is unknown");
                answer(replies, error_for_each(&items, &unknown));
            }
            // The server refused the statement, which then wrote nothing, if the connection is
            // still there: an error on a live session rolls its statement back, and one after a
            // commit (the server shutting down) ends the session.
            Some(Err(e)) if alive(conn).await => {
                tracing::debug!(error = %e, "a pipelined batch wrote nothing; writing it on the pool");
                let answers = self.write_on_pool(pool, items).await;
                answer(replies, answers);
            }
            Some(Err(e)) => {
                conn.broken.set(true);
                tracing::warn!(error = %e, "a write lane's connection ended with an error; its batches' outcome is unknown");
                let unknown = AppError::Unavailable(
                    "the database connection ended; the write may or may not have been made; retry"
                        .into(),
                );
                answer(replies, error_for_each(&items, &unknown));
            }
            None => {
                let e = AppError::internal("a pipelined batch was answered before its outcome");
                answer(replies, error_for_each(&items, &e));
            }
        }
        false
    }

    /// [`Combiner::write_batch`] in the blocking pool.
    async fn write_on_pool(&self, pool: &Pool, items: Vec<I>) -> Vec<Result<O, AppError>> {
        let n = items.len();
        let (combiner, pool) = (self.combiner.clone(), pool.clone());
        match tokio::task::spawn_blocking(move || combiner.write_batch(&pool, items)).await {
            Ok(answers) => answers,
            Err(_) => (0..n)
                .map(|_| Err(AppError::internal("a write panicked")))
                .collect(),
        }
    }
}

/// Whether `conn`'s session still answers (a query queued behind any batch still in flight).
async fn alive(conn: &LaneConn) -> bool {
    use diesel::IntoSql;
    use diesel::sql_types::Integer;
    use diesel_async::RunQueryDsl;
    let mut shared = &conn.conn;
    let ping = diesel::select(1.into_sql::<Integer>()).get_result::<i32>(&mut shared);
    matches!(tokio::time::timeout(OUTCOME_TIMEOUT, ping).await, Ok(Ok(1)))
}

/// The same error for each item.
fn error_for_each<I, O>(items: &[I], e: &AppError) -> Vec<Result<O, AppError>> {
    items
        .iter()
        .map(|_| {
            Err(match e {
                AppError::Unavailable(msg) => AppError::Unavailable(msg.clone()),
                other => AppError::internal(other.to_string()),
            })
        })
        .collect()
}

/// Waits until the oldest batch in flight has its outcome, or more items are queued in `room`
/// (given when there is room for another batch), or the oldest batch's answer is late
/// ([`OUTCOME_TIMEOUT`]). Every batch in flight is polled, so each one's statement goes out and
/// its outcome is kept as it comes.
async fn wait<I, O>(flying: &mut VecDeque<InFlight<'_, I, O>>, room: Option<&Notify>) -> Woke {
    let Some(deadline) = flying.front().map(|f| f.sent_at + OUTCOME_TIMEOUT) else {
        // Nothing in flight (callers wait only with something in flight): nothing to wait for.
        return Woke::Outcome;
    };
    let mut queued = pin!(async {
        match room {
            Some(queued_more) => queued_more.notified().await,
            None => std::future::pending().await,
        }
    });
    let mut late = pin!(tokio::time::sleep_until(deadline.into()));
    poll_fn(|cx| {
        for f in flying.iter_mut().filter(|f| f.outcome.is_none()) {
            if let Poll::Ready(outcome) = f.written.as_mut().poll(cx) {
                f.outcome = Some(outcome);
            }
        }
        if flying.front().is_some_and(|f| f.outcome.is_some()) {
            return Poll::Ready(Woke::Outcome);
        }
        if queued.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Woke::Queued);
        }
        if late.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Woke::TimedOut);
        }
        Poll::Pending
    })
    .await
}

/// A lane's connection while its leader holds it; given back to the lanes when dropped.
struct Held(Option<Rc<LaneConn>>);

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            lanes::give_back(conn);
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
