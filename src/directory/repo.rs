//! Provider and payer queries, scoped by organization.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::domain::{ClaimKind, ProviderKind};
use crate::audit::{self, AuditCtx};
use crate::db::schema::payers::dsl as py;
use crate::db::schema::providers::dsl as pv;
use crate::db::{DbConn, OrgId, PayerId, ProviderId, parse_id};
use crate::error::AppError;
use crate::http::Page;

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

/// The fields of a payer, checked.
#[derive(Debug, Clone)]
pub struct PayerFields {
    pub name: String,
    pub edi_id: String,
    pub claim_kind: ClaimKind,
    pub receiver_edi_id: Option<String>,
    pub receiver_name: Option<String>,
    pub timely_filing_days: Option<i32>,
    pub active: bool,
}

fn payer_clash(
    conn: &mut DbConn,
    org: OrgId,
    f: &PayerFields,
    except: Option<PayerId>,
) -> Result<bool, AppError> {
    let mut q = py::payers
        .filter(py::org_id.eq(org.to_string()))
        .filter(py::edi_id.eq(&f.edi_id))
        .filter(py::claim_kind.eq(f.claim_kind.as_str()))
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(py::id.ne(id.to_string()));
    }
    let n: i64 = q.count().get_result(conn)?;
    Ok(n > 0)
}

fn payer_taken() -> AppError {
    AppError::field(
        "edi_id",
        "taken",
        "a payer with this payer id and claim kind already exists",
    )
}

