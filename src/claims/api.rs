//! Claim DTOs and the checks that turn a request into [`ClaimFields`]. Fields whose JSON type a
//! client may get wrong (`units`, `charge_cents`, pointers) are taken as raw JSON so every problem
//! comes back at once as a `422` with its path.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::repo::{Claim, ClaimFields, ClaimLine, LineFields};
use super::scrubber::{MAX_DIAGNOSES, MAX_LINES, MAX_MODIFIERS, MAX_POINTERS};
use crate::db::{ChargeId, CoverageId, DbConn, OrgId, PatientId, PayerId, ProviderId};
use crate::directory::domain::ClaimKind;
use crate::error::{AppError, FieldErrors, FieldIssue};
use crate::values::{optional, parse_date, parse_text, required};

/// A claim line as sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct LineInput {
    /// CPT/HCPCS (professional) or CDT (dental).
    #[schema(example = "99213")]
    pub procedure_code: Option<String>,
    /// Up to 4, e.g. `["25"]`.
    pub modifiers: Option<Vec<String>>,
    /// Up to 4 1-based positions in `diagnoses`.
    #[schema(value_type = Option<Vec<i64>>, example = json!([1, 2]))]
    pub diagnosis_pointers: Option<Vec<Value>>,
    /// A whole number, 0 or more (the scrubber requires more than 0).
    #[schema(value_type = i64, example = 1)]
    pub units: Option<Value>,
    /// Whole cents. Absent: the standard charge of the fee schedule for the code (and modifier).
    #[schema(value_type = Option<i64>, example = 12500)]
    pub charge_cents: Option<Value>,
    #[schema(format = Date, example = "2026-09-15")]
    pub service_date: Option<String>,
    /// Dental: universal numbering `1`–`32`, primary `A`–`T`.
    pub tooth: Option<String>,
    /// Dental: `M O D B L F I`, at most 5.
    pub surfaces: Option<Vec<String>>,
    /// Dental: the oral cavity area where no tooth applies (e.g. `01` upper arch).
    pub oral_cavity_area: Option<String>,
    /// The lab charge the line bills (kept across edits; set by `from-charges`).
    #[serde(skip)]
    pub charge_id: Option<ChargeId>,
}

/// A claim as sent (`POST` creates a draft; `PATCH` changes a draft: send only what changes —
/// `lines`, when sent, replace all lines — and the version).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ClaimRequest {
    /// `professional` or `dental`.
    #[schema(example = "professional")]
    pub kind: Option<String>,
    pub patient_id: Option<String>,
    /// A coverage of the patient; the claim goes to its payer.
    pub coverage_id: Option<String>,
    pub rendering_provider_id: Option<String>,
    /// Two digits; default: the organization's.
    #[schema(example = "11")]
    pub place_of_service: Option<String>,
    /// 1 to 12 ICD-10-CM codes, with or without the dot (`E11.9`, `E119`); the first is the principal.
    #[schema(example = json!(["E11.9", "I10"]))]
    pub diagnoses: Option<Vec<String>>,
    pub prior_authorization: Option<String>,
    pub notes: Option<String>,
    /// 1 to 50 lines.
    pub lines: Option<Vec<LineInput>>,
    /// For `PATCH`: the version being changed (or send `If-Match`).
    pub version: Option<i32>,
}

fn id_issue<E>(_: E) -> FieldIssue {
    FieldIssue::new("invalid_id", "must be an id (UUID)")
}

pub fn parse_id<T: std::str::FromStr>(raw: &str) -> Result<T, FieldIssue> {
    raw.trim().parse().map_err(id_issue)
}

/// 1 to `max` letters or digits, upper-cased (X12-safe).
fn alnum(raw: &str, max: usize) -> Result<String, FieldIssue> {
    let s = raw.trim().to_ascii_uppercase();
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(FieldIssue::new(
            "invalid_format",
            format!("must be 1 to {max} letters or digits"),
        ));
    }
    Ok(s)
}

fn integer(v: &Value) -> Result<i64, FieldIssue> {
    v.as_i64()
        .ok_or_else(|| FieldIssue::new("invalid_type", "must be a whole number"))
}

