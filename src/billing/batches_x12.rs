//! Gathers what the 837 of a batch needs (organization, payer, claims with patient, coverage,
//! rendering provider and lines) into the plain values of [`super::x12::writer`], and writes it.
//!
//! The claims are read [`CHUNK`] at a time, each with its patient, coverage and rendering
//! provider in one joined row, and their lines beside them; each chunk is dropped once its
//! segments are written (the 837 of 10 000 claims used to hold every row and value at once:
//! +92 MB at the peak, BENCHMARKS.md "Memory"). Two ways to read, the same rows:
//!
//! * PostgreSQL: two cursors ([`crate::db::cursor`]), the claims and the lines of the batch in
//!   output order, each one statement with one plan over the tables, fetched a chunk at a time
//!   and merged by claim id; the lines' cursor on a second connection, read by a thread of its
//!   own, when the caller has one;
//! * SQLite: the batch's claim ids in output order, then each chunk's claims and lines by id.
//!
//! Reading and writing overlap: the thread holding the connection reads (the claims, and the
//! lines unless their own thread does), a scoped thread turns the rows into `Claim837` values
//! and writes their segments. The output is the same bytes
//! whatever the chunk size or the backend: the claims in patient control number order (unique
//! per organization), each claim's lines by line number.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::mpsc::{self, SyncSender};

use super::batches::Batch;
use super::schema::batch_claims::dsl as bc;
use super::x12::writer::{
    self, Address, BillingProvider, Claim837, Interchange, Line837, Person, Receiver, Rendering,
    Submitter,
};
use crate::claims::domain::ClaimStatus;
use crate::claims::repo::json_list;
use crate::claims::schema::{claim_lines::dsl as cl, claims::dsl as cs};
use crate::db::cursor::Cursor;
use crate::db::schema::{coverages::dsl as cv, patients::dsl as pa, providers::dsl as pr};
use crate::db::{BatchId, ClaimId, DbConn, OrgId, PROBE_CHUNK, load_by_ids_at_most, parse_id};
use crate::directory::domain::ProviderKind;
use crate::directory::repo as directory;
use crate::error::AppError;
use crate::patients::domain::{Priority, Relationship};
use crate::values::Sex;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

/// Claims read, converted and written at a time (and 4x as many lines fetched at a time on
/// PostgreSQL). 1 000 rather than 500: fewer fetches, 4-8 % faster on 10 000 claims, and the
/// two or three chunks in flight stay a few MB.
pub const CHUNK: usize = 1000;

/// The claims of a batch: `batch_claims` joined to `claims` (same organization), filtered by
/// organization and batch, where every read of a batch's claims here starts.
macro_rules! batch_claims {
    ($org:expr, $batch:expr) => {
        bc::batch_claims
            .inner_join(cs::claims.on(cs::id.eq(bc::claim_id).and(cs::org_id.eq(bc::org_id))))
            .filter(bc::org_id.eq($org))
            .filter(bc::batch_id.eq($batch))
    };
}

/// A batch's 837, checked and ready to write: its envelope, its payer and its size.
pub struct Prepared {
    pub interchange: Interchange,
    org_id: OrgId,
    batch_id: BatchId,
    payer_name: String,
    payer_id: String,
    /// How many claims the batch holds (checked against its members).
    claims: usize,
}

