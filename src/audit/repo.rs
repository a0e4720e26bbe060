//! Writing and reading `audit_events`. Every function takes the organization first.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::audit_events::dsl as a;
use crate::db::{AuditEventId, DbConn, OrgId, UserId};
use crate::error::AppError;
use crate::http::Page;

/// Who is acting, for whom, in which request.
#[derive(Debug, Clone)]
pub struct AuditCtx {
    pub org: OrgId,
    pub actor: Option<UserId>,
    pub request_id: Option<String>,
}

impl AuditCtx {
    /// The one organization of several contexts (the requests of one shared transaction); `None`
    /// when there are none, an error when they name more than one.
    pub fn common_org<'a>(
        ctxs: impl IntoIterator<Item = &'a AuditCtx>,
    ) -> Result<Option<OrgId>, AppError> {
        let mut ctxs = ctxs.into_iter();
        let Some(org) = ctxs.next().map(|c| c.org) else {
            return Ok(None);
        };
        if ctxs.any(|c| c.org != org) {
            return Err(AppError::internal("one write for several organizations"));
        }
        Ok(Some(org))
    }

    /// An action taken by the command line (no user, no request).
    pub fn cli(org: OrgId) -> Self {
        Self {
            org,
            actor: None,
            request_id: None,
        }
    }
}

/// Appends one audit row. Call it inside the transaction that makes the change. `detail` must not
/// contain PHI: record which fields changed, not their values.
pub fn record(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    action: &str,
    entity: &str,
    entity_id: Option<&str>,
    detail: Option<serde_json::Value>,
) -> Result<(), AppError> {
    diesel::insert_into(a::audit_events)
        .values((
            a::id.eq(AuditEventId::new().to_string()),
            a::org_id.eq(ctx.org.to_string()),
            a::actor_id.eq(ctx.actor.map(|u| u.to_string())),
            a::action.eq(action),
            a::entity.eq(entity),
            a::entity_id.eq(entity_id),
            a::request_id.eq(ctx.request_id.as_deref()),
            a::detail.eq(detail.map(|d| d.to_string())),
            a::at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// One audit row gathered in memory, for [`record_many`]: what a change of thousands of records
/// (an 835 posting) writes together (on PostgreSQL in a few statements instead of one per
/// record).
#[derive(Debug, Clone)]
pub struct PendingAudit {
    pub action: &'static str,
    pub entity: &'static str,
    pub entity_id: Option<String>,
    pub detail: Option<serde_json::Value>,
    pub at: NaiveDateTime,
}

impl PendingAudit {
    /// An audit row stamped now.
    pub fn now(
        action: &'static str,
        entity: &'static str,
        entity_id: Option<String>,
        detail: Option<serde_json::Value>,
    ) -> Self {
        Self {
            action,
            entity,
            entity_id,
            detail,
            at: crate::db::now(),
        }
    }
}

/// Appends the gathered rows in the caller's transaction, in their order ([`record_each`]).
pub fn record_many(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    rows: &[PendingAudit],
) -> Result<(), AppError> {
    let rows: Vec<_> = rows.iter().map(|p| (ctx, p)).collect();
    record_each(conn, &rows)
}

/// As [`record_many`], each row with its own actor and request (the registrations of several
/// requests written in one transaction), through [`crate::insert_rows`].
pub fn record_each(conn: &mut DbConn, rows: &[(&AuditCtx, &PendingAudit)]) -> Result<(), AppError> {
    let rows = new_rows(rows);
    crate::insert_rows!(conn, a::audit_events, rows);
    Ok(())
}

/// An audit row as written.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = crate::db::schema::audit_events)]
// `None` is NULL, not DEFAULT: a DEFAULT makes diesel render the statement anew for each pattern
// of missing values, and never cache it on PostgreSQL.
#[diesel(treat_none_as_default_value = false)]
pub struct NewAuditRow {
    id: String,
    org_id: String,
    actor_id: Option<String>,
    action: &'static str,
    entity: &'static str,
    entity_id: Option<String>,
    request_id: Option<String>,
    detail: Option<String>,
    at: NaiveDateTime,
}

/// The rows [`record_each`] writes, for a caller that writes them in a statement of its own
/// ([`AuditColumns`]).
pub fn new_rows(rows: &[(&AuditCtx, &PendingAudit)]) -> Vec<NewAuditRow> {
    rows.iter()
        .map(|(ctx, p)| NewAuditRow {
            id: AuditEventId::new().to_string(),
            org_id: ctx.org.to_string(),
            actor_id: ctx.actor.map(|u| u.to_string()),
            action: p.action,
            entity: p.entity,
            entity_id: p.entity_id.clone(),
            request_id: ctx.request_id.clone(),
            detail: p.detail.as_ref().map(|d| d.to_string()),
            at: p.at,
        })
        .collect()
}

/// PostgreSQL: audit rows as one array per column, written by `INSERT INTO audit_events …
/// SELECT * FROM unnest(…)`, a text that is the same for any number of rows (a part of a larger
/// statement: `lab::pg_rows`, `claims::pg_rows`).
pub(crate) struct AuditColumns<'a> {
    id: Vec<&'a str>,
    org_id: Vec<&'a str>,
    actor_id: Vec<Option<&'a str>>,
    action: Vec<&'a str>,
    entity: Vec<&'a str>,
    entity_id: Vec<Option<&'a str>>,
    request_id: Vec<Option<&'a str>>,
    detail: Vec<Option<&'a str>>,
    at: Vec<NaiveDateTime>,
}

impl<'a> AuditColumns<'a> {
    pub(crate) fn new(rows: &'a [NewAuditRow]) -> Self {
        Self {
            id: rows.iter().map(|a| a.id.as_str()).collect(),
            org_id: rows.iter().map(|a| a.org_id.as_str()).collect(),
            actor_id: rows.iter().map(|a| a.actor_id.as_deref()).collect(),
            action: rows.iter().map(|a| a.action).collect(),
            entity: rows.iter().map(|a| a.entity).collect(),
            entity_id: rows.iter().map(|a| a.entity_id.as_deref()).collect(),
            request_id: rows.iter().map(|a| a.request_id.as_deref()).collect(),
            detail: rows.iter().map(|a| a.detail.as_deref()).collect(),
            at: rows.iter().map(|a| a.at).collect(),
        }
    }
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for AuditColumns<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Nullable, Text, Timestamp};
        out.push_sql(
            "INSERT INTO audit_events (id, org_id, actor_id, action, entity, entity_id, \
             request_id, detail, at) SELECT * FROM unnest(",
        );
        crate::push_arrays!(out, [
            Text => &self.id,
            Text => &self.org_id,
            Nullable<Text> => &self.actor_id,
            Text => &self.action,
            Text => &self.entity,
            Nullable<Text> => &self.entity_id,
            Nullable<Text> => &self.request_id,
            Nullable<Text> => &self.detail,
            Timestamp => &self.at,
        ]);
        out.push_sql(")");
        Ok(())
    }
}

