//! Organizations (practices): the tenants.

pub mod api;
pub mod domain;
pub mod repo;
pub mod routes;
