//! Bytes to segments: the delimiters come from the ISA (element separator at byte 3, component
//! separator ISA16, segment terminator right after ISA16, repetition separator ISA11 from 00501),
//! and CR/LF around terminators is ignored. Then the envelope (ISA/IEA, GS/GE, ST/SE) is checked:
//! control numbers must match and counts must agree, or the file is refused with a clear message.

use std::fmt;

/// Why a file cannot be read. Every variant carries a message a biller can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum X12Error {
    /// Not an X12 interchange at all (no ISA, bad delimiters).
    NotX12(String),
    /// The file ends early: ISA shorter than 106 characters, a missing SE, GE or IEA.
    Truncated(String),
    /// A trailer's control number differs from its header's.
    ControlNumberMismatch(String),
    /// A trailer's count (segments, transaction sets, groups) is wrong.
    CountMismatch(String),
    /// Readable X12, but not a transaction this reader handles, or a required segment is missing.
    Unsupported(String),
}

impl X12Error {
    pub fn message(&self) -> &str {
        match self {
            Self::NotX12(m)
            | Self::Truncated(m)
            | Self::ControlNumberMismatch(m)
            | Self::CountMismatch(m)
            | Self::Unsupported(m) => m,
        }
    }
    /// A stable code for the kind of problem.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotX12(_) => "not_x12",
            Self::Truncated(_) => "truncated",
            Self::ControlNumberMismatch(_) => "control_number_mismatch",
            Self::CountMismatch(_) => "count_mismatch",
            Self::Unsupported(_) => "unsupported",
        }
    }
}

impl fmt::Display for X12Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for X12Error {}

/// The separators an interchange declares in its ISA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    pub element: char,
    pub component: char,
    pub segment: char,
    pub repetition: Option<char>,
}

/// One segment: its id, its elements (element 1 is `elements[0]`) and its 1-based position in
/// the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub id: String,
    pub elements: Vec<String>,
    pub position: usize,
    component: char,
}

impl Segment {
    /// Element `n` (1-based, as in `AK102`), trimmed; "" when absent.
    pub fn el(&self, n: usize) -> &str {
        n.checked_sub(1)
            .and_then(|i| self.elements.get(i))
            .map(|s| s.trim())
            .unwrap_or("")
    }
    /// Element `n` or `None` when absent or empty.
    pub fn opt(&self, n: usize) -> Option<String> {
        Some(self.el(n))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }
    /// The components of element `n` (one component when it is not a composite).
    pub fn components(&self, n: usize) -> Vec<&str> {
        let e = self.el(n);
        if e.is_empty() {
            return Vec::new();
        }
        e.split(self.component).map(str::trim).collect()
    }
}

/// A transaction set (ST … SE), without its ST and SE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub id: String,
    pub control_number: String,
    pub implementation: Option<String>,
    pub segments: Vec<Segment>,
}

/// A functional group (GS … GE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub functional_id: String,
    pub sender: String,
    pub receiver: String,
    pub control_number: String,
    pub version: String,
    pub transactions: Vec<Transaction>,
}

/// A checked interchange (ISA … IEA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interchange {
    pub delimiters: Delimiters,
    pub sender_qualifier: String,
    pub sender: String,
    pub receiver: String,
    pub control_number: String,
    pub version: String,
    pub groups: Vec<Group>,
}

const ISA_LEN: usize = 106;

