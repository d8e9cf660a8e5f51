//! The command line: the router without an editor.
//!
//! stdout carries only the command's result (the answer, the code, the JSON); everything
//! else (decisions, progress, warnings) goes to stderr, so the output can be piped.
//! Exit codes: 0 success, 1 runtime failure (including the user's "Cancel"; for `check`,
//! findings), 2 usage or config error, 3 `generate` produced dangerous shell code (not
//! printed; `--allow-dangerous` prints it).

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use clap::{Args, Parser, Subcommand};

use crate::actions::extract;
use crate::actions::{ActionError, Consent, ConsentError, Observer, Pipeline, Request, VramStatus, VramWarning};
use crate::backend::{Backend, BackendError, PullProgress, same_model};
use crate::config::{self, Config, ConfigSource, Environment};
use crate::i18n;
use crate::router::{RouteDecision, RouteRequest};
use crate::vocab::{ConsentAnswer, Language, ModelTier, Task};
use crate::vram::{self, AmdProbe, CommandProbe, NvmlProbe, VramProbe};

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

fn config_check(path: Option<&std::path::Path>, env: &Environment) -> Result<(), Failure> {
    let result = match path {
        Some(p) => config::load_file(p, env).map(|_| ConfigSource::File(p.to_path_buf())),
        None => config::load(None, env).map(|(_, s)| s),
    };
    match result {
        Ok(source) => write_stdout(&format!("{source}: OK\n")),
        Err(e) => Err(Failure::usage(e.to_string())),
    }
}

fn route(config: Config, query: &QueryArgs, json: bool) -> Result<(), Failure> {
    let text = read_query(&query.query)?;
    let router = crate::router::Router::new(&config.routing, &config.models);
    let decision =
        router.decide(&text, &RouteRequest { task: query.task, language: query.language.as_deref(), tier: query.tier });
    if json {
        let mut v = serde_json::to_value(&decision).map_err(|e| Failure::runtime(e.to_string()))?;
        v["tokens"] = serde_json::json!(decision.tokens.to_string());
        return write_stdout(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()));
    }
    let mut out =
        format!("tier:    {}\nmodel:   {} (backend {})\nreasons:\n", decision.tier, decision.model, decision.backend);
    for r in &decision.reasons {
        out.push_str(&format!("  - {r}\n"));
    }
    write_stdout(&out)
}

/// `route --eval FILE...`: exit 0 with the report; a file that cannot be read or parsed is
/// a usage error naming the line.
fn route_eval(config: Config, files: &[PathBuf]) -> Result<(), Failure> {
    let mut examples = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))?;
        examples.extend(
            crate::router::intent::read_examples(&text)
                .map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?,
        );
    }
    let router = crate::router::Router::new(&config.routing, &config.models);
    write_stdout(&crate::router::eval::evaluate(&router, &examples).to_string())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum OutputMode {
    /// The answer streams to stdout as it arrives.
    Stream,
    /// Only the first fenced block (else the whole answer), printed at the end.
    Code,
    /// The /infer object, printed at the end.
    Json,
}

/// Answers the VRAM question from a flag or on the terminal.
struct TerminalConsent {
    yes: bool,
    fast: bool,
    language: Language,
}

