//! Provider and payer DTOs. The same request shape serves create (`POST`) and change (`PATCH`):
//! for a change, the stored record is turned back into a request, the sent fields are laid over
//! it, and the result is checked as a whole, so both report every problem at once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::domain::{
    ClaimKind, Npi, ProviderKind, parse_edi_id, parse_filing_days, parse_taxonomy,
};
use super::repo::{Payer, PayerFields, Provider, ProviderFields};
use crate::error::{AppError, FieldErrors};
use crate::values::{optional, parse_text, required};

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct PayerRequest {
    #[schema(example = "Blue Cross Blue Shield of Illinois")]
    pub name: Option<String>,
    /// Payer id as used in NM1*PR (2 to 80 letters or digits).
    #[schema(example = "BCBSIL")]
    pub edi_id: Option<String>,
    /// `professional` or `dental`.
    #[schema(example = "professional")]
    pub claim_kind: Option<String>,
    /// Receiver id for the 837 envelope (ISA08/NM1*40), up to 15 characters.
    pub receiver_edi_id: Option<String>,
    pub receiver_name: Option<String>,
    /// Days after the date of service within which a claim must be filed (default: the
    /// organization's setting).
    pub timely_filing_days: Option<i64>,
    pub active: Option<bool>,
    /// For `PATCH`: the version being changed (or send `If-Match`).
    pub version: Option<i32>,
}

impl PayerRequest {
    pub fn from_payer(p: &Payer) -> Self {
        Self {
            name: Some(p.name.clone()),
            edi_id: Some(p.edi_id.clone()),
            claim_kind: Some(p.claim_kind.to_string()),
            receiver_edi_id: p.receiver_edi_id.clone(),
            receiver_name: p.receiver_name.clone(),
            timely_filing_days: p.timely_filing_days.map(i64::from),
            active: Some(p.active),
            version: Some(p.version),
        }
    }

    /// This patch laid over `base`.
    pub fn over(self, base: Self) -> Self {
        Self {
            name: self.name.or(base.name),
            edi_id: self.edi_id.or(base.edi_id),
            claim_kind: self.claim_kind.or(base.claim_kind),
            receiver_edi_id: self.receiver_edi_id.or(base.receiver_edi_id),
            receiver_name: self.receiver_name.or(base.receiver_name),
            timely_filing_days: self.timely_filing_days.or(base.timely_filing_days),
            active: self.active.or(base.active),
            version: self.version.or(base.version),
        }
    }

