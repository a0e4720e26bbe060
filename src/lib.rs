//! Officina: the back office of a medical or dental practice, as a service.
//!
//! The crate is organised by bounded context (`auth`, `orgs`, `audit`, …); each context holds
//! `domain` (pure rules), `repo` (diesel queries, org-scoped), `api` (DTOs) and `routes`
//! (actix-web handlers). Shared plumbing lives in `config`, `db`, `error`, `http`, `openapi`
//! and `telemetry`.

pub mod app;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod claims;
pub mod cli;
pub mod coding;
pub mod config;
pub mod db;
pub mod demo;
pub mod demo_practice;
pub mod directory;
pub mod error;
pub mod health;
pub mod http;
pub mod lab;
pub mod openapi;
pub mod orgs;
pub mod patients;
pub mod reports;
pub mod telemetry;
pub mod values;
