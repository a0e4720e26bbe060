//! The claim scrubber: a pure function from a loaded claim snapshot to every finding at once.
//! The handler loads the snapshot (claim, patient, coverage, payer, providers, organization, code
//! checks, duplicate candidates); nothing here does I/O. DESIGN §6.4; codes are stable.

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::domain::{SURFACES, Tooth, surface_fits};
use crate::coding::domain::{CheckFailure, is_cdt, is_cpt, is_hcpcs};
use crate::directory::domain::{ClaimKind, Npi};

pub const MAX_DIAGNOSES: usize = 12;
pub const MAX_LINES: usize = 50;
pub const MAX_MODIFIERS: usize = 4;
pub const MAX_POINTERS: usize = 4;
pub const MAX_SURFACES: usize = 5;
pub const DEFAULT_TIMELY_FILING_DAYS: i64 = 365;

/// Every finding code, with its severity and meaning (the OpenAPI description and the README
/// list the same).
pub const CODES: &[(&str, &str, &str)] = &[
    (
        "billing_npi_missing",
        "error",
        "the organization has no billing NPI",
    ),
    (
        "npi_check_digit",
        "error",
        "the billing NPI fails the Luhn check",
    ),
    (
        "rendering_npi_check_digit",
        "error",
        "the rendering provider's NPI fails the Luhn check",
    ),
    (
        "rendering_provider_inactive",
        "warning",
        "the rendering provider is deactivated",
    ),
    (
        "member_id_missing",
        "error",
        "the coverage has no member id",
    ),
    (
        "subscriber_missing_field",
        "error",
        "the subscriber (patient is not the subscriber) lacks a name, birth date, sex or address part",
    ),
    (
        "coverage_not_effective",
        "error",
        "the coverage is inactive or not effective on a line's date of service",
    ),
    (
        "payer_kind_mismatch",
        "error",
        "the payer does not accept this kind of claim",
    ),
    (
        "pos_unknown",
        "error",
        "the place of service is not in the loaded CMS table",
    ),
    ("dx_missing", "error", "the claim has no diagnosis"),
    ("dx_limit", "error", "more than 12 diagnoses"),
    ("dx_format", "error", "not an ICD-10-CM code"),
    ("dx_unknown", "error", "not in the loaded ICD-10-CM table"),
    (
        "dx_not_billable",
        "error",
        "an ICD-10-CM category header, not a billable code (E11)",
    ),
    (
        "dx_not_effective",
        "error",
        "the ICD-10-CM code is not valid on the date of service",
    ),
    (
        "dx_duplicate",
        "warning",
        "the same diagnosis is listed twice",
    ),
    ("lines_missing", "error", "the claim has no line"),
    ("line_limit", "error", "more than 50 lines"),
    (
        "procedure_format",
        "error",
        "not a CPT, HCPCS Level II or CDT code",
    ),
    (
        "procedure_unknown",
        "error",
        "not in the organization's imported table for that system (only when one is imported)",
    ),
    (
        "procedure_not_effective",
        "error",
        "the procedure code is not effective on the date of service (imported table)",
    ),
    (
        "procedure_wrong_kind",
        "error",
        "a CDT code on a professional claim, or a CPT/HCPCS code on a dental claim",
    ),
    ("modifier_limit", "error", "more than 4 modifiers"),
    (
        "modifier_format",
        "error",
        "a modifier is not two letters or digits",
    ),
    ("pointer_limit", "error", "more than 4 diagnosis pointers"),
    (
        "pointer_out_of_range",
        "error",
        "a diagnosis pointer does not point into the claim's diagnoses",
    ),
    (
        "pointer_duplicate",
        "error",
        "a line points to the same diagnosis twice",
    ),
    (
        "line_without_pointer",
        "error",
        "a professional line has no diagnosis pointer",
    ),
    ("units_not_positive", "error", "units must be more than 0"),
    (
        "charge_not_positive",
        "error",
        "the line charge must be more than 0",
    ),
    (
        "service_date_future",
        "error",
        "the date of service is after today",
    ),
    (
        "service_date_before_birth",
        "error",
        "the date of service is before the patient's birth",
    ),
    (
        "tooth_invalid",
        "error",
        "not a tooth in universal numbering (1-32, A-T)",
    ),
    ("surface_invalid", "error", "not a surface (M O D B L F I)"),
    (
        "surface_not_for_tooth",
        "error",
        "O/B only on posterior teeth, I/F only on anterior teeth",
    ),
    (
        "surface_without_tooth",
        "error",
        "surfaces given without a tooth",
    ),
    ("too_many_surfaces", "error", "more than 5 surfaces"),
    (
        "duplicate_claim",
        "error",
        "another live claim has the same patient, payer, dates of service and codes",
    ),
    (
        "timely_filing",
        "warning",
        "the date of service is older than the payer's filing limit (else the organization's, default 365 days)",
    ),
];

