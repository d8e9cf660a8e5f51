//! The HTTP API (`serve-http`): the spec's `POST /infer`, plus `GET /route`, `/health`,
//! `/metrics` and `/openapi.json`, on the same pipeline as the command line and the
//! language server.
//!
//! Security: loopback only unless a bearer token is configured (`http.token_env`); with a
//! token, every request needs it. Without one, only loopback `Host` names are answered
//! (against DNS rebinding), and `/infer` takes only `application/json` (so that a web page
//! cannot post to it without a CORS preflight, which this server never grants).

mod infer;
mod metrics;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

pub use infer::{InferRequest, PolicyConsent, error_json, parse_request};
pub use metrics::{Gauges, Metrics};

use crate::actions::{self, Pipeline};
use crate::config::{Config, HttpConfig};
use crate::vocab::ModelTier;
use crate::vocab::Task;

/// The OpenAPI document of this API, kept in the repository as `openapi/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../openapi/openapi.json");

/// How long `/health` and `/metrics` wait for a backend or the VRAM probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Bad address or missing token: exit code 2.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Runtime(String),
}

pub struct AppState {
    pipeline: Arc<Pipeline>,
    http: HttpConfig,
    token: Option<String>,
    limit: Arc<Semaphore>,
    metrics: Metrics,
}

/// The token the server requires, from the variable `http.token_env` names (`var` reads the
/// environment). Refuses a non-loopback address without one, and a named variable that is
/// unset or empty (a configured token silently missing would open the server).
pub fn token_for(
    http: &HttpConfig,
    addr: SocketAddr,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ServeError> {
    let token = match &http.token_env {
        None => None,
        Some(name) => match var(name).filter(|t| !t.trim().is_empty()) {
            Some(t) => Some(t.trim().to_string()),
            None => {
                return Err(ServeError::Usage(format!(
                    "refusing to start: http.token_env names the environment variable {name}, but it is unset or \
                     empty; put the bearer token in it (e.g. `export {name}=$(openssl rand -hex 32)`)"
                )));
            }
        },
    };
    if token.is_none() && !addr.ip().is_loopback() {
        return Err(ServeError::Usage(format!(
            "refusing to listen on {addr} without a token: any address other than loopback (127.0.0.1, ::1) needs a \
             bearer token. Set http.token_env in the config to the name of an environment variable (e.g. \
             LLM_ROUTER_HTTP_TOKEN) and put the token in that variable; clients then send `Authorization: Bearer TOKEN`"
        )));
    }
    Ok(token)
}

/// Parses `--listen` (or `http.listen`).
pub fn parse_listen(listen: &str) -> Result<SocketAddr, ServeError> {
    listen.trim().parse().map_err(|_| {
        ServeError::Usage(format!("cannot listen on `{listen}`: expected IP:PORT such as 127.0.0.1:8765 or [::1]:8765"))
    })
}

/// `serve-http`: binds, prints `listening on http://ADDR` to stdout, and serves until
/// SIGINT or SIGTERM.
pub async fn serve(config: Config, listen: Option<String>) -> Result<(), ServeError> {
    let addr = parse_listen(listen.as_deref().unwrap_or(&config.http.listen))?;
    let token = token_for(&config.http, addr, |name| std::env::var(name).ok())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServeError::Runtime(format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr().map_err(|e| ServeError::Runtime(e.to_string()))?;
    let auth = if token.is_some() { "bearer token required" } else { "no token: loopback only" };
    let app = router(Arc::new(Pipeline::new(config.clone())), config.http.clone(), token);
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{local}");
        let _ = out.flush();
    }
    tracing::info!(address = %local, auth, "serving the HTTP API");
    serve_on(listener, app, &config.http, shutdown_signal()).await;
    Ok(())
}

/// Serves `app` on `listener` until `shutdown`: at most `http.max_connections` connections
/// (more are closed at once, so a flood of idle clients cannot exhaust file descriptors),
/// each with `http.header_read_timeout` to send its headers. Own accept loop because
/// `axum::serve` offers neither limit.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    app: Router,
    http: &HttpConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let connections = Arc::new(Semaphore::new(http.max_connections));
    let header_timeout = Duration::from_secs(http.header_read_timeout);
    let mut refused_logged = false;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait instead of spinning.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            if !refused_logged {
                tracing::warn!(%peer, max = http.max_connections, "too many open connections: closing new ones");
                refused_logged = true;
            }
            drop(stream);
            continue;
        };
        refused_logged = false;
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(permit);
        });
    }
    // Let requests in flight finish, briefly; idle keep-alive connections are not waited for.
    let all = u32::try_from(http.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(3), connections.acquire_many(all)).await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// The API's routes over `pipeline`. `token`: the bearer token every request must carry;
