//! Integration tests: the real application on a free port, on a fresh database per test
//! (SQLite by default; PostgreSQL when `TEST_DATABASE_URL` is set).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod acknowledgements;
mod audit;
mod auth;
mod auth_hardening;
mod batches;
mod claims;
mod claims_scrubber;
mod cli;
mod coding;
mod concurrency;
mod coverages;
mod crash;
mod demo;
mod directory;
mod errors;
mod helpers;
mod lab;
mod lab_documents;
mod lab_labels;
mod lab_manifests;
mod lab_turnaround;
mod lanes;
mod openapi;
mod organization;
mod patients;
mod pipeline;
mod pool;
mod remittance_matching;
mod remittances;
mod reports;
mod sweep;
mod users;
mod x12_837;
