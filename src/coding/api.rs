//! Code-set and fee-schedule DTOs. Request fields are optional strings (or JSON values) so every
//! problem comes back as a field error in one `422`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::domain::{CheckFailure, CodeCheck, CodeSystem, check_modifier, procedure_system};
use super::fees::{FeeItem, FeeSchedule, FeeScheduleKind, NewItem, NewSchedule, SchedulePatch};
use super::search::Entry;
use crate::db::{FeeItemId, FeeScheduleId, PayerId};
use crate::error::{AppError, FieldErrors, FieldIssue};
use crate::http::pagination::{DEFAULT_LIMIT, MAX_LIMIT};

/// A code of a code set.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeView {
    pub system: CodeSystem,
    /// The code as claims carry it (ICD-10-CM without the dot).
    #[schema(example = "E119")]
    pub code: String,
    /// The code as people read it (ICD-10-CM with the dot after the third character).
    #[schema(example = "E11.9")]
    pub display_code: String,
    #[schema(example = "Type 2 diabetes mellitus without complications")]
    pub description: String,
    /// False for ICD-10-CM category headers, which cannot go on a claim.
    pub billable: bool,
    #[schema(example = "2025-10-01")]
    pub effective_from: Option<NaiveDate>,
    #[schema(example = "2026-09-30")]
    pub effective_to: Option<NaiveDate>,
}

impl CodeView {
    pub fn new(system: CodeSystem, e: &Entry) -> Self {
        Self {
            system,
            code: e.code.clone(),
            display_code: system.display(&e.code),
            description: e.description.clone(),
            billable: e.billable,
            effective_from: e.effective_from,
            effective_to: e.effective_to,
        }
    }
}

