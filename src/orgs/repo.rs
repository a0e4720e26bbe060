//! Organization queries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::domain::Ein;
use crate::audit::{self, AuditCtx};
use crate::db::schema::organizations::dsl as o;
use crate::db::{DbConn, OrgId};
use crate::directory::domain::Npi;
use crate::error::{AppError, FieldErrors};

/// An organization (practice) with its billing and X12 settings.
#[derive(Debug, Clone, Queryable)]
pub struct OrgRow {
    #[diesel(deserialize_as = String)]
    pub id: OrgId,
    pub name: String,
    pub npi: Option<String>,
    pub tax_id: Option<String>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub taxonomy_code: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub phone: Option<String>,
    pub submitter_id: Option<String>,
    pub submitter_name: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub accession_prefix: String,
    pub default_place_of_service: String,
    pub timely_filing_days: i32,
}

/// The organization as the rest of the application sees it.
pub type Organization = OrgRow;

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
    let query = o::organizations.filter(o::id.eq(id.to_string()));
    Ok(crate::db::first_row::<_, OrgRow>(conn, query)?)
}

/// Checked organization settings.
#[derive(Debug, Clone)]
pub struct OrgSettings {
    pub name: String,
    pub npi: Option<String>,
    pub tax_id: Option<String>,
    pub taxonomy_code: Option<String>,
    pub address: Option<crate::values::Address>,
    pub phone: Option<String>,
    pub submitter_id: Option<String>,
    pub submitter_name: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub accession_prefix: String,
    pub default_place_of_service: String,
    pub timely_filing_days: i32,
}

pub fn update_settings(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    version: i32,
    s: OrgSettings,
) -> Result<Organization, AppError> {
    let cur = get_org(conn, ctx.org)?.ok_or_else(|| AppError::not_found("organization"))?;
    if cur.version != version {
        return Err(crate::directory::repo::stale(
            "organization",
            version,
            cur.version,
        ));
    }
    let a = s.address.clone();
    let n = diesel::update(
        o::organizations
            .filter(o::id.eq(ctx.org.to_string()))
            .filter(o::version.eq(version)),
    )
    .set((
        (
            o::name.eq(&s.name),
            o::npi.eq(&s.npi),
            o::tax_id.eq(&s.tax_id),
            o::taxonomy_code.eq(&s.taxonomy_code),
            o::address_line1.eq(a.as_ref().map(|a| a.line1.clone())),
            o::address_line2.eq(a.as_ref().and_then(|a| a.line2.clone())),
            o::city.eq(a.as_ref().map(|a| a.city.clone())),
            o::state.eq(a.as_ref().map(|a| a.state.clone())),
            o::postal_code.eq(a.as_ref().map(|a| a.postal_code.clone())),
            o::phone.eq(&s.phone),
        ),
        (
            o::submitter_id.eq(&s.submitter_id),
            o::submitter_name.eq(&s.submitter_name),
            o::contact_name.eq(&s.contact_name),
            o::contact_phone.eq(&s.contact_phone),
            o::contact_email.eq(&s.contact_email),
            o::accession_prefix.eq(&s.accession_prefix),
            o::default_place_of_service.eq(&s.default_place_of_service),
            o::timely_filing_days.eq(s.timely_filing_days),
            o::version.eq(version + 1),
            o::updated_at.eq(crate::db::now()),
        ),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(crate::directory::repo::stale(
            "organization",
            version,
            version + 1,
        ));
    }
    audit::record(
        conn,
        ctx,
        "organization.update",
        "organization",
        Some(&ctx.org.to_string()),
        None,
    )?;
    get_org(conn, ctx.org)?.ok_or_else(|| AppError::internal("organization vanished"))
}
