//! Any bytes through the tokenizer: envelopes, delimiters and segments never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use officina_fuzz::reader::tokenizer;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = tokenizer::delimiters(text);
    let _ = tokenizer::segments(text);
    if let Ok(interchange) = tokenizer::parse(text) {
        for t in interchange
            .groups
            .iter()
            .flat_map(|g| g.transactions.iter())
        {
            for s in &t.segments {
                let _ = s.el(0);
                let _ = s.components(1);
                let _ = s.el(usize::from(data.first().copied().unwrap_or(0) % 32));
            }
        }
    }
});
