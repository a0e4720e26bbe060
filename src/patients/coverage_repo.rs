//! Coverage queries. A patient has at most one active coverage per priority on any day.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::domain::{Period, Priority, Relationship};
use crate::audit::{self, AuditCtx};
use crate::db::schema::coverages::dsl as cv;
use crate::db::{CoverageId, DbConn, OrgId, PatientId, PayerId};
use crate::directory::repo::stale;
use crate::error::AppError;
use crate::values::{Address, Sex};

#[derive(Debug, Clone, Queryable)]
pub struct Coverage {
    #[diesel(deserialize_as = String)]
    pub id: CoverageId,
    #[diesel(deserialize_as = String)]
    pub org_id: OrgId,
    #[diesel(deserialize_as = String)]
    pub patient_id: PatientId,
    #[diesel(deserialize_as = String)]
    pub payer_id: PayerId,
    pub member_id: String,
    pub group_number: Option<String>,
    #[diesel(deserialize_as = String)]
    pub priority: Priority,
    #[diesel(deserialize_as = String)]
    pub relationship: Relationship,
    pub subscriber_first_name: Option<String>,
    pub subscriber_last_name: Option<String>,
    pub subscriber_birth_date: Option<NaiveDate>,
    pub subscriber_sex: Option<String>,
    pub subscriber_address_line1: Option<String>,
    pub subscriber_address_line2: Option<String>,
    pub subscriber_city: Option<String>,
    pub subscriber_state: Option<String>,
    pub subscriber_postal_code: Option<String>,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub active: bool,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Coverage {
    pub fn period(&self) -> Period {
        Period {
            from: self.effective_from,
            to: self.effective_to,
        }
    }

    /// True when the coverage is active and its period contains `date`.
    pub fn effective_on(&self, date: NaiveDate) -> bool {
        self.active && self.period().contains(date)
    }
}

/// The policy holder when the patient is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub first_name: String,
    pub last_name: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub address: Address,
}

/// Checked coverage fields.
#[derive(Debug, Clone)]
pub struct CoverageFields {
    pub payer_id: PayerId,
    pub member_id: String,
    pub group_number: Option<String>,
    pub priority: Priority,
    pub relationship: Relationship,
    /// Present exactly when `relationship` is not `self`.
    pub subscriber: Option<Subscriber>,
    pub period: Period,
    pub active: bool,
}

pub fn get_coverage(
    conn: &mut DbConn,
    org: OrgId,
    id: CoverageId,
) -> Result<Option<Coverage>, AppError> {
    let query = cv::coverages
        .filter(cv::org_id.eq(org.to_string()))
        .filter(cv::id.eq(id.to_string()));
    Ok(crate::db::first_row::<_, Coverage>(conn, query)?)
}

pub fn list_for_patient(
    conn: &mut DbConn,
    org: OrgId,
    patient: PatientId,
) -> Result<Vec<Coverage>, AppError> {
    Ok(cv::coverages
        .filter(cv::org_id.eq(org.to_string()))
        .filter(cv::patient_id.eq(patient.to_string()))
        .order(cv::id.asc())
        .load::<Coverage>(conn)?)
}

/// Refuses a second active coverage of the same priority over an overlapping period.
fn check_priority_free(
    conn: &mut DbConn,
    org: OrgId,
    patient: PatientId,
    f: &CoverageFields,
    except: Option<CoverageId>,
) -> Result<(), AppError> {
    if !f.active {
        return Ok(());
    }
    let clash = list_for_patient(conn, org, patient)?.into_iter().find(|c| {
        Some(c.id) != except
            && c.active
            && c.priority == f.priority
            && c.period().overlaps(&f.period)
    });
    match clash {
        None => Ok(()),
        Some(c) => {
            let mut extra = serde_json::Map::new();
            extra.insert("conflicting_coverage_id".into(), c.id.to_string().into());
            Err(AppError::Conflict {
                detail: format!(
                    "the patient already has an active {} coverage over an overlapping period; end it (effective_to) or deactivate it first",
                    f.priority
                ),
                extra: Some(extra),
            })
        }
    }
}

fn subscriber_columns(s: &Option<Subscriber>) -> SubscriberColumns {
    match s {
        None => SubscriberColumns::default(),
        Some(s) => SubscriberColumns {
            first_name: Some(s.first_name.clone()),
            last_name: Some(s.last_name.clone()),
            birth_date: Some(s.birth_date),
            sex: Some(s.sex.to_string()),
            line1: Some(s.address.line1.clone()),
            line2: s.address.line2.clone(),
            city: Some(s.address.city.clone()),
            state: Some(s.address.state.clone()),
            postal_code: Some(s.address.postal_code.clone()),
        },
    }
}

