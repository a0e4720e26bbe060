//! Send-out manifests: a list of received specimens going to one reference lab, with courier,
//! tracking number and temperature. Shipping moves every specimen to `referred_out` (each with
//! its custody event) in one transaction; the return of results is recorded on the manifest.
//!
//! Manifest states: `draft` → `shipped` → `results_received`; a draft may be `cancelled`. A
//! specimen is on at most one open (draft or shipped) manifest (`manifest_holds`).
//!
//! Rules on the specimens listed in a create or a change are field errors (`422`,
//! `specimen_ids[i]` / `add_specimen_ids[i]`): unknown, not `received`, already on another open
//! manifest. At shipping time, specimens that can no longer go to `referred_out` make the whole
//! shipment a `409` that lists them (`specimens`), and nothing moves.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::domain::{SpecimenStatus, SpecimenType};
use super::labels::xml_escape;
use super::repo::{self, Change, Specimen};
use super::schema::{
    manifest_holds::dsl as mh, manifest_specimens::dsl as ms, manifests::dsl as mf,
    specimens::dsl as sp,
};
use crate::app::AppState;
use crate::audit::{self, AuditCtx};
use crate::auth::routes::path_id;
use crate::auth::{AuthUser, Role};
use crate::db::{DbConn, ManifestId, OrgId, SpecimenId};
use crate::directory::repo::stale;
use crate::error::{AppError, FieldErrors, FieldIssue, Problem};
use crate::http::pagination::Paged;
use crate::http::{Json, Page, PageQuery, etag, if_match_version};
use crate::values::{optional, parse_text, required};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_manifests)
        .service(create_manifest)
        .service(get_manifest)
        .service(update_manifest)
        .service(ship_manifest)
        .service(receive_results)
        .service(cancel_manifest)
        .service(print_manifest);
}

/// Who prepares and ships manifests. Everyone else reads.
const WRITERS: [Role; 3] = [Role::Lab, Role::Manager, Role::Admin];
/// Specimens per manifest.
pub const MAX_SPECIMENS: usize = 200;

/// Where a manifest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ManifestStatus {
    Draft,
    Shipped,
    ResultsReceived,
    Cancelled,
}

impl ManifestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Shipped => "shipped",
            Self::ResultsReceived => "results_received",
            Self::Cancelled => "cancelled",
        }
    }

    /// The states reachable from this one.
    pub fn next(self) -> &'static [ManifestStatus] {
        match self {
            Self::Draft => &[Self::Shipped, Self::Cancelled],
            Self::Shipped => &[Self::ResultsReceived],
            Self::ResultsReceived | Self::Cancelled => &[],
        }
    }

    /// Open manifests hold their specimens.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Draft | Self::Shipped)
    }
}

impl std::fmt::Display for ManifestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ManifestStatus {
    type Err = FieldIssue;
    fn from_str(s: &str) -> Result<Self, FieldIssue> {
        match s.trim() {
            "draft" => Ok(Self::Draft),
            "shipped" => Ok(Self::Shipped),
            "results_received" => Ok(Self::ResultsReceived),
            "cancelled" => Ok(Self::Cancelled),
            _ => Err(FieldIssue::new(
                "invalid_enum",
                "must be one of: draft, shipped, results_received, cancelled",
            )),
        }
    }
}

impl TryFrom<String> for ManifestStatus {
    type Error = FieldIssue;
    fn try_from(s: String) -> Result<Self, FieldIssue> {
        s.parse()
    }
}

/// Shipping temperature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShipTemperature {
    Ambient,
    Refrigerated,
    Frozen,
}

impl ShipTemperature {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ambient => "ambient",
            Self::Refrigerated => "refrigerated",
            Self::Frozen => "frozen",
        }
    }
}

impl std::str::FromStr for ShipTemperature {
    type Err = FieldIssue;
    fn from_str(s: &str) -> Result<Self, FieldIssue> {
        match s.trim() {
            "ambient" => Ok(Self::Ambient),
            "refrigerated" => Ok(Self::Refrigerated),
            "frozen" => Ok(Self::Frozen),
            _ => Err(FieldIssue::new(
                "invalid_enum",
                "must be one of: ambient, refrigerated, frozen",
            )),
        }
    }
}

#[derive(Debug, Clone, Queryable)]
pub struct Manifest {
    #[diesel(deserialize_as = String)]
    pub id: ManifestId,
    #[diesel(deserialize_as = String)]
    pub org_id: OrgId,
    pub destination: String,
    pub courier: Option<String>,
    pub tracking_number: Option<String>,
    pub temperature: Option<String>,
    #[diesel(deserialize_as = String)]
    pub status: ManifestStatus,
    pub shipped_at: Option<NaiveDateTime>,
    pub results_received_at: Option<NaiveDateTime>,
    pub note: Option<String>,
    pub version: i32,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

// ---------------------------------------------------------------------------------------------
// Requests and views

/// A new manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ManifestRequest {
    /// The reference lab.
    #[schema(example = "Quest Diagnostics, Chantilly VA")]
    pub destination: Option<String>,
    /// 1 to 200 received specimens, none on another open manifest.
    pub specimen_ids: Option<Vec<String>>,
    #[schema(example = "LabCorp courier")]
    pub courier: Option<String>,
    #[schema(example = "1Z999AA10123456784")]
    pub tracking_number: Option<String>,
    /// `ambient`, `refrigerated` or `frozen`.
    #[schema(example = "refrigerated")]
    pub temperature: Option<String>,
    pub note: Option<String>,
}

