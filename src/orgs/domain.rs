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
