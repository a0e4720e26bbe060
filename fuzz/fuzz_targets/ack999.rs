//! Any bytes through the acknowledgement reader, and every transaction set through the 999 parser
//! whatever its id (so the parser sees 277CA and 835 shapes too).
#![no_main]

use libfuzzer_sys::fuzz_target;
use officina_fuzz::reader::{self, ack999, tokenizer};

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
            let _ = ack999::parse(t);
        }
    }
});
