//! Report arithmetic, without I/O: aging buckets, what a claim still owes from its ledger, and the
//! grouping of open claims, denials, payments and batches.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::billing::ledger::{Movement, movement};

/// An aging bucket: days since the date of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bucket {
    D0To30,
    D31To60,
    D61To90,
    D91To120,
    Over120,
}

impl Bucket {
    pub const ALL: [Bucket; 5] = [
        Bucket::D0To30,
        Bucket::D31To60,
        Bucket::D61To90,
        Bucket::D91To120,
        Bucket::Over120,
    ];

    /// The bucket of an age in days (a date of service after the report date counts as 0–30).
    pub fn of_days(days: i64) -> Self {
        match days {
            ..=30 => Bucket::D0To30,
            31..=60 => Bucket::D31To60,
            61..=90 => Bucket::D61To90,
            91..=120 => Bucket::D91To120,
            _ => Bucket::Over120,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Bucket::D0To30 => "0-30",
            Bucket::D31To60 => "31-60",
            Bucket::D61To90 => "61-90",
            Bucket::D91To120 => "91-120",
            Bucket::Over120 => "120+",
        }
    }
}

/// Amounts owed per aging bucket, in cents, and their total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgingAmounts {
    pub days_0_30: i64,
    pub days_31_60: i64,
    pub days_61_90: i64,
    pub days_91_120: i64,
    pub days_over_120: i64,
    pub total: i64,
}

impl AgingAmounts {
    pub fn add(&mut self, bucket: Bucket, cents: i64) {
        let slot = match bucket {
            Bucket::D0To30 => &mut self.days_0_30,
            Bucket::D31To60 => &mut self.days_31_60,
            Bucket::D61To90 => &mut self.days_61_90,
            Bucket::D91To120 => &mut self.days_91_120,
            Bucket::Over120 => &mut self.days_over_120,
        };
        *slot += cents;
        self.total += cents;
    }

    /// The five buckets in order, then the total.
    pub fn columns(&self) -> [i64; 6] {
        [
            self.days_0_30,
            self.days_31_60,
            self.days_61_90,
            self.days_91_120,
            self.days_over_120,
            self.total,
        ]
    }
}

/// What a claim owes, from its ledger entries (signed as stored: charges positive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClaimMoney {
    /// Still owed by the payer: the ledger balance, or the whole charge before anything posted.
    pub insurance_cents: i64,
    /// Patient responsibility assigned by the payer (PR), net of reversals.
    pub patient_cents: i64,
    /// Payments received, net of reversals.
    pub paid_cents: i64,
}

/// A claim's money from its charge and its entries `(kind, group, amount)`.
pub fn claim_money<'a>(
    total_charge_cents: i64,
    entries: impl IntoIterator<Item = (&'a str, Option<&'a str>, i64)>,
) -> ClaimMoney {
    let mut m = ClaimMoney::default();
    let (mut any, mut balance) = (false, 0i64);
    for (kind, group, amount) in entries {
        any = true;
        balance += amount;
        match movement(kind, group) {
            Movement::Payment => m.paid_cents -= amount,
            Movement::PatientResponsibility => m.patient_cents -= amount,
            Movement::Charge | Movement::Adjustment => {}
        }
    }
    m.insurance_cents = if any { balance } else { total_charge_cents };
    m
}

/// An open claim as the aging report sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenClaim {
    pub claim_id: String,
    pub patient_id: String,
    pub payer_id: String,
    pub service_from: NaiveDate,
    pub insurance_cents: i64,
    pub patient_cents: i64,
}

impl OpenClaim {
    pub fn age_days(&self, as_of: NaiveDate) -> i64 {
        (as_of - self.service_from).num_days().max(0)
    }
}

/// One group of the aging report (a payer, a patient, or everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgingGroup {
    pub claims: usize,
    pub insurance: AgingAmounts,
    pub patient: AgingAmounts,
}

impl AgingGroup {
    fn add(&mut self, c: &OpenClaim, bucket: Bucket) {
        self.claims += 1;
        self.insurance.add(bucket, c.insurance_cents);
        self.patient.add(bucket, c.patient_cents);
    }
}

/// The aging of open claims: the total, by payer id and by patient id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aging {
    pub total: AgingGroup,
    pub by_payer: BTreeMap<String, AgingGroup>,
    pub by_patient: BTreeMap<String, AgingGroup>,
}

/// Ages the claims that still owe something (insurance or patient) on `as_of`.
pub fn age(claims: &[OpenClaim], as_of: NaiveDate) -> Aging {
    let mut a = Aging::default();
    for c in claims
        .iter()
        .filter(|c| c.insurance_cents != 0 || c.patient_cents != 0)
    {
        let b = Bucket::of_days(c.age_days(as_of));
        a.total.add(c, b);
        a.by_payer.entry(c.payer_id.clone()).or_default().add(c, b);
        a.by_patient
            .entry(c.patient_id.clone())
            .or_default()
            .add(c, b);
    }
    a
}

/// A claim-level denial posted by a remittance: CLP02 4, or nothing paid on a charge.
pub fn is_denial(status_code: &str, charge_cents: i64, paid_cents: i64) -> bool {
    status_code == "4" || (status_code != "22" && paid_cents == 0 && charge_cents > 0)
}

/// One CAS adjustment of a denied claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenialAdjustment {
    pub payer_id: String,
    pub claim_id: String,
    pub group: String,
    pub reason: String,
    /// Positive: what the adjustment took off the claim.
    pub amount_cents: i64,
}

