//! Users, passwords, tokens and roles.

pub mod api;
mod argon;
pub mod domain;
pub mod extract;
pub mod repo;
pub mod routes;
mod verified;

pub use domain::Role;
pub use extract::{AuthUser, Bearer, Guard};
