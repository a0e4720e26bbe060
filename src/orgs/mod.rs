//! Organizations (practices): the tenants.

pub mod domain;
pub mod repo;
