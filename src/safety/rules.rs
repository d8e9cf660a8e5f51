//! The danger rules: data that can grow. Each rule looks at the [`Model`] (commands as they
//! run, redirections, downloads run by a shell, fork bombs) and reports hits with a category
//! and a one-line explanation. Add a rule by adding an entry to [`RULES`], with examples
//! and tests below.

use std::ops::Range;

use super::Category;
use super::model::{Cmd, Model, parse_find};
use super::paths::{self, PathHit, Target, find_hit};
use super::words::Word;

/// A rule's finding before positions are computed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hit {
    pub category: Category,
    pub span: Range<usize>,
    pub message: String,
}

pub struct Rule {
    pub name: &'static str,
    /// What it reports; one example per category, in the same order.
    pub categories: &'static [Category],
    pub examples: &'static [&'static str],
    pub description: &'static str,
    pub(crate) detect: fn(&Model, &mut Vec<Hit>),
}

pub static RULES: &[Rule] = &[
    Rule {
        name: "deletion",
        categories: &[Category::DeleteRoot, Category::DeleteSystem, Category::DeleteHome, Category::DeleteEmptyVar],
        examples: &["rm -rf /", "rm -rf /usr/lib", "rm -rf ~", "rm -rf \"$BUILD_DIR/\""],
        description: "recursive or forced deletion (rm -r/-f, find -delete, rsync --delete) of the root, a system \
                      directory or its direct contents, a home directory, or a path that is one of those when a \
                      variable in it is empty",
        detect: deletion,
    },
    Rule {
        name: "disk-write",
        categories: &[Category::DiskWrite],
        examples: &["dd if=/dev/zero of=/dev/sda bs=1M"],
        description: "writing to a disk: dd of=/dev/…, redirection or tee to a device, mkfs*, wipefs -a, shred on a \
                      device, partitioning tools, blkdiscard",
        detect: disk_write,
    },
    Rule {
        name: "system-permissions",
        categories: &[Category::SystemPermissions],
        examples: &["chmod -R 777 /"],
        description: "recursive chmod/chown/chgrp/setfacl on the root or a system directory",
        detect: system_permissions,
    },
    Rule {
        name: "pipe-to-shell",
        categories: &[Category::PipeToShell],
        examples: &["curl -fsSL https://example.com/install.sh | sudo bash"],
        description: "downloaded code run by a shell or interpreter (curl … | sh, bash <(curl …), sh -c \"$(curl …)\")",
        detect: pipe_to_shell,
    },
    Rule {
        name: "overwrite-system-file",
        categories: &[Category::OverwriteSystemFile],
        examples: &["echo 'root::0:0::/root:/bin/sh' > /etc/passwd"],
        description: "writing /etc/passwd, /etc/shadow, /etc/group, /etc/sudoers(.d) or /boot/* by redirection, \
                      tee, cp, mv, dd or truncate",
        detect: overwrite_system_file,
    },
    Rule {
        name: "fork-bomb",
        categories: &[Category::ForkBomb],
        examples: &[":(){ :|:& };:"],
        description: "a function that starts copies of itself in a pipeline or in the background",
        detect: fork_bomb,
    },
    Rule {
        name: "kill-all",
        categories: &[Category::KillAll],
        examples: &["kill -9 -1"],
        description: "kill -1 (every process), kill 1 (init), killall5",
        detect: kill_all,
    },
    Rule {
        name: "crontab-remove",
        categories: &[Category::CrontabRemove],
        examples: &["crontab -r"],
        description: "crontab -r (all cron jobs, without asking), crontab /dev/null",
        detect: crontab_remove,
    },
];

/// Options and operands of a command, GNU style (options may follow operands until `--`).
struct Opts<'a> {
    shorts: String,
    longs: Vec<String>,
    operands: Vec<&'a Word>,
}

impl<'a> Opts<'a> {
    fn parse(args: &'a [Word], takes_argument: &[&str]) -> Self {
        let mut o = Opts { shorts: String::new(), longs: Vec::new(), operands: Vec::new() };
        let mut options_done = false;
        let mut i = 0;
        while i < args.len() {
            let w = &args[i];
            i += 1;
            if !options_done {
                match w.literal() {
                    Some(t) if t == "--" => {
                        options_done = true;
                        continue;
                    }
                    Some(t) if t.starts_with('-') && t.len() > 1 => {
                        if t.starts_with("--") {
                            o.longs.push(t.clone());
                        } else {
                            o.shorts.push_str(&t[1..]);
                        }
                        if takes_argument.contains(&t.as_str()) {
                            i += 1;
                        }
                        continue;
                    }
                    _ => {}
                }
            }
            o.operands.push(w);
        }
        o
    }

