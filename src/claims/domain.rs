//! Claim rules without I/O: statuses and their transitions, frequency codes, dental teeth and
//! surfaces, patient control numbers. The scrubber lives in [`super::scrubber`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldIssue;

/// Where a claim is in its life (DESIGN §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    Draft,
    Ready,
    Batched,
    Submitted,
    Accepted,
    Rejected,
    Paid,
    PartiallyPaid,
    Denied,
    Closed,
    Void,
    Replaced,
}

impl ClaimStatus {
    pub const ALL: [ClaimStatus; 12] = [
        Self::Draft,
        Self::Ready,
        Self::Batched,
        Self::Submitted,
        Self::Accepted,
        Self::Rejected,
        Self::Paid,
        Self::PartiallyPaid,
        Self::Denied,
        Self::Closed,
        Self::Void,
        Self::Replaced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Ready => "ready",
            Self::Batched => "batched",
            Self::Submitted => "submitted",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Paid => "paid",
            Self::PartiallyPaid => "partially_paid",
            Self::Denied => "denied",
            Self::Closed => "closed",
            Self::Void => "void",
            Self::Replaced => "replaced",
        }
    }

    /// The states reachable from this one.
    ///
    /// `ready → draft` reopens a claim for editing; `batched → ready` is a cancelled batch.
    /// `void` is reachable from every live state; `replaced` only once the payer has the claim
    /// (accepted, rejected, adjudicated or closed).
    pub fn next(self) -> &'static [ClaimStatus] {
        use ClaimStatus::*;
        match self {
            Draft => &[Ready, Void],
            Ready => &[Draft, Batched, Void],
            Batched => &[Ready, Submitted],
            Submitted => &[Accepted, Rejected, Paid, PartiallyPaid, Denied, Void],
            Accepted => &[Paid, PartiallyPaid, Denied, Replaced, Void],
            Rejected => &[Replaced, Void],
            Paid => &[Closed, PartiallyPaid, Replaced, Void],
            PartiallyPaid => &[Paid, Denied, Closed, Replaced, Void],
            Denied => &[Paid, PartiallyPaid, Closed, Replaced, Void],
            Closed => &[Replaced, Void],
            Void | Replaced => &[],
        }
    }

    pub fn can_go_to(self, to: ClaimStatus) -> bool {
        self.next().contains(&to)
    }

    /// Counts for duplicate detection and balances (not voided, not superseded).
    pub fn is_live(self) -> bool {
        !matches!(self, Self::Void | Self::Replaced)
    }
}

impl fmt::Display for ClaimStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClaimStatus {
    type Err = FieldIssue;
    fn from_str(s: &str) -> Result<Self, FieldIssue> {
        let s = s.trim();
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            FieldIssue::new(
                "invalid_enum",
                "must be one of: draft, ready, batched, submitted, accepted, rejected, paid, partially_paid, denied, closed, void, replaced",
            )
        })
    }
}

impl TryFrom<String> for ClaimStatus {
    type Error = FieldIssue;
    fn try_from(s: String) -> Result<Self, FieldIssue> {
        s.parse()
    }
}

/// CLM05-3 claim frequency type code.
pub mod frequency {
    /// An original claim.
    pub const ORIGINAL: &str = "1";
    /// A replacement of a prior claim (REF*F8 = the payer's claim number).
    pub const REPLACEMENT: &str = "7";
    /// A void of a prior claim.
    pub const VOID: &str = "8";
}

/// The patient control number (CLM01) for the `n`th claim of an organization: `C` and at least
/// seven digits. Letters and digits only (X12-safe), at most 20 characters.
pub fn patient_control_number(n: i64) -> String {
    format!("C{n:07}")
}

/// The line item control number (REF*6R) of a line: the claim's control number and the line
/// number, unique per organization, at most 30 characters.
pub fn line_control_number(pcn: &str, line_number: i32) -> String {
    format!("{pcn}L{line_number:02}")
}

/// A tooth in the universal numbering system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tooth {
    /// 1–32.
    Permanent(u8),
    /// A–T.
    Primary(char),
}

impl Tooth {
    /// `1`–`32` or `A`–`T` (a leading zero is accepted: `08`).
    pub fn parse(raw: &str) -> Option<Tooth> {
        let s = raw.trim().to_ascii_uppercase();
        if let Ok(n) = s.parse::<u8>() {
            return (1..=32).contains(&n).then_some(Tooth::Permanent(n));
        }
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if ('A'..='T').contains(&c) => Some(Tooth::Primary(c)),
            _ => None,
        }
    }

    /// Incisors and canines: permanent 6–11 and 22–27, primary C–H and M–R.
    pub fn is_anterior(self) -> bool {
        match self {
            Tooth::Permanent(n) => (6..=11).contains(&n) || (22..=27).contains(&n),
            Tooth::Primary(c) => ('C'..='H').contains(&c) || ('M'..='R').contains(&c),
        }
    }
}

/// Tooth surfaces: mesial, occlusal, distal, buccal, lingual, facial, incisal.
pub const SURFACES: [&str; 7] = ["M", "O", "D", "B", "L", "F", "I"];

/// Why a surface does not fit a tooth: occlusal/buccal are posterior surfaces, incisal/facial
/// anterior ones.
pub fn surface_fits(surface: &str, tooth: Tooth) -> bool {
    match surface {
        "O" | "B" => !tooth.is_anterior(),
        "I" | "F" => tooth.is_anterior(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_terminal_states_go_nowhere() {
        for s in ClaimStatus::ALL {
            assert_eq!(s.as_str().parse::<ClaimStatus>().unwrap(), s);
        }
        assert!(ClaimStatus::Void.next().is_empty());
        assert!(ClaimStatus::Replaced.next().is_empty());
        assert!(ClaimStatus::Draft.can_go_to(ClaimStatus::Ready));
        assert!(!ClaimStatus::Draft.can_go_to(ClaimStatus::Replaced));
        assert!(ClaimStatus::Denied.can_go_to(ClaimStatus::Replaced));
    }

    #[test]
    fn teeth_and_surfaces() {
        assert_eq!(Tooth::parse("8"), Some(Tooth::Permanent(8)));
        assert_eq!(Tooth::parse("08"), Some(Tooth::Permanent(8)));
        assert_eq!(Tooth::parse("33"), None);
        assert_eq!(Tooth::parse("0"), None);
        assert_eq!(Tooth::parse("t"), Some(Tooth::Primary('T')));
        assert_eq!(Tooth::parse("U"), None);
        assert!(Tooth::Permanent(8).is_anterior());
        assert!(!Tooth::Permanent(3).is_anterior());
        assert!(Tooth::Primary('E').is_anterior());
        assert!(!Tooth::Primary('A').is_anterior());
        assert!(!surface_fits("O", Tooth::Permanent(8)));
        assert!(surface_fits("O", Tooth::Permanent(30)));
        assert!(!surface_fits("I", Tooth::Permanent(30)));
        assert!(surface_fits("M", Tooth::Permanent(30)));
    }

    #[test]
    fn control_numbers_are_x12_safe() {
        let pcn = patient_control_number(42);
        assert_eq!(pcn, "C0000042");
        assert!(patient_control_number(i64::MAX).len() <= 20);
        assert_eq!(line_control_number(&pcn, 3), "C0000042L03");
    }
}
