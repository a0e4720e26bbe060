//! Providers and payers (and the identifiers they carry).

pub mod api;
pub mod domain;
pub mod repo;
pub mod routes;
