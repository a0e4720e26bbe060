//! Provider identifiers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::FieldIssue;

/// The kind of claim a payer accepts (and of a claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClaimKind {
    Professional,
    Dental,
}

impl ClaimKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Professional => "professional",
            Self::Dental => "dental",
        }
    }
}

impl fmt::Display for ClaimKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClaimKind {
    type Err = FieldIssue;
    fn from_str(s: &str) -> Result<Self, FieldIssue> {
        match s.trim() {
            "professional" => Ok(Self::Professional),
            "dental" => Ok(Self::Dental),
            _ => Err(FieldIssue::new(
                "invalid_enum",
                "must be one of: professional, dental",
            )),
        }
    }
}

/// A National Provider Identifier: 10 digits whose last is a Luhn check digit computed over the
/// card-issuer prefix `80840` followed by the first nine digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Npi(String);

impl Npi {
    pub fn parse(raw: &str) -> Result<Self, FieldIssue> {
        let s = raw.trim();
        if s.len() != 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldIssue::new(
                "invalid_format",
                "an NPI has exactly 10 digits",
            ));
        }
        if !npi_check_digit_ok(s) {
            return Err(FieldIssue::new(
                "invalid_npi",
                "the NPI check digit is wrong",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn npi_check_digit_ok(npi: &str) -> bool {
    let digits: Vec<u32> = format!("80840{npi}")
        .bytes()
        .map(|b| u32::from(b - b'0'))
        .collect();
    // Standard Luhn over the 15 digits: double every second digit from the right.
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npi_luhn() {
        // The CMS example NPI.
        assert!(Npi::parse("1234567893").is_ok());
        assert_eq!(Npi::parse("1234567890").unwrap_err().code, "invalid_npi");
        assert_eq!(Npi::parse("12345").unwrap_err().code, "invalid_format");
        assert_eq!(Npi::parse("12345678a3").unwrap_err().code, "invalid_format");
    }
}

/// Whether a provider is a person (NM1 entity type 1) or an organization (2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Individual,
    Organization,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Individual => "individual",
            Self::Organization => "organization",
        }
    }
}

impl FromStr for ProviderKind {
    type Err = FieldIssue;
    fn from_str(s: &str) -> Result<Self, FieldIssue> {
        match s.trim() {
            "individual" => Ok(Self::Individual),
            "organization" => Ok(Self::Organization),
            _ => Err(FieldIssue::new(
                "invalid_enum",
                "must be one of: individual, organization",
            )),
        }
    }
}

/// A NUCC health care provider taxonomy code: 10 characters, the last one `X` (e.g. `207Q00000X`).
pub fn parse_taxonomy(raw: &str) -> Result<String, FieldIssue> {
    let s = raw.trim().to_ascii_uppercase();
    let ok = s.len() == 10
        && s.ends_with('X')
        && s[..9]
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    if ok {
        Ok(s)
    } else {
        Err(FieldIssue::new(
            "invalid_taxonomy",
            "a taxonomy code has 10 characters ending in X, e.g. 207Q00000X",
        ))
    }
}

/// An X12 identifier (payer id, receiver id): letters and digits, `min..=max` long, upper-cased.
pub fn parse_edi_id(raw: &str, min: usize, max: usize) -> Result<String, FieldIssue> {
    let s = raw.trim().to_ascii_uppercase();
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(FieldIssue::new(
            "invalid_format",
            format!("must be {min} to {max} letters or digits"),
        ));
    }
    Ok(s)
}

/// Timely-filing limit in days (1 to 3650).
pub fn parse_filing_days(n: i64) -> Result<i32, FieldIssue> {
    if (1..=3650).contains(&n) {
        Ok(n as i32)
    } else {
        Err(FieldIssue::new(
            "out_of_range",
            "must be between 1 and 3650 days",
        ))
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn taxonomy_and_edi_ids() {
        assert_eq!(parse_taxonomy("207q00000x").unwrap(), "207Q00000X");
        assert!(parse_taxonomy("207Q00000").is_err());
        assert!(parse_taxonomy("207Q00000Y").is_err());
        assert_eq!(parse_edi_id("bcbsil", 2, 80).unwrap(), "BCBSIL");
        assert!(parse_edi_id("A", 2, 80).is_err());
        assert!(parse_edi_id("AB*C", 2, 80).is_err());
        assert_eq!("dental".parse::<ClaimKind>(), Ok(ClaimKind::Dental));
    }
}
