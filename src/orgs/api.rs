//! Organization settings DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::domain::{Ein, parse_accession_prefix, parse_pos};
use super::repo::{OrgSettings, Organization};
use crate::auth::domain::Email;
use crate::directory::domain::{Npi, parse_edi_id, parse_filing_days, parse_taxonomy};
use crate::error::{AppError, FieldErrors};
use crate::values::{Address, AddressInput, optional, parse_phone, parse_text, required};

/// A change to the organization's settings: send only what changes, and the version.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct OrganizationRequest {
    /// Legal name (the billing provider's name on claims).
    pub name: Option<String>,
    /// Billing NPI (10 digits, valid check digit).
    pub npi: Option<String>,
    /// Federal tax id (EIN), 9 digits (`12-3456789` accepted).
    pub tax_id: Option<String>,
    pub taxonomy_code: Option<String>,
    pub address: Option<AddressInput>,
    pub phone: Option<String>,
    /// X12 submitter id (ISA06 / NM1*41), assigned by the clearinghouse.
    pub submitter_id: Option<String>,
    pub submitter_name: Option<String>,
    /// Submitter contact (PER*IC).
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    /// 1 to 3 capital letters starting every accession number (`L` → `L26-0001237`).
    pub accession_prefix: Option<String>,
    /// Place-of-service code used when a claim gives none (two digits, e.g. `11` office).
    pub default_place_of_service: Option<String>,
    /// Default timely-filing limit in days for payers without their own.
    pub timely_filing_days: Option<i64>,
    pub version: Option<i32>,
}

impl OrganizationRequest {
    pub fn from_org(o: &Organization) -> Self {
        let address = o.address_line1.as_ref().map(|_| AddressInput {
            line1: o.address_line1.clone(),
            line2: o.address_line2.clone(),
            city: o.city.clone(),
            state: o.state.clone(),
            postal_code: o.postal_code.clone(),
        });
        Self {
            name: Some(o.name.clone()),
            npi: o.npi.clone(),
            tax_id: o.tax_id.clone(),
            taxonomy_code: o.taxonomy_code.clone(),
            address,
            phone: o.phone.clone(),
            submitter_id: o.submitter_id.clone(),
            submitter_name: o.submitter_name.clone(),
            contact_name: o.contact_name.clone(),
            contact_phone: o.contact_phone.clone(),
            contact_email: o.contact_email.clone(),
            accession_prefix: Some(o.accession_prefix.clone()),
            default_place_of_service: Some(o.default_place_of_service.clone()),
            timely_filing_days: Some(i64::from(o.timely_filing_days)),
            version: Some(o.version),
        }
    }

    pub fn over(self, base: Self) -> Self {
        let address = AddressInput::merge(self.address, base.address);
        Self {
            name: self.name.or(base.name),
            npi: self.npi.or(base.npi),
            tax_id: self.tax_id.or(base.tax_id),
            taxonomy_code: self.taxonomy_code.or(base.taxonomy_code),
            address,
            phone: self.phone.or(base.phone),
            submitter_id: self.submitter_id.or(base.submitter_id),
            submitter_name: self.submitter_name.or(base.submitter_name),
            contact_name: self.contact_name.or(base.contact_name),
            contact_phone: self.contact_phone.or(base.contact_phone),
            contact_email: self.contact_email.or(base.contact_email),
            accession_prefix: self.accession_prefix.or(base.accession_prefix),
            default_place_of_service: self
                .default_place_of_service
                .or(base.default_place_of_service),
            timely_filing_days: self.timely_filing_days.or(base.timely_filing_days),
            version: self.version.or(base.version),
        }
    }