    fn short(&self, c: char) -> bool {
        self.shorts.contains(c)
    }

    fn long(&self, name: &str) -> bool {
        self.longs.iter().any(|l| l == name || l.strip_prefix(name).is_some_and(|r| r.starts_with('=')))
    }
}

/// `rm -rf` for messages: the name and its options as written.
fn label(cmd: &Cmd) -> String {
    let mut out = cmd.name.clone();
    for t in cmd.args.iter().filter_map(Word::literal).filter(|t| t.starts_with('-') && t.len() > 1).take(3) {
        out.push(' ');
        out.push_str(&t);
    }
    out
}

fn guard_hint(label: &str) -> String {
    let name = label.trim_start_matches('$').trim_start_matches('{').trim_end_matches('}');
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!(" (write \"${{{name}:?}}\" to stop when it is empty)")
    } else {
        String::new()
    }
}

fn deletion_hit(cmd: &Cmd, word: &Word, hit: PathHit<Target>) -> Hit {
    let (category, what) = match &hit.what {
        Target::Root => (Category::DeleteRoot, "the root directory /, the whole system".to_string()),
        Target::RootContents => (Category::DeleteRoot, format!("everything under / ({})", hit.path)),
        Target::System(d) => (Category::DeleteSystem, format!("the system directory {d}")),
        Target::SystemContents(d) => (Category::DeleteSystem, format!("{} in the system directory {d}", hit.path)),
        Target::Home(d) => (Category::DeleteHome, format!("the home directory {d}")),
        Target::HomeContents(d) => (Category::DeleteHome, format!("everything in the home directory {d}")),
    };
    let l = label(cmd);
    match hit.empty.first() {
        Some(var) => Hit {
            category: Category::DeleteEmptyVar,
            span: cmd.span.clone(),
            message: format!(
                "`{l} {}`: if {var} is empty or unset, this deletes {what}{}",
                word.display(),
                guard_hint(var)
            ),
        },
        None => Hit { category, span: cmd.span.clone(), message: format!("`{l}` deletes {what}") },
    }
}

fn deletion(m: &Model, out: &mut Vec<Hit>) {
    for cmd in &m.cmds {
        match cmd.name.as_str() {
            "rm" => {
                let o = Opts::parse(&cmd.args, &[]);
                let recursive = o.short('r') || o.short('R') || o.long("--recursive");
                let force = o.short('f') || o.long("--force") || o.long("--no-preserve-root");
                if !(recursive || force) {
                    continue;
                }
                for w in o.operands {
                    let w = cmd.resolve(w);
                    if let Some(hit) = find_hit(&w, paths::deletion_target) {
                        out.push(deletion_hit(cmd, &w, hit));
                    }
                }
            }
            "find" => {
                let f = parse_find(&cmd.args);
                if !f.delete || f.filters {
                    continue;
                }
                for w in &f.starts {
                    let w = cmd.resolve(w);
                    if let Some(hit) = find_hit(&w, paths::deletion_target) {
                        out.push(deletion_hit(cmd, &w, hit));
                    }
                }
            }
            "rsync" => {
                let o = Opts::parse(&cmd.args, &["-e", "--rsh", "--exclude", "--include", "-f", "--filter"]);
                if !o.longs.iter().any(|l| l.starts_with("--delete")) || o.operands.len() < 2 {
                    continue;
                }
                let dest = o.operands[o.operands.len() - 1];
                if let Some(hit) = find_hit(dest, paths::deletion_target) {
                    out.push(deletion_hit(cmd, dest, hit));
                }
            }
            _ => {}
        }
    }
}

const PARTITION_TOOLS: &[(&str, &[&str])] = &[
    ("fdisk", &["-l", "--list", "-x", "--list-details"]),
    ("sfdisk", &["-l", "--list", "-d", "--dump", "-s", "--show-size", "-V", "--verify", "-J", "--json", "-g"]),
    ("cfdisk", &[]),
    ("gdisk", &["-l"]),
    ("cgdisk", &[]),
    ("sgdisk", &["-p", "--print", "-i", "--info", "-v", "--verify", "-O", "--print-mbr"]),
    ("parted", &["-l", "--list"]),
];
const PARTED_WRITES: &[&str] = &["mklabel", "mktable", "mkpart", "mkpartfs", "rm", "resizepart", "resize", "rescue"];