/// How serious a finding is: `error` blocks `ready`, `warning` does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem the scrubber found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Finding {
    /// Stable code (see the endpoint description).
    #[schema(example = "pointer_out_of_range")]
    pub code: String,
    /// Path of the field, e.g. `lines[0].diagnosis_pointers[1]`.
    #[schema(example = "lines[0].diagnosis_pointers[1]")]
    pub field: String,
    pub severity: Severity,
    pub message: String,
}

/// Why a code failed its check (from `crate::coding::check_code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeProblem {
    pub reason: CheckFailure,
    pub message: String,
}

/// The coverage as the scrubber needs it.
#[derive(Debug, Clone, Default)]
pub struct CoverageSnap {
    pub member_id: String,
    pub is_self: bool,
    pub active: bool,
    pub effective_from: Option<NaiveDate>,
    pub effective_to: Option<NaiveDate>,
    pub subscriber_first_name: Option<String>,
    pub subscriber_last_name: Option<String>,
    pub subscriber_birth_date: Option<NaiveDate>,
    pub subscriber_sex: Option<String>,
    pub subscriber_address_line1: Option<String>,
    pub subscriber_city: Option<String>,
    pub subscriber_state: Option<String>,
    pub subscriber_postal_code: Option<String>,
}

/// A rendering provider.
#[derive(Debug, Clone)]
pub struct ProviderSnap {
    pub npi: String,
    pub active: bool,
}

/// A claim line with the checks of its procedure code.
#[derive(Debug, Clone, Default)]
pub struct LineSnap {
    pub procedure_code: String,
    pub modifiers: Vec<String>,
    pub pointers: Vec<i64>,
    pub units: i64,
    pub charge_cents: i64,
    pub service_date: NaiveDate,
    pub tooth: Option<String>,
    pub surfaces: Vec<String>,
    /// `None` when the code is valid (or the system has no imported table).
    pub procedure_problem: Option<CodeProblem>,
}

/// Another claim that might duplicate this one.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub patient_control_number: String,
    /// (date of service, procedure code) of each line.
    pub lines: Vec<(NaiveDate, String)>,
}

/// Everything the scrubber looks at.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub today: NaiveDate,
    pub kind: ClaimKind,
    pub payer_claim_kind: ClaimKind,
    pub billing_npi: Option<String>,
    pub rendering: Option<ProviderSnap>,
    pub patient_birth_date: NaiveDate,
    pub coverage: CoverageSnap,
    pub payer_timely_filing_days: Option<i32>,
    pub org_timely_filing_days: Option<i32>,
    pub pos_problem: Option<CodeProblem>,
    /// Stored codes, in claim order.
    pub diagnoses: Vec<String>,
    /// Parallel to `diagnoses`.
    pub diagnosis_problems: Vec<Option<CodeProblem>>,
    pub lines: Vec<LineSnap>,
    /// Live claims of the same patient and payer (this claim excluded).
    pub candidates: Vec<Candidate>,
}

struct Out(Vec<Finding>);

impl Out {
    fn error(&mut self, code: &str, field: impl Into<String>, message: impl Into<String>) {
        self.push(code, field, Severity::Error, message);
    }
    fn warning(&mut self, code: &str, field: impl Into<String>, message: impl Into<String>) {
        self.push(code, field, Severity::Warning, message);
    }
    fn push(
        &mut self,
        code: &str,
        field: impl Into<String>,
        severity: Severity,
        message: impl Into<String>,
    ) {
        self.0.push(Finding {
            code: code.to_owned(),
            field: field.into(),
            severity,
            message: message.into(),
        });
    }
}

