//! The 835 health care claim payment/advice (005010X221A1), read tolerantly and checked strictly.
//!
//! What is read: BPR (BPR01 handling, BPR02 total paid, BPR03 credit/debit, BPR04 method, BPR16
//! payment date), TRN (TRN02 trace number, TRN03 payer id), N1*PR / N1*PE (payer and payee),
//! REF*2U (payer id, when TRN03 is absent), LX, CLP (CLP01 patient control number, CLP02 status,
//! CLP03 charge, CLP04 paid, CLP05 patient responsibility, CLP07 payer claim control number),
//! CAS at claim and line level (group, then up to six reason/amount/quantity triples), SVC
//! (composite procedure, charge, paid, units), REF*6R (our line item control number), AMT*B6
//! (allowed), LQ (remark codes) and PLB (provider-level adjustments: reason:reference composite and
//! amount pairs).
//!
//! Tolerance, as real payers send it: CR/LF between segments, missing BPR16/PER, `>` inside SVC01
//! although ISA16 declares another component separator, and an SVC01 without its procedure code
//! (reported in [`Remittance835::warnings`] and on the line, never fatal). Strictness: every amount
//! is parsed exactly into integer cents (no floating point); an amount that does not parse refuses
//! the file. The balancing rules (DESIGN §6.5) are pure functions here:
//!
//! - line: SVC02 charge − SVC03 paid = Σ line CAS;
//! - claim: CLP03 charge − CLP04 paid = Σ claim CAS + Σ line CAS;
//! - file: BPR02 = Σ CLP04 − Σ PLB amounts.

use super::tokenizer::{self, Segment, Transaction, X12Error};

/// One CAS adjustment: `group` (CO, PR, OA, PI, CR), CARC reason, amount, optional quantity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Adjustment {
    pub group: String,
    pub reason: String,
    pub amount_cents: i64,
    pub quantity: Option<String>,
}

/// One SVC service line with its adjustments.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceLine {
    /// SVC01 as sent (`HC:99213`, `HC>12345>26`).
    pub procedure: String,
    /// The product/service id qualifier (`HC`, `AD`…).
    pub qualifier: String,
    /// The procedure code; `None` when the payer left it out (malformed line).
    pub code: Option<String>,
    pub modifiers: Vec<String>,
    pub charge_cents: i64,
    pub paid_cents: i64,
    /// SVC05 units paid, as sent.
    pub units: Option<String>,
    /// REF*6R: our line item control number.
    pub line_control_number: Option<String>,
    /// DTM*472 (or 150) service date, CCYYMMDD.
    pub service_date: Option<String>,
    /// AMT*B6.
    pub allowed_cents: Option<i64>,
    /// LQ remark codes.
    pub remarks: Vec<String>,
    pub adjustments: Vec<Adjustment>,
    /// Why the line is malformed (its amounts cannot be trusted for balancing); `None` when fine.
    pub malformed: Option<String>,
    /// 1-based position of the SVC segment in the file.
    pub position: usize,
}

/// One CLP claim payment (serializable: an unmatched one is stored to be matched by hand later).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClaimPayment {
    /// CLP01: our patient control number (CLM01).
    pub patient_control_number: String,
    /// CLP02: 1 primary, 2 secondary, 3 tertiary, 4 denied, 19–21 processed and forwarded,
    /// 22 reversal of previous payment, 23 not our claim.
    pub status_code: String,
    pub charge_cents: i64,
    pub paid_cents: i64,
    /// CLP05 (0 when absent).
    pub patient_responsibility_cents: i64,
    /// CLP06 claim filing indicator.
    pub filing_indicator: Option<String>,
    /// CLP07: the payer's claim control number.
    pub payer_claim_number: Option<String>,
    /// Claim-level CAS.
    pub adjustments: Vec<Adjustment>,
    pub lines: Vec<ServiceLine>,
    /// AMT*B6 at claim level: information, not a money movement.
    pub allowed_cents: Option<i64>,
    /// Claim-level remark codes: MOA03–MOA07 (outpatient) and MIA05, MIA20–MIA24 (inpatient).
    #[serde(default)]
    pub remarks: Vec<String>,
    /// NM1*TT (crossover carrier, CLP02 19–21): NM103 name.
    #[serde(default)]
    pub crossover_payer_name: Option<String>,
    /// NM1*TT NM109 identifier.
    #[serde(default)]
    pub crossover_payer_id: Option<String>,
    /// 1-based position of the CLP segment in the file.
    pub position: usize,
}

