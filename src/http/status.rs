//! Which HTTP status answers which failure, in one place.
//!
//! The 5xx answers are the backend's failures passed on (unreachable, busy, timed out,
//! misbehaving); everything the client can get wrong, or that the server decided on purpose,
//! is a 4xx.

use axum::http::StatusCode;

use crate::actions::ActionError;
use crate::backend::BackendError;

/// The status and a machine-readable `kind` for a failed job. The kind is also the
/// `outcome` label in the metrics.
pub fn classify(error: &ActionError) -> (StatusCode, &'static str) {
    match error {
        // The server's own policy (http.on_vram_warning: cancel) refused to load the model.
        ActionError::Cancelled { .. } => (StatusCode::CONFLICT, "vram_cancelled"),
        // Never happens over HTTP: the consent here always answers from the config.
        ActionError::ConsentUnavailable(_) => (StatusCode::INTERNAL_SERVER_ERROR, "consent_unavailable"),
        ActionError::Backend { source, .. } => classify_backend(source),
    }
}

pub fn classify_backend(error: &BackendError) -> (StatusCode, &'static str) {
    match error {
        BackendError::ModelNotFound { .. } => (StatusCode::NOT_FOUND, "model_not_found"),
        BackendError::Unreachable { .. } => (StatusCode::BAD_GATEWAY, "backend_unreachable"),
        BackendError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "backend_busy"),
        BackendError::FirstTokenTimeout { .. } | BackendError::Stalled { .. } => {
            (StatusCode::GATEWAY_TIMEOUT, "timeout")
        }
        BackendError::Unauthorized { .. } => (StatusCode::BAD_GATEWAY, "backend_unauthorized"),
        BackendError::StreamError { .. }
        | BackendError::Malformed { .. }
        | BackendError::Disconnected { .. }
        | BackendError::Http { .. }
        | BackendError::UnsendableApiKey { .. }
        | BackendError::NotSupported { .. } => (StatusCode::BAD_GATEWAY, "backend_error"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::actions::ConsentError;
    use crate::backend::BackendKind::{Ollama, OpenAiCompatible};
    use crate::backend::Operation;
    use crate::vocab::ModelTier;

    fn reqwest_error() -> reqwest::Error {
        reqwest::Client::new().get("not a url").build().unwrap_err()
    }

    #[test]
    fn backend_table() {
        let m = || "m".to_string();
        let a = || "http://127.0.0.1:1".to_string();
        let after = Duration::from_secs(1);
        let table: Vec<(BackendError, u16, &str)> = vec![
            (BackendError::ModelNotFound { kind: Ollama, model: m(), address: a() }, 404, "model_not_found"),
            (BackendError::ModelNotFound { kind: OpenAiCompatible, model: m(), address: a() }, 404, "model_not_found"),
            (
                BackendError::Unreachable { kind: Ollama, address: a(), source: reqwest_error() },
                502,
                "backend_unreachable",
            ),
            (
                BackendError::Unreachable { kind: OpenAiCompatible, address: a(), source: reqwest_error() },
                502,
                "backend_unreachable",
            ),
            (BackendError::Busy { address: a() }, 503, "backend_busy"),
            (BackendError::FirstTokenTimeout { model: m(), after }, 504, "timeout"),
            (BackendError::Stalled { model: m(), after }, 504, "timeout"),
            (BackendError::Unauthorized { address: a(), status: 401, hint: "h".into() }, 502, "backend_unauthorized"),
            (BackendError::StreamError { model: m(), message: "x".into() }, 502, "backend_error"),
            (BackendError::Malformed { model: m(), line: "{".into() }, 502, "backend_error"),
            (
                BackendError::Disconnected { model: m(), address: a(), source: Box::new(std::io::Error::other("x")) },
                502,
                "backend_error",
            ),
            (BackendError::Http { address: a(), status: 500, message: "x".into() }, 502, "backend_error"),
            (BackendError::UnsendableApiKey { variable: "KEY".into() }, 502, "backend_error"),
            (BackendError::NotSupported { operation: Operation::Pull, model: m(), address: a() }, 502, "backend_error"),
        ];
        for (error, status, kind) in table {
            let job =
                ActionError::Backend { model: m(), tier: ModelTier::Code, source: error, fallback: "none".into() };
            assert_eq!(classify(&job), (StatusCode::from_u16(status).unwrap(), kind), "{job:?}");
        }
    }

    #[test]
    fn job_table() {
        assert_eq!(classify(&ActionError::Cancelled { message: "c".into() }), (StatusCode::CONFLICT, "vram_cancelled"));
        let e = ActionError::ConsentUnavailable(ConsentError("x".into()));
        assert_eq!(classify(&e).0, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
