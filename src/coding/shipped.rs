//! The shipped, public-domain code sets, embedded in the binary (so `officina codes load` works
//! from any directory): ICD-10-CM FY2026 (Source: CDC/NCHS) and CMS place-of-service codes.
//! See `data/PROVENANCE.md`.

use std::io::Read;

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use super::search::Entry;
use crate::error::AppError;

pub const ICD10CM_GZ: &[u8] = include_bytes!("../../data/icd10cm.csv.gz");
pub const POS_CSV: &[u8] = include_bytes!("../../data/pos.csv");

pub const ICD10CM_EDITION: &str = "ICD-10-CM FY2026 (April 1, 2026 release)";
pub const POS_EDITION: &str = "CMS Place of Service 2024-05-02";

/// ICD-10-CM FY2026 is valid for dates of service from 2025-10-01 to 2026-09-30.
pub fn icd10cm_validity() -> (Option<NaiveDate>, Option<NaiveDate>) {
    (
        NaiveDate::from_ymd_opt(2025, 10, 1),
        NaiveDate::from_ymd_opt(2026, 9, 30),
    )
}

pub fn checksum(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn bad(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("embedded {what} is unreadable: {e}"))
}

/// Parses the embedded ICD-10-CM table (`code,description,billable`).
pub fn icd10cm() -> Result<Vec<Entry>, AppError> {
    let mut csv_bytes = Vec::with_capacity(8 * 1024 * 1024);
    flate2::read::GzDecoder::new(ICD10CM_GZ)
        .read_to_end(&mut csv_bytes)
        .map_err(|e| bad("ICD-10-CM", e))?;
    let (from, to) = icd10cm_validity();
    let mut rdr = csv::Reader::from_reader(csv_bytes.as_slice());
    let mut out = Vec::with_capacity(100_000);
    for rec in rdr.records() {
        let rec = rec.map_err(|e| bad("ICD-10-CM", e))?;
        let (Some(code), Some(description), Some(billable)) = (rec.get(0), rec.get(1), rec.get(2))
        else {
            return Err(bad("ICD-10-CM", "a row has fewer than 3 fields"));
        };
        out.push(Entry {
            code: code.to_owned(),
            description: description.to_owned(),
            billable: billable == "1",
            effective_from: from,
            effective_to: to,
        });
    }
    Ok(out)
}

/// Parses the embedded place-of-service table (`code,name`). Every code is billable.
pub fn pos() -> Result<Vec<Entry>, AppError> {
    let mut rdr = csv::Reader::from_reader(POS_CSV);
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| bad("place of service", e))?;
        let (Some(code), Some(name)) = (rec.get(0), rec.get(1)) else {
            return Err(bad("place of service", "a row has fewer than 2 fields"));
        };
        out.push(Entry {
            code: code.to_owned(),
            description: name.to_owned(),
            billable: true,
            effective_from: None,
            effective_to: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coding::domain::CodeSystem;

    #[test]
    fn embedded_sets_parse_and_are_well_formed() {
        let icd = icd10cm().unwrap();
        assert_eq!(icd.len(), 98_186);
        assert_eq!(icd.iter().filter(|e| e.billable).count(), 74_719);
        for e in &icd {
            assert_eq!(CodeSystem::Icd10cm.normalize(&e.code).unwrap(), e.code);
        }
        assert!(icd.iter().any(|e| e.code.starts_with("QA0")));
        let pos = pos().unwrap();
        assert_eq!(pos.len(), 52);
        for e in &pos {
            assert_eq!(CodeSystem::Pos.normalize(&e.code).unwrap(), e.code);
        }
    }
}