/// `None` only on loopback (see [`token_for`]).
pub fn router(pipeline: Arc<Pipeline>, http: HttpConfig, token: Option<String>) -> Router {
    let state = Arc::new(AppState {
        pipeline,
        limit: Arc::new(Semaphore::new(http.max_concurrent)),
        http,
        token,
        metrics: Metrics::new(),
    });
    Router::new()
        .route("/infer", post(infer::infer))
        .route("/route", get(route))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&state), guard))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), read_body_in_time))
        .with_state(state)
}

/// A JSON error: `{"error": ..., "status": ..., "kind": ...}`.
pub fn error_response(status: StatusCode, kind: &str, message: String) -> Response {
    (status, axum::Json(json!({"error": message, "status": status.as_u16(), "kind": kind}))).into_response()
}

/// Authentication (or, without a token, the loopback `Host` check), and JSON bodies for
/// the router's own 405s.
async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    match &state.token {
        Some(token) => {
            let presented = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim());
            if !presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes())) {
                let mut r = error_response(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "missing or wrong bearer token: send `Authorization: Bearer TOKEN` with the token from the \
                     variable named by http.token_env"
                        .into(),
                );
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return r;
            }
        }
        None => {
            let host = request.headers().get(header::HOST).and_then(|v| v.to_str().ok());
            if let Some(host) = host.filter(|h| !is_loopback_host(h)) {
                return error_response(
                    StatusCode::FORBIDDEN,
                    "forbidden_host",
                    format!(
                        "Host `{host}` is not a loopback name; without a token this server answers only \
                         127.0.0.1, localhost and [::1] (set http.token_env to allow other names)"
                    ),
                );
            }
        }
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        let (parts, _) = response.into_parts();
        let mut r = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this path; see /openapi.json".into(),
        );
        if let Some(allow) = parts.headers.get(header::ALLOW) {
            r.headers_mut().insert(header::ALLOW, allow.clone());
        }
        return r;
    }
    response
}

/// Reads the body within `http.body_read_timeout` (408 after it), so a client that sends
/// its body a byte a minute cannot hold a request slot. Reads at most one byte more than
/// `http.max_body_bytes`: the handlers still answer 413 (and count it) themselves.
async fn read_body_in_time(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    use futures_util::StreamExt;
    let (parts, body) = request.into_parts();
    let limit = state.http.max_body_bytes;
    let timeout = Duration::from_secs(state.http.body_read_timeout);
    let read = async {
        let mut stream = body.into_data_stream();
        let mut bytes = Vec::new();
        while bytes.len() <= limit {
            match stream.next().await {
                Some(Ok(chunk)) => bytes.extend_from_slice(&chunk),
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        Ok(bytes)
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Ok(Err(e)) => {
            error_response(StatusCode::BAD_REQUEST, "bad_request", format!("cannot read the request body: {e}"))
        }
        Err(_) => error_response(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!("the request body did not arrive within http.body_read_timeout ({} s)", timeout.as_secs()),
        ),
    }
}

/// Compares without an early exit, so that timing tells nothing about how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    std::hint::black_box(diff) == 0
}

/// `127.0.0.1:8765`, `localhost`, `[::1]:8765`, ...
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such endpoint; see /openapi.json".into())
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

#[derive(Debug, Deserialize)]
struct RouteParams {
    q: Option<String>,
    language: Option<String>,
    tier: Option<ModelTier>,
    task: Option<Task>,
}

/// `GET /route?q=...`: the decision, without calling a model.
async fn route(
    State(state): State<Arc<AppState>>,
    params: Result<Query<RouteParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let params = match params {
        Ok(Query(p)) => p,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, "bad_request", e.body_text()),
    };
    let Some(q) = params.q.filter(|q| !q.is_empty()) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "missing query parameter `q` (the text to route)".into(),
        );
    };
    let job = actions::Request {
        task: params.task.unwrap_or_default(),
        text: q,
        language: params.language,
        tier: params.tier,
        ..Default::default()
    };
    let decision = state.pipeline.route(&job).await;
    let mut v = serde_json::to_value(&decision).unwrap_or_default();
    v["tokens"] = json!(decision.tokens.to_string());
    axum::Json(v).into_response()
}

/// `GET /health`: each backend a tier uses (reachable, version) and the VRAM probe. 503
/// when a backend cannot be reached.
async fn health(State(state): State<Arc<AppState>>) -> Response {
    let pipeline = &state.pipeline;
    let config = pipeline.config();
    let checks = pipeline.backends().iter().map(|(name, backend)| async move {
        let used_by: Vec<&str> = [ModelTier::Fast, ModelTier::Code, ModelTier::Heavy]
            .into_iter()
            .filter(|t| config.tier(*t).backend == *name)
            .map(ModelTier::as_str)
            .collect();
        let mut v = json!({"address": backend.address(), "used_by": used_by});
        match tokio::time::timeout(PROBE_TIMEOUT, backend.version()).await {
            Ok(Ok(version)) => {
                v["reachable"] = json!(true);
                v["version"] = json!(version);
            }
            Ok(Err(e)) => {
                v["reachable"] = json!(false);
                v["error"] = json!(e.to_string());
            }
            Err(_) => {
                v["reachable"] = json!(false);
                v["error"] = json!(format!("no answer within {} s", PROBE_TIMEOUT.as_secs()));
            }
        }
        (name.clone(), used_by.is_empty(), v)
    });
    let (results, vram) = tokio::join!(futures_util::future::join_all(checks), vram_json(&state));
    let mut healthy = true;
    let mut backends = serde_json::Map::new();
    for (name, unused, v) in results {
        healthy &= unused || v["reachable"] == json!(true);
        backends.insert(name, v);
    }
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if healthy { "ok" } else { "unavailable" },
        "backends": backends,
        "vram": vram,
        "in_flight": in_flight(&state),
        "max_concurrent": state.http.max_concurrent,
    });
    (status, axum::Json(body)).into_response()
}

