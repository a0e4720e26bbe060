//! Code sets (ICD-10-CM, place of service, imported licensed tables) and fee schedules.

pub mod cli;
pub mod routes;