fn device_hit(w: &Word) -> Option<String> {
    find_hit(w, paths::device_target).map(|h| h.path)
}

fn disk_write(m: &Model, out: &mut Vec<Hit>) {
    let mut push = |span: &Range<usize>, message: String| {
        out.push(Hit { category: Category::DiskWrite, span: span.clone(), message })
    };
    const NAMES: &[&str] = &[
        "dd",
        "mke2fs",
        "mkdosfs",
        "mkntfs",
        "mkexfatfs",
        "mkswap",
        "wipefs",
        "shred",
        "blkdiscard",
        "tee",
        "cp",
        "cat",
        "pv",
    ];
    for cmd in &m.cmds {
        let name = cmd.name.as_str();
        if !(NAMES.contains(&name) || name.starts_with("mkfs") || PARTITION_TOOLS.iter().any(|(n, _)| *n == name)) {
            continue;
        }
        let o = Opts::parse(&cmd.args, &[]);
        if name == "dd" {
            for w in cmd.args.iter().filter_map(|a| a.strip_prefix("of=")) {
                if let Some(p) = device_hit(&w) {
                    push(&cmd.span, format!("`dd` writes over the disk {p}; everything on it is lost"));
                }
            }
        } else if name.starts_with("mkfs") || matches!(name, "mke2fs" | "mkdosfs" | "mkntfs" | "mkexfatfs" | "mkswap") {
            let target =
                o.operands.iter().rev().find(|w| !w.literal().is_some_and(|t| t.chars().all(|c| c.is_ascii_digit())));
            let Some(target) = target else { continue };
            let unknown = target.literal().is_none() && paths::segments(&target.candidates()[0].text).is_none();
            if let Some(p) = device_hit(target) {
                push(&cmd.span, format!("`{name}` formats {p}; everything on it is lost"));
            } else if unknown && name != "mkswap" {
                push(&cmd.span, format!("`{name}` formats {}, a device not known before it runs", target.display()));
            }
        } else if name == "wipefs" {
            if (o.short('a') || o.long("--all") || o.short('o') || o.long("--offset"))
                && !(o.short('n') || o.long("--no-act"))
            {
                let what: Vec<String> = o.operands.iter().map(|w| w.display()).collect();
                push(
                    &cmd.span,
                    format!("`wipefs` erases the partition table and file system signatures on {}", what.join(" ")),
                );
            }
        } else if name == "shred" {
            for w in &o.operands {
                if let Some(p) = device_hit(w) {
                    push(&cmd.span, format!("`shred` overwrites the disk {p}"));
                } else if let Some(h) = find_hit(w, paths::deletion_target) {
                    push(&cmd.span, format!("`shred` overwrites {} in a system or home directory", h.path));
                }
            }
        } else if name == "blkdiscard" {
            push(&cmd.span, "`blkdiscard` discards every block of the device: its data is gone".into());
        } else if let Some((_, listing)) = PARTITION_TOOLS.iter().find(|(n, _)| *n == name) {
            let lists = listing
                .iter()
                .any(|l| if l.starts_with("--") { o.long(l) } else { l.chars().nth(1).is_some_and(|c| o.short(c)) });
            let parted_ok = name == "parted"
                && !cmd.args.iter().filter_map(Word::literal).any(|t| PARTED_WRITES.contains(&t.as_str()));
            if !lists && !parted_ok {
                let what: Vec<String> = o.operands.iter().map(|w| w.display()).take(2).collect();
                push(
                    &cmd.span,
                    format!("`{name}` rewrites the partition table {}", what.join(" ")).trim_end().to_string(),
                );
            }
        } else if matches!(name, "tee" | "cp" | "cat" | "pv") {
            let targets: Vec<&Word> = match name {
                "tee" => o.operands.clone(),
                "cp" if o.operands.len() >= 2 => vec![o.operands[o.operands.len() - 1]],
                _ => Vec::new(),
            };
            for w in targets {
                if let Some(p) = device_hit(w) {
                    push(&cmd.span, format!("`{name}` writes over the disk {p}"));
                }
            }
        }
    }
    for r in m.redirects.iter().filter(|r| r.writes()) {
        if let Some(p) = device_hit(&r.target) {
            push(&r.span, format!("`{}` redirects output onto the disk {p}; everything on it is lost", r.op));
        }
    }
}

