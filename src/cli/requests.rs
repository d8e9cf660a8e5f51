//! `ask`, `explain`, `generate`, `infer` and `check`: one request through the pipeline, asked
//! and reported on the terminal.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use async_trait::async_trait;

use crate::actions::extract;
use crate::actions::{Consent, ConsentError, Observer, Pipeline, Request, VramStatus, VramWarning};
use crate::backend::BackendError;
use crate::config::Config;
use crate::i18n;
use crate::router::RouteDecision;
use crate::vocab::{ConsentAnswer, Language, Task};

use super::*;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum OutputMode {
    /// The answer streams to stdout as it arrives.
    Stream,
    /// Only the first fenced block (else the whole answer), printed at the end.
    Code,
    /// The /infer object, printed at the end.
    Json,
}

/// Answers the VRAM question from a flag or on the terminal.
pub(super) struct TerminalConsent {
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

pub(super) fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Asks on the controlling terminal (so a query piped through stdin still works). `None`
/// when there is no terminal.
pub(super) fn ask_on_terminal(message: &str, language: Language) -> Option<ConsentAnswer> {
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
pub(super) struct CliObserver {
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
        // English, like the observer's other stderr lines, which scripts read.
        eprintln!("llm-router-lsp: {}", i18n::fell_back(crate::vocab::Language::En, from, &cause.to_string(), to));
    }
}

pub(super) async fn answer(
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
        fix: None,
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
pub(super) async fn generate(config: Config, args: GenerateArgs) -> Result<(), Failure> {
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
        fix: None,
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
pub(super) async fn check(config: &Config, file: Option<PathBuf>) -> Result<(), Failure> {
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

pub(super) fn report_done(outcome: &crate::actions::Answer) {
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
