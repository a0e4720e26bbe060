//! Billing reports for the back office (DESIGN §6.6): A/R aging, denials, payments and batches,
//! as JSON, CSV (`Accept: text/csv` or `?format=csv`) or an XLSX workbook (`?format=xlsx`).
//!
//! Every figure comes from the ledger (`billing::remittances`): a claim that nothing was posted
//! to yet owes its whole charge; once posted, it owes the sum of its entries, and the patient
//! owes the PR adjustments. CARC descriptions come only from the table the practice imported
//! (`POST /api/v1/code-sets/carc/import`): X12's text is not shipped.
//!
//! Files: `api` (shapes), `domain` (pure arithmetic), `repo` (reads), `build` (assembly),
//! `tables` and `render` (CSV and XLSX).

pub mod api;
pub mod build;
pub mod domain;
pub mod render;
pub mod repo;
pub mod tables;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{NaiveDate, Utc};
use utoipa_actix_web::service_config::ServiceConfig;

use self::api::*;
use self::render::{OutputFormat, Table, respond};
use crate::app::AppState;
use crate::auth::{AuthUser, Role};
use crate::error::{AppError, FieldErrors, FieldIssue, Problem};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(ar_aging)
        .service(denials)
        .service(payments)
        .service(batches);
}

/// Who reads the billing reports.
const READERS: [Role; 3] = [Role::Manager, Role::Biller, Role::Auditor];

fn format(errs: &mut FieldErrors, req: &HttpRequest, raw: Option<&str>) -> Option<OutputFormat> {
    errs.check("format", render::negotiate(req, raw))
}

fn date(errs: &mut FieldErrors, field: &str, raw: Option<&str>) -> Option<NaiveDate> {
    crate::values::optional(errs, field, raw, crate::values::parse_date)
}

/// `from` and `to`, both optional, `from` not after `to`; every error at once.
fn period(
    q: &PeriodQuery,
    req: &HttpRequest,
) -> Result<(Option<NaiveDate>, Option<NaiveDate>, OutputFormat), AppError> {
    let mut errs = FieldErrors::new();
    let from = date(&mut errs, "from", q.from.as_deref());
    let to = date(&mut errs, "to", q.to.as_deref());
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        errs.check::<()>(
            "to",
            Err(FieldIssue::new("out_of_range", "must not be before `from`")),
        );
    }
    let fmt = format(&mut errs, req, q.format.as_deref());
    errs.into_result()?;
    Ok((from, to, fmt.unwrap_or(OutputFormat::Json)))
}

fn period_name(from: Option<NaiveDate>, to: Option<NaiveDate>) -> String {
    let d = |x: Option<NaiveDate>| x.map_or_else(|| "all".to_owned(), |d| d.to_string());
    format!("{}_{}", d(from), d(to))
}

/// The body every period report shares: role check, period and format, the report read from
/// the database, then answered as JSON, its first table as CSV, or every table as a workbook.
async fn period_report<T, B>(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    q: web::Query<PeriodQuery>,
    stem: &str,
    build: B,
    tables: fn(&T) -> Vec<Table>,
) -> Result<HttpResponse, AppError>
where
    T: serde::Serialize + Send + 'static,
    B: FnOnce(
            &mut crate::db::DbConn,
            crate::db::OrgId,
            Option<NaiveDate>,
            Option<NaiveDate>,
        ) -> Result<T, AppError>
        + Send
        + 'static,
{
    user.require(&READERS)?;
    let (from, to, fmt) = period(&q, &req)?;
    let org = user.org_id;
    let report = state.db.read(move |c| build(c, org, from, to)).await?;
    respond(
        fmt,
        &format!("{stem}-{}", period_name(from, to)),
        &report,
        tables(&report),
        0,
    )
}

