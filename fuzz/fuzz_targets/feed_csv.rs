//! Awin CSV (sniffed delimiter) through the streaming row source and the draft mapping.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outfit_server::feeds::FeedFormat;

fuzz_target!(|data: &[u8]| {
    spikeproof_fuzz::check_feed(data, FeedFormat::AwinCsv);
});