/// True when any finding is an error.
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Error)
}

/// Every finding of the claim, in a stable order (claim-level first, then line by line).
pub fn scrub(s: &Snapshot) -> Vec<Finding> {
    let mut out = Out(Vec::new());
    providers(s, &mut out);
    coverage(s, &mut out);
    diagnoses(s, &mut out);
    if s.lines.is_empty() {
        out.error("lines_missing", "lines", "a claim needs at least one line");
    }
    if s.lines.len() > MAX_LINES {
        out.error(
            "line_limit",
            "lines",
            format!("at most {MAX_LINES} lines per claim; split it"),
        );
    }
    for (i, line) in s.lines.iter().enumerate() {
        line_rules(s, i, line, &mut out);
    }
    duplicates(s, &mut out);
    out.0
}

fn providers(s: &Snapshot, out: &mut Out) {
    match s
        .billing_npi
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        None => out.error(
            "billing_npi_missing",
            "billing_provider.npi",
            "the organization has no billing NPI; set it in the organization settings",
        ),
        Some(npi) => {
            if Npi::parse(npi).is_err() {
                out.error(
                    "npi_check_digit",
                    "billing_provider.npi",
                    "the billing NPI is not 10 digits with a valid check digit",
                );
            }
        }
    }
    if let Some(r) = &s.rendering {
        if Npi::parse(&r.npi).is_err() {
            out.error(
                "rendering_npi_check_digit",
                "rendering_provider_id",
                "the rendering provider's NPI is not 10 digits with a valid check digit",
            );
        }
        if !r.active {
            out.warning(
                "rendering_provider_inactive",
                "rendering_provider_id",
                "the rendering provider is deactivated",
            );
        }
    }
    if s.kind != s.payer_claim_kind {
        out.error(
            "payer_kind_mismatch",
            "kind",
            format!(
                "the payer accepts {} claims, not {}",
                s.payer_claim_kind, s.kind
            ),
        );
    }
    if let Some(p) = &s.pos_problem {
        out.error("pos_unknown", "place_of_service", p.message.clone());
    }
}

fn blank(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(|s| s.trim().is_empty())
}

fn coverage(s: &Snapshot, out: &mut Out) {
    let c = &s.coverage;
    if c.member_id.trim().is_empty() {
        out.error(
            "member_id_missing",
            "coverage.member_id",
            "the coverage has no member id",
        );
    }
    if !c.is_self {
        let text = [
            ("first_name", &c.subscriber_first_name),
            ("last_name", &c.subscriber_last_name),
            ("sex", &c.subscriber_sex),
            ("address.line1", &c.subscriber_address_line1),
            ("address.city", &c.subscriber_city),
            ("address.state", &c.subscriber_state),
            ("address.postal_code", &c.subscriber_postal_code),
        ];
        let mut missing: Vec<&str> = Vec::new();
        for (name, v) in text {
            if blank(v) {
                missing.push(name);
            }
        }
        if c.subscriber_birth_date.is_none() {
            missing.insert(2, "birth_date");
        }
        for name in missing {
            out.error(
                "subscriber_missing_field",
                format!("coverage.subscriber.{name}"),
                format!(
                    "the subscriber's {} is required when the patient is not the subscriber",
                    name.replace('_', " ")
                ),
            );
        }
    }
}

