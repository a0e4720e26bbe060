//! Organization queries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::domain::Ein;
use crate::audit::{self, AuditCtx};
use crate::db::schema::organizations::dsl as o;
use crate::db::{DbConn, OrgId, parse_id};
use crate::directory::domain::Npi;
use crate::error::{AppError, FieldErrors};

#[derive(Debug, Clone, Queryable)]
struct OrgRow {
    id: String,
    name: String,
    npi: Option<String>,
    tax_id: Option<String>,
    version: i32,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

#[derive(Debug, Clone)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub npi: Option<String>,
    pub tax_id: Option<String>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A checked new organization.
pub struct NewOrg {
    pub name: String,
    pub npi: Option<Npi>,
    pub tax_id: Option<Ein>,
}

impl NewOrg {
    /// Checks name, NPI and EIN, reporting every problem.
    pub fn parse(name: &str, npi: Option<&str>, tax_id: Option<&str>) -> Result<Self, AppError> {
        let mut errs = FieldErrors::new();
        let name = errs.require("name", Some(name)).map(str::to_owned);
        let npi = npi.and_then(|n| errs.check("npi", Npi::parse(n)));
        let tax_id = tax_id.and_then(|t| errs.check("tax_id", Ein::parse(t)));
        errs.into_result()?;
        Ok(Self {
            name: name.unwrap_or_default(),
            npi,
            tax_id,
        })
    }
}

pub fn create_org(conn: &mut DbConn, new: NewOrg) -> Result<Organization, AppError> {
    let id = OrgId::new();
    let now = crate::db::now();
    diesel::insert_into(o::organizations)
        .values((
            o::id.eq(id.to_string()),
            o::name.eq(&new.name),
            o::npi.eq(new.npi.as_ref().map(Npi::as_str)),
            o::tax_id.eq(new.tax_id.as_ref().map(Ein::as_str)),
            o::version.eq(1),
            o::created_at.eq(now),
            o::updated_at.eq(now),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        &AuditCtx::cli(id),
        "organization.create",
        "organization",
        Some(&id.to_string()),
        None,
    )?;
    get_org(conn, id)?.ok_or_else(|| AppError::internal("created organization vanished"))
}

pub fn get_org(conn: &mut DbConn, id: OrgId) -> Result<Option<Organization>, AppError> {
    o::organizations
        .filter(o::id.eq(id.to_string()))
        .first::<OrgRow>(conn)
        .optional()?
        .map(|r| {
            Ok(Organization {
                id: parse_id(&r.id)?,
                name: r.name,
                npi: r.npi,
                tax_id: r.tax_id,
                version: r.version,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        })
        .transpose()
}
