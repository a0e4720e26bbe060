//! Lab rules without I/O: specimen states and transitions, accession numbers with a check digit,
//! rejection reasons (HL7 v2 table 0490), storage locations, result flags.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldIssue;

macro_rules! lab_enum {
    ($(#[$m:meta])* $name:ident, $msg:literal, { $($v:ident => $s:tt),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        pub enum $name { $(#[serde(rename = $s)] $v),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $name {
            type Err = FieldIssue;
            fn from_str(s: &str) -> Result<Self, FieldIssue> {
                match s.trim() {
                    $($s => Ok($name::$v),)+
                    _ => Err(FieldIssue::new("invalid_enum", $msg)),
                }
            }
        }
        impl TryFrom<String> for $name {
            type Error = FieldIssue;
            fn try_from(s: String) -> Result<Self, FieldIssue> {
                s.parse()
            }
        }
    };
}

lab_enum!(
    /// Where a specimen is in its life (DESIGN §6.3).
    SpecimenStatus,
    "must be one of: ordered, collected, in_transit, received, in_process, referred_out, resulted, verified, reported, amended, rejected, cancelled, disposed, lost, entered_in_error",
    {
        Ordered => "ordered",
        Collected => "collected",
        InTransit => "in_transit",
        Received => "received",
        InProcess => "in_process",
        ReferredOut => "referred_out",
        Resulted => "resulted",
        Verified => "verified",
        Reported => "reported",
        Amended => "amended",
        Rejected => "rejected",
        Cancelled => "cancelled",
        Disposed => "disposed",
        Lost => "lost",
        EnteredInError => "entered_in_error",
    }
);

impl SpecimenStatus {
    /// The states reachable from this one, excluding `entered_in_error` (reachable from any
    /// non-terminal state by a manager or admin).
    pub fn next(self) -> &'static [SpecimenStatus] {
        use SpecimenStatus::*;
        match self {
            Ordered => &[Collected, Cancelled],
            Collected => &[InTransit, Received, Rejected, Cancelled],
            InTransit => &[Received, Rejected, Lost],
            Received => &[InProcess, ReferredOut, Rejected, Cancelled],
            InProcess => &[Resulted, Rejected],
            ReferredOut => &[Resulted, Rejected, Lost],
            Resulted => &[Verified, InProcess],
            Verified => &[Reported, InProcess],
            Reported => &[Amended, Disposed],
            Amended => &[Reported],
            Rejected => &[Disposed],
            Cancelled => &[Ordered],
            Disposed | Lost | EnteredInError => &[],
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SpecimenStatus::Disposed | SpecimenStatus::Lost | SpecimenStatus::EnteredInError
        )
    }

    /// Every state reachable from here, `entered_in_error` included when not terminal.
    pub fn allowed(self) -> Vec<SpecimenStatus> {
        let mut v = self.next().to_vec();
        if !self.is_terminal() {
            v.push(SpecimenStatus::EnteredInError);
        }
        v
    }

    pub fn can_go_to(self, to: SpecimenStatus) -> bool {
        self.allowed().contains(&to)
    }
}

lab_enum!(
    /// Specimen type.
    SpecimenType,
    "must be one of: blood, serum, plasma, urine, saliva, swab, tissue, other",
    {
        Blood => "blood",
        Serum => "serum",
        Plasma => "plasma",
        Urine => "urine",
        Saliva => "saliva",
        Swab => "swab",
        Tissue => "tissue",
        Other => "other",
    }
);

lab_enum!(
    /// Processing priority.
    LabPriority,
    "must be one of: routine, stat",
    { Routine => "routine", Stat => "stat" }
);

lab_enum!(
    /// Code system of an ordered test.
    TestCodeSystem,
    "must be one of: loinc, local",
    { Loinc => "loinc", Local => "local" }
);

/// Specimen rejection reasons, HL7 v2 table 0490.
pub const REJECT_REASONS: [(&str, &str); 14] = [
    ("EX", "Expired"),
    ("QS", "Quantity not sufficient"),
    ("RB", "Broken container"),
    ("RC", "Clotting"),
    ("RD", "Missing collection date"),
    ("RE", "Missing patient ID number"),
    ("RH", "Hemolysis"),
    ("RI", "Identification problem"),
    ("RM", "Labeling"),
    ("RN", "Contamination"),
    ("RP", "Missing phlebotomist ID"),
    ("RR", "Improper storage"),
    ("RS", "Name misspelling"),
    ("RA", "Missing patient name"),
];

