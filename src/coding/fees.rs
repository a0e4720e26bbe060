//! Fee schedules: the practice's standard charges and per-payer expected (allowed) amounts, and
//! `fee_lookup`, which claims call to price a line. Every function takes the organization first.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::domain::{check_modifier, effective_on, procedure_system};
use super::schema::{fee_schedule_items::dsl as fi, fee_schedules::dsl as fs};
use crate::audit::{self, AuditCtx};
use crate::db::{DbConn, FeeItemId, FeeScheduleId, OrgId, PayerId, parse_id};
use crate::error::{AppError, FieldErrors, FieldIssue};
use crate::http::Page;

/// `standard`: the practice's own charges (one per organization). `payer`: what one payer is
/// expected to allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FeeScheduleKind {
    Standard,
    Payer,
}

impl FeeScheduleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Payer => "payer",
        }
    }
}

impl fmt::Display for FeeScheduleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FeeScheduleKind {
    type Err = FieldIssue;
    fn from_str(s: &str) -> Result<Self, FieldIssue> {
        match s.trim() {
            "standard" => Ok(Self::Standard),
            "payer" => Ok(Self::Payer),
            _ => Err(FieldIssue::new(
                "invalid_enum",
                "must be one of: standard, payer",
            )),
        }
    }
}

#[derive(Debug, Clone, Queryable)]
struct ScheduleRow {
    #[diesel(deserialize_as = String)]
    id: FeeScheduleId,
    #[diesel(deserialize_as = String)]
    org_id: OrgId,
    kind: String,
    payer_id: Option<String>,
    name: String,
    effective_from: Option<NaiveDate>,
    effective_to: Option<NaiveDate>,
    version: i32,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// A fee schedule.
#[derive(Debug, Clone)]
pub struct FeeSchedule {
    pub id: FeeScheduleId,
    pub org_id: OrgId,
    pub kind: FeeScheduleKind,
    pub payer_id: Option<PayerId>,
    pub name: String,
    pub effective_from: Option<NaiveDate>,
    pub effective_to: Option<NaiveDate>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl ScheduleRow {
    fn into_schedule(self) -> Result<FeeSchedule, AppError> {
        Ok(FeeSchedule {
            id: self.id,
            org_id: self.org_id,
            kind: self
                .kind
                .parse()
                .map_err(|_| AppError::internal("unknown fee schedule kind in database"))?,
            payer_id: self.payer_id.as_deref().map(parse_id).transpose()?,
            name: self.name,
            effective_from: self.effective_from,
            effective_to: self.effective_to,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Debug, Clone, Queryable)]
struct ItemRow {
    #[diesel(deserialize_as = String)]
    id: FeeItemId,
    #[diesel(deserialize_as = String)]
    org_id: OrgId,
    #[diesel(deserialize_as = String)]
    schedule_id: FeeScheduleId,
    code: String,
    modifier: String,
    amount_cents: i64,
    version: i32,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// One priced procedure (code + optional modifier) of a schedule.
#[derive(Debug, Clone)]
pub struct FeeItem {
    pub id: FeeItemId,
    pub org_id: OrgId,
    pub schedule_id: FeeScheduleId,
    pub code: String,
    pub modifier: Option<String>,
    pub amount_cents: i64,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl From<ItemRow> for FeeItem {
    fn from(r: ItemRow) -> Self {
        Self {
            id: r.id,
            org_id: r.org_id,
            schedule_id: r.schedule_id,
            code: r.code,
            modifier: Some(r.modifier).filter(|m| !m.is_empty()),
            amount_cents: r.amount_cents,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A validated new schedule.
#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub kind: FeeScheduleKind,
    pub payer_id: Option<PayerId>,
    pub name: String,
    pub effective_from: Option<NaiveDate>,
    pub effective_to: Option<NaiveDate>,
}

pub fn get_schedule(
    conn: &mut DbConn,
    org: OrgId,
    id: FeeScheduleId,
) -> Result<Option<FeeSchedule>, AppError> {
    fs::fee_schedules
        .filter(fs::org_id.eq(org.to_string()))
        .filter(fs::id.eq(id.to_string()))
        .first::<ScheduleRow>(conn)
        .optional()?
        .map(ScheduleRow::into_schedule)
        .transpose()
}

pub fn create_schedule(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    new: NewSchedule,
) -> Result<FeeSchedule, AppError> {
    let org = ctx.org;
    match (new.kind, new.payer_id) {
        (FeeScheduleKind::Payer, Some(payer)) => {
            if crate::directory::repo::get_payer(conn, org, payer)?.is_none() {
                return Err(AppError::field(
                    "payer_id",
                    "unknown_payer",
                    "no such payer in this organization",
                ));
            }
        }
        (FeeScheduleKind::Standard, _) => {
            let n: i64 = fs::fee_schedules
                .filter(fs::org_id.eq(org.to_string()))
                .filter(fs::kind.eq(FeeScheduleKind::Standard.as_str()))
                .count()
                .get_result(conn)?;
            if n > 0 {
                return Err(AppError::conflict(
                    "the organization already has a standard fee schedule; add items to it",
                ));
            }
        }
        (FeeScheduleKind::Payer, None) => {
            return Err(AppError::field(
                "payer_id",
                "required",
                "is required for a payer schedule",
            ));
        }
    }
    let id = FeeScheduleId::new();
    let now = crate::db::now();
    diesel::insert_into(fs::fee_schedules)
        .values((
            fs::id.eq(id.to_string()),
            fs::org_id.eq(org.to_string()),
            fs::kind.eq(new.kind.as_str()),
            fs::payer_id.eq(new.payer_id.map(|p| p.to_string())),
            fs::name.eq(&new.name),
            fs::effective_from.eq(new.effective_from),
            fs::effective_to.eq(new.effective_to),
            fs::version.eq(1),
            fs::created_at.eq(now),
            fs::updated_at.eq(now),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        ctx,
        "fee_schedule.create",
        "fee_schedule",
        Some(&id.to_string()),
        Some(
            serde_json::json!({ "kind": new.kind.as_str(), "payer_id": new.payer_id.map(|p| p.to_string()) }),
        ),
    )?;
    get_schedule(conn, org, id)?.ok_or_else(|| AppError::internal("created fee schedule vanished"))
}

/// A validated change to a schedule: `Some(None)` clears a date.
#[derive(Debug, Clone, Default)]
pub struct SchedulePatch {
    pub name: Option<String>,
    pub effective_from: Option<Option<NaiveDate>>,
    pub effective_to: Option<Option<NaiveDate>>,
}

/// Renames a schedule or changes its period, with optimistic concurrency; audits the changed fields.
pub fn update_schedule(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: FeeScheduleId,
    expected_version: Option<i32>,
    patch: SchedulePatch,
) -> Result<FeeSchedule, AppError> {
    let current =
        get_schedule(conn, ctx.org, id)?.ok_or_else(|| AppError::not_found("fee schedule"))?;
    if let Some(v) = expected_version
        && v != current.version
    {
        return Err(AppError::conflict(format!(
            "the fee schedule was changed since version {v}; the current version is {}",
            current.version
        )));
    }
    let name = patch.name.unwrap_or_else(|| current.name.clone());
    let from = patch.effective_from.unwrap_or(current.effective_from);
    let to = patch.effective_to.unwrap_or(current.effective_to);
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        return Err(AppError::field(
            "effective_to",
            "before_start",
            "must not be before effective_from",
        ));
    }
    let mut changed = Vec::new();
    if name != current.name {
        changed.push("name");
    }
    if from != current.effective_from {
        changed.push("effective_from");
    }
    if to != current.effective_to {
        changed.push("effective_to");
    }
    if changed.is_empty() {
        return Ok(current);
    }
    let n = diesel::update(
        fs::fee_schedules
            .filter(fs::org_id.eq(ctx.org.to_string()))
            .filter(fs::id.eq(id.to_string()))
            .filter(fs::version.eq(current.version)),
    )
    .set((
        fs::name.eq(&name),
        fs::effective_from.eq(from),
        fs::effective_to.eq(to),
        fs::version.eq(current.version + 1),
        fs::updated_at.eq(crate::db::now()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(AppError::conflict(
            "the fee schedule was changed concurrently; reload and retry",
        ));
    }
    audit::record(
        conn,
        ctx,
        "fee_schedule.update",
        "fee_schedule",
        Some(&id.to_string()),
        Some(serde_json::json!({ "changed": changed })),
    )?;
    get_schedule(conn, ctx.org, id)?
        .ok_or_else(|| AppError::internal("updated fee schedule vanished"))
}

/// The organization's schedules in creation order; fetches `limit + 1` rows.
pub fn list_schedules(
    conn: &mut DbConn,
    org: OrgId,
    kind: Option<FeeScheduleKind>,
    payer: Option<PayerId>,
    page: &Page,
) -> Result<Vec<FeeSchedule>, AppError> {
    let mut q = fs::fee_schedules
        .filter(fs::org_id.eq(org.to_string()))
        .into_boxed();
    if let Some(k) = kind {
        q = q.filter(fs::kind.eq(k.as_str()));
    }
    if let Some(p) = payer {
        q = q.filter(fs::payer_id.eq(p.to_string()));
    }
    if let Some(after) = &page.after {
        q = q.filter(fs::id.gt(after.clone()));
    }
    q.order(fs::id.asc())
        .limit(page.limit + 1)
        .load::<ScheduleRow>(conn)?
        .into_iter()
        .map(ScheduleRow::into_schedule)
        .collect()
}

fn find_item(
    conn: &mut DbConn,
    org: OrgId,
    schedule: FeeScheduleId,
    code: &str,
    modifier: &str,
) -> Result<Option<FeeItem>, AppError> {
    Ok(fi::fee_schedule_items
        .filter(fi::org_id.eq(org.to_string()))
        .filter(fi::schedule_id.eq(schedule.to_string()))
        .filter(fi::code.eq(code))
        .filter(fi::modifier.eq(modifier))
        .first::<ItemRow>(conn)
        .optional()?
        .map(FeeItem::from))
}

/// A validated item: a procedure code, an optional modifier and a positive amount.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub code: String,
    pub modifier: Option<String>,
    pub amount_cents: i64,
}

/// Sets the amount of `code` + `modifier` on a schedule, creating the item if needed. Returns the
/// item and whether it was created. `404` when the schedule is not the organization's.
pub fn upsert_item(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    schedule: FeeScheduleId,
    item: NewItem,
) -> Result<(FeeItem, bool), AppError> {
    let org = ctx.org;
    get_schedule(conn, org, schedule)?.ok_or_else(|| AppError::not_found("fee schedule"))?;
    let modifier = item.modifier.clone().unwrap_or_default();
    let now = crate::db::now();
    let existing = find_item(conn, org, schedule, &item.code, &modifier)?;
    let (id, created) = match existing {
        Some(found) => {
            if found.amount_cents == item.amount_cents {
                return Ok((found, false));
            }
            diesel::update(
                fi::fee_schedule_items
                    .filter(fi::org_id.eq(org.to_string()))
                    .filter(fi::id.eq(found.id.to_string())),
            )
            .set((
                fi::amount_cents.eq(item.amount_cents),
                fi::version.eq(found.version + 1),
                fi::updated_at.eq(now),
            ))
            .execute(conn)?;
            (found.id, false)
        }
        None => {
            let id = FeeItemId::new();
            diesel::insert_into(fi::fee_schedule_items)
                .values((
                    fi::id.eq(id.to_string()),
                    fi::org_id.eq(org.to_string()),
                    fi::schedule_id.eq(schedule.to_string()),
                    fi::code.eq(&item.code),
                    fi::modifier.eq(&modifier),
                    fi::amount_cents.eq(item.amount_cents),
                    fi::version.eq(1),
                    fi::created_at.eq(now),
                    fi::updated_at.eq(now),
                ))
                .execute(conn)?;
            (id, true)
        }
    };
    audit::record(
        conn,
        ctx,
        if created {
            "fee_schedule.item_create"
        } else {
            "fee_schedule.item_update"
        },
        "fee_schedule_item",
        Some(&id.to_string()),
        Some(serde_json::json!({
            "schedule_id": schedule.to_string(),
            "code": item.code,
            "modifier": item.modifier,
            "amount_cents": item.amount_cents,
        })),
    )?;
    let saved = find_item(conn, org, schedule, &item.code, &modifier)?
        .ok_or_else(|| AppError::internal("saved fee item vanished"))?;
    Ok((saved, created))
}

/// A schedule's items in creation order, optionally only one code; fetches `limit + 1` rows.
pub fn list_items(
    conn: &mut DbConn,
    org: OrgId,
    schedule: FeeScheduleId,
    code: Option<&str>,
    page: &Page,
) -> Result<Vec<FeeItem>, AppError> {
    let mut q = fi::fee_schedule_items
        .filter(fi::org_id.eq(org.to_string()))
        .filter(fi::schedule_id.eq(schedule.to_string()))
        .into_boxed();
    if let Some(c) = code {
        q = q.filter(fi::code.eq(c.to_owned()));
    }
    if let Some(after) = &page.after {
        q = q.filter(fi::id.gt(after.clone()));
    }
    Ok(q.order(fi::id.asc())
        .limit(page.limit + 1)
        .load::<ItemRow>(conn)?
        .into_iter()
        .map(FeeItem::from)
        .collect())
}

/// Removes an item (schedules are master data; an item is not a posted record).
pub fn delete_item(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    schedule: FeeScheduleId,
    item: FeeItemId,
) -> Result<(), AppError> {
    let n = diesel::delete(
        fi::fee_schedule_items
            .filter(fi::org_id.eq(ctx.org.to_string()))
            .filter(fi::schedule_id.eq(schedule.to_string()))
            .filter(fi::id.eq(item.to_string())),
    )
    .execute(conn)?;
    if n == 0 {
        return Err(AppError::not_found("fee schedule item"));
    }
    audit::record(
        conn,
        ctx,
        "fee_schedule.item_delete",
        "fee_schedule_item",
        Some(&item.to_string()),
        Some(serde_json::json!({ "schedule_id": schedule.to_string() })),
    )
}

/// What a procedure costs on a date of service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeeLookup {
    #[schema(example = "99213")]
    pub code: String,
    #[schema(example = "25")]
    pub modifier: Option<String>,
    /// The practice's charge (standard schedule): the item with this modifier, else the item
    /// without a modifier. Absent when the code is not on the standard schedule.
    #[schema(example = 12500)]
    pub charge_cents: Option<i64>,
    /// What the payer is expected to allow (the payer's schedule effective on the date).
    #[schema(example = 9800)]
    pub expected_cents: Option<i64>,
    pub standard_schedule_id: Option<FeeScheduleId>,
    pub payer_schedule_id: Option<FeeScheduleId>,
}

fn price(
    conn: &mut DbConn,
    org: OrgId,
    schedule: FeeScheduleId,
    code: &str,
    modifier: Option<&str>,
) -> Result<Option<i64>, AppError> {
    if let Some(m) = modifier
        && let Some(item) = find_item(conn, org, schedule, code, m)?
    {
        return Ok(Some(item.amount_cents));
    }
    Ok(find_item(conn, org, schedule, code, "")?.map(|i| i.amount_cents))
}

/// Prices a procedure for a claim line: the standard charge and, with a payer, the payer's
/// expected amount, from the schedules effective on `on`. An exact modifier match wins over the
/// item without a modifier. A malformed code or modifier is a `422` (`code`, `modifier`).
pub fn fee_lookup(
    conn: &mut DbConn,
    org: OrgId,
    payer: Option<PayerId>,
    code: &str,
    modifier: Option<&str>,
    on: NaiveDate,
) -> Result<FeeLookup, AppError> {
    let mut errs = FieldErrors::new();
    let code = errs.check("code", procedure_system(code)).map(|(_, c)| c);
    let modifier = modifier
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .and_then(|m| errs.check("modifier", check_modifier(m)));
    errs.into_result()?;
    let code = code.ok_or_else(|| AppError::internal("validated code missing"))?;
    let schedules: Vec<FeeSchedule> = fs::fee_schedules
        .filter(fs::org_id.eq(org.to_string()))
        .load::<ScheduleRow>(conn)?
        .into_iter()
        .map(ScheduleRow::into_schedule)
        .collect::<Result<_, _>>()?;
    let effective = |s: &&FeeSchedule| effective_on(s.effective_from, s.effective_to, on);
    let standard = schedules
        .iter()
        .filter(|s| s.kind == FeeScheduleKind::Standard)
        .find(effective)
        .map(|s| s.id);
    let payer_schedule = payer.and_then(|p| {
        schedules
            .iter()
            .filter(|s| s.kind == FeeScheduleKind::Payer && s.payer_id == Some(p))
            .filter(effective)
            // The most recent period wins when periods overlap.
            .max_by_key(|s| (s.effective_from, s.id))
            .map(|s| s.id)
    });
    let charge_cents = match standard {
        Some(s) => price(conn, org, s, &code, modifier.as_deref())?,
        None => None,
    };
    let expected_cents = match payer_schedule {
        Some(s) => price(conn, org, s, &code, modifier.as_deref())?,
        None => None,
    };
    Ok(FeeLookup {
        code,
        modifier,
        charge_cents,
        expected_cents,
        standard_schedule_id: standard,
        payer_schedule_id: payer_schedule,
    })
}
