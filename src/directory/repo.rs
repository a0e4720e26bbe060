//! Provider and payer queries, scoped by organization.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::domain::ClaimKind;
use crate::db::schema::payers::dsl as py;
use crate::db::{DbConn, OrgId, PayerId, parse_id};
use crate::error::AppError;

#[derive(Debug, Clone, Queryable)]
struct PayerRow {
    id: String,
    org_id: String,
    name: String,
    edi_id: String,
    claim_kind: String,
    receiver_edi_id: Option<String>,
    receiver_name: Option<String>,
    timely_filing_days: Option<i32>,
    active: bool,
    version: i32,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// A payer (insurance company or plan) as claims and remittances see it.
#[derive(Debug, Clone)]
pub struct Payer {
    pub id: PayerId,
    pub org_id: OrgId,
    pub name: String,
    /// The payer id used in NM1*PR.
    pub edi_id: String,
    pub claim_kind: ClaimKind,
    pub receiver_edi_id: Option<String>,
    pub receiver_name: Option<String>,
    pub timely_filing_days: Option<i32>,
    pub active: bool,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl PayerRow {
    fn into_payer(self) -> Result<Payer, AppError> {
        Ok(Payer {
            id: parse_id(&self.id)?,
            org_id: parse_id(&self.org_id)?,
            name: self.name,
            edi_id: self.edi_id,
            claim_kind: self
                .claim_kind
                .parse()
                .map_err(|_| AppError::internal("unknown claim kind in database"))?,
            receiver_edi_id: self.receiver_edi_id,
            receiver_name: self.receiver_name,
            timely_filing_days: self.timely_filing_days,
            active: self.active,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// One payer of the organization, if it exists.
pub fn get_payer(conn: &mut DbConn, org: OrgId, id: PayerId) -> Result<Option<Payer>, AppError> {
    py::payers
        .filter(py::org_id.eq(org.to_string()))
        .filter(py::id.eq(id.to_string()))
        .first::<PayerRow>(conn)
        .optional()?
        .map(PayerRow::into_payer)
        .transpose()
}