#[derive(Default)]
struct SubscriberColumns {
    first_name: Option<String>,
    last_name: Option<String>,
    birth_date: Option<NaiveDate>,
    sex: Option<String>,
    line1: Option<String>,
    line2: Option<String>,
    city: Option<String>,
    state: Option<String>,
    postal_code: Option<String>,
}

pub fn create_coverage(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    patient: PatientId,
    f: CoverageFields,
) -> Result<Coverage, AppError> {
    check_priority_free(conn, ctx.org, patient, &f, None)?;
    let id = CoverageId::new();
    let now = crate::db::now();
    let s = subscriber_columns(&f.subscriber);
    diesel::insert_into(cv::coverages)
        .values((
            (
                cv::id.eq(id.to_string()),
                cv::org_id.eq(ctx.org.to_string()),
                cv::patient_id.eq(patient.to_string()),
                cv::payer_id.eq(f.payer_id.to_string()),
                cv::member_id.eq(&f.member_id),
                cv::group_number.eq(&f.group_number),
                cv::priority.eq(f.priority.as_str()),
                cv::relationship.eq(f.relationship.as_str()),
            ),
            (
                cv::subscriber_first_name.eq(s.first_name),
                cv::subscriber_last_name.eq(s.last_name),
                cv::subscriber_birth_date.eq(s.birth_date),
                cv::subscriber_sex.eq(s.sex),
                cv::subscriber_address_line1.eq(s.line1),
                cv::subscriber_address_line2.eq(s.line2),
                cv::subscriber_city.eq(s.city),
                cv::subscriber_state.eq(s.state),
                cv::subscriber_postal_code.eq(s.postal_code),
            ),
            (
                cv::effective_from.eq(f.period.from),
                cv::effective_to.eq(f.period.to),
                cv::active.eq(f.active),
                cv::version.eq(1),
                cv::created_at.eq(now),
                cv::updated_at.eq(now),
            ),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        ctx,
        "coverage.create",
        "coverage",
        Some(&id.to_string()),
        Some(serde_json::json!({ "patient_id": patient.to_string() })),
    )?;
    get_coverage(conn, ctx.org, id)?.ok_or_else(|| AppError::internal("created coverage vanished"))
}

pub fn update_coverage(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: CoverageId,
    version: i32,
    f: CoverageFields,
) -> Result<Coverage, AppError> {
    let cur = get_coverage(conn, ctx.org, id)?.ok_or_else(|| AppError::not_found("coverage"))?;
    if cur.version != version {
        return Err(stale("coverage", version, cur.version));
    }
    check_priority_free(conn, ctx.org, cur.patient_id, &f, Some(id))?;
    let s = subscriber_columns(&f.subscriber);
    let n = diesel::update(
        cv::coverages
            .filter(cv::org_id.eq(ctx.org.to_string()))
            .filter(cv::id.eq(id.to_string()))
            .filter(cv::version.eq(version)),
    )
    .set((
        (
            cv::payer_id.eq(f.payer_id.to_string()),
            cv::member_id.eq(&f.member_id),
            cv::group_number.eq(&f.group_number),
            cv::priority.eq(f.priority.as_str()),
            cv::relationship.eq(f.relationship.as_str()),
        ),
        (
            cv::subscriber_first_name.eq(s.first_name),
            cv::subscriber_last_name.eq(s.last_name),
            cv::subscriber_birth_date.eq(s.birth_date),
            cv::subscriber_sex.eq(s.sex),
            cv::subscriber_address_line1.eq(s.line1),
            cv::subscriber_address_line2.eq(s.line2),
            cv::subscriber_city.eq(s.city),
            cv::subscriber_state.eq(s.state),
            cv::subscriber_postal_code.eq(s.postal_code),
        ),
        (
            cv::effective_from.eq(f.period.from),
            cv::effective_to.eq(f.period.to),
            cv::active.eq(f.active),
            cv::version.eq(version + 1),
            cv::updated_at.eq(crate::db::now()),
        ),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(stale("coverage", version, version + 1));
    }
    audit::record(
        conn,
        ctx,
        "coverage.update",
        "coverage",
        Some(&id.to_string()),
        None,
    )?;
    get_coverage(conn, ctx.org, id)?.ok_or_else(|| AppError::internal("updated coverage vanished"))
}