#[derive(Debug, Clone, Queryable)]
pub struct AuditRow {
    pub id: String,
    pub org_id: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
    pub at: NaiveDateTime,
}

/// Filters for the audit list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

/// Newest first; `page.after` continues below that id. Fetches `limit + 1` rows.
pub fn list(
    conn: &mut DbConn,
    org: OrgId,
    f: &AuditFilter,
    page: &Page,
) -> Result<Vec<AuditRow>, AppError> {
    let mut q = a::audit_events
        .filter(a::org_id.eq(org.to_string()))
        .into_boxed();
    if let Some(v) = &f.entity {
        q = q.filter(a::entity.eq(v.clone()));
    }
    if let Some(v) = &f.entity_id {
        q = q.filter(a::entity_id.eq(v.clone()));
    }
    if let Some(v) = &f.actor_id {
        q = q.filter(a::actor_id.eq(v.clone()));
    }
    if let Some(v) = &f.action {
        q = q.filter(a::action.eq(v.clone()));
    }
    if let Some(v) = f.from {
        q = q.filter(a::at.ge(v));
    }
    if let Some(v) = f.to {
        q = q.filter(a::at.lt(v));
    }
    if let Some(after) = &page.after {
        q = q.filter(a::id.lt(after.clone()));
    }
    Ok(q.order(a::id.desc())
        .limit(page.limit + 1)
        .load::<AuditRow>(conn)?)
}
