//! How a ledger entry moves a claim's money, read the same way by the claim ledger view and by
//! the reports (pure, no I/O).

/// What a ledger entry is, for a claim's sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    Charge,
    Payment,
    PatientResponsibility,
    Adjustment,
}

/// Classifies a ledger entry by kind and CAS group. A reversal without a group reverses a
/// payment; one with group PR reverses patient responsibility; the others reverse adjustments.
/// Write-offs and provider adjustments count as adjustments.
pub fn movement(kind: &str, group: Option<&str>) -> Movement {
    match (kind, group) {
        ("charge", _) => Movement::Charge,
        ("payment", _) | ("reversal", None) => Movement::Payment,
        ("patient_responsibility", _) | ("reversal", Some("PR")) => Movement::PatientResponsibility,
        _ => Movement::Adjustment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversals_follow_what_they_reverse() {
        assert_eq!(movement("charge", None), Movement::Charge);
        assert_eq!(movement("payment", None), Movement::Payment);
        assert_eq!(movement("reversal", None), Movement::Payment);
        assert_eq!(
            movement("reversal", Some("PR")),
            Movement::PatientResponsibility
        );
        assert_eq!(movement("reversal", Some("CO")), Movement::Adjustment);
        assert_eq!(movement("write_off", None), Movement::Adjustment);
    }
}