/// Checks that the 837 of a batch can be written: `409` when the batch cannot be generated
/// (status, voided claims, missing settings). Counts the batch's claims and reads the control
/// numbers of the voided ones; [`Prepared::write`] reads the rest.
pub fn prepare(conn: &mut DbConn, org_id: OrgId, batch: &Batch) -> Result<Prepared, AppError> {
    if !batch.status.can_generate() {
        return Err(AppError::Conflict {
            detail: format!(
                "a {} batch has no 837: only approved or submitted batches do",
                batch.status
            ),
            extra: None,
        });
    }
    let (Some(control), Some(at)) = (batch.interchange_control_number, batch.approved_at) else {
        return Err(AppError::internal("approved batch without control number"));
    };
    let org = crate::orgs::repo::get_org(conn, org_id)?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let payer = directory::get_payer(conn, org_id, batch.payer_id)?
        .ok_or_else(|| AppError::internal("batch payer vanished"))?;

    let mut missing = Vec::new();
    let mut need = |name: &str, v: &Option<String>| -> String {
        match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => s.to_owned(),
            None => {
                missing.push(name.to_owned());
                String::new()
            }
        }
    };
    let npi = need("npi", &org.npi);
    let tax_id = need("tax_id", &org.tax_id);
    let submitter_id = need("submitter_id", &org.submitter_id);
    let line1 = need("address.line1", &org.address_line1);
    let city = need("address.city", &org.city);
    let state = need("address.state", &org.state);
    let postal_code = need("address.postal_code", &org.postal_code);
    if org.contact_phone.is_none() && org.contact_email.is_none() && org.phone.is_none() {
        missing.push("contact_phone".to_owned());
    }
    if !missing.is_empty() {
        let mut extra = serde_json::Map::new();
        extra.insert("missing_settings".into(), missing.clone().into());
        return Err(AppError::Conflict {
            detail: format!(
                "the organization's billing settings are incomplete: {}",
                missing.join(", ")
            ),
            extra: Some(extra),
        });
    }

    // The batch's size and its voided claims; the claims themselves are read by `write`.
    let (org_key, batch_key) = (org_id.to_string(), batch.id.to_string());
    let members = crate::db::load::<_, i64>(
        conn,
        bc::batch_claims
            .filter(bc::org_id.eq(&org_key))
            .filter(bc::batch_id.eq(&batch_key))
            .count(),
    )?
    .first()
    .copied()
    .unwrap_or_default();
    let claims = usize::try_from(members).unwrap_or(usize::MAX);
    if claims != usize::try_from(batch.claim_count).unwrap_or(usize::MAX) {
        return Err(AppError::internal(
            "batch membership does not match its claim count",
        ));
    }
    let voided: Vec<String> = crate::db::load(
        conn,
        batch_claims!(&org_key, &batch_key)
            .filter(cs::status.eq_any([ClaimStatus::Void.as_str(), ClaimStatus::Replaced.as_str()]))
            .order(cs::patient_control_number.asc())
            .select(cs::patient_control_number),
    )?;
    if !voided.is_empty() {
        let mut extra = serde_json::Map::new();
        extra.insert("voided_claims".into(), voided.clone().into());
        return Err(AppError::Conflict {
            detail: format!(
                "claims of this batch were voided or replaced since: {}",
                voided.join(", ")
            ),
            extra: Some(extra),
        });
    }

    let interchange = Interchange {
        kind: batch.kind()?,
        control_number: control,
        at,
        test: false,
        submitter: Submitter {
            id: submitter_id,
            name: org
                .submitter_name
                .clone()
                .unwrap_or_else(|| org.name.clone()),
            contact_name: org
                .contact_name
                .clone()
                .unwrap_or_else(|| org.submitter_name.clone().unwrap_or(org.name.clone())),
            contact_phone: org.contact_phone.clone().or(org.phone.clone()),
            contact_email: org.contact_email.clone(),
        },
        receiver: Receiver {
            id: payer
                .receiver_edi_id
                .clone()
                .unwrap_or_else(|| payer.edi_id.clone()),
            name: payer.receiver_name.clone().unwrap_or(payer.name.clone()),
        },
        billing_provider: BillingProvider {
            name: org.name.clone(),
            npi,
            tax_id,
            taxonomy_code: org.taxonomy_code.clone(),
            address: Address {
                line1,
                line2: org.address_line2.clone(),
                city,
                state,
                postal_code,
            },
        },
    };
    Ok(Prepared {
        interchange,
        org_id,
        batch_id: batch.id,
        payer_name: payer.name,
        payer_id: payer.edi_id,
        claims,
    })
}

/// At most this many claims per chunk.
const MAX_CHUNK: usize = 1 << 20;

/// Lines fetched per claim of a chunk (the bench's claims have 4; more or fewer only changes how
/// many fetches the lines take).
const LINES_PER_CLAIM: usize = 4;

/// How a savepoint or transaction of the 837's cursors ended ([`read_then_undo`]): it is always
/// rolled back, after the read or on its failure.
enum Undone {
    Read,
    Failed(AppError),
}

