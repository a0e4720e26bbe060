//! Pure code-set rules: systems, code formats, ICD-10-CM dot normalisation, LOINC check digits,
//! modifiers, the CSV format of imported tables, and the outcome of a code check.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{FieldError, FieldIssue};

/// A code system Officina knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CodeSystem {
    /// ICD-10-CM diagnoses (shipped, FY2026).
    Icd10cm,
    /// CMS place-of-service codes (shipped).
    Pos,
    /// CPT (AMA; imported per practice).
    Cpt,
    /// HCPCS Level II (imported per practice).
    Hcpcs,
    /// CDT (ADA; imported per practice).
    Cdt,
    /// LOINC (imported per practice).
    Loinc,
    /// X12 claim adjustment reason codes (imported per practice: the descriptions are X12's).
    Carc,
    /// X12 remittance advice remark codes (imported per practice).
    Rarc,
}

impl CodeSystem {
    pub const ALL: [CodeSystem; 8] = [
        CodeSystem::Icd10cm,
        CodeSystem::Pos,
        CodeSystem::Cpt,
        CodeSystem::Hcpcs,
        CodeSystem::Cdt,
        CodeSystem::Loinc,
        CodeSystem::Carc,
        CodeSystem::Rarc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CodeSystem::Icd10cm => "icd10cm",
            CodeSystem::Pos => "pos",
            CodeSystem::Cpt => "cpt",
            CodeSystem::Hcpcs => "hcpcs",
            CodeSystem::Cdt => "cdt",
            CodeSystem::Loinc => "loinc",
            CodeSystem::Carc => "carc",
            CodeSystem::Rarc => "rarc",
        }
    }

    /// Shipped with Officina and shared by every organization (not imported).
    pub fn is_shipped(self) -> bool {
        matches!(self, CodeSystem::Icd10cm | CodeSystem::Pos)
    }

    /// Normalises a code as typed by a person (trim, upper case, ICD-10-CM without its dot) and
    /// checks its format. Returns the stored form.
    pub fn normalize(self, raw: &str) -> Result<String, FieldIssue> {
        let s = raw.trim().to_ascii_uppercase();
        let ok = match self {
            CodeSystem::Icd10cm => return normalize_icd10cm(&s),
            CodeSystem::Pos => s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()),
            CodeSystem::Cpt => is_cpt(&s),
            CodeSystem::Hcpcs => is_hcpcs(&s),
            CodeSystem::Cdt => is_cdt(&s),
            CodeSystem::Loinc => return check_loinc(&s).map(|_| s),
            CodeSystem::Carc => is_carc(&s),
            CodeSystem::Rarc => is_rarc(&s),
        };
        if ok {
            Ok(s)
        } else {
            Err(FieldIssue::new("invalid_format", self.format_hint()))
        }
    }

    /// What a well-formed code of this system looks like (for error messages).
    pub fn format_hint(self) -> &'static str {
        match self {
            CodeSystem::Icd10cm => {
                "is not an ICD-10-CM code: a letter, then 2 to 6 letters or digits, with an optional dot after the third character (E11.9, E119)"
            }
            CodeSystem::Pos => "is not a place-of-service code: two digits (11)",
            CodeSystem::Cpt => "is not a CPT code: four digits then a digit, F, T or U (99213)",
            CodeSystem::Hcpcs => {
                "is not a HCPCS Level II code: a letter A-V then four digits (J1100)"
            }
            CodeSystem::Cdt => "is not a CDT code: D then four digits (D0120)",
            CodeSystem::Loinc => {
                "is not a LOINC code: 1 to 7 digits, a hyphen and a check digit (2345-7)"
            }
            CodeSystem::Carc => {
                "is not a claim adjustment reason code: 1 to 3 letters or digits (45, A1, P14)"
            }
            CodeSystem::Rarc => {
                "is not a remittance remark code: 1 or 2 letters then 1 to 4 digits (M15, MA130, N362)"
            }
        }
    }

    /// How a stored code is shown: ICD-10-CM with its dot after the third character.
    pub fn display(self, code: &str) -> String {
        match self {
            CodeSystem::Icd10cm if code.len() > 3 && code.is_char_boundary(3) => {
                format!("{}.{}", &code[..3], &code[3..])
            }
            _ => code.to_owned(),
        }
    }
}

