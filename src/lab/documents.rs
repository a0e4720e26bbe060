//! Each specimen's API view kept as JSON on its own row (`specimens.document`): the specimen,
//! its tests and their latest results, exactly as `GET /specimens/{id}` answers them.
//!
//! Every change to a specimen, its tests or their results rewrites the document in the same
//! transaction ([`refresh`], or the registration's own insert), so a read by id or a page of the
//! list reads one row per specimen instead of joining tests and results and serializing the view
//! again. The tables stay the record; the document is derived from them and never edited alone.
//!
//! A document carries the [`format`] it was written in, derived from the view's OpenAPI schemas
//! and from views rendered from fixed rows: a build whose view differs in shape or content does
//! not serve older documents (the view is then built from the tables, [`views`]) and rewrites
//! them at start ([`rebuild_stale`]).
//!
//! On PostgreSQL [`refresh`] locks the specimens' rows before it reads their tests and results,
//! so of two transactions changing one specimen, the later sees the earlier's change and writes
//! the complete view. Every instance sharing a database must run a build that keeps documents:
//! stop the older instances before `officina migrate` (README, *Upgrading*); an older build
//! would change specimens without rewriting their documents.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use diesel::prelude::*;

use super::api::SpecimenView;
use super::repo::{self, Specimen, SpecimenTest, TestResult};
use super::schema::specimens::dsl as sp;
use crate::auth::Guard;
use crate::db::{DbConn, OrgId, SpecimenId, SpecimenTestId};
use crate::error::AppError;

/// Raise when the view's content changes in a way neither its schema nor the rendered fixtures
/// of [`format`] show.
const REVISION: u64 = 1;

/// How many stale documents [`rebuild_stale`] rewrites per transaction.
pub const REBUILD_CHUNK: i64 = 500;

/// The format of the documents this build writes: a hash (FNV-1a) of [`REVISION`], of the OpenAPI
/// schemas of [`SpecimenView`] and every schema it refers to (fields, types, enum values), and of
/// the views rendered from fixed rows in every status (what is computed: allowed transitions,
/// locations, volumes, rejection reasons, the latest result and the number of versions, dates).
/// Never 0, the format of a row without a document.
pub fn format() -> i64 {
    static FORMAT: LazyLock<i64> = LazyLock::new(|| {
        use utoipa::{PartialSchema, ToSchema};
        let mut schemas = vec![(SpecimenView::name().into_owned(), SpecimenView::schema())];
        SpecimenView::schemas(&mut schemas);
        schemas.sort_by(|a, b| a.0.cmp(&b.0));
        let mut text = serde_json::to_string(&schemas).unwrap_or_else(|e| e.to_string());
        for view in fixtures() {
            text.push_str(&render(&view).unwrap_or_else(|e| e.to_string()));
        }
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in REVISION.to_le_bytes().iter().chain(text.as_bytes()) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Positive and never 0 (BIGINT is signed).
        ((hash >> 1) | 1) as i64
    });
    *FORMAT
}

/// Views of fixed rows, one per status, with every field set: a test with a corrected and
/// verified result, and a test without one.
fn fixtures() -> Vec<SpecimenView> {
    use super::domain::{LabPriority, SpecimenStatus, SpecimenType, TestCodeSystem};
    let at = chrono::DateTime::from_timestamp(1_790_000_000, 0)
        .unwrap_or_default()
        .naive_utc();
    let id = |n: u128| uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n);
    let org = OrgId::from(id(1));
    let specimen = SpecimenId::from(id(2));
    let tests = vec![
        SpecimenTest {
            id: SpecimenTestId::from(id(3)),
            org_id: org,
            specimen_id: specimen,
            code_system: TestCodeSystem::Loinc,
            code: "2345-7".into(),
            name: "Glucose".into(),
            billing_code: Some("82947".into()),
            created_at: at,
        },
        SpecimenTest {
            id: SpecimenTestId::from(id(4)),
            org_id: org,
            specimen_id: specimen,
            code_system: TestCodeSystem::Local,
            code: "hold".into(),
            name: "Hold serum".into(),
            billing_code: None,
            created_at: at,
        },
    ];
    let result = |n: u128, version: i32, verified: bool| TestResult {
        id: crate::db::TestResultId::from(id(n)),
        org_id: org,
        test_id: SpecimenTestId::from(id(3)),
        result_version: version,
        value: "5.4".into(),
        unit: Some("mmol/L".into()),
        reference_range: Some("3.9-5.5".into()),
        flag: Some("N".into()),
        comment: Some("corrected".into()),
        entered_by: "lab".into(),
        entered_at: at,
        verified_by: verified.then(|| "manager".into()),
        verified_at: verified.then_some(at),
    };
    SpecimenStatus::ALL
        .iter()
        .map(|&status| {
            let row = Specimen {
                id: specimen,
                org_id: org,
                accession_number: "L26-0000017.1".into(),
                parent_id: Some(id(5).to_string()),
                aliquot_count: 2,
                patient_id: id(6).into(),
                specimen_type: SpecimenType::Serum,
                container: Some("SST 5 mL".into()),
                volume_ul: Some(1500),
                ordering_provider_id: Some(id(7).to_string()),
                priority: LabPriority::Stat,
                status,
                collected_at: Some(at),
                collected_by: Some("L. Nurse".into()),
                received_at: Some(at),
                location: Some("LAB1/FRZ-2/3/B12/A4".into()),
                rejection_reasons: Some("RH,QS".into()),
                version: 3,
                created_by: "lab".into(),
                created_at: at,
                updated_at: at,
            };
            SpecimenView::new(
                row,
                tests.clone(),
                vec![result(8, 1, false), result(9, 2, true)],
            )
        })
        .collect()
}