pub fn create_payer(conn: &mut DbConn, ctx: &AuditCtx, f: PayerFields) -> Result<Payer, AppError> {
    if payer_clash(conn, ctx.org, &f, None)? {
        return Err(payer_taken());
    }
    let id = PayerId::new();
    let now = crate::db::now();
    diesel::insert_into(py::payers)
        .values((
            py::id.eq(id.to_string()),
            py::org_id.eq(ctx.org.to_string()),
            py::name.eq(&f.name),
            py::edi_id.eq(&f.edi_id),
            py::claim_kind.eq(f.claim_kind.as_str()),
            py::receiver_edi_id.eq(&f.receiver_edi_id),
            py::receiver_name.eq(&f.receiver_name),
            py::timely_filing_days.eq(f.timely_filing_days),
            py::active.eq(f.active),
            py::version.eq(1),
            py::created_at.eq(now),
            py::updated_at.eq(now),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        ctx,
        "payer.create",
        "payer",
        Some(&id.to_string()),
        None,
    )?;
    get_payer(conn, ctx.org, id)?.ok_or_else(|| AppError::internal("created payer vanished"))
}

/// Replaces a payer's fields (the caller merged the patch), checking the version.
pub fn update_payer(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: PayerId,
    version: i32,
    f: PayerFields,
) -> Result<Payer, AppError> {
    let current = get_payer(conn, ctx.org, id)?.ok_or_else(|| AppError::not_found("payer"))?;
    if current.version != version {
        return Err(stale("payer", version, current.version));
    }
    if payer_clash(conn, ctx.org, &f, Some(id))? {
        return Err(payer_taken());
    }
    let n = diesel::update(
        py::payers
            .filter(py::org_id.eq(ctx.org.to_string()))
            .filter(py::id.eq(id.to_string()))
            .filter(py::version.eq(version)),
    )
    .set((
        py::name.eq(&f.name),
        py::edi_id.eq(&f.edi_id),
        py::claim_kind.eq(f.claim_kind.as_str()),
        py::receiver_edi_id.eq(&f.receiver_edi_id),
        py::receiver_name.eq(&f.receiver_name),
        py::timely_filing_days.eq(f.timely_filing_days),
        py::active.eq(f.active),
        py::version.eq(version + 1),
        py::updated_at.eq(crate::db::now()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(stale("payer", version, version + 1));
    }
    audit::record(
        conn,
        ctx,
        "payer.update",
        "payer",
        Some(&id.to_string()),
        None,
    )?;
    get_payer(conn, ctx.org, id)?.ok_or_else(|| AppError::internal("updated payer vanished"))
}

/// The `409` for an optimistic-concurrency miss.
pub fn stale(what: &str, sent: i32, current: i32) -> AppError {
    AppError::conflict(format!(
        "the {what} was changed since version {sent} (current version {current}); reload and retry"
    ))
}

/// Payer list filters.
#[derive(Debug, Clone, Default)]
pub struct PayerFilter {
    /// Case-insensitive substring of the name.
    pub name: Option<String>,
    pub claim_kind: Option<ClaimKind>,
    pub active: Option<bool>,
}

/// Lists payers in creation order; `page = None` returns every match (CSV export).
pub fn list_payers(
    conn: &mut DbConn,
    org: OrgId,
    f: &PayerFilter,
    page: Option<&Page>,
) -> Result<Vec<Payer>, AppError> {
    let mut q = py::payers
        .filter(py::org_id.eq(org.to_string()))
        .into_boxed();
    if let Some(k) = f.claim_kind {
        q = q.filter(py::claim_kind.eq(k.as_str()));
    }
    if let Some(a) = f.active {
        q = q.filter(py::active.eq(a));
    }
    if let Some(after) = page.and_then(|p| p.after.as_ref()) {
        q = q.filter(py::id.gt(after.clone()));
    }

    let rows = q.order(py::id.asc()).load::<PayerRow>(conn)?;
    // Name matching in Rust keeps it case-insensitive on both backends; payer lists are short.
    let needle = f.name.as_deref().map(str::to_lowercase);
    let limit = page.map(|p| p.limit + 1).unwrap_or(i64::MAX) as usize;
    rows.into_iter()
        .filter(|r| {
            needle
                .as_deref()
                .is_none_or(|n| r.name.to_lowercase().contains(n))
        })
        .take(limit)
        .map(PayerRow::into_payer)
        .collect()
}

#[derive(Debug, Clone, Queryable)]
pub struct Provider {
    #[diesel(deserialize_as = String)]
    pub id: ProviderId,
    #[diesel(deserialize_as = String)]
    pub org_id: OrgId,
    #[diesel(deserialize_as = String)]
    pub kind: ProviderKind,
    pub npi: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub organization_name: Option<String>,
    pub taxonomy_code: Option<String>,
    pub active: bool,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl TryFrom<String> for ProviderKind {
    type Error = crate::error::FieldIssue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// The fields of a provider, checked.
#[derive(Debug, Clone)]
pub struct ProviderFields {
    pub kind: ProviderKind,
    pub npi: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub organization_name: Option<String>,
    pub taxonomy_code: Option<String>,
    pub active: bool,
}

pub fn get_provider(
    conn: &mut DbConn,
    org: OrgId,
    id: ProviderId,
) -> Result<Option<Provider>, AppError> {
    let query = pv::providers
        .filter(pv::org_id.eq(org.to_string()))
        .filter(pv::id.eq(id.to_string()));
    Ok(crate::db::first_row::<_, Provider>(conn, query)?)
}

fn npi_clash(
    conn: &mut DbConn,
    org: OrgId,
    npi: &str,
    except: Option<ProviderId>,
) -> Result<bool, AppError> {
    let mut q = pv::providers
        .filter(pv::org_id.eq(org.to_string()))
        .filter(pv::npi.eq(npi))
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(pv::id.ne(id.to_string()));
    }
    let n: i64 = q.count().get_result(conn)?;
    Ok(n > 0)
}

fn npi_taken() -> AppError {
    AppError::field(
        "npi",
        "taken",
        "a provider with this NPI already exists in the organization",
    )
}

pub fn create_provider(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    f: ProviderFields,
) -> Result<Provider, AppError> {
    if npi_clash(conn, ctx.org, &f.npi, None)? {
        return Err(npi_taken());
    }
    let id = ProviderId::new();
    let now = crate::db::now();
    diesel::insert_into(pv::providers)
        .values((
            pv::id.eq(id.to_string()),
            pv::org_id.eq(ctx.org.to_string()),
            pv::kind.eq(f.kind.as_str()),
            pv::npi.eq(&f.npi),
            pv::first_name.eq(&f.first_name),
            pv::last_name.eq(&f.last_name),
            pv::organization_name.eq(&f.organization_name),
            pv::taxonomy_code.eq(&f.taxonomy_code),
            pv::active.eq(f.active),
            pv::version.eq(1),
            pv::created_at.eq(now),
            pv::updated_at.eq(now),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        ctx,
        "provider.create",
        "provider",
        Some(&id.to_string()),
        None,
    )?;
    get_provider(conn, ctx.org, id)?.ok_or_else(|| AppError::internal("created provider vanished"))
}

pub fn update_provider(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: ProviderId,
    version: i32,
    f: ProviderFields,
) -> Result<Provider, AppError> {
    let current =
        get_provider(conn, ctx.org, id)?.ok_or_else(|| AppError::not_found("provider"))?;
    if current.version != version {
        return Err(stale("provider", version, current.version));
    }
    if npi_clash(conn, ctx.org, &f.npi, Some(id))? {
        return Err(npi_taken());
    }
    let n = diesel::update(
        pv::providers
            .filter(pv::org_id.eq(ctx.org.to_string()))
            .filter(pv::id.eq(id.to_string()))
            .filter(pv::version.eq(version)),
    )
    .set((
        pv::kind.eq(f.kind.as_str()),
        pv::npi.eq(&f.npi),
        pv::first_name.eq(&f.first_name),
        pv::last_name.eq(&f.last_name),
        pv::organization_name.eq(&f.organization_name),
        pv::taxonomy_code.eq(&f.taxonomy_code),
        pv::active.eq(f.active),
        pv::version.eq(version + 1),
        pv::updated_at.eq(crate::db::now()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(stale("provider", version, version + 1));
    }
    audit::record(
        conn,
        ctx,
        "provider.update",
        "provider",
        Some(&id.to_string()),
        None,
    )?;
    get_provider(conn, ctx.org, id)?.ok_or_else(|| AppError::internal("updated provider vanished"))
}

pub fn list_providers(
    conn: &mut DbConn,
    org: OrgId,
    npi: Option<&str>,
    active: Option<bool>,
    page: &Page,
) -> Result<Vec<Provider>, AppError> {
    let mut q = pv::providers
        .filter(pv::org_id.eq(org.to_string()))
        .into_boxed();
    if let Some(n) = npi {
        q = q.filter(pv::npi.eq(n.to_owned()));
    }
    if let Some(a) = active {
        q = q.filter(pv::active.eq(a));
    }
    if let Some(after) = &page.after {
        q = q.filter(pv::id.gt(after.clone()));
    }
    Ok(q.order(pv::id.asc())
        .limit(page.limit + 1)
        .load::<Provider>(conn)?)
}