impl fmt::Display for CodeSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CodeSystem {
    type Err = FieldIssue;
    fn from_str(s: &str) -> Result<Self, FieldIssue> {
        let s = s.trim().to_ascii_lowercase();
        CodeSystem::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                FieldIssue::new(
                    "invalid_enum",
                    "must be one of: icd10cm, pos, cpt, hcpcs, cdt, loinc, carc, rarc",
                )
            })
    }
}

fn is_alnum_upper(b: u8) -> bool {
    b.is_ascii_digit() || b.is_ascii_uppercase()
}

/// ICD-10-CM: a letter, then two letters or digits (`E11`, `C4A`, `QA0`), then up to four more,
/// with an optional dot after the third character. Returns the code without the dot.
pub fn normalize_icd10cm(s: &str) -> Result<String, FieldIssue> {
    let bad = || FieldIssue::new("invalid_format", CodeSystem::Icd10cm.format_hint());
    let compact: String = match s.find('.') {
        None => s.to_owned(),
        Some(3) if s.len() > 4 && s.matches('.').count() == 1 => s.replacen('.', "", 1),
        Some(_) => return Err(bad()),
    };
    let b = compact.as_bytes();
    let ok = (3..=7).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b[1..].iter().all(|c| is_alnum_upper(*c))
        && b.iter().any(u8::is_ascii_digit);
    if ok { Ok(compact) } else { Err(bad()) }
}

/// CPT: four digits then a digit, `F` (category II), `T` (category III) or `U` (PLA).
pub fn is_cpt(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5
        && b[..4].iter().all(u8::is_ascii_digit)
        && matches!(b[4], b'0'..=b'9' | b'F' | b'T' | b'U')
}

/// HCPCS Level II: a letter `A` to `V`, then four digits.
pub fn is_hcpcs(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5 && (b'A'..=b'V').contains(&b[0]) && b[1..].iter().all(u8::is_ascii_digit)
}

/// CDT: `D` then four digits.
/// CARC: 1 to 3 upper-case letters or digits (`45`, `A1`, `P14`, `253`).
pub fn is_carc(s: &str) -> bool {
    (1..=3).contains(&s.len()) && s.bytes().all(is_alnum_upper)
}

/// RARC: 1 or 2 letters then 1 to 4 digits (`M15`, `MA130`, `N362`).
pub fn is_rarc(s: &str) -> bool {
    let letters = s.bytes().take_while(u8::is_ascii_uppercase).count();
    let digits = s.len() - letters;
    (1..=2).contains(&letters)
        && (1..=4).contains(&digits)
        && s.bytes().skip(letters).all(|b| b.is_ascii_digit())
}

pub fn is_cdt(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5 && b[0] == b'D' && b[1..].iter().all(u8::is_ascii_digit)
}

