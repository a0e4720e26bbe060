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

/// Reads the summary an import stored (what it answered), with `received_at` taken from its
/// column: the column is the truth for the time (summaries stored before it was an RFC 3339
/// instant had no offset). `what` names the record in the error.
pub fn stored_summary<T: serde::de::DeserializeOwned>(
    summary: &str,
    received_at: chrono::NaiveDateTime,
    what: &str,
) -> Result<T, crate::error::AppError> {
    let unreadable = |e: serde_json::Error| {
        crate::error::AppError::internal(format!("unreadable {what} summary: {e}"))
    };
    let mut raw: serde_json::Value = serde_json::from_str(summary).map_err(unreadable)?;
    if let Some(o) = raw.as_object_mut() {
        o.insert(
            "received_at".into(),
            serde_json::to_value(received_at.and_utc()).map_err(unreadable)?,
        );
    }
    serde_json::from_value(raw).map_err(unreadable)
}
