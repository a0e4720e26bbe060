//! Providers and payers (and the identifiers they carry).

pub mod domain;
