//! Prices as feeds write them: `15.00 USD`, `USD 15`, `1.234,56 EUR`,
//! `£15.00`, or a bare `15.00` with the currency in another column.

/// A price in minor units of an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub minor: i64,
    pub currency: String,
}

/// Currencies without minor units (a `minor` of 1 is one yen).
const ZERO_DECIMAL: [&str; 6] = ["JPY", "KRW", "VND", "CLP", "ISK", "UGX"];

/// Parses `text`; `fallback_currency` is used when the text names none.
/// The error is a short reason for the report.
pub fn parse_price(text: &str, fallback_currency: &str) -> Result<Price, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty price".into());
    }
    let mut currency: Option<String> = None;
    let mut number = String::with_capacity(text.len());
    for part in text.split_whitespace() {
        let symbol = match part {
            "€" => Some("EUR"),
            "$" => Some("USD"),
            "£" => Some("GBP"),
            _ => None,
        };
        if let Some(code) = symbol {
            currency.get_or_insert_with(|| code.to_string());
            continue;
        }
        if part.len() == 3 && part.bytes().all(|b| b.is_ascii_alphabetic()) {
            if currency.is_some() {
                return Err(format!("not a price: {text:?}"));
            }
            currency = Some(part.to_ascii_uppercase());
            continue;
        }
        // a symbol glued to the number: `£15.00`, `15,00€`
        let mut rest = part;
        for (sym, code) in [("€", "EUR"), ("$", "USD"), ("£", "GBP")] {
            if let Some(r) = rest.strip_prefix(sym).or_else(|| rest.strip_suffix(sym)) {
                currency.get_or_insert_with(|| code.to_string());
                rest = r;
            }
        }
        number.push_str(rest);
    }
    let currency = match currency {
        Some(c) => c,
        None => {
            let c = fallback_currency.trim();
            if c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()) {
                c.to_ascii_uppercase()
            } else {
                return Err(format!("no currency in {text:?}"));
            }
        }
    };
    let decimals = if ZERO_DECIMAL.contains(&currency.as_str()) {
        0
    } else {
        2
    };
    let minor = parse_amount(&number, decimals).ok_or_else(|| format!("not a price: {text:?}"))?;
    if minor <= 0 {
        return Err(format!("not a positive price: {text:?}"));
    }
    Ok(Price { minor, currency })
}

/// `1,234.56` / `1.234,56` / `15` / `15.5` in minor units with `decimals` places, rounded half up.
fn parse_amount(s: &str, decimals: u32) -> Option<i64> {
    if s.is_empty() || s.len() > 32 {
        return None;
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
    {
        return None;
    }
    // the decimal separator is the last '.' or ',' followed by one or two digits
    // (or by three when it is the only separator and a '.')
    let last = s.rfind(['.', ',']);
    let (int_part, frac_part) = match last {
        Some(i) => {
            let frac = &s[i + 1..];
            let sep = s.as_bytes()[i];
            let separators = s.bytes().filter(|&b| b == b'.' || b == b',').count();
            let is_decimal = (1..=2).contains(&frac.len())
                || (frac.len() == 3 && sep == b'.' && separators == 1)
                || frac.len() > 3;
            if is_decimal { (&s[..i], frac) } else { (s, "") }
        }
        None => (s, ""),
    };
    if !thousands_ok(int_part) {
        return None;
    }
    let int_digits: String = int_part.chars().filter(char::is_ascii_digit).collect();
    if frac_part.contains(['.', ',']) || (int_digits.is_empty() && frac_part.is_empty()) {
        return None;
    }
    let int: i64 = if int_digits.is_empty() {
        0
    } else {
        int_digits.parse().ok()?
    };
    let scale = 10i64.pow(decimals);
    let mut minor = int.checked_mul(scale)?;
    let frac: Vec<u8> = frac_part.bytes().map(|b| b - b'0').collect();
    let mut place = scale / 10;
    for (k, &d) in frac.iter().enumerate() {
        if k < decimals as usize {
            minor = minor.checked_add(i64::from(d) * place)?;
            place /= 10;
        } else {
            if d >= 5 {
                minor = minor.checked_add(1)?;
            }
            break;
        }
    }
    Some(minor)
}

/// An integer part is plain digits, or groups of three split by one kind of separator.
fn thousands_ok(int_part: &str) -> bool {
    let has_dot = int_part.contains('.');
    let has_comma = int_part.contains(',');
    if has_dot && has_comma {
        return false;
    }
    if !has_dot && !has_comma {
        return true;
    }
    let sep = if has_dot { '.' } else { ',' };
    let mut groups = int_part.split(sep);
    let first_ok = groups.next().is_some_and(|g| (1..=3).contains(&g.len()));
    first_ok && groups.all(|g| g.len() == 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Option<(i64, String)> {
        parse_price(text, "").ok().map(|p| (p.minor, p.currency))
    }

    #[test]
    fn reads_the_ways_feeds_write_prices() {
        assert_eq!(p("15.00 USD"), Some((1500, "USD".into())));
        assert_eq!(p("USD 15"), Some((1500, "USD".into())));
        assert_eq!(p("1.234,56 EUR"), Some((123_456, "EUR".into())));
        assert_eq!(p("1,234.56 eur"), Some((123_456, "EUR".into())));
        assert_eq!(p("£15.5"), Some((1550, "GBP".into())));
        assert_eq!(p("19,99€"), Some((1999, "EUR".into())));
        assert_eq!(p("1500 JPY"), Some((1500, "JPY".into())));
        assert_eq!(p("9.999 USD"), Some((1000, "USD".into())));
        assert_eq!(p("1,000 USD"), Some((100_000, "USD".into())));
        assert_eq!(
            parse_price("24.90", "gbp").ok().map(|p| p.minor),
            Some(2490)
        );
    }

    #[test]
    fn refuses_what_is_not_a_price() {
        for bad in [
            "",
            "USD",
            "free",
            "12 USD EUR",
            "-3 USD",
            "0.00 USD",
            "1.2.3,4,5 USD",
            "12",
            "99999999999999999999 USD",
            "1e5 USD",
        ] {
            assert!(p(bad).is_none(), "{bad:?} parsed");
        }
    }
}