#[async_trait]
impl Consent for TerminalConsent {
    async fn confirm(&self, warning: &VramWarning) -> Result<ConsentAnswer, ConsentError> {
        if self.yes {
            eprintln!("llm-router-lsp: {} (--yes: continuing)", first_line(&warning.message));
            return Ok(ConsentAnswer::Continue);
        }
        if self.fast {
            eprintln!("llm-router-lsp: {} (--fast-on-warning: using the fast model)", first_line(&warning.message));
            return Ok(ConsentAnswer::UseFast);
        }
        let message = warning.message.clone();
        let language = self.language;
        let answer = tokio::task::spawn_blocking(move || ask_on_terminal(&message, language))
            .await
            .map_err(|e| ConsentError(format!("the prompt failed: {e}")))?;
        answer.ok_or_else(|| {
            ConsentError(format!(
                "{}\nThere is no terminal to ask on: pass --yes to load {} anyway, or --fast-on-warning to use the fast model.",
                warning.message.replace("\n\n", "\n"),
                warning.model
            ))
        })
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Asks on the controlling terminal (so a query piped through stdin still works). `None`
/// when there is no terminal.
fn ask_on_terminal(message: &str, language: Language) -> Option<ConsentAnswer> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let tty = std::fs::OpenOptions::new().read(true).open("/dev/tty").ok()?;
    let mut input = std::io::BufReader::new(tty);
    let choices: Vec<String> =
        ConsentAnswer::ALL.iter().enumerate().map(|(i, a)| format!("{}) {}", i + 1, a.title(language))).collect();
    let mut err = std::io::stderr();
    let _ = writeln!(err, "\n{}: {message}", i18n::vram_warning_title(language));
    loop {
        let _ = write!(err, "{} [1-3]: ", choices.join("  "));
        let _ = err.flush();
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut input, &mut line).ok()? == 0 {
            return Some(ConsentAnswer::Cancel);
        }
        let reply = line.trim();
        let picked = match reply {
            "1" => Some(ConsentAnswer::Continue),
            "2" => Some(ConsentAnswer::UseFast),
            "3" | "" => Some(ConsentAnswer::Cancel),
            other => ConsentAnswer::ALL.into_iter().find(|a| a.title(language).eq_ignore_ascii_case(other)),
        };
        if let Some(p) = picked {
            return Some(p);
        }
    }
}

/// Streams to stdout in [`OutputMode::Stream`]; reports the decision and fallbacks on stderr.
struct CliObserver {
    mode: OutputMode,
    printed_any: bool,
}

impl Observer for CliObserver {
    fn decided(&mut self, d: &RouteDecision) {
        eprintln!("llm-router-lsp: {} model {} ({})", d.tier, d.model, d.reasons_text());
    }
    fn vram_checked(&mut self, status: &VramStatus) {
        if let Some(a) = &status.assessment {
            let predicted = a.predicted.map(|p| format!(", {:.1}% after loading", p * 100.0)).unwrap_or_default();
            eprintln!("llm-router-lsp: VRAM {:.1}%{predicted}", a.usage * 100.0);
        } else if let Some(note) = &status.note {
            eprintln!("llm-router-lsp: {note}");
        }
    }
    fn text(&mut self, piece: &str) {
        if self.mode == OutputMode::Stream {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(piece.as_bytes());
            let _ = out.flush();
            self.printed_any = true;
        }
    }
    fn fell_back(&mut self, from: &str, to: &str, cause: &BackendError) {
        if self.printed_any {
            let _ = std::io::stdout().write_all(b"\n");
            self.printed_any = false;
        }
        eprintln!("llm-router-lsp: {from} failed ({cause}); {to} answers instead");
    }
}

async fn answer(
    config: Config,
    task: Task,
    args: RunArgs,
    mode: OutputMode,
    allow_dangerous: bool,
) -> Result<(), Failure> {
    let text = read_query(&args.query.query)?;
    let lang = config.language;
    let consent = TerminalConsent { yes: args.yes, fast: args.fast_on_warning, language: lang };
    let pipeline = Pipeline::new(config);
    // Only `infer` hands the whole answer to a program; `ask` and `explain` are read.
    let job = Request {
        task,
        text,
        language: args.query.language.clone(),
        tier: args.query.tier,
        raw: mode == OutputMode::Json,
        shell_by_default: true,
        shellcheck_later: false,
    };
    let mut observer = CliObserver { mode, printed_any: false };
    let result = pipeline.run(&job, &consent, &mut observer).await;
    if result.is_err() && observer.printed_any {
        // End the partial answer's line, as a fallback does, so the error starts on its own.
        let _ = write_stdout("\n");
    }
    match (mode, result) {
        (OutputMode::Json, Ok(outcome)) if outcome.has_danger() && !allow_dangerous => {
            write_stdout(&format!("{}\n", outcome.to_refused_json(lang)))?;
            Err(Failure {
                code: EXIT_DANGER,
                message: format!(
                    "{} (--allow-dangerous keeps it)",
                    outcome.danger_summary(lang, true).unwrap_or_default()
                ),
            })
        }
        (OutputMode::Json, Ok(outcome)) => write_stdout(&format!("{}\n", outcome.to_infer_json())),
        (OutputMode::Json, Err(e)) => {
            let _ = write_stdout(&format!("{}\n", e.to_infer_json()));
            Err(e.into())
        }
        (_, Err(e)) => Err(e.into()),
        (OutputMode::Code, Ok(outcome)) => {
            report_done(&outcome);
            let mut code = extract::code_from_answer(&outcome.text);
            if !code.is_empty() && !code.ends_with('\n') {
                code.push('\n');
            }
            write_stdout(&code)
        }
        (OutputMode::Stream, Ok(outcome)) => {
            if !outcome.text.ends_with('\n') {
                write_stdout("\n")?;
            }
            report_done(&outcome);
            Ok(())
        }
    }
}

