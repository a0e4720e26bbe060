//! Code-set queries: the shipped global tables, each organization's imported tables, the search
//! index behind them, and `check_code`. Functions on practice data take the organization first.

use std::sync::Arc;

use chrono::NaiveDate;
use diesel::prelude::*;

use super::domain::{self, CheckFailure, CodeCheck, CodeSystem, ImportRow};
use super::schema::{
    code_sets::dsl as cs, codes::dsl as c, org_code_sets::dsl as ocs, org_codes::dsl as oc,
};
use super::search::{self, Entry, Index};
use crate::audit::{self, AuditCtx};
use crate::auth::Guard;
use crate::db::{DbConn, OrgId};
use crate::error::AppError;

/// Rows per multi-row `INSERT` (6 binds each: well under SQLite's 32766 and PostgreSQL's 65535).
pub const INSERT_CHUNK: usize = 1000;

type CodeRow = (String, String, bool, Option<NaiveDate>, Option<NaiveDate>);

fn entry((code, description, billable, effective_from, effective_to): CodeRow) -> Entry {
    Entry {
        code,
        description,
        billable,
        effective_from,
        effective_to,
    }
}

/// The generation of the table searched for `system` (shipped: global; else the org's import).
pub fn generation(
    conn: &mut DbConn,
    org: OrgId,
    system: CodeSystem,
) -> Result<Option<String>, AppError> {
    if system.is_shipped() {
        Ok(cs::code_sets
            .filter(cs::system.eq(system.as_str()))
            .select(cs::generation)
            .first(conn)
            .optional()?)
    } else {
        Ok(ocs::org_code_sets
            .filter(ocs::org_id.eq(org.to_string()))
            .filter(ocs::system.eq(system.as_str()))
            .select(ocs::generation)
            .first(conn)
            .optional()?)
    }
}

fn load_entries(conn: &mut DbConn, org: OrgId, system: CodeSystem) -> Result<Vec<Entry>, AppError> {
    let rows: Vec<CodeRow> = if system.is_shipped() {
        c::codes
            .filter(c::system.eq(system.as_str()))
            .select((
                c::code,
                c::description,
                c::billable,
                c::effective_from,
                c::effective_to,
            ))
            .load(conn)?
    } else {
        oc::org_codes
            .filter(oc::org_id.eq(org.to_string()))
            .filter(oc::system.eq(system.as_str()))
            .select((
                oc::code,
                oc::description,
                diesel::dsl::sql::<diesel::sql_types::Bool>("TRUE"),
                oc::effective_from,
                oc::effective_to,
            ))
            .load(conn)?
    };
    Ok(rows.into_iter().map(entry).collect())
}

/// The generation of the shipped table for `system` ([`generation`]), if the caller may read
/// ([`Guard::holds`]): one row by key, or none, for the pipelined search (`GET /codes`).
pub fn shipped_generation(guard: &Guard, system: CodeSystem) -> shipped_generation_in {
    shipped_generation_in(system.as_str().to_owned(), guard.holds())
}

/// [`shipped_generation`] as `auto_type` can name it.
#[diesel::dsl::auto_type]
pub fn shipped_generation_in(system: String, holds: crate::auth::repo::caller_holds_in) -> _ {
    cs::code_sets
        .filter(cs::system.eq(system))
        .filter(holds)
        .select(cs::generation)
}

/// The generation of the caller's organization's import for `system` ([`generation`]), if the
/// caller may read ([`Guard::holds`]): one row by key, or none, for the pipelined search.
pub fn imported_generation(guard: &Guard, system: CodeSystem) -> imported_generation_in {
    imported_generation_in(
        guard.org().to_string(),
        system.as_str().to_owned(),
        guard.holds(),
    )
}

/// [`imported_generation`] as `auto_type` can name it.
#[diesel::dsl::auto_type]
pub fn imported_generation_in(
    org: String,
    system: String,
    holds: crate::auth::repo::caller_holds_in,
) -> _ {
    ocs::org_code_sets
        .filter(ocs::org_id.eq(org))
        .filter(ocs::system.eq(system))
        .filter(holds)
        .select(ocs::generation)
}