    pub fn validate(&self) -> Result<PayerFields, AppError> {
        let mut errs = FieldErrors::new();
        let name = required(&mut errs, "name", self.name.as_deref(), |v| {
            parse_text(v, 60)
        });
        let edi_id = required(&mut errs, "edi_id", self.edi_id.as_deref(), |v| {
            parse_edi_id(v, 2, 80)
        });
        let claim_kind = required(
            &mut errs,
            "claim_kind",
            self.claim_kind.as_deref(),
            str::parse::<ClaimKind>,
        );
        let receiver_edi_id = optional(
            &mut errs,
            "receiver_edi_id",
            self.receiver_edi_id.as_deref(),
            |v| parse_edi_id(v, 2, 15),
        );
        let receiver_name = optional(
            &mut errs,
            "receiver_name",
            self.receiver_name.as_deref(),
            |v| parse_text(v, 60),
        );
        let timely_filing_days = self
            .timely_filing_days
            .and_then(|n| errs.check("timely_filing_days", parse_filing_days(n)));
        errs.into_result()?;
        match (name, edi_id, claim_kind) {
            (Some(name), Some(edi_id), Some(claim_kind)) => Ok(PayerFields {
                name,
                edi_id,
                claim_kind,
                receiver_edi_id,
                receiver_name,
                timely_filing_days,
                active: self.active.unwrap_or(true),
            }),
            _ => Err(AppError::internal("validated payer fields missing")),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PayerView {
    pub id: String,
    pub name: String,
    pub edi_id: String,
    pub claim_kind: ClaimKind,
    pub receiver_edi_id: Option<String>,
    pub receiver_name: Option<String>,
    pub timely_filing_days: Option<i32>,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Payer> for PayerView {
    fn from(p: Payer) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name,
            edi_id: p.edi_id,
            claim_kind: p.claim_kind,
            receiver_edi_id: p.receiver_edi_id,
            receiver_name: p.receiver_name,
            timely_filing_days: p.timely_filing_days,
            active: p.active,
            version: p.version,
            created_at: p.created_at.and_utc(),
            updated_at: p.updated_at.and_utc(),
        }
    }
}

/// Filters for `GET /api/v1/payers`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PayerQuery {
    /// Part of the name, any case.
    pub name: Option<String>,
    /// `professional` or `dental`.
    pub claim_kind: Option<String>,
    /// `true` or `false`.
    pub active: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ProviderRequest {
    /// `individual` or `organization`.
    #[schema(example = "individual")]
    pub kind: Option<String>,
    /// 10 digits with a valid check digit.
    #[schema(example = "1234567893")]
    pub npi: Option<String>,
    /// Required for an individual.
    pub first_name: Option<String>,
    /// Required for an individual.
    pub last_name: Option<String>,
    /// Required for an organization.
    pub organization_name: Option<String>,
    #[schema(example = "207Q00000X")]
    pub taxonomy_code: Option<String>,
    pub active: Option<bool>,
    /// For `PATCH`: the version being changed (or send `If-Match`).
    pub version: Option<i32>,
}

impl ProviderRequest {
    pub fn from_provider(p: &Provider) -> Self {
        Self {
            kind: Some(p.kind.as_str().to_owned()),
            npi: Some(p.npi.clone()),
            first_name: p.first_name.clone(),
            last_name: p.last_name.clone(),
            organization_name: p.organization_name.clone(),
            taxonomy_code: p.taxonomy_code.clone(),
            active: Some(p.active),
            version: Some(p.version),
        }
    }

    pub fn over(self, base: Self) -> Self {
        Self {
            kind: self.kind.or(base.kind),
            npi: self.npi.or(base.npi),
            first_name: self.first_name.or(base.first_name),
            last_name: self.last_name.or(base.last_name),
            organization_name: self.organization_name.or(base.organization_name),
            taxonomy_code: self.taxonomy_code.or(base.taxonomy_code),
            active: self.active.or(base.active),
            version: self.version.or(base.version),
        }
    }

    pub fn validate(&self) -> Result<ProviderFields, AppError> {
        let mut errs = FieldErrors::new();
        let kind = required(
            &mut errs,
            "kind",
            self.kind.as_deref(),
            str::parse::<ProviderKind>,
        );
        let npi = required(&mut errs, "npi", self.npi.as_deref(), Npi::parse);
        let first_name = optional(&mut errs, "first_name", self.first_name.as_deref(), |v| {
            parse_text(v, 35)
        });
        let last_name = optional(&mut errs, "last_name", self.last_name.as_deref(), |v| {
            parse_text(v, 60)
        });
        let organization_name = optional(
            &mut errs,
            "organization_name",
            self.organization_name.as_deref(),
            |v| parse_text(v, 60),
        );
        let taxonomy_code = optional(
            &mut errs,
            "taxonomy_code",
            self.taxonomy_code.as_deref(),
            parse_taxonomy,
        );
        match kind {
            Some(ProviderKind::Individual) => {
                if self
                    .first_name
                    .as_deref()
                    .is_none_or(|s| s.trim().is_empty())
                {
                    errs.add(
                        "first_name",
                        "required",
                        "is required for an individual provider",
                    );
                }
                if self
                    .last_name
                    .as_deref()
                    .is_none_or(|s| s.trim().is_empty())
                {
                    errs.add(
                        "last_name",
                        "required",
                        "is required for an individual provider",
                    );
                }
            }
            Some(ProviderKind::Organization)
                if self
                    .organization_name
                    .as_deref()
                    .is_none_or(|s| s.trim().is_empty()) =>
            {
                errs.add(
                    "organization_name",
                    "required",
                    "is required for an organization provider",
                );
            }
            Some(ProviderKind::Organization) | None => {}
        }
        errs.into_result()?;
        match (kind, npi) {
            (Some(kind), Some(npi)) => Ok(ProviderFields {
                kind,
                npi: npi.as_str().to_owned(),
                first_name,
                last_name,
                organization_name,
                taxonomy_code,
                active: self.active.unwrap_or(true),
            }),
            _ => Err(AppError::internal("validated provider fields missing")),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    pub id: String,
    pub kind: ProviderKind,
    pub npi: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub organization_name: Option<String>,
    pub taxonomy_code: Option<String>,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Provider> for ProviderView {
    fn from(p: Provider) -> Self {
        Self {
            id: p.id.to_string(),
            kind: p.kind,
            npi: p.npi,
            first_name: p.first_name,
            last_name: p.last_name,
            organization_name: p.organization_name,
            taxonomy_code: p.taxonomy_code,
            active: p.active,
            version: p.version,
            created_at: p.created_at.and_utc(),
            updated_at: p.updated_at.and_utc(),
        }
    }
}

/// Filters for `GET /api/v1/providers`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ProviderQuery {
    pub npi: Option<String>,
    /// `true` or `false`.
    pub active: Option<String>,
}
