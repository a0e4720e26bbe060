//! The tolerant X12 reader: [`tokenizer`] turns bytes into checked envelopes and segments;
//! [`ack999`] and [`ack277ca`] turn transaction sets into typed acknowledgements. Pure: no I/O.

pub mod ack277ca;
pub mod ack999;
pub mod remit835;
pub mod tokenizer;

pub use tokenizer::{Interchange, Segment, Transaction, X12Error};

/// What an acknowledgement file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acknowledgement {
    /// One 999 per acknowledged functional group.
    Ack999(Vec<ack999::Ack999>),
    /// One or more 277CA transaction sets.
    Ack277(Vec<ack277ca::Ack277>),
}

/// A read acknowledgement file: its interchange and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckFile {
    pub interchange: Interchange,
    pub ack: Acknowledgement,
}

/// Reads a 999 or a 277CA file (one interchange; every transaction set of the same kind).
pub fn read_acknowledgement(bytes: &[u8]) -> Result<AckFile, X12Error> {
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
    let Some(first) = sets.first() else {
        return Err(X12Error::Unsupported(
            "the interchange has no transaction set".into(),
        ));
    };
    let ack = match first.id.as_str() {
        "999" => Acknowledgement::Ack999(
            sets.iter()
                .map(|t| ack999::parse(t))
                .collect::<Result<_, _>>()?,
        ),
        "277" => Acknowledgement::Ack277(
            sets.iter()
                .map(|t| ack277ca::parse(t))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(X12Error::Unsupported(format!(
                "a {other} transaction set is not an acknowledgement (expected 999 or 277CA)"
            )));
        }
    };
    Ok(AckFile { interchange, ack })
}

#[cfg(test)]
mod tests;
