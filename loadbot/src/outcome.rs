//! What became of a request: the six outcomes loadbot counts, and the check
//! of a `503` against the overload contract.

use serde::{Deserialize, Serialize};

/// The fate of one request, as the app would see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// 2xx.
    Ok,
    /// A `503` that follows the overload contract.
    Shed,
    /// 4xx.
    ClientError,
    /// 5xx, a `503` that breaks the contract, or an unexpected 1xx/3xx.
    ServerError,
    /// Refused, reset or broken connections: an answer, but not HTTP.
    ConnectionError,
    /// No answer within the client timeout.
    Silent,
    /// An impatient user gave up waiting and pulled to refresh.
    Refreshed,
}

impl Outcome {
    pub(crate) const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::Shed,
        Outcome::ClientError,
        Outcome::ServerError,
        Outcome::ConnectionError,
        Outcome::Silent,
        Outcome::Refreshed,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Shed => "shed",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::ConnectionError => "connection_error",
            Outcome::Silent => "silent",
            Outcome::Refreshed => "refreshed",
        }
    }

    /// Counted in the error rate.
    pub(crate) fn is_error(self) -> bool {
        matches!(
            self,
            Outcome::ClientError | Outcome::ServerError | Outcome::ConnectionError
        )
    }
}

/// The contract's shed body.
#[derive(Debug, Deserialize)]
struct ShedBody {
    error: String,
    message: String,
    retry_after_s: u64,
}

/// Classifies an HTTP answer; for a contract `503` also returns its `Retry-After`.
pub(crate) fn classify(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> (Outcome, Option<u64>) {
    match status {
        200..=299 => (Outcome::Ok, None),
        503 => match shed_contract(retry_after, body) {
            Some(seconds) => (Outcome::Shed, Some(seconds)),
            None => (Outcome::ServerError, None),
        },
        400..=499 => (Outcome::ClientError, None),
        _ => (Outcome::ServerError, None),
    }
}

/// `Some(Retry-After seconds)` when a 503 follows the contract: a numeric
/// `Retry-After` and `{"error":"overloaded"|"deadline_exceeded","message","retry_after_s"}`
/// that agree.
fn shed_contract(retry_after: Option<&str>, body: &[u8]) -> Option<u64> {
    let header: u64 = retry_after?.trim().parse().ok()?;
    let body: ShedBody = serde_json::from_slice(body).ok()?;
    let known = body.error == "overloaded" || body.error == "deadline_exceeded";
    (known && !body.message.is_empty() && body.retry_after_s == header).then_some(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHED: &[u8] = br#"{"error":"overloaded","message":"busy","retry_after_s":2}"#;

    #[test]
    fn a_contract_503_is_a_shed() {
        assert_eq!(classify(503, Some("2"), SHED), (Outcome::Shed, Some(2)));
        let deadline = br#"{"error":"deadline_exceeded","message":"slow","retry_after_s":1}"#;
        assert_eq!(classify(503, Some("1"), deadline), (Outcome::Shed, Some(1)));
    }

    #[test]
    fn a_503_that_breaks_the_contract_is_a_server_error() {
        assert_eq!(
            classify(503, None, SHED).0,
            Outcome::ServerError,
            "no Retry-After"
        );
        assert_eq!(
            classify(503, Some("3"), SHED).0,
            Outcome::ServerError,
            "disagreeing figures"
        );
        assert_eq!(
            classify(503, Some("2"), b"busy").0,
            Outcome::ServerError,
            "not JSON"
        );
        let other = br#"{"error":"unavailable","message":"db","retry_after_s":2}"#;
        assert_eq!(
            classify(503, Some("2"), other).0,
            Outcome::ServerError,
            "other code"
        );
    }

    #[test]
    fn statuses_map_to_outcomes() {
        assert_eq!(classify(201, None, b"").0, Outcome::Ok);
        assert_eq!(classify(409, None, b"").0, Outcome::ClientError);
        assert_eq!(classify(500, None, b"").0, Outcome::ServerError);
        assert_eq!(classify(302, None, b"").0, Outcome::ServerError);
    }
}