/// `generate`: the code on stdout once the safety check passed; its findings on stderr.
async fn generate(config: Config, args: GenerateArgs) -> Result<(), Failure> {
    let run = args.run;
    let text = read_query(&run.query.query)?;
    let lang = config.language;
    let consent = TerminalConsent { yes: run.yes, fast: run.fast_on_warning, language: lang };
    let pipeline = Pipeline::new(config);
    let job = Request {
        task: Task::Generate,
        text,
        language: run.query.language.clone(),
        tier: run.query.tier,
        raw: false,
        shell_by_default: true,
        shellcheck_later: false,
    };
    let mut observer = CliObserver { mode: OutputMode::Code, printed_any: false };
    let answer = pipeline.run(&job, &consent, &mut observer).await?;
    report_done(&answer);
    if let Some(safety) = &answer.check {
        if let Some(retry) = &safety.retry {
            eprintln!("llm-router-lsp: {}", retry.note(lang));
        }
        for f in &safety.report.findings {
            eprintln!("llm-router-lsp: {}", f.lint_line("generated"));
        }
        if safety.report.has_danger() && !args.allow_dangerous {
            return Err(Failure {
                code: EXIT_DANGER,
                message: "the generated code is dangerous (see above) and was not printed; \
                          --allow-dangerous prints it anyway"
                    .into(),
            });
        }
    }
    let mut code = extract::code_from_answer(&answer.text);
    if !code.is_empty() && !code.ends_with('\n') {
        code.push('\n');
    }
    write_stdout(&code)
}

/// `check`: the safety check alone, printed like a linter's findings.
async fn check(config: &Config, file: Option<PathBuf>) -> Result<(), Failure> {
    let (name, script) = match file.filter(|f| f.as_os_str() != "-") {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
            (path.display().to_string(), text)
        }
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::usage(format!("cannot read the script from stdin: {e}")))?;
            ("-".to_string(), text)
        }
    };
    let (out, notes, failed) = crate::safety::external::check_file(&name, &script, &config.safety).await;
    for note in notes {
        eprintln!("llm-router-lsp: {note}");
    }
    write_stdout(&out)?;
    failed.map_or(Ok(()), |message| Err(Failure::runtime(message)))
}

fn report_done(outcome: &crate::actions::Answer) {
    let confidence = outcome.confidence.map(|c| format!(", confidence {c:.2}")).unwrap_or_default();
    eprintln!(
        "llm-router-lsp: answered by {} in {:.1} s{confidence}",
        outcome.decision.model,
        outcome.processing_time.as_secs_f64()
    );
    if let Some(cut) = outcome.cut {
        eprintln!("llm-router-lsp: {}", crate::i18n::answer_cut(crate::vocab::Language::En, cut));
    }
}

