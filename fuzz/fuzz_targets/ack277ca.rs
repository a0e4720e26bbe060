//! Any bytes through the acknowledgement reader, and every transaction set through the 277CA
//! parser whatever its id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use officina_fuzz::reader::{self, ack277ca, tokenizer};

fuzz_target!(|data: &[u8]| {
    let _ = reader::read_acknowledgement(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(interchange) = tokenizer::parse(text) {
        for t in interchange
            .groups
            .iter()
            .flat_map(|g| g.transactions.iter())
        {
            if let Ok(ack) = ack277ca::parse(t) {
                let _ = format!("{ack:?}");
            }
        }
    }
});
