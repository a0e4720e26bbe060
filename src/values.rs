//! Value objects shared by several contexts (patients, subscribers, the organization): they parse
//! raw input into checked values or say what is wrong, without I/O.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{FieldErrors, FieldIssue};

/// Administrative sex as X12 and HL7 carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Sex {
    F,
    M,
    U,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::F => "F",
            Sex::M => "M",
            Sex::U => "U",
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Sex {
    type Err = FieldIssue;
    fn from_str(s: &str) -> Result<Self, FieldIssue> {
        match s.trim() {
            "F" => Ok(Sex::F),
            "M" => Ok(Sex::M),
            "U" => Ok(Sex::U),
            _ => Err(FieldIssue::new("invalid_enum", "must be one of: F, M, U")),
        }
    }
}

/// USPS state and territory codes (50 states, DC, territories, military).
const STATES: [&str; 62] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
    "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "DC", "PR", "VI", "GU", "AS", "MP", "UM", "FM", "MH", "PW", "AA", "AE",
];

/// A US state code, upper-cased (`ny` → `NY`).
pub fn parse_state(raw: &str) -> Result<String, FieldIssue> {
    let s = raw.trim().to_ascii_uppercase();
    if STATES.contains(&s.as_str()) || s == "AP" {
        Ok(s)
    } else {
        Err(FieldIssue::new(
            "invalid_state",
            "must be a two-letter US state code, e.g. NY",
        ))
    }
}

/// A ZIP code: 5 or 9 digits (`12345`, `123456789` or `12345-6789`), stored as digits.
pub fn parse_zip(raw: &str) -> Result<String, FieldIssue> {
    let s = raw.trim();
    let digits: String = match s.split_once('-') {
        Some((a, b)) if a.len() == 5 && b.len() == 4 => format!("{a}{b}"),
        Some(_) => String::new(),
        None => s.to_owned(),
    };
    if (digits.len() == 5 || digits.len() == 9) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits)
    } else {
        Err(FieldIssue::new(
            "invalid_postal_code",
            "must be a ZIP code of 5 or 9 digits",
        ))
    }
}

/// A US phone number normalised to its 10 digits (punctuation and a leading `+1`/`1` removed).
pub fn parse_phone(raw: &str) -> Result<String, FieldIssue> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let allowed = raw
        .chars()
        .all(|c| c.is_ascii_digit() || " ()-.+".contains(c));
    let digits = match digits.len() {
        11 if digits.starts_with('1') => digits[1..].to_owned(),
        _ => digits,
    };
    if allowed && digits.len() == 10 && !digits.starts_with(['0', '1']) {
        Ok(digits)
    } else {
        Err(FieldIssue::new(
            "invalid_phone",
            "must be a 10-digit US phone number",
        ))
    }
}

/// A calendar date `YYYY-MM-DD`.
pub fn parse_date(raw: &str) -> Result<NaiveDate, FieldIssue> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| FieldIssue::new("invalid_date", "must be a date YYYY-MM-DD"))
}

/// A birth date: a date, not in the future, not before 1900.
pub fn parse_birth_date(raw: &str, today: NaiveDate) -> Result<NaiveDate, FieldIssue> {
    let d = parse_date(raw)?;
    if d > today {
        return Err(FieldIssue::new("future_date", "must not be in the future"));
    }
    if d < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(d) {
        return Err(FieldIssue::new(
            "out_of_range",
            "must not be before 1900-01-01",
        ));
    }
    Ok(d)
}

/// A required name-like text: trimmed, 1 to `max` characters, no control characters, and none of
/// the X12 delimiters (`~ * : ^`) so it can go into an 837 unchanged.
pub fn parse_text(raw: &str, max: usize) -> Result<String, FieldIssue> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(FieldIssue::new("required", "must not be blank"));
    }
    if s.chars().count() > max {
        return Err(FieldIssue::new(
            "too_long",
            format!("must have at most {max} characters"),
        ));
    }
    if s.chars().any(|c| c.is_control() || "~*:^".contains(c)) {
        return Err(FieldIssue::new(
            "invalid_characters",
            "must not contain control characters or ~ * : ^",
        ));
    }
    Ok(s.to_owned())
}

/// A postal address as requests carry it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct AddressInput {
    #[schema(example = "12 Main St")]
    pub line1: Option<String>,
    pub line2: Option<String>,
    #[schema(example = "Springfield")]
    pub city: Option<String>,
    #[schema(example = "IL")]
    pub state: Option<String>,
    #[schema(example = "62701")]
    pub postal_code: Option<String>,
}