impl From<diesel::result::Error> for Undone {
    fn from(e: diesel::result::Error) -> Self {
        Self::Failed(e.into())
    }
}

fn changed_while_read() -> AppError {
    AppError::internal("batch claims changed while their 837 was read")
}

/// The settings of the 837's cursors, local to the savepoint or transaction that declares them.
/// Cursors are planned for all their rows, as a SELECT is: by default PostgreSQL plans a cursor
/// for its first tenth (`cursor_tuple_fraction` 0.1), which here chose index probes per claim
/// over hash joins and read 2-3x slower; and the lines' sort gets the memory to stay off disk
/// (10 000 claims: 2.6 MB spilled with the default 4 MB).
const CURSOR_SETTINGS: &str = "SET LOCAL cursor_tuple_fraction = 1.0; SET LOCAL work_mem = '64MB'";

/// The body of a savepoint or transaction of the 837's cursors: sets [`CURSOR_SETTINGS`], runs
/// `read`, and always ends in a rollback (`Err`), which closes the cursors and undoes the
/// settings whether `read` got to the end or failed; [`undone`] tells which.
fn read_then_undo(
    pg: &mut diesel::PgConnection,
    read: impl FnOnce(&mut diesel::PgConnection) -> Result<(), AppError>,
) -> Result<(), Undone> {
    pg.batch_execute(CURSOR_SETTINGS)?;
    Err(match read(pg) {
        Ok(()) => Undone::Read,
        Err(e) => Undone::Failed(e),
    })
}

/// How [`read_then_undo`]'s read went, once rolled back.
fn undone(ended: Result<(), Undone>) -> Result<(), AppError> {
    match ended {
        Ok(()) | Err(Undone::Read) => Ok(()),
        Err(Undone::Failed(e)) => Err(e),
    }
}

/// Where the claims' side of the 837 gets its lines, a page at a time, in output order.
enum LinePages {
    /// The lines' cursor on the same connection, `usize` lines per fetch.
    Cursor(LineCursor, usize),
    /// Pages of `usize` lines the lines' thread fetched on its own connection
    /// ([`Prepared::send_lines`]); the last one is shorter, empty if need be.
    Sent(mpsc::Receiver<Vec<LineRow>>, usize),
    /// Read to the end.
    Done,
}

impl LinePages {
    /// The next page of lines; none once they are all read.
    fn next(&mut self, pg: &mut diesel::PgConnection) -> Result<Vec<LineRow>, AppError> {
        let rows = match self {
            Self::Cursor(cursor, page) => {
                let rows: Vec<LineRow> = cursor.fetch(pg, *page)?;
                if rows.len() < *page {
                    *self = Self::Done;
                }
                rows
            }
            Self::Sent(pages, page) => {
                // Closed before the short page: the lines' thread failed, and returns why.
                let rows = pages
                    .recv()
                    .map_err(|_| AppError::internal("the 837's lines stopped before their end"))?;
                if rows.len() < *page {
                    *self = Self::Done;
                }
                rows
            }
            Self::Done => Vec::new(),
        };
        Ok(rows)
    }

    /// Whether lines remain once the claims are read (then the batch changed while read).
    fn any_left(&mut self, pg: &mut diesel::PgConnection) -> Result<bool, AppError> {
        Ok(!self.next(pg)?.is_empty())
    }
}

/// The columns of [`LineRow`], in its order: one token list serving as the lines' select clause
/// and, in [`LineCursor`], as its type.
macro_rules! line_columns {
    () => {
        (
            cl::claim_id,
            cl::procedure_code,
            cl::modifiers,
            cl::diagnosis_pointers,
            cl::units,
            cl::charge_cents,
            cl::service_date,
            cl::tooth,
            cl::surfaces,
            cl::oral_cavity_area,
            cl::line_control_number,
        )
    };
}

/// The lines' cursor: rows of [`LineRow`] (the type of [`line_columns`]).
type LineCursor = Cursor<diesel::dsl::SqlTypeOf<line_columns!()>>;