fn system_permissions(m: &Model, out: &mut Vec<Hit>) {
    for cmd in &m.cmds {
        if !matches!(cmd.name.as_str(), "chmod" | "chown" | "chgrp" | "setfacl") {
            continue;
        }
        let o = Opts::parse(&cmd.args, &["-m", "-x", "-M", "-X", "--modify", "--remove"]);
        if !(o.short('R') || o.long("--recursive")) {
            continue;
        }
        // chmod MODE FILE…, chown OWNER FILE… (no mode or owner with --reference).
        let skip = usize::from(cmd.name != "setfacl" && !o.long("--reference"));
        for w in o.operands.iter().skip(skip) {
            let Some(hit) = find_hit(&cmd.resolve(w), paths::permission_target) else { continue };
            let what = match &hit.what {
                Target::Root | Target::RootContents => "everything under /".to_string(),
                Target::System(d) => format!("everything in the system directory {d}"),
                _ => format!("everything in {}", hit.path),
            };
            let how = if cmd.name == "chmod" || cmd.name == "setfacl" { "permissions" } else { "ownership" };
            let when = hit.empty.first().map(|v| format!(" if {v} is empty")).unwrap_or_default();
            out.push(Hit {
                category: Category::SystemPermissions,
                span: cmd.span.clone(),
                message: format!("`{}` changes the {how} of {what}{when}; the system may stop working", label(cmd)),
            });
        }
    }
}

fn pipe_to_shell(m: &Model, out: &mut Vec<Hit>) {
    for d in &m.downloads {
        out.push(Hit {
            category: Category::PipeToShell,
            span: d.span.clone(),
            message: format!(
                "code downloaded by `{}` is run by `{}` without being looked at; download it, read it, then run it",
                d.downloader, d.interpreter
            ),
        });
    }
}

fn overwrite_system_file(m: &Model, out: &mut Vec<Hit>) {
    let file = |w: &Word| find_hit(w, paths::system_file_target).map(|h| h.path);
    let mut push = |span: &Range<usize>, message: String| {
        out.push(Hit { category: Category::OverwriteSystemFile, span: span.clone(), message })
    };
    for r in m.redirects.iter().filter(|r| r.writes()) {
        if let Some(p) = file(&r.target) {
            let verb = if r.op.ends_with(">>") { "appends to" } else { "overwrites" };
            push(&r.span, format!("`{}` {verb} {p}; a mistake there locks users out or hands out root", r.op));
        }
    }
    for cmd in &m.cmds {
        if !matches!(cmd.name.as_str(), "tee" | "truncate" | "cp" | "mv" | "install" | "ln" | "dd") {
            continue;
        }
        let o = Opts::parse(&cmd.args, &["-S", "--suffix", "-m", "--mode", "-o", "-g", "-s", "--size", "-r"]);
        let targets: Vec<&Word> = match cmd.name.as_str() {
            "tee" | "truncate" => o.operands.clone(),
            "cp" | "mv" | "install" | "ln" if o.operands.len() >= 2 && !o.short('t') => {
                vec![o.operands[o.operands.len() - 1]]
            }
            "dd" => Vec::new(),
            _ => continue,
        };
        for w in targets {
            if let Some(p) = file(w) {
                let verb = match cmd.name.as_str() {
                    "tee" if o.short('a') || o.long("--append") => "appends to",
                    "truncate" => "empties",
                    _ => "overwrites",
                };
                push(
                    &cmd.span,
                    format!("`{}` {verb} {p}; a mistake there locks users out or hands out root", cmd.name),
                );
            }
        }
        if cmd.name == "dd" {
            for w in cmd.args.iter().filter_map(|a| a.strip_prefix("of=")) {
                if let Some(p) = file(&w) {
                    push(&cmd.span, format!("`dd` overwrites {p}; a mistake there locks users out or hands out root"));
                }
            }
        }
    }
}

fn fork_bomb(m: &Model, out: &mut Vec<Hit>) {
    for f in &m.fork_bombs {
        out.push(Hit {
            category: Category::ForkBomb,
            span: f.span.clone(),
            message: format!("fork bomb: `{}` starts copies of itself until the system runs out of processes", f.name),
        });
    }
}

