//! Feed prices (`15.00 USD`, `1.234,56 EUR`, `£15`) with a fallback currency column.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outfit_server::feeds::price::parse_price;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // `price|currency`, as an Awin row gives them
    let (price, fallback) = text.split_once('|').unwrap_or((text, ""));
    match parse_price(price, fallback) {
        Ok(p) => {
            assert!(p.minor > 0, "{price:?} parsed to {}", p.minor);
            assert!(
                p.currency.len() == 3 && p.currency.bytes().all(|b| b.is_ascii_uppercase()),
                "{price:?} parsed to currency {:?}",
                p.currency
            );
            // the same price with its currency spelled out parses to the same amount
            let again = parse_price(price, &p.currency);
            assert_eq!(
                again.as_ref().ok(),
                Some(&p),
                "{price:?} with {:?}",
                p.currency
            );
        }
        Err(e) => assert!(!e.is_empty(), "a price error without a message"),
    }
});