/// The JSON of a specimen's view: the document stored for it.
pub fn render(view: &SpecimenView) -> Result<String, AppError> {
    serde_json::to_string(view).map_err(|e| AppError::internal(format!("specimen view: {e}")))
}

/// The views of many specimens built from the tables, with one query in all (their tests joined
/// to the tests' results); same order as `specimens`.
pub fn views(
    conn: &mut DbConn,
    org: OrgId,
    specimens: Vec<Specimen>,
) -> Result<Vec<SpecimenView>, AppError> {
    let ids: Vec<SpecimenId> = specimens.iter().map(|s| s.id).collect();
    let (tests, results) = repo::tests_with_results(conn, org, &ids)?;
    let mut tests_by: HashMap<SpecimenId, Vec<SpecimenTest>> = HashMap::new();
    for t in tests {
        tests_by.entry(t.specimen_id).or_default().push(t);
    }
    let mut results_by: HashMap<SpecimenTestId, Vec<TestResult>> = HashMap::new();
    for r in results {
        results_by.entry(r.test_id).or_default().push(r);
    }
    Ok(specimens
        .into_iter()
        .map(|s| {
            let tests = tests_by.remove(&s.id).unwrap_or_default();
            let results = tests
                .iter()
                .flat_map(|t| results_by.remove(&t.id).unwrap_or_default())
                .collect();
            SpecimenView::new(s, tests, results)
        })
        .collect())
}

/// Rewrites the documents of `ids` from the tables, in the caller's transaction: called by every
/// change to a specimen, its tests or their results, after the change.
pub fn refresh(conn: &mut DbConn, org: OrgId, ids: &[SpecimenId]) -> Result<(), AppError> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
    keys.sort_unstable();
    let query = sp::specimens
        .filter(sp::org_id.eq(org.to_string()))
        .filter(sp::id.eq_any(keys))
        .order(sp::id.asc())
        .select(repo::SPECIMEN_COLUMNS);
    let specimens: Vec<Specimen> = match conn {
        // Locked before their tests and results are read: a concurrent change of the same
        // specimen (a result of another test) commits first, and is then seen here. `FOR NO KEY
        // UPDATE`, the lock an `UPDATE` takes anyway: rows that refer to the specimen (a
        // custody event, a manifest's list) can still be inserted meanwhile.
        DbConn::Postgresql(c) => query.for_no_key_update().load(c)?,
        // The write transaction (`BEGIN IMMEDIATE`) already excludes every other writer.
        DbConn::Sqlite(c) => query.load(c)?,
    };
    let views = views(conn, org, specimens)?;
    write(conn, org, views)
}

