//! The 277CA claim acknowledgment (005010X214): an HL tree of information source (20),
//! receiver (21), billing provider (19) and patient (PT); at the patient level each claim has a
//! TRN*2 whose TRN02 is our patient control number (CLM01), one or more STC statuses, and
//! REF*1K, the payer's claim control number. SVC loops carry line-level statuses.
//!
//! How a claim's statuses become a verdict ([`Verdict`]), from the first component of each
//! claim-level STC01/STC10/STC11 (X12 code list 507, claim status category):
//!
//! | category | meaning | verdict |
//! |---|---|---|
//! | A1 | acknowledged, received | accepted |
//! | A2 | accepted into the adjudication system | accepted |
//! | A5 | split claim (accepted in parts) | accepted |
//! | A3 | returned as unprocessable | rejected |
//! | A4 | not found | rejected |
//! | A6 | rejected for missing information | rejected |
//! | A7 | rejected for invalid information | rejected |
//! | A8 | rejected for relational field in error | rejected |
//! | anything else (A0 forwarded, E0–E4 response errors, P/F/R…) | no decision | none |
//!
//! A rejection wins over an acceptance when a claim carries both.

use super::tokenizer::{Segment, Transaction, X12Error};

/// One STC: `category:status[:entity]` plus the date, action and charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Every composite of STC01, STC10 and STC11, as sent (`A3:21:PR`).
    pub codes: Vec<String>,
    /// The categories of those composites (`A3`).
    pub categories: Vec<String>,
    /// STC02 (CCYYMMDD).
    pub date: Option<String>,
    /// STC03 (WQ accepted, U rejected…).
    pub action: Option<String>,
    /// STC04.
    pub charge: Option<String>,
    /// STC12 free-form message.
    pub message: Option<String>,
}

/// What a claim's statuses say (see the table in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Rejected,
    None,
}

pub fn category_verdict(category: &str) -> Verdict {
    match category.trim().to_ascii_uppercase().as_str() {
        "A1" | "A2" | "A5" => Verdict::Accepted,
        "A3" | "A4" | "A6" | "A7" | "A8" => Verdict::Rejected,
        _ => Verdict::None,
    }
}

/// A service line status (SVC loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineStatus {
    /// SVC01 (`HC:99213`).
    pub procedure: String,
    /// REF*FJ, our line item control number.
    pub line_control_number: Option<String>,
    pub statuses: Vec<Status>,
}

/// One claim in the 277CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAck {
    /// TRN02 at the patient level: our patient control number.
    pub patient_control_number: String,
    /// REF*1K: the payer's claim control number.
    pub payer_claim_number: Option<String>,
    pub statuses: Vec<Status>,
    pub lines: Vec<LineStatus>,
}

impl ClaimAck {
    /// Every claim-level STC code, in order.
    pub fn codes(&self) -> Vec<String> {
        self.statuses.iter().flat_map(|s| s.codes.clone()).collect()
    }
    /// Rejected if any claim-level category rejects, else accepted if any accepts.
    pub fn verdict(&self) -> Verdict {
        let verdicts: Vec<Verdict> = self
            .statuses
            .iter()
            .flat_map(|s| s.categories.iter().map(|c| category_verdict(c)))
            .collect();
        if verdicts.contains(&Verdict::Rejected) {
            Verdict::Rejected
        } else if verdicts.contains(&Verdict::Accepted) {
            Verdict::Accepted
        } else {
            Verdict::None
        }
    }
}

/// One 277CA transaction set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack277 {
    /// BHT03: the originator's reference.
    pub reference: Option<String>,
    /// NM1*PR name of the information source.
    pub payer_name: Option<String>,
    /// TRN02 at the information receiver level (our 837's BHT03, when the payer echoes it).
    pub receiver_trace: Option<String>,
    pub claims: Vec<ClaimAck>,
}

fn status(s: &Segment) -> Status {
    let mut codes = Vec::new();
    let mut categories = Vec::new();
    for n in [1, 10, 11] {
        let comps = s.components(n);
        if comps.first().is_some_and(|c| !c.is_empty()) {
            categories.push(comps[0].to_ascii_uppercase());
            codes.push(comps.join(":"));
        }
    }
    Status {
        codes,
        categories,
        date: s.opt(2),
        action: s.opt(3),
        charge: s.opt(4),
        message: s.opt(12),
    }
}

/// Reads one `ST*277` transaction set.
pub fn parse(t: &Transaction) -> Result<Ack277, X12Error> {
    if t.id != "277" {
        return Err(X12Error::Unsupported(format!(
            "transaction set {} is a {}, not a 277",
            t.control_number, t.id
        )));
    }
    let mut out = Ack277 {
        reference: None,
        payer_name: None,
        receiver_trace: None,
        claims: Vec::new(),
    };
    let mut level = String::new();
    let mut in_claim = false;
    let mut in_line = false;
    let mut saw_hl = false;
    for s in &t.segments {
        match s.id.as_str() {
            "BHT" => out.reference = s.opt(3),
            "HL" => {
                saw_hl = true;
                level = s.el(3).to_ascii_uppercase();
                in_claim = false;
                in_line = false;
            }
            "NM1" if level == "20" && s.el(1) == "PR" => out.payer_name = s.opt(3),
            "TRN" if level == "21" && s.el(1) == "2" => out.receiver_trace = s.opt(2),
            "TRN" if level == "PT" && s.el(1) == "2" => {
                let pcn = s.el(2).to_owned();
                if pcn.is_empty() {
                    return Err(X12Error::Unsupported(format!(
                        "277 {}: TRN at segment {} has no patient control number (TRN02)",
                        t.control_number, s.position
                    )));
                }
                out.claims.push(ClaimAck {
                    patient_control_number: pcn,
                    payer_claim_number: None,
                    statuses: Vec::new(),
                    lines: Vec::new(),
                });
                in_claim = true;
                in_line = false;
            }
            "STC" if in_claim => {
                if let Some(c) = out.claims.last_mut() {
                    match (in_line, c.lines.last_mut()) {
                        (true, Some(l)) => l.statuses.push(status(s)),
                        _ => c.statuses.push(status(s)),
                    }
                }
            }
            "REF" if in_claim => {
                if let Some(c) = out.claims.last_mut() {
                    match (s.el(1), in_line, c.lines.last_mut()) {
                        ("1K", false, _) => c.payer_claim_number = s.opt(2),
                        ("FJ", true, Some(l)) => l.line_control_number = s.opt(2),
                        _ => {}
                    }
                }
            }
            "SVC" if in_claim => {
                if let Some(c) = out.claims.last_mut() {
                    c.lines.push(LineStatus {
                        procedure: s.components(1).join(":"),
                        line_control_number: None,
                        statuses: Vec::new(),
                    });
                    in_line = true;
                }
            }
            _ => {}
        }
    }
    if !saw_hl {
        return Err(X12Error::Unsupported(format!(
            "277 {} has no HL segment: not a claim acknowledgment",
            t.control_number
        )));
    }
    Ok(out)
}