impl ClaimPayment {
    /// Is this a reversal of a previous payment (CLP02 = 22)?
    pub fn is_reversal(&self) -> bool {
        self.status_code == "22"
    }
    /// Processed and forwarded to another payer (CLP02 19, 20, 21)?
    pub fn is_forwarded(&self) -> bool {
        matches!(self.status_code.as_str(), "19" | "20" | "21")
    }
    /// The crossover payer as one label (`NAME (ID)`, the name, or the id), if NM1*TT was sent.
    pub fn crossover_payer(&self) -> Option<String> {
        match (&self.crossover_payer_name, &self.crossover_payer_id) {
            (Some(n), Some(i)) => Some(format!("{n} ({i})")),
            (Some(n), None) => Some(n.clone()),
            (None, Some(i)) => Some(i.clone()),
            (None, None) => None,
        }
    }
    /// Every adjustment, claim level then line level.
    pub fn all_adjustments(&self) -> impl Iterator<Item = &Adjustment> {
        self.adjustments
            .iter()
            .chain(self.lines.iter().flat_map(|l| l.adjustments.iter()))
    }
}

/// One PLB provider-level adjustment (one reason/amount pair).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAdjustment {
    /// PLB01 provider identifier.
    pub provider_id: String,
    /// PLB02 fiscal period date.
    pub date: Option<String>,
    /// The adjustment reason code (first component: WO, CV, L6, FB…).
    pub reason: String,
    /// The reference identifier (second component), if any.
    pub reference: Option<String>,
    /// As sent: a positive amount reduces the payment, a negative one increases it.
    pub amount_cents: i64,
}

/// One 835 transaction set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remittance835 {
    /// ST02.
    pub control_number: String,
    /// BPR01 transaction handling code (I remittance with payment, H advice only…).
    pub handling: String,
    /// BPR02.
    pub total_paid_cents: i64,
    /// BPR03 (C credit, D debit).
    pub credit_debit: Option<String>,
    /// BPR04 (ACH, CHK, NON…).
    pub payment_method: Option<String>,
    /// BPR16 (CCYYMMDD); missing in some real files.
    pub payment_date: Option<String>,
    /// TRN02: the check or EFT trace number.
    pub trace_number: String,
    /// TRN03 (payer's originating company id), else REF*2U, else N1*PR N104.
    pub payer_id: Option<String>,
    pub payer_name: Option<String>,
    pub payee_name: Option<String>,
    /// N1*PE N104 (NPI when N103 = XX, tax id when FI).
    pub payee_id: Option<String>,
    /// N1*PE N103 (`XX` NPI, `FI` federal tax id…).
    pub payee_id_qualifier: Option<String>,
    pub claims: Vec<ClaimPayment>,
    pub provider_adjustments: Vec<ProviderAdjustment>,
    /// What was skipped or tolerated, one sentence each.
    pub warnings: Vec<String>,
}

/// Reads every 835 transaction set of a file (one interchange).
pub fn read_remittances(bytes: &[u8]) -> Result<Vec<Remittance835>, X12Error> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        X12Error::NotX12(format!(
            "not an X12 file: invalid text at byte {}",
            e.valid_up_to()
        ))
    })?;
    let interchange = tokenizer::parse(text)?;
    let sets: Vec<&Transaction> = interchange
        .groups
        .iter()
        .flat_map(|g| g.transactions.iter())
        .collect();
    if sets.is_empty() {
        return Err(X12Error::Unsupported(
            "the interchange has no transaction set".into(),
        ));
    }
    let component = interchange.delimiters.component;
    sets.into_iter()
        .map(|t| {
            if t.id != "835" {
                return Err(X12Error::Unsupported(format!(
                    "a {} transaction set is not a remittance advice (expected 835)",
                    t.id
                )));
            }
            parse(t, component)
        })
        .collect()
}

/// The largest amount read, in cents (999 999 999.99): far above any real claim or payment, and
/// low enough that no sum of the amounts of a file, however long, can overflow an `i64` (the
/// balancing rules, the ledger).
pub const MAX_CENTS: i64 = 99_999_999_999;

/// Parses an exact decimal amount into cents: `945`, `945.5`, `945.00`, `-12.3`, `.5`.
/// More than two decimals are accepted only when the extra digits are zeros; an amount over
/// [`MAX_CENTS`] either way is refused.
pub fn parse_cents(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 2 && frac[2..].bytes().any(|b| b != b'0') {
        return None;
    }
    let mut cents: i64 = 0;
    for b in int.bytes() {
        cents = cents.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    let mut digits = frac.bytes().take(2);
    for _ in 0..2 {
        let d = digits.next().map_or(0, |b| i64::from(b - b'0'));
        cents = cents.checked_mul(10)?.checked_add(d)?;
    }
    if cents > MAX_CENTS {
        return None;
    }
    Some(if neg { -cents } else { cents })
}

/// Formats cents as a decimal (`-12.30`), for messages.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn amount(seg: &Segment, n: usize) -> Result<i64, X12Error> {
    let raw = seg.el(n);
    parse_cents(raw).ok_or_else(|| {
        X12Error::Unsupported(format!(
            "segment {} ({}): {}{:02} {} is not an amount",
            seg.position,
            seg.id,
            seg.id,
            n,
            if raw.is_empty() {
                "is missing and".to_owned()
            } else {
                format!("'{raw}'")
            }
        ))
    })
}

