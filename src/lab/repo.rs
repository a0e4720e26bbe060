//! Specimen queries and the custody chain, scoped by organization. Nothing here deletes a row:
//! a specimen ends as `disposed`, `lost` or `entered_in_error`, and every change appends an event.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::{LazyLock, Mutex, PoisonError};

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::api::SpecimenView;
use super::documents;
use super::domain::{
    Accession, LabPriority, ResultFlag, SpecimenStatus, SpecimenType, TestCodeSystem,
};
use super::schema::{
    custody_events::dsl as ev, lab_charges::dsl as ch, specimen_tests::dsl as st,
    specimens::dsl as sp, test_results::dsl as tr,
};
use crate::audit::{self, AuditCtx};
use crate::auth::{Guard, Role};
use crate::db::combine::Sent;
use crate::db::ids::parse_id;
use crate::db::schema::patients::dsl as pa;
use crate::db::schema::providers::dsl as pv;
use crate::db::{
    ChargeId, CustodyEventId, DbConn, OrgId, PatientId, ProviderId, SpecimenId, SpecimenTestId,
    TestResultId,
};
use crate::directory::repo::stale;
use crate::error::AppError;
use crate::http::Page;

/// Declares [`SpecimenColumns`] and [`SPECIMEN_COLUMNS`] from one list, so the type and the
/// value cannot drift apart.
macro_rules! specimen_columns {
    ($($column:ident),+ $(,)?) => {
        /// The columns of a [`Specimen`], in its fields' order: every column but the stored view
        /// (`document`, `document_format`, read only by [`super::documents`]).
        #[allow(clippy::type_complexity)]
        pub type SpecimenColumns = ($(sp::$column,)+);

        /// See [`SpecimenColumns`].
        pub const SPECIMEN_COLUMNS: SpecimenColumns = ($(sp::$column,)+);
    };
}

specimen_columns!(
    id,
    org_id,
    accession_number,
    parent_id,
    aliquot_count,
    patient_id,
    specimen_type,
    container,
    volume_ul,
    ordering_provider_id,
    priority,
    status,
    collected_at,
    collected_by,
    received_at,
    location,
    rejection_reasons,
    version,
    created_by,
    created_at,
    updated_at,
);

/// A specimen's row without its stored view ([`SPECIMEN_COLUMNS`]).
#[derive(Debug, Clone, Queryable)]
pub struct Specimen {
    #[diesel(deserialize_as = String)]
    pub id: SpecimenId,
    #[diesel(deserialize_as = String)]
    pub org_id: OrgId,
    pub accession_number: String,
    pub parent_id: Option<String>,
    pub aliquot_count: i32,
    #[diesel(deserialize_as = String)]
    pub patient_id: PatientId,
    #[diesel(deserialize_as = String)]
    pub specimen_type: SpecimenType,
    pub container: Option<String>,
    pub volume_ul: Option<i64>,
    pub ordering_provider_id: Option<String>,
    #[diesel(deserialize_as = String)]
    pub priority: LabPriority,
    #[diesel(deserialize_as = String)]
    pub status: SpecimenStatus,
    pub collected_at: Option<NaiveDateTime>,
    pub collected_by: Option<String>,
    pub received_at: Option<NaiveDateTime>,
    pub location: Option<String>,
    pub rejection_reasons: Option<String>,
    pub version: i32,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable)]
pub struct SpecimenTest {
    #[diesel(deserialize_as = String)]
    pub id: SpecimenTestId,
    #[diesel(deserialize_as = String)]
    pub org_id: OrgId,
    #[diesel(deserialize_as = String)]
    pub specimen_id: SpecimenId,
    #[diesel(deserialize_as = String)]
    pub code_system: TestCodeSystem,
    pub code: String,
    pub name: String,
    pub billing_code: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable)]
pub struct TestResult {
    #[diesel(deserialize_as = String)]
    pub id: TestResultId,
    #[diesel(deserialize_as = String)]
    pub org_id: OrgId,
    #[diesel(deserialize_as = String)]
    pub test_id: SpecimenTestId,
    pub result_version: i32,
    pub value: String,
    pub unit: Option<String>,
    pub reference_range: Option<String>,
    pub flag: Option<String>,
    pub comment: Option<String>,
    pub entered_by: String,
    pub entered_at: NaiveDateTime,
    pub verified_by: Option<String>,
    pub verified_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable)]
pub struct CustodyEvent {
    #[diesel(deserialize_as = String)]
    pub id: CustodyEventId,
    #[diesel(deserialize_as = String)]
    pub org_id: OrgId,
    #[diesel(deserialize_as = String)]
    pub specimen_id: SpecimenId,
    pub from_status: Option<String>,
    pub to_status: String,
    pub kind: String,
    pub actor_id: String,
    pub at: NaiveDateTime,
    pub location: Option<String>,
    pub temperature_c: Option<f64>,
    pub note: Option<String>,
    pub reasons: Option<String>,
}

#[derive(Debug, Clone, Queryable)]
pub struct Charge {
    #[diesel(deserialize_as = String)]
    pub id: ChargeId,
    #[diesel(deserialize_as = String)]
    pub org_id: OrgId,
    #[diesel(deserialize_as = String)]
    pub patient_id: PatientId,
    #[diesel(deserialize_as = String)]
    pub specimen_id: SpecimenId,
    #[diesel(deserialize_as = String)]
    pub test_id: SpecimenTestId,
    pub procedure_code: String,
    pub service_date: NaiveDate,
    pub amount_cents: Option<i64>,
    pub status: String,
    pub created_at: NaiveDateTime,
}

/// A checked ordered test.
#[derive(Debug, Clone)]
pub struct NewTest {
    pub code_system: TestCodeSystem,
    pub code: String,
    pub name: String,
    pub billing_code: Option<String>,
}

/// A checked registration.
#[derive(Debug, Clone)]
pub struct NewSpecimen {
    pub patient_id: PatientId,
    pub specimen_type: SpecimenType,
    pub container: Option<String>,
    pub ordering_provider_id: Option<ProviderId>,
    pub priority: LabPriority,
    pub collected_at: Option<NaiveDateTime>,
    pub collected_by: Option<String>,
    pub tests: Vec<NewTest>,
}

fn who(ctx: &AuditCtx) -> String {
    ctx.actor
        .map(|a| a.to_string())
        .unwrap_or_else(|| "system".into())
}

pub fn get_specimen(
    conn: &mut DbConn,
    org: OrgId,
    id: SpecimenId,
) -> Result<Option<Specimen>, AppError> {
    Ok(sp::specimens
        .filter(sp::org_id.eq(org.to_string()))
        .filter(sp::id.eq(id.to_string()))
        .select(SPECIMEN_COLUMNS)
        .first(conn)
        .optional()?)
}