fn write(conn: &mut DbConn, org: OrgId, views: Vec<SpecimenView>) -> Result<(), AppError> {
    let org = org.to_string();
    for view in views {
        diesel::update(
            sp::specimens
                .filter(sp::org_id.eq(&org))
                .filter(sp::id.eq(&view.id)),
        )
        .set((
            sp::document.eq(Some(render(&view)?)),
            sp::document_format.eq(format()),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// One specimen's view as JSON, with its version (the `ETag`): the stored document, read with one
/// query that also checks the caller ([`Guard::holds`]); when the document is missing or older,
/// the view built from the tables (a second query). `None` when there is no such specimen or the
/// caller may not read.
pub fn by_id(
    conn: &mut DbConn,
    guard: &Guard,
    id: SpecimenId,
) -> Result<Option<(i32, String)>, AppError> {
    let row: Option<(i32, i64, Option<String>)> =
        crate::db::first_row(conn, by_id_stored(guard, id))?;
    match row.map(current) {
        None => Ok(None),
        Some(Some(found)) => Ok(Some(found)),
        Some(None) => repo::specimen_with_tests(conn, guard, id)?
            .map(|(s, tests, results)| {
                let view = SpecimenView::new(s, tests, results);
                Ok((view.version, render(&view)?))
            })
            .transpose(),
    }
}

/// [`by_id`]'s query: the specimen's version and stored document, if the caller may read it
/// (for a read through the worker's pipelined connection, `Bearer::read_guarded_by_key_pipelined`).
pub fn by_id_stored(guard: &Guard, id: SpecimenId) -> stored {
    stored(guard.org().to_string(), id.to_string(), guard.holds())
}

/// The answer [`by_id`] gives from a row of [`by_id_stored`], when its document is current; `None`
/// when it must be built from the tables.
pub fn current((version, f, doc): (i32, i64, Option<String>)) -> Option<(i32, String)> {
    doc.filter(|_| f == format()).map(|doc| (version, doc))
}

/// The stored view of a specimen the caller may read, by key.
#[diesel::dsl::auto_type]
pub fn stored(org: String, id: String, holds: crate::auth::repo::caller_holds_in) -> _ {
    sp::specimens
        .filter(sp::org_id.eq(org))
        .filter(sp::id.eq(id))
        .filter(holds)
        .select((sp::version, sp::document_format, sp::document))
}

/// A page of a patient's specimens the caller may read, as [`repo::list`] reads it when the
/// patient is its only filter: `rows` rows after the id `after` (`""`: from the first), in id
/// order, through `specimens (org_id, patient_id, id)`. For the pipelined connection
/// ([`crate::db::pipeline::Pipeline::page`]).
#[diesel::dsl::auto_type]
pub fn patient_page(
    org: String,
    patient: String,
    after: String,
    rows: i64,
    holds: crate::auth::repo::caller_holds_in,
) -> _ {
    sp::specimens
        .filter(sp::org_id.eq(org))
        .filter(sp::patient_id.eq(patient))
        .filter(sp::id.gt(after))
        .filter(holds)
        .select((sp::id, sp::document_format, sp::document))
        .order(sp::id.asc())
        .limit(rows)
}

/// The documents of [`patient_page`]'s rows when every one is current, in order; `None` when one
/// must be built from the tables (which the pool's read does).
pub fn all_current(rows: Vec<(String, i64, Option<String>)>) -> Option<Vec<String>> {
    let current = format();
    rows.into_iter()
        .map(|(_, f, doc)| doc.filter(|_| f == current))
        .collect()
}

/// The views of listed specimens as JSON, in order: each stored document, and for those without
/// a current one ([`repo::list`] gives `None`) the view built from the tables.
pub fn complete(
    conn: &mut DbConn,
    org: OrgId,
    listed: Vec<(SpecimenId, Option<String>)>,
) -> Result<Vec<String>, AppError> {
    let missing: Vec<String> = listed
        .iter()
        .filter(|(_, doc)| doc.is_none())
        .map(|(id, _)| id.to_string())
        .collect();
    let mut built: HashMap<String, String> = HashMap::new();
    if !missing.is_empty() {
        let specimens: Vec<Specimen> = sp::specimens
            .filter(sp::org_id.eq(org.to_string()))
            .filter(sp::id.eq_any(missing))
            .select(repo::SPECIMEN_COLUMNS)
            .load(conn)?;
        for view in views(conn, org, specimens)? {
            let doc = render(&view)?;
            built.insert(view.id, doc);
        }
    }
    listed
        .into_iter()
        .map(|(id, doc)| match doc {
            Some(doc) => Ok(doc),
            None => built
                .remove(&id.to_string())
                .ok_or_else(|| AppError::internal(format!("listed specimen {id} vanished"))),
        })
        .collect()
}

/// Rewrites every document that is missing or in another format, in every organization, one
/// pass in id order (the primary key), `chunk` specimens per transaction (locked on PostgreSQL,
/// like [`refresh`]); returns how many. `serve` and `migrate` run it before anything else
/// ([`rebuild_at_start`]).
pub fn rebuild_stale(conn: &mut DbConn, chunk: i64) -> Result<usize, AppError> {
    let mut done = 0;
    // Ids are UUIDs, so every one sorts after the empty string.
    let mut after = String::new();
    loop {
        let from = std::mem::take(&mut after);
        let (n, last) = crate::db::write_tx(conn, |c| {
            let query = sp::specimens
                .filter(sp::id.gt(from))
                .filter(sp::document_format.ne(format()).or(sp::document.is_null()))
                .order(sp::id.asc())
                .limit(chunk)
                .select(repo::SPECIMEN_COLUMNS);
            let stale: Vec<Specimen> = match c {
                DbConn::Postgresql(pg) => query.for_no_key_update().load(pg)?,
                DbConn::Sqlite(lite) => query.load(lite)?,
            };
            let n = stale.len();
            let last = stale.last().map(|s| s.id.to_string());
            let mut by_org: BTreeMap<OrgId, Vec<Specimen>> = BTreeMap::new();
            for s in stale {
                by_org.entry(s.org_id).or_default().push(s);
            }
            for (org, specimens) in by_org {
                let views = views(c, org, specimens)?;
                write(c, org, views)?;
            }
            Ok::<_, AppError>((n, last))
        })?;
        done += n;
        match last {
            Some(last) if n as i64 == chunk => after = last,
            _ => return Ok(done),
        }
    }
}

/// [`rebuild_stale`] at start: logs what it rewrote, and a failure (the documents it could not
/// rewrite are still not served; reads build those views from the tables) without stopping.
pub fn rebuild_at_start(conn: &mut DbConn) -> usize {
    match rebuild_stale(conn, REBUILD_CHUNK) {
        Ok(0) => 0,
        Ok(n) => {
            tracing::info!(
                rewritten = n,
                "specimen views rewritten in this build's format"
            );
            n
        }
        Err(e) => {
            tracing::error!(error = %e, "rewriting older specimen views failed; they are built from the tables when read");
            0
        }
    }
}