impl ClaimRequest {
    pub fn from_claim(c: &Claim, lines: &[ClaimLine]) -> Self {
        Self {
            kind: Some(c.kind.clone()),
            patient_id: Some(c.patient_id.to_string()),
            coverage_id: Some(c.coverage_id.to_string()),
            rendering_provider_id: c.rendering_provider_id.clone(),
            place_of_service: Some(c.place_of_service.clone()),
            diagnoses: Some(c.diagnosis_codes()),
            prior_authorization: c.prior_authorization.clone(),
            notes: c.notes.clone(),
            lines: Some(
                lines
                    .iter()
                    .map(|l| LineInput {
                        procedure_code: Some(l.procedure_code.clone()),
                        modifiers: Some(l.modifier_list()),
                        diagnosis_pointers: Some(
                            l.pointer_list().into_iter().map(Value::from).collect(),
                        ),
                        units: Some(l.units.into()),
                        charge_cents: Some(l.charge_cents.into()),
                        service_date: Some(l.service_date.to_string()),
                        tooth: l.tooth.clone(),
                        surfaces: Some(l.surface_list()),
                        oral_cavity_area: l.oral_cavity_area.clone(),
                        charge_id: l.charge_id.as_deref().and_then(|s| s.parse().ok()),
                    })
                    .collect(),
            ),
            version: Some(c.version),
        }
    }

    /// This patch laid over `base`.
    pub fn over(self, base: Self) -> Self {
        Self {
            kind: self.kind.or(base.kind),
            patient_id: self.patient_id.or(base.patient_id),
            coverage_id: self.coverage_id.or(base.coverage_id),
            rendering_provider_id: self.rendering_provider_id.or(base.rendering_provider_id),
            place_of_service: self.place_of_service.or(base.place_of_service),
            diagnoses: self.diagnoses.or(base.diagnoses),
            prior_authorization: self.prior_authorization.or(base.prior_authorization),
            notes: self.notes.or(base.notes),
            lines: self.lines.or(base.lines),
            version: self.version.or(base.version),
        }
    }

