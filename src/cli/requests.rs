//! `ask`, `explain`, `generate`, `infer`, `check` and `fix`: one request through the pipeline,
//! asked and reported on the terminal.

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

/// Exit code of `fix` when the finding is still reported after the model's change.
const EXIT_NOT_FIXED: u8 = 4;

/// `fix FILE[:LINE]`: the editor's "Fix with MODEL" on a file. Lints it, takes the finding on
/// LINE (or the first one), sends the block around it to the code tier and prints the change
/// as a unified diff; `--write` applies it. The same gates as the editor's: dangerous code
/// (exit 3, nothing written unless `--allow-dangerous`), code that does not parse (exit 1),
/// a finding that remains (exit 4, the diff is printed but not written).
pub(super) async fn fix(config: Config, args: FixArgs) -> Result<(), Failure> {
    use crate::actions::fix::{self, FixTarget};
    let (path, line) = fix_target(&args.target)?;
    let script =
        std::fs::read_to_string(&path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    let name = path.display().to_string();
    let dialect = crate::safety::Dialect::from_shebang(&script).unwrap_or(crate::safety::Dialect::Bash);
    let report = crate::safety::check_async(&script, crate::safety::CheckOptions::new(&config.safety, dialect)).await;
    let finding = match line {
        Some(l) => report.findings.iter().find(|f| f.start.line < l && l <= f.end.line + 1),
        None => report.findings.first(),
    };
    let Some(finding) = finding else {
        return match line {
            Some(l) => Err(Failure::runtime(format!(
                "{name}:{l}: no finding on that line (`llm-router-lsp check {name}` lists them)"
            ))),
            None => {
                eprintln!("llm-router-lsp: {name}: no findings; nothing to fix");
                Ok(())
            }
        };
    };
    let (start, end) = crate::safety::enclosing_block(&script, finding.start.line, fix::MAX_BLOCK_LINES);
    let lines: Vec<&str> = script.lines().collect();
    let end = end.min(lines.len().saturating_sub(1)).max(start);
    let target = FixTarget {
        code: fix::finding_code(finding.category.code(), &finding.message),
        message: finding.message.clone(),
        line_in_block: finding.start.line - start + 1,
    };
    eprintln!("llm-router-lsp: fixing {}, block lines {}–{}", finding.lint_line(&name), start + 1, end + 1);
    let block: String = lines[start..=end].iter().map(|l| format!("{l}\n")).collect();
    let lang = config.language;
    let consent = TerminalConsent { yes: args.yes, fast: args.fast_on_warning, language: lang };
    let pipeline = Pipeline::new(config);
    let request = Request {
        task: Task::Fix,
        text: block,
        language: Some("shellscript".into()),
        tier: None,
        raw: false,
        shell_by_default: true,
        shellcheck_later: false,
        fix: Some(target.clone()),
    };
    let mut observer = CliObserver { mode: OutputMode::Code, printed_any: false };
    let answer = pipeline.run(&request, &consent, &mut observer).await?;
    report_done(&answer);
    let model = answer.decision.model.clone();
    let code = answer.check.as_ref().map_or_else(|| extract::code_from_answer(&answer.text), |c| c.code.clone());
    if let Some(check) = &answer.check {
        for f in &check.report.findings {
            eprintln!("llm-router-lsp: {}", f.lint_line("fix"));
        }
        if let Some(e) = check.report.syntax_error() {
            let error = e.message.trim_start_matches("bash -n: ");
            return Err(Failure::runtime(i18n::fix_does_not_parse(Language::En, &model, error)));
        }
        if check.report.has_danger() && !args.allow_dangerous {
            return Err(Failure {
                code: EXIT_DANGER,
                message: "the fix is dangerous (see above); nothing was changed; --allow-dangerous prints and writes it anyway"
                    .into(),
            });
        }
    }
    let (replacement, skipped) = fix::replacement(&lines, start, end, &code)
        .ok_or_else(|| Failure::runtime(i18n::fix_unchanged(Language::En, &model)))?;
    let brk = if script.contains("\r\n") { "\r\n" } else { "\n" };
    let mut fixed: String = lines[..start].iter().map(|l| format!("{l}{brk}")).collect();
    fixed.push_str(&replacement.replace('\n', brk));
    fixed.extend(lines[end + 1..].iter().map(|l| format!("{l}{brk}")));
    if !script.ends_with('\n') {
        fixed.truncate(fixed.trim_end_matches(['\r', '\n']).len());
    }
    let diff = similar::TextDiff::from_lines(&script, &fixed)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string();
    write_stdout(&diff)?;
    let still = answer.check.as_ref().and_then(|c| fix::still_reported(&target, &c.report.findings));
    if let Some(f) = still {
        let line = start + f.start.line.saturating_sub(skipped) + 1;
        return Err(Failure {
            code: EXIT_NOT_FIXED,
            message: format!("{} Nothing was written.", i18n::fix_still_reported(Language::En, &target.code, line)),
        });
    }
    if args.write {
        write_atomically(&path, &fixed)?;
        eprintln!("llm-router-lsp: wrote {name}");
    }
    Ok(())
}

/// `FILE` or `FILE:LINE` (1-based); a file whose name ends in `:N` is taken as it is.
fn fix_target(target: &str) -> Result<(PathBuf, Option<usize>), Failure> {
    let whole = PathBuf::from(target);
    if whole.exists() {
        return Ok((whole, None));
    }
    match target.rsplit_once(':') {
        Some((file, line)) if !file.is_empty() => {
            let line: usize = line
                .parse()
                .ok()
                .filter(|l| *l > 0)
                .ok_or_else(|| Failure::usage(format!("expected FILE or FILE:LINE, got `{target}`")))?;
            Ok((PathBuf::from(file), Some(line)))
        }
        _ => Ok((whole, None)),
    }
}

/// Replaces `path` with `text` through a file beside it, so a failed write leaves the
/// original whole; the original's permissions are kept.
fn write_atomically(path: &std::path::Path, text: &str) -> Result<(), Failure> {
    let fail = |e: std::io::Error| Failure::runtime(format!("cannot write {}: {e}", path.display()));
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    tmp.write_all(text.as_bytes()).map_err(fail)?;
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(meta.permissions()).map_err(fail)?;
    }
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}