fn opt_amount(seg: &Segment, n: usize) -> Result<Option<i64>, X12Error> {
    if seg.el(n).is_empty() {
        Ok(None)
    } else {
        amount(seg, n).map(Some)
    }
}

fn cas(seg: &Segment) -> Result<Vec<Adjustment>, X12Error> {
    let group = seg.el(1).to_ascii_uppercase();
    let mut out = Vec::new();
    for k in 0..6 {
        let reason = seg.el(2 + 3 * k);
        if reason.is_empty() {
            continue;
        }
        out.push(Adjustment {
            group: group.clone(),
            reason: reason.to_owned(),
            amount_cents: amount(seg, 3 + 3 * k)?,
            quantity: seg.opt(4 + 3 * k),
        });
    }
    Ok(out)
}

fn svc(seg: &Segment, component: char) -> Result<ServiceLine, X12Error> {
    let procedure = seg.el(1).to_owned();
    // Either ISA16 or '>' (seen in real files whose ISA16 is ':').
    let sep = if procedure.contains(component) {
        component
    } else {
        '>'
    };
    let parts: Vec<&str> = procedure.split(sep).map(str::trim).collect();
    let qualifier = parts.first().copied().unwrap_or("").to_owned();
    let code = parts
        .get(1)
        .copied()
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let modifiers = parts
        .iter()
        .skip(2)
        .take(4)
        .filter(|m| !m.is_empty())
        .map(|m| (*m).to_owned())
        .collect();
    let mut line = ServiceLine {
        procedure: procedure.clone(),
        qualifier,
        code,
        modifiers,
        charge_cents: 0,
        paid_cents: 0,
        units: seg.opt(5),
        line_control_number: None,
        service_date: None,
        allowed_cents: None,
        remarks: Vec::new(),
        adjustments: Vec::new(),
        malformed: None,
        position: seg.position,
    };
    if line.code.is_none() {
        line.malformed = Some(format!(
            "segment {} (SVC): SVC01 '{procedure}' has no procedure code; the line is not balanced",
            seg.position
        ));
        // Its amounts are unreliable; keep them when they parse, never refuse the file.
        line.charge_cents = parse_cents(seg.el(2)).unwrap_or(0);
        line.paid_cents = parse_cents(seg.el(3)).unwrap_or(0);
        return Ok(line);
    }
    line.charge_cents = amount(seg, 2)?;
    line.paid_cents = amount(seg, 3)?;
    Ok(line)
}

fn plb(seg: &Segment, component: char) -> Result<Vec<ProviderAdjustment>, X12Error> {
    let mut out = Vec::new();
    for k in 0..6 {
        let composite = seg.el(3 + 2 * k);
        if composite.is_empty() {
            continue;
        }
        let sep = if composite.contains(component) {
            component
        } else {
            '>'
        };
        let (reason, reference) = match composite.split_once(sep) {
            Some((r, refn)) => (r.trim(), Some(refn.trim()).filter(|s| !s.is_empty())),
            None => (composite, None),
        };
        out.push(ProviderAdjustment {
            provider_id: seg.el(1).to_owned(),
            date: seg.opt(2),
            reason: reason.to_owned(),
            reference: reference.map(str::to_owned),
            amount_cents: amount(seg, 4 + 2 * k)?,
        });
    }
    Ok(out)
}

