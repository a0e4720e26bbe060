//! Billing: batches of ready claims with four-eyes approval, the X12 837P/837D they are sent as,
//! and the acknowledgements (999/277CA) that come back (DESIGN §6.5).
//!
//! Files: `batches` (statuses and queries; what acknowledgements call), `schema`, `x12` (the
//! 837 writer and the X12 reader).

pub mod acks;
pub mod batches;
pub mod batches_api;
pub mod batches_routes;
pub mod batches_x12;
pub mod ledger;
pub mod remittances;
pub mod schema;
pub mod x12;
