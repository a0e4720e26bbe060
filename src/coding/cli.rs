//! `officina codes load` and `officina codes import`, and the demo's code-set loading.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::domain::{self, CodeSystem};
use super::repo;
use super::search::{self, Index};
use super::shipped;
use crate::audit::AuditCtx;
use crate::db::{self, DbConn, OrgId};
use crate::error::AppError;

/// Largest CSV file `officina codes import` reads (the HTTP upload has the same limit).
pub const IMPORT_LIMIT: usize = 20 * 1024 * 1024;

/// Loads the shipped code sets (ICD-10-CM FY2026, place of service) in one transaction, replacing
/// what was loaded before (so re-running never duplicates). Idempotent.
pub fn load_shipped(conn: &mut DbConn, show_progress: bool) -> Result<String, AppError> {
    let started = Instant::now();
    let icd = shipped::icd10cm()?;
    let pos = shipped::pos()?;
    let bar = if show_progress {
        let bar = ProgressBar::new((icd.len() + pos.len()) as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos:>6}/{len} codes ({elapsed})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let icd_sum = shipped::checksum(shipped::ICD10CM_GZ);
    let pos_sum = shipped::checksum(shipped::POS_CSV);
    let (icd_gen, pos_gen) = db::write_tx(conn, |c| {
        bar.set_message("ICD-10-CM");
        let mut tick = |n: u64| bar.inc(n);
        let icd_gen = repo::replace_shipped(
            c,
            CodeSystem::Icd10cm,
            shipped::ICD10CM_EDITION,
            &icd_sum,
            &icd,
            &mut tick,
        )?;
        bar.set_message("POS");
        let pos_gen = repo::replace_shipped(
            c,
            CodeSystem::Pos,
            shipped::POS_EDITION,
            &pos_sum,
            &pos,
            &mut tick,
        )?;
        Ok::<_, AppError>((icd_gen, pos_gen))
    })?;
    bar.finish_and_clear();
    let billable = icd.iter().filter(|e| e.billable).count();
    let (icd_n, pos_n) = (icd.len(), pos.len());
    // The rows are at hand: prime the search cache so the first search is fast.
    search::store(&icd_gen, Arc::new(Index::build(icd)));
    search::store(&pos_gen, Arc::new(Index::build(pos)));
    Ok(format!(
        "loaded {}: {icd_n} codes ({billable} billable); {}: {pos_n} codes; in {:.1} s",
        shipped::ICD10CM_EDITION,
        shipped::POS_EDITION,
        started.elapsed().as_secs_f64()
    ))
}

/// Loads the shipped code sets unless the same editions are loaded already (what `demo` calls at
/// every start, so a restart does not rewrite 98 000 rows).
pub fn ensure_shipped(conn: &mut DbConn) -> Result<Option<String>, AppError> {
    let current = repo::shipped_checksum(conn, CodeSystem::Icd10cm)?
        == Some(shipped::checksum(shipped::ICD10CM_GZ))
        && repo::shipped_checksum(conn, CodeSystem::Pos)?
            == Some(shipped::checksum(shipped::POS_CSV));
    if current {
        return Ok(None);
    }
    load_shipped(conn, false).map(Some)
}

/// Parses a system name for an import: a licensed system, not a shipped one.
pub fn importable_system(raw: &str) -> Result<CodeSystem, crate::error::FieldIssue> {
    let system: CodeSystem = raw.parse()?;
    if system.is_shipped() {
        return Err(crate::error::FieldIssue::new(
            "not_importable",
            format!(
                "{} is shipped with Officina and loaded by `officina codes load`; import cpt, cdt, hcpcs or loinc",
                system.as_str()
            ),
        ));
    }
    Ok(system)
}

/// Imports a practice's licensed table (CPT, CDT, HCPCS, LOINC) from a CSV file.
pub fn import_file(
    conn: &mut DbConn,
    org: OrgId,
    system: &str,
    path: &Path,
) -> Result<String, AppError> {
    let system = importable_system(system)
        .map_err(|e| AppError::BadRequest(format!("--system: {}", e.message)))?;
    let meta = std::fs::metadata(path)
        .map_err(|e| AppError::BadRequest(format!("cannot read {}: {e}", path.display())))?;
    if meta.len() > IMPORT_LIMIT as u64 {
        return Err(AppError::PayloadTooLarge(format!(
            "{} is larger than {IMPORT_LIMIT} bytes",
            path.display()
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| AppError::BadRequest(format!("cannot read {}: {e}", path.display())))?;
    let rows = domain::parse_import_csv(system, &bytes).map_err(AppError::Validation)?;
    let exists = crate::orgs::repo::get_org(conn, org)?.is_some();
    if !exists {
        return Err(AppError::BadRequest(format!(
            "--org: no organization {org}"
        )));
    }
    let ctx = AuditCtx::cli(org);
    let summary = db::write_tx(conn, |c| repo::import_codes(c, &ctx, system, &rows))?;
    Ok(format!(
        "imported {} {} codes for organization {org} (replacing {})",
        summary.rows,
        system.as_str(),
        summary.replaced_rows
    ))
}