/// Reads the delimiters from the ISA. `bytes` may start with a UTF-8 BOM or whitespace.
pub fn delimiters(text: &str) -> Result<(Delimiters, usize), X12Error> {
    let start = text.len()
        - text
            .trim_start_matches(['\u{feff}', ' ', '\r', '\n', '\t'])
            .len();
    let body = &text[start..];
    if !body.starts_with("ISA") {
        return Err(X12Error::NotX12(
            "not an X12 file: it must start with an ISA segment".into(),
        ));
    }
    let chars: Vec<char> = body.chars().take(ISA_LEN + 1).collect();
    if chars.len() < ISA_LEN {
        return Err(X12Error::Truncated(format!(
            "truncated X12: the ISA segment must be {ISA_LEN} characters, the file has {}",
            chars.len()
        )));
    }
    let element = chars[3];
    if element.is_ascii_alphanumeric() || element.is_whitespace() {
        return Err(X12Error::NotX12(format!(
            "not an X12 file: {element:?} cannot be the element separator (ISA byte 4)"
        )));
    }
    // The 16th element separator ends ISA15; ISA16 and the terminator follow it.
    let sixteenth = chars
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == element)
        .nth(15)
        .map(|(i, _)| i);
    let Some(p) = sixteenth.filter(|p| p + 2 < chars.len()) else {
        return Err(X12Error::NotX12(
            "not an X12 file: the ISA segment does not have 16 elements".into(),
        ));
    };
    let component = chars[p + 1];
    let segment = chars[p + 2];
    if component == element || segment == element || segment == component {
        return Err(X12Error::NotX12(
            "not an X12 file: the ISA declares the same character for two delimiters".into(),
        ));
    }
    let isa: String = chars[..p].iter().collect();
    let fields: Vec<&str> = isa.split(element).collect();
    let version = fields.get(12).copied().unwrap_or("");
    let repetition = fields
        .get(11)
        .and_then(|r| r.chars().next())
        .filter(|c| version >= "00501" && !c.is_ascii_alphanumeric() && *c != ' ');
    Ok((
        Delimiters {
            element,
            component,
            segment,
            repetition,
        },
        start,
    ))
}

/// Splits the file into segments (no envelope checks). CR/LF and blanks around terminators are
/// ignored; empty segments are skipped.
pub fn segments(text: &str) -> Result<(Delimiters, Vec<Segment>), X12Error> {
    let (d, start) = delimiters(text)?;
    let mut out = Vec::new();
    for raw in text[start..].split(d.segment) {
        let raw = raw.trim_matches(['\r', '\n', ' ', '\t', '\u{feff}']);
        if raw.is_empty() {
            continue;
        }
        let mut parts = raw.split(d.element);
        let id = parts.next().unwrap_or("").trim().to_ascii_uppercase();
        if id.is_empty() || id.len() > 3 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(X12Error::NotX12(format!(
                "not X12: segment {} starts with {:?}, which is not a segment id",
                out.len() + 1,
                id.chars().take(10).collect::<String>()
            )));
        }
        out.push(Segment {
            id,
            elements: parts.map(str::to_owned).collect(),
            position: out.len() + 1,
            component: d.component,
        });
    }
    Ok((d, out))
}

fn count_matches(declared: &str, actual: usize) -> bool {
    declared.trim().parse::<usize>().ok() == Some(actual)
}