async fn vram_command(config: &Config, json: bool) -> Result<(), Failure> {
    let mut results: Vec<(String, Result<vram::VramReading, vram::VramError>)> = Vec::new();
    match NvmlProbe::new() {
        Ok(p) => results.push(("nvml".into(), p.read().await)),
        Err(e) => results.push(("nvml".into(), Err(e))),
    }
    results.push(("amd".into(), AmdProbe::new(config::default_drm_root()).read().await));
    match &config.vram.probe {
        config::ProbeConfig::Command { command } => {
            results.push(("command".into(), CommandProbe::new(command.clone()).read().await))
        }
        config::ProbeConfig::Amd { drm_root } if *drm_root != config::default_drm_root() => {
            results.push((format!("amd ({})", drm_root.display()), AmdProbe::new(drm_root.clone()).read().await))
        }
        _ => {}
    }
    let configured = vram::probe_from_config(&config.vram.probe);
    let configured_reading = configured.read().await;
    if json {
        let entry = |r: &Result<vram::VramReading, vram::VramError>| match r {
            Ok(r) => serde_json::json!({"usage": r.usage(), "reading": r}),
            Err(e) => serde_json::json!({"error": e.to_string()}),
        };
        let probes: serde_json::Map<String, serde_json::Value> =
            results.iter().map(|(n, r)| (n.clone(), entry(r))).collect();
        let v = serde_json::json!({"configured": {"kind": configured.name(), "result": entry(&configured_reading)}, "probes": probes});
        return write_stdout(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()));
    }
    let mut out = String::new();
    for (name, r) in &results {
        match r {
            Ok(r) => out.push_str(&format!("{r}\n")),
            Err(e) => out.push_str(&format!("{name}: unavailable: {e}\n")),
        }
    }
    match &configured_reading {
        Ok(r) => out.push_str(&format!("configured probe ({}): usage {:.1}%\n", configured.name(), r.usage() * 100.0)),
        Err(e) => out.push_str(&format!("configured probe ({}): failed: {e}\n", configured.name())),
    }
    write_stdout(&out)
}

/// The configured tiers as (tier, model, backend name), each model once per backend.
fn configured_models(config: &Config) -> Vec<(ModelTier, String, String)> {
    let mut out: Vec<(ModelTier, String, String)> = Vec::new();
    for tier in [ModelTier::Fast, ModelTier::Code, ModelTier::Heavy] {
        let t = config.tier(tier);
        if !out.iter().any(|(_, m, b)| same_model(m, &t.name) && *b == t.backend) {
            out.push((tier, t.name.clone(), t.backend.clone()));
        }
    }
    out
}

async fn doctor(config: Config, source: ConfigSource) -> Result<(), Failure> {
    let mut problems = 0;
    let mut out = format!("config: {source}: OK\n");
    let pipeline = Pipeline::new(config.clone());
    for (name, backend) in pipeline.backends() {
        let used_by: Vec<_> = configured_models(&config).into_iter().filter(|(_, _, b)| b == name).collect();
        if used_by.is_empty() {
            continue;
        }
        match backend.version().await {
            Ok(v) => out.push_str(&format!("backend {name} ({}): reachable, version {v}\n", backend.address())),
            Err(e) => {
                problems += 1;
                out.push_str(&format!("backend {name}: PROBLEM: {e}\n"));
                continue;
            }
        }
        let available = backend.available_models().await.unwrap_or_default();
        let is_ollama = matches!(config.backends.get(name), Some(config::BackendConfig::Ollama { .. }));
        for (tier, model, _) in used_by {
            match available.iter().find(|m| same_model(&m.name, &model)) {
                Some(m) if m.size_bytes > 0 => {
                    out.push_str(&format!("  {tier} model {model}: pulled ({:.1} GB)\n", m.size_bytes as f64 / 1e9))
                }
                Some(_) => out.push_str(&format!("  {tier} model {model}: available\n")),
                None if is_ollama => {
                    problems += 1;
                    out.push_str(&format!(
                        "  {tier} model {model}: PROBLEM: not pulled; run `ollama pull {model}` or `llm-router-lsp pull`\n"
                    ));
                }
                None => {
                    problems += 1;
                    out.push_str(&format!(
                        "  {tier} model {model}: PROBLEM: not served; load it in that server or fix the tier's name (see its /v1/models)\n"
                    ));
                }
            }
        }
    }
    match pipeline.probe().read().await {
        Ok(r) => out.push_str(&format!(
            "VRAM probe {}: usage {:.1}%{}\n",
            pipeline.probe().name(),
            r.usage() * 100.0,
            r.note.map(|n| format!(" ({n})")).unwrap_or_default()
        )),
        Err(e) => {
            problems += 1;
            out.push_str(&format!("VRAM probe {}: PROBLEM: {e}\n", pipeline.probe().name()));
        }
    }
    let openai: Vec<&str> = config
        .backends
        .iter()
        .filter(|(_, b)| !matches!(b, config::BackendConfig::Ollama { .. }))
        .map(|(name, _)| name.as_str())
        .collect();
    out.push_str(&if config.lsp.preload {
        let skipped = if openai.is_empty() {
            String::new()
        } else {
            format!("; not for {} (OpenAI-compatible: no load call)", openai.join(", "))
        };
        format!(
            "preload: on (lsp.preload): in the editor, the model a selection goes to loads while you pick an \
             action, and the closing message says when it was already warm{skipped}\n"
        )
    } else {
        "preload: off (lsp.preload)\n".to_string()
    });
    let (safety, safety_problems) = crate::safety::external::doctor(&config.safety);
    out.push_str(&safety);
    problems += safety_problems;
    write_stdout(&out)?;
    if problems > 0 {
        return Err(Failure::runtime(format!("{problems} problem(s) found; see above")));
    }
    Ok(())
}