    /// Checks every field, looking up the patient, coverage, provider, the organization's default
    /// place of service and, for lines without a charge, the fee schedule.
    pub fn resolve(&self, conn: &mut DbConn, org: OrgId) -> Result<ClaimFields, AppError> {
        let mut errs = FieldErrors::new();
        let kind = required(
            &mut errs,
            "kind",
            self.kind.as_deref(),
            str::parse::<ClaimKind>,
        );
        let patient_id = required(
            &mut errs,
            "patient_id",
            self.patient_id.as_deref(),
            parse_id::<PatientId>,
        );
        let patient = match patient_id {
            Some(p) => crate::patients::repo::get_patient(conn, org, p)?,
            None => None,
        };
        if patient_id.is_some() && patient.is_none() {
            errs.add(
                "patient_id",
                "unknown_patient",
                "no such patient in this organization",
            );
        }
        let coverage_id = required(
            &mut errs,
            "coverage_id",
            self.coverage_id.as_deref(),
            parse_id::<CoverageId>,
        );
        let coverage = match coverage_id {
            Some(c) => crate::patients::coverage_repo::get_coverage(conn, org, c)?,
            None => None,
        };
        match (&coverage, coverage_id, patient_id) {
            (None, Some(_), _) => errs.add(
                "coverage_id",
                "unknown_coverage",
                "no such coverage in this organization",
            ),
            (Some(c), _, Some(p)) if c.patient_id != p => errs.add(
                "coverage_id",
                "coverage_not_of_patient",
                "the coverage belongs to another patient",
            ),
            _ => {}
        }
        let payer_id: Option<PayerId> = coverage.as_ref().map(|c| c.payer_id);
        let rendering = optional(
            &mut errs,
            "rendering_provider_id",
            self.rendering_provider_id.as_deref(),
            parse_id::<ProviderId>,
        );
        if let Some(r) = rendering
            && crate::directory::repo::get_provider(conn, org, r)?.is_none()
        {
            errs.add(
                "rendering_provider_id",
                "unknown_provider",
                "no such provider in this organization",
            );
        }
        let pos = match self
            .place_of_service
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(p) => errs.check("place_of_service", crate::orgs::domain::parse_pos(p)),
            None => crate::orgs::repo::get_org(conn, org)?.map(|o| o.default_place_of_service),
        };
        let diagnoses = self.diagnoses(&mut errs);
        let prior_authorization = optional(
            &mut errs,
            "prior_authorization",
            self.prior_authorization.as_deref(),
            |v| parse_text(v, 50),
        );
        let notes = optional(&mut errs, "notes", self.notes.as_deref(), |v| {
            parse_text(v, 80)
        });
        let lines = self.lines(conn, org, kind, payer_id, &mut errs)?;
        errs.into_result()?;
        match (kind, patient_id, coverage_id, payer_id, pos) {
            (
                Some(kind),
                Some(patient_id),
                Some(coverage_id),
                Some(payer_id),
                Some(place_of_service),
            ) => Ok(ClaimFields {
                kind,
                patient_id,
                coverage_id,
                payer_id,
                rendering_provider_id: rendering,
                place_of_service,
                diagnoses,
                prior_authorization,
                notes,
                lines,
            }),
            _ => Err(AppError::internal("validated claim fields missing")),
        }
    }

    fn diagnoses(&self, errs: &mut FieldErrors) -> Vec<String> {
        let Some(list) = &self.diagnoses else {
            errs.add(
                "diagnoses",
                "required",
                "is required: 1 to 12 ICD-10-CM codes",
            );
            return Vec::new();
        };
        if list.is_empty() {
            errs.add(
                "diagnoses",
                "too_few",
                "a claim needs at least one diagnosis",
            );
        }
        if list.len() > MAX_DIAGNOSES {
            errs.add(
                "diagnoses",
                "too_many",
                format!("at most {MAX_DIAGNOSES} diagnoses per claim"),
            );
        }
        let mut out = Vec::new();
        for (i, d) in list.iter().enumerate() {
            let up = d.trim().to_ascii_uppercase();
            if let Some(code) = errs.check(
                &format!("diagnoses[{i}]"),
                crate::coding::domain::normalize_icd10cm(&up),
            ) {
                out.push(code);
            }
        }
        out
    }

    fn lines(
        &self,
        conn: &mut DbConn,
        org: OrgId,
        kind: Option<ClaimKind>,
        payer: Option<PayerId>,
        errs: &mut FieldErrors,
    ) -> Result<Vec<LineFields>, AppError> {
        let Some(list) = &self.lines else {
            errs.add("lines", "required", "is required: 1 to 50 lines");
            return Ok(Vec::new());
        };
        if list.is_empty() {
            errs.add("lines", "too_few", "a claim needs at least one line");
        }
        if list.len() > MAX_LINES {
            errs.add(
                "lines",
                "too_many",
                format!("at most {MAX_LINES} lines per claim"),
            );
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (i, l) in list.iter().enumerate() {
            if let Some(line) = parse_line(conn, org, kind, payer, i, l, errs)? {
                out.push(line);
            }
        }
        Ok(out)
    }
}

