//! Lab turnaround report: per ordered test code, how long specimens took from collection to
//! receipt, from receipt to the first result and from the first result to its verification.
//!
//! `GET /reports/lab-turnaround?from=YYYY-MM-DD&to=YYYY-MM-DD` covers specimens collected (or, when
//! no collection time is known, registered) in `[from, to)` (UTC days). Intervals:
//!
//! - `collected_to_received`: the specimen's `collected_at` → its first `received` custody event
//!   (or `received_at`);
//! - `received_to_resulted`: that receipt → the first result version's `entered_at` of the test;
//! - `resulted_to_verified`: the first result's `entered_at` → the test's first `verified_at`.
//!
//! An interval is counted (`n`) only when both ends are known and the end is not before the
//! start. Statistics are in minutes with one decimal: median and p90 by linear interpolation
//! between closest ranks (what spreadsheets call `PERCENTILE.INC`), and the maximum.

use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::schema::{
    custody_events::dsl as ev, specimen_tests::dsl as st, specimens::dsl as sp,
    test_results::dsl as tr,
};
use crate::app::AppState;
use crate::auth::{AuthUser, Role};
use crate::db::{DbConn, OrgId};
use crate::error::{AppError, FieldErrors, Problem};
use crate::reports::render::{Cell, OutputFormat, Table, negotiate, respond};
use crate::values::{parse_date, required};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(lab_turnaround);
}

/// Who reads the report.
const READERS: [Role; 4] = [Role::Manager, Role::Admin, Role::Lab, Role::Auditor];
/// Longest period one report covers.
const MAX_DAYS: i64 = 3660;

// ---------------------------------------------------------------------------------------------
// Pure computation

/// The timestamps of one ordered test.
#[derive(Debug, Clone)]
pub struct TestTiming {
    pub code_system: String,
    pub code: String,
    pub name: String,
    pub collected_at: Option<NaiveDateTime>,
    pub received_at: Option<NaiveDateTime>,
    pub first_result_at: Option<NaiveDateTime>,
    pub first_verified_at: Option<NaiveDateTime>,
}

/// Statistics of one interval, in minutes (one decimal).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct IntervalStats {
    /// How many tests had both ends of the interval.
    pub n: usize,
    pub median_min: Option<f64>,
    pub p90_min: Option<f64>,
    pub max_min: Option<f64>,
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TestTurnaround {
    #[schema(example = "2345-7")]
    pub test_code: String,
    /// `loinc` or `local`.
    pub code_system: String,
    #[schema(example = "Glucose")]
    pub test_name: String,
    /// Tests ordered on specimens in the period.
    pub count: usize,
    pub collected_to_received: IntervalStats,
    pub received_to_resulted: IntervalStats,
    pub resulted_to_verified: IntervalStats,
}