/// A checked postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Address {
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub state: String,
    pub postal_code: String,
}

impl AddressInput {
    /// A patch laid over a stored address, part by part.
    pub fn merge(patch: Option<Self>, base: Option<Self>) -> Option<Self> {
        match (patch, base) {
            (Some(a), Some(b)) => Some(Self {
                line1: a.line1.or(b.line1),
                line2: a.line2.or(b.line2),
                city: a.city.or(b.city),
                state: a.state.or(b.state),
                postal_code: a.postal_code.or(b.postal_code),
            }),
            (a, b) => a.or(b),
        }
    }

    /// Checks every part, reporting errors under `prefix` (e.g. `address.city`).
    pub fn parse(&self, prefix: &str, errs: &mut FieldErrors) -> Option<Address> {
        let f = |name: &str| format!("{prefix}.{name}");
        let text = |errs: &mut FieldErrors, name: &str, v: &Option<String>, max: usize| match v
            .as_deref()
        {
            None => {
                errs.add(f(name), "required", "is required");
                None
            }
            Some(v) => errs.check(&f(name), parse_text(v, max)),
        };
        let line1 = text(errs, "line1", &self.line1, 55);
        let line2 = match self
            .line2
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(v) => errs.check(&f("line2"), parse_text(v, 55)),
            None => None,
        };
        let city = text(errs, "city", &self.city, 30);
        let state = match self.state.as_deref() {
            None => {
                errs.add(f("state"), "required", "is required");
                None
            }
            Some(v) => errs.check(&f("state"), parse_state(v)),
        };
        let postal_code = match self.postal_code.as_deref() {
            None => {
                errs.add(f("postal_code"), "required", "is required");
                None
            }
            Some(v) => errs.check(&f("postal_code"), parse_zip(v)),
        };
        Some(Address {
            line1: line1?,
            line2,
            city: city?,
            state: state?,
            postal_code: postal_code?,
        })
    }
}

/// Reads a required field through `parse`, recording "required" when it is absent.
pub fn required<T>(
    errs: &mut FieldErrors,
    field: &str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, FieldIssue>,
) -> Option<T> {
    match raw {
        None => {
            errs.add(field, "required", "is required");
            None
        }
        Some(v) => errs.check(field, parse(v)),
    }
}

/// Reads an optional field through `parse` (absent or blank → `None`).
pub fn optional<T>(
    errs: &mut FieldErrors,
    field: &str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, FieldIssue>,
) -> Option<T> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(v) => errs.check(field, parse(v)),
    }
}

impl TryFrom<String> for Sex {
    type Error = FieldIssue;
    fn try_from(s: String) -> Result<Self, FieldIssue> {
        s.parse()
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_zips_phones() {
        assert_eq!(parse_state(" ny ").unwrap(), "NY");
        assert!(parse_state("XX").is_err());
        assert_eq!(parse_zip("12345-6789").unwrap(), "123456789");
        assert_eq!(parse_zip("12345").unwrap(), "12345");
        assert!(parse_zip("1234").is_err());
        assert!(parse_zip("12345-678").is_err());
        assert_eq!(parse_phone("+1 (217) 555-0134").unwrap(), "2175550134");
        assert!(parse_phone("555-0134").is_err());
        assert!(parse_phone("217x5550134").is_err());
    }

    #[test]
    fn birth_dates() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert!(parse_birth_date("2026-11-27", today).is_ok());
        assert_eq!(
            parse_birth_date("2026-11-28", today).unwrap_err().code,
            "future_date"
        );
        assert_eq!(
            parse_birth_date("1980-02-30", today).unwrap_err().code,
            "invalid_date"
        );
    }

    #[test]
    fn text_refuses_x12_delimiters() {
        assert!(parse_text("O'Brien-Smith", 35).is_ok());
        assert!(parse_text("Bad~Name", 35).is_err());
        assert!(parse_text("   ", 35).is_err());
    }

    #[test]
    fn address_reports_every_part() {
        let mut errs = FieldErrors::new();
        let a = AddressInput {
            line1: None,
            line2: None,
            city: Some("X".into()),
            state: Some("ZZ".into()),
            postal_code: Some("1".into()),
        };
        assert!(a.parse("address", &mut errs).is_none());
        let Err(crate::error::AppError::Validation(list)) = errs.into_result() else {
            panic!()
        };
        let fields: Vec<_> = list.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["address.line1", "address.state", "address.postal_code"]
        );
    }
}
