//! The language server. The only module that knows LSP types: it converts between the
//! protocol and the router, pipeline and actions, and keeps handlers thin.
//!
//! Concurrency rules (tower-lsp-server runs handlers concurrently and does not serialise
//! notifications): document state is updated before any `.await`; the state lock is never
//! held across an `.await`; every request the server sends to the client has a timeout;
//! model work runs in spawned tasks, never inside `codeAction` or `executeCommand`.

mod documents;
mod jobs;
mod messages;
mod position;
mod preload;
mod safety;
mod state;
pub mod transport;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use tower_lsp_server::jsonrpc::{Error as RpcError, Result as RpcResult};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use crate::config::Environment;
use state::Shared;

pub use position::Encoding;

pub const CMD_EXPLAIN: &str = "llm-router.explain";
pub const CMD_GENERATE: &str = "llm-router.generate";
pub const CMD_ASK: &str = "llm-router.ask";
pub const CMD_CANCEL: &str = "llm-router.cancel";
pub const CMD_CONSENT: &str = "llm-router.consent";
pub const CMD_INFER: &str = "llm-router.infer";
pub const CMD_FIX: &str = "llm-router.fix";

pub struct RouterLanguageServer {
    client: Client,
    shared: Arc<Shared>,
}

/// Builds the service; `config_path` is `--config`. Used by `serve_stdio` and by tests that
/// talk to the server in-process.
pub fn service(
    config_path: Option<PathBuf>,
    env: Environment,
) -> (LspService<RouterLanguageServer>, tower_lsp_server::ClientSocket) {
    LspService::build(move |client| RouterLanguageServer { client, shared: Arc::new(Shared::new(config_path, env)) })
        .custom_method("window/workDoneProgress/cancel", RouterLanguageServer::work_done_progress_cancel)
        .finish()
}

/// Serves LSP over stdin/stdout until the client exits, through [`transport`] so that no
/// input ends the server.
pub async fn serve_stdio(config_path: Option<PathBuf>) -> transport::Ending {
    let env = Environment::from_process();
    // A broken config is reported by the server itself (Shared::new); the limit falls back.
    let max = crate::config::load(config_path.as_deref(), &env)
        .map(|(c, _)| c.lsp.max_message_bytes)
        .unwrap_or(transport::DEFAULT_MAX_FRAME);
    let (service, socket) = service(config_path, env);
    transport::run(tokio::io::stdin(), tokio::io::stdout(), max, move |input, output| async move {
        Server::new(input, output, socket).serve(service).await;
    })
    .await
}

impl RouterLanguageServer {
    async fn work_done_progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        self.shared.cancel_by_token(&params.token);
    }
}

impl LanguageServer for RouterLanguageServer {
    async fn initialize(&self, params: InitializeParams) -> RpcResult<InitializeResult> {
        let encoding = self.shared.initialize(&params);
        let commands = [CMD_EXPLAIN, CMD_GENERATE, CMD_ASK, CMD_CANCEL, CMD_CONSENT, CMD_INFER, CMD_FIX];
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(encoding.kind()),
                text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::INCREMENTAL)),
                code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
                    code_action_kinds: Some(vec![CodeActionKind::QUICKFIX, CodeActionKind::REFACTOR_REWRITE]),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                    resolve_provider: Some(false),
                })),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: commands.iter().map(|c| c.to_string()).collect(),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                }),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "llm-router-lsp".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        if let Some(message) = self.shared.take_config_error() {
            self.client.show_message(MessageType::ERROR, message).await;
        }
    }

    async fn shutdown(&self) -> RpcResult<()> {
        self.shared.cancel_all();
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let uri = params.text_document.uri.clone();
        self.shared.did_open(params.text_document);
        safety::document_opened(&self.shared, &self.client, uri);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        self.shared.did_change(&params.text_document, &params.content_changes);
        safety::document_changed(&self.shared, &self.client, params.text_document.uri);
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.shared.did_close(&params.text_document.uri);
        safety::document_closed(&self.shared, &self.client, &params.text_document.uri).await;
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        if let Err(message) = self.shared.reconfigure(&params.settings) {
            self.client.show_message(MessageType::ERROR, message).await;
        }
    }

    async fn code_action(&self, params: CodeActionParams) -> RpcResult<Option<CodeActionResponse>> {
        let (actions, decision) =
            self.shared.code_actions(&params.text_document.uri, params.range, &params.context.diagnostics);
        if let Some(decision) = decision {
            preload::schedule(&self.shared, decision);
        }
        Ok(Some(actions))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> RpcResult<Option<Value>> {
        let arg = params.arguments.into_iter().next().unwrap_or(Value::Null);
        match params.command.as_str() {
            CMD_EXPLAIN | CMD_GENERATE | CMD_ASK => {
                let task = jobs::task_of(&params.command).expect("matched above");
                let args = parse_args(arg)?;
                jobs::start(&self.shared, &self.client, task, args, None).map_err(RpcError::invalid_params)?;
                Ok(None)
            }
            CMD_CONSENT => {
                let args: jobs::ConsentArgs =
                    serde_json::from_value(arg).map_err(|e| RpcError::invalid_params(e.to_string()))?;
                jobs::start_with_consent(&self.shared, &self.client, args).map_err(RpcError::invalid_params)?;
                Ok(None)
            }
            CMD_FIX => {
                let args: jobs::FixArgs = serde_json::from_value(arg)
                    .map_err(|e| RpcError::invalid_params(format!("expected {{uri, version, diagnostic}}: {e}")))?;
                jobs::start_fix(&self.shared, &self.client, args).map_err(RpcError::invalid_params)?;
                Ok(None)
            }
            CMD_CANCEL => {
                let uri = arg.get("uri").and_then(Value::as_str).and_then(|u| u.parse::<Uri>().ok());
                let n = self.shared.cancel_jobs(uri.as_ref());
                Ok(Some(serde_json::json!({"cancelled": n})))
            }
            // Runs the job inside the request, so `$/cancelRequest` stops it (the handler
            // future is dropped, and with it the connection to the model).
            CMD_INFER => jobs::infer(&self.shared, &self.client, arg).await.map(Some),
            other => Err(RpcError::invalid_params(format!("unknown command `{other}`"))),
        }
    }
}

fn parse_args(arg: Value) -> RpcResult<jobs::CommandArgs> {
    serde_json::from_value(arg).map_err(|e| RpcError::invalid_params(format!("expected {{uri, range, version}}: {e}")))
}