pub fn parse_reject_reason(raw: &str) -> Result<String, FieldIssue> {
    let s = raw.trim().to_ascii_uppercase();
    if REJECT_REASONS.iter().any(|(c, _)| *c == s) {
        Ok(s)
    } else {
        Err(FieldIssue::new(
            "invalid_reason",
            "must be an HL7 table 0490 code: EX, QS, RB, RC, RD, RE, RH, RI, RM, RN, RP, RR, RS, RA",
        ))
    }
}

lab_enum!(
    /// Result interpretation flag.
    ResultFlag,
    "must be one of: N, L, H, LL, HH, A",
    { N => "N", L => "L", H => "H", Ll => "LL", Hh => "HH", A => "A" }
);

/// The Luhn (mod 10) check digit of a string of digits.
fn luhn_digit(digits: &str) -> u32 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// An accession number `{prefix}{yy}-{seq:06}{check}` (e.g. `L26-0001237`), optionally followed by
/// `.n` for the n-th aliquot. The check digit is Luhn over the year and sequence digits, so a
/// mistyped or transposed digit is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accession {
    pub prefix: String,
    pub year: u32,
    pub seq: u64,
    pub aliquot: Vec<u32>,
}

impl Accession {
    pub fn new(prefix: &str, year: i32, seq: i64) -> Self {
        Self {
            prefix: prefix.to_owned(),
            year: year.rem_euclid(100) as u32,
            seq: seq.max(0) as u64,
            aliquot: Vec::new(),
        }
    }

    /// The base number without aliquot suffixes.
    pub fn base(&self) -> String {
        let body = format!("{:02}{:06}", self.year, self.seq);
        format!(
            "{}{:02}-{:06}{}",
            self.prefix,
            self.year,
            self.seq,
            luhn_digit(&body)
        )
    }

    /// The number of aliquot `n` of a specimen numbered `parent`.
    pub fn aliquot_of(parent: &str, n: i32) -> String {
        format!("{parent}.{n}")
    }

    /// Parses a scanned or typed number; refuses a wrong check digit.
    pub fn parse(raw: &str) -> Result<Self, FieldIssue> {
        let bad = || {
            FieldIssue::new(
                "invalid_format",
                "an accession number looks like L26-0001237 (or L26-0001237.1 for an aliquot)",
            )
        };
        let s = raw.trim().to_ascii_uppercase();
        let mut parts = s.split('.');
        let base = parts.next().ok_or_else(bad)?;
        let aliquot = parts
            .map(|p| p.parse::<u32>().map_err(|_| bad()))
            .collect::<Result<Vec<_>, _>>()?;
        let (head, tail) = base.split_once('-').ok_or_else(bad)?;
        let split = head.find(|c: char| c.is_ascii_digit()).ok_or_else(bad)?;
        let (prefix, yy) = head.split_at(split);
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_uppercase()) || yy.len() != 2 {
            return Err(bad());
        }
        if tail.len() < 7
            || !tail.bytes().all(|b| b.is_ascii_digit())
            || !yy.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let (seq, check) = tail.split_at(tail.len() - 1);
        let expected = luhn_digit(&format!("{yy}{seq}"));
        if check.parse::<u32>().ok() != Some(expected) {
            return Err(FieldIssue::new(
                "invalid_check_digit",
                "the check digit does not match: the number was mistyped",
            ));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            year: yy.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
            aliquot,
        })
    }

    /// The full canonical number (with aliquot suffixes).
    pub fn full(&self) -> String {
        let mut s = self.base();
        for a in &self.aliquot {
            s.push_str(&format!(".{a}"));
        }
        s
    }
}

/// Where a specimen is stored: room / device / shelf / box / position, from the largest to the
/// smallest. Stored as the parts joined by `/` so `?location=LAB1/FRZ2` finds everything inside.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Location {
    #[schema(example = "LAB1")]
    pub room: Option<String>,
    #[schema(example = "FRZ-2")]
    pub device: Option<String>,
    pub shelf: Option<String>,
    #[serde(rename = "box")]
    pub boxed: Option<String>,
    pub position: Option<String>,
}