fn same_number(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Reads and checks a whole interchange: one ISA … IEA with its groups and transaction sets.
pub fn parse(text: &str) -> Result<Interchange, X12Error> {
    let (d, segs) = segments(text)?;
    let mut it = segs.into_iter().peekable();
    let isa = it
        .next()
        .ok_or_else(|| X12Error::NotX12("not an X12 file: no ISA segment".into()))?;
    let control = isa.el(13).to_owned();
    let mut ic = Interchange {
        delimiters: d,
        sender_qualifier: isa.el(5).to_owned(),
        sender: isa.el(6).to_owned(),
        receiver: isa.el(8).to_owned(),
        control_number: control.clone(),
        version: isa.el(12).to_owned(),
        groups: Vec::new(),
    };
    loop {
        let Some(seg) = it.next() else {
            return Err(X12Error::Truncated(format!(
                "truncated X12: interchange {control} has no IEA trailer"
            )));
        };
        match seg.id.as_str() {
            "GS" => ic.groups.push(read_group(&seg, &mut it)?),
            "IEA" => {
                if !same_number(seg.el(2), &control) {
                    return Err(X12Error::ControlNumberMismatch(format!(
                        "IEA02 {} does not match ISA13 {control}",
                        seg.el(2)
                    )));
                }
                if !count_matches(seg.el(1), ic.groups.len()) {
                    return Err(X12Error::CountMismatch(format!(
                        "IEA01 says {} functional groups, the interchange has {}",
                        seg.el(1),
                        ic.groups.len()
                    )));
                }
                break;
            }
            other => {
                return Err(X12Error::Unsupported(format!(
                    "segment {} ({other}) is outside any functional group",
                    seg.position
                )));
            }
        }
    }
    if let Some(extra) = it.next() {
        return Err(X12Error::Unsupported(format!(
            "segment {} ({}) follows the IEA: one interchange per file",
            extra.position, extra.id
        )));
    }
    Ok(ic)
}

fn read_group(gs: &Segment, it: &mut impl Iterator<Item = Segment>) -> Result<Group, X12Error> {
    let control = gs.el(6).to_owned();
    let mut g = Group {
        functional_id: gs.el(1).to_owned(),
        sender: gs.el(2).to_owned(),
        receiver: gs.el(3).to_owned(),
        control_number: control.clone(),
        version: gs.el(8).to_owned(),
        transactions: Vec::new(),
    };
    loop {
        let Some(seg) = it.next() else {
            return Err(X12Error::Truncated(format!(
                "truncated X12: functional group {control} has no GE trailer"
            )));
        };
        match seg.id.as_str() {
            "ST" => g.transactions.push(read_transaction(&seg, it)?),
            "GE" => {
                if !same_number(seg.el(2), &control) {
                    return Err(X12Error::ControlNumberMismatch(format!(
                        "GE02 {} does not match GS06 {control}",
                        seg.el(2)
                    )));
                }
                if !count_matches(seg.el(1), g.transactions.len()) {
                    return Err(X12Error::CountMismatch(format!(
                        "GE01 says {} transaction sets, group {control} has {}",
                        seg.el(1),
                        g.transactions.len()
                    )));
                }
                return Ok(g);
            }
            "IEA" => {
                return Err(X12Error::Truncated(format!(
                    "truncated X12: functional group {control} has no GE trailer"
                )));
            }
            other => {
                return Err(X12Error::Unsupported(format!(
                    "segment {} ({other}) is outside any transaction set",
                    seg.position
                )));
            }
        }
    }
}

fn read_transaction(
    st: &Segment,
    it: &mut impl Iterator<Item = Segment>,
) -> Result<Transaction, X12Error> {
    let control = st.el(2).to_owned();
    let mut t = Transaction {
        id: st.el(1).to_owned(),
        control_number: control.clone(),
        implementation: st.opt(3),
        segments: Vec::new(),
    };
    loop {
        let Some(seg) = it.next() else {
            return Err(X12Error::Truncated(format!(
                "truncated X12: transaction set {control} has no SE trailer"
            )));
        };
        match seg.id.as_str() {
            "SE" => {
                if seg.el(2) != control {
                    return Err(X12Error::ControlNumberMismatch(format!(
                        "SE02 {} does not match ST02 {control}",
                        seg.el(2)
                    )));
                }
                // SE01 counts ST and SE too.
                let n = t.segments.len() + 2;
                if !count_matches(seg.el(1), n) {
                    return Err(X12Error::CountMismatch(format!(
                        "SE01 says {} segments, transaction set {control} has {n}",
                        seg.el(1)
                    )));
                }
                return Ok(t);
            }
            "GE" | "IEA" | "ST" | "GS" => {
                return Err(X12Error::Truncated(format!(
                    "truncated X12: transaction set {control} has no SE trailer (found {} at segment {})",
                    seg.id, seg.position
                )));
            }
            _ => t.segments.push(seg),
        }
    }
}
