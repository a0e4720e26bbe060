//! Coverage DTOs.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::coverage_repo::{Coverage, CoverageFields, Subscriber};
use super::domain::{Period, Priority, Relationship};
use crate::db::PayerId;
use crate::error::{AppError, FieldErrors, FieldIssue};
use crate::values::{
    Address, AddressInput, Sex, optional, parse_birth_date, parse_date, parse_text, required,
};

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SubscriberInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub birth_date: Option<String>,
    /// `F`, `M` or `U`.
    pub sex: Option<String>,
    pub address: Option<AddressInput>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct CoverageRequest {
    /// A payer of the organization.
    pub payer_id: Option<String>,
    /// The insurance member (subscriber) id on the card.
    #[schema(example = "XJH123456789")]
    pub member_id: Option<String>,
    pub group_number: Option<String>,
    /// `primary`, `secondary` or `tertiary`.
    #[schema(example = "primary")]
    pub priority: Option<String>,
    /// The patient's relationship to the subscriber: `self`, `spouse`, `child` or `other`.
    #[schema(example = "self")]
    pub relationship: Option<String>,
    /// Required when `relationship` is not `self` (and refused when it is).
    pub subscriber: Option<SubscriberInput>,
    /// `YYYY-MM-DD`.
    #[schema(format = Date, example = "2026-01-01")]
    pub effective_from: Option<String>,
    /// `YYYY-MM-DD`, inclusive; absent = open-ended.
    #[schema(format = Date)]
    pub effective_to: Option<String>,
    /// `false` takes the coverage out of use without deleting it.
    pub active: Option<bool>,
    /// For `PATCH`: the version being changed (or send `If-Match`).
    pub version: Option<i32>,
}

fn id_issue(_: uuid::Error) -> FieldIssue {
    FieldIssue::new("invalid_id", "must be an id (UUID)")
}

/// Member ids and group numbers: 1 to `max` letters, digits or `-`.
fn parse_policy_id(raw: &str, max: usize) -> Result<String, FieldIssue> {
    let s = raw.trim();
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(FieldIssue::new(
            "invalid_format",
            format!("must be 1 to {max} letters, digits or '-'"),
        ));
    }
    Ok(s.to_owned())
}

impl CoverageRequest {
    /// The payer id as sent, if it is a well-formed id (the handler looks it up).
    pub fn payer_id(&self) -> Option<PayerId> {
        self.payer_id.as_deref().and_then(|s| s.trim().parse().ok())
    }

    pub fn from_coverage(c: &Coverage) -> Self {
        let subscriber = c.subscriber_first_name.as_ref().map(|_| SubscriberInput {
            first_name: c.subscriber_first_name.clone(),
            last_name: c.subscriber_last_name.clone(),
            birth_date: c.subscriber_birth_date.map(|d| d.to_string()),
            sex: c.subscriber_sex.clone(),
            address: Some(AddressInput {
                line1: c.subscriber_address_line1.clone(),
                line2: c.subscriber_address_line2.clone(),
                city: c.subscriber_city.clone(),
                state: c.subscriber_state.clone(),
                postal_code: c.subscriber_postal_code.clone(),
            }),
        });
        Self {
            payer_id: Some(c.payer_id.to_string()),
            member_id: Some(c.member_id.clone()),
            group_number: c.group_number.clone(),
            priority: Some(c.priority.to_string()),
            relationship: Some(c.relationship.to_string()),
            subscriber,
            effective_from: Some(c.effective_from.to_string()),
            effective_to: c.effective_to.map(|d| d.to_string()),
            active: Some(c.active),
            version: Some(c.version),
        }
    }

    /// This patch laid over `base`. Switching to `self` drops the stored subscriber.
    pub fn over(self, base: Self) -> Self {
        let to_self = self.relationship.as_deref().map(str::trim) == Some("self");
        let subscriber = match self.subscriber {
            Some(s) => Some(s),
            None if to_self => None,
            None => base.subscriber,
        };
        Self {
            payer_id: self.payer_id.or(base.payer_id),
            member_id: self.member_id.or(base.member_id),
            group_number: self.group_number.or(base.group_number),
            priority: self.priority.or(base.priority),
            relationship: self.relationship.or(base.relationship),
            subscriber,
            effective_from: self.effective_from.or(base.effective_from),
            effective_to: self.effective_to.or(base.effective_to),
            active: self.active.or(base.active),
            version: self.version.or(base.version),
        }
    }

