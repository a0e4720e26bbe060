//! Claims: coding services into professional (837P) and dental (837D) claims, the scrubber that
//! catches what payers reject, and the claim lifecycle (DESIGN §6.4).
//!
//! What other contexts call: [`transitions::transition`] (also `repo::transition`), which batches,
//! acknowledgements and remittances use to move claims along; [`transitions::set_payer_claim_number`];
//! [`validate::scrub_claim`].
//!
//! Files: `domain` (statuses, teeth, control numbers), `scrubber` (the pure rules), `api`/`views`
//! (DTOs), `repo`/`transitions`/`charges` (queries), `routes`/`lifecycle`/`validate`/`from_charges`
//! (handlers).

pub mod api;
pub mod charges;
pub mod domain;
pub mod from_charges;
pub mod lifecycle;
mod pg_rows;
pub mod repo;
pub mod routes;
pub mod schema;
pub mod scrubber;
pub mod transitions;
pub mod validate;
pub mod views;
