//! Patients and their insurance coverages.

pub mod api;
pub mod coverage_api;
pub mod coverage_repo;
pub mod coverage_routes;
pub mod domain;
pub mod repo;
pub mod routes;