impl Location {
    fn parts(&self) -> [&Option<String>; 5] {
        [
            &self.room,
            &self.device,
            &self.shelf,
            &self.boxed,
            &self.position,
        ]
    }

    /// Checks the parts (letters, digits, `-`, `_`, at most 20 characters each; at least the
    /// room; no gap before a given part) and returns the canonical path.
    pub fn canonical(&self) -> Result<String, FieldIssue> {
        let mut out = Vec::new();
        let mut gap = false;
        for p in self.parts() {
            match p.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => gap = true,
                Some(v) => {
                    if gap {
                        return Err(FieldIssue::new(
                            "invalid_location",
                            "give the parts from the room down, without gaps",
                        ));
                    }
                    if v.len() > 20
                        || !v
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    {
                        return Err(FieldIssue::new(
                            "invalid_location",
                            "each part has at most 20 letters, digits, '-' or '_'",
                        ));
                    }
                    out.push(v.to_ascii_uppercase());
                }
            }
        }
        if out.is_empty() {
            return Err(FieldIssue::new(
                "invalid_location",
                "at least the room is required",
            ));
        }
        Ok(out.join("/"))
    }

    /// The structured value of a canonical path.
    pub fn from_canonical(s: &str) -> Self {
        let mut it = s.split('/').map(|p| Some(p.to_owned()));
        Self {
            room: it.next().flatten(),
            device: it.next().flatten(),
            shelf: it.next().flatten(),
            boxed: it.next().flatten(),
            position: it.next().flatten(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SpecimenStatus::*;

    #[test]
    fn the_transition_table() {
        assert!(Ordered.can_go_to(Collected));
        assert!(!Ordered.can_go_to(Received));
        assert!(Resulted.can_go_to(InProcess));
        assert!(Cancelled.can_go_to(Ordered));
        assert!(Reported.can_go_to(EnteredInError));
        for t in [Disposed, Lost, EnteredInError] {
            assert!(t.allowed().is_empty());
        }
        // Every state named in the table parses and prints the same.
        for s in SpecimenStatus::ALL {
            assert_eq!(s.as_str().parse::<SpecimenStatus>().unwrap(), *s);
        }
    }

    #[test]
    fn accession_numbers_round_trip_and_refuse_typos() {
        let a = Accession::new("L", 2026, 123);
        let n = a.base();
        assert_eq!(&n[..10], "L26-000123");
        assert_eq!(Accession::parse(&n).unwrap(), a);
        // Every single-digit typo in the sequence is refused.
        for i in 4..n.len() {
            let mut b = n.clone().into_bytes();
            b[i] = if b[i] == b'9' { b'0' } else { b[i] + 1 };
            let typo = String::from_utf8(b).unwrap();
            assert!(Accession::parse(&typo).is_err(), "{typo}");
        }
        let al = Accession::parse(&format!("{}.2", n.to_lowercase())).unwrap();
        assert_eq!(al.aliquot, vec![2]);
        assert_eq!(al.full(), format!("{n}.2"));
        assert!(Accession::parse("L26-12").is_err());
        assert!(Accession::parse("26-0001237").is_err());
    }

    #[test]
    fn locations() {
        let l = Location {
            room: Some("lab1".into()),
            device: Some("FRZ-2".into()),
            ..Default::default()
        };
        assert_eq!(l.canonical().unwrap(), "LAB1/FRZ-2");
        assert_eq!(
            Location::from_canonical("LAB1/FRZ-2"),
            Location {
                room: Some("LAB1".into()),
                device: Some("FRZ-2".into()),
                ..Default::default()
            }
        );
        let gap = Location {
            room: Some("L".into()),
            shelf: Some("3".into()),
            ..Default::default()
        };
        assert!(gap.canonical().is_err());
        assert!(Location::default().canonical().is_err());
    }

    #[test]
    fn reasons_and_flags() {
        assert_eq!(parse_reject_reason("rh").unwrap(), "RH");
        assert!(parse_reject_reason("ZZ").is_err());
        assert_eq!("HH".parse::<ResultFlag>().unwrap(), ResultFlag::Hh);
    }
}
