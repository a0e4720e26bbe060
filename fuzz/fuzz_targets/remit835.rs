//! Any bytes through the 835 reader, then through the balancing rules, as the import does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use officina_fuzz::reader::remit835;

fuzz_target!(|data: &[u8]| {
    if let Ok(remittances) = remit835::read_remittances(data) {
        for r in &remittances {
            let _ = remit835::imbalances(r);
            let _ = remit835::file_imbalance(r);
            for c in &r.claims {
                let _ = remit835::claim_imbalances(c);
                let _ = remit835::format_cents(c.paid_cents);
            }
        }
    }
});
