//! Organization rules.

use crate::error::FieldIssue;

/// An employer identification number: 9 digits (accepted as `12-3456789` or `123456789`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ein(String);

impl Ein {
    pub fn parse(raw: &str) -> Result<Self, FieldIssue> {
        let digits: String = raw.trim().chars().filter(|c| *c != '-').collect();
        if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldIssue::new(
                "invalid_format",
                "a tax id (EIN) has exactly 9 digits",
            ));
        }
        Ok(Self(digits))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The accession-number prefix: 1 to 3 capital letters.
pub fn parse_accession_prefix(raw: &str) -> Result<String, FieldIssue> {
    let s = raw.trim().to_ascii_uppercase();
    if (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(s)
    } else {
        Err(FieldIssue::new("invalid_format", "must be 1 to 3 letters"))
    }
}

/// A place-of-service code: two digits.
pub fn parse_pos(raw: &str) -> Result<String, FieldIssue> {
    let s = raw.trim();
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err(FieldIssue::new(
            "invalid_format",
            "a place-of-service code has two digits, e.g. 11",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ein_forms() {
        assert_eq!(Ein::parse("12-3456789").unwrap().as_str(), "123456789");
        assert!(Ein::parse("12345678").is_err());
        assert!(Ein::parse("12345678x").is_err());
    }
}