fn diagnoses(s: &Snapshot, out: &mut Out) {
    if s.diagnoses.is_empty() {
        out.error(
            "dx_missing",
            "diagnoses",
            "a claim needs at least one diagnosis",
        );
    }
    if s.diagnoses.len() > MAX_DIAGNOSES {
        out.error(
            "dx_limit",
            "diagnoses",
            format!("at most {MAX_DIAGNOSES} diagnoses per claim"),
        );
    }
    let mut seen = HashSet::new();
    for (i, code) in s.diagnoses.iter().enumerate() {
        let field = format!("diagnoses[{i}]");
        if !seen.insert(code.as_str()) {
            out.warning(
                "dx_duplicate",
                field.clone(),
                format!("{code} is listed more than once"),
            );
        }
        if let Some(Some(p)) = s.diagnosis_problems.get(i) {
            let code = match p.reason {
                CheckFailure::InvalidFormat => "dx_format",
                CheckFailure::UnknownCode => "dx_unknown",
                CheckFailure::NotBillable => "dx_not_billable",
                CheckFailure::NotEffective => "dx_not_effective",
            };
            out.error(code, field, p.message.clone());
        }
    }
}

fn line_rules(s: &Snapshot, i: usize, l: &LineSnap, out: &mut Out) {
    let f = |name: &str| format!("lines[{i}].{name}");
    procedure(s, i, l, out);
    if l.modifiers.len() > MAX_MODIFIERS {
        out.error(
            "modifier_limit",
            f("modifiers"),
            format!("at most {MAX_MODIFIERS} modifiers"),
        );
    }
    for (j, m) in l.modifiers.iter().enumerate() {
        if crate::coding::check_modifier(m).is_err() || m.trim().len() != 2 {
            out.error(
                "modifier_format",
                format!("lines[{i}].modifiers[{j}]"),
                "a modifier is two letters or digits (25, LT)",
            );
        }
    }
    pointers(s, i, l, out);
    if l.units <= 0 {
        out.error(
            "units_not_positive",
            f("units"),
            "units must be more than 0",
        );
    }
    if l.charge_cents <= 0 {
        out.error(
            "charge_not_positive",
            f("charge_cents"),
            "the charge must be more than 0",
        );
    }
    dates(s, i, l, out);
    if s.kind == ClaimKind::Dental {
        teeth(i, l, out);
    }
}

fn procedure(s: &Snapshot, i: usize, l: &LineSnap, out: &mut Out) {
    let field = format!("lines[{i}].procedure_code");
    let code = l.procedure_code.trim().to_ascii_uppercase();
    let dental = is_cdt(&code);
    let medical = is_cpt(&code) || is_hcpcs(&code);
    if !dental && !medical {
        out.error(
            "procedure_format",
            field,
            "not a procedure code: CPT (99213), HCPCS Level II (J1100) or CDT (D0120)",
        );
        return;
    }
    match (s.kind, dental) {
        (ClaimKind::Professional, true) => {
            out.error(
                "procedure_wrong_kind",
                field.clone(),
                format!(
                    "{code} is a CDT (dental) code; a professional claim takes CPT or HCPCS codes"
                ),
            );
        }
        (ClaimKind::Dental, false) => {
            out.error(
                "procedure_wrong_kind",
                field.clone(),
                format!("{code} is a CPT/HCPCS code; a dental claim takes CDT codes"),
            );
        }
        _ => {}
    }
    if let Some(p) = &l.procedure_problem {
        match p.reason {
            CheckFailure::InvalidFormat => out.error("procedure_format", field, p.message.clone()),
            CheckFailure::NotEffective => {
                out.error("procedure_not_effective", field, p.message.clone())
            }
            CheckFailure::UnknownCode | CheckFailure::NotBillable => {
                out.error("procedure_unknown", field, p.message.clone())
            }
        }
    }
}

fn pointers(s: &Snapshot, i: usize, l: &LineSnap, out: &mut Out) {
    if l.pointers.is_empty() && s.kind == ClaimKind::Professional {
        out.error(
            "line_without_pointer",
            format!("lines[{i}].diagnosis_pointers"),
            "a professional line needs at least one diagnosis pointer",
        );
    }
    if l.pointers.len() > MAX_POINTERS {
        out.error(
            "pointer_limit",
            format!("lines[{i}].diagnosis_pointers"),
            format!("at most {MAX_POINTERS} diagnosis pointers"),
        );
    }
    let n = s.diagnoses.len() as i64;
    let mut seen = HashSet::new();
    for (j, &p) in l.pointers.iter().enumerate() {
        let field = format!("lines[{i}].diagnosis_pointers[{j}]");
        if p < 1 || p > n {
            out.error(
                "pointer_out_of_range",
                field.clone(),
                format!("points to diagnosis {p}, but the claim has {n}"),
            );
        }
        if !seen.insert(p) {
            out.error(
                "pointer_duplicate",
                field,
                format!("diagnosis {p} is pointed to twice"),
            );
        }
    }
}