/// Claims (`$claims`: the claims table, or the batch joined to it), each with its patient, its
/// coverage and its rendering provider (if any), as rows of [`Joined`]; the callers filter them.
/// A macro rather than a function, since diesel's join types are not worth naming.
macro_rules! claims_joined {
    ($claims:expr) => {
        $claims
            .inner_join(pa::patients.on(pa::id.eq(cs::patient_id).and(pa::org_id.eq(cs::org_id))))
            .inner_join(cv::coverages.on(cv::id.eq(cs::coverage_id).and(cv::org_id.eq(cs::org_id))))
            .left_join(
                pr::providers.on(pr::id
                    .nullable()
                    .eq(cs::rendering_provider_id)
                    .and(pr::org_id.eq(cs::org_id))),
            )
            .select((
                (
                    cs::id,
                    cs::place_of_service,
                    cs::diagnoses,
                    cs::prior_authorization,
                    cs::patient_control_number,
                    cs::frequency_code,
                    cs::original_reference,
                    cs::payer_claim_number,
                ),
                (
                    pa::last_name,
                    pa::first_name,
                    pa::middle_name,
                    pa::birth_date,
                    pa::sex,
                    pa::address_line1,
                    pa::address_line2,
                    pa::city,
                    pa::state,
                    pa::postal_code,
                ),
                (
                    cv::member_id,
                    cv::group_number,
                    cv::priority,
                    cv::relationship,
                    cv::subscriber_first_name,
                    cv::subscriber_last_name,
                    cv::subscriber_birth_date,
                    cv::subscriber_sex,
                    cv::subscriber_address_line1,
                    cv::subscriber_address_line2,
                    cv::subscriber_city,
                    cv::subscriber_state,
                    cv::subscriber_postal_code,
                ),
                (
                    pr::kind,
                    pr::npi,
                    pr::first_name,
                    pr::last_name,
                    pr::organization_name,
                    pr::taxonomy_code,
                )
                    .nullable(),
            ))
    };
}

impl Prepared {
    /// How many claims the 837 holds.
    pub fn claims(&self) -> usize {
        self.claims
    }

    /// Writes the 837 into `out`, reading and converting [`CHUNK`] claims at a time. `spare`: a
    /// second connection (PostgreSQL), if one is idle, to read the lines on beside the claims; it
    /// does not see what `conn`'s transaction wrote, so that transaction must not have written
    /// the batch's claims or lines, nor locked their tables against reads (the second
    /// connection would wait on a lock this thread never releases).
    pub fn write<W: Write + Send>(
        &self,
        conn: &mut DbConn,
        spare: Option<&mut DbConn>,
        out: &mut W,
    ) -> Result<(), AppError> {
        self.write_in_chunks(conn, spare, out, CHUNK)
    }

    /// [`Prepared::write`] with `chunk` claims at a time (at least 1): the bytes do not depend on
    /// it (tested with small chunks).
    ///
    /// This thread reads (it holds the connection and its transaction) while a scoped thread
    /// converts and writes the chunk before, so the segments of one chunk are formatted while
    /// the database answers the next; at most one chunk waits between them. A database failure
    /// ends the claims early and is returned (the caller discards what was written).
    ///
    /// On PostgreSQL with a `spare` connection, a third thread reads the lines on it
    /// ([`Prepared::send_lines`]) while this one reads the claims, so each side's server works
    /// while the other's rows are decoded; without one, both cursors are read here in turn.
    /// SQLite ignores `spare`.
    pub fn write_in_chunks<W: Write + Send>(
        &self,
        conn: &mut DbConn,
        spare: Option<&mut DbConn>,
        out: &mut W,
        chunk: usize,
    ) -> Result<(), AppError> {
        // FETCH takes a 32-bit count.
        let chunk = chunk.clamp(1, MAX_CHUNK);
        let (send, receive) = mpsc::sync_channel::<Vec<Gathered>>(1);
        let (interchange, payer_name, payer_id) =
            (&self.interchange, &self.payer_name, &self.payer_id);
        std::thread::scope(|scope| {
            let writing = std::thread::Builder::new()
                .name("x12-writer".into())
                .spawn_scoped(scope, move || {
                    let claims = receive
                        .into_iter()
                        .flatten()
                        .map(|g| claim_837(g, payer_name, payer_id));
                    writer::write_837(out, interchange, claims)
                })
                .map_err(|e| AppError::internal(format!("x12 writer thread: {e}")))?;
            let read = match (conn, spare) {
                (DbConn::Postgresql(pg), Some(DbConn::Postgresql(other))) => {
                    self.read_with_cursors(pg, Some(other), chunk, &send)
                }
                (DbConn::Postgresql(pg), _) => self.read_with_cursors(pg, None, chunk, &send),
                (conn @ DbConn::Sqlite(_), _) => self.read_by_ids(conn, chunk, &send),
            };
            drop(send);
            let written = writing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            read?;
            written.map_err(|e| AppError::internal(format!("x12 writer: {e}")))
        })
    }