pub fn require_specimen(
    conn: &mut DbConn,
    org: OrgId,
    id: SpecimenId,
) -> Result<Specimen, AppError> {
    get_specimen(conn, org, id)?.ok_or_else(|| AppError::not_found("specimen"))
}

/// [`require_specimen`], locking the row on PostgreSQL until the transaction ends (`FOR NO KEY
/// UPDATE`, the lock an `UPDATE` takes; SQLite's write transaction already excludes every other
/// writer): changes of one specimen's results run one at a time, so two entries cannot take the
/// same result version and two verifications cannot both bill the test.
pub fn lock_specimen(conn: &mut DbConn, org: OrgId, id: SpecimenId) -> Result<Specimen, AppError> {
    let query = sp::specimens
        .filter(sp::org_id.eq(org.to_string()))
        .filter(sp::id.eq(id.to_string()))
        .select(SPECIMEN_COLUMNS);
    let found: Option<Specimen> = match conn {
        DbConn::Postgresql(c) => query.for_no_key_update().first(c).optional()?,
        DbConn::Sqlite(c) => query.first(c).optional()?,
    };
    found.ok_or_else(|| AppError::not_found("specimen"))
}

pub fn by_accession(
    conn: &mut DbConn,
    org: OrgId,
    number: &str,
) -> Result<Option<Specimen>, AppError> {
    Ok(sp::specimens
        .filter(sp::org_id.eq(org.to_string()))
        .filter(sp::accession_number.eq(number))
        .select(SPECIMEN_COLUMNS)
        .first(conn)
        .optional()?)
}

pub fn tests_of(
    conn: &mut DbConn,
    org: OrgId,
    specimen: SpecimenId,
) -> Result<Vec<SpecimenTest>, AppError> {
    Ok(st::specimen_tests
        .filter(st::org_id.eq(org.to_string()))
        .filter(st::specimen_id.eq(specimen.to_string()))
        .order(st::id.asc())
        .load(conn)?)
}

/// The tests of many specimens with every result version of each, in one query (tests left
/// joined to their results): each specimen's tests in id order, each test's results oldest first.
pub fn tests_with_results(
    conn: &mut DbConn,
    org: OrgId,
    specimens: &[SpecimenId],
) -> Result<(Vec<SpecimenTest>, Vec<TestResult>), AppError> {
    if specimens.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let ids: Vec<String> = specimens.iter().map(ToString::to_string).collect();
    let query = st::specimen_tests
        .left_join(tr::test_results.on(tr::org_id.eq(st::org_id).and(tr::test_id.eq(st::id))))
        .filter(st::org_id.eq(org.to_string()))
        .filter(st::specimen_id.eq_any(ids))
        .order((
            st::specimen_id.asc(),
            st::id.asc(),
            tr::result_version.asc(),
        ))
        .select((
            st::specimen_tests::all_columns(),
            tr::test_results::all_columns().nullable(),
        ));
    Ok(split_tests(crate::db::load(conn, query)?))
}

/// Whether the ordering provider `provider` of a registration is the organization's (`false`
/// when none is named or its id is malformed), if the caller may register ([`Guard::holds`] with
/// the registering roles) and the organization has the patient `patient`. No row otherwise; the
/// pool's check then answers (`POST /specimens`, `Bearer::check_pipelined`).
pub fn registration_refs(
    guard: &Guard,
    patient: PatientId,
    provider: Option<ProviderId>,
) -> registration_refs_in {
    registration_refs_in(
        guard.org().to_string(),
        patient.to_string(),
        provider.map(|p| p.to_string()).unwrap_or_default(),
        guard.holds(),
    )
}

/// [`registration_refs`] as `auto_type` can name it.
#[diesel::dsl::auto_type]
pub fn registration_refs_in(
    org: String,
    patient: String,
    provider: String,
    holds: crate::auth::repo::caller_holds_in,
) -> _ {
    let provider_found: provider_exists = provider_exists(org.clone(), provider);
    pa::patients
        .filter(pa::org_id.eq(org))
        .filter(pa::id.eq(patient))
        .filter(holds)
        .select(provider_found)
}

/// Whether the organization `org` has the provider `provider` ([`registration_refs`]).
#[diesel::dsl::auto_type]
fn provider_exists(org: String, provider: String) -> _ {
    diesel::dsl::exists(
        pv::providers
            .filter(pv::org_id.eq(org))
            .filter(pv::id.eq(provider)),
    )
}

/// A specimen, its tests, and their results.
pub type SpecimenWithTests = (Specimen, Vec<SpecimenTest>, Vec<TestResult>);

/// One specimen with its tests and their results, in one query (the specimen left joined to its
/// tests and their results) that also checks the caller ([`Guard::holds`]): what
/// `GET /specimens/{id}` shows. `None` when there is no such specimen or the caller may not read.
pub fn specimen_with_tests(
    conn: &mut DbConn,
    guard: &Guard,
    id: SpecimenId,
) -> Result<Option<SpecimenWithTests>, AppError> {
    let query = sp::specimens
        .left_join(st::specimen_tests.on(st::org_id.eq(sp::org_id).and(st::specimen_id.eq(sp::id))))
        .left_join(tr::test_results.on(tr::org_id.eq(st::org_id).and(tr::test_id.eq(st::id))))
        .filter(sp::org_id.eq(guard.org().to_string()))
        .filter(sp::id.eq(id.to_string()))
        .filter(guard.holds())
        .order((st::id.asc(), tr::result_version.asc()))
        .select((
            SPECIMEN_COLUMNS,
            st::specimen_tests::all_columns().nullable(),
            tr::test_results::all_columns().nullable(),
        ));
    let rows: Vec<(Specimen, Option<SpecimenTest>, Option<TestResult>)> =
        crate::db::load(conn, query)?;
    let mut rows = rows.into_iter();
    let Some((specimen, test, result)) = rows.next() else {
        return Ok(None);
    };
    let pairs = std::iter::once((test, result))
        .chain(rows.map(|(_, t, r)| (t, r)))
        .filter_map(|(t, r)| t.map(|t| (t, r)))
        .collect();
    let (tests, results) = split_tests(pairs);
    Ok(Some((specimen, tests, results)))
}

/// Rows of tests left joined to results (a test repeated once per result version) split into
/// the tests, once each, and the results.
fn split_tests(
    rows: Vec<(SpecimenTest, Option<TestResult>)>,
) -> (Vec<SpecimenTest>, Vec<TestResult>) {
    let mut tests: Vec<SpecimenTest> = Vec::new();
    let mut results = Vec::new();
    for (t, r) in rows {
        if tests.last().is_none_or(|last| last.id != t.id) {
            tests.push(t);
        }
        results.extend(r);
    }
    (tests, results)
}

