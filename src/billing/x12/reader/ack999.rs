//! The 999 implementation acknowledgment (005010X231A1): AK1 names the functional group it
//! answers (AK102 = the GS06 of our 837), AK2/IK3/IK4/IK5 report each transaction set and its
//! errors, AK9 gives the verdict on the group (A accepted, E accepted with errors, P partially
//! accepted, R rejected) and the counts.

use super::tokenizer::{Segment, Transaction, X12Error};

/// An IK4: an element in error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementError {
    /// IK401: position in the segment, `"2"` or `"2:1"` for a component.
    pub position: String,
    /// IK402: the data element reference number.
    pub element_reference: Option<String>,
    /// IK403: the implementation data element syntax error code.
    pub code: String,
    /// IK404: a copy of the bad element.
    pub bad_value: Option<String>,
}

/// An IK3: a segment in error, with its IK4 elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentError {
    /// IK301: the segment id (e.g. `NM1`).
    pub segment_id: String,
    /// IK302: its position in the transaction set (ST is 1).
    pub position: Option<u32>,
    /// IK303: the loop it is in (e.g. `2010BA`).
    pub loop_id: Option<String>,
    /// IK304: the implementation segment syntax error code.
    pub code: String,
    pub elements: Vec<ElementError>,
}

/// AK2 … IK5: one acknowledged transaction set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionAck {
    /// AK201 (e.g. `837`).
    pub transaction_set_id: String,
    /// AK202: the ST02 of our transaction set.
    pub control_number: String,
    /// IK501: A, E, M, R, W or X.
    pub status: String,
    /// IK502–IK506.
    pub codes: Vec<String>,
    pub errors: Vec<SegmentError>,
}

/// One 999 transaction set: the answer for one functional group we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack999 {
    /// AK101 (e.g. `HC`).
    pub functional_id: String,
    /// AK102: the GS06 of the acknowledged group.
    pub group_control_number: String,
    /// AK103.
    pub version: Option<String>,
    pub transactions: Vec<TransactionAck>,
    /// AK901: A, E, P or R.
    pub status: String,
    /// AK902–AK904.
    pub included: Option<u32>,
    pub received: Option<u32>,
    pub accepted: Option<u32>,
    /// AK905–AK909.
    pub codes: Vec<String>,
}

fn num(s: &Segment, n: usize) -> Option<u32> {
    s.el(n).parse().ok()
}

fn codes(s: &Segment, from: usize, to: usize) -> Vec<String> {
    (from..=to).filter_map(|i| s.opt(i)).collect()
}

/// Reads one `ST*999` transaction set.
pub fn parse(t: &Transaction) -> Result<Ack999, X12Error> {
    if t.id != "999" {
        return Err(X12Error::Unsupported(format!(
            "transaction set {} is a {}, not a 999",
            t.control_number, t.id
        )));
    }
    let mut ak1: Option<&Segment> = None;
    let mut ak9: Option<&Segment> = None;
    let mut transactions: Vec<TransactionAck> = Vec::new();
    for s in &t.segments {
        match s.id.as_str() {
            "AK1" => ak1 = Some(s),
            "AK2" => transactions.push(TransactionAck {
                transaction_set_id: s.el(1).to_owned(),
                control_number: s.el(2).to_owned(),
                status: String::new(),
                codes: Vec::new(),
                errors: Vec::new(),
            }),
            "IK3" => {
                let Some(ts) = transactions.last_mut() else {
                    return Err(X12Error::Unsupported(format!(
                        "999 {}: IK3 at segment {} before any AK2",
                        t.control_number, s.position
                    )));
                };
                ts.errors.push(SegmentError {
                    segment_id: s.el(1).to_owned(),
                    position: num(s, 2),
                    loop_id: s.opt(3),
                    code: s.el(4).to_owned(),
                    elements: Vec::new(),
                });
            }
            "IK4" => {
                let Some(seg) = transactions.last_mut().and_then(|ts| ts.errors.last_mut()) else {
                    return Err(X12Error::Unsupported(format!(
                        "999 {}: IK4 at segment {} without an IK3",
                        t.control_number, s.position
                    )));
                };
                seg.elements.push(ElementError {
                    position: s.components(1).join(":"),
                    element_reference: s.opt(2),
                    code: s.el(3).to_owned(),
                    bad_value: s.opt(4),
                });
            }
            "IK5" => {
                if let Some(ts) = transactions.last_mut() {
                    ts.status = s.el(1).to_owned();
                    ts.codes = codes(s, 2, 6);
                }
            }
            "AK9" => ak9 = Some(s),
            // CTX (context) and anything else carry nothing we act on.
            _ => {}
        }
    }
    let ak1 = ak1.ok_or_else(|| {
        X12Error::Unsupported(format!("999 {} has no AK1 segment", t.control_number))
    })?;
    let ak9 = ak9.ok_or_else(|| {
        X12Error::Unsupported(format!("999 {} has no AK9 segment", t.control_number))
    })?;
    let status = ak9.el(1).to_ascii_uppercase();
    if !matches!(status.as_str(), "A" | "E" | "P" | "R") {
        return Err(X12Error::Unsupported(format!(
            "999 {}: AK901 must be A, E, P or R, not {:?}",
            t.control_number, status
        )));
    }
    if ak1.el(2).is_empty() {
        return Err(X12Error::Unsupported(format!(
            "999 {}: AK102 (the group control number) is empty",
            t.control_number
        )));
    }
    Ok(Ack999 {
        functional_id: ak1.el(1).to_owned(),
        group_control_number: ak1.el(2).to_owned(),
        version: ak1.opt(3),
        transactions,
        status,
        included: num(ak9, 2),
        received: num(ak9, 3),
        accepted: num(ak9, 4),
        codes: codes(ak9, 5, 9),
    })
}