    /// PostgreSQL: the claims and the lines of the batch through two cursors in the same order,
    /// merged by claim id, `chunk` claims (and [`LINES_PER_CLAIM`] × `chunk` lines) per fetch:
    /// the lines' cursor on `lines_on` by a thread of its own when there is one, else on `pg`.
    ///
    /// Each cursor lives in a savepoint (or a transaction of its own) that is always rolled back
    /// ([`read_then_undo`]): the reads change nothing, and the rollback closes the cursor and
    /// undoes the settings made for it, whether it was read to the end or a fetch failed.
    ///
    /// Each cursor reads as of its own `DECLARE` (read committed, the default), on one
    /// connection or two alike, except that the second connection does not see what the
    /// caller's transaction wrote: callers read the batch without having written it, as the
    /// handler does (and must not hold locks that would make the second connection wait). An
    /// approved batch's claims and lines no longer change; lines left over once the claims are
    /// read, or a count of claims other than the batch's, fail the 837 as changed
    /// ([`changed_while_read`]).
    fn read_with_cursors(
        &self,
        pg: &mut diesel::PgConnection,
        lines_on: Option<&mut diesel::PgConnection>,
        chunk: usize,
        send: &SyncSender<Vec<Gathered>>,
    ) -> Result<(), AppError> {
        let page = chunk.saturating_mul(LINES_PER_CLAIM);
        let Some(other) = lines_on else {
            return self.merge_in_savepoint(pg, chunk, send, |pg| {
                Ok(LinePages::Cursor(self.declare_lines(pg)?, page))
            });
        };
        let (line_send, line_receive) = mpsc::sync_channel::<Vec<LineRow>>(1);
        std::thread::scope(|scope| {
            let lines = std::thread::Builder::new()
                .name("x12-lines".into())
                .spawn_scoped(scope, move || self.send_lines(other, page, &line_send))
                .map_err(|e| AppError::internal(format!("x12 lines thread: {e}")))?;
            let read = self
                .merge_in_savepoint(pg, chunk, send, |_| Ok(LinePages::Sent(line_receive, page)));
            let sent = lines
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            // A failure on the lines' side closes their pages before the last, which stops the
            // claims' side at once: the lines' own error is the one to report.
            sent?;
            read
        })
    }

    /// The claims' side of [`Prepared::read_with_cursors`]: [`Prepared::fetch_merged`] with the
    /// lines `lines` gives, in a savepoint (or a transaction of its own) always rolled back
    /// ([`read_then_undo`]).
    fn merge_in_savepoint(
        &self,
        pg: &mut diesel::PgConnection,
        chunk: usize,
        send: &SyncSender<Vec<Gathered>>,
        lines: impl FnOnce(&mut diesel::PgConnection) -> Result<LinePages, AppError>,
    ) -> Result<(), AppError> {
        undone(pg.transaction(|pg| {
            read_then_undo(pg, |pg| {
                let lines = lines(pg)?;
                self.fetch_merged(pg, chunk, lines, send)
            })
        }))
    }

    /// The lines' side of [`Prepared::read_with_cursors`] on a connection of its own: its cursor
    /// in a read-only transaction that is always rolled back, `page` lines at a time into `send`
    /// until they end or the claims' side stops taking them.
    fn send_lines(
        &self,
        pg: &mut diesel::PgConnection,
        page: usize,
        send: &SyncSender<Vec<LineRow>>,
    ) -> Result<(), AppError> {
        undone(
            pg.build_transaction()
                .read_only()
                .run(|pg| read_then_undo(pg, |pg| self.fetch_lines(pg, page, send))),
        )
    }