/// LOINC: 1 to 7 digits, a hyphen and the mod-10 check digit (`2345-7`).
pub fn check_loinc(s: &str) -> Result<(), FieldIssue> {
    let bad = || FieldIssue::new("invalid_format", CodeSystem::Loinc.format_hint());
    let (num, check) = s.split_once('-').ok_or_else(bad)?;
    if num.is_empty()
        || num.len() > 7
        || check.len() != 1
        || !num.bytes().chain(check.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let expected = luhn_check_digit(num);
    if check.as_bytes()[0] - b'0' != expected {
        return Err(FieldIssue::new(
            "invalid_check_digit",
            format!("the LOINC check digit should be {expected}"),
        ));
    }
    Ok(())
}

/// The mod-10 (Luhn) check digit over a string of ASCII digits.
fn luhn_check_digit(digits: &str) -> u8 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                x / 10 + x % 10
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// A procedure modifier: two letters or digits (`25`, `LT`). Returns it upper-cased.
pub fn check_modifier(raw: &str) -> Result<String, FieldIssue> {
    let s = raw.trim().to_ascii_uppercase();
    if s.len() == 2 && s.bytes().all(is_alnum_upper) {
        Ok(s)
    } else {
        Err(FieldIssue::new(
            "invalid_modifier",
            "is not a modifier: two letters or digits (25, LT)",
        ))
    }
}

/// A procedure code on a fee schedule or a claim line: CPT, HCPCS Level II or CDT, by its shape.
pub fn procedure_system(raw: &str) -> Result<(CodeSystem, String), FieldIssue> {
    let s = raw.trim().to_ascii_uppercase();
    if is_cpt(&s) {
        Ok((CodeSystem::Cpt, s))
    } else if is_cdt(&s) {
        Ok((CodeSystem::Cdt, s))
    } else if is_hcpcs(&s) {
        Ok((CodeSystem::Hcpcs, s))
    } else {
        Err(FieldIssue::new(
            "invalid_format",
            "is not a procedure code: CPT (99213), HCPCS Level II (J1100) or CDT (D0120)",
        ))
    }
}

/// Why a code cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckFailure {
    InvalidFormat,
    UnknownCode,
    NotBillable,
    NotEffective,
}

impl CheckFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckFailure::InvalidFormat => "invalid_format",
            CheckFailure::UnknownCode => "unknown_code",
            CheckFailure::NotBillable => "not_billable",
            CheckFailure::NotEffective => "not_effective",
        }
    }
}

/// The answer to "may this code go on a claim for this date of service?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeCheck {
    Valid {
        /// Stored form (ICD-10-CM without the dot).
        code: String,
        /// Shown form (ICD-10-CM with the dot).
        display: String,
        /// `None` when the system has no table to look the code up in (format-only check).
        description: Option<String>,
    },
    Invalid {
        reason: CheckFailure,
        message: String,
    },
}

impl CodeCheck {
    pub fn is_valid(&self) -> bool {
        matches!(self, CodeCheck::Valid { .. })
    }
    pub(crate) fn invalid(reason: CheckFailure, message: impl Into<String>) -> Self {
        CodeCheck::Invalid {
            reason,
            message: message.into(),
        }
    }
}

/// True when `on` lies in the closed period `[from, to]` (open ends allowed).
pub fn effective_on(from: Option<NaiveDate>, to: Option<NaiveDate>, on: NaiveDate) -> bool {
    from.is_none_or(|f| f <= on) && to.is_none_or(|t| on <= t)
}

/// Judges a stored code row (the pure part of `check_code`).
pub fn judge(
    system: CodeSystem,
    code: &str,
    row: Option<(&str, bool, Option<NaiveDate>, Option<NaiveDate>)>,
    on: NaiveDate,
) -> CodeCheck {
    let display = system.display(code);
    let Some((description, billable, from, to)) = row else {
        return CodeCheck::invalid(
            CheckFailure::UnknownCode,
            format!("{display} is not a {} code", system_name(system)),
        );
    };
    if !billable {
        return CodeCheck::invalid(
            CheckFailure::NotBillable,
            format!(
                "{display} is a category header, not a billable code; use a more specific code under it"
            ),
        );
    }
    if !effective_on(from, to, on) {
        let period = match (from, to) {
            (Some(f), Some(t)) => format!("from {f} to {t}"),
            (Some(f), None) => format!("from {f}"),
            (None, Some(t)) => format!("until {t}"),
            (None, None) => String::new(),
        };
        return CodeCheck::invalid(
            CheckFailure::NotEffective,
            format!("{display} is valid {period}, not on {on}"),
        );
    }
    CodeCheck::Valid {
        code: code.to_owned(),
        display,
        description: Some(description.to_owned()),
    }
}

