//! Amounts: `parse_cents` never panics, and what it accepts formats and parses back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use officina_fuzz::reader::remit835::{format_cents, parse_cents};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(cents) = parse_cents(text) {
        assert_eq!(parse_cents(&format_cents(cents)), Some(cents), "{text:?}");
    }
});