    /// The reads of [`Prepared::send_lines`], in its transaction: every page, the last one
    /// shorter (empty if the lines fill their pages exactly), which tells the claims' side they
    /// ended.
    fn fetch_lines(
        &self,
        pg: &mut diesel::PgConnection,
        page: usize,
        send: &SyncSender<Vec<LineRow>>,
    ) -> Result<(), AppError> {
        let lines = self.declare_lines(pg)?;
        loop {
            let rows: Vec<LineRow> = lines.fetch(pg, page)?;
            let last = rows.len() < page;
            if send.send(rows).is_err() || last {
                // The end, or the claims' side stopped (what it returns says why).
                return Ok(());
            }
        }
    }

    /// Declares the lines' cursor: the lines of the batch in output order (patient control
    /// number, line number).
    fn declare_lines(&self, pg: &mut diesel::PgConnection) -> Result<LineCursor, AppError> {
        let (org, batch) = (self.org_id.to_string(), self.batch_id.to_string());
        Ok(Cursor::declare(
            pg,
            "officina_837_lines",
            cl::claim_lines
                .inner_join(
                    bc::batch_claims
                        .on(bc::claim_id.eq(cl::claim_id).and(bc::org_id.eq(cl::org_id))),
                )
                .inner_join(cs::claims.on(cs::id.eq(cl::claim_id).and(cs::org_id.eq(cl::org_id))))
                .filter(bc::org_id.eq(&org))
                .filter(bc::batch_id.eq(&batch))
                .order((cs::patient_control_number.asc(), cl::line_number.asc()))
                .select(line_columns!()),
        )?)
    }

    /// The reads of [`Prepared::merge_in_savepoint`], in its savepoint: the claims' cursor
    /// fetched `chunk` at a time, each claim given the lines that follow it in `lines`.
    fn fetch_merged(
        &self,
        pg: &mut diesel::PgConnection,
        chunk: usize,
        mut lines: LinePages,
        send: &SyncSender<Vec<Gathered>>,
    ) -> Result<(), AppError> {
        let (org, batch) = (self.org_id.to_string(), self.batch_id.to_string());
        let claims = Cursor::declare(
            pg,
            "officina_837_claims",
            claims_joined!(batch_claims!(&org, &batch)).order(cs::patient_control_number.asc()),
        )?;
        let mut pending: VecDeque<LineRow> = VecDeque::new();
        let (mut read, mut writer_stopped) = (0, false);
        loop {
            let rows: Vec<Joined> = claims.fetch(pg, chunk)?;
            if rows.is_empty() {
                break;
            }
            read += rows.len();
            let mut gathered = Vec::with_capacity(rows.len());
            for row in rows {
                let mut its = Vec::new();
                loop {
                    if pending.is_empty() {
                        pending.extend(lines.next(pg)?);
                    }
                    if pending.front().is_some_and(|l| l.claim_id == row.0.id) {
                        its.extend(pending.pop_front());
                    } else {
                        break;
                    }
                }
                gathered.push(Gathered::new(row, its));
            }
            if send.send(gathered).is_err() {
                // The writer stopped on an error, which `write_in_chunks` returns.
                writer_stopped = true;
                break;
            }
        }
        if !writer_stopped && (read != self.claims || !pending.is_empty() || lines.any_left(pg)?) {
            return Err(changed_while_read());
        }
        Ok(())
    }

