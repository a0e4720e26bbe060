//! Patient DTOs. One request shape for create and change (see `directory::api` for the idea).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::domain::parse_mrn;
use super::repo::{Patient, PatientFields, PatientFilter};
use crate::auth::domain::Email;
use crate::error::{AppError, FieldErrors};
use crate::values::{
    Address, AddressInput, Sex, optional, parse_birth_date, parse_date, parse_phone, parse_text,
    required,
};

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct PatientRequest {
    /// Medical record number; generated when absent on create.
    pub mrn: Option<String>,
    #[schema(example = "Maria")]
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    #[schema(example = "Lopez")]
    pub last_name: Option<String>,
    /// `YYYY-MM-DD`, not in the future.
    #[schema(format = Date, example = "1984-03-12")]
    pub birth_date: Option<String>,
    /// `F`, `M` or `U`.
    #[schema(example = "F")]
    pub sex: Option<String>,
    /// A US phone number in any usual format; stored as 10 digits.
    #[schema(example = "(217) 555-0134")]
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<AddressInput>,
    /// For `PATCH`: the version being changed (or send `If-Match`).
    pub version: Option<i32>,
}

impl PatientRequest {
    pub fn from_patient(p: &Patient) -> Self {
        Self {
            mrn: Some(p.mrn.clone()),
            first_name: Some(p.first_name.clone()),
            middle_name: p.middle_name.clone(),
            last_name: Some(p.last_name.clone()),
            birth_date: Some(p.birth_date.to_string()),
            sex: Some(p.sex.to_string()),
            phone: p.phone.clone(),
            email: p.email.clone(),
            address: Some(AddressInput {
                line1: Some(p.address_line1.clone()),
                line2: p.address_line2.clone(),
                city: Some(p.city.clone()),
                state: Some(p.state.clone()),
                postal_code: Some(p.postal_code.clone()),
            }),
            version: Some(p.version),
        }
    }

    /// This patch laid over `base` (address parts one by one).
    pub fn over(self, base: Self) -> Self {
        let address = AddressInput::merge(self.address, base.address);
        Self {
            mrn: self.mrn.or(base.mrn),
            first_name: self.first_name.or(base.first_name),
            middle_name: self.middle_name.or(base.middle_name),
            last_name: self.last_name.or(base.last_name),
            birth_date: self.birth_date.or(base.birth_date),
            sex: self.sex.or(base.sex),
            phone: self.phone.or(base.phone),
            email: self.email.or(base.email),
            address,
            version: self.version.or(base.version),
        }
    }

    pub fn validate(&self, today: NaiveDate) -> Result<PatientFields, AppError> {
        let mut errs = FieldErrors::new();
        let mrn = optional(&mut errs, "mrn", self.mrn.as_deref(), parse_mrn);
        let first_name = required(&mut errs, "first_name", self.first_name.as_deref(), |v| {
            parse_text(v, 35)
        });
        let middle_name = optional(&mut errs, "middle_name", self.middle_name.as_deref(), |v| {
            parse_text(v, 25)
        });
        let last_name = required(&mut errs, "last_name", self.last_name.as_deref(), |v| {
            parse_text(v, 60)
        });
        let birth_date = required(&mut errs, "birth_date", self.birth_date.as_deref(), |v| {
            parse_birth_date(v, today)
        });
        let sex = required(&mut errs, "sex", self.sex.as_deref(), str::parse::<Sex>);
        let phone = optional(&mut errs, "phone", self.phone.as_deref(), parse_phone);
        let email = optional(&mut errs, "email", self.email.as_deref(), |v| {
            Email::parse(v).map(|e| e.as_str().to_owned())
        });
        let address = match &self.address {
            Some(a) => a.parse("address", &mut errs),
            None => {
                errs.add("address", "required", "is required");
                None
            }
        };
        errs.into_result()?;
        match (first_name, last_name, birth_date, sex, address) {
            (Some(first_name), Some(last_name), Some(birth_date), Some(sex), Some(address)) => {
                Ok(PatientFields {
                    mrn,
                    first_name,
                    middle_name,
                    last_name,
                    birth_date,
                    sex,
                    phone,
                    email,
                    address,
                })
            }
            _ => Err(AppError::internal("validated patient fields missing")),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatientView {
    pub id: String,
    pub mrn: String,
    pub first_name: String,
    pub middle_name: Option<String>,
    pub last_name: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    /// 10 digits.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Address,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Patient> for PatientView {
    fn from(p: Patient) -> Self {
        let address = p.address();
        Self {
            id: p.id.to_string(),
            mrn: p.mrn,
            first_name: p.first_name,
            middle_name: p.middle_name,
            last_name: p.last_name,
            birth_date: p.birth_date,
            sex: p.sex,
            phone: p.phone,
            email: p.email,
            address,
            version: p.version,
            created_at: p.created_at.and_utc(),
            updated_at: p.updated_at.and_utc(),
        }
    }
}

/// Search filters for `GET /api/v1/patients`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PatientQuery {
    /// Words that each start the first or last name, in any order and any case (`lop mar`).
    pub name: Option<String>,
    /// Exact birth date `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// Exact MRN.
    pub mrn: Option<String>,
}

impl PatientQuery {
    pub fn parse(&self, errs: &mut FieldErrors) -> PatientFilter {
        PatientFilter {
            name_words: self
                .name
                .as_deref()
                .unwrap_or("")
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect(),
            birth_date: optional(errs, "birth_date", self.birth_date.as_deref(), parse_date),
            mrn: optional(errs, "mrn", self.mrn.as_deref(), parse_mrn),
        }
    }
}