fn dates(s: &Snapshot, i: usize, l: &LineSnap, out: &mut Out) {
    let field = format!("lines[{i}].service_date");
    let d = l.service_date;
    if d > s.today {
        out.error(
            "service_date_future",
            field.clone(),
            format!("{d} is in the future"),
        );
    }
    if d < s.patient_birth_date {
        out.error(
            "service_date_before_birth",
            field.clone(),
            format!("{d} is before the patient's birth"),
        );
    }
    let c = &s.coverage;
    let in_period =
        c.effective_from.is_none_or(|f| f <= d) && c.effective_to.is_none_or(|t| d <= t);
    if !c.active || !in_period {
        out.error(
            "coverage_not_effective",
            field.clone(),
            format!("the coverage is not effective on {d}"),
        );
    }
    let limit = s
        .payer_timely_filing_days
        .or(s.org_timely_filing_days)
        .map(i64::from)
        .unwrap_or(DEFAULT_TIMELY_FILING_DAYS);
    if d <= s.today && (s.today - d).num_days() > limit {
        out.warning(
            "timely_filing",
            field,
            format!("{d} is more than {limit} days ago: past the filing limit"),
        );
    }
}

fn teeth(i: usize, l: &LineSnap, out: &mut Out) {
    let tooth = match l.tooth.as_deref() {
        None => None,
        Some(raw) => match Tooth::parse(raw) {
            Some(t) => Some(t),
            None => {
                out.error(
                    "tooth_invalid",
                    format!("lines[{i}].tooth"),
                    "not a tooth: universal numbering 1-32 (permanent) or A-T (primary)",
                );
                None
            }
        },
    };
    if l.surfaces.len() > MAX_SURFACES {
        out.error(
            "too_many_surfaces",
            format!("lines[{i}].surfaces"),
            format!("at most {MAX_SURFACES} surfaces"),
        );
    }
    if !l.surfaces.is_empty() && l.tooth.is_none() {
        out.error(
            "surface_without_tooth",
            format!("lines[{i}].surfaces"),
            "surfaces need a tooth",
        );
    }
    for (j, raw) in l.surfaces.iter().enumerate() {
        let field = format!("lines[{i}].surfaces[{j}]");
        let sfc = raw.trim().to_ascii_uppercase();
        if !SURFACES.contains(&sfc.as_str()) {
            out.error(
                "surface_invalid",
                field,
                "not a surface: M, O, D, B, L, F or I",
            );
            continue;
        }
        if let Some(t) = tooth
            && !surface_fits(&sfc, t)
        {
            let which = if t.is_anterior() {
                "an anterior"
            } else {
                "a posterior"
            };
            out.error(
                "surface_not_for_tooth",
                field,
                format!("surface {sfc} is not valid on {which} tooth"),
            );
        }
    }
}

fn line_keys(lines: &[(NaiveDate, String)]) -> Vec<(NaiveDate, String)> {
    let mut v: Vec<_> = lines
        .iter()
        .map(|(d, c)| (*d, c.trim().to_ascii_uppercase()))
        .collect();
    v.sort();
    v
}

fn duplicates(s: &Snapshot, out: &mut Out) {
    if s.lines.is_empty() {
        return;
    }
    let mine = line_keys(
        &s.lines
            .iter()
            .map(|l| (l.service_date, l.procedure_code.clone()))
            .collect::<Vec<_>>(),
    );
    for c in &s.candidates {
        if line_keys(&c.lines) == mine {
            out.error(
                "duplicate_claim",
                "lines",
                format!(
                    "claim {} has the same patient, payer, dates of service and codes",
                    c.patient_control_number
                ),
            );
        }
    }
}

#[cfg(test)]
#[path = "scrubber_tests.rs"]
mod tests;