/// The search index of the table for `system`, built on first use after each load or import.
/// `None` when no table is loaded (or imported) for it.
pub fn index(
    conn: &mut DbConn,
    org: OrgId,
    system: CodeSystem,
) -> Result<Option<Arc<Index>>, AppError> {
    let Some(generation) = generation(conn, org, system)? else {
        return Ok(None);
    };
    if let Some(ix) = search::cached(&generation) {
        return Ok(Some(ix));
    }
    let started = std::time::Instant::now();
    let ix = Arc::new(Index::build(load_entries(conn, org, system)?));
    tracing::info!(
        system = system.as_str(),
        codes = ix.len(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "built code search index"
    );
    search::store(&generation, ix.clone());
    Ok(Some(ix))
}

/// One code of the table for `system` (the shipped table, or the org's import), by stored form.
pub fn get_code(
    conn: &mut DbConn,
    org: OrgId,
    system: CodeSystem,
    code: &str,
) -> Result<Option<Entry>, AppError> {
    let row: Option<CodeRow> = if system.is_shipped() {
        c::codes
            .filter(c::system.eq(system.as_str()))
            .filter(c::code.eq(code))
            .select((
                c::code,
                c::description,
                c::billable,
                c::effective_from,
                c::effective_to,
            ))
            .first(conn)
            .optional()?
    } else {
        oc::org_codes
            .filter(oc::org_id.eq(org.to_string()))
            .filter(oc::system.eq(system.as_str()))
            .filter(oc::code.eq(code))
            .select((
                oc::code,
                oc::description,
                diesel::dsl::sql::<diesel::sql_types::Bool>("TRUE"),
                oc::effective_from,
                oc::effective_to,
            ))
            .first(conn)
            .optional()?
    };
    Ok(row.map(entry))
}

/// Is `code` valid and billable in `system` for a date of service `on`?
///
/// Always checks the format. When a table is loaded for the system (ICD-10-CM and place of
/// service after `officina codes load`; CPT, CDT, HCPCS, LOINC after the organization imported
/// its licensed table) the code must also exist in it, be billable (ICD-10-CM category headers
/// are not) and be effective on `on`. Without a table, a well-formed code is valid with no
/// description.
pub fn check_code(
    conn: &mut DbConn,
    org: OrgId,
    system: CodeSystem,
    code: &str,
    on: NaiveDate,
) -> Result<CodeCheck, AppError> {
    let normalized = match system.normalize(code) {
        Ok(c) => c,
        Err(issue) => {
            let reason = CheckFailure::InvalidFormat;
            return Ok(CodeCheck::invalid(
                reason,
                format!("'{}' {}", code.trim(), issue.message),
            ));
        }
    };
    if generation(conn, org, system)?.is_none() {
        return Ok(CodeCheck::Valid {
            display: system.display(&normalized),
            code: normalized,
            description: None,
        });
    }
    let found = get_code(conn, org, system, &normalized)?;
    Ok(domain::judge(
        system,
        &normalized,
        found.as_ref().map(|e| {
            (
                e.description.as_str(),
                e.billable,
                e.effective_from,
                e.effective_to,
            )
        }),
        on,
    ))
}

/// Replaces a shipped table inside the caller's transaction; returns the new generation.
/// `progress` is called with the number of rows written after each chunk.
pub fn replace_shipped(
    conn: &mut DbConn,
    system: CodeSystem,
    edition: &str,
    checksum: &str,
    entries: &[Entry],
    progress: &mut dyn FnMut(u64),
) -> Result<String, AppError> {
    diesel::delete(c::codes.filter(c::system.eq(system.as_str()))).execute(conn)?;
    for chunk in entries.chunks(INSERT_CHUNK) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|e| {
                (
                    c::system.eq(system.as_str()),
                    c::code.eq(e.code.as_str()),
                    c::description.eq(e.description.as_str()),
                    c::billable.eq(e.billable),
                    c::effective_from.eq(e.effective_from),
                    c::effective_to.eq(e.effective_to),
                )
            })
            .collect();
        crate::on_inner!(conn, |inner| diesel::insert_into(c::codes)
            .values(&batch)
            .execute(inner))?;
        progress(chunk.len() as u64);
    }
    let generation = uuid::Uuid::now_v7().to_string();
    diesel::delete(cs::code_sets.filter(cs::system.eq(system.as_str()))).execute(conn)?;
    diesel::insert_into(cs::code_sets)
        .values((
            cs::system.eq(system.as_str()),
            cs::edition.eq(edition),
            cs::checksum.eq(checksum),
            cs::generation.eq(&generation),
            cs::row_count.eq(entries.len() as i64),
            cs::loaded_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    Ok(generation)
}

/// The checksum of the loaded shipped table, if any.
pub fn shipped_checksum(conn: &mut DbConn, system: CodeSystem) -> Result<Option<String>, AppError> {
    Ok(cs::code_sets
        .filter(cs::system.eq(system.as_str()))
        .select(cs::checksum)
        .first(conn)
        .optional()?)
}

/// What an import did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    pub system: CodeSystem,
    /// Codes in the organization's table now.
    #[schema(example = 8000)]
    pub rows: i64,
    /// Codes the previous import held (0 for a first import).
    #[schema(example = 0)]
    pub replaced_rows: i64,
}

