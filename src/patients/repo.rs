//! Patient queries, scoped by organization.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::domain::generated_mrn;
use crate::audit::{self, AuditCtx};
use crate::db::schema::patients::dsl as pa;
use crate::db::{DbConn, OrgId, PatientId};
use crate::directory::repo::stale;
use crate::error::AppError;
use crate::http::Page;
use crate::values::{Address, Sex, escape_like};

#[derive(Debug, Clone, Queryable)]
pub struct Patient {
    #[diesel(deserialize_as = String)]
    pub id: PatientId,
    #[diesel(deserialize_as = String)]
    pub org_id: OrgId,
    pub mrn: String,
    pub first_name: String,
    pub middle_name: Option<String>,
    pub last_name: String,
    _first_name_search: String,
    _last_name_search: String,
    pub birth_date: NaiveDate,
    #[diesel(deserialize_as = String)]
    pub sex: Sex,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address_line1: String,
    pub address_line2: Option<String>,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Patient {
    pub fn address(&self) -> Address {
        Address {
            line1: self.address_line1.clone(),
            line2: self.address_line2.clone(),
            city: self.city.clone(),
            state: self.state.clone(),
            postal_code: self.postal_code.clone(),
        }
    }
}

/// Checked patient fields. `mrn: None` on create means "generate one".
#[derive(Debug, Clone)]
pub struct PatientFields {
    pub mrn: Option<String>,
    pub first_name: String,
    pub middle_name: Option<String>,
    pub last_name: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Address,
}

fn search_key(name: &str) -> String {
    name.to_lowercase()
}

fn mrn_taken(
    conn: &mut DbConn,
    org: OrgId,
    mrn: &str,
    except: Option<PatientId>,
) -> Result<bool, AppError> {
    let mut q = pa::patients
        .filter(pa::org_id.eq(org.to_string()))
        .filter(pa::mrn.eq(mrn.to_owned()))
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(pa::id.ne(id.to_string()));
    }
    let n: i64 = q.count().get_result(conn)?;
    Ok(n > 0)
}

fn mrn_conflict() -> AppError {
    AppError::field(
        "mrn",
        "taken",
        "another patient of the organization has this MRN",
    )
}

/// Fetches a patient without auditing (for other contexts' checks); handlers that show the
/// record use [`read_patient`].
pub fn get_patient(
    conn: &mut DbConn,
    org: OrgId,
    id: PatientId,
) -> Result<Option<Patient>, AppError> {
    let query = pa::patients
        .filter(pa::org_id.eq(org.to_string()))
        .filter(pa::id.eq(id.to_string()));
    Ok(crate::db::first_row::<_, Patient>(conn, query)?)
}

/// Fetches a patient for display and records the read in the audit trail.
pub fn read_patient(conn: &mut DbConn, ctx: &AuditCtx, id: PatientId) -> Result<Patient, AppError> {
    let p = get_patient(conn, ctx.org, id)?.ok_or_else(|| AppError::not_found("patient"))?;
    audit::record(
        conn,
        ctx,
        "patient.read",
        "patient",
        Some(&id.to_string()),
        None,
    )?;
    Ok(p)
}