/// The p-th percentile (0–100) of sorted values, interpolating linearly between closest ranks
/// (`PERCENTILE.INC`): rank `p/100 × (n − 1)`. `None` for no values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let (first, last) = (sorted.first()?, sorted.last()?);
    if p <= 0.0 {
        return Some(*first);
    }
    if p >= 100.0 {
        return Some(*last);
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// Rounds to one decimal (half away from zero).
fn one_decimal(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Median, p90 and max of intervals given in seconds; reported in minutes with one decimal.
pub fn stats(seconds: &[i64]) -> IntervalStats {
    let mut minutes: Vec<f64> = seconds.iter().map(|s| *s as f64 / 60.0).collect();
    minutes.sort_by(f64::total_cmp);
    IntervalStats {
        n: minutes.len(),
        median_min: percentile(&minutes, 50.0).map(one_decimal),
        p90_min: percentile(&minutes, 90.0).map(one_decimal),
        max_min: minutes.last().copied().map(one_decimal),
    }
}

/// Seconds from `a` to `b` when both are known and `b` is not before `a`.
fn interval(a: Option<NaiveDateTime>, b: Option<NaiveDateTime>) -> Option<i64> {
    let (a, b) = (a?, b?);
    let s = (b - a).num_seconds();
    (s >= 0).then_some(s)
}

/// Groups tests by code system and code (ordered by code) and computes every interval.
pub fn summarize(rows: &[TestTiming]) -> Vec<TestTurnaround> {
    #[derive(Default)]
    struct Acc<'a> {
        name: &'a str,
        count: usize,
        c2r: Vec<i64>,
        r2res: Vec<i64>,
        res2v: Vec<i64>,
    }
    let mut groups: BTreeMap<(&str, &str), Acc> = BTreeMap::new();
    for r in rows {
        let g = groups.entry((&r.code, &r.code_system)).or_default();
        if g.name.is_empty() {
            g.name = &r.name;
        }
        g.count += 1;
        g.c2r.extend(interval(r.collected_at, r.received_at));
        g.r2res.extend(interval(r.received_at, r.first_result_at));
        g.res2v
            .extend(interval(r.first_result_at, r.first_verified_at));
    }
    groups
        .into_iter()
        .map(|((code, system), g)| TestTurnaround {
            test_code: code.to_owned(),
            code_system: system.to_owned(),
            test_name: g.name.to_owned(),
            count: g.count,
            collected_to_received: stats(&g.c2r),
            received_to_resulted: stats(&g.r2res),
            resulted_to_verified: stats(&g.res2v),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Loading

/// The timings of every test on specimens collected (or registered) in `[from, to)`.
pub fn load_timings(
    conn: &mut DbConn,
    org: OrgId,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<TestTiming>, AppError> {
    let org_s = org.to_string();
    let specimens: Vec<(String, Option<NaiveDateTime>, Option<NaiveDateTime>)> = sp::specimens
        .filter(sp::org_id.eq(&org_s))
        .filter(
            sp::collected_at
                .ge(from)
                .and(sp::collected_at.lt(to))
                .or(sp::collected_at
                    .is_null()
                    .and(sp::created_at.ge(from))
                    .and(sp::created_at.lt(to))),
        )
        .select((sp::id, sp::collected_at, sp::received_at))
        .load(conn)?;
    if specimens.is_empty() {
        return Ok(vec![]);
    }
    let mut timings = Vec::new();
    // Bounded IN lists, so a long period never exceeds a backend's parameter limit.
    for chunk in specimens.chunks(500) {
        let ids: Vec<&str> = chunk.iter().map(|(id, _, _)| id.as_str()).collect();
        let mut received: HashMap<String, NaiveDateTime> = HashMap::new();
        let events: Vec<(String, NaiveDateTime)> = ev::custody_events
            .filter(ev::org_id.eq(&org_s))
            .filter(ev::specimen_id.eq_any(&ids))
            .filter(ev::to_status.eq("received"))
            .select((ev::specimen_id, ev::at))
            .load(conn)?;
        for (sid, at) in events {
            received
                .entry(sid)
                .and_modify(|t| *t = (*t).min(at))
                .or_insert(at);
        }
        let tests: Vec<(String, String, String, String, String)> = st::specimen_tests
            .filter(st::org_id.eq(&org_s))
            .filter(st::specimen_id.eq_any(&ids))
            .select((st::id, st::specimen_id, st::code_system, st::code, st::name))
            .load(conn)?;
        let test_ids: Vec<&str> = tests.iter().map(|t| t.0.as_str()).collect();
        let mut first_result: HashMap<String, (i32, NaiveDateTime)> = HashMap::new();
        let mut first_verified: HashMap<String, NaiveDateTime> = HashMap::new();
        for tchunk in test_ids.chunks(500) {
            let results: Vec<(String, i32, NaiveDateTime, Option<NaiveDateTime>)> =
                tr::test_results
                    .filter(tr::org_id.eq(&org_s))
                    .filter(tr::test_id.eq_any(tchunk))
                    .select((
                        tr::test_id,
                        tr::result_version,
                        tr::entered_at,
                        tr::verified_at,
                    ))
                    .load(conn)?;
            for (tid, version, entered, verified) in results {
                let e = first_result
                    .entry(tid.clone())
                    .or_insert((version, entered));
                if version < e.0 {
                    *e = (version, entered);
                }
                if let Some(v) = verified {
                    first_verified
                        .entry(tid)
                        .and_modify(|t| *t = (*t).min(v))
                        .or_insert(v);
                }
            }
        }
        let by_id: HashMap<&str, (Option<NaiveDateTime>, Option<NaiveDateTime>)> = chunk
            .iter()
            .map(|(id, c, r)| (id.as_str(), (*c, *r)))
            .collect();
        for (tid, sid, system, code, name) in tests {
            let (collected_at, received_at) = by_id.get(sid.as_str()).copied().unwrap_or_default();
            timings.push(TestTiming {
                code_system: system,
                code,
                name,
                collected_at,
                received_at: received.get(&sid).copied().or(received_at),
                first_result_at: first_result.get(&tid).map(|(_, t)| *t),
                first_verified_at: first_verified.get(&tid).copied(),
            });
        }
    }
    Ok(timings)
}

// ---------------------------------------------------------------------------------------------
// HTTP

#[derive(Debug, Deserialize, IntoParams)]
pub struct TurnaroundQuery {
    /// First day (UTC), inclusive: `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Day after the last one (UTC), exclusive: `YYYY-MM-DD`.
    pub to: Option<String>,
    /// `json` (default), `csv` (also `Accept: text/csv`) or `xlsx`.
    pub format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TurnaroundReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub generated_at: DateTime<Utc>,
    /// One row per test code, ordered by code.
    pub items: Vec<TestTurnaround>,
}

/// Parses the period: both ends required, `from` before `to`, at most ten years.
pub fn parse_period(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(NaiveDate, NaiveDate), AppError> {
    parse_period_with(FieldErrors::new(), from, to)
}

/// [`parse_period`], adding to errors found before (every error at once).
fn parse_period_with(
    mut errs: FieldErrors,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(NaiveDate, NaiveDate), AppError> {
    let f = required(&mut errs, "from", from, parse_date);
    let t = required(&mut errs, "to", to, parse_date);
    if let (Some(f), Some(t)) = (f, t) {
        if f >= t {
            errs.add(
                "to",
                "invalid_range",
                "must be after `from` (the period is [from, to))",
            );
        } else if (t - f).num_days() > MAX_DAYS {
            errs.add(
                "to",
                "out_of_range",
                format!("a report covers at most {MAX_DAYS} days"),
            );
        }
    }
    errs.into_result()?;
    match (f, t) {
        (Some(f), Some(t)) => Ok((f, t)),
        _ => Err(AppError::internal("validated period missing")),
    }
}

/// Lab turnaround per test code: collected → received → resulted → verified (median, p90, max
/// in minutes). JSON, CSV (`Accept: text/csv` or `?format=csv`) or XLSX (`?format=xlsx`).
#[utoipa::path(
    tag = "reports",
    operation_id = "report_lab_turnaround",
    security(("bearer" = [])),
    params(TurnaroundQuery),
    responses(
        (status = 200, description = "The report (minutes, one decimal; median and p90 interpolated as PERCENTILE.INC); as CSV or XLSX one row per test code",
            content((TurnaroundReport = "application/json"), (String = "text/csv"),
                (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only manager, admin, lab and auditor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or invalid `from`/`to`, `from` not before `to`, or an unknown `format` (all at once)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/lab-turnaround")]
async fn lab_turnaround(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    q: web::Query<TurnaroundQuery>,
) -> Result<HttpResponse, AppError> {
    user.require(&READERS)?;
    let mut errs = FieldErrors::new();
    let fmt = errs.check("format", negotiate(&req, q.format.as_deref()));
    let (from, to) = parse_period_with(errs, q.from.as_deref(), q.to.as_deref())?;
    let fmt = fmt.unwrap_or(OutputFormat::Json);
    let org = user.org_id;
    let rows = state
        .db
        .read(move |c| {
            let start = from.and_hms_opt(0, 0, 0).unwrap_or_default();
            let end = to.and_hms_opt(0, 0, 0).unwrap_or_default();
            load_timings(c, org, start, end)
        })
        .await?;
    let items = summarize(&rows);
    let headers = vec![
        "test_code",
        "test_name",
        "count",
        "collected_to_received_median_min",
        "collected_to_received_p90_min",
        "collected_to_received_max_min",
        "received_to_resulted_median_min",
        "received_to_resulted_p90_min",
        "received_to_resulted_max_min",
        "resulted_to_verified_median_min",
        "resulted_to_verified_p90_min",
        "resulted_to_verified_max_min",
        "code_system",
        "collected_to_received_n",
        "received_to_resulted_n",
        "resulted_to_verified_n",
    ];
    let count = |n: usize| Cell::Int(i64::try_from(n).unwrap_or(i64::MAX));
    let rows = items
        .iter()
        .map(|t| {
            let i = [
                &t.collected_to_received,
                &t.received_to_resulted,
                &t.resulted_to_verified,
            ];
            let mut row = vec![
                Cell::text(&t.test_code),
                Cell::text(&t.test_name),
                count(t.count),
            ];
            for s in i {
                row.extend([s.median_min, s.p90_min, s.max_min].map(Cell::opt_decimal1));
            }
            row.push(Cell::text(&t.code_system));
            row.extend(i.iter().map(|s| count(s.n)));
            row
        })
        .collect();
    let table = Table {
        name: "Turnaround",
        headers,
        rows,
    };
    let report = TurnaroundReport {
        from,
        to,
        generated_at: Utc::now(),
        items,
    };
    respond(
        fmt,
        &format!("lab-turnaround-{from}-{to}"),
        &report,
        vec![table],
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> Option<NaiveDateTime> {
        NaiveDate::from_ymd_opt(2026, 3, 1).and_then(|d| d.and_hms_opt(h, m, 0))
    }

    #[test]
    fn percentile_interpolates_between_closest_ranks() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&v, 50.0), Some(5.5));
        assert_eq!(percentile(&v, 90.0), Some(9.1));
        assert_eq!(percentile(&v, 100.0), Some(10.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[7.0], 90.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[10.0, 20.0, 30.0], 50.0), Some(20.0));
    }

    #[test]
    fn stats_are_minutes_with_one_decimal() {
        // 30 s, 90 s, 600 s, 3 600 s (unsorted on purpose)
        let s = stats(&[600, 30, 3600, 90]);
        assert_eq!(s.n, 4);
        // median of 0.5, 1.5, 10, 60 = (1.5 + 10) / 2 = 5.75 → 5.8
        assert_eq!(s.median_min, Some(5.8));
        // p90: rank 2.7 → 10 + 0.7 × 50 = 45
        assert_eq!(s.p90_min, Some(45.0));
        assert_eq!(s.max_min, Some(60.0));
        let empty = stats(&[]);
        assert_eq!(
            (empty.n, empty.median_min, empty.p90_min, empty.max_min),
            (0, None, None, None)
        );
    }

    #[test]
    fn summarize_groups_by_code_and_skips_unknown_or_negative_intervals() {
        let row = |code: &str, c, r, res, v| TestTiming {
            code_system: "loinc".into(),
            code: code.into(),
            name: format!("Test {code}"),
            collected_at: c,
            received_at: r,
            first_result_at: res,
            first_verified_at: v,
        };
        let rows = vec![
            row("2345-7", t(8, 0), t(8, 30), t(9, 30), t(10, 0)),
            row("2345-7", t(8, 0), t(9, 0), t(11, 0), None),
            row("2345-7", t(8, 0), t(8, 10), None, None),
            // received before collected: that interval is left out
            row("718-7", t(9, 0), t(8, 0), t(8, 20), t(8, 25)),
        ];
        let out = summarize(&rows);
        assert_eq!(out.len(), 2);
        let g = &out[0];
        assert_eq!((g.test_code.as_str(), g.count), ("2345-7", 3));
        assert_eq!(g.test_name, "Test 2345-7");
        // 30, 60, 10 minutes
        assert_eq!(g.collected_to_received.n, 3);
        assert_eq!(g.collected_to_received.median_min, Some(30.0));
        assert_eq!(g.collected_to_received.p90_min, Some(54.0));
        assert_eq!(g.collected_to_received.max_min, Some(60.0));
        // 60, 120 minutes
        assert_eq!(g.received_to_resulted.n, 2);
        assert_eq!(g.received_to_resulted.median_min, Some(90.0));
        assert_eq!(g.received_to_resulted.p90_min, Some(114.0));
        // 30 minutes
        assert_eq!(g.resulted_to_verified.n, 1);
        assert_eq!(g.resulted_to_verified.max_min, Some(30.0));
        let h = &out[1];
        assert_eq!((h.test_code.as_str(), h.count), ("718-7", 1));
        assert_eq!(h.collected_to_received.n, 0);
        assert_eq!(h.received_to_resulted.median_min, Some(20.0));
        assert_eq!(h.resulted_to_verified.median_min, Some(5.0));
    }

    #[test]
    fn period_errors_come_together() {
        let Err(AppError::Validation(e)) = parse_period(None, None) else {
            panic!("expected 422");
        };
        let fields: Vec<&str> = e.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["from", "to"]);
        let Err(AppError::Validation(e)) = parse_period(Some("2026-03-02"), Some("2026-03-02"))
        else {
            panic!("expected 422");
        };
        assert_eq!(e[0].code, "invalid_range");
        assert!(parse_period(Some("2026-03-01"), Some("2026-03-02")).is_ok());
    }
}