    /// SQLite: the batch's claim ids in output order, then each chunk's claims (one joined
    /// statement) and lines ([`PROBE_CHUNK`] ids per statement) by id.
    fn read_by_ids(
        &self,
        conn: &mut DbConn,
        chunk: usize,
        send: &SyncSender<Vec<Gathered>>,
    ) -> Result<(), AppError> {
        let (org, batch) = (self.org_id.to_string(), self.batch_id.to_string());
        let order: Vec<ClaimId> = crate::db::load::<_, String>(
            conn,
            batch_claims!(&org, &batch)
                .order(cs::patient_control_number.asc())
                .select(cs::id),
        )?
        .iter()
        .map(|id| parse_id(id))
        .collect::<Result<_, _>>()?;
        if order.len() != self.claims {
            return Err(changed_while_read());
        }
        for ids in order.chunks(chunk) {
            let position: HashMap<ClaimId, usize> =
                ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
            let mut slots: Vec<Option<Joined>> = ids.iter().map(|_| None).collect();
            for row in load_by_ids_at_most(conn, ids, PROBE_CHUNK, |conn, some| {
                Ok(crate::db::load::<_, Joined>(
                    conn,
                    // By primary key: the organization as `same_org!`, which no index serves,
                    // so SQLite looks the ids up instead of walking an organization's index
                    // (driven from the batch's index it read the whole batch for every
                    // statement: 8.3 s for 10 000 claims).
                    claims_joined!(cs::claims)
                        .filter(crate::same_org!(cs::org_id, org.clone()))
                        .filter(cs::id.eq_any(some)),
                )?)
            })? {
                if let Some(&i) = position.get(&row.0.id) {
                    slots[i] = Some(row);
                }
            }
            let rows = slots
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| AppError::internal("batch claim vanished"))?;
            let mut lines_by: HashMap<ClaimId, Vec<LineRow>> = HashMap::new();
            for l in load_by_ids_at_most(conn, ids, PROBE_CHUNK, |conn, some| {
                Ok(crate::db::load::<_, LineRow>(
                    conn,
                    cl::claim_lines
                        .filter(cl::org_id.eq(&org))
                        .filter(cl::claim_id.eq_any(some))
                        .order((cl::claim_id.asc(), cl::line_number.asc()))
                        .select(line_columns!()),
                )?)
            })? {
                lines_by.entry(l.claim_id).or_default().push(l);
            }
            let gathered = rows
                .into_iter()
                .map(|row| {
                    let lines = lines_by.remove(&row.0.id).unwrap_or_default();
                    Gathered::new(row, lines)
                })
                .collect();
            if send.send(gathered).is_err() {
                // The writer stopped on an error, which `write_in_chunks` returns.
                break;
            }
        }
        Ok(())
    }
}

/// The columns of a claim the 837 uses, and below those of its patient, coverage and rendering
/// provider. The gathering reads tens of thousands of claims and lines; reading only these (not
/// the timestamps, totals, notes, search keys) halves what is sent and decoded.
#[derive(Queryable)]
struct ClaimRow {
    #[diesel(deserialize_as = String)]
    id: ClaimId,
    place_of_service: String,
    /// JSON array of ICD-10-CM codes.
    diagnoses: String,
    prior_authorization: Option<String>,
    patient_control_number: String,
    frequency_code: String,
    original_reference: Option<String>,
    payer_claim_number: Option<String>,
}

#[derive(Queryable)]
struct PatientRow {
    last_name: String,
    first_name: String,
    middle_name: Option<String>,
    birth_date: chrono::NaiveDate,
    #[diesel(deserialize_as = String)]
    sex: Sex,
    address_line1: String,
    address_line2: Option<String>,
    city: String,
    state: String,
    postal_code: String,
}

#[derive(Queryable)]
struct CoverageRow {
    member_id: String,
    group_number: Option<String>,
    #[diesel(deserialize_as = String)]
    priority: Priority,
    #[diesel(deserialize_as = String)]
    relationship: Relationship,
    subscriber_first_name: Option<String>,
    subscriber_last_name: Option<String>,
    subscriber_birth_date: Option<chrono::NaiveDate>,
    subscriber_sex: Option<String>,
    subscriber_address_line1: Option<String>,
    subscriber_address_line2: Option<String>,
    subscriber_city: Option<String>,
    subscriber_state: Option<String>,
    subscriber_postal_code: Option<String>,
}

#[derive(Queryable)]
struct ProviderRow {
    #[diesel(deserialize_as = String)]
    kind: ProviderKind,
    npi: String,
    first_name: Option<String>,
    last_name: Option<String>,
    organization_name: Option<String>,
    taxonomy_code: Option<String>,
}

/// One row of [`claims_joined`].
type Joined = (ClaimRow, PatientRow, CoverageRow, Option<ProviderRow>);