fn kill_all(m: &Model, out: &mut Vec<Hit>) {
    for cmd in &m.cmds {
        if cmd.name == "killall5" {
            out.push(Hit {
                category: Category::KillAll,
                span: cmd.span.clone(),
                message: "`killall5` signals every process except the kernel's and its own session".into(),
            });
            continue;
        }
        if cmd.name != "kill" {
            continue;
        }
        let mut signal_given = false;
        let mut operands = Vec::new();
        let mut i = 0;
        while i < cmd.args.len() {
            let t = cmd.arg(i).unwrap_or_default();
            if t == "--" {
                operands.extend((i + 1..cmd.args.len()).filter_map(|k| cmd.arg(k)));
                break;
            }
            if matches!(t.as_str(), "-s" | "-n") {
                signal_given = true;
                i += 2;
                continue;
            }
            if matches!(t.as_str(), "-l" | "-L" | "--list" | "--table") {
                operands.clear();
                break;
            }
            if t.starts_with('-') && t.len() > 1 && !signal_given && operands.is_empty() {
                signal_given = true;
            } else {
                operands.push(t);
            }
            i += 1;
        }
        if operands.iter().any(|p| p == "-1") {
            out.push(Hit {
                category: Category::KillAll,
                span: cmd.span.clone(),
                message: format!("`{}` signals every process you are allowed to signal", label(cmd)),
            });
        } else if operands.iter().any(|p| p == "1") {
            out.push(Hit {
                category: Category::KillAll,
                span: cmd.span.clone(),
                message: format!("`{}` signals init (PID 1); as root that stops the system", label(cmd)),
            });
        }
    }
}