#[allow(clippy::too_many_arguments)]
fn append_event(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    specimen: SpecimenId,
    from: Option<SpecimenStatus>,
    to: SpecimenStatus,
    kind: &str,
    location: Option<&str>,
    temperature_c: Option<f64>,
    note: Option<&str>,
    reasons: Option<&str>,
) -> Result<(), AppError> {
    diesel::insert_into(ev::custody_events)
        .values((
            ev::id.eq(CustodyEventId::new().to_string()),
            ev::org_id.eq(ctx.org.to_string()),
            ev::specimen_id.eq(specimen.to_string()),
            ev::from_status.eq(from.map(|s| s.as_str())),
            ev::to_status.eq(to.as_str()),
            ev::kind.eq(kind),
            ev::actor_id.eq(who(ctx)),
            ev::at.eq(crate::db::now()),
            ev::location.eq(location),
            ev::temperature_c.eq(temperature_c),
            ev::note.eq(note),
            ev::reasons.eq(reasons),
        ))
        .execute(conn)?;
    Ok(())
}

/// Registers a specimen with its tests: a new gapless accession number (per organization and
/// year, from the counters table inside this transaction), status `collected` or `ordered`, and
/// the first custody event.
pub fn register(conn: &mut DbConn, ctx: &AuditCtx, new: NewSpecimen) -> Result<Specimen, AppError> {
    let one = [Registration {
        ctx: ctx.clone(),
        new,
    }];
    register_numbered(conn, &one, false)?
        .pop()
        .map(|r| r.specimen)
        .ok_or_else(|| AppError::internal("registration wrote nothing"))
}

/// A checked registration of one request, waiting for its number.
#[derive(Debug, Clone)]
pub struct Registration {
    pub ctx: AuditCtx,
    pub new: NewSpecimen,
}

/// A specimen as its registration wrote it, with its tests (it has no results yet).
#[derive(Debug, Clone)]
pub struct Registered {
    pub specimen: Specimen,
    pub tests: Vec<SpecimenTest>,
    /// Its view as JSON, as stored ([`super::documents`]): the registration's answer.
    pub document: String,
}

/// The organization's accession prefix and `n` new numbers of its accession counter for `year`
/// ([`crate::db::next_counters`]). On PostgreSQL one statement (the counter's upsert returns the
/// prefix), which saves a registration batch a round trip while it holds the counter; on SQLite,
/// in process, the organization is read first. (An organization that does not exist is an error
/// either way; callers act for an organization their caller check found.)
fn accession_numbers(
    conn: &mut DbConn,
    org: OrgId,
    year: i32,
    n: usize,
) -> Result<(String, RangeInclusive<i64>), AppError> {
    let name = accession_counter(year);
    let DbConn::Postgresql(c) = conn else {
        let prefix = crate::orgs::repo::get_org(conn, org)?
            .ok_or_else(|| AppError::not_found("organization"))?
            .accession_prefix;
        return Ok((prefix, crate::db::next_counters(conn, org, &name, n)?));
    };
    let step = crate::db::counter_step(n)?;
    let org = org.to_string();
    let upsert = crate::db::CounterUpsert::<true> {
        org: &org,
        name: &name,
        step,
    };
    let (last, prefix): (i64, Option<String>) = upsert.get_result(c)?;
    let prefix = prefix.ok_or_else(|| AppError::not_found("organization"))?;
    Ok((prefix, last - step + 1..=last))
}

/// Registers specimens of one organization in the caller's transaction, numbered in order
/// (gapless: one counter step of `regs.len()`): the counter, then the specimens, their tests,
/// their first custody events and their audit rows (on PostgreSQL one prepared statement of
/// column arrays whatever their number, `pg_rows`; on SQLite a prepared INSERT per row). Returns
/// them as written, in order, without reading them back.
pub fn register_all(conn: &mut DbConn, regs: &[Registration]) -> Result<Vec<Registered>, AppError> {
    register_numbered(conn, regs, true)
}

/// [`register_all`]; `in_lane` for the registrations' lane (`AppState::registrations`), the
/// only writer that moves where the lane expects the counter (`cached_accession`). Another
/// registration (with an `Idempotency-Key`) leaves it: the lane's next batch then finds the
/// counter moved, writes nothing and is written in a transaction, in its turn (had it moved the
/// expectation, a batch sent pipelined after it could take its numbers before an earlier batch
/// that failed).
fn register_numbered(
    conn: &mut DbConn,
    regs: &[Registration],
    in_lane: bool,
) -> Result<Vec<Registered>, AppError> {
    let Some(org_id) = AuditCtx::common_org(regs.iter().map(|r| &r.ctx))? else {
        return Ok(Vec::new());
    };
    let now = crate::db::now();
    let year = now.year();
    let (prefix, numbers) = accession_numbers(conn, org_id, year, regs.len())?;
    if in_lane && matches!(conn, DbConn::Postgresql(_)) {
        // Where the next one-statement batch expects the counter. Before the commit, which may
        // fail: the statement checks the counter against it and then goes no further.
        cache_accession(org_id, year, &prefix, *numbers.end());
    }
    let done = registered(regs, org_id, now, &prefix, numbers)?;
    insert_registered(conn, regs, &done, now, None)?;
    Ok(done)
}

/// PostgreSQL, outside any transaction: registers specimens of one organization like
/// [`register_all`], but in one statement that commits on its own, the counter's step included,
/// so a batch costs one round trip instead of four (`BEGIN`, the counter, the rows, `COMMIT`;
/// the last three made while the batch holds the counter). The numbers follow where this process
/// last left the organization's counter for the year, by such a statement or by a transaction,
/// under the prefix it had (`cached_accession`); when it does not know (first use, after a
/// failure), the counter and prefix as committed, read first. The statement moves the counter
/// first and only if it still stands there under the same prefix, and fails otherwise, writing
/// nothing (`CounterStep`). `Ok(None)` (SQLite; a counter no registration
/// has committed yet) and an error both leave the batch to [`register_all`] in a transaction,
/// which takes its numbers from the counter itself.
pub fn register_all_in_one_statement(
    conn: &mut DbConn,
    regs: &[Registration],
) -> Result<Option<Vec<Registered>>, AppError> {
    if !matches!(conn, DbConn::Postgresql(_)) {
        return Ok(None);
    }
    let Some(org_id) = AuditCtx::common_org(regs.iter().map(|r| &r.ctx))? else {
        return Ok(Some(Vec::new()));
    };
    let now = crate::db::now();
    let year = now.year();
    let name = accession_counter(year);
    let known = match cached_accession(org_id, year) {
        Some(known) => Some(known),
        None => committed_accession(conn, org_id, &name)?,
    };
    let Some(known) = known else {
        return Ok(None);
    };
    let (done, moved) = numbered_from(regs, org_id, now, known)?;
    match insert_registered(conn, regs, &done, now, Some(&moved)) {
        Ok(()) => {
            cache_accession(org_id, year, &moved.prefix, moved.end());
            Ok(Some(done))
        }
        Err(e) => {
            forget_accession(org_id, year);
            Err(e)
        }
    }
}

