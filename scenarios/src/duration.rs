//! Durations written as `"250ms"`, `"30s"`, `"2m"`, `"1h30m"`.
//!
//! Segments are whole numbers followed by `h`, `m`, `s` or `ms`, largest unit
//! first, each unit at most once. Printing gives the canonical form, so
//! `parse(print(d)) == d` for every duration with whole milliseconds.

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A duration with millisecond precision, as scenario files and flags write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(Duration);

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration; write it like \"30s\", \"2m\" or \"1h30m\"")]
    Empty,
    #[error("{0:?}: expected a whole number before the unit")]
    MissingNumber(String),
    #[error("{0:?}: missing unit; use ms, s, m or h (like \"30s\")")]
    MissingUnit(String),
    #[error("{0:?}: unknown unit {1:?}; use ms, s, m or h")]
    BadUnit(String, String),
    #[error("{0:?}: units must go from largest to smallest, each once (like \"1h30m\")")]
    Order(String),
    #[error("{0:?}: too long")]
    Overflow(String),
}

const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

impl Dur {
    pub const ZERO: Dur = Dur(Duration::ZERO);

    pub fn from_millis(ms: u64) -> Dur {
        Dur(Duration::from_millis(ms))
    }

    pub fn from_secs(s: u64) -> Dur {
        Dur(Duration::from_secs(s))
    }

    /// The duration, for arithmetic and timers.
    pub fn get(self) -> Duration {
        self.0
    }

    pub fn as_millis(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0.as_secs_f64()
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<Duration> for Dur {
    fn from(d: Duration) -> Dur {
        // whole milliseconds, the precision files can write
        Dur(Duration::from_millis(
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        ))
    }
}

impl FromStr for Dur {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Dur, DurationError> {
        let s = text.trim();
        if s.is_empty() {
            return Err(DurationError::Empty);
        }
        let mut rest = s;
        let mut total: u64 = 0;
        // index into UNITS of the last unit seen; later units must be smaller
        let mut last: Option<usize> = None;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(DurationError::MissingNumber(text.to_owned()));
            }
            let (number, tail) = rest.split_at(digits);
            let unit_len = tail.bytes().take_while(|b| !b.is_ascii_digit()).count();
            if unit_len == 0 {
                return Err(DurationError::MissingUnit(text.to_owned()));
            }
            let (unit, tail) = tail.split_at(unit_len);
            let Some(index) = UNITS.iter().position(|(u, _)| *u == unit) else {
                return Err(DurationError::BadUnit(text.to_owned(), unit.to_owned()));
            };
            if last.is_some_and(|l| index <= l) {
                return Err(DurationError::Order(text.to_owned()));
            }
            last = Some(index);
            let value: u64 = number
                .parse()
                .map_err(|_| DurationError::Overflow(text.to_owned()))?;
            total = value
                .checked_mul(UNITS[index].1)
                .and_then(|ms| total.checked_add(ms))
                .ok_or_else(|| DurationError::Overflow(text.to_owned()))?;
            rest = tail;
        }
        Ok(Dur::from_millis(total))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in UNITS {
            let n = ms / size;
            if n > 0 {
                write!(f, "{n}{unit}")?;
                ms -= n * size;
            }
        }
        Ok(())
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Dur, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string like \"30s\", \"2m\" or \"1h30m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn common_forms_parse() {
        let ms = |s: &str| s.parse::<Dur>().map(Dur::as_millis);
        assert_eq!(ms("250ms"), Ok(250));
        assert_eq!(ms("30s"), Ok(30_000));
        assert_eq!(ms("2m"), Ok(120_000));
        assert_eq!(ms("1h30m"), Ok(5_400_000));
        assert_eq!(ms("1m30s500ms"), Ok(90_500));
    }

    #[test]
    fn bad_units_and_orders_are_refused_with_a_reason() {
        assert!(matches!(
            "30".parse::<Dur>(),
            Err(DurationError::MissingUnit(_))
        ));
        assert!(matches!(
            "30 sec".parse::<Dur>(),
            Err(DurationError::BadUnit(..))
        ));
        assert!(matches!(
            "3d".parse::<Dur>(),
            Err(DurationError::BadUnit(..))
        ));
        assert!(matches!(
            "30s1m".parse::<Dur>(),
            Err(DurationError::Order(_))
        ));
        assert!(matches!(
            "s".parse::<Dur>(),
            Err(DurationError::MissingNumber(_))
        ));
        assert!(matches!("".parse::<Dur>(), Err(DurationError::Empty)));
        assert!(matches!(
            "99999999999999999999h".parse::<Dur>(),
            Err(DurationError::Overflow(_))
        ));
    }

    proptest! {
        #[test]
        fn print_then_parse_gives_the_same_duration(ms in 0u64..10_000_000_000) {
            let d = Dur::from_millis(ms);
            prop_assert_eq!(d.to_string().parse::<Dur>(), Ok(d));
        }

        #[test]
        fn parse_then_print_is_canonical(h in 0u64..100, m in 0u64..60, s in 0u64..60, ms in 0u64..1000) {
            let mut text = String::new();
            for (n, unit) in [(h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
                if n > 0 { text.push_str(&format!("{n}{unit}")); }
            }
            if text.is_empty() { text.push_str("0s"); }
            let d: Dur = text.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert_eq!(d.to_string(), text);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,12}") {
            let _ = text.parse::<Dur>();
        }
    }
}
