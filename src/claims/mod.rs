//! Claims: coding services into professional (837P) and dental (837D) claims, the scrubber that
//! catches what payers reject, and the claim lifecycle (DESIGN §6.4).
//!
//! What other contexts call: [`repo::transition`] (batches, acknowledgements, remittances move
//! claims along), [`repo::set_payer_claim_number`], [`lifecycle::scrub_claim`].

pub mod api;
pub mod charges;
pub mod domain;
pub mod lifecycle;
pub mod repo;
pub mod routes;
pub mod schema;
pub mod scrubber;
