//! Patient and coverage rules (pure).

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::FieldIssue;

/// A medical record number: 1 to 20 letters, digits or `-`, upper-cased.
pub fn parse_mrn(raw: &str) -> Result<String, FieldIssue> {
    let s = raw.trim().to_ascii_uppercase();
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(FieldIssue::new(
            "invalid_format",
            "an MRN has 1 to 20 letters, digits or '-'",
        ));
    }
    Ok(s)
}

/// The MRN generated for the `n`th patient of an organization.
pub fn generated_mrn(n: i64) -> String {
    format!("M{n:07}")
}

/// Coverage order of benefits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Primary,
    Secondary,
    Tertiary,
}

/// Relationship of the patient to the subscriber (the policy holder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Relationship {
    #[serde(rename = "self")]
    Myself,
    Spouse,
    Child,
    Other,
}

macro_rules! string_enum {
    ($t:ty, $msg:literal, $($v:path => $s:literal),+) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $($v => $s),+ }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $t {
            type Err = FieldIssue;
            fn from_str(s: &str) -> Result<Self, FieldIssue> {
                match s.trim() {
                    $($s => Ok($v),)+
                    _ => Err(FieldIssue::new("invalid_enum", $msg)),
                }
            }
        }
        impl TryFrom<String> for $t {
            type Error = FieldIssue;
            fn try_from(s: String) -> Result<Self, FieldIssue> {
                s.parse()
            }
        }
    };
}

string_enum!(Priority, "must be one of: primary, secondary, tertiary",
    Priority::Primary => "primary", Priority::Secondary => "secondary", Priority::Tertiary => "tertiary");
string_enum!(Relationship, "must be one of: self, spouse, child, other",
    Relationship::Myself => "self", Relationship::Spouse => "spouse",
    Relationship::Child => "child", Relationship::Other => "other");

impl Relationship {
    /// The X12 individual relationship code (SBR02/PAT01): 18 self, 01 spouse, 19 child, G8 other.
    pub fn x12_code(self) -> &'static str {
        match self {
            Relationship::Myself => "18",
            Relationship::Spouse => "01",
            Relationship::Child => "19",
            Relationship::Other => "G8",
        }
    }
}

/// An effective period `[from, to]` (both inclusive; `to` open when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

impl Period {
    pub fn new(from: NaiveDate, to: Option<NaiveDate>) -> Result<Self, FieldIssue> {
        if let Some(t) = to
            && t < from
        {
            return Err(FieldIssue::new(
                "invalid_period",
                "must not be before effective_from",
            ));
        }
        Ok(Self { from, to })
    }

    pub fn contains(&self, d: NaiveDate) -> bool {
        d >= self.from && self.to.is_none_or(|t| d <= t)
    }

    pub fn overlaps(&self, other: &Period) -> bool {
        let starts_before_other_ends = other.to.is_none_or(|t| self.from <= t);
        let other_starts_before_self_ends = self.to.is_none_or(|t| other.from <= t);
        starts_before_other_ends && other_starts_before_self_ends
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn mrn() {
        assert_eq!(parse_mrn(" ab-12 ").unwrap(), "AB-12");
        assert!(parse_mrn("a b").is_err());
        assert_eq!(generated_mrn(42), "M0000042");
    }

    #[test]
    fn periods() {
        let jan = Period::new(d("2026-01-01"), Some(d("2026-01-31"))).unwrap();
        let feb_on = Period::new(d("2026-02-01"), None).unwrap();
        let mid_jan_on = Period::new(d("2026-01-15"), None).unwrap();
        assert!(!jan.overlaps(&feb_on));
        assert!(jan.overlaps(&mid_jan_on));
        assert!(feb_on.overlaps(&mid_jan_on));
        assert!(jan.contains(d("2026-01-31")));
        assert!(!jan.contains(d("2026-02-01")));
        assert!(Period::new(d("2026-02-01"), Some(d("2026-01-01"))).is_err());
    }

    #[test]
    fn relationship_codes() {
        assert_eq!("self".parse::<Relationship>(), Ok(Relationship::Myself));
        assert_eq!(Relationship::Child.x12_code(), "19");
        assert!("cousin".parse::<Relationship>().is_err());
    }
}