/// A/R aging: what payers and patients still owe on billed claims, in buckets of days since the
/// date of service (0–30, 31–60, 61–90, 91–120, over 120), by payer, by patient and claim by
/// claim.
///
/// A billed claim (submitted, accepted, rejected, paid, partially paid, denied or closed) that
/// nothing was posted to owes its whole charge to the payer; once a remittance posted, the payer
/// owes the claim's ledger balance and the patient the PR adjustments. Claims owing nothing are
/// left out. CSV rows follow `by` (`payer`, `patient` or `claim`); the workbook has the three
/// sheets. Reading it is audited (it names patients).
#[utoipa::path(
    tag = "reports",
    operation_id = "report_ar_aging",
    security(("bearer" = [])),
    params(AgingQuery),
    responses(
        (status = 200, description = "The aging (JSON), one table as CSV, or the workbook",
            content((ArAgingReport = "application/json"), (String = "text/csv"),
                (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only manager, biller and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed `as_of`, an unknown `by` or `format` (all at once)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/ar-aging")]
async fn ar_aging(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    q: web::Query<AgingQuery>,
) -> Result<HttpResponse, AppError> {
    user.require(&READERS)?;
    let mut errs = FieldErrors::new();
    let as_of =
        date(&mut errs, "as_of", q.as_of.as_deref()).unwrap_or_else(|| Utc::now().date_naive());
    let by = match q.by.as_deref().map(str::trim) {
        None | Some("payer") => 0,
        Some("patient") => 1,
        Some("claim") => 2,
        Some(_) => {
            errs.add(
                "by",
                "invalid_enum",
                "must be one of: payer, patient, claim",
            );
            0
        }
    };
    let fmt = format(&mut errs, &req, q.format.as_deref());
    errs.into_result()?;
    let org = user.org_id;
    let ctx = user.audit();
    let report = state
        .db
        .write(move |c| {
            let report = build::ar_aging(c, org, as_of)?;
            crate::audit::record(
                c,
                &ctx,
                "report.ar_aging",
                "report",
                None,
                Some(serde_json::json!({ "as_of": as_of, "claims": report.claims.len() })),
            )?;
            Ok(report)
        })
        .await?;
    let tables = vec![
        tables::aging_by_payer(&report),
        tables::aging_by_patient(&report),
        tables::aging_claims(&report),
    ];
    respond(
        fmt.unwrap_or(OutputFormat::Json),
        &format!("ar-aging-{as_of}"),
        &report,
        tables,
        by,
    )
}

/// Denials posted by the remittances paid in a period (BPR16, else the import day), by CARC
/// reason code and payer.
///
/// A denial is a claim a remittance answered with CLP02 4, or with nothing paid on a charge
/// (reversals excluded). Each of its CAS adjustments counts under its group and reason. Reason
/// descriptions appear once the practice imported its CARC table.
#[utoipa::path(
    tag = "reports",
    operation_id = "report_denials",
    security(("bearer" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, description = "The denials (JSON), by payer and reason as CSV, or the workbook",
            content((DenialsReport = "application/json"), (String = "text/csv"),
                (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only manager, biller and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed `from`/`to`, `to` before `from`, or an unknown `format` (all at once)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/denials")]
async fn denials(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    q: web::Query<PeriodQuery>,
) -> Result<HttpResponse, AppError> {
    period_report(state, user, req, q, "denials", build::denials, |r| {
        vec![tables::denials_by_payer(r), tables::denials_by_reason(r)]
    })
    .await
}

/// Payments received in a period (by BPR16 payment date, else the import day): one row per
/// remittance with its trace number, and sums by payer and month.
///
/// `total_paid_cents` is what the payer sent (BPR02); `posted_payment_cents` is what the ledger
/// holds as payments on claims (CLP04, net of reversals): they differ by the PLB adjustments
/// and by claims not matched yet.
#[utoipa::path(
    tag = "reports",
    operation_id = "report_payments",
    security(("bearer" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, description = "The payments (JSON), one row per remittance as CSV, or the workbook",
            content((PaymentsReport = "application/json"), (String = "text/csv"),
                (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only manager, biller and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed `from`/`to`, `to` before `from`, or an unknown `format` (all at once)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/payments")]
async fn payments(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    q: web::Query<PeriodQuery>,
) -> Result<HttpResponse, AppError> {
    period_report(state, user, req, q, "payments", build::payments, |r| {
        vec![tables::payments(r), tables::payments_by_month(r)]
    })
    .await
}

/// Batches created in a period and what became of their claims: submitted, accepted, rejected,
/// paid, denied, pending, and the payments posted to them.
#[utoipa::path(
    tag = "reports",
    operation_id = "report_batches",
    security(("bearer" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, description = "The batches (JSON), as CSV, or the workbook",
            content((BatchesReport = "application/json"), (String = "text/csv"),
                (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only manager, biller and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed `from`/`to`, `to` before `from`, or an unknown `format` (all at once)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/batches")]
async fn batches(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    q: web::Query<PeriodQuery>,
) -> Result<HttpResponse, AppError> {
    period_report(state, user, req, q, "batches", build::batches, |r| {
        vec![tables::batches(r)]
    })
    .await
}