    pub fn validate(&self) -> Result<OrgSettings, AppError> {
        let mut errs = FieldErrors::new();
        let name = required(&mut errs, "name", self.name.as_deref(), |v| {
            parse_text(v, 60)
        });
        let npi = optional(&mut errs, "npi", self.npi.as_deref(), |v| {
            Npi::parse(v).map(|n| n.as_str().to_owned())
        });
        let tax_id = optional(&mut errs, "tax_id", self.tax_id.as_deref(), |v| {
            Ein::parse(v).map(|e| e.as_str().to_owned())
        });
        let taxonomy_code = optional(
            &mut errs,
            "taxonomy_code",
            self.taxonomy_code.as_deref(),
            parse_taxonomy,
        );
        let address = self
            .address
            .as_ref()
            .and_then(|a| a.parse("address", &mut errs));
        let phone = optional(&mut errs, "phone", self.phone.as_deref(), parse_phone);
        let submitter_id = optional(
            &mut errs,
            "submitter_id",
            self.submitter_id.as_deref(),
            |v| parse_edi_id(v, 2, 15),
        );
        let submitter_name = optional(
            &mut errs,
            "submitter_name",
            self.submitter_name.as_deref(),
            |v| parse_text(v, 60),
        );
        let contact_name = optional(
            &mut errs,
            "contact_name",
            self.contact_name.as_deref(),
            |v| parse_text(v, 60),
        );
        let contact_phone = optional(
            &mut errs,
            "contact_phone",
            self.contact_phone.as_deref(),
            parse_phone,
        );
        let contact_email = optional(
            &mut errs,
            "contact_email",
            self.contact_email.as_deref(),
            |v| Email::parse(v).map(|e| e.as_str().to_owned()),
        );
        let accession_prefix = required(
            &mut errs,
            "accession_prefix",
            self.accession_prefix.as_deref(),
            parse_accession_prefix,
        );
        let default_place_of_service = required(
            &mut errs,
            "default_place_of_service",
            self.default_place_of_service.as_deref(),
            parse_pos,
        );
        let timely_filing_days = match self.timely_filing_days {
            Some(n) => errs.check("timely_filing_days", parse_filing_days(n)),
            None => {
                errs.add("timely_filing_days", "required", "is required");
                None
            }
        };
        errs.into_result()?;
        match (
            name,
            accession_prefix,
            default_place_of_service,
            timely_filing_days,
        ) {
            (
                Some(name),
                Some(accession_prefix),
                Some(default_place_of_service),
                Some(timely_filing_days),
            ) => Ok(OrgSettings {
                name,
                npi,
                tax_id,
                taxonomy_code,
                address,
                phone,
                submitter_id,
                submitter_name,
                contact_name,
                contact_phone,
                contact_email,
                accession_prefix,
                default_place_of_service,
                timely_filing_days,
            }),
            _ => Err(AppError::internal("validated organization fields missing")),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    pub npi: Option<String>,
    pub tax_id: Option<String>,
    pub taxonomy_code: Option<String>,
    pub address: Option<Address>,
    pub phone: Option<String>,
    pub submitter_id: Option<String>,
    pub submitter_name: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub accession_prefix: String,
    pub default_place_of_service: String,
    pub timely_filing_days: i32,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Organization> for OrganizationView {
    fn from(o: Organization) -> Self {
        let address = match (&o.address_line1, &o.city, &o.state, &o.postal_code) {
            (Some(l1), Some(c), Some(s), Some(z)) => Some(Address {
                line1: l1.clone(),
                line2: o.address_line2.clone(),
                city: c.clone(),
                state: s.clone(),
                postal_code: z.clone(),
            }),
            _ => None,
        };
        Self {
            id: o.id.to_string(),
            name: o.name,
            npi: o.npi,
            tax_id: o.tax_id,
            taxonomy_code: o.taxonomy_code,
            address,
            phone: o.phone,
            submitter_id: o.submitter_id,
            submitter_name: o.submitter_name,
            contact_name: o.contact_name,
            contact_phone: o.contact_phone,
            contact_email: o.contact_email,
            accession_prefix: o.accession_prefix,
            default_place_of_service: o.default_place_of_service,
            timely_filing_days: o.timely_filing_days,
            version: o.version,
            created_at: o.created_at.and_utc(),
            updated_at: o.updated_at.and_utc(),
        }
    }
}
