//! `GET /api/v1/audit-events`.

use actix_web::{HttpResponse, get, web};
use chrono::{NaiveDate, NaiveDateTime};
use utoipa_actix_web::service_config::ServiceConfig;

use super::api::{AuditEventView, AuditQuery};
use super::repo::{self, AuditFilter};
use crate::app::AppState;
use crate::auth::{AuthUser, Role};
use crate::error::{AppError, FieldErrors, FieldIssue, Problem};
use crate::http::PageQuery;
use crate::http::pagination::Paged;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_audit_events);
}

/// Parses an RFC 3339 instant or a plain date (midnight UTC).
pub fn parse_instant(raw: &str) -> Result<NaiveDateTime, FieldIssue> {
    let raw = raw.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.naive_utc());
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .ok_or_else(|| {
            FieldIssue::new(
                "invalid_format",
                "must be an RFC 3339 instant or a YYYY-MM-DD date",
            )
        })
}

/// The organization's audit trail, newest first.
#[utoipa::path(
    tag = "audit",
    operation_id = "list_audit_events",
    security(("bearer" = [])),
    params(AuditQuery, PageQuery),
    responses(
        (status = 200, description = "A page of audit events", body = Paged<AuditEventView>),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter or pagination", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/audit-events")]
async fn list_audit_events(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<AuditQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    user.require(&[Role::Admin, Role::Auditor])?;
    let mut errs = FieldErrors::new();
    let from = q
        .from
        .as_deref()
        .and_then(|v| errs.check("from", parse_instant(v)));
    let to =
        q.to.as_deref()
            .and_then(|v| errs.check("to", parse_instant(v)));
    let page = page.parse(&mut errs);
    errs.into_result()?;
    let q = q.into_inner();
    let filter = AuditFilter {
        entity: q.entity,
        entity_id: q.entity_id,
        actor_id: q.actor_id,
        action: q.action,
        from,
        to,
    };
    let org = user.org_id;
    let limit = page.limit;
    let rows = state
        .db
        .read(move |c| repo::list(c, org, &filter, &page))
        .await?;
    let paged = Paged::from_rows(rows, limit, |r| r.id.clone()).map(AuditEventView::from);
    Ok(HttpResponse::Ok().json(paged))
}
