//! Code sets (ICD-10-CM, place of service, imported licensed tables) and fee schedules.
//!
//! What other contexts call: [`check_code`] (may this code go on a claim for this date?),
//! [`check_modifier`], [`normalize_code`] and [`fee_lookup`] (standard charge and payer's expected
//! amount for a procedure).

pub mod api;
pub mod cli;
pub mod domain;
pub mod fees;
pub mod repo;
pub mod routes;
pub mod schema;
pub mod search;
pub mod shipped;

pub use domain::{CheckFailure, CodeCheck, CodeSystem, check_modifier, procedure_system};
pub use fees::{FeeLookup, fee_lookup};
pub use repo::check_code;

/// Normalises a code of `system` to its stored form (ICD-10-CM without the dot), checking its format.
pub fn normalize_code(system: CodeSystem, raw: &str) -> Result<String, crate::error::FieldIssue> {
    system.normalize(raw)
}
