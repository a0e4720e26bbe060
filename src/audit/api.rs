//! Audit DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::repo::AuditRow;

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: String,
    /// The user who acted; absent for command-line actions.
    pub actor_id: Option<String>,
    #[schema(example = "user.create")]
    pub action: String,
    #[schema(example = "user")]
    pub entity: String,
    pub entity_id: Option<String>,
    pub request_id: Option<String>,
    /// What changed (field names, never PHI values).
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    pub at: DateTime<Utc>,
}

impl From<AuditRow> for AuditEventView {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            actor_id: r.actor_id,
            action: r.action,
            entity: r.entity,
            entity_id: r.entity_id,
            request_id: r.request_id,
            detail: r.detail.and_then(|d| serde_json::from_str(&d).ok()),
            at: r.at.and_utc(),
        }
    }
}

/// Filters for `GET /api/v1/audit-events`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Entity kind, e.g. `user`, `patient`.
    pub entity: Option<String>,
    /// Id of the entity.
    pub entity_id: Option<String>,
    /// Id of the acting user.
    pub actor_id: Option<String>,
    /// Action, e.g. `user.create`, `auth.login`.
    pub action: Option<String>,
    /// Events at or after this instant (RFC 3339) or date (YYYY-MM-DD).
    pub from: Option<String>,
    /// Events before this instant (RFC 3339) or date (YYYY-MM-DD, exclusive).
    pub to: Option<String>,
}