pub fn create_patient(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    f: PatientFields,
) -> Result<Patient, AppError> {
    let mrn = match f.mrn.clone() {
        Some(m) => {
            if mrn_taken(conn, ctx.org, &m, None)? {
                return Err(mrn_conflict());
            }
            m
        }
        // Skip numbers a practice already typed in by hand.
        None => loop {
            let candidate = generated_mrn(crate::db::next_counter(conn, ctx.org, "mrn")?);
            if !mrn_taken(conn, ctx.org, &candidate, None)? {
                break candidate;
            }
        },
    };
    let id = PatientId::new();
    let now = crate::db::now();
    diesel::insert_into(pa::patients)
        .values((
            pa::id.eq(id.to_string()),
            pa::org_id.eq(ctx.org.to_string()),
            pa::mrn.eq(&mrn),
            pa::first_name.eq(&f.first_name),
            pa::middle_name.eq(&f.middle_name),
            pa::last_name.eq(&f.last_name),
            pa::first_name_search.eq(search_key(&f.first_name)),
            pa::last_name_search.eq(search_key(&f.last_name)),
            pa::birth_date.eq(f.birth_date),
            pa::sex.eq(f.sex.as_str()),
            pa::phone.eq(&f.phone),
            pa::email.eq(&f.email),
            pa::address_line1.eq(&f.address.line1),
            pa::address_line2.eq(&f.address.line2),
            pa::city.eq(&f.address.city),
            pa::state.eq(&f.address.state),
            pa::postal_code.eq(&f.address.postal_code),
            pa::version.eq(1),
            pa::created_at.eq(now),
            pa::updated_at.eq(now),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        ctx,
        "patient.create",
        "patient",
        Some(&id.to_string()),
        None,
    )?;
    get_patient(conn, ctx.org, id)?.ok_or_else(|| AppError::internal("created patient vanished"))
}

/// Replaces a patient's fields (the caller merged the patch) if `version` is current; audits the
/// names of the changed fields.
pub fn update_patient(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: PatientId,
    version: i32,
    f: PatientFields,
) -> Result<Patient, AppError> {
    let cur = get_patient(conn, ctx.org, id)?.ok_or_else(|| AppError::not_found("patient"))?;
    if cur.version != version {
        return Err(stale("patient", version, cur.version));
    }
    let mrn = f.mrn.clone().unwrap_or_else(|| cur.mrn.clone());
    if mrn != cur.mrn && mrn_taken(conn, ctx.org, &mrn, Some(id))? {
        return Err(mrn_conflict());
    }
    let mut changed = Vec::new();
    let mut note = |name: &'static str, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    note("mrn", mrn != cur.mrn);
    note("first_name", f.first_name != cur.first_name);
    note("middle_name", f.middle_name != cur.middle_name);
    note("last_name", f.last_name != cur.last_name);
    note("birth_date", f.birth_date != cur.birth_date);
    note("sex", f.sex != cur.sex);
    note("phone", f.phone != cur.phone);
    note("email", f.email != cur.email);
    note("address", f.address != cur.address());
    if changed.is_empty() {
        return Ok(cur);
    }
    let n = diesel::update(
        pa::patients
            .filter(pa::org_id.eq(ctx.org.to_string()))
            .filter(pa::id.eq(id.to_string()))
            .filter(pa::version.eq(version)),
    )
    .set((
        pa::mrn.eq(&mrn),
        pa::first_name.eq(&f.first_name),
        pa::middle_name.eq(&f.middle_name),
        pa::last_name.eq(&f.last_name),
        pa::first_name_search.eq(search_key(&f.first_name)),
        pa::last_name_search.eq(search_key(&f.last_name)),
        pa::birth_date.eq(f.birth_date),
        pa::sex.eq(f.sex.as_str()),
        pa::phone.eq(&f.phone),
        pa::email.eq(&f.email),
        pa::address_line1.eq(&f.address.line1),
        pa::address_line2.eq(&f.address.line2),
        pa::city.eq(&f.address.city),
        pa::state.eq(&f.address.state),
        pa::postal_code.eq(&f.address.postal_code),
        pa::version.eq(version + 1),
        pa::updated_at.eq(crate::db::now()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(stale("patient", version, version + 1));
    }
    audit::record(
        conn,
        ctx,
        "patient.update",
        "patient",
        Some(&id.to_string()),
        Some(serde_json::json!({ "changed": changed })),
    )?;
    get_patient(conn, ctx.org, id)?.ok_or_else(|| AppError::internal("updated patient vanished"))
}

/// Search filters.
#[derive(Debug, Clone, Default)]
pub struct PatientFilter {
    /// Words that must each start the first or the last name (any order, any case).
    pub name_words: Vec<String>,
    pub birth_date: Option<NaiveDate>,
    pub mrn: Option<String>,
}

/// Searches patients in creation order; `page = None` returns every match (CSV export). Records
/// the search (not its terms, which are PHI) in the audit trail.
pub fn search(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    f: &PatientFilter,
    page: Option<&Page>,
    action: &str,
) -> Result<Vec<Patient>, AppError> {
    let mut q = pa::patients
        .filter(pa::org_id.eq(ctx.org.to_string()))
        .into_boxed();
    for w in &f.name_words {
        let pattern = format!("{}%", escape_like(&w.to_lowercase()));
        q = q.filter(
            pa::first_name_search
                .like(pattern.clone())
                .escape('\\')
                .or(pa::last_name_search.like(pattern).escape('\\')),
        );
    }
    if let Some(d) = f.birth_date {
        q = q.filter(pa::birth_date.eq(d));
    }
    if let Some(m) = &f.mrn {
        q = q.filter(pa::mrn.eq(m.clone()));
    }
    if let Some(p) = page {
        if let Some(after) = &p.after {
            q = q.filter(pa::id.gt(after.clone()));
        }
        q = q.limit(p.limit + 1);
    }
    let rows = q.order(pa::id.asc()).load::<Patient>(conn)?;
    audit::record(
        conn,
        ctx,
        action,
        "patient",
        None,
        Some(serde_json::json!({ "results": rows.len() })),
    )?;
    Ok(rows)
}