/// Replaces the organization's table for `system` with `rows`, atomically, inside the caller's
/// transaction, and audits it (`code_set.import`).
pub fn import_codes(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    system: CodeSystem,
    rows: &[ImportRow],
) -> Result<ImportSummary, AppError> {
    if system.is_shipped() {
        return Err(AppError::internal("shipped code sets are not imported"));
    }
    let org = ctx.org.to_string();
    let replaced: i64 = oc::org_codes
        .filter(oc::org_id.eq(&org))
        .filter(oc::system.eq(system.as_str()))
        .count()
        .get_result(conn)?;
    diesel::delete(
        oc::org_codes
            .filter(oc::org_id.eq(&org))
            .filter(oc::system.eq(system.as_str())),
    )
    .execute(conn)?;
    for chunk in rows.chunks(INSERT_CHUNK) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|r| {
                (
                    oc::org_id.eq(org.as_str()),
                    oc::system.eq(system.as_str()),
                    oc::code.eq(r.code.as_str()),
                    oc::description.eq(r.description.as_str()),
                    oc::effective_from.eq(r.effective_from),
                    oc::effective_to.eq(r.effective_to),
                )
            })
            .collect();
        crate::on_inner!(conn, |inner| diesel::insert_into(oc::org_codes)
            .values(&batch)
            .execute(inner))?;
    }
    diesel::delete(
        ocs::org_code_sets
            .filter(ocs::org_id.eq(&org))
            .filter(ocs::system.eq(system.as_str())),
    )
    .execute(conn)?;
    diesel::insert_into(ocs::org_code_sets)
        .values((
            ocs::org_id.eq(&org),
            ocs::system.eq(system.as_str()),
            ocs::generation.eq(uuid::Uuid::now_v7().to_string()),
            ocs::row_count.eq(rows.len() as i64),
            ocs::imported_at.eq(crate::db::now()),
            ocs::imported_by.eq(ctx.actor.map(|a| a.to_string())),
        ))
        .execute(conn)?;
    let summary = ImportSummary {
        system,
        rows: rows.len() as i64,
        replaced_rows: replaced,
    };
    audit::record(
        conn,
        ctx,
        "code_set.import",
        "code_set",
        Some(system.as_str()),
        Some(
            serde_json::json!({ "system": system.as_str(), "rows": summary.rows, "replaced_rows": replaced }),
        ),
    )?;
    Ok(summary)
}