/// The backend that serves `model`: the tier that names it, else the default backend.
fn backend_for_model(pipeline: &Pipeline, config: &Config, model: &str) -> Arc<dyn Backend> {
    let name = configured_models(config)
        .into_iter()
        .find(|(_, m, _)| same_model(m, model))
        .map(|(_, _, b)| b)
        .unwrap_or_else(|| config::DEFAULT_BACKEND.to_string());
    Arc::clone(pipeline.backends().get(&name).unwrap_or_else(|| pipeline.backend(&config.models.fast_model.backend)))
}

async fn unload(config: Config, model: Option<String>) -> Result<(), Failure> {
    let pipeline = Pipeline::new(config.clone());
    let targets: Vec<(String, Arc<dyn Backend>)> = match model {
        Some(m) => vec![(m.clone(), backend_for_model(&pipeline, &config, &m))],
        None => {
            let mut t = Vec::new();
            for (_, model, backend_name) in configured_models(&config) {
                let backend = Arc::clone(pipeline.backend(&backend_name));
                let loaded = backend.loaded_models().await.map_err(|e| Failure::runtime(e.to_string()))?;
                if loaded.iter().any(|l| same_model(&l.name, &model)) {
                    t.push((model, backend));
                }
            }
            if t.is_empty() {
                return write_stdout("no configured model is loaded\n");
            }
            t
        }
    };
    for (model, backend) in targets {
        backend.unload(&model).await.map_err(|e| Failure::runtime(e.to_string()))?;
        write_stdout(&format!("unloaded {model}\n"))?;
    }
    Ok(())
}

async fn pull(config: Config, model: Option<String>) -> Result<(), Failure> {
    let pipeline = Pipeline::new(config.clone());
    let targets: Vec<String> = match model {
        Some(m) => vec![m],
        None => configured_models(&config).into_iter().map(|(_, m, _)| m).collect(),
    };
    let mut failed = Vec::new();
    for model in targets {
        let backend = backend_for_model(&pipeline, &config, &model);
        let bar = indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template("{prefix} {msg} [{bar:30}] {bytes}/{total_bytes}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(model.clone());
        let result = backend
            .pull(&model, &mut |p: &PullProgress| {
                bar.set_message(p.status.clone());
                if let (Some(total), Some(done)) = (p.total, p.completed) {
                    bar.set_length(total);
                    bar.set_position(done);
                }
            })
            .await;
        bar.finish_and_clear();
        match result {
            Ok(()) => eprintln!("pulled {model}"),
            Err(e) => {
                eprintln!("llm-router-lsp: pulling {model} failed: {e}");
                failed.push(model);
            }
        }
    }
    if failed.is_empty() { Ok(()) } else { Err(Failure::runtime(format!("could not pull: {}", failed.join(", ")))) }
}
