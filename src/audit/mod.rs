//! The audit trail: who did what to which record, written in the same transaction as the change.

pub mod api;
pub mod repo;
pub mod routes;

pub use repo::{AuditCtx, NewAuditRow, PendingAudit, new_rows, record, record_each, record_many};