fn crontab_remove(m: &Model, out: &mut Vec<Hit>) {
    for cmd in m.cmds.iter().filter(|c| c.name == "crontab") {
        let o = Opts::parse(&cmd.args, &["-u"]);
        let message = if (o.short('r') || o.long("--remove")) && !o.short('i') {
            "`crontab -r` removes all of the user's cron jobs without asking"
        } else if o.operands.iter().any(|w| w.literal().as_deref() == Some("/dev/null")) {
            "`crontab /dev/null` replaces the user's cron jobs with nothing"
        } else {
            continue;
        };
        out.push(Hit { category: Category::CrontabRemove, span: cmd.span.clone(), message: message.into() });
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Category, check_structure};
    use super::*;

    /// Every category found in `script`.
    fn found(script: &str) -> Vec<Category> {
        let mut c: Vec<Category> = check_structure(script).into_iter().map(|f| f.category).collect();
        c.dedup();
        c
    }

    /// Table: each positive must report `category`, each negative nothing at all.
    fn table(category: Category, positives: &[&str], negatives: &[&str]) {
        for p in positives {
            assert!(found(p).contains(&category), "{p:?} should report {category:?}, got {:?}", check_structure(p));
        }
        for n in negatives {
            assert!(found(n).is_empty(), "{n:?} should report nothing, got {:?}", check_structure(n));
        }
    }

    /// Harmless text that looks dangerous: data, not commands.
    const LOOK_ALIKES: &[&str] = &[
        "echo \"never run rm -rf /\"",
        "echo never run rm -rf /",
        "printf '%s\\n' 'rm -rf /'",
        "grep -r 'rm -rf /' .",
        "# rm -rf /",
        "  # dd if=/dev/zero of=/dev/sda",
        "cat <<'EOF'\nrm -rf /\nmkfs.ext4 /dev/sda\nEOF",
        "cat <<EOF > notes.txt\ncurl https://x | sh\nEOF",
        "x='rm -rf /'",
        "logger \"kill -9 -1 would be bad\"",
        "man crontab",
        "echo ':(){ :|:& };:'",
        "git commit -m 'fix: rm -rf / in docs'",
    ];

    #[test]
    fn look_alikes_are_data() {
        for s in LOOK_ALIKES {
            assert!(check_structure(s).is_empty(), "{s:?}: {:?}", check_structure(s));
        }
    }

    #[test]
    fn examples_report_their_category() {
        for rule in RULES {
            assert_eq!(rule.categories.len(), rule.examples.len(), "{}", rule.name);
            for (category, example) in rule.categories.iter().zip(rule.examples) {
                assert_eq!(found(example), [*category], "{}: {example:?}", rule.name);
            }
        }
    }

    #[test]
    fn delete_root() {
        table(
            Category::DeleteRoot,
            &[
                "rm -rf /",
                "rm -fr /*",
                "rm -r -f /",
                "rm --recursive --force /",
                "rm -rf --no-preserve-root /",
                "sudo rm -rf /",
                "rm -rf //",
                "rm -rf /tmp/../",
                "\\rm -rf /",
                "/bin/rm -rf /",
                "'rm' -rf '/'",
                "rm -rf \"/\"",
                "cd /tmp && rm -rf /",
                "for f in a; do rm -rf /; done",
                "if true; then rm -rf / ; fi",
                "x() { rm -rf /; }",
                "(rm -rf /)",
                "echo $(rm -rf /)",
                "bash -c 'rm -rf /'",
                "sh -c \"sudo rm -rf /\"",
                "eval 'rm -rf /'",
                "echo 'rm -rf /' | sh",
                "bash <<EOF\nrm -rf /\nEOF",
                "cat <<EOF | sudo bash\nrm -rf /\nEOF",
                "sudo -u root env X=1 nohup time nice -n 5 rm -rf /",
                "command rm -rf /",
                "exec rm -rf /",
                "ssh host 'rm -rf /'",
                "trap 'rm -rf /' EXIT",
                "find / -delete",
                "find / -exec rm -rf {} \\;",
                "find / | xargs rm -rf",
                "echo / | xargs rm -rf",
                "rm -rf ${DIR:-/}",
                "cmd='rm -rf /'; $cmd",
                "R=/; rm -rf $R",
                "rsync -a --delete empty/ /",
                "rm / -rf",
                "cd / && rm -rf *",
                "cd /; rm -rf ./",
                "cd /tmp; cd ..; rm -rf *",
                "xargs -I{} rm -rf {} <<< /",
            ],
            &[
                "rm /",
                "rm -rf \"/*\"",
                "rm -rf ./",
                "rm -rf /tmp/build",
                "rm -rf /opt/myapp",
                "rm -rf -- \"./$dir\"",
                "rm -rf build/ dist/",
                "find / -name '*.tmp' -delete",
                "find /tmp -mtime +7 -exec rm -f {} \\;",
                "ls /",
                "rmdir /tmp/x",
                "cd /tmp/build && rm -rf *",
                "(cd / && ls); rm -rf *",
                "cd \"$(dirname \"$0\")\" && rm -rf ./*",
                "cd \"$DIR\" && rm -rf *",
            ],
        );
    }

    #[test]
    fn delete_system() {
        table(
            Category::DeleteSystem,
            &[
                "rm -rf /etc",
                "rm -rf /usr/",
                "rm -rf /usr/lib",
                "rm -rf /var/log",
                "rm -f /etc/passwd",
                "rm -rf /boot/*",
                "rm -rf /lib64",
                "rm -rf /e?c",
                "rm -rf /{tmp,etc}",
                "rm -rf /var/log/../../etc",
                "D=/etc; rm -rf \"$D\"",
                "for d in /bin /usr; do rm -rf \"$d\"; done",
                "sudo find /etc -delete",
                "find /var -exec rm -rf {} +",
                "rm -rf /etc/$NAME",
                "rm -rf /var/$APP",
                "rm -rf /proc/sys",
                "cd /etc && find . -delete",
            ],
            &[
                "rm -rf /var/log/myapp",
                "rm -rf /var/log/*.gz",
                "find /var/log -name '*.gz' -mtime +30 -delete",
                "find /var/log -type f -name '*.log' -exec rm -f {} \\;",
                "rm /etc/motd",
                "rm -rf /usr/local/lib/myapp",
                "rm -rf /tmp/etc",
                "rm -rf etc",
                "rm -rf /srv/www",
            ],
        );
    }

    #[test]
    fn delete_home() {
        table(
            Category::DeleteHome,
            &[
                "rm -rf ~",
                "rm -rf ~/",
                "rm -rf ~/*",
                "rm -rf $HOME",
                "rm -rf \"$HOME\"/*",
                "rm -rf \"${HOME}/\"",
                "rm -rf /home",
                "rm -rf /home/*",
                "rm -rf /home/alice",
                "rm -rf ~alice",
                "rm -rf ~/..",
                "find ~ -type f -delete",
                "rm -rf /Users/bob",
                "cd; rm -rf *",
                "cd ~ && rm -rf .* *",
            ],
            &["rm -rf ~/.cache/myapp", "rm -rf ~/project/build", "rm -rf \"$HOME/.local/share/app\"", "rm ~/x"],
        );
    }

    #[test]
    fn delete_empty_var() {
        table(
            Category::DeleteEmptyVar,
            &[
                "rm -rf $DIR/",
                "rm -rf \"$DIR/\"",
                "rm -rf \"$STEAMROOT/\"*",
                "rm -rf \"${DIR}\"/*",
                "rm -rf /$SUBDIR",
                "rm -rf \"$PREFIX/usr\"",
                "rm -rf \"$(mktemp -d)/\"",
                "rm -rf \"$1/\"",
                "read -r d; rm -rf \"$d/\"",
                "X=$(cat f); rm -rf \"$X\"/etc",
            ],
            &[
                "rm -rf \"$DIR\"",
                "rm -rf $DIR",
                "rm -rf \"${DIR:?}/\"",
                "rm -rf \"${DIR:?not set}\"/*",
                "rm -rf \"$DIR/build\"",
                "DIR=/tmp/work; rm -rf \"$DIR/\"",
                "rm -rf \"$(pwd)/build\"",
                "rm -rf \"$TMP_DIR/cache\"",
            ],
        );
        let message = &check_structure("rm -rf \"$BUILD/\"")[0].message;
        assert!(message.contains("$BUILD is empty or unset") && message.contains("${BUILD:?}"), "{message}");
    }

    #[test]
    fn disk_write() {
        table(
            Category::DiskWrite,
            &[
                "dd if=/dev/zero of=/dev/sda",
                "dd if=image.iso of=/dev/sdb bs=4M status=progress",
                "sudo dd of=/dev/nvme0n1 if=x",
                "cat image.iso > /dev/sda",
                "echo x > /dev/sda1",
                "pv image > /dev/mmcblk0",
                "cat x | sudo tee /dev/sda",
                "mkfs.ext4 /dev/sda1",
                "mkfs -t ext4 /dev/sdb1",
                "mke2fs /dev/vg0/data",
                "mkfs.ext4 \"$DEVICE\"",
                "wipefs -a /dev/sda",
                "shred -n 3 /dev/sda",
                "fdisk /dev/sda",
                "parted /dev/sda mklabel gpt",
                "sgdisk --zap-all /dev/sda",
                "blkdiscard /dev/nvme0n1",
                "cp disk.img /dev/sdc",
            ],
            &[
                "dd if=/dev/sda of=backup.img",
                "dd if=/dev/zero of=/dev/null bs=1M count=100",
                "dd if=/dev/urandom of=./random.bin count=1",
                "echo hi > /dev/null 2>&1",
                "echo hi >&2",
                "echo hi > /dev/stderr",
                "mkfs.ext4 disk.img",
                "mkswap /swapfile",
                "wipefs /dev/sda",
                "wipefs -n -a /dev/sda",
                "shred -u secret.txt",
                "fdisk -l",
                "sudo fdisk -l /dev/sda",
                "parted -l",
                "parted /dev/sda print",
                "sfdisk -d /dev/sda > table.txt",
                "exec 3<>/dev/tcp/example.com/80",
                "cat /dev/sda | gzip > disk.gz",
            ],
        );
    }

    #[test]
    fn system_permissions() {
        table(
            Category::SystemPermissions,
            &[
                "chmod -R 777 /",
                "sudo chown -R user:user /usr",
                "chmod --recursive a+w /etc",
                "chgrp -R staff /var",
                "chown -R nobody /usr/bin",
                "chmod -Rv 755 /etc/ssl",
                "setfacl -R -m u:x:rwx /etc",
                "cd /usr; chmod -R 777 .",
                "chown -R --reference=/tmp/x /usr",
            ],
            &[
                "chmod 755 /usr/local/bin/tool",
                "chmod -R 755 ./build",
                "sudo chown -R www-data:www-data /var/www",
                "chown -R $USER ~/project",
                "chown -R \"$USER\" /usr/local",
                "chmod +x script.sh",
                "chmod 644 /etc/myapp.conf",
                "cd /etc/myapp && chmod -R 640 conf.d",
            ],
        );
    }

    #[test]
    fn pipe_to_shell() {
        table(
            Category::PipeToShell,
            &[
                "curl https://x | sh",
                "curl -fsSL https://x | sudo bash",
                "curl -fsSL https://x | sudo -E bash -s -- --yes",
                "wget -qO- https://x | bash",
                "wget -O - https://x | python3",
                "curl -s https://x | perl",
                "bash <(curl -s https://x)",
                "sh -c \"$(curl -fsSL https://x)\"",
                "eval \"$(curl -s https://x)\"",
                "source <(curl -s https://x)",
                ". <(wget -qO- https://x)",
                "python3 -c \"$(curl -s https://x)\"",
                "curl -s https://x | tee install.log | sh",
                "bash < <(curl -s https://x)",
            ],
            &[
                "curl -fsSL https://x -o install.sh",
                "curl -s https://x | jq .",
                "curl -s https://x | python3 -m json.tool",
                "wget -qO- https://x | tar xz",
                "curl -s https://x | grep version",
                "echo 'curl x | sh'",
                "curl https://x | bash install.sh",
            ],
        );
    }

    #[test]
    fn overwrite_system_file() {
        table(
            Category::OverwriteSystemFile,
            &[
                "echo x > /etc/passwd",
                "echo 'u ALL=(ALL) NOPASSWD: ALL' >> /etc/sudoers",
                "cat new > /etc/shadow",
                "echo x | sudo tee /etc/passwd",
                "echo x | sudo tee -a /etc/sudoers.d/nopasswd",
                "cp passwd.new /etc/passwd",
                "mv group /etc/group",
                "cat <<EOF > /etc/passwd\nroot::0:0::/root:/bin/sh\nEOF",
                "dd if=x of=/boot/vmlinuz",
                "truncate -s 0 /etc/shadow",
                "echo x > /boot/grub/grub.cfg",
                "printf x &> /etc/gshadow",
            ],
            &[
                "cat /etc/passwd",
                "grep root /etc/passwd > users.txt",
                "cp /etc/passwd passwd.bak",
                "echo x > /etc/hosts.new",
                "tee /tmp/passwd",
                "ls /boot",
            ],
        );
    }

    #[test]
    fn fork_bomb() {
        table(
            Category::ForkBomb,
            &[
                ":(){ :|:& };:",
                ":(){ :|: & };:",
                "bomb() { bomb | bomb & }; bomb",
                "f() { f & f; }; f",
                "function b { b | b & }; b",
                "while true; do $0 & done",
            ],
            &[
                "f() { echo hi; }; f &",
                "walk() { for d in \"$@\"; do walk \"$d\"/*; done; }",
                "worker() { sleep 1; }; worker & worker &",
                "sleep 10 &",
            ],
        );
    }

    #[test]
    fn kill_all() {
        table(
            Category::KillAll,
            &[
                "kill -9 -1",
                "kill -KILL -1",
                "kill -s KILL -1",
                "kill -- -1",
                "sudo kill -9 1",
                "killall5 -9",
                "kill -1 -1",
            ],
            &[
                "kill -9 1234",
                "kill -1",
                "kill -HUP $(cat /run/x.pid)",
                "kill -l",
                "kill %1",
                "pkill -f myapp",
                "kill 0",
            ],
        );
    }

    #[test]
    fn crontab_remove() {
        table(
            Category::CrontabRemove,
            &["crontab -r", "crontab -r -u alice", "crontab -u alice -r", "sudo crontab -ru root", "crontab /dev/null"],
            &["crontab -l", "crontab -e", "crontab -ir", "crontab mycron.txt", "crontab -l > backup.txt"],
        );
    }

    #[test]
    fn quoting_and_nesting() {
        assert_eq!(found("bash -c 'sh -c \"rm -rf /\"'"), [Category::DeleteRoot]);
        assert_eq!(found("sudo sh -c 'curl -s https://x | bash'"), [Category::PipeToShell]);
        assert_eq!(found("find / -maxdepth 1 -exec sh -c 'rm -rf \"$1\"/' _ {} \\;"), [Category::DeleteEmptyVar]);
        assert_eq!(found("x=$(echo 'rm -rf /')"), Vec::<Category>::new());
        assert_eq!(found("echo \"$(rm -rf /)\""), [Category::DeleteRoot]);
        // A nested finding points into the string.
        let src = "ls; bash -c 'rm -rf /'";
        let f = &check_structure(src)[0];
        assert_eq!(&src[f.bytes.clone()], "rm -rf /");
    }
}