fn parse_line(
    conn: &mut DbConn,
    org: OrgId,
    kind: Option<ClaimKind>,
    payer: Option<PayerId>,
    i: usize,
    l: &LineInput,
    errs: &mut FieldErrors,
) -> Result<Option<LineFields>, AppError> {
    let p = |name: &str| format!("lines[{i}].{name}");
    let code = required(
        errs,
        &p("procedure_code"),
        l.procedure_code.as_deref(),
        |v| alnum(v, 10),
    );
    let mods = l.modifiers.clone().unwrap_or_default();
    if mods.len() > MAX_MODIFIERS {
        errs.add(
            p("modifiers"),
            "too_many",
            format!("at most {MAX_MODIFIERS} modifiers"),
        );
    }
    let modifiers: Vec<String> = mods
        .iter()
        .enumerate()
        .filter_map(|(j, m)| errs.check(&format!("lines[{i}].modifiers[{j}]"), alnum(m, 4)))
        .collect();
    let ptrs = l.diagnosis_pointers.clone().unwrap_or_default();
    if ptrs.len() > MAX_POINTERS {
        errs.add(
            p("diagnosis_pointers"),
            "too_many",
            format!("at most {MAX_POINTERS} diagnosis pointers"),
        );
    }
    let pointers: Vec<i64> = ptrs
        .iter()
        .enumerate()
        .filter_map(|(j, v)| errs.check(&format!("lines[{i}].diagnosis_pointers[{j}]"), integer(v)))
        .collect();
    let units = match &l.units {
        None | Some(Value::Null) => {
            errs.add(p("units"), "required", "is required");
            None
        }
        Some(v) => errs.check(
            &p("units"),
            integer(v).and_then(|n| {
                if (0..=99_999).contains(&n) {
                    Ok(n)
                } else {
                    Err(FieldIssue::new(
                        "out_of_range",
                        "must be a whole number from 0 to 99999",
                    ))
                }
            }),
        ),
    };
    let service_date = required(
        errs,
        &p("service_date"),
        l.service_date.as_deref(),
        parse_date,
    );
    let given_charge = match &l.charge_cents {
        None | Some(Value::Null) => None,
        Some(v) => Some(errs.check(
            &p("charge_cents"),
            integer(v).and_then(|n| {
                if n.abs() <= 100_000_000_000 {
                    Ok(n)
                } else {
                    Err(FieldIssue::new("out_of_range", "is too large"))
                }
            }),
        )),
    };
    let charge = match given_charge {
        Some(c) => c,
        None => {
            let looked = match (&code, service_date) {
                (Some(c), Some(d)) if crate::coding::procedure_system(c).is_ok() => {
                    let m = modifiers
                        .first()
                        .map(String::as_str)
                        .filter(|m| crate::coding::check_modifier(m).is_ok());
                    crate::coding::fee_lookup(conn, org, payer, c, m, d)?.charge_cents
                }
                _ => None,
            };
            if looked.is_none() && code.is_some() && service_date.is_some() {
                errs.add(
                    p("charge_cents"),
                    "no_standard_charge",
                    "is required: the code has no standard charge on the fee schedule for that date",
                );
            }
            looked
        }
    };
    let dental = kind == Some(ClaimKind::Dental);
    let mut tooth = None;
    let mut surfaces = Vec::new();
    let mut oral_cavity_area = None;
    let has_dental = l.tooth.is_some()
        || l.surfaces.as_ref().is_some_and(|s| !s.is_empty())
        || l.oral_cavity_area.is_some();
    if kind == Some(ClaimKind::Professional) && has_dental {
        for (name, present) in [
            ("tooth", l.tooth.is_some()),
            (
                "surfaces",
                l.surfaces.as_ref().is_some_and(|s| !s.is_empty()),
            ),
            ("oral_cavity_area", l.oral_cavity_area.is_some()),
        ] {
            if present {
                errs.add(
                    p(name),
                    "not_allowed",
                    "only dental claims have teeth, surfaces and oral cavity areas",
                );
            }
        }
    }
    if dental {
        tooth = optional(errs, &p("tooth"), l.tooth.as_deref(), |v| alnum(v, 3));
        let list = l.surfaces.clone().unwrap_or_default();
        if list.len() > 10 {
            errs.add(p("surfaces"), "too_many", "at most 5 surfaces");
        } else {
            surfaces = list
                .iter()
                .enumerate()
                .filter_map(|(j, s)| errs.check(&format!("lines[{i}].surfaces[{j}]"), alnum(s, 2)))
                .collect();
        }
        oral_cavity_area = optional(
            errs,
            &p("oral_cavity_area"),
            l.oral_cavity_area.as_deref(),
            |v| alnum(v, 3),
        );
    }
    Ok(match (code, units, charge, service_date) {
        (Some(procedure_code), Some(units), Some(charge_cents), Some(service_date)) => {
            Some(LineFields {
                procedure_code,
                modifiers,
                pointers,
                units,
                charge_cents,
                service_date,
                tooth,
                surfaces,
                oral_cavity_area,
                charge_id: l.charge_id,
            })
        }
        _ => None,
    })
}

pub use super::views::*;