/// Parses one 835 transaction set. `component` is ISA16.
pub fn parse(t: &Transaction, component: char) -> Result<Remittance835, X12Error> {
    let mut r = Remittance835 {
        control_number: t.control_number.clone(),
        handling: String::new(),
        total_paid_cents: 0,
        credit_debit: None,
        payment_method: None,
        payment_date: None,
        trace_number: String::new(),
        payer_id: None,
        payer_name: None,
        payee_name: None,
        payee_id: None,
        payee_id_qualifier: None,
        claims: Vec::new(),
        provider_adjustments: Vec::new(),
        warnings: Vec::new(),
    };
    let mut saw_bpr = false;
    let mut saw_trn = false;
    let mut ref_2u: Option<String> = None;
    let mut n1_pr_id: Option<String> = None;
    // Where the next CAS/REF/AMT/LQ/DTM goes: the current claim, or its last line.
    let mut in_line = false;
    for seg in &t.segments {
        match seg.id.as_str() {
            "BPR" if !saw_bpr => {
                saw_bpr = true;
                r.handling = seg.el(1).to_owned();
                r.total_paid_cents = amount(seg, 2)?;
                r.credit_debit = seg.opt(3);
                r.payment_method = seg.opt(4);
                r.payment_date = seg.opt(16);
                if r.payment_date.is_none() {
                    r.warnings
                        .push("BPR16 (payment date) is missing; DTM*405 is used".into());
                }
            }
            "TRN" if !saw_trn => {
                saw_trn = true;
                r.trace_number = seg.el(2).to_owned();
                r.payer_id = seg.opt(3);
            }
            "DTM" if r.claims.is_empty() && seg.el(1) == "405" && r.payment_date.is_none() => {
                r.payment_date = seg.opt(2);
            }
            "N1" if r.claims.is_empty() => match seg.el(1) {
                "PR" => {
                    r.payer_name = seg.opt(2);
                    n1_pr_id = seg.opt(4);
                }
                "PE" => {
                    r.payee_name = seg.opt(2);
                    r.payee_id_qualifier = seg.opt(3).map(|q| q.to_ascii_uppercase());
                    r.payee_id = seg.opt(4);
                }
                _ => {}
            },
            "REF" if r.claims.is_empty() && seg.el(1) == "2U" => {
                ref_2u = seg.opt(2);
            }
            "LX" => in_line = false,
            "CLP" => {
                in_line = false;
                let pcn = seg.el(1).to_owned();
                if pcn.is_empty() {
                    return Err(X12Error::Unsupported(format!(
                        "segment {} (CLP): CLP01 (patient control number) is missing",
                        seg.position
                    )));
                }
                r.claims.push(ClaimPayment {
                    patient_control_number: pcn,
                    status_code: seg.el(2).to_owned(),
                    charge_cents: amount(seg, 3)?,
                    paid_cents: amount(seg, 4)?,
                    patient_responsibility_cents: opt_amount(seg, 5)?.unwrap_or(0),
                    filing_indicator: seg.opt(6),
                    payer_claim_number: seg.opt(7),
                    adjustments: Vec::new(),
                    lines: Vec::new(),
                    allowed_cents: None,
                    remarks: Vec::new(),
                    crossover_payer_name: None,
                    crossover_payer_id: None,
                    position: seg.position,
                });
            }
            "SVC" => {
                let Some(claim) = r.claims.last_mut() else {
                    r.warnings.push(format!(
                        "segment {}: SVC outside a claim is skipped",
                        seg.position
                    ));
                    continue;
                };
                let line = svc(seg, component)?;
                if let Some(m) = &line.malformed {
                    r.warnings.push(m.clone());
                }
                claim.lines.push(line);
                in_line = true;
            }
            "CAS" => {
                let adj = cas(seg)?;
                match (r.claims.last_mut(), in_line) {
                    (Some(c), true) => {
                        if let Some(l) = c.lines.last_mut() {
                            l.adjustments.extend(adj);
                        }
                    }
                    (Some(c), false) => c.adjustments.extend(adj),
                    (None, _) => r.warnings.push(format!(
                        "segment {}: CAS outside a claim is skipped",
                        seg.position
                    )),
                }
            }
            "REF" if in_line => {
                if seg.el(1) == "6R"
                    && let Some(l) = r.claims.last_mut().and_then(|c| c.lines.last_mut())
                {
                    l.line_control_number = seg.opt(2);
                }
            }
            "DTM" if in_line => {
                if matches!(seg.el(1), "472" | "150")
                    && let Some(l) = r.claims.last_mut().and_then(|c| c.lines.last_mut())
                    && l.service_date.is_none()
                {
                    l.service_date = seg.opt(2);
                }
            }
            "AMT" if seg.el(1) == "B6" => {
                let v = opt_amount(seg, 2)?;
                if let Some(c) = r.claims.last_mut() {
                    match (in_line, c.lines.last_mut()) {
                        (true, Some(l)) => l.allowed_cents = v,
                        _ => c.allowed_cents = v,
                    }
                }
            }
            "LQ" if in_line => {
                if let Some(l) = r.claims.last_mut().and_then(|c| c.lines.last_mut())
                    && let Some(code) = seg.opt(2)
                {
                    l.remarks.push(code);
                }
            }
            "NM1" if seg.el(1) == "TT" && !in_line => {
                if let Some(c) = r.claims.last_mut() {
                    c.crossover_payer_name = seg.opt(3);
                    c.crossover_payer_id = seg.opt(9);
                }
            }
            "MOA" | "MIA" if !in_line => {
                let fields: &[usize] = if seg.id == "MOA" {
                    &[3, 4, 5, 6, 7]
                } else {
                    &[5, 20, 21, 22, 23, 24]
                };
                if let Some(c) = r.claims.last_mut() {
                    c.remarks.extend(fields.iter().filter_map(|&k| seg.opt(k)));
                }
            }
            "PLB" => {
                in_line = false;
                r.provider_adjustments.extend(plb(seg, component)?);
            }
            _ => {}
        }
    }
    if !saw_bpr {
        return Err(X12Error::Unsupported(
            "the 835 has no BPR (financial information) segment".into(),
        ));
    }
    if r.trace_number.is_empty() {
        return Err(X12Error::Unsupported(
            "the 835 has no TRN02 (check or EFT trace number)".into(),
        ));
    }
    if r.payer_id.is_none() {
        r.payer_id = ref_2u.or(n1_pr_id);
    }
    Ok(r)
}

/// Which balancing rule failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceRule {
    Line,
    Claim,
    File,
}