/// A page of codes, best match first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodePage {
    pub items: Vec<CodeView>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/codes`: search a code set.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CodesQuery {
    /// `icd10cm`, `pos`, or an imported table of the organization: `cpt`, `hcpcs`, `cdt`, `loinc`.
    #[param(example = "icd10cm")]
    pub system: Option<String>,
    /// Words that must all appear in the description (any order, each as the start of a word,
    /// case-insensitive), or the start of a code (`E11`, `E11.9`). Empty: every code in code order.
    #[param(example = "type 2 diabetes")]
    pub q: Option<String>,
    /// `true`: only billable codes (leaves a claim may carry).
    pub billable: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page. Results are ranked, so the cursor is a position in
    /// the ranked list: reloading the code set between pages may shift them.
    pub cursor: Option<String>,
}

/// A parsed search.
#[derive(Clone)]
pub struct CodeSearch {
    pub system: CodeSystem,
    pub q: String,
    pub billable_only: bool,
    pub limit: usize,
    pub offset: usize,
}

fn parse_bool(raw: &str) -> Result<bool, FieldIssue> {
    match raw.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(FieldIssue::new("invalid_type", "must be true or false")),
    }
}

pub fn encode_offset(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("o{offset}"))
}

fn decode_offset(raw: &str) -> Result<usize, FieldIssue> {
    let bad = || FieldIssue::new("invalid_cursor", "is not a cursor returned by this list");
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
    let s = String::from_utf8(bytes).map_err(|_| bad())?;
    s.strip_prefix('o')
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)
}

impl CodesQuery {
    pub fn parse(&self) -> Result<CodeSearch, AppError> {
        let mut errs = FieldErrors::new();
        let system = errs
            .require("system", self.system.as_deref())
            .and_then(|s| errs.check("system", s.parse::<CodeSystem>()));
        let q = self.q.as_deref().unwrap_or("").trim().to_owned();
        if q.chars().count() > 200 {
            errs.add("q", "too_long", "must have at most 200 characters");
        }
        let billable_only = self
            .billable
            .as_deref()
            .and_then(|b| errs.check("billable", parse_bool(b)))
            .unwrap_or(false);
        let limit = match self.limit.as_deref().map(str::trim) {
            None | Some("") => DEFAULT_LIMIT as usize,
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n as usize,
                _ => {
                    errs.add(
                        "limit",
                        "out_of_range",
                        format!("must be a number from 1 to {MAX_LIMIT}"),
                    );
                    0
                }
            },
        };
        let offset = self
            .cursor
            .as_deref()
            .and_then(|c| errs.check("cursor", decode_offset(c)))
            .unwrap_or(0);
        errs.into_result()?;
        let system = system.ok_or_else(|| AppError::internal("validated system missing"))?;
        Ok(CodeSearch {
            system,
            q,
            billable_only,
            limit,
            offset,
        })
    }
}

/// `GET /api/v1/codes/{system}/{code}/check`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CheckQuery {
    /// Date of service, `YYYY-MM-DD` (default: today, UTC).
    #[param(example = "2026-03-02")]
    pub date: Option<String>,
}

/// Whether a code may go on a claim for a date of service.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeCheckView {
    pub valid: bool,
    pub system: CodeSystem,
    /// The normalised code (when valid).
    #[schema(example = "E119")]
    pub code: Option<String>,
    #[schema(example = "E11.9")]
    pub display_code: Option<String>,
    /// Absent when no table is loaded for the system (format-only check).
    pub description: Option<String>,
    /// Why it is not valid.
    pub reason: Option<CheckFailure>,
    pub message: Option<String>,
    pub date: NaiveDate,
}

impl CodeCheckView {
    pub fn new(system: CodeSystem, date: NaiveDate, check: CodeCheck) -> Self {
        match check {
            CodeCheck::Valid {
                code,
                display,
                description,
            } => Self {
                valid: true,
                system,
                code: Some(code),
                display_code: Some(display),
                description,
                reason: None,
                message: None,
                date,
            },
            CodeCheck::Invalid { reason, message } => Self {
                valid: false,
                system,
                code: None,
                display_code: None,
                description: None,
                reason: Some(reason),
                message: Some(message),
                date,
            },
        }
    }
}

pub fn parse_date(raw: &str) -> Result<NaiveDate, FieldIssue> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| FieldIssue::new("invalid_date", "must be a date YYYY-MM-DD"))
}

fn optional_date(errs: &mut FieldErrors, field: &str, raw: Option<&str>) -> Option<NaiveDate> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| errs.check(field, parse_date(s)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateFeeScheduleRequest {
    /// `standard` (the practice's charges; one per organization) or `payer` (a payer's expected
    /// amounts).
    #[schema(example = "payer")]
    pub kind: Option<String>,
    /// Required for a `payer` schedule: a payer of the organization.
    pub payer_id: Option<String>,
    #[schema(example = "Acme Health 2026 allowed amounts")]
    pub name: Option<String>,
    #[schema(format = Date, example = "2026-01-01")]
    pub effective_from: Option<String>,
    #[schema(format = Date, example = "2026-12-31")]
    pub effective_to: Option<String>,
}

impl CreateFeeScheduleRequest {
    pub fn validate(self) -> Result<NewSchedule, AppError> {
        let mut errs = FieldErrors::new();
        let kind = errs
            .require("kind", self.kind.as_deref())
            .and_then(|k| errs.check("kind", k.parse::<FeeScheduleKind>()));
        let payer_raw = self
            .payer_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let payer_id = match (kind, payer_raw) {
            (Some(FeeScheduleKind::Payer), None) => {
                errs.add("payer_id", "required", "is required for a payer schedule");
                None
            }
            (Some(FeeScheduleKind::Standard), Some(_)) => {
                errs.add(
                    "payer_id",
                    "not_allowed",
                    "a standard schedule has no payer",
                );
                None
            }
            (_, Some(p)) => match p.parse::<PayerId>() {
                Ok(id) => Some(id),
                Err(_) => {
                    errs.add(
                        "payer_id",
                        "unknown_payer",
                        "no such payer in this organization",
                    );
                    None
                }
            },
            (_, None) => None,
        };
        let name = errs.require("name", self.name.as_deref()).and_then(|n| {
            if n.chars().count() > 200 {
                errs.add("name", "too_long", "must have at most 200 characters");
                None
            } else {
                Some(n.to_owned())
            }
        });
        let from = optional_date(&mut errs, "effective_from", self.effective_from.as_deref());
        let to = optional_date(&mut errs, "effective_to", self.effective_to.as_deref());
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            errs.add(
                "effective_to",
                "before_start",
                "must not be before effective_from",
            );
        }
        errs.into_result()?;
        match (kind, name) {
            (Some(kind), Some(name)) => Ok(NewSchedule {
                kind,
                payer_id,
                name,
                effective_from: from,
                effective_to: to,
            }),
            _ => Err(AppError::internal("validated schedule fields missing")),
        }
    }
}

fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateFeeScheduleRequest {
    pub name: Option<String>,
    /// A date, or `null` to remove the start.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, example = "2026-01-01")]
    pub effective_from: Option<Option<String>>,
    /// A date, or `null` to make the schedule open-ended.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, example = "2026-12-31")]
    pub effective_to: Option<Option<String>>,
    /// The version being changed (or send `If-Match`); a stale one is `409`.
    pub version: Option<i32>,
}

impl UpdateFeeScheduleRequest {
    pub fn validate(self) -> Result<(SchedulePatch, Option<i32>), AppError> {
        let mut errs = FieldErrors::new();
        let name = match self.name.as_deref().map(str::trim) {
            Some("") => {
                errs.add("name", "required", "must not be blank");
                None
            }
            Some(n) if n.chars().count() > 200 => {
                errs.add("name", "too_long", "must have at most 200 characters");
                None
            }
            other => other.map(str::to_owned),
        };
        let mut date = |field: &str, raw: Option<Option<String>>| match raw {
            None => None,
            Some(None) => Some(None),
            Some(Some(s)) if s.trim().is_empty() => Some(None),
            Some(Some(s)) => errs.check(field, parse_date(&s)).map(Some),
        };
        let effective_from = date("effective_from", self.effective_from);
        let effective_to = date("effective_to", self.effective_to);
        errs.into_result()?;
        Ok((
            SchedulePatch {
                name,
                effective_from,
                effective_to,
            },
            self.version,
        ))
    }
}

/// A fee schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeeScheduleView {
    pub id: FeeScheduleId,
    pub kind: FeeScheduleKind,
    pub payer_id: Option<PayerId>,
    pub name: String,
    pub effective_from: Option<NaiveDate>,
    pub effective_to: Option<NaiveDate>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<FeeSchedule> for FeeScheduleView {
    fn from(s: FeeSchedule) -> Self {
        Self {
            id: s.id,
            kind: s.kind,
            payer_id: s.payer_id,
            name: s.name,
            effective_from: s.effective_from,
            effective_to: s.effective_to,
            version: s.version,
            created_at: s.created_at.and_utc(),
            updated_at: s.updated_at.and_utc(),
        }
    }
}

/// Filters for `GET /api/v1/fee-schedules`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SchedulesQuery {
    /// `standard` or `payer`.
    pub kind: Option<String>,
    /// Only this payer's schedules.
    pub payer_id: Option<String>,
}

impl SchedulesQuery {
    pub fn parse(&self, errs: &mut FieldErrors) -> (Option<FeeScheduleKind>, Option<PayerId>) {
        let kind = self
            .kind
            .as_deref()
            .and_then(|k| errs.check("kind", k.parse::<FeeScheduleKind>()));
        let payer = self.payer_id.as_deref().and_then(|p| {
            errs.check(
                "payer_id",
                p.trim()
                    .parse::<PayerId>()
                    .map_err(|_| FieldIssue::new("invalid_format", "must be a payer id")),
            )
        });
        (kind, payer)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct FeeItemRequest {
    /// CPT (`99213`), HCPCS Level II (`J1100`) or CDT (`D0120`).
    #[schema(example = "99213")]
    pub code: Option<String>,
    /// Optional two-character modifier (`25`); an item without one prices every modifier that has
    /// no item of its own.
    #[schema(example = "25")]
    pub modifier: Option<String>,
    /// Positive integer cents: the practice's charge (standard schedule) or the expected allowed
    /// amount (payer schedule).
    #[schema(value_type = i64, example = 12500)]
    pub amount_cents: Option<serde_json::Value>,
}

impl FeeItemRequest {
    pub fn validate(self) -> Result<NewItem, AppError> {
        let mut errs = FieldErrors::new();
        let code = errs
            .require("code", self.code.as_deref())
            .and_then(|c| errs.check("code", procedure_system(c)))
            .map(|(_, c)| c);
        let modifier = self
            .modifier
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .and_then(|m| errs.check("modifier", check_modifier(m)));
        let amount = match &self.amount_cents {
            None | Some(serde_json::Value::Null) => {
                errs.add("amount_cents", "required", "is required");
                None
            }
            Some(v) => match v.as_i64() {
                Some(n) if n > 0 => Some(n),
                Some(_) => {
                    errs.add("amount_cents", "out_of_range", "must be more than 0");
                    None
                }
                None => {
                    errs.add(
                        "amount_cents",
                        "invalid_type",
                        "must be a whole number of cents",
                    );
                    None
                }
            },
        };
        errs.into_result()?;
        match (code, amount) {
            (Some(code), Some(amount_cents)) => Ok(NewItem {
                code,
                modifier,
                amount_cents,
            }),
            _ => Err(AppError::internal("validated item fields missing")),
        }
    }
}

/// One priced procedure of a schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeeItemView {
    pub id: FeeItemId,
    pub schedule_id: FeeScheduleId,
    #[schema(example = "99213")]
    pub code: String,
    #[schema(example = "25")]
    pub modifier: Option<String>,
    #[schema(example = 12500)]
    pub amount_cents: i64,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<FeeItem> for FeeItemView {
    fn from(i: FeeItem) -> Self {
        Self {
            id: i.id,
            schedule_id: i.schedule_id,
            code: i.code,
            modifier: i.modifier,
            amount_cents: i.amount_cents,
            version: i.version,
            created_at: i.created_at.and_utc(),
            updated_at: i.updated_at.and_utc(),
        }
    }
}

/// Filters for a schedule's items.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ItemsQuery {
    /// Only items of this procedure code.
    pub code: Option<String>,
}

/// `GET /api/v1/fee-schedules/lookup`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LookupQuery {
    /// Procedure code (CPT, HCPCS Level II or CDT).
    #[param(example = "99213")]
    pub code: Option<String>,
    /// Modifier; falls back to the item without a modifier.
    #[param(example = "25")]
    pub modifier: Option<String>,
    /// The payer whose expected amount is wanted.
    pub payer_id: Option<String>,
    /// Date of service, `YYYY-MM-DD` (default: today, UTC).
    #[param(example = "2026-03-02")]
    pub date: Option<String>,
}