/// Denials summed by `(payer id, group, reason)`: distinct claims and amount.
pub fn group_denials(
    rows: &[DenialAdjustment],
) -> BTreeMap<(String, String, String), (usize, i64)> {
    let mut claims: BTreeMap<(String, String, String), std::collections::BTreeSet<&str>> =
        BTreeMap::new();
    let mut amounts: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for r in rows {
        let key = (r.payer_id.clone(), r.group.clone(), r.reason.clone());
        claims
            .entry(key.clone())
            .or_default()
            .insert(r.claim_id.as_str());
        *amounts.entry(key).or_insert(0) += r.amount_cents;
    }
    amounts
        .into_iter()
        .map(|(k, amount)| {
            let n = claims.get(&k).map_or(0, |s| s.len());
            (k, (n, amount))
        })
        .collect()
}

/// The month (`2026-11`) a date falls in.
pub fn month_of(d: NaiveDate) -> String {
    d.format("%Y-%m").to_string()
}

/// Reads an 835 date (`CCYYMMDD`).
pub fn parse_ccyymmdd(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y%m%d").ok()
}

/// Whether a date is within an optional inclusive period.
pub fn in_period(d: NaiveDate, from: Option<NaiveDate>, to: Option<NaiveDate>) -> bool {
    from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn bucket_edges() {
        let cases = [
            (-3, "0-30"),
            (0, "0-30"),
            (30, "0-30"),
            (31, "31-60"),
            (60, "31-60"),
            (61, "61-90"),
            (90, "61-90"),
            (91, "91-120"),
            (120, "91-120"),
            (121, "120+"),
            (4000, "120+"),
        ];
        for (days, label) in cases {
            assert_eq!(Bucket::of_days(days).label(), label, "{days} days");
        }
    }

    #[test]
    fn a_claim_without_entries_owes_its_charge() {
        let m = claim_money(12_500, []);
        assert_eq!(m.insurance_cents, 12_500);
        assert_eq!((m.patient_cents, m.paid_cents), (0, 0));
    }

    #[test]
    fn posted_claim_owes_its_balance_and_the_patient_their_share() {
        let entries = [
            ("charge", None, 10_000),
            ("payment", None, -6_000),
            ("adjustment", Some("CO"), -2_000),
            ("patient_responsibility", Some("PR"), -1_500),
        ];
        let m = claim_money(10_000, entries);
        assert_eq!(m.insurance_cents, 500);
        assert_eq!(m.patient_cents, 1_500);
        assert_eq!(m.paid_cents, 6_000);
    }

    #[test]
    fn a_reversal_gives_the_money_back() {
        let entries = [
            ("charge", None, 10_000),
            ("payment", None, -8_000),
            ("patient_responsibility", Some("PR"), -2_000),
            ("reversal", None, 8_000),
            ("reversal", Some("PR"), 2_000),
        ];
        let m = claim_money(10_000, entries);
        assert_eq!(
            (m.insurance_cents, m.patient_cents, m.paid_cents),
            (10_000, 0, 0)
        );
    }

    #[test]
    fn aging_groups_by_payer_and_patient_and_skips_settled_claims() {
        let as_of = d("2026-11-27");
        let claim =
            |id: &str, patient: &str, payer: &str, dos: &str, ins: i64, pat: i64| OpenClaim {
                claim_id: id.into(),
                patient_id: patient.into(),
                payer_id: payer.into(),
                service_from: d(dos),
                insurance_cents: ins,
                patient_cents: pat,
            };
        let claims = [
            claim("c1", "p1", "aetna", "2026-11-20", 10_000, 0),
            claim("c2", "p1", "aetna", "2026-09-01", 5_000, 2_000),
            claim("c3", "p2", "bcbs", "2026-06-01", 0, 700),
            claim("c4", "p2", "bcbs", "2026-11-01", 0, 0),
        ];
        let a = age(&claims, as_of);
        assert_eq!(a.total.claims, 3);
        assert_eq!(a.total.insurance.total, 15_000);
        assert_eq!(a.total.patient.total, 2_700);
        let aetna = &a.by_payer["aetna"];
        assert_eq!(aetna.insurance.days_0_30, 10_000);
        assert_eq!(aetna.insurance.days_61_90, 5_000);
        assert_eq!(aetna.patient.days_61_90, 2_000);
        assert_eq!(a.by_payer["bcbs"].patient.days_over_120, 700);
        assert_eq!(a.by_patient["p1"].claims, 2);
        assert_eq!(a.by_patient["p2"].claims, 1);
    }

    #[test]
    fn denials_are_clp02_4_or_nothing_paid() {
        assert!(is_denial("4", 10_000, 0));
        assert!(is_denial("1", 10_000, 0));
        assert!(!is_denial("1", 10_000, 100));
        assert!(!is_denial("22", 10_000, 0));
        assert!(!is_denial("1", 0, 0));
    }

    #[test]
    fn denials_count_distinct_claims_per_reason() {
        let row = |claim: &str, reason: &str, amount: i64| DenialAdjustment {
            payer_id: "aetna".into(),
            claim_id: claim.into(),
            group: "CO".into(),
            reason: reason.into(),
            amount_cents: amount,
        };
        let g = group_denials(&[
            row("c1", "50", 100),
            row("c1", "50", 50),
            row("c2", "50", 10),
        ]);
        assert_eq!(
            g[&("aetna".into(), "CO".into(), "50".into())],
            (2, 160),
            "two claims, 1.60"
        );
    }

    #[test]
    fn periods_are_inclusive() {
        let (f, t) = (Some(d("2026-11-01")), Some(d("2026-11-30")));
        assert!(in_period(d("2026-11-01"), f, t));
        assert!(in_period(d("2026-11-30"), f, t));
        assert!(!in_period(d("2026-12-01"), f, t));
        assert!(in_period(d("1999-01-01"), None, None));
        assert_eq!(month_of(d("2026-11-27")), "2026-11");
        assert_eq!(parse_ccyymmdd("20261127"), Some(d("2026-11-27")));
    }
}
