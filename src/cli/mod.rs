//! The command line: the router without an editor.
//!
//! stdout carries only the command's result (the answer, the code, the JSON); everything
//! else (decisions, progress, warnings) goes to stderr, so the output can be piped.
//! Exit codes: 0 success, 1 runtime failure (including the user's "Cancel"; for `check`,
//! findings), 2 usage or config error, 3 `generate` produced dangerous shell code (not
//! printed; `--allow-dangerous` prints it).

mod models;
mod requests;
mod routing;

use models::*;
use requests::*;
use routing::*;

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::actions::ActionError;
use crate::config::{self, Environment};
use crate::vocab::{ModelTier, Task};

const EXIT_RUNTIME: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_DANGER: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "llm-router-lsp",
    version,
    about = "Routes editor and command-line requests to the right local LLM, guarding GPU memory"
)]
struct Cli {
    /// Config file (default: $LLM_ROUTER_LSP_CONFIG, then ~/.config/llm-router-lsp/config.yaml).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Speak LSP over stdin/stdout (also the default without a command; editors pass it).
    #[arg(long)]
    stdio: bool,
    /// Also write logs to this file (stderr always gets them; filter with RUST_LOG).
    #[arg(long, global = true, value_name = "PATH")]
    log_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the routing decision without calling a model.
    Route {
        #[arg(long)]
        json: bool,
        /// Instead of one query: route every row of a labelled TSV
        /// (`label<TAB>group<TAB>language<TAB>text`, label `code` or `general`) and print the
        /// accuracy per group, the confusion matrix and the misroutes.
        #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["query", "json"])]
        eval: Vec<PathBuf>,
        /// The query; `-` reads it from stdin.
        #[arg(required_unless_present = "eval")]
        query: Option<String>,
        /// Document language, e.g. shellscript, python.
        #[arg(long)]
        language: Option<String>,
        /// Ask for a tier: fast, code or heavy.
        #[arg(long)]
        tier: Option<ModelTier>,
        /// What the query is for: ask, explain or generate.
        #[arg(long, value_parser = parse_task, default_value = "ask")]
        task: Task,
    },
    /// Ask a general question; the answer streams to stdout.
    Ask(RunArgs),
    /// Explain a command or code; the explanation streams to stdout.
    Explain(RunArgs),
    /// Generate code from a description; prints only the code. Shell code is checked first:
    /// findings go to stderr; dangerous code is not printed (exit code 3).
    Generate(GenerateArgs),
    /// Check a shell script (the structural check, plus bash -n and shellcheck when
    /// installed); prints FILE:LINE:COL: CATEGORY: MESSAGE; exit code 1 when anything is found.
    Check {
        /// The script; `-` or nothing reads stdin.
        file: Option<PathBuf>,
    },
    /// Fix the finding on LINE (or the first finding) of a shell script with the code model,
    /// as the editor's "Fix with MODEL" does: prints the change as a unified diff; `--write`
    /// applies it. Exit codes: 0 fixed (or no findings), 1 error or a fix that does not parse,
    /// 3 dangerous fix, 4 the finding is still reported (the diff is printed, not written).
    Fix(FixArgs),
    /// Print the spec's /infer result as JSON. Shell code in the answer is checked: the result
    /// carries `findings`; dangerous code is withheld (exit code 3).
    Infer {
        /// Output JSON (the only format; accepted for compatibility with the spec's wording).
        #[arg(long)]
        json: bool,
        /// Keep the response even when the safety check finds its shell code dangerous.
        #[arg(long)]
        allow_dangerous: bool,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Show each VRAM probe's reading.
    Vram {
        #[arg(long)]
        json: bool,
    },
    /// Check config, backends, pulled models and the VRAM probe; print what to fix.
    Doctor,
    /// Validate, show or print the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Unload a model now (default: every configured model that is loaded).
    Unload { model: Option<String> },
    /// Pull the configured models (or one named model) with progress.
    Pull { model: Option<String> },
    /// Serve the HTTP API (POST /infer, GET /route, /health, /metrics, /openapi.json).
    ServeHttp {
        /// Address to listen on, IP:PORT (default: http.listen, 127.0.0.1:8765).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Validate a config file (default: the one the lookup finds).
    Check { path: Option<PathBuf> },
    /// Print the effective configuration.
    Show,
    /// Print the commented default configuration.
    Default,
}

#[derive(Args, Debug)]
struct QueryArgs {
    /// The query; `-` reads it from stdin.
    query: String,
    /// Document language, e.g. shellscript, python.
    #[arg(long)]
    language: Option<String>,
    /// Ask for a tier: fast, code or heavy.
    #[arg(long)]
    tier: Option<ModelTier>,
    /// What the query is for: ask, explain or generate (route only; the other commands imply it).
    #[arg(long, value_parser = parse_task, default_value = "ask")]
    task: Task,
}

fn parse_task(s: &str) -> Result<Task, String> {
    match s {
        "ask" => Ok(Task::Ask),
        "explain" => Ok(Task::Explain),
        "generate" => Ok(Task::Generate),
        _ => Err(format!("unknown task `{s}` (expected ask, explain or generate)")),
    }
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    query: QueryArgs,
    /// At a VRAM warning, load the bigger model anyway.
    #[arg(long, short = 'y')]
    yes: bool,
    /// At a VRAM warning, let the fast model answer.
    #[arg(long, conflicts_with = "yes")]
    fast_on_warning: bool,
}

#[derive(Args, Debug)]
struct GenerateArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Print the code even when the safety check finds it dangerous (exit code 0).
    #[arg(long)]
    allow_dangerous: bool,
}

#[derive(Args, Debug)]
struct FixArgs {
    /// The script, optionally with the finding's line: FILE or FILE:LINE (1-based).
    target: String,
    /// Apply the change to the file (through a file beside it, then renamed).
    #[arg(long)]
    write: bool,
    /// At a VRAM warning, load the bigger model anyway.
    #[arg(long, short = 'y')]
    yes: bool,
    /// At a VRAM warning, let the fast model answer.
    #[arg(long, conflicts_with = "yes")]
    fast_on_warning: bool,
    /// Print (and with --write, write) the fix even when the safety check finds it dangerous.
    #[arg(long)]
    allow_dangerous: bool,
}

/// A failure with its exit code; the message is printed once, to stderr.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Self { code: EXIT_USAGE, message: message.into() }
    }
    fn runtime(message: impl Into<String>) -> Self {
        Self { code: EXIT_RUNTIME, message: message.into() }
    }
}

