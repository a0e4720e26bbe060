//! Each specimen's API view kept as JSON on its own row (`specimens.document`): the specimen,
//! its tests and their latest results, exactly as `GET /specimens/{id}` answers them.
//!
//! Every change to a specimen, its tests or their results rewrites the document in the same
//! transaction ([`refresh`], or the registration's own insert), so a read by id or a page of the
//! list reads one row per specimen instead of joining tests and results and serializing the view
//! again. The tables stay the record; the document is derived from them and never edited alone.
//!
//! A document carries the [`format`] it was written in, derived from the view's OpenAPI schema:
//! a build whose view differs does not serve older documents (the view is then built from the
//! tables, [`views`]) and rewrites them at start ([`rebuild_stale`]).

use std::collections::HashMap;
use std::sync::LazyLock;

use diesel::prelude::*;

use super::api::SpecimenView;
use super::repo::{self, Specimen, SpecimenTest, TestResult};
use super::schema::specimens::dsl as sp;
use crate::auth::Guard;
use crate::db::{DbConn, OrgId, SpecimenId, SpecimenTestId};
use crate::error::AppError;

/// Raise when the view's content changes without its schema changing (a field computed
/// differently): documents written before are then rewritten at start like any other format.
const REVISION: u64 = 1;

/// How many stale documents [`rebuild_stale`] rewrites per transaction.
const REBUILD_CHUNK: i64 = 500;

/// The format of the documents this build writes: a hash (FNV-1a) of [`REVISION`] and of the
/// OpenAPI schemas of [`SpecimenView`] and every schema it refers to. Never 0, the format of a
/// row without a document.
pub fn format() -> i64 {
    static FORMAT: LazyLock<i64> = LazyLock::new(|| {
        use utoipa::{PartialSchema, ToSchema};
        let mut schemas = vec![(SpecimenView::name().into_owned(), SpecimenView::schema())];
        SpecimenView::schemas(&mut schemas);
        schemas.sort_by(|a, b| a.0.cmp(&b.0));
        // A schema that cannot be serialized still hashes its name and the revision.
        let text = serde_json::to_string(&schemas).unwrap_or_default();
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
/// change to a specimen, its tests or their results.
pub fn refresh(conn: &mut DbConn, org: OrgId, ids: &[SpecimenId]) -> Result<(), AppError> {
    if ids.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let specimens: Vec<Specimen> = sp::specimens
        .filter(sp::org_id.eq(org.to_string()))
        .filter(sp::id.eq_any(keys))
        .select(repo::SPECIMEN_COLUMNS)
        .load(conn)?;
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

/// One specimen's view as JSON, with its version (the `ETag`), in one query that also checks the
/// caller ([`Guard::holds`]): the stored document, or the view built from the tables when the
/// document is missing or older. `None` when there is no such specimen or the caller may not read.
pub fn by_id(
    conn: &mut DbConn,
    guard: &Guard,
    id: SpecimenId,
) -> Result<Option<(i32, String)>, AppError> {
    let query = sp::specimens
        .filter(sp::org_id.eq(guard.org().to_string()))
        .filter(sp::id.eq(id.to_string()))
        .filter(guard.holds())
        .select((sp::version, sp::document_format, sp::document));
    let row: Option<(i32, i64, Option<String>)> = crate::db::first_row(conn, query)?;
    match row {
        None => Ok(None),
        Some((version, f, Some(doc))) if f == format() => Ok(Some((version, doc))),
        Some(_) => repo::specimen_with_tests(conn, guard, id)?
            .map(|(s, tests, results)| {
                let view = SpecimenView::new(s, tests, results);
                Ok((view.version, render(&view)?))
            })
            .transpose(),
    }
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

/// Rewrites every document that is missing or in another format, in every organization, a chunk
/// per transaction; returns how many. Run at start (`serve`, `migrate`) so reads find current
/// documents (until then they are built from the tables); a specimen changed meanwhile gets its
/// document from that change.
pub fn rebuild_stale(conn: &mut DbConn) -> Result<usize, AppError> {
    let mut done = 0;
    loop {
        let n = crate::db::write_tx(conn, |c| {
            let stale: Vec<Specimen> = sp::specimens
                .filter(sp::document_format.ne(format()).or(sp::document.is_null()))
                .order((sp::org_id.asc(), sp::id.asc()))
                .limit(REBUILD_CHUNK)
                .select(repo::SPECIMEN_COLUMNS)
                .load(c)?;
            let n = stale.len();
            let mut by_org: HashMap<OrgId, Vec<Specimen>> = HashMap::new();
            for s in stale {
                by_org.entry(s.org_id).or_default().push(s);
            }
            for (org, specimens) in by_org {
                let views = views(c, org, specimens)?;
                write(c, org, views)?;
            }
            Ok::<_, AppError>(n)
        })?;
        done += n;
        if n < REBUILD_CHUNK as usize {
            return Ok(done);
        }
    }
}