impl BalanceRule {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Line => "line",
            Self::Claim => "claim",
            Self::File => "file",
        }
    }
}

/// A balancing rule that does not hold: `expected_cents` is what the adjustments (or BPR02)
/// should sum to, `actual_cents` what they do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imbalance {
    pub rule: BalanceRule,
    /// CLP01 of the claim (None for the file rule).
    pub patient_control_number: Option<String>,
    /// Index of the line in its claim (line rule only).
    pub line: Option<usize>,
    pub expected_cents: i64,
    pub actual_cents: i64,
    pub message: String,
}

/// Line: charge − paid = Σ line CAS. Malformed lines are not checked (their amounts are unreliable).
pub fn line_imbalance(claim: &ClaimPayment, index: usize) -> Option<Imbalance> {
    let line = claim.lines.get(index)?;
    if line.malformed.is_some() {
        return None;
    }
    let expected = line.charge_cents - line.paid_cents;
    let actual: i64 = line.adjustments.iter().map(|a| a.amount_cents).sum();
    (expected != actual).then(|| Imbalance {
        rule: BalanceRule::Line,
        patient_control_number: Some(claim.patient_control_number.clone()),
        line: Some(index),
        expected_cents: expected,
        actual_cents: actual,
        message: format!(
            "claim {} line {} ({}): charge − paid = {} but its adjustments sum to {}",
            claim.patient_control_number,
            index + 1,
            line.procedure,
            format_cents(expected),
            format_cents(actual)
        ),
    })
}

/// Claim: charge − paid = Σ claim CAS + Σ line CAS.
pub fn claim_imbalance(claim: &ClaimPayment) -> Option<Imbalance> {
    let expected = claim.charge_cents - claim.paid_cents;
    let actual: i64 = claim.all_adjustments().map(|a| a.amount_cents).sum();
    (expected != actual).then(|| Imbalance {
        rule: BalanceRule::Claim,
        patient_control_number: Some(claim.patient_control_number.clone()),
        line: None,
        expected_cents: expected,
        actual_cents: actual,
        message: format!(
            "claim {}: charge − paid = {} but its adjustments sum to {}",
            claim.patient_control_number,
            format_cents(expected),
            format_cents(actual)
        ),
    })
}

/// Every line and claim imbalance of one claim.
pub fn claim_imbalances(claim: &ClaimPayment) -> Vec<Imbalance> {
    (0..claim.lines.len())
        .filter_map(|i| line_imbalance(claim, i))
        .chain(claim_imbalance(claim))
        .collect()
}

/// File: BPR02 = Σ CLP04 − Σ PLB.
pub fn file_imbalance(r: &Remittance835) -> Option<Imbalance> {
    let paid: i64 = r.claims.iter().map(|c| c.paid_cents).sum();
    let plb: i64 = r.provider_adjustments.iter().map(|p| p.amount_cents).sum();
    let actual = paid - plb;
    (r.total_paid_cents != actual).then(|| Imbalance {
        rule: BalanceRule::File,
        patient_control_number: None,
        line: None,
        expected_cents: r.total_paid_cents,
        actual_cents: actual,
        message: format!(
            "BPR02 total paid {} but the claims' payments less provider adjustments make {}",
            format_cents(r.total_paid_cents),
            format_cents(actual)
        ),
    })
}

