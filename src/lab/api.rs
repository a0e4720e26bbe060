//! Lab DTOs.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::domain::{
    LabPriority, Location, ResultFlag, SpecimenStatus, SpecimenType, TestCodeSystem,
    parse_reject_reason,
};
use super::repo::{
    Change, Charge, CustodyEvent, NewSpecimen, NewTest, ResultInput, Specimen, SpecimenTest,
    TestResult,
};
use crate::coding::domain::{check_loinc, procedure_system};
use crate::db::{PatientId, ProviderId};
use crate::error::{AppError, FieldErrors, FieldIssue};
use crate::values::{optional, parse_text, required};

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct TestRequest {
    /// `loinc` or `local`.
    #[schema(example = "loinc")]
    pub code_system: Option<String>,
    #[schema(example = "24323-8")]
    pub code: Option<String>,
    #[schema(example = "Comprehensive metabolic panel")]
    pub name: Option<String>,
    /// CPT or HCPCS code billed once the result is verified.
    #[schema(example = "80053")]
    pub billing_code: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct SpecimenRequest {
    pub patient_id: Option<String>,
    /// blood, serum, plasma, urine, saliva, swab, tissue, other.
    #[schema(example = "serum")]
    pub specimen_type: Option<String>,
    #[schema(example = "SST gold top 5 mL")]
    pub container: Option<String>,
    pub ordering_provider_id: Option<String>,
    /// `routine` (default) or `stat`.
    #[schema(example = "routine")]
    pub priority: Option<String>,
    /// RFC 3339; given → the specimen starts `collected`, else `ordered`.
    #[schema(format = DateTime)]
    pub collected_at: Option<String>,
    /// Who drew or collected it.
    pub collected_by: Option<String>,
    pub tests: Option<Vec<TestRequest>>,
}

fn id_issue<T>(_: T) -> FieldIssue {
    FieldIssue::new("invalid_id", "must be an id (UUID)")
}

fn parse_local_code(raw: &str) -> Result<String, FieldIssue> {
    let s = raw.trim().to_ascii_uppercase();
    if s.is_empty()
        || s.len() > 20
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(FieldIssue::new(
            "invalid_format",
            "a local code has 1 to 20 letters, digits, '-' or '_'",
        ));
    }
    Ok(s)
}

/// An instant in RFC 3339, not more than 5 minutes in the future.
pub fn parse_past_instant(raw: &str, now: DateTime<Utc>) -> Result<NaiveDateTime, FieldIssue> {
    let t = DateTime::parse_from_rfc3339(raw.trim())
        .map_err(|_| {
            FieldIssue::new(
                "invalid_instant",
                "must be an RFC 3339 instant, e.g. 2026-11-27T08:30:00Z",
            )
        })?
        .with_timezone(&Utc);
    if t > now + chrono::Duration::minutes(5) {
        return Err(FieldIssue::new(
            "future_instant",
            "must not be in the future",
        ));
    }
    // Microseconds, what both backends store: the answer built from the request then shows
    // what a later read returns.
    let t = t.naive_utc();
    Ok(t.with_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t))
}