    /// Checks every field; `payer_found` says whether `payer_id` names a payer of the caller's
    /// organization (looked up by the handler).
    pub fn validate(
        &self,
        payer_found: bool,
        today: NaiveDate,
    ) -> Result<CoverageFields, AppError> {
        let mut errs = FieldErrors::new();
        let payer_id = required(&mut errs, "payer_id", self.payer_id.as_deref(), |v| {
            v.trim().parse::<PayerId>().map_err(id_issue)
        });
        if payer_id.is_some() && !payer_found {
            errs.add(
                "payer_id",
                "unknown_payer",
                "no such payer in this organization",
            );
        }
        let member_id = required(&mut errs, "member_id", self.member_id.as_deref(), |v| {
            parse_policy_id(v, 80)
        });
        let group_number = optional(
            &mut errs,
            "group_number",
            self.group_number.as_deref(),
            |v| parse_policy_id(v, 50),
        );
        let priority = required(
            &mut errs,
            "priority",
            self.priority.as_deref(),
            str::parse::<Priority>,
        );
        let relationship = required(
            &mut errs,
            "relationship",
            self.relationship.as_deref(),
            str::parse::<Relationship>,
        );
        let from = required(
            &mut errs,
            "effective_from",
            self.effective_from.as_deref(),
            parse_date,
        );
        let to = optional(
            &mut errs,
            "effective_to",
            self.effective_to.as_deref(),
            parse_date,
        );
        let period = from.and_then(|f| errs.check("effective_to", Period::new(f, to)));
        let subscriber = match (relationship, &self.subscriber) {
            (Some(Relationship::Myself), Some(_)) => {
                errs.add(
                    "subscriber",
                    "not_allowed",
                    "must be absent when the patient is the subscriber (relationship self)",
                );
                None
            }
            (Some(Relationship::Myself), None) | (None, _) => None,
            (Some(_), None) => {
                errs.add(
                    "subscriber",
                    "required",
                    "is required when the patient is not the subscriber",
                );
                None
            }
            (Some(_), Some(s)) => parse_subscriber(s, &mut errs, today),
        };
        errs.into_result()?;
        match (payer_id, member_id, priority, relationship, period) {
            (Some(payer_id), Some(member_id), Some(priority), Some(relationship), Some(period)) => {
                Ok(CoverageFields {
                    payer_id,
                    member_id,
                    group_number,
                    priority,
                    relationship,
                    subscriber,
                    period,
                    active: self.active.unwrap_or(true),
                })
            }
            _ => Err(AppError::internal("validated coverage fields missing")),
        }
    }
}

fn parse_subscriber(
    s: &SubscriberInput,
    errs: &mut FieldErrors,
    today: NaiveDate,
) -> Option<Subscriber> {
    let first_name = required(
        errs,
        "subscriber.first_name",
        s.first_name.as_deref(),
        |v| parse_text(v, 35),
    );
    let last_name = required(errs, "subscriber.last_name", s.last_name.as_deref(), |v| {
        parse_text(v, 60)
    });
    let birth_date = required(
        errs,
        "subscriber.birth_date",
        s.birth_date.as_deref(),
        |v| parse_birth_date(v, today),
    );
    let sex = required(errs, "subscriber.sex", s.sex.as_deref(), str::parse::<Sex>);
    let address = match &s.address {
        Some(a) => a.parse("subscriber.address", errs),
        None => {
            errs.add("subscriber.address", "required", "is required");
            None
        }
    };
    Some(Subscriber {
        first_name: first_name?,
        last_name: last_name?,
        birth_date: birth_date?,
        sex: sex?,
        address: address?,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriberView {
    pub first_name: String,
    pub last_name: String,
    pub birth_date: NaiveDate,
    pub sex: String,
    pub address: Address,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CoverageView {
    pub id: String,
    pub patient_id: String,
    pub payer_id: String,
    pub member_id: String,
    pub group_number: Option<String>,
    pub priority: Priority,
    pub relationship: Relationship,
    /// Absent when the patient is the subscriber.
    pub subscriber: Option<SubscriberView>,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Coverage> for CoverageView {
    fn from(c: Coverage) -> Self {
        let subscriber = match (
            &c.subscriber_first_name,
            &c.subscriber_last_name,
            c.subscriber_birth_date,
        ) {
            (Some(f), Some(l), Some(b)) => Some(SubscriberView {
                first_name: f.clone(),
                last_name: l.clone(),
                birth_date: b,
                sex: c.subscriber_sex.clone().unwrap_or_default(),
                address: Address {
                    line1: c.subscriber_address_line1.clone().unwrap_or_default(),
                    line2: c.subscriber_address_line2.clone(),
                    city: c.subscriber_city.clone().unwrap_or_default(),
                    state: c.subscriber_state.clone().unwrap_or_default(),
                    postal_code: c.subscriber_postal_code.clone().unwrap_or_default(),
                },
            }),
            _ => None,
        };
        Self {
            id: c.id.to_string(),
            patient_id: c.patient_id.to_string(),
            payer_id: c.payer_id.to_string(),
            member_id: c.member_id,
            group_number: c.group_number,
            priority: c.priority,
            relationship: c.relationship,
            subscriber,
            effective_from: c.effective_from,
            effective_to: c.effective_to,
            active: c.active,
            version: c.version,
            created_at: c.created_at.and_utc(),
            updated_at: c.updated_at.and_utc(),
        }
    }
}