/// Every imbalance of a remittance: lines, claims, then the file.
pub fn imbalances(r: &Remittance835) -> Vec<Imbalance> {
    r.claims
        .iter()
        .flat_map(claim_imbalances)
        .chain(file_imbalance(r))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/x12/835/");

    fn read(name: &str) -> Remittance835 {
        let bytes = std::fs::read(format!("{DIR}{name}.835")).unwrap();
        let mut v = read_remittances(&bytes).unwrap();
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn cents_are_exact() {
        assert_eq!(parse_cents("945"), Some(94500));
        assert_eq!(parse_cents("945.5"), Some(94550));
        assert_eq!(parse_cents("945.00"), Some(94500));
        assert_eq!(parse_cents("-12.3"), Some(-1230));
        assert_eq!(parse_cents("-9.00"), Some(-900));
        assert_eq!(parse_cents(".5"), Some(50));
        assert_eq!(parse_cents("0.01"), Some(1));
        assert_eq!(parse_cents("211366.97"), Some(21_136_697));
        assert_eq!(parse_cents("1.230"), Some(123));
        assert_eq!(parse_cents("1.235"), None);
        assert_eq!(parse_cents(""), None);
        assert_eq!(parse_cents("-"), None);
        assert_eq!(parse_cents("."), None);
        assert_eq!(parse_cents("1e3"), None);
        assert_eq!(parse_cents("12,50"), None);
        assert_eq!(parse_cents("99999999999999999999"), None);
        assert_eq!(format_cents(-1230), "-12.30");
        assert_eq!(format_cents(5), "0.05");
    }

    /// An 835 around `body` (BPR onwards) with the right SE count.
    fn file(body: &[&str]) -> String {
        let mut segs = vec![
            "ISA*00*          *00*          *ZZ*PAYER          *ZZ*US             *261201*0800*^*00501*000000001*0*P*:",
            "GS*HP*PAYER*US*20261201*0800*1*X*005010X221A1",
            "ST*835*0001",
        ];
        segs.extend(body);
        let se = format!("SE*{}*0001", body.len() + 2);
        segs.push(&se);
        segs.extend(["GE*1*1", "IEA*1*000000001"]);
        segs.iter().map(|s| format!("{s}~")).collect()
    }

    /// Found while writing the reader's fuzz targets: amounts near the limits of i64 made the
    /// balancing rules overflow (a panic in debug builds, a silently wrapped sum in release, which
    /// could make an unbalanced claim look balanced). Such amounts are refused like any amount
    /// that does not parse.
    #[test]
    fn amounts_at_the_limits_never_overflow() {
        let huge = "92233720368547758.07";
        let cases: [&[&str]; 5] = [
            &[
                "BPR*I*0*C*ACH",
                "TRN*1*T*1",
                "CLP*A*1*0*0",
                &format!("SVC*HC:99213*{huge}*-1"),
            ],
            &["BPR*I*0*C*ACH", "TRN*1*T*1", &format!("CLP*A*1*-{huge}*1")],
            &[
                "BPR*I*0*C*ACH",
                "TRN*1*T*1",
                "CLP*A*1*0*0",
                &format!("CAS*CO*45*{huge}*1*1*{huge}"),
            ],
            &[
                &format!("BPR*I*{huge}*C*ACH"),
                "TRN*1*T*1",
                &format!("CLP*A*1*{huge}*{huge}"),
                &format!("CLP*B*1*{huge}*{huge}"),
            ],
            &[
                "BPR*I*0*C*ACH",
                "TRN*1*T*1",
                "CLP*A*1*0*0",
                &format!("PLB*P*20261231*WO:1*-{huge}*WO:2*-{huge}"),
            ],
        ];
        for body in cases {
            let text = file(body);
            match read_remittances(text.as_bytes()) {
                Ok(rs) => {
                    for r in &rs {
                        let _ = imbalances(r);
                    }
                }
                Err(e) => assert!(e.message().contains("is not an amount"), "{}", e.message()),
            }
        }
        assert_eq!(parse_cents(huge), None);
        assert_eq!(parse_cents("999999999.99"), Some(MAX_CENTS));
        assert_eq!(parse_cents("-999999999.99"), Some(-MAX_CENTS));
        assert_eq!(parse_cents("1000000000"), None);
        let big = "999999999.99";
        let text = file(&[
            "BPR*I*1999999999.98*C*ACH",
            "TRN*1*T*1",
            &format!("CLP*A*1*{big}*{big}"),
            &format!("CLP*B*1*{big}*{big}"),
        ]);
        assert!(
            read_remittances(text.as_bytes()).is_err(),
            "BPR02 over the limit"
        );
    }

    #[test]
    fn managed_care() {
        let r = read("managed-care");
        assert_eq!(r.total_paid_cents, 94500);
        assert_eq!(r.trace_number, "7170066655");
        assert_eq!(r.payer_id.as_deref(), Some("1935665544"));
        assert_eq!(r.payer_name.as_deref(), Some("RUSHMORE LIFE"));
        assert_eq!(r.payment_date.as_deref(), Some("20002316"));
        assert_eq!(r.payment_method.as_deref(), Some("ACH"));
        assert_eq!(r.payee_id.as_deref(), Some("5544667733"));
        assert_eq!(r.claims.len(), 2);
        let c = &r.claims[0];
        assert_eq!(c.patient_control_number, "5554555444");
        assert_eq!(c.status_code, "1");
        assert_eq!(
            (c.charge_cents, c.paid_cents, c.patient_responsibility_cents),
            (80000, 45000, 30000)
        );
        assert_eq!(c.payer_claim_number.as_deref(), Some("94060555410000"));
        assert_eq!(
            c.adjustments,
            vec![Adjustment {
                group: "CO".into(),
                reason: "A2".into(),
                amount_cents: 5000,
                quantity: None
            }]
        );
        assert_eq!(c.lines.len(), 1);
        assert_eq!(c.lines[0].code.as_deref(), Some("99211"));
        assert_eq!(c.lines[0].qualifier, "HC");
        assert_eq!(c.lines[0].service_date.as_deref(), Some("20020301"));
        assert_eq!(c.lines[0].adjustments[0].group, "PR");
        let c2 = &r.claims[1];
        assert_eq!(c2.lines[0].adjustments.len(), 2);
        assert_eq!(c2.lines[0].adjustments[1].reason, "45");
        assert!(imbalances(&r).is_empty(), "{:?}", imbalances(&r));
        assert!(r.provider_adjustments.is_empty());
    }

    #[test]
    fn cob_contractual_adjustment() {
        let r = read("cob-contractual-adjustment");
        assert_eq!(r.total_paid_cents, 3400);
        assert_eq!(r.trace_number, "0063158ABC");
        assert_eq!(r.payer_id.as_deref(), Some("1566339911"));
        assert_eq!(r.payment_date.as_deref(), Some("20050318"));
        let c = &r.claims[0];
        assert_eq!(c.status_code, "2");
        assert_eq!(c.patient_responsibility_cents, 0);
        let l = &c.lines[0];
        // '>' inside SVC01 although ISA16 is ':'.
        assert_eq!(l.code.as_deref(), Some("55669"));
        assert_eq!((l.charge_cents, l.paid_cents), (54100, 3400));
        assert_eq!(l.allowed_cents, Some(55000));
        let amounts: Vec<i64> = l.adjustments.iter().map(|a| a.amount_cents).collect();
        assert_eq!(amounts, vec![51600, -900]);
        assert!(imbalances(&r).is_empty(), "{:?}", imbalances(&r));
    }

    #[test]
    fn secondary_payment() {
        let r = read("secondary-payment");
        assert_eq!(r.total_paid_cents, 122_200);
        assert_eq!(r.claims.len(), 2);
        let c1 = &r.claims[0];
        assert_eq!(c1.patient_control_number, "L0004828311");
        assert!(c1.lines.is_empty());
        assert_eq!(c1.adjustments[0].amount_cents, 941_164);
        let c2 = &r.claims[1];
        assert_eq!(c2.patient_responsibility_cents, 22000);
        assert_eq!(c2.lines.len(), 2);
        assert_eq!(c2.lines[0].code.as_deref(), Some("12345"));
        assert_eq!(c2.lines[0].modifiers, vec!["26".to_owned()]);
        let l2 = &c2.lines[1];
        let adj: Vec<(&str, &str, i64)> = l2
            .adjustments
            .iter()
            .map(|a| (a.group.as_str(), a.reason.as_str(), a.amount_cents))
            .collect();
        assert_eq!(
            adj,
            vec![("PR", "1", 15000), ("PR", "2", 7000), ("CO", "42", 8500)]
        );
        let paid: i64 = r.claims.iter().map(|c| c.paid_cents).sum();
        assert_eq!(paid, r.total_paid_cents);
        assert!(imbalances(&r).is_empty(), "{:?}", imbalances(&r));
    }

    #[test]
    fn tertiary_payment_reports_the_malformed_line() {
        let r = read("tertiary-payment");
        assert_eq!(r.total_paid_cents, 18750);
        let c = &r.claims[0];
        assert_eq!(c.status_code, "3");
        assert_eq!((c.charge_cents, c.paid_cents), (176_650, 18750));
        assert_eq!(c.lines.len(), 1);
        assert!(c.lines[0].code.is_none());
        assert!(c.lines[0].malformed.is_some());
        assert!(r.warnings.iter().any(|w| w.contains("no procedure code")));
        // The line is not checked; the claim still balances with its line's CAS.
        assert!(imbalances(&r).is_empty(), "{:?}", imbalances(&r));
    }

    #[test]
    fn medicare_part_a_with_plb() {
        let r = read("medicare-part-a");
        assert_eq!(r.total_paid_cents, 15_000_000);
        assert_eq!(r.trace_number, "12345");
        assert_eq!(r.handling, "C");
        assert_eq!(r.claims.len(), 2);
        let paid: i64 = r.claims.iter().map(|c| c.paid_cents).sum();
        assert_eq!(paid, 14_999_873);
        assert_eq!(
            r.provider_adjustments,
            vec![ProviderAdjustment {
                provider_id: "6543210903".into(),
                date: Some("20021231".into()),
                reason: "CV".into(),
                reference: Some("CP".into()),
                amount_cents: -127,
            }]
        );
        assert!(imbalances(&r).is_empty(), "{:?}", imbalances(&r));
    }

    fn synthetic(body: &str) -> Remittance835 {
        let segs: Vec<&str> = body.split('~').filter(|s| !s.trim().is_empty()).collect();
        let text = format!(
            "ISA*00*          *00*          *ZZ*PAYER          *ZZ*PRACTICE       *260101*1200*^*00501*000000001*0*T*:~GS*HP*PAYER*PRACTICE*20260101*1200*1*X*005010X221A1~ST*835*0001~{}~SE*{}*0001~GE*1*1~IEA*1*000000001~",
            segs.join("~"),
            segs.len() + 2
        );
        read_remittances(text.as_bytes()).unwrap().remove(0)
    }

    #[test]
    fn balancing_rules_catch_each_level() {
        let ok = synthetic(
            "BPR*I*70*C*CHK************20260105~TRN*1*T1*PAYER1~CLP*PCN1*1*100*70*10*12*X1~SVC*HC:99213*100*70~CAS*PR*1*10~CAS*CO*45*20~REF*6R*L1",
        );
        assert!(imbalances(&ok).is_empty(), "{:?}", imbalances(&ok));
        assert_eq!(
            ok.claims[0].lines[0].line_control_number.as_deref(),
            Some("L1")
        );
        // Line off by 1.00, so the claim too.
        let bad_line = synthetic(
            "BPR*I*70*C*CHK************20260105~TRN*1*T1*PAYER1~CLP*PCN1*1*100*70*10*12*X1~SVC*HC:99213*100*70~CAS*PR*1*10~CAS*CO*45*14",
        );
        let found = imbalances(&bad_line);
        let rules: Vec<BalanceRule> = found.iter().map(|i| i.rule).collect();
        assert_eq!(rules, vec![BalanceRule::Line, BalanceRule::Claim]);
        assert_eq!(
            (found[0].expected_cents, found[0].actual_cents),
            (3000, 2400)
        );
        // Only the claim level off.
        let bad_claim = synthetic(
            "BPR*I*70*C*CHK************20260105~TRN*1*T1*PAYER1~CLP*PCN1*1*100*70*10*12*X1~CAS*CO*45*6~SVC*HC:99213*100*70~CAS*PR*1*30",
        );
        let rules: Vec<BalanceRule> = imbalances(&bad_claim).iter().map(|i| i.rule).collect();
        assert_eq!(rules, vec![BalanceRule::Claim]);
        // The file total off; PLB reduces what the claims paid.
        let bad_file = synthetic(
            "BPR*I*60*C*CHK************20260105~TRN*1*T1*PAYER1~CLP*PCN1*1*100*70*10*12*X1~CAS*CO*45*30~PLB*123*20261231*WO:ABC*5~PLB*123*20261231*L6*2*FB*1",
        );
        let found = imbalances(&bad_file);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, BalanceRule::File);
        assert_eq!(
            (found[0].expected_cents, found[0].actual_cents),
            (6000, 6200)
        );
        assert_eq!(bad_file.provider_adjustments.len(), 3);
        assert_eq!(bad_file.provider_adjustments[1].reference, None);
    }

    #[test]
    fn payee_qualifier_remarks_allowed_and_crossover() {
        let r = synthetic(
            "BPR*I*100*C*ACH************20260105~TRN*1*T3*PAYER1~N1*PE*CLINIC*xx*1234567893~LX*1~CLP*PCN1*19*150*100*50*12*X1~NM1*TT*2*MEDIGAP PLAN*****PI*MG1~MOA***MA01*N130~MIA*0***1*MA02~AMT*B6*140~CAS*PR*1*50~SVC*HC:99213*150*100~AMT*B6*140~LQ*HE*M15~LQ*RX*N4",
        );
        assert_eq!(r.payee_id_qualifier.as_deref(), Some("XX"));
        assert_eq!(r.payee_id.as_deref(), Some("1234567893"));
        let c = &r.claims[0];
        assert!(c.is_forwarded());
        assert_eq!(c.crossover_payer().as_deref(), Some("MEDIGAP PLAN (MG1)"));
        assert_eq!(c.remarks, ["MA01", "N130", "MA02"]);
        assert_eq!(c.allowed_cents, Some(14000));
        assert_eq!(c.lines[0].allowed_cents, Some(14000));
        assert_eq!(c.lines[0].remarks, ["M15", "N4"]);
        // An unmatched CLP is stored as JSON and read back unchanged.
        let json = serde_json::to_string(c).unwrap();
        assert_eq!(&serde_json::from_str::<ClaimPayment>(&json).unwrap(), c);
    }

    #[test]
    fn reversal_balances_with_negative_amounts() {
        let r = synthetic(
            "BPR*I*-70*D*CHK************20260105~TRN*1*T2*PAYER1~CLP*PCN1*22*-100*-70*-10*12*X1~CAS*CO*45*-20~CAS*PR*1*-10",
        );
        assert!(r.claims[0].is_reversal());
        assert!(imbalances(&r).is_empty(), "{:?}", imbalances(&r));
    }

    #[test]
    fn bad_input_is_refused_clearly() {
        let e = read_remittances(b"hello").unwrap_err();
        assert_eq!(e.code(), "not_x12");
        let text = "ISA*00*          *00*          *ZZ*PAYER          *ZZ*PRACTICE       *260101*1200*^*00501*000000001*0*T*:~GS*HP*PAYER*PRACTICE*20260101*1200*1*X*005010X221A1~ST*835*0001~BPR*I*7O.00*C*CHK~TRN*1*T1*P~SE*4*0001~GE*1*1~IEA*1*000000001~";
        let e = read_remittances(text.as_bytes()).unwrap_err();
        assert!(
            e.message().contains("BPR02 '7O.00' is not an amount"),
            "{e}"
        );
        let p837 = include_str!("../../../../tests/fixtures/x12/837/professional-two-lines.837");
        let e = read_remittances(p837.as_bytes()).unwrap_err();
        assert!(e.message().contains("expected 835"), "{e}");
    }
}