impl SpecimenRequest {
    pub fn patient_id(&self) -> Option<PatientId> {
        self.patient_id
            .as_deref()
            .and_then(|s| s.trim().parse().ok())
    }
    pub fn provider_id(&self) -> Option<ProviderId> {
        self.ordering_provider_id
            .as_deref()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Checks everything; the handler says whether the patient and the ordering provider exist
    /// in the caller's organization.
    pub fn validate(
        &self,
        patient_found: bool,
        provider_found: bool,
        now: DateTime<Utc>,
    ) -> Result<NewSpecimen, AppError> {
        let mut errs = FieldErrors::new();
        let patient_id = required(&mut errs, "patient_id", self.patient_id.as_deref(), |v| {
            v.trim().parse::<PatientId>().map_err(id_issue)
        });
        if patient_id.is_some() && !patient_found {
            errs.add(
                "patient_id",
                "unknown_patient",
                "no such patient in this organization",
            );
        }
        let specimen_type = required(
            &mut errs,
            "specimen_type",
            self.specimen_type.as_deref(),
            str::parse::<SpecimenType>,
        );
        let container = optional(&mut errs, "container", self.container.as_deref(), |v| {
            parse_text(v, 60)
        });
        let ordering_provider_id = optional(
            &mut errs,
            "ordering_provider_id",
            self.ordering_provider_id.as_deref(),
            |v| v.trim().parse::<ProviderId>().map_err(id_issue),
        );
        if ordering_provider_id.is_some() && !provider_found {
            errs.add(
                "ordering_provider_id",
                "unknown_provider",
                "no such provider in this organization",
            );
        }
        let priority = optional(
            &mut errs,
            "priority",
            self.priority.as_deref(),
            str::parse::<LabPriority>,
        );
        let collected_at = optional(
            &mut errs,
            "collected_at",
            self.collected_at.as_deref(),
            |v| parse_past_instant(v, now),
        );
        let collected_by = optional(
            &mut errs,
            "collected_by",
            self.collected_by.as_deref(),
            |v| parse_text(v, 60),
        );
        let mut tests = Vec::new();
        match &self.tests {
            None => errs.add("tests", "required", "at least one test is required"),
            Some(list) if list.is_empty() || list.len() > 50 => {
                errs.add("tests", "out_of_range", "must list 1 to 50 tests")
            }
            Some(list) => {
                for (i, t) in list.iter().enumerate() {
                    let f = |n: &str| format!("tests[{i}].{n}");
                    let system = required(
                        &mut errs,
                        &f("code_system"),
                        t.code_system.as_deref(),
                        str::parse::<TestCodeSystem>,
                    );
                    let code = match (system, t.code.as_deref()) {
                        (_, None) => {
                            errs.add(f("code"), "required", "is required");
                            None
                        }
                        (Some(TestCodeSystem::Loinc), Some(c)) => errs.check(
                            &f("code"),
                            check_loinc(c.trim()).map(|_| c.trim().to_owned()),
                        ),
                        (_, Some(c)) => errs.check(&f("code"), parse_local_code(c)),
                    };
                    let name = required(&mut errs, &f("name"), t.name.as_deref(), |v| {
                        parse_text(v, 100)
                    });
                    let billing_code = optional(
                        &mut errs,
                        &f("billing_code"),
                        t.billing_code.as_deref(),
                        |v| procedure_system(v).map(|(_, c)| c),
                    );
                    if let (Some(code_system), Some(code), Some(name)) = (system, code, name) {
                        tests.push(NewTest {
                            code_system,
                            code,
                            name,
                            billing_code,
                        });
                    }
                }
            }
        }
        errs.into_result()?;
        match (patient_id, specimen_type) {
            (Some(patient_id), Some(specimen_type)) => Ok(NewSpecimen {
                patient_id,
                specimen_type,
                container,
                ordering_provider_id,
                priority: priority.unwrap_or(LabPriority::Routine),
                collected_at,
                collected_by,
                tests,
            }),
            _ => Err(AppError::internal("validated specimen fields missing")),
        }
    }
}

/// The current result of a test (its latest version).
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultView {
    pub id: String,
    /// 1 for the first entry; each correction adds one.
    pub result_version: i32,
    pub value: String,
    pub unit: Option<String>,
    pub reference_range: Option<String>,
    pub flag: Option<String>,
    pub comment: Option<String>,
    pub entered_by: String,
    pub entered_at: DateTime<Utc>,
    pub verified_by: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
}

impl From<TestResult> for ResultView {
    fn from(r: TestResult) -> Self {
        Self {
            id: r.id.to_string(),
            result_version: r.result_version,
            value: r.value,
            unit: r.unit,
            reference_range: r.reference_range,
            flag: r.flag,
            comment: r.comment,
            entered_by: r.entered_by,
            entered_at: r.entered_at.and_utc(),
            verified_by: r.verified_by,
            verified_at: r.verified_at.map(|t| t.and_utc()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestView {
    pub id: String,
    pub code_system: TestCodeSystem,
    pub code: String,
    pub name: String,
    pub billing_code: Option<String>,
    /// The latest result version, if any.
    pub result: Option<ResultView>,
    /// How many result versions exist (corrections included).
    pub result_versions: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SpecimenView {
    pub id: String,
    #[schema(example = "L26-0001237")]
    pub accession_number: String,
    /// The parent specimen of an aliquot.
    pub parent_id: Option<String>,
    pub aliquot_count: i32,
    pub patient_id: String,
    pub specimen_type: SpecimenType,
    pub container: Option<String>,
    pub volume_ml: Option<f64>,
    pub ordering_provider_id: Option<String>,
    pub priority: LabPriority,
    pub status: SpecimenStatus,
    /// The states this specimen may go to next.
    pub allowed_transitions: Vec<SpecimenStatus>,
    pub collected_at: Option<DateTime<Utc>>,
    pub collected_by: Option<String>,
    pub received_at: Option<DateTime<Utc>>,
    pub location: Option<Location>,
    pub rejection_reasons: Vec<String>,
    pub tests: Vec<TestView>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SpecimenView {
    pub fn new(s: Specimen, tests: Vec<SpecimenTest>, results: Vec<TestResult>) -> Self {
        let tests = tests
            .into_iter()
            .map(|t| {
                let mine: Vec<&TestResult> = results.iter().filter(|r| r.test_id == t.id).collect();
                TestView {
                    id: t.id.to_string(),
                    code_system: t.code_system,
                    code: t.code,
                    name: t.name,
                    billing_code: t.billing_code,
                    result_versions: mine.len() as i32,
                    result: mine.last().map(|r| ResultView::from((*r).clone())),
                }
            })
            .collect();
        Self {
            id: s.id.to_string(),
            accession_number: s.accession_number,
            parent_id: s.parent_id,
            aliquot_count: s.aliquot_count,
            patient_id: s.patient_id.to_string(),
            specimen_type: s.specimen_type,
            container: s.container,
            volume_ml: s.volume_ul.map(|v| v as f64 / 1000.0),
            ordering_provider_id: s.ordering_provider_id,
            priority: s.priority,
            allowed_transitions: s.status.allowed(),
            status: s.status,
            collected_at: s.collected_at.map(|t| t.and_utc()),
            collected_by: s.collected_by,
            received_at: s.received_at.map(|t| t.and_utc()),
            location: s.location.as_deref().map(Location::from_canonical),
            rejection_reasons: s
                .rejection_reasons
                .map(|r| r.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            tests,
            version: s.version,
            created_at: s.created_at.and_utc(),
            updated_at: s.updated_at.and_utc(),
        }
    }
}

/// A custody change: `to` a state from the transition table, or `store` to move the specimen
/// without changing its state (then `location` is required).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct EventRequest {
    #[schema(example = "received")]
    pub to: Option<String>,
    pub location: Option<Location>,
    #[schema(example = 4.0)]
    pub temperature_c: Option<f64>,
    pub note: Option<String>,
    /// HL7 table 0490 codes; at least one when `to` is `rejected`.
    #[schema(example = json!(["RH"]))]
    pub reasons: Option<Vec<String>>,
    /// The version being changed (or send `If-Match`); optional.
    pub version: Option<i32>,
}

impl EventRequest {
    pub fn validate(&self) -> Result<Change, AppError> {
        let mut errs = FieldErrors::new();
        let location = match &self.location {
            Some(l) => errs.check("location", l.canonical()),
            None => None,
        };
        let temperature_c = match self.temperature_c {
            Some(t) if !(-273.0..=100.0).contains(&t) || !t.is_finite() => {
                errs.add(
                    "temperature_c",
                    "out_of_range",
                    "must be between -273 and 100 °C",
                );
                None
            }
            t => t,
        };
        let note = optional(&mut errs, "note", self.note.as_deref(), |v| {
            parse_text(v, 500)
        });
        let mut reasons = Vec::new();
        for (i, r) in self.reasons.iter().flatten().enumerate() {
            if let Some(r) = errs.check(&format!("reasons[{i}]"), parse_reject_reason(r))
                && !reasons.contains(&r)
            {
                reasons.push(r);
            }
        }
        let change = match self.to.as_deref().map(str::trim) {
            None | Some("") => {
                errs.add("to", "required", "is required: a state, or store");
                None
            }
            Some("store") => {
                if self.location.is_none() {
                    errs.add("location", "required", "is required to store a specimen");
                }
                location.clone().map(|location| Change::Store {
                    location,
                    temperature_c,
                    note: note.clone(),
                })
            }
            Some(raw) => match errs.check("to", raw.parse::<SpecimenStatus>()) {
                Some(to) => {
                    if to == SpecimenStatus::Rejected
                        && self.reasons.as_ref().is_none_or(Vec::is_empty)
                    {
                        errs.add(
                            "reasons",
                            "required",
                            "a rejection needs at least one HL7 table 0490 reason code",
                        );
                    }
                    if to == SpecimenStatus::EnteredInError && note.is_none() {
                        errs.add(
                            "note",
                            "required",
                            "say why the specimen was entered in error",
                        );
                    }
                    Some(Change::To {
                        to,
                        location: location.clone(),
                        temperature_c,
                        note: note.clone(),
                        reasons: reasons.clone(),
                    })
                }
                None => None,
            },
        };
        errs.into_result()?;
        change.ok_or_else(|| AppError::internal("validated event missing"))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: String,
    /// Absent on the first event (registration or aliquoting).
    pub from: Option<String>,
    pub to: String,
    /// `register`, `transition`, `store`, `aliquot` or `cascade`.
    pub kind: String,
    pub actor_id: String,
    pub at: DateTime<Utc>,
    pub location: Option<Location>,
    pub temperature_c: Option<f64>,
    pub note: Option<String>,
    pub reasons: Vec<String>,
}

impl From<CustodyEvent> for EventView {
    fn from(e: CustodyEvent) -> Self {
        Self {
            id: e.id.to_string(),
            from: e.from_status,
            to: e.to_status,
            kind: e.kind,
            actor_id: e.actor_id,
            at: e.at.and_utc(),
            location: e.location.as_deref().map(Location::from_canonical),
            temperature_c: e.temperature_c,
            note: e.note,
            reasons: e
                .reasons
                .map(|r| r.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
        }
    }
}

/// The answer to a custody change.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionView {
    pub specimen: SpecimenView,
    /// Aliquots rejected along with their parent.
    pub cascaded: Vec<String>,
    /// Aliquots whose state did not allow the rejection to cascade (already resulted, …).
    pub cascade_skipped: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct AliquotRequest {
    /// 1 to 20.
    #[schema(example = 2)]
    pub count: Option<i64>,
    pub container: Option<String>,
    #[schema(example = 0.5)]
    pub volume_ml: Option<f64>,
}

impl AliquotRequest {
    pub fn validate(&self) -> Result<(i32, Option<String>, Option<i64>), AppError> {
        let mut errs = FieldErrors::new();
        let count = match self.count {
            Some(n) if (1..=20).contains(&n) => Some(n as i32),
            Some(_) => {
                errs.add("count", "out_of_range", "must be between 1 and 20");
                None
            }
            None => {
                errs.add("count", "required", "is required");
                None
            }
        };
        let container = optional(&mut errs, "container", self.container.as_deref(), |v| {
            parse_text(v, 60)
        });
        let volume_ul = match self.volume_ml {
            Some(v) if v.is_finite() && v > 0.0 && v <= 1000.0 => Some((v * 1000.0).round() as i64),
            Some(_) => {
                errs.add(
                    "volume_ml",
                    "out_of_range",
                    "must be more than 0 and at most 1000 mL",
                );
                None
            }
            None => None,
        };
        errs.into_result()?;
        Ok((count.unwrap_or(1), container, volume_ul))
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ResultRequest {
    #[schema(example = "5.4")]
    pub value: Option<String>,
    #[schema(example = "mmol/L")]
    pub unit: Option<String>,
    #[schema(example = "3.5-5.1")]
    pub reference_range: Option<String>,
    /// `N`, `L`, `H`, `LL`, `HH` or `A`.
    #[schema(example = "H")]
    pub flag: Option<String>,
    pub comment: Option<String>,
}

impl ResultRequest {
    pub fn validate(&self) -> Result<ResultInput, AppError> {
        let mut errs = FieldErrors::new();
        let value = required(&mut errs, "value", self.value.as_deref(), |v| {
            parse_text(v, 200)
        });
        let unit = optional(&mut errs, "unit", self.unit.as_deref(), |v| {
            parse_text(v, 30)
        });
        let reference_range = optional(
            &mut errs,
            "reference_range",
            self.reference_range.as_deref(),
            |v| parse_text(v, 60),
        );
        let flag = optional(
            &mut errs,
            "flag",
            self.flag.as_deref(),
            str::parse::<ResultFlag>,
        );
        let comment = optional(&mut errs, "comment", self.comment.as_deref(), |v| {
            parse_text(v, 1000)
        });
        errs.into_result()?;
        Ok(ResultInput {
            value: value.unwrap_or_default(),
            unit,
            reference_range,
            flag,
            comment,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChargeView {
    pub id: String,
    pub patient_id: String,
    pub specimen_id: String,
    pub test_id: String,
    #[schema(example = "80053")]
    pub procedure_code: String,
    /// The collection date.
    pub service_date: NaiveDate,
    /// The standard fee-schedule charge; absent when the code has no fee.
    pub amount_cents: Option<i64>,
    /// `unbilled` until a claim line takes it.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

impl From<Charge> for ChargeView {
    fn from(c: Charge) -> Self {
        Self {
            id: c.id.to_string(),
            patient_id: c.patient_id.to_string(),
            specimen_id: c.specimen_id.to_string(),
            test_id: c.test_id.to_string(),
            procedure_code: c.procedure_code,
            service_date: c.service_date,
            amount_cents: c.amount_cents,
            status: c.status,
            created_at: c.created_at.and_utc(),
        }
    }
}

/// Filters for `GET /api/v1/specimens`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SpecimenQuery {
    /// A state, e.g. `rejected`.
    pub status: Option<String>,
    /// A rejection reason code, e.g. `RH`.
    pub reason: Option<String>,
    /// A storage location prefix, parts joined by `/`: `LAB1/FRZ-2`.
    pub location: Option<String>,
    pub patient_id: Option<String>,
}

/// Filters for `GET /api/v1/charges`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ChargeQuery {
    /// `unbilled` or `billed`.
    pub status: Option<String>,
}
