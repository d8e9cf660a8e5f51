//! How long the structural safety check takes on a 100-line and a 1,000-line shell script
//! (the budgets: 1 ms and 10 ms): `safety::check_structure`, which parses once with
//! tree-sitter-bash and applies every rule. `bash -n` and shellcheck are separate processes
//! and not measured here. `keystroke/5000_lines…`: the lint of an open 5,000-line document
//! after one keystroke in its middle (`DocumentCheck`: the edit, the incremental re-parse and
//! the re-walk of the statements it touched; budget 2 ms), typing and deleting a character
//! in turn: in a string, in a line of a function body (an 8-line statement), and in the
//! `systemctl` line, a command the lockout rule reads across the script (its across-script
//! part reruns).
//!
//! `cargo bench --bench safety`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use llm_router_lsp::safety;

/// 25 lines of typical shell: variables, functions, loops, pipelines, substitutions, a
/// heredoc, wrappers, quoting, and one dangerous command (`$TMPDIR` may be unset). The heredoc
/// does not follow the pipeline: tree-sitter-bash 0.25 reads a heredoc in the statement after
/// a pipeline as part of it, and after some 70 of those the rest of a file fails to parse
/// (see the README), which a 5,000-line document of these blocks would measure instead.
const BLOCK: &str = r#"LOG_DIR="/var/log/myapp"
ARCHIVE="/srv/archive/$(date +%Y-%m-%d)"
mkdir -p "$ARCHIVE" && cd "$ARCHIVE" || exit 1
rotate() {
    local dir="${1:?}"
    find "$dir" -name '*.log' -mtime +7 -print0 | xargs -0 -r gzip -9
    for f in "$dir"/*.log.gz; do
        [ -e "$f" ] || continue
        mv -- "$f" "$ARCHIVE/" && echo "archived $f"
    done
}
rotate "$LOG_DIR"
sudo systemctl reload myapp.service
cat <<NOTE > "$ARCHIVE/README"
Logs archived on $(hostname) by $USER; never run rm -rf / here.
NOTE
journalctl -u myapp --since "1 hour ago" | grep -iE 'error|warn' | awk '{print $5}' | sort | uniq -c
if [[ -n "${DEBUG:-}" ]]; then set -x; fi
case "$MODE" in
    fast) nice -n 10 tar -czf backup.tgz "$ARCHIVE" ;;
    *) timeout 60 rsync -a --partial "$ARCHIVE/" backup:/srv/ ;;
esac
printf '%s\n' "done: $(du -sh "$ARCHIVE" | cut -f1)"
echo "cleanup" | logger -t myapp
rm -rf "$TMPDIR/"
"#;

fn script(lines: usize) -> String {
    let per_block = BLOCK.lines().count();
    let mut s = String::from("#!/usr/bin/env bash\nset -euo pipefail\n");
    while s.lines().count() + per_block <= lines {
        s.push_str(BLOCK);
    }
    while s.lines().count() < lines {
        s.push_str("echo padding\n");
    }
    s
}

fn bench(c: &mut Criterion) {
    let script = script(1000);
    assert_eq!(script.lines().count(), 1000);
    for lines in [1000, 5000] {
        let findings = safety::check_structure(&self::script(lines));
        let blocks = (lines - 2) / BLOCK.lines().count();
        assert_eq!(findings.len(), blocks, "one dangerous line per block: {findings:?}");
    }
    let mut group = c.benchmark_group("safety");
    let short = self::script(100);
    group.throughput(Throughput::Bytes(short.len() as u64));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("check_structure/100_lines", |b| b.iter(|| safety::check_structure(black_box(&short))));
    group.throughput(Throughput::Bytes(script.len() as u64));
    group.bench_function("check_structure/1000_lines", |b| b.iter(|| safety::check_structure(black_box(&script))));
    // The parse alone (tree-sitter-bash), for comparison: most of the time is spent here.
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&tree_sitter_bash::LANGUAGE.into()).unwrap();
    group.bench_function("parse_only/1000_lines", |b| b.iter(|| parser.parse(black_box(&script), None)));
    let long = self::script(5000);
    for (name, line) in [
        ("keystroke/5000_lines", "echo \"archived"),
        ("keystroke/5000_lines_in_function", "        mv -- \"$f\""),
        ("keystroke/5000_lines_across_script", "sudo systemctl reload"),
    ] {
        let at = long.len() / 2 + long[long.len() / 2..].find(line).expect("the block repeats") + line.len() - 2;
        let mut doc = safety::DocumentCheck::new(long.clone());
        let fresh = doc.check();
        let mut typed = false;
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| {
            b.iter(|| {
                if typed {
                    doc.edit(at, at + 1, "")
                } else {
                    doc.edit(at, at, "x")
                };
                typed = !typed;
                black_box(doc.check())
            })
        });
        if typed {
            doc.edit(at, at + 1, "");
        }
        assert_eq!(doc.check(), fresh, "the incremental lint ends where a fresh one starts");
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