pub fn system_name(system: CodeSystem) -> &'static str {
    match system {
        CodeSystem::Icd10cm => "ICD-10-CM",
        CodeSystem::Pos => "place-of-service",
        CodeSystem::Cpt => "CPT",
        CodeSystem::Hcpcs => "HCPCS Level II",
        CodeSystem::Cdt => "CDT",
        CodeSystem::Loinc => "LOINC",
        CodeSystem::Carc => "claim adjustment reason",
        CodeSystem::Rarc => "remittance remark",
    }
}

/// One valid row of an imported table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub code: String,
    pub description: String,
    pub effective_from: Option<NaiveDate>,
    pub effective_to: Option<NaiveDate>,
}

/// More bad rows than this and the report stops listing them.
pub const MAX_REPORTED_ROW_ERRORS: usize = 1000;
pub const MAX_DESCRIPTION: usize = 1000;

fn parse_date(raw: &str) -> Result<Option<NaiveDate>, ()> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| ())
}

/// Parses an imported table: a header row naming `code` and `description` (and optionally
/// `effective_from`, `effective_to`), then one code per row. Any bad row refuses the whole file:
/// the errors name `rows[i].<column>` (i counts data rows from 0) and give the file's line number.
pub fn parse_import_csv(
    system: CodeSystem,
    bytes: &[u8],
) -> Result<Vec<ImportRow>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = match rdr.headers() {
        Ok(h) => h
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect::<Vec<_>>(),
        Err(e) => {
            return Err(vec![FieldError::new(
                "body",
                "invalid_csv",
                format!("the body is not readable CSV: {}", csv_error_text(&e)),
            )]);
        }
    };
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (code_col, desc_col) = (col("code"), col("description"));
    let (from_col, to_col) = (col("effective_from"), col("effective_to"));
    if code_col.is_none() || desc_col.is_none() {
        return Err(vec![FieldError::new(
            "header",
            "invalid_header",
            "line 1 must be a header naming the columns: code,description (optionally effective_from,effective_to)",
        )]);
    }
    let mut rows = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut bad_rows = 0usize;
    for (i, record) in rdr.records().enumerate() {
        let add = |errors: &mut Vec<FieldError>, field: String, code: &str, msg: String| {
            if errors.len() < MAX_REPORTED_ROW_ERRORS {
                errors.push(FieldError::new(field, code, msg));
            }
        };
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                bad_rows += 1;
                let line = e.position().map(|p| p.line()).unwrap_or(i as u64 + 2);
                add(
                    &mut errors,
                    format!("rows[{i}]"),
                    "invalid_csv",
                    format!("line {line}: {}", csv_error_text(&e)),
                );
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(i as u64 + 2);
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("");
        let before = errors.len();
        let mut row_bad = false;
        let code = match system.normalize(get(code_col)) {
            Ok(c) if !seen.insert(c.clone()) => {
                row_bad = true;
                add(
                    &mut errors,
                    format!("rows[{i}].code"),
                    "duplicate",
                    format!("line {line}: {c} appears more than once in the file"),
                );
                None
            }
            Ok(c) => Some(c),
            Err(issue) => {
                row_bad = true;
                let msg = if get(code_col).is_empty() {
                    format!("line {line}: the code is missing")
                } else {
                    format!("line {line}: {}", issue.message)
                };
                add(
                    &mut errors,
                    format!("rows[{i}].code"),
                    if get(code_col).is_empty() {
                        "required"
                    } else {
                        issue.code
                    },
                    msg,
                );
                None
            }
        };
        let description = get(desc_col).to_owned();
        if description.is_empty() {
            row_bad = true;
            add(
                &mut errors,
                format!("rows[{i}].description"),
                "required",
                format!("line {line}: the description is missing"),
            );
        } else if description.chars().count() > MAX_DESCRIPTION {
            row_bad = true;
            add(
                &mut errors,
                format!("rows[{i}].description"),
                "too_long",
                format!("line {line}: the description has more than {MAX_DESCRIPTION} characters"),
            );
        }
        let mut date =
            |c: Option<usize>, name: &str, errors: &mut Vec<FieldError>| match parse_date(get(c)) {
                Ok(d) => d,
                Err(()) => {
                    row_bad = true;
                    add(
                        errors,
                        format!("rows[{i}].{name}"),
                        "invalid_date",
                        format!("line {line}: {name} must be a date YYYY-MM-DD"),
                    );
                    None
                }
            };
        let from = date(from_col, "effective_from", &mut errors);
        let to = date(to_col, "effective_to", &mut errors);
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            row_bad = true;
            add(
                &mut errors,
                format!("rows[{i}].effective_to"),
                "before_start",
                format!("line {line}: effective_to is before effective_from"),
            );
        }
        if row_bad || errors.len() > before {
            bad_rows += 1;
            continue;
        }
        if let Some(code) = code {
            rows.push(ImportRow {
                code,
                description,
                effective_from: from,
                effective_to: to,
            });
        }
    }
    if bad_rows > 0 && errors.len() >= MAX_REPORTED_ROW_ERRORS {
        errors.push(FieldError::new(
            "rows",
            "too_many_errors",
            format!("{bad_rows} rows are invalid; only the first {MAX_REPORTED_ROW_ERRORS} problems are listed"),
        ));
    }
    if errors.is_empty() && rows.is_empty() {
        errors.push(FieldError::new(
            "rows",
            "required",
            "the file has no code rows after its header",
        ));
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

fn csv_error_text(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "the text is not UTF-8".into(),
        csv::ErrorKind::UnequalLengths { .. } => "the row has a different number of fields".into(),
        _ => "malformed CSV (check the quoting)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn icd10cm_dot_normalisation_and_display() {
        let icd = CodeSystem::Icd10cm;
        assert_eq!(icd.normalize("E11.9").unwrap(), "E119");
        assert_eq!(icd.normalize(" e119 ").unwrap(), "E119");
        assert_eq!(icd.normalize("E11").unwrap(), "E11");
        assert_eq!(icd.normalize("QA00101").unwrap(), "QA00101");
        assert_eq!(icd.normalize("C4A.0").unwrap(), "C4A0");
        assert_eq!(icd.normalize("S72.001A").unwrap(), "S72001A");
        for bad in [
            "E1.19", "E11.", "E11..9", "11E9", "E", "E119999X", "ABC", "E11-9", "E11.9.1",
        ] {
            assert!(icd.normalize(bad).is_err(), "{bad}");
        }
        assert_eq!(icd.display("E119"), "E11.9");
        assert_eq!(icd.display("E11"), "E11");
        assert_eq!(icd.display("QA00101"), "QA0.0101");
        assert_eq!(CodeSystem::Cpt.display("99213"), "99213");
    }

    #[test]
    fn licensed_formats() {
        assert!(is_cpt("99213") && is_cpt("0001F") && is_cpt("0042T") && is_cpt("0001U"));
        assert!(!is_cpt("9921") && !is_cpt("0001X") && !is_cpt("J1100"));
        assert!(is_hcpcs("J1100") && is_hcpcs("A0021") && is_hcpcs("V2020"));
        assert!(!is_hcpcs("W1234") && !is_hcpcs("J110"));
        assert!(is_cdt("D0120") && !is_cdt("D012") && !is_cdt("E0120"));
        assert_eq!(
            procedure_system("d0120").unwrap(),
            (CodeSystem::Cdt, "D0120".into())
        );
        assert_eq!(procedure_system("99213").unwrap().0, CodeSystem::Cpt);
        assert_eq!(procedure_system("J1100").unwrap().0, CodeSystem::Hcpcs);
        assert!(procedure_system("E11.9").is_err());
    }

    #[test]
    fn loinc_check_digit() {
        assert!(check_loinc("2345-7").is_ok());
        assert!(check_loinc("718-7").is_ok());
        assert!(check_loinc("4548-4").is_ok());
        assert_eq!(
            check_loinc("2345-6").unwrap_err().code,
            "invalid_check_digit"
        );
        assert_eq!(check_loinc("2345").unwrap_err().code, "invalid_format");
        assert_eq!(
            check_loinc("12345678-1").unwrap_err().code,
            "invalid_format"
        );
    }

    #[test]
    fn modifiers() {
        assert_eq!(check_modifier("lt").unwrap(), "LT");
        assert_eq!(check_modifier("25").unwrap(), "25");
        assert!(
            check_modifier("2").is_err()
                && check_modifier("25X").is_err()
                && check_modifier("2-").is_err()
        );
    }

    #[test]
    fn systems_parse() {
        assert_eq!("ICD10CM".parse::<CodeSystem>(), Ok(CodeSystem::Icd10cm));
        assert!("icd9".parse::<CodeSystem>().is_err());
        assert_eq!("carc".parse::<CodeSystem>(), Ok(CodeSystem::Carc));
    }

    #[test]
    fn adjustment_and_remark_code_formats() {
        for ok in ["45", "1", "A1", "P14", "253"] {
            assert_eq!(CodeSystem::Carc.normalize(ok), Ok(ok.to_owned()), "{ok}");
        }
        assert_eq!(CodeSystem::Carc.normalize(" a1 "), Ok("A1".to_owned()));
        for bad in ["", "1234", "4-5"] {
            assert!(CodeSystem::Carc.normalize(bad).is_err(), "{bad}");
        }
        for ok in ["M15", "MA130", "N362", "N1000"] {
            assert_eq!(CodeSystem::Rarc.normalize(ok), Ok(ok.to_owned()), "{ok}");
        }
        for bad in ["45", "MAB1", "M", "N12345", "M1A"] {
            assert!(CodeSystem::Rarc.normalize(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn judging_rows() {
        let on = d("2026-01-15");
        let (from, to) = (Some(d("2025-10-01")), Some(d("2026-09-30")));
        let icd = CodeSystem::Icd10cm;
        assert!(judge(icd, "E119", Some(("Type 2", true, from, to)), on).is_valid());
        let reason = |c: CodeCheck| match c {
            CodeCheck::Invalid { reason, .. } => reason,
            CodeCheck::Valid { .. } => panic!("valid"),
        };
        assert_eq!(
            reason(judge(icd, "E11", Some(("Type 2", false, from, to)), on)),
            CheckFailure::NotBillable
        );
        assert_eq!(
            reason(judge(icd, "E119", None, on)),
            CheckFailure::UnknownCode
        );
        assert_eq!(
            reason(judge(
                icd,
                "E119",
                Some(("Type 2", true, from, to)),
                d("2026-10-01")
            )),
            CheckFailure::NotEffective
        );
        assert!(effective_on(None, None, on));
    }

    #[test]
    fn import_csv_happy_and_bad() {
        let ok = "code,description,effective_from\n99213,Office visit,2026-01-01\n\"99214\",\"Visit, longer\",\n";
        let rows = parse_import_csv(CodeSystem::Cpt, ok.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].description, "Visit, longer");
        assert_eq!(rows[0].effective_from, Some(d("2026-01-01")));

        let bad = "code,description\n99213,Office visit\nABC,Bad\n99214,\n99213,Again\n";
        let errs = parse_import_csv(CodeSystem::Cpt, bad.as_bytes()).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["rows[1].code", "rows[2].description", "rows[3].code"]
        );
        assert!(
            errs[0].message.starts_with("line 3:"),
            "{}",
            errs[0].message
        );

        let errs = parse_import_csv(CodeSystem::Cpt, b"foo,bar\n1,2\n").unwrap_err();
        assert_eq!(errs[0].field, "header");
        let errs = parse_import_csv(CodeSystem::Cpt, b"code,description\n").unwrap_err();
        assert_eq!(errs[0].field, "rows");
    }
}
