//! `officina codes load` and `officina codes import`, and the demo's code-set loading.

use std::path::Path;

use crate::db::{DbConn, OrgId};
use crate::error::AppError;

/// Loads the shipped code sets (ICD-10-CM FY2026, place of service). Idempotent.
pub fn load_shipped(_conn: &mut DbConn, _show_progress: bool) -> Result<String, AppError> {
    Err(AppError::internal("code sets are not implemented yet"))
}

/// Imports a practice's licensed table (CPT, CDT, HCPCS, LOINC) from a CSV file.
pub fn import_file(
    _conn: &mut DbConn,
    _org: OrgId,
    _system: &str,
    _path: &Path,
) -> Result<String, AppError> {
    Err(AppError::internal("code-set import is not implemented yet"))
}