/// A change to a draft manifest. Absent fields stay; an empty string clears `courier`,
/// `tracking_number`, `temperature` or `note`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ManifestPatch {
    /// The version being changed (or send `If-Match`).
    pub version: Option<i32>,
    pub destination: Option<String>,
    pub courier: Option<String>,
    pub tracking_number: Option<String>,
    pub temperature: Option<String>,
    pub note: Option<String>,
    /// Specimens to add (same rules as at creation).
    pub add_specimen_ids: Option<Vec<String>>,
    /// Specimens to take off (they must be on this manifest).
    pub remove_specimen_ids: Option<Vec<String>>,
}

/// A specimen on a manifest.
#[derive(Debug, Serialize, ToSchema)]
pub struct ManifestSpecimenView {
    pub specimen_id: String,
    #[schema(example = "L26-0001237")]
    pub accession_number: String,
    pub specimen_type: SpecimenType,
    pub status: SpecimenStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ManifestView {
    pub id: String,
    pub destination: String,
    pub courier: Option<String>,
    pub tracking_number: Option<String>,
    pub temperature: Option<ShipTemperature>,
    pub status: ManifestStatus,
    /// The states this manifest may go to next.
    pub allowed_transitions: Vec<ManifestStatus>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub results_received_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
    pub specimen_count: usize,
    /// By accession number.
    pub specimens: Vec<ManifestSpecimenView>,
    pub version: i32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

impl ManifestView {
    fn new(m: Manifest, specimens: &[Specimen]) -> Self {
        let mut specimens: Vec<ManifestSpecimenView> = specimens
            .iter()
            .map(|s| ManifestSpecimenView {
                specimen_id: s.id.to_string(),
                accession_number: s.accession_number.clone(),
                specimen_type: s.specimen_type,
                status: s.status,
            })
            .collect();
        specimens.sort_by(|a, b| a.accession_number.cmp(&b.accession_number));
        Self {
            id: m.id.to_string(),
            destination: m.destination,
            courier: m.courier,
            tracking_number: m.tracking_number,
            temperature: m.temperature.as_deref().and_then(|t| t.parse().ok()),
            status: m.status,
            allowed_transitions: m.status.next().to_vec(),
            shipped_at: m.shipped_at.map(utc),
            results_received_at: m.results_received_at.map(utc),
            note: m.note,
            specimen_count: specimens.len(),
            specimens,
            version: m.version,
            created_by: m.created_by,
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ManifestQuery {
    /// draft, shipped, results_received or cancelled.
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ManifestFormatQuery {
    /// `json` (default) or `html` (the printout, as `/manifests/{id}/print`).
    pub format: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Validation (no I/O)

/// Parses a list of specimen ids into `(index, id)`, flagging malformed and repeated ones as
/// `{field}[i]`.
fn parse_ids(errs: &mut FieldErrors, field: &str, list: &[String]) -> Vec<(usize, SpecimenId)> {
    let mut out: Vec<(usize, SpecimenId)> = Vec::new();
    for (i, raw) in list.iter().enumerate() {
        match raw.trim().parse::<SpecimenId>() {
            Ok(id) if out.iter().any(|(_, x)| *x == id) => {
                errs.add(format!("{field}[{i}]"), "duplicate", "is listed twice")
            }
            Ok(id) => out.push((i, id)),
            Err(_) => errs.add(
                format!("{field}[{i}]"),
                "invalid_id",
                "must be an id (UUID)",
            ),
        }
    }
    out
}

fn parse_destination(v: &str) -> Result<String, FieldIssue> {
    parse_text(v, 120)
}

fn parse_short(v: &str) -> Result<String, FieldIssue> {
    parse_text(v, 60)
}

fn parse_note(v: &str) -> Result<String, FieldIssue> {
    parse_text(v, 500)
}

/// A checked creation (specimens still to be checked against the database).
struct NewManifest {
    destination: Option<String>,
    specimens: Vec<(usize, SpecimenId)>,
    courier: Option<String>,
    tracking_number: Option<String>,
    temperature: Option<ShipTemperature>,
    note: Option<String>,
}

impl ManifestRequest {
    fn check(&self, errs: &mut FieldErrors) -> NewManifest {
        let destination = required(
            errs,
            "destination",
            self.destination.as_deref(),
            parse_destination,
        );
        let specimens = match &self.specimen_ids {
            None => {
                errs.add("specimen_ids", "required", "list 1 to 200 specimens");
                vec![]
            }
            Some(l) if l.is_empty() || l.len() > MAX_SPECIMENS => {
                errs.add(
                    "specimen_ids",
                    "out_of_range",
                    format!("a manifest lists 1 to {MAX_SPECIMENS} specimens"),
                );
                vec![]
            }
            Some(l) => parse_ids(errs, "specimen_ids", l),
        };
        NewManifest {
            destination,
            specimens,
            courier: optional(errs, "courier", self.courier.as_deref(), parse_short),
            tracking_number: optional(
                errs,
                "tracking_number",
                self.tracking_number.as_deref(),
                parse_short,
            ),
            temperature: optional(
                errs,
                "temperature",
                self.temperature.as_deref(),
                str::parse::<ShipTemperature>,
            ),
            note: optional(errs, "note", self.note.as_deref(), parse_note),
        }
    }
}

/// A patch field: absent → keep, blank → clear, else the parsed value.
fn patch_field<T>(
    errs: &mut FieldErrors,
    field: &str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, FieldIssue>,
) -> Option<Option<T>> {
    match raw.map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(v) => errs.check(field, parse(v)).map(Some),
    }
}

struct CheckedPatch {
    destination: Option<String>,
    courier: Option<Option<String>>,
    tracking_number: Option<Option<String>>,
    temperature: Option<Option<ShipTemperature>>,
    note: Option<Option<String>>,
    add: Vec<(usize, SpecimenId)>,
    remove: Vec<(usize, SpecimenId)>,
}

impl ManifestPatch {
    fn check(&self, errs: &mut FieldErrors) -> CheckedPatch {
        let list = |errs: &mut FieldErrors, field: &str, l: &Option<Vec<String>>| match l {
            Some(l) if l.len() > MAX_SPECIMENS => {
                errs.add(
                    field,
                    "out_of_range",
                    format!("at most {MAX_SPECIMENS} specimens"),
                );
                vec![]
            }
            Some(l) => parse_ids(errs, field, l),
            None => vec![],
        };
        CheckedPatch {
            destination: optional(
                errs,
                "destination",
                self.destination.as_deref(),
                parse_destination,
            ),
            courier: patch_field(errs, "courier", self.courier.as_deref(), parse_short),
            tracking_number: patch_field(
                errs,
                "tracking_number",
                self.tracking_number.as_deref(),
                parse_short,
            ),
            temperature: patch_field(
                errs,
                "temperature",
                self.temperature.as_deref(),
                str::parse::<ShipTemperature>,
            ),
            note: patch_field(errs, "note", self.note.as_deref(), parse_note),
            add: list(errs, "add_specimen_ids", &self.add_specimen_ids),
            remove: list(errs, "remove_specimen_ids", &self.remove_specimen_ids),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Queries

pub fn get_manifest_row(
    conn: &mut DbConn,
    org: OrgId,
    id: ManifestId,
) -> Result<Option<Manifest>, AppError> {
    Ok(mf::manifests
        .filter(mf::org_id.eq(org.to_string()))
        .filter(mf::id.eq(id.to_string()))
        .first::<Manifest>(conn)
        .optional()?)
}

pub fn require_manifest(
    conn: &mut DbConn,
    org: OrgId,
    id: ManifestId,
) -> Result<Manifest, AppError> {
    get_manifest_row(conn, org, id)?.ok_or_else(|| AppError::not_found("manifest"))
}

/// The specimens listed on a manifest.
pub fn specimens_of(
    conn: &mut DbConn,
    org: OrgId,
    manifest: ManifestId,
) -> Result<Vec<Specimen>, AppError> {
    let ids: Vec<String> = ms::manifest_specimens
        .filter(ms::org_id.eq(org.to_string()))
        .filter(ms::manifest_id.eq(manifest.to_string()))
        .select(ms::specimen_id)
        .load(conn)?;
    Ok(sp::specimens
        .filter(sp::org_id.eq(org.to_string()))
        .filter(sp::id.eq_any(ids))
        .order(sp::accession_number.asc())
        .select(repo::SPECIMEN_COLUMNS)
        .load(conn)?)
}

/// The open manifest holding a specimen, if any.
fn holder(conn: &mut DbConn, org: OrgId, specimen: SpecimenId) -> Result<Option<String>, AppError> {
    Ok(mh::manifest_holds
        .filter(mh::org_id.eq(org.to_string()))
        .filter(mh::specimen_id.eq(specimen.to_string()))
        .select(mh::manifest_id)
        .first::<String>(conn)
        .optional()?)
}

/// Checks specimens to be put on `manifest` (`None` for a new one): each must exist, be
/// `received` and not be held by another open manifest. Problems go to `errs` as `{field}[i]`.
fn check_addable(
    conn: &mut DbConn,
    org: OrgId,
    manifest: Option<ManifestId>,
    field: &str,
    ids: &[(usize, SpecimenId)],
    errs: &mut FieldErrors,
) -> Result<(), AppError> {
    for (i, id) in ids {
        let f = format!("{field}[{i}]");
        let Some(s) = repo::get_specimen(conn, org, *id)? else {
            errs.add(
                f,
                "unknown_specimen",
                "no such specimen in this organization",
            );
            continue;
        };
        match holder(conn, org, *id)? {
            Some(m) if manifest.is_some_and(|x| x.to_string() == m) => {
                errs.add(f, "already_listed", "is already on this manifest");
                continue;
            }
            Some(m) => {
                errs.add(
                    f,
                    "on_open_manifest",
                    format!("{} is already on open manifest {m}", s.accession_number),
                );
                continue;
            }
            None => {}
        }
        if s.status != SpecimenStatus::Received {
            errs.add(
                f,
                "not_received",
                format!(
                    "{} is {}; only a received specimen can be sent out",
                    s.accession_number, s.status
                ),
            );
        }
    }
    Ok(())
}

fn attach(
    conn: &mut DbConn,
    org: OrgId,
    manifest: ManifestId,
    ids: &[(usize, SpecimenId)],
) -> Result<(), AppError> {
    for (_, id) in ids {
        diesel::insert_into(ms::manifest_specimens)
            .values((
                ms::org_id.eq(org.to_string()),
                ms::manifest_id.eq(manifest.to_string()),
                ms::specimen_id.eq(id.to_string()),
            ))
            .execute(conn)?;
        diesel::insert_into(mh::manifest_holds)
            .values((
                mh::org_id.eq(org.to_string()),
                mh::specimen_id.eq(id.to_string()),
                mh::manifest_id.eq(manifest.to_string()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Releases every specimen of a manifest that closes.
fn release_all(conn: &mut DbConn, org: OrgId, manifest: ManifestId) -> Result<(), AppError> {
    diesel::delete(
        mh::manifest_holds
            .filter(mh::org_id.eq(org.to_string()))
            .filter(mh::manifest_id.eq(manifest.to_string())),
    )
    .execute(conn)?;
    Ok(())
}

fn view(conn: &mut DbConn, org: OrgId, m: Manifest) -> Result<ManifestView, AppError> {
    let specimens = specimens_of(conn, org, m.id)?;
    Ok(ManifestView::new(m, &specimens))
}

/// The `409` for a manifest state change the rules do not allow.
fn illegal(m: &Manifest, to: ManifestStatus) -> AppError {
    let mut extra = serde_json::Map::new();
    extra.insert("current".into(), m.status.as_str().into());
    extra.insert(
        "allowed".into(),
        serde_json::Value::Array(m.status.next().iter().map(|s| s.as_str().into()).collect()),
    );
    AppError::Conflict {
        detail: format!("a manifest that is {} cannot go to {to}", m.status),
        extra: Some(extra),
    }
}

fn check_version(m: &Manifest, expected: Option<i32>) -> Result<(), AppError> {
    match expected {
        Some(v) if v != m.version => Err(stale("manifest", v, m.version)),
        _ => Ok(()),
    }
}

/// Moves a manifest to `to`, bumping its version (guarded by the version read).
fn set_status(
    conn: &mut DbConn,
    m: &Manifest,
    to: ManifestStatus,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let n = diesel::update(
        mf::manifests
            .filter(mf::org_id.eq(m.org_id.to_string()))
            .filter(mf::id.eq(m.id.to_string()))
            .filter(mf::version.eq(m.version)),
    )
    .set((
        mf::status.eq(to.as_str()),
        mf::shipped_at.eq(if to == ManifestStatus::Shipped {
            Some(now)
        } else {
            m.shipped_at
        }),
        mf::results_received_at.eq(if to == ManifestStatus::ResultsReceived {
            Some(now)
        } else {
            m.results_received_at
        }),
        mf::version.eq(m.version + 1),
        mf::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(stale("manifest", m.version, m.version + 1));
    }
    Ok(())
}

fn create(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    body: &ManifestRequest,
) -> Result<ManifestView, AppError> {
    let mut errs = FieldErrors::new();
    let new = body.check(&mut errs);
    check_addable(
        conn,
        ctx.org,
        None,
        "specimen_ids",
        &new.specimens,
        &mut errs,
    )?;
    errs.into_result()?;
    let destination = new
        .destination
        .ok_or_else(|| AppError::internal("validated destination missing"))?;
    let id = ManifestId::new();
    let now = crate::db::now();
    diesel::insert_into(mf::manifests)
        .values((
            mf::id.eq(id.to_string()),
            mf::org_id.eq(ctx.org.to_string()),
            mf::destination.eq(&destination),
            mf::courier.eq(&new.courier),
            mf::tracking_number.eq(&new.tracking_number),
            mf::temperature.eq(new.temperature.map(|t| t.as_str())),
            mf::status.eq(ManifestStatus::Draft.as_str()),
            mf::note.eq(&new.note),
            mf::version.eq(1),
            mf::created_by.eq(ctx
                .actor
                .map(|a| a.to_string())
                .unwrap_or_else(|| "system".into())),
            mf::created_at.eq(now),
            mf::updated_at.eq(now),
        ))
        .execute(conn)?;
    attach(conn, ctx.org, id, &new.specimens)?;
    audit::record(
        conn,
        ctx,
        "manifest.create",
        "manifest",
        Some(&id.to_string()),
        Some(serde_json::json!({ "specimens": new.specimens.len() })),
    )?;
    let m = require_manifest(conn, ctx.org, id)?;
    view(conn, ctx.org, m)
}

fn update(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: ManifestId,
    expected: Option<i32>,
    body: &ManifestPatch,
) -> Result<ManifestView, AppError> {
    let m = require_manifest(conn, ctx.org, id)?;
    check_version(&m, expected)?;
    if m.status != ManifestStatus::Draft {
        return Err(AppError::conflict(format!(
            "only a draft manifest can be changed; this one is {}",
            m.status
        )));
    }
    let mut errs = FieldErrors::new();
    let p = body.check(&mut errs);
    check_addable(
        conn,
        ctx.org,
        Some(id),
        "add_specimen_ids",
        &p.add,
        &mut errs,
    )?;
    let current: Vec<SpecimenId> = specimens_of(conn, ctx.org, id)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    for (i, sid) in &p.remove {
        if !current.contains(sid) {
            errs.add(
                format!("remove_specimen_ids[{i}]"),
                "not_on_manifest",
                "is not on this manifest",
            );
        }
    }
    let remaining = current.len() + p.add.len() - p.remove.len().min(current.len());
    if errs.is_empty() && !(1..=MAX_SPECIMENS).contains(&remaining) {
        errs.add(
            if remaining == 0 {
                "remove_specimen_ids"
            } else {
                "add_specimen_ids"
            },
            "out_of_range",
            format!(
                "a manifest lists 1 to {MAX_SPECIMENS} specimens (this change leaves {remaining})"
            ),
        );
    }
    errs.into_result()?;
    let now = crate::db::now();
    let n = diesel::update(
        mf::manifests
            .filter(mf::org_id.eq(ctx.org.to_string()))
            .filter(mf::id.eq(id.to_string()))
            .filter(mf::version.eq(m.version)),
    )
    .set((
        mf::destination.eq(p.destination.clone().unwrap_or(m.destination.clone())),
        mf::courier.eq(p.courier.clone().unwrap_or(m.courier.clone())),
        mf::tracking_number.eq(p
            .tracking_number
            .clone()
            .unwrap_or(m.tracking_number.clone())),
        mf::temperature.eq(match p.temperature {
            Some(t) => t.map(|t| t.as_str().to_owned()),
            None => m.temperature.clone(),
        }),
        mf::note.eq(p.note.clone().unwrap_or(m.note.clone())),
        mf::version.eq(m.version + 1),
        mf::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(stale("manifest", m.version, m.version + 1));
    }
    for (_, sid) in &p.remove {
        diesel::delete(
            ms::manifest_specimens
                .filter(ms::org_id.eq(ctx.org.to_string()))
                .filter(ms::manifest_id.eq(id.to_string()))
                .filter(ms::specimen_id.eq(sid.to_string())),
        )
        .execute(conn)?;
        diesel::delete(
            mh::manifest_holds
                .filter(mh::org_id.eq(ctx.org.to_string()))
                .filter(mh::manifest_id.eq(id.to_string()))
                .filter(mh::specimen_id.eq(sid.to_string())),
        )
        .execute(conn)?;
    }
    attach(conn, ctx.org, id, &p.add)?;
    audit::record(
        conn,
        ctx,
        "manifest.update",
        "manifest",
        Some(&id.to_string()),
        Some(serde_json::json!({ "added": p.add.len(), "removed": p.remove.len() })),
    )?;
    let m = require_manifest(conn, ctx.org, id)?;
    view(conn, ctx.org, m)
}

/// Ships a draft: every specimen goes to `referred_out` (with its custody event naming the
/// destination), then the manifest is `shipped`. The caller's transaction makes it all or nothing.
fn ship(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    role: Role,
    id: ManifestId,
    expected: Option<i32>,
) -> Result<ManifestView, AppError> {
    let m = require_manifest(conn, ctx.org, id)?;
    check_version(&m, expected)?;
    if m.status != ManifestStatus::Draft {
        return Err(illegal(&m, ManifestStatus::Shipped));
    }
    let specimens = specimens_of(conn, ctx.org, id)?;
    let blocked: Vec<serde_json::Value> = specimens
        .iter()
        .filter(|s| !s.status.can_go_to(SpecimenStatus::ReferredOut))
        .map(|s| {
            serde_json::json!({
                "specimen_id": s.id.to_string(),
                "accession_number": s.accession_number,
                "status": s.status.as_str(),
            })
        })
        .collect();
    if !blocked.is_empty() {
        let names: Vec<String> = specimens
            .iter()
            .filter(|s| !s.status.can_go_to(SpecimenStatus::ReferredOut))
            .map(|s| format!("{} ({})", s.accession_number, s.status))
            .collect();
        let mut extra = serde_json::Map::new();
        extra.insert("specimens".into(), serde_json::Value::Array(blocked));
        return Err(AppError::Conflict {
            detail: format!(
                "nothing was shipped: these specimens cannot be referred out: {}",
                names.join(", ")
            ),
            extra: Some(extra),
        });
    }
    let temperature = m
        .temperature
        .as_deref()
        .map(|t| format!(", {t}"))
        .unwrap_or_default();
    let note = format!(
        "sent out to {} on manifest {}{}",
        m.destination, m.id, temperature
    );
    for s in &specimens {
        repo::apply(
            conn,
            ctx,
            role,
            s.id,
            None,
            Change::To {
                to: SpecimenStatus::ReferredOut,
                location: None,
                temperature_c: None,
                note: Some(note.clone()),
                reasons: vec![],
            },
        )?;
    }
    set_status(conn, &m, ManifestStatus::Shipped, crate::db::now())?;
    audit::record(
        conn,
        ctx,
        "manifest.ship",
        "manifest",
        Some(&id.to_string()),
        Some(serde_json::json!({ "specimens": specimens.len() })),
    )?;
    let m = require_manifest(conn, ctx.org, id)?;
    view(conn, ctx.org, m)
}

/// `shipped` → `results_received`, or `draft` → `cancelled`; both release the specimens.
fn close(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: ManifestId,
    expected: Option<i32>,
    to: ManifestStatus,
) -> Result<ManifestView, AppError> {
    let m = require_manifest(conn, ctx.org, id)?;
    check_version(&m, expected)?;
    if !m.status.next().contains(&to) {
        return Err(illegal(&m, to));
    }
    set_status(conn, &m, to, crate::db::now())?;
    release_all(conn, ctx.org, id)?;
    let action = match to {
        ManifestStatus::Cancelled => "manifest.cancel",
        _ => "manifest.receive_results",
    };
    audit::record(conn, ctx, action, "manifest", Some(&id.to_string()), None)?;
    let m = require_manifest(conn, ctx.org, id)?;
    view(conn, ctx.org, m)
}

fn list(
    conn: &mut DbConn,
    org: OrgId,
    status: Option<ManifestStatus>,
    page: &Page,
) -> Result<Vec<Manifest>, AppError> {
    let mut q = mf::manifests
        .filter(mf::org_id.eq(org.to_string()))
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(mf::status.eq(s.as_str()));
    }
    if let Some(after) = &page.after {
        q = q.filter(mf::id.gt(after.clone()));
    }
    Ok(q.order(mf::id.asc()).limit(page.limit + 1).load(conn)?)
}

// ---------------------------------------------------------------------------------------------
// The printout

/// One printed row.
struct PrintRow {
    accession_number: String,
    specimen_type: String,
    container: Option<String>,
    stat: bool,
    patient: String,
    birth_date: String,
    mrn: String,
    collected_at: Option<NaiveDateTime>,
}

fn fmt_time(t: Option<NaiveDateTime>, none: &str) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| none.to_owned())
}

fn print_html(org_name: &str, m: &Manifest, rows: &[PrintRow]) -> String {
    let e = |s: &str| xml_escape(s);
    let opt = |s: &Option<String>| s.as_deref().map(xml_escape).unwrap_or_else(|| "—".into());
    let mut table = String::new();
    for (i, r) in rows.iter().enumerate() {
        table.push_str(&format!(
            "<tr><td>{}</td><td class=\"acc\">{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            i + 1,
            e(&r.accession_number),
            if r.stat { " <b class=\"stat\">STAT</b>" } else { "" },
            e(&r.specimen_type),
            opt(&r.container),
            e(&r.patient),
            e(&r.birth_date),
            e(&r.mrn),
            e(&fmt_time(r.collected_at, "not collected")),
        ));
    }
    format!(
        concat!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<title>Send-out manifest {id}</title>\n<style>\n",
            "@page {{ size: letter; margin: 15mm }}\n",
            "body {{ font-family: Arial, Helvetica, sans-serif; font-size: 11pt; color: #000 }}\n",
            "h1 {{ font-size: 16pt; margin: 0 0 4mm }}\n",
            "dl {{ display: grid; grid-template-columns: max-content auto; gap: 1mm 6mm; margin: 0 0 5mm }}\n",
            "dt {{ font-weight: bold }} dd {{ margin: 0 }}\n",
            "table {{ border-collapse: collapse; width: 100% }}\n",
            "th, td {{ border: 1px solid #000; padding: 1.5mm 2mm; text-align: left; vertical-align: top }}\n",
            "thead {{ display: table-header-group }} tr {{ page-break-inside: avoid }}\n",
            ".acc {{ font-family: 'DejaVu Sans Mono', monospace; white-space: nowrap }}\n",
            ".stat {{ background: #000; color: #fff; padding: 0 1mm }}\n",
            ".signatures {{ margin-top: 12mm; display: grid; grid-template-columns: 1fr 1fr; gap: 12mm 10mm; page-break-inside: avoid }}\n",
            ".sig {{ border-top: 1px solid #000; padding-top: 1mm; font-size: 9pt }}\n",
            "</style></head>\n<body>\n",
            "<h1>Send-out manifest</h1>\n",
            "<dl>\n",
            "<dt>From</dt><dd>{org}</dd>\n",
            "<dt>Destination</dt><dd>{destination}</dd>\n",
            "<dt>Manifest</dt><dd>{id} ({status})</dd>\n",
            "<dt>Courier</dt><dd>{courier}</dd>\n",
            "<dt>Tracking number</dt><dd>{tracking}</dd>\n",
            "<dt>Temperature</dt><dd>{temperature}</dd>\n",
            "<dt>Shipped</dt><dd>{shipped}</dd>\n",
            "<dt>Specimens</dt><dd>{count}</dd>\n",
            "{note}",
            "</dl>\n",
            "<table>\n<thead><tr><th>#</th><th>Accession number</th><th>Type</th><th>Container</th>",
            "<th>Patient</th><th>Birth date</th><th>MRN</th><th>Collected</th></tr></thead>\n<tbody>\n",
            "{table}</tbody></table>\n",
            "<div class=\"signatures\">\n",
            "<div class=\"sig\">Released by (lab) — name, signature</div><div class=\"sig\">Date and time</div>\n",
            "<div class=\"sig\">Courier — name, signature</div><div class=\"sig\">Date and time of pick-up</div>\n",
            "<div class=\"sig\">Received by (reference lab) — name, signature</div><div class=\"sig\">Date, time and temperature on arrival</div>\n",
            "</div>\n</body></html>\n"
        ),
        id = m.id,
        org = e(org_name),
        destination = e(&m.destination),
        status = m.status,
        courier = opt(&m.courier),
        tracking = opt(&m.tracking_number),
        temperature = opt(&m.temperature),
        shipped = e(&fmt_time(m.shipped_at, "not shipped yet")),
        count = rows.len(),
        note = m
            .note
            .as_deref()
            .map(|n| format!("<dt>Note</dt><dd>{}</dd>\n", e(n)))
            .unwrap_or_default(),
        table = table,
    )
}

/// Builds the printout and audits the read of the patients' identifiers.
fn printout(conn: &mut DbConn, ctx: &AuditCtx, id: ManifestId) -> Result<String, AppError> {
    let m = require_manifest(conn, ctx.org, id)?;
    let org = crate::orgs::repo::get_org(conn, ctx.org)?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let mut rows = Vec::new();
    for s in specimens_of(conn, ctx.org, id)? {
        let p = crate::patients::repo::get_patient(conn, ctx.org, s.patient_id)?
            .ok_or_else(|| AppError::internal("specimen without its patient"))?;
        rows.push(PrintRow {
            accession_number: s.accession_number,
            specimen_type: s.specimen_type.as_str().to_owned(),
            container: s.container,
            stat: s.priority == super::domain::LabPriority::Stat,
            patient: format!("{}, {}", p.last_name.to_uppercase(), p.first_name),
            birth_date: p.birth_date.format("%Y-%m-%d").to_string(),
            mrn: p.mrn,
            collected_at: s.collected_at,
        });
    }
    audit::record(
        conn,
        ctx,
        "manifest.print",
        "manifest",
        Some(&id.to_string()),
        Some(serde_json::json!({ "specimens": rows.len() })),
    )?;
    Ok(print_html(&org.name, &m, &rows))
}

fn html_response(html: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// Create a draft manifest of received specimens for one reference lab.
#[utoipa::path(
    tag = "manifests",
    operation_id = "create_manifest",
    security(("bearer" = [])),
    request_body = ManifestRequest,
    responses(
        (status = 201, description = "The draft manifest", body = ManifestView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only lab, manager and admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A specimen was put on another manifest concurrently", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them); `specimen_ids[i]`: unknown_specimen, not_received, on_open_manifest, duplicate", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/manifests")]
async fn create_manifest(
    state: web::Data<AppState>,
    user: AuthUser,
    body: Json<ManifestRequest>,
) -> Result<HttpResponse, AppError> {
    user.require(&WRITERS)?;
    let body = body.into_inner();
    let ctx = user.audit();
    let v = state.db.write(move |c| create(c, &ctx, &body)).await?;
    Ok(HttpResponse::Created()
        .insert_header(etag(v.version))
        .json(v))
}

/// List manifests (filter by status).
#[utoipa::path(
    tag = "manifests",
    operation_id = "list_manifests",
    security(("bearer" = [])),
    params(ManifestQuery, PageQuery),
    responses(
        (status = 200, description = "A page of manifests, oldest first", body = Paged<ManifestView>),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter or pagination", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/manifests")]
async fn list_manifests(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<ManifestQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let mut errs = FieldErrors::new();
    let status = optional(&mut errs, "status", q.status.as_deref(), |s| {
        s.parse::<ManifestStatus>()
    });
    let page = page.parse(&mut errs);
    errs.into_result()?;
    let org = user.org_id;
    let limit = page.limit;
    let out = state
        .db
        .read(move |c| {
            let rows = list(c, org, status, &page)?;
            Paged::from_rows(rows, limit, |m| m.id.to_string()).try_map(|m| view(c, org, m))
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// One manifest with its specimens' accession numbers and states; `?format=html` gives the
/// printout (as `/manifests/{id}/print`).
#[utoipa::path(
    tag = "manifests",
    operation_id = "get_manifest",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Manifest id"), ManifestFormatQuery),
    responses(
        (status = 200, description = "The manifest; with `?format=html` the printout",
            content((ManifestView = "application/json"), (String = "text/html"))),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such manifest in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown format", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/manifests/{id}")]
async fn get_manifest(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<ManifestFormatQuery>,
) -> Result<HttpResponse, AppError> {
    let html = match q.format.as_deref().map(str::trim) {
        None | Some("") | Some("json") => false,
        Some("html") => true,
        Some(_) => {
            return Err(AppError::field(
                "format",
                "invalid_enum",
                "must be one of: json, html",
            ));
        }
    };
    let id: ManifestId = path_id(&id, "manifest")?;
    if html {
        let ctx = user.audit();
        let page = state.db.write(move |c| printout(c, &ctx, id)).await?;
        return Ok(html_response(page));
    }
    let org = user.org_id;
    let v = state
        .db
        .read(move |c| {
            let m = require_manifest(c, org, id)?;
            view(c, org, m)
        })
        .await?;
    Ok(HttpResponse::Ok().insert_header(etag(v.version)).json(v))
}

/// Change a draft manifest: courier, tracking number, temperature, destination, note, and
/// specimens added or removed.
#[utoipa::path(
    tag = "manifests",
    operation_id = "update_manifest",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Manifest id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being changed (optional)"),
    ),
    request_body = ManifestPatch,
    responses(
        (status = 200, description = "The changed manifest", body = ManifestView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only lab, manager and admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such manifest in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft any more, or stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them); `add_specimen_ids[i]` as at creation, `remove_specimen_ids[i]`: not_on_manifest", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/manifests/{id}")]
async fn update_manifest(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
    body: Json<ManifestPatch>,
) -> Result<HttpResponse, AppError> {
    user.require(&WRITERS)?;
    let id: ManifestId = path_id(&id, "manifest")?;
    let body = body.into_inner();
    let expected = if_match_version(&req)?.or(body.version);
    let ctx = user.audit();
    let v = state
        .db
        .write(move |c| update(c, &ctx, id, expected, &body))
        .await?;
    Ok(HttpResponse::Ok().insert_header(etag(v.version)).json(v))
}

/// Ship a draft: every specimen moves to `referred_out` (a custody event naming the destination
/// each), all or nothing.
#[utoipa::path(
    tag = "manifests",
    operation_id = "ship_manifest",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Manifest id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being shipped (optional)"),
    ),
    responses(
        (status = 200, description = "Shipped", body = ManifestView),
        (status = 400, description = "`If-Match` is not an ETag like `\"3\"`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only lab, manager and admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such manifest in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft (`allowed` lists the legal states), stale version, or specimens that cannot be referred out (`specimens` lists them; nothing moved)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/manifests/{id}/ship")]
async fn ship_manifest(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    user.require(&WRITERS)?;
    let id: ManifestId = path_id(&id, "manifest")?;
    let expected = if_match_version(&req)?;
    let ctx = user.audit();
    let role = user.role;
    let v = state
        .db
        .write(move |c| ship(c, &ctx, role, id, expected))
        .await?;
    Ok(HttpResponse::Ok().insert_header(etag(v.version)).json(v))
}

/// Record that the reference lab's results came back (results themselves are entered per test).
#[utoipa::path(
    tag = "manifests",
    operation_id = "receive_manifest_results",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Manifest id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being changed (optional)"),
    ),
    responses(
        (status = 200, description = "Results received; the manifest is closed", body = ManifestView),
        (status = 400, description = "`If-Match` is not an ETag like `\"3\"`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only lab, manager and admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such manifest in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not shipped (`allowed` lists the legal states), or stale version", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/manifests/{id}/receive-results")]
async fn receive_results(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    user.require(&WRITERS)?;
    let id: ManifestId = path_id(&id, "manifest")?;
    let expected = if_match_version(&req)?;
    let ctx = user.audit();
    let v = state
        .db
        .write(move |c| close(c, &ctx, id, expected, ManifestStatus::ResultsReceived))
        .await?;
    Ok(HttpResponse::Ok().insert_header(etag(v.version)).json(v))
}

/// Cancel a draft manifest; its specimens are free to go on another one.
#[utoipa::path(
    tag = "manifests",
    operation_id = "cancel_manifest",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Manifest id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version being changed (optional)"),
    ),
    responses(
        (status = 200, description = "Cancelled", body = ManifestView),
        (status = 400, description = "`If-Match` is not an ETag like `\"3\"`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only lab, manager and admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such manifest in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft (`allowed` lists the legal states), or stale version", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/manifests/{id}/cancel")]
async fn cancel_manifest(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    user.require(&WRITERS)?;
    let id: ManifestId = path_id(&id, "manifest")?;
    let expected = if_match_version(&req)?;
    let ctx = user.audit();
    let v = state
        .db
        .write(move |c| close(c, &ctx, id, expected, ManifestStatus::Cancelled))
        .await?;
    Ok(HttpResponse::Ok().insert_header(etag(v.version)).json(v))
}

/// The printout to hand over with the box: destination, courier, tracking, temperature, shipped
/// time, every specimen with its patient identifiers, and signature lines. Audited
/// (`manifest.print`).
#[utoipa::path(
    tag = "manifests",
    operation_id = "print_manifest",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Manifest id")),
    responses(
        (status = 200, description = "A print-ready HTML page", content_type = "text/html", body = String),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such manifest in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/manifests/{id}/print")]
async fn print_manifest(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id: ManifestId = path_id(&id, "manifest")?;
    let ctx = user.audit();
    let page = state.db.write(move |c| printout(c, &ctx, id)).await?;
    Ok(html_response(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_state_table() {
        use ManifestStatus::*;
        assert_eq!(Draft.next(), &[Shipped, Cancelled]);
        assert_eq!(Shipped.next(), &[ResultsReceived]);
        assert!(ResultsReceived.next().is_empty() && Cancelled.next().is_empty());
        assert!(Draft.is_open() && Shipped.is_open() && !ResultsReceived.is_open());
    }

    #[test]
    fn every_create_problem_at_once() {
        let body = ManifestRequest {
            destination: Some("  ".into()),
            specimen_ids: Some(vec![
                "nope".into(),
                "0195f3a4-0000-7000-8000-000000000001".into(),
                "0195f3a4-0000-7000-8000-000000000001".into(),
            ]),
            temperature: Some("warm".into()),
            ..Default::default()
        };
        let mut errs = FieldErrors::new();
        let new = body.check(&mut errs);
        assert_eq!(new.specimens.len(), 1);
        let err = errs.into_result().err();
        let Some(AppError::Validation(list)) = err else {
            panic!("expected validation errors");
        };
        let fields: Vec<&str> = list.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "destination",
                "specimen_ids[0]",
                "specimen_ids[2]",
                "temperature"
            ]
        );
    }

    #[test]
    fn patch_blank_clears() {
        let mut errs = FieldErrors::new();
        assert_eq!(
            patch_field(&mut errs, "x", Some(" "), parse_short),
            Some(None)
        );
        assert_eq!(patch_field(&mut errs, "x", None, parse_short), None);
        assert_eq!(
            patch_field(&mut errs, "x", Some("UPS"), parse_short),
            Some(Some("UPS".to_owned()))
        );
        assert!(errs.is_empty());
    }
}