impl From<ActionError> for Failure {
    fn from(e: ActionError) -> Self {
        let code = match e {
            ActionError::ConsentUnavailable(_) => EXIT_USAGE,
            _ => EXIT_RUNTIME,
        };
        tracing::debug!(error = ?e, "job failed");
        Failure { code, message: crate::error_chain(&e) }
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    if let Err(message) = init_logging(cli.log_file.as_deref()) {
        eprintln!("llm-router-lsp: {message}");
        return ExitCode::from(EXIT_USAGE);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("llm-router-lsp: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let result = runtime.block_on(run(cli));
    // A read of stdin blocks a thread that nothing can interrupt (the language server's
    // reader, after `exit`); do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("llm-router-lsp: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Logs go to stderr (and the log file), never to stdout: that is the protocol's.
fn init_logging(log_file: Option<&std::path::Path>) -> Result<(), String> {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    match log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open log file {}: {e}", path.display()))?;
            let writer = std::io::stderr.and(std::sync::Mutex::new(file));
            let _ = builder.with_ansi(false).with_writer(writer).try_init();
        }
        None => {
            let _ = builder.with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr).try_init();
        }
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let env = Environment::from_process();
    // No command (or --stdio, which VS Code's client passes): the language server.
    let Some(command) = cli.command else {
        return match crate::lsp::serve_stdio(cli.config).await {
            crate::lsp::transport::Ending::Clean => Ok(()),
            crate::lsp::transport::Ending::ExitWithoutShutdown => {
                Err(Failure { code: EXIT_RUNTIME, message: "the editor sent exit without shutdown".into() })
            }
        };
    };
    // `config check PATH` and `config default` must work with a broken config in place.
    match &command {
        Command::Config(ConfigCommand::Default) => return write_stdout(config::DEFAULT_YAML),
        Command::Config(ConfigCommand::Check { path }) => {
            return config_check(path.as_deref().or(cli.config.as_deref()), &env);
        }
        _ => {}
    }
    let (config, source) = config::load(cli.config.as_deref(), &env).map_err(|e| Failure::usage(e.to_string()))?;
    match command {
        Command::Route { eval, .. } if !eval.is_empty() => route_eval(config, &eval),
        Command::Route { json, query, language, tier, task, .. } => {
            let query = QueryArgs { query: query.unwrap_or_default(), language, tier, task };
            route(config, &query, json)
        }
        Command::Ask(args) => answer(config, Task::Ask, args, OutputMode::Stream, false).await,
        Command::Explain(args) => answer(config, Task::Explain, args, OutputMode::Stream, false).await,
        Command::Generate(args) => generate(config, args).await,
        Command::Check { file } => check(&config, file).await,
        Command::Fix(args) => fix(config, args).await,
        Command::Infer { run, allow_dangerous, .. } => {
            answer(config, run.query.task, run, OutputMode::Json, allow_dangerous).await
        }
        Command::Vram { json } => vram_command(&config, json).await,
        Command::Doctor => doctor(config, source).await,
        Command::Config(ConfigCommand::Show) => {
            write_stdout(&format!("# effective configuration (from {source})\n{}", config.to_yaml()))
        }
        Command::Config(_) => unreachable!("handled above"),
        Command::Unload { model } => unload(config, model).await,
        Command::Pull { model } => pull(config, model).await,
        Command::ServeHttp { listen } => crate::http::serve(config, listen).await.map_err(|e| match e {
            crate::http::ServeError::Usage(m) => Failure::usage(m),
            crate::http::ServeError::Runtime(m) => Failure::runtime(m),
        }),
    }
}

fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Failure::runtime(format!("cannot write output: {e}")))
}

fn read_query(query: &str) -> Result<String, Failure> {
    if query != "-" {
        return Ok(query.to_string());
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Failure::usage(format!("cannot read the query from stdin: {e}")))?;
    if text.trim().is_empty() {
        return Err(Failure::usage("the query from stdin is empty"));
    }
    Ok(text)
}