/// PostgreSQL, on a write lane's connection ([`crate::db::combine::SendPipelined`]): sends the
/// statement [`register_all_in_one_statement`] runs, without waiting for its outcome, numbered
/// from where this process expects the counter once the batches sent before it have committed
/// (`cached_accession`, moved on at once for the batch sent next). `Ok(None)` when the process
/// does not know where the counter stands (first use, after a failure): the batch is then written
/// on the pool, which reads the counter or takes it in a transaction. The statement moves the
/// counter only from where it expects it, so a batch sent after one that failed fails too,
/// having written nothing, and is written on the pool in its turn.
pub fn send_registrations<'c>(
    conn: &'c diesel_async::AsyncPgConnection,
    regs: &[Registration],
) -> Result<Option<Sent<'c, Registered>>, AppError> {
    use futures_util::FutureExt;
    let Some(org_id) = AuditCtx::common_org(regs.iter().map(|r| &r.ctx))? else {
        return Ok(None);
    };
    let now = crate::db::now();
    let year = now.year();
    let Some(known) = cached_accession(org_id, year) else {
        return Ok(None);
    };
    let (done, moved) = numbered_from(regs, org_id, now, known)?;
    // The statement's text and binds are made here; the future only borrows the connection.
    let statement = pg_rows(regs, &done, now, Some(&moved), |rows| {
        let mut shared = conn;
        diesel_async::RunQueryDsl::execute(rows, &mut shared)
    });
    let end = moved.end();
    let prefix = moved.prefix;
    cache_accession(org_id, year, &prefix, end);
    let written = async move {
        match statement.await {
            Ok(_) => {
                // Known again after a batch before it failed (which forgot it).
                accession_cache()
                    .entry((org_id, year))
                    .or_insert((prefix, end));
                Ok(())
            }
            Err(e) => {
                forget_accession(org_id, year);
                Err(AppError::from(e))
            }
        }
    }
    .boxed_local();
    Ok(Some(Sent {
        answers: done,
        written,
    }))
}

/// The name of the accession counter of `year`.
fn accession_counter(year: i32) -> String {
    format!("accession:{year}")
}

/// Per organization and year, the last accession number this process handed out, with the
/// prefix it carried: where [`register_all_in_one_statement`] expects the counter to stand (a
/// guess it checks). One small entry per practice and year.
type AccessionCache = HashMap<(OrgId, i32), (String, i64)>;

fn accession_cache() -> std::sync::MutexGuard<'static, AccessionCache> {
    static CACHE: LazyLock<Mutex<AccessionCache>> = LazyLock::new(Mutex::default);
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn cached_accession(org: OrgId, year: i32) -> Option<(String, i64)> {
    accession_cache().get(&(org, year)).cloned()
}

fn cache_accession(org: OrgId, year: i32, prefix: &str, last: i64) {
    accession_cache().insert((org, year), (prefix.to_owned(), last));
}

fn forget_accession(org: OrgId, year: i32) {
    accession_cache().remove(&(org, year));
}

/// The organization's prefix and the counter `name` as committed, if a registration has
/// committed it.
fn committed_accession(
    conn: &mut DbConn,
    org: OrgId,
    name: &str,
) -> Result<Option<(String, i64)>, AppError> {
    use crate::db::schema::counters::dsl as k;
    use diesel::sql_types::{Nullable, Text};
    let prefix = diesel::dsl::sql::<Nullable<Text>>(
        "(SELECT accession_prefix FROM organizations WHERE organizations.id = counters.org_id)",
    );
    let row: Option<(i64, Option<String>)> = crate::on_inner!(conn, |c| k::counters
        .filter(k::org_id.eq(org.to_string()))
        .filter(k::name.eq(name))
        .select((k::value, prefix.clone()))
        .first(c)
        .optional())?;
    Ok(row.and_then(|(last, prefix)| prefix.map(|p| (p, last))))
}

/// The counter step of a one-statement batch ([`register_all_in_one_statement`]): the first `WITH`
/// query of its statement (`w0`, `pg_rows`) moves the counter from `from` to `from + step` where it
/// stands at `from` and the organization's prefix is still `prefix`, and returns the rows it moved;
/// the statement's main query, [`CounterStepGuard`], reads them. PostgreSQL runs a `WITH` query
/// when the main statement first reads it, before the parts nobody reads (the INSERTs, run once the
/// main statement is done), so the counter is locked before any row is written, as in the
/// transaction, and two writers never wait on each other in opposite orders. A counter that moved
/// meanwhile (the step re-checks it after waiting for another writer's lock), a new prefix or a
/// missing row leave `w0` empty, and the main statement's division by its row count fails the whole
/// statement.
pub(super) struct CounterStep {
    org: String,
    name: String,
    from: i64,
    step: i64,
    prefix: String,
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for CounterStep {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Text};
        out.push_sql("UPDATE counters SET value = value + ");
        out.push_bind_param::<BigInt, _>(&self.step)?;
        out.push_sql(" WHERE org_id = ");
        out.push_bind_param::<Text, _>(&self.org)?;
        out.push_sql(" AND name = ");
        out.push_bind_param::<Text, _>(&self.name)?;
        out.push_sql(" AND value = ");
        out.push_bind_param::<BigInt, _>(&self.from)?;
        out.push_sql(" AND (SELECT accession_prefix FROM organizations WHERE id = ");
        out.push_bind_param::<Text, _>(&self.org)?;
        out.push_sql(") = ");
        out.push_bind_param::<Text, _>(&self.prefix)?;
        out.push_sql(" RETURNING value");
        Ok(())
    }
}

/// The main statement of a one-statement batch: reads [`CounterStep`]'s `w0` (so that it runs
/// first) and fails, dividing by zero, unless it moved the counter's one row.
pub(super) struct CounterStepGuard;

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for CounterStepGuard {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql("SELECT 1 / count(*) FROM w0");
        Ok(())
    }
}

impl CounterStep {
    /// Where the counter stands once the step is made.
    fn end(&self) -> i64 {
        self.from + self.step
    }
}

