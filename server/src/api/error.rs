//! The server's one error type and the JSON it turns into.
//!
//! Client errors carry a code and a message meant for the client. Server
//! errors are logged inside the request span with their full source chain and
//! answered with a generic message: internals never reach a client.

use axum::{
    Json,
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::json;

use crate::{
    overload::{ShedReason, overloaded_response},
    store::StoreError,
};

/// `Retry-After` for answers caused by a busy or absent database.
const DB_RETRY_AFTER_S: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input: the status (4xx), a stable code and a message for the client.
    #[error("{message}")]
    Client {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The user's write budget is spent; retry after this many seconds.
    #[error("too many writes; retry in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::Client {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::Client {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::Client {
            status: StatusCode::CONFLICT,
            code,
            message: message.into(),
        }
    }
}

/// The JSON of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// A stable, machine-readable code such as `invalid_query` or `unauthorized`.
    pub error: String,
    /// A sentence the app can show.
    pub message: String,
}

/// The JSON of answers that come with `Retry-After` (`503` overload, `429` rate limit).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RetryLater {
    /// `overloaded`, `deadline_exceeded`, `unavailable` (503) or `rate_limited` (429).
    pub error: String,
    /// A sentence the app can show.
    pub message: String,
    /// The same number of seconds as the `Retry-After` header.
    pub retry_after_s: u64,
}

fn body(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Client {
                status,
                code,
                message,
            } => body(status, code, &message),
            AppError::Unauthorized => body(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or invalid bearer token",
            ),
            AppError::NotFound(what) => body(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("{what} not found"),
            ),
            AppError::RateLimited { retry_after_s } => {
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({
                        "error": "rate_limited",
                        "message": "You are doing that too often. Please wait a moment and try again.",
                        "retry_after_s": retry_after_s,
                    })),
                )
                    .into_response();
                r.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(retry_after_s),
                );
                r
            }
            AppError::Store(StoreError::PoolTimeout) => {
                tracing::warn!("no database connection within the acquire timeout");
                overloaded_response(ShedReason::PoolTimeout, DB_RETRY_AFTER_S)
            }
            AppError::Store(StoreError::Busy(e)) => {
                tracing::warn!(error = %e, "database busy; answered as overload");
                overloaded_response(ShedReason::DbBusy, DB_RETRY_AFTER_S)
            }
            AppError::Store(e @ StoreError::Unavailable(_)) => {
                tracing::error!(error = ?anyhow::Error::from(e), "database unavailable");
                let mut r = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({
                        "error": "unavailable",
                        "message": "The service is temporarily unavailable. Please try again shortly.",
                        "retry_after_s": DB_RETRY_AFTER_S,
                    })),
                )
                    .into_response();
                r.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(DB_RETRY_AFTER_S),
                );
                r
            }
            AppError::Store(e) => {
                tracing::error!(error = ?anyhow::Error::from(e), "store error");
                internal()
            }
            AppError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                internal()
            }
        }
    }
}

fn internal() -> Response {
    body(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Something went wrong on our side.",
    )
}

impl From<JsonRejection> for AppError {
    fn from(r: JsonRejection) -> Self {
        let code = match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
            _ => "malformed_json",
        };
        AppError::Client {
            status: r.status(),
            code,
            message: r.body_text(),
        }
    }
}

impl From<QueryRejection> for AppError {
    fn from(r: QueryRejection) -> Self {
        AppError::bad_request("invalid_query", r.body_text())
    }
}

impl From<PathRejection> for AppError {
    fn from(r: PathRejection) -> Self {
        AppError::bad_request("invalid_path", r.body_text())
    }
}

/// Answers for requests no route matched.
pub(super) async fn not_found() -> Response {
    body(StatusCode::NOT_FOUND, "not_found", "no such route")
}

pub(super) async fn method_not_allowed() -> Response {
    body(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}
