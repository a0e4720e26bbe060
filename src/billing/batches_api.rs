//! Batch DTOs: the request, the views, the list filters.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::batches::{Batch, BatchEvent, BatchFilter, BatchStatus};
use crate::claims::api::parse_id;
use crate::db::{ClaimId, PayerId};
use crate::directory::domain::ClaimKind;
use crate::error::FieldErrors;
use crate::values::optional;

/// `POST /batches`. Ids and the kind are taken as strings so every problem comes back at once.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct BatchRequest {
    /// `professional` or `dental`.
    #[schema(example = "professional")]
    pub kind: Option<String>,
    pub payer_id: Option<String>,
    /// Default: every `ready` claim of this kind and payer. When sent, each must be `ready`, of
    /// this kind and for this payer.
    pub claim_ids: Option<Vec<String>>,
}

/// A checked batch request.
pub struct BatchInput {
    pub kind: ClaimKind,
    pub payer_id: PayerId,
    /// The listed claims with their position in `claim_ids` (bad and duplicate ids left out).
    pub claim_ids: Option<Vec<(usize, ClaimId)>>,
}

impl BatchRequest {
    /// Checks the shape into `errs` (`claim_ids[2]`); `None` when the kind or payer is unusable.
    pub fn parse(&self, errs: &mut FieldErrors) -> Option<BatchInput> {
        let kind = errs
            .require("kind", self.kind.as_deref())
            .and_then(|k| errs.check("kind", k.parse::<ClaimKind>()));
        let payer_id = errs
            .require("payer_id", self.payer_id.as_deref())
            .and_then(|p| errs.check("payer_id", parse_id::<PayerId>(p)));
        let claim_ids = self.claim_ids.as_ref().map(|ids| {
            if ids.is_empty() {
                errs.add(
                    "claim_ids",
                    "empty",
                    "must list at least one claim (or be left out: every ready claim)",
                );
            }
            let mut out: Vec<(usize, ClaimId)> = Vec::new();
            for (i, raw) in ids.iter().enumerate() {
                let field = format!("claim_ids[{i}]");
                if let Some(id) = errs.check(&field, parse_id::<ClaimId>(raw)) {
                    if out.iter().any(|(_, o)| *o == id) {
                        errs.add(field, "duplicate", "is listed twice");
                    } else {
                        out.push((i, id));
                    }
                }
            }
            out
        });
        Some(BatchInput {
            kind: kind?,
            payer_id: payer_id?,
            claim_ids,
        })
    }
}

/// One status change of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchEventView {
    pub id: String,
    /// Absent on the creation event.
    pub from: Option<String>,
    pub to: String,
    pub actor_id: Option<String>,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
}

impl From<BatchEvent> for BatchEventView {
    fn from(e: BatchEvent) -> Self {
        Self {
            id: e.id.to_string(),
            from: e.from_status,
            to: e.to_status,
            actor_id: e.actor_id,
            at: e.at.and_utc(),
            reason: e.reason,
        }
    }
}

/// A batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    pub id: String,
    pub kind: ClaimKind,
    pub payer_id: String,
    pub status: BatchStatus,
    pub claim_ids: Vec<String>,
    pub claim_count: i32,
    pub total_charge_cents: i64,
    /// ISA13 of the 837, assigned at approval.
    pub interchange_control_number: Option<i64>,
    /// GS06 of the 837, assigned at approval.
    pub group_control_number: Option<i64>,
    pub created_by: Option<String>,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub submitted_by: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// Status history, oldest first.
    pub history: Vec<BatchEventView>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl BatchView {
    pub fn new(
        b: Batch,
        claim_ids: Vec<ClaimId>,
        history: Vec<BatchEvent>,
    ) -> Result<Self, crate::error::AppError> {
        Ok(Self {
            kind: b.kind()?,
            id: b.id.to_string(),
            payer_id: b.payer_id.to_string(),
            status: b.status,
            claim_ids: claim_ids.iter().map(ToString::to_string).collect(),
            claim_count: b.claim_count,
            total_charge_cents: b.total_charge_cents,
            interchange_control_number: b.interchange_control_number,
            group_control_number: b.group_control_number,
            created_by: b.created_by,
            approved_by: b.approved_by,
            approved_at: b.approved_at.map(|t| t.and_utc()),
            submitted_by: b.submitted_by,
            submitted_at: b.submitted_at.map(|t| t.and_utc()),
            history: history.into_iter().map(BatchEventView::from).collect(),
            version: b.version,
            created_at: b.created_at.and_utc(),
            updated_at: b.updated_at.and_utc(),
        })
    }
}

/// Batch list filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct BatchQuery {
    /// `pending_approval`, `approved`, `submitted`, `accepted`, `partially_accepted`,
    /// `rejected`, `cancelled`.
    pub status: Option<String>,
    /// `professional` or `dental`.
    pub kind: Option<String>,
    pub payer_id: Option<String>,
}

impl BatchQuery {
    pub fn parse(&self, errs: &mut FieldErrors) -> BatchFilter {
        BatchFilter {
            status: optional(
                errs,
                "status",
                self.status.as_deref(),
                str::parse::<BatchStatus>,
            ),
            kind: optional(errs, "kind", self.kind.as_deref(), str::parse::<ClaimKind>),
            payer_id: optional(errs, "payer_id", self.payer_id.as_deref(), parse_id),
        }
    }
}

/// `POST /batches/{id}/approve | /cancel | /mark-submitted`: an optional reason.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct BatchActionRequest {
    pub reason: Option<String>,
}