/// `regs` numbered on from `known` (the organization's prefix and where its counter is expected
/// to stand), as they will be written, and the counter step that guards them.
fn numbered_from(
    regs: &[Registration],
    org_id: OrgId,
    now: NaiveDateTime,
    (prefix, last): (String, i64),
) -> Result<(Vec<Registered>, CounterStep), AppError> {
    let step = crate::db::counter_step(regs.len())?;
    let done = registered(regs, org_id, now, &prefix, last + 1..=last + step)?;
    let moved = CounterStep {
        org: org_id.to_string(),
        name: accession_counter(now.year()),
        from: last,
        step,
        prefix,
    };
    Ok((done, moved))
}

/// `f` on the PostgreSQL statement that writes what [`registered`] built ([`super::pg_rows`]):
/// the specimens, tests, first custody events and audit rows, with the counter's step when one
/// is given.
fn pg_rows<R>(
    regs: &[Registration],
    done: &[Registered],
    now: NaiveDateTime,
    step: Option<&CounterStep>,
    f: impl FnOnce(super::pg_rows::RegistrationRows<'_>) -> R,
) -> R {
    let org_s = done
        .first()
        .map(|d| d.specimen.org_id.to_string())
        .unwrap_or_default();
    let audits = creation_audits(done, now);
    let audits: Vec<(&AuditCtx, &audit::PendingAudit)> =
        regs.iter().map(|r| &r.ctx).zip(&audits).collect();
    let audits = audit::new_rows(&audits);
    f(super::pg_rows::RegistrationRows::new(
        step,
        &org_s,
        done,
        now,
        documents::format(),
        &audits,
    ))
}

/// The registrations as they will be written, numbered `numbers` in order, each with its view.
fn registered(
    regs: &[Registration],
    org_id: OrgId,
    now: NaiveDateTime,
    prefix: &str,
    numbers: RangeInclusive<i64>,
) -> Result<Vec<Registered>, AppError> {
    let year = now.year();
    regs.iter()
        .zip(numbers)
        .map(|(r, seq)| {
            let specimen = Specimen {
                id: SpecimenId::new(),
                org_id,
                accession_number: Accession::new(prefix, year, seq).base(),
                parent_id: None,
                aliquot_count: 0,
                patient_id: r.new.patient_id,
                specimen_type: r.new.specimen_type,
                container: r.new.container.clone(),
                volume_ul: None,
                ordering_provider_id: r.new.ordering_provider_id.map(|p| p.to_string()),
                priority: r.new.priority,
                status: if r.new.collected_at.is_some() {
                    SpecimenStatus::Collected
                } else {
                    SpecimenStatus::Ordered
                },
                collected_at: r.new.collected_at,
                collected_by: r.new.collected_by.clone(),
                received_at: None,
                location: None,
                rejection_reasons: None,
                version: 1,
                created_by: who(&r.ctx),
                created_at: now,
                updated_at: now,
            };
            let tests = r
                .new
                .tests
                .iter()
                .map(|t| SpecimenTest {
                    id: SpecimenTestId::new(),
                    org_id,
                    specimen_id: specimen.id,
                    code_system: t.code_system,
                    code: t.code.clone(),
                    name: t.name.clone(),
                    billing_code: t.billing_code.clone(),
                    created_at: now,
                })
                .collect::<Vec<_>>();
            // Tests in creation order, which is their id order (`Uuid::now_v7` is monotonic
            // within a process), the order every later rewrite reads them in.
            let view = SpecimenView::new(specimen.clone(), tests.clone(), Vec::new());
            let document = documents::render(&view)?;
            Ok(Registered {
                specimen,
                tests,
                document,
            })
        })
        .collect()
}

/// The audit row of each registration [`registered`] built, at `now`.
fn creation_audits(done: &[Registered], now: NaiveDateTime) -> Vec<audit::PendingAudit> {
    done.iter()
        .map(|d| audit::PendingAudit {
            action: "specimen.create",
            entity: "specimen",
            entity_id: Some(d.specimen.id.to_string()),
            detail: Some(serde_json::json!({
                "accession_number": d.specimen.accession_number,
                "tests": d.tests.len(),
            })),
            at: now,
        })
        .collect()
}

/// Writes registrations [`registered`] built: their specimens, tests, first custody events and
/// audit rows; on PostgreSQL in one statement, with the counter's step when one is given.
fn insert_registered(
    conn: &mut DbConn,
    regs: &[Registration],
    done: &[Registered],
    now: NaiveDateTime,
    step: Option<&CounterStep>,
) -> Result<(), AppError> {
    let Some(org_id) = done.first().map(|d| d.specimen.org_id) else {
        return Ok(());
    };
    match conn {
        // One statement, one round trip, while the batch holds the counter: the same text and
        // the same parameters (an array per column) for any batch, prepared once per connection.
        DbConn::Postgresql(c) => {
            pg_rows(regs, done, now, step, |rows| rows.run(c))?;
        }
        // A row per statement: in process, a prepared single-row INSERT costs less than parsing
        // a multi-row one, and diesel prepares those (of any row count) again for every batch.
        DbConn::Sqlite(c) => {
            let org_s = org_id.to_string();
            let format = documents::format();
            let audits = creation_audits(done, now);
            let audits: Vec<(&AuditCtx, &audit::PendingAudit)> =
                regs.iter().map(|r| &r.ctx).zip(&audits).collect();
            let specimens: Vec<_> = done
                .iter()
                .map(|r| {
                    let s = &r.specimen;
                    (
                        (
                            sp::id.eq(s.id.to_string()),
                            sp::org_id.eq(&org_s),
                            sp::accession_number.eq(&s.accession_number),
                            sp::aliquot_count.eq(s.aliquot_count),
                            sp::patient_id.eq(s.patient_id.to_string()),
                            sp::specimen_type.eq(s.specimen_type.as_str()),
                            sp::container.eq(&s.container),
                            sp::ordering_provider_id.eq(&s.ordering_provider_id),
                            sp::priority.eq(s.priority.as_str()),
                            sp::status.eq(s.status.as_str()),
                        ),
                        (
                            sp::collected_at.eq(s.collected_at),
                            sp::collected_by.eq(&s.collected_by),
                            sp::version.eq(s.version),
                            sp::created_by.eq(&s.created_by),
                            sp::created_at.eq(s.created_at),
                            sp::updated_at.eq(s.updated_at),
                            sp::document.eq(Some(&r.document)),
                            sp::document_format.eq(format),
                        ),
                    )
                })
                .collect();
            let tests: Vec<_> = done
                .iter()
                .flat_map(|r| &r.tests)
                .map(|t| {
                    (
                        st::id.eq(t.id.to_string()),
                        st::org_id.eq(&org_s),
                        st::specimen_id.eq(t.specimen_id.to_string()),
                        st::code_system.eq(t.code_system.as_str()),
                        st::code.eq(&t.code),
                        st::name.eq(&t.name),
                        st::billing_code.eq(&t.billing_code),
                        st::created_at.eq(t.created_at),
                    )
                })
                .collect();
            let events: Vec<_> = done
                .iter()
                .map(|r| {
                    let s = &r.specimen;
                    (
                        ev::id.eq(CustodyEventId::new().to_string()),
                        ev::org_id.eq(&org_s),
                        ev::specimen_id.eq(s.id.to_string()),
                        ev::from_status.eq(None::<&str>),
                        ev::to_status.eq(s.status.as_str()),
                        ev::kind.eq("register"),
                        ev::actor_id.eq(&s.created_by),
                        ev::at.eq(now),
                    )
                })
                .collect();
            for row in specimens {
                diesel::insert_into(sp::specimens).values(row).execute(c)?;
            }
            for row in tests {
                diesel::insert_into(st::specimen_tests)
                    .values(row)
                    .execute(c)?;
            }
            for row in events {
                diesel::insert_into(ev::custody_events)
                    .values(row)
                    .execute(c)?;
            }
            audit::record_each(conn, &audits)?;
        }
    }
    Ok(())
}

/// A requested custody change.
#[derive(Debug, Clone)]
pub enum Change {
    /// A state transition.
    To {
        to: SpecimenStatus,
        location: Option<String>,
        temperature_c: Option<f64>,
        note: Option<String>,
        reasons: Vec<String>,
    },
    /// A storage move: the location changes, the state does not.
    Store {
        location: String,
        temperature_c: Option<f64>,
        note: Option<String>,
    },
}

/// The `409` for a transition the table does not allow, listing the allowed ones.
pub fn illegal(from: SpecimenStatus, to: &str) -> AppError {
    let mut extra = serde_json::Map::new();
    extra.insert("current".into(), from.as_str().into());
    extra.insert(
        "allowed".into(),
        serde_json::Value::Array(
            from.allowed()
                .into_iter()
                .map(|s| s.as_str().into())
                .collect(),
        ),
    );
    AppError::Conflict {
        detail: format!("a specimen that is {from} cannot go to {to}"),
        extra: Some(extra),
    }
}

/// What a transition did.
pub struct Transitioned {
    pub specimen: Specimen,
    /// Aliquots moved along with the parent (rejection cascade).
    pub cascaded: Vec<String>,
    /// Aliquots whose state did not allow the cascade.
    pub cascade_skipped: Vec<String>,
}

/// Applies one custody change and appends its event. `role` decides `entered_in_error`;
/// `expected_version`, when given, must be current.
pub fn apply(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    role: Role,
    id: SpecimenId,
    expected_version: Option<i32>,
    change: Change,
) -> Result<Transitioned, AppError> {
    let s = require_specimen(conn, ctx.org, id)?;
    if let Some(v) = expected_version
        && v != s.version
    {
        return Err(stale("specimen", v, s.version));
    }
    let target = sp::specimens
        .filter(sp::org_id.eq(ctx.org.to_string()))
        .filter(sp::id.eq(id.to_string()));
    match change {
        Change::Store {
            location,
            temperature_c,
            note,
        } => {
            if s.status.is_terminal() {
                return Err(AppError::conflict(format!(
                    "a specimen that is {} cannot be moved",
                    s.status
                )));
            }
            let n = diesel::update(target.filter(sp::version.eq(s.version)))
                .set((
                    sp::location.eq(&location),
                    sp::version.eq(s.version + 1),
                    sp::updated_at.eq(crate::db::now()),
                ))
                .execute(conn)?;
            if n == 0 {
                return Err(stale("specimen", s.version, s.version + 1));
            }
            append_event(
                conn,
                ctx,
                id,
                Some(s.status),
                s.status,
                "store",
                Some(&location),
                temperature_c,
                note.as_deref(),
                None,
            )?;
            audit::record(
                conn,
                ctx,
                "specimen.store",
                "specimen",
                Some(&id.to_string()),
                None,
            )?;
            documents::refresh(conn, ctx.org, &[id])?;
            Ok(Transitioned {
                specimen: require_specimen(conn, ctx.org, id)?,
                cascaded: vec![],
                cascade_skipped: vec![],
            })
        }
        Change::To {
            to,
            location,
            temperature_c,
            note,
            reasons,
        } => {
            if to == SpecimenStatus::EnteredInError && !matches!(role, Role::Admin | Role::Manager)
            {
                return Err(AppError::Forbidden(
                    "only a manager or an administrator marks a specimen entered in error".into(),
                ));
            }
            if !s.status.can_go_to(to) {
                return Err(illegal(s.status, to.as_str()));
            }
            move_one(
                conn,
                ctx,
                &s,
                to,
                location.as_deref(),
                temperature_c,
                note.as_deref(),
                &reasons,
                "transition",
            )?;
            let mut cascaded = Vec::new();
            let mut cascade_skipped = Vec::new();
            if to == SpecimenStatus::Rejected {
                let mut queue = children(conn, ctx.org, id)?;
                while let Some(child) = queue.pop() {
                    if child.status.can_go_to(SpecimenStatus::Rejected) {
                        let note = format!("rejected with parent {}", s.accession_number);
                        move_one(
                            conn,
                            ctx,
                            &child,
                            to,
                            None,
                            None,
                            Some(&note),
                            &reasons,
                            "cascade",
                        )?;
                        cascaded.push(child.accession_number.clone());
                    } else if child.status != SpecimenStatus::Rejected {
                        cascade_skipped.push(child.accession_number.clone());
                    }
                    queue.extend(children(conn, ctx.org, child.id)?);
                }
            }
            Ok(Transitioned {
                specimen: require_specimen(conn, ctx.org, id)?,
                cascaded,
                cascade_skipped,
            })
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn move_one(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    s: &Specimen,
    to: SpecimenStatus,
    location: Option<&str>,
    temperature_c: Option<f64>,
    note: Option<&str>,
    reasons: &[String],
    kind: &str,
) -> Result<(), AppError> {
    let now = crate::db::now();
    let reasons_text = (!reasons.is_empty()).then(|| reasons.join(","));
    let n = diesel::update(
        sp::specimens
            .filter(sp::org_id.eq(ctx.org.to_string()))
            .filter(sp::id.eq(s.id.to_string()))
            .filter(sp::version.eq(s.version)),
    )
    .set((
        sp::status.eq(to.as_str()),
        sp::version.eq(s.version + 1),
        sp::updated_at.eq(now),
        sp::location.eq(location.map(str::to_owned).or_else(|| s.location.clone())),
        sp::received_at.eq(if to == SpecimenStatus::Received {
            Some(now)
        } else {
            s.received_at
        }),
        sp::collected_at.eq(if to == SpecimenStatus::Collected {
            s.collected_at.or(Some(now))
        } else {
            s.collected_at
        }),
        sp::rejection_reasons.eq(if to == SpecimenStatus::Rejected {
            reasons_text.clone()
        } else {
            s.rejection_reasons.clone()
        }),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(stale("specimen", s.version, s.version + 1));
    }
    append_event(
        conn,
        ctx,
        s.id,
        Some(s.status),
        to,
        kind,
        location,
        temperature_c,
        note,
        reasons_text.as_deref(),
    )?;
    audit::record(
        conn,
        ctx,
        "specimen.transition",
        "specimen",
        Some(&s.id.to_string()),
        Some(serde_json::json!({ "from": s.status.as_str(), "to": to.as_str() })),
    )?;
    documents::refresh(conn, ctx.org, &[s.id])
}

pub fn children(
    conn: &mut DbConn,
    org: OrgId,
    parent: SpecimenId,
) -> Result<Vec<Specimen>, AppError> {
    Ok(sp::specimens
        .filter(sp::org_id.eq(org.to_string()))
        .filter(sp::parent_id.eq(parent.to_string()))
        .order(sp::id.asc())
        .select(SPECIMEN_COLUMNS)
        .load(conn)?)
}

pub fn events(
    conn: &mut DbConn,
    org: OrgId,
    specimen: SpecimenId,
) -> Result<Vec<CustodyEvent>, AppError> {
    Ok(ev::custody_events
        .filter(ev::org_id.eq(org.to_string()))
        .filter(ev::specimen_id.eq(specimen.to_string()))
        .order(ev::id.asc())
        .load(conn)?)
}

/// Splits a received specimen into `count` aliquots numbered after the parent (`.1`, `.2`, …,
/// continuing after earlier ones). Each starts `received`, with its own custody chain.
pub fn make_aliquots(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    parent: SpecimenId,
    count: i32,
    container: Option<String>,
    volume_ul: Option<i64>,
) -> Result<Vec<Specimen>, AppError> {
    let p = require_specimen(conn, ctx.org, parent)?;
    if !matches!(
        p.status,
        SpecimenStatus::Received | SpecimenStatus::InProcess
    ) {
        return Err(AppError::conflict(format!(
            "aliquots are made from a received or in-process specimen; this one is {}",
            p.status
        )));
    }
    let now = crate::db::now();
    let n = diesel::update(
        sp::specimens
            .filter(sp::org_id.eq(ctx.org.to_string()))
            .filter(sp::id.eq(parent.to_string()))
            .filter(sp::version.eq(p.version)),
    )
    .set((
        sp::aliquot_count.eq(p.aliquot_count + count),
        sp::version.eq(p.version + 1),
        sp::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(stale("specimen", p.version, p.version + 1));
    }
    let mut ids = Vec::new();
    for i in 1..=count {
        let id = SpecimenId::new();
        let number = Accession::aliquot_of(&p.accession_number, p.aliquot_count + i);
        diesel::insert_into(sp::specimens)
            .values((
                (
                    sp::id.eq(id.to_string()),
                    sp::org_id.eq(ctx.org.to_string()),
                    sp::accession_number.eq(&number),
                    sp::parent_id.eq(Some(parent.to_string())),
                    sp::aliquot_count.eq(0),
                    sp::patient_id.eq(p.patient_id.to_string()),
                    sp::specimen_type.eq(p.specimen_type.as_str()),
                    sp::container.eq(container.clone().or_else(|| p.container.clone())),
                    sp::volume_ul.eq(volume_ul),
                    sp::ordering_provider_id.eq(p.ordering_provider_id.clone()),
                    sp::priority.eq(p.priority.as_str()),
                    sp::status.eq(SpecimenStatus::Received.as_str()),
                ),
                (
                    sp::collected_at.eq(p.collected_at),
                    sp::collected_by.eq(p.collected_by.clone()),
                    sp::received_at.eq(Some(now)),
                    sp::location.eq(p.location.clone()),
                    sp::version.eq(1),
                    sp::created_by.eq(who(ctx)),
                    sp::created_at.eq(now),
                    sp::updated_at.eq(now),
                ),
            ))
            .execute(conn)?;
        let note = format!("aliquot of {}", p.accession_number);
        append_event(
            conn,
            ctx,
            id,
            None,
            SpecimenStatus::Received,
            "aliquot",
            p.location.as_deref(),
            None,
            Some(&note),
            None,
        )?;
        ids.push(id);
    }
    audit::record(
        conn,
        ctx,
        "specimen.aliquot",
        "specimen",
        Some(&parent.to_string()),
        Some(serde_json::json!({ "count": count })),
    )?;
    let changed: Vec<SpecimenId> = std::iter::once(parent).chain(ids.iter().copied()).collect();
    documents::refresh(conn, ctx.org, &changed)?;
    ids.into_iter()
        .map(|id| require_specimen(conn, ctx.org, id))
        .collect()
}

/// Specimen list filters.
#[derive(Debug, Clone, Default)]
pub struct SpecimenFilter {
    pub status: Option<SpecimenStatus>,
    /// A rejection reason code the specimen was rejected with.
    pub reason: Option<String>,
    /// A canonical location prefix (`LAB1/FRZ-2`).
    pub location: Option<String>,
    pub patient_id: Option<PatientId>,
}

/// A page of the organization's specimens matching `f`, as their ids and their stored views in
/// this build's format (`None` where the document is missing or older: [`documents::complete`]
/// builds those). The query also checks the caller ([`Guard::holds`]): no rows when the caller
/// may not read.
pub fn list(
    conn: &mut DbConn,
    guard: &Guard,
    f: &SpecimenFilter,
    page: &Page,
) -> Result<Vec<(SpecimenId, Option<String>)>, AppError> {
    // Built and run on the backend's own connection (a boxed query is tied to one backend), which
    // skips `MultiConnection`'s extra passes over the query (`db::load`); as a boxed query it is
    // still cached by its SQL text, written once per call.
    let rows: Vec<(String, i64, Option<String>)> = crate::on_inner!(conn, |c| {
        let mut q = sp::specimens
            .filter(sp::org_id.eq(guard.org().to_string()))
            .filter(guard.holds())
            .select((sp::id, sp::document_format, sp::document))
            .into_boxed();
        if let Some(s) = f.status {
            q = q.filter(sp::status.eq(s.as_str()));
        }
        if let Some(r) = &f.reason {
            // Reasons are stored as a comma list of two-letter codes.
            let r = crate::values::escape_like(r);
            q = q.filter(
                sp::rejection_reasons
                    .eq(r.clone())
                    .or(sp::rejection_reasons.like(format!("{r},%")).escape('\\'))
                    .or(sp::rejection_reasons.like(format!("%,{r}")).escape('\\'))
                    .or(sp::rejection_reasons.like(format!("%,{r},%")).escape('\\')),
            );
        }
        if let Some(l) = &f.location {
            let l = crate::values::escape_like(l);
            q = q.filter(
                sp::location
                    .eq(l.clone())
                    .or(sp::location.like(format!("{l}/%")).escape('\\')),
            );
        }
        if let Some(p) = f.patient_id {
            q = q.filter(sp::patient_id.eq(p.to_string()));
        }
        if let Some(after) = &page.after {
            q = q.filter(sp::id.gt(after.clone()));
        }
        q.order(sp::id.asc()).limit(page.limit + 1).load(c)
    })?;
    let current = documents::format();
    rows.into_iter()
        .map(|(id, format, doc)| Ok((parse_id(&id)?, doc.filter(|_| format == current))))
        .collect()
}

/// A checked result entry.
#[derive(Debug, Clone)]
pub struct ResultInput {
    pub value: String,
    pub unit: Option<String>,
    pub reference_range: Option<String>,
    pub flag: Option<ResultFlag>,
    pub comment: Option<String>,
}

fn test_of(
    conn: &mut DbConn,
    org: OrgId,
    specimen: SpecimenId,
    test: SpecimenTestId,
) -> Result<SpecimenTest, AppError> {
    st::specimen_tests
        .filter(st::org_id.eq(org.to_string()))
        .filter(st::specimen_id.eq(specimen.to_string()))
        .filter(st::id.eq(test.to_string()))
        .first::<SpecimenTest>(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("test"))
}

fn latest_result(
    conn: &mut DbConn,
    org: OrgId,
    test: SpecimenTestId,
) -> Result<Option<TestResult>, AppError> {
    Ok(tr::test_results
        .filter(tr::org_id.eq(org.to_string()))
        .filter(tr::test_id.eq(test.to_string()))
        .order(tr::result_version.desc())
        .first(conn)
        .optional()?)
}

/// Records a result as a new version (a correction never overwrites).
pub fn enter_result(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    specimen: SpecimenId,
    test: SpecimenTestId,
    input: ResultInput,
) -> Result<TestResult, AppError> {
    use SpecimenStatus::*;
    let s = lock_specimen(conn, ctx.org, specimen)?;
    let t = test_of(conn, ctx.org, specimen, test)?;
    if !matches!(
        s.status,
        Received | InProcess | ReferredOut | Resulted | Verified | Reported | Amended
    ) {
        return Err(AppError::conflict(format!(
            "results cannot be entered for a specimen that is {}",
            s.status
        )));
    }
    let version = latest_result(conn, ctx.org, t.id)?.map_or(1, |r| r.result_version + 1);
    let id = TestResultId::new();
    diesel::insert_into(tr::test_results)
        .values((
            tr::id.eq(id.to_string()),
            tr::org_id.eq(ctx.org.to_string()),
            tr::test_id.eq(t.id.to_string()),
            tr::result_version.eq(version),
            tr::value.eq(&input.value),
            tr::unit.eq(&input.unit),
            tr::reference_range.eq(&input.reference_range),
            tr::flag.eq(input.flag.map(|f| f.as_str())),
            tr::comment.eq(&input.comment),
            tr::entered_by.eq(who(ctx)),
            tr::entered_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        ctx,
        if version == 1 {
            "result.enter"
        } else {
            "result.correct"
        },
        "test",
        Some(&t.id.to_string()),
        Some(serde_json::json!({ "result_version": version })),
    )?;
    documents::refresh(conn, ctx.org, &[s.id])?;
    latest_result(conn, ctx.org, t.id)?.ok_or_else(|| AppError::internal("entered result vanished"))
}

/// Verifies the latest result version; the verifier must not be the user who entered it. A
/// verified test with a billing code becomes an unbilled charge (once per test).
pub fn verify_result(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    specimen: SpecimenId,
    test: SpecimenTestId,
) -> Result<TestResult, AppError> {
    let s = lock_specimen(conn, ctx.org, specimen)?;
    let t = test_of(conn, ctx.org, specimen, test)?;
    let r = latest_result(conn, ctx.org, t.id)?
        .ok_or_else(|| AppError::conflict("the test has no result to verify"))?;
    if r.verified_at.is_some() {
        return Err(AppError::conflict("the latest result is already verified"));
    }
    if r.entered_by == who(ctx) {
        return Err(AppError::conflict(
            "a result must be verified by a different user than the one who entered it",
        ));
    }
    diesel::update(
        tr::test_results
            .filter(tr::org_id.eq(ctx.org.to_string()))
            .filter(tr::id.eq(r.id.to_string())),
    )
    .set((
        tr::verified_by.eq(Some(who(ctx))),
        tr::verified_at.eq(Some(crate::db::now())),
    ))
    .execute(conn)?;
    audit::record(
        conn,
        ctx,
        "result.verify",
        "test",
        Some(&t.id.to_string()),
        Some(serde_json::json!({ "result_version": r.result_version })),
    )?;
    if let Some(code) = &t.billing_code {
        let exists: i64 = ch::lab_charges
            .filter(ch::org_id.eq(ctx.org.to_string()))
            .filter(ch::test_id.eq(t.id.to_string()))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            let service_date = s.collected_at.unwrap_or(s.created_at).date();
            let amount =
                crate::coding::fees::fee_lookup(conn, ctx.org, None, code, None, service_date)
                    .ok()
                    .and_then(|f| f.charge_cents);
            diesel::insert_into(ch::lab_charges)
                .values((
                    ch::id.eq(ChargeId::new().to_string()),
                    ch::org_id.eq(ctx.org.to_string()),
                    ch::patient_id.eq(s.patient_id.to_string()),
                    ch::specimen_id.eq(s.id.to_string()),
                    ch::test_id.eq(t.id.to_string()),
                    ch::procedure_code.eq(code),
                    ch::service_date.eq(service_date),
                    ch::amount_cents.eq(amount),
                    ch::status.eq("unbilled"),
                    ch::created_at.eq(crate::db::now()),
                ))
                .execute(conn)?;
        }
    }
    documents::refresh(conn, ctx.org, &[s.id])?;
    latest_result(conn, ctx.org, t.id)?
        .ok_or_else(|| AppError::internal("verified result vanished"))
}

pub fn list_charges(
    conn: &mut DbConn,
    org: OrgId,
    status: Option<&str>,
    page: &Page,
) -> Result<Vec<Charge>, AppError> {
    let mut q = ch::lab_charges
        .filter(ch::org_id.eq(org.to_string()))
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(ch::status.eq(s.to_owned()));
    }
    if let Some(after) = &page.after {
        q = q.filter(ch::id.gt(after.clone()));
    }
    Ok(q.order(ch::id.asc()).limit(page.limit + 1).load(conn)?)
}