async fn vram_json(state: &AppState) -> Value {
    let probe = state.pipeline.probe();
    let mut v = json!({"probe": probe.name(), "monitoring": state.pipeline.config().models.vram_monitoring});
    match tokio::time::timeout(PROBE_TIMEOUT, probe.read()).await {
        Ok(Ok(reading)) => {
            v["ok"] = json!(true);
            v["usage"] = json!(reading.usage());
            v["reading"] = serde_json::to_value(&reading).unwrap_or_default();
        }
        Ok(Err(e)) => {
            v["ok"] = json!(false);
            v["error"] = json!(e.to_string());
        }
        Err(_) => {
            v["ok"] = json!(false);
            v["error"] = json!(format!("no reading within {} s", PROBE_TIMEOUT.as_secs()));
        }
    }
    v
}

fn in_flight(state: &AppState) -> usize {
    state.http.max_concurrent.saturating_sub(state.limit.available_permits())
}

/// `GET /metrics` in the Prometheus text format; VRAM is read at scrape time.
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let vram_usage = match tokio::time::timeout(PROBE_TIMEOUT, state.pipeline.probe().read()).await {
        Ok(Ok(reading)) => Some(reading.usage()),
        _ => None,
    };
    let gauges = Gauges { in_flight: in_flight(&state), max_concurrent: state.http.max_concurrent, vram_usage };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], Body::from(state.metrics.render(&gauges)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Environment;

    fn http(token_env: Option<&str>) -> HttpConfig {
        let mut h = Config::defaults(&Environment::default()).http;
        h.token_env = token_env.map(str::to_string);
        h
    }

    #[test]
    fn tokens_and_refusals() {
        let lo: SocketAddr = "127.0.0.1:8765".parse().unwrap();
        let lo6: SocketAddr = "[::1]:8765".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8765".parse().unwrap();
        let set = |_: &str| Some("s3cret".to_string());
        let unset = |_: &str| None;
        let empty = |_: &str| Some("  ".to_string());
        assert_eq!(token_for(&http(None), lo, unset).unwrap(), None);
        assert_eq!(token_for(&http(None), lo6, unset).unwrap(), None);
        let err = token_for(&http(None), any, set).unwrap_err();
        assert!(
            matches!(&err, ServeError::Usage(m) if m.contains("refusing to listen on 0.0.0.0:8765") && m.contains("http.token_env")),
            "{err}"
        );
        assert_eq!(token_for(&http(Some("T")), any, set).unwrap().as_deref(), Some("s3cret"));
        assert_eq!(token_for(&http(Some("T")), lo, set).unwrap().as_deref(), Some("s3cret"));
        for var in [unset, empty] {
            let err = token_for(&http(Some("MY_TOKEN")), any, var).unwrap_err().to_string();
            assert!(err.contains("MY_TOKEN") && err.contains("unset or empty"), "{err}");
            assert!(token_for(&http(Some("MY_TOKEN")), lo, var).is_err());
        }
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("127.0.0.1:0").unwrap().port(), 0);
        assert!(parse_listen("[::1]:8765").unwrap().ip().is_loopback());
        assert!(matches!(parse_listen("localhost:8765"), Err(ServeError::Usage(_))));
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn loopback_hosts() {
        for (host, ok) in [
            ("127.0.0.1:8765", true),
            ("127.0.0.1", true),
            ("localhost:1", true),
            ("LOCALHOST", true),
            ("[::1]:8765", true),
            ("[::1]", true),
            ("127.9.9.9:80", true),
            ("evil.example:8765", false),
            ("10.0.0.1:8765", false),
            ("[::2]:80", false),
            ("", false),
        ] {
            assert_eq!(is_loopback_host(host), ok, "{host}");
        }
    }

    #[test]
    fn openapi_document_lists_the_paths() {
        let doc: Value = serde_json::from_str(OPENAPI_JSON).expect("openapi/openapi.json parses");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
        let paths = doc["paths"].as_object().expect("paths");
        let mut names: Vec<&str> = paths.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["/health", "/infer", "/metrics", "/openapi.json", "/route"]);
        assert!(paths["/infer"]["post"]["responses"].as_object().unwrap().contains_key("504"));
    }
}
