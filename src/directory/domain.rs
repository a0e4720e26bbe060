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