/// The columns of a claim line the 837 uses.
#[derive(Queryable)]
struct LineRow {
    #[diesel(deserialize_as = String)]
    claim_id: ClaimId,
    procedure_code: String,
    /// JSON arrays, as stored.
    modifiers: String,
    diagnosis_pointers: String,
    units: i64,
    charge_cents: i64,
    service_date: chrono::NaiveDate,
    tooth: Option<String>,
    surfaces: String,
    oral_cavity_area: Option<String>,
    line_control_number: String,
}

/// A claim as read, with its lines in line number order: what the writing thread converts.
struct Gathered {
    claim: ClaimRow,
    patient: PatientRow,
    coverage: CoverageRow,
    provider: Option<ProviderRow>,
    lines: Vec<LineRow>,
}

impl Gathered {
    fn new((claim, patient, coverage, provider): Joined, lines: Vec<LineRow>) -> Self {
        Self {
            claim,
            patient,
            coverage,
            provider,
            lines,
        }
    }
}

/// The writer's value of a gathered claim (pure).
fn claim_837(g: Gathered, payer_name: &str, payer_id: &str) -> Claim837 {
    let Gathered {
        claim: c,
        patient,
        coverage: cov,
        provider,
        lines,
    } = g;
    let rendering = provider.map(|p| {
        let is_person = p.kind == ProviderKind::Individual;
        Rendering {
            is_person,
            last_name: if is_person {
                p.last_name.unwrap_or_default()
            } else {
                p.organization_name.unwrap_or_default()
            },
            first_name: p.first_name,
            npi: p.npi,
            taxonomy_code: p.taxonomy_code,
        }
    });
    let patient_person = Person {
        address: Address {
            line1: patient.address_line1,
            line2: patient.address_line2,
            city: patient.city,
            state: patient.state,
            postal_code: patient.postal_code,
        },
        last_name: patient.last_name,
        first_name: patient.first_name,
        middle_name: patient.middle_name,
        birth_date: patient.birth_date,
        sex: patient.sex.as_str().to_owned(),
    };
    let (subscriber, pat) = match cov.relationship {
        Relationship::Myself => (patient_person, None),
        rel => {
            let sub = Person {
                last_name: cov.subscriber_last_name.unwrap_or_default(),
                first_name: cov.subscriber_first_name.unwrap_or_default(),
                middle_name: None,
                birth_date: cov
                    .subscriber_birth_date
                    .unwrap_or(patient_person.birth_date),
                sex: cov.subscriber_sex.unwrap_or_else(|| "U".into()),
                address: Address {
                    line1: cov.subscriber_address_line1.unwrap_or_default(),
                    line2: cov.subscriber_address_line2,
                    city: cov.subscriber_city.unwrap_or_default(),
                    state: cov.subscriber_state.unwrap_or_default(),
                    postal_code: cov.subscriber_postal_code.unwrap_or_default(),
                },
            };
            let code = match rel {
                Relationship::Spouse => "01",
                Relationship::Child => "19",
                _ => "G8",
            };
            (sub, Some((patient_person, code.to_owned())))
        }
    };
    Claim837 {
        subscriber,
        member_id: cov.member_id,
        group_number: cov.group_number,
        payer_responsibility: match cov.priority {
            Priority::Primary => 'P',
            Priority::Secondary => 'S',
            Priority::Tertiary => 'T',
        },
        patient: pat,
        payer_name: payer_name.to_owned(),
        payer_id: payer_id.to_owned(),
        total_charge_cents: lines.iter().map(|l| l.charge_cents).sum(),
        place_of_service: c.place_of_service,
        payer_claim_number: c.original_reference.or(c.payer_claim_number),
        frequency_code: c.frequency_code,
        prior_authorization: c.prior_authorization,
        patient_control_number: c.patient_control_number,
        diagnoses: json_list(&c.diagnoses),
        rendering,
        lines: lines
            .into_iter()
            .map(|l| Line837 {
                modifiers: json_list(&l.modifiers),
                diagnosis_pointers: json_list(&l.diagnosis_pointers),
                surfaces: json_list(&l.surfaces),
                procedure_code: l.procedure_code,
                units: l.units,
                charge_cents: l.charge_cents,
                service_date: l.service_date,
                place_of_service: None,
                tooth: l.tooth,
                oral_cavity_area: l.oral_cavity_area,
                control_number: l.line_control_number,
            })
            .collect(),
    }
}
