//! The danger rules: data that can grow. Each rule looks at the [`Model`] (commands as they
//! run, redirections, downloads run by a shell, fork bombs) and reports hits with a category
//! and a one-line explanation. Add a rule by adding an entry to [`RULES`], with examples
//! and tests below.

use std::ops::Range;

use super::Category;
use super::commands::parse_find;
use super::model::{Cmd, Model, RiskyCd};
use super::paths::{self, PathHit, Target, find_hit};
use super::words::{Piece, Word};

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
    /// On one top-level statement's model: what it finds there depends on that statement
    /// alone, so an open document's unchanged statements keep their hits.
    pub(crate) detect: fn(&Model, &mut Vec<Hit>),
    /// The part that reads commands across the whole script, if any.
    pub(crate) across: Option<AcrossScript>,
}

/// The part of a rule that needs the whole script: a file downloaded on one line and run on
/// another, a firewall default that an SSH rule elsewhere makes harmless.
pub(crate) struct AcrossScript {
    /// The commands it reads; it ignores every other one (each statement keeps its picked
    /// commands, so the part reruns only when an edit adds or removes one).
    pub picks: fn(&Cmd) -> bool,
    /// On a model of the picked commands alone, in script order: no pipelines, redirections
    /// or `inner` ranges.
    pub detect: fn(&Model, &mut Vec<Hit>),
}

/// For rules that work across the script only.
fn no_statement_part(_: &Model, _: &mut Vec<Hit>) {}

pub static RULES: &[Rule] = &[
    Rule {
        name: "deletion",
        categories: &[Category::DeleteRoot, Category::DeleteSystem, Category::DeleteHome, Category::DeleteEmptyVar],
        examples: &["rm -rf /", "rm -rf /usr/lib", "rm -rf ~", "rm -rf \"$BUILD_DIR/\""],
        description: "recursive or forced deletion (rm -r/-f, find -delete, rsync --delete) of the root, a system \
                      directory or its direct contents, a home directory, or a path that is one of those when a \
                      variable in it is empty",
        detect: deletion,
        across: None,
    },
    Rule {
        name: "disk-write",
        categories: &[Category::DiskWrite],
        examples: &["dd if=/dev/zero of=/dev/sda bs=1M"],
        description: "writing to a disk: dd of=/dev/…, redirection or tee to a device, mkfs*, wipefs -a, shred on a \
                      device, partitioning tools, blkdiscard",
        detect: disk_write,
        across: Some(AcrossScript { picks: picks_format, detect: format_disk }),
    },
    Rule {
        name: "system-permissions",
        categories: &[Category::SystemPermissions],
        examples: &["chmod -R 777 /"],
        description: "recursive chmod/chown/chgrp/setfacl on the root or a system directory",
        detect: system_permissions,
        across: None,
    },
    Rule {
        name: "pipe-to-shell",
        categories: &[Category::PipeToShell],
        examples: &["curl -fsSL https://example.com/install.sh | sudo bash"],
        description: "downloaded code run by a shell or interpreter (curl … | sh, bash <(curl …), sh -c \"$(curl …)\")",
        detect: pipe_to_shell,
        across: None,
    },
    Rule {
        name: "overwrite-system-file",
        categories: &[Category::OverwriteSystemFile],
        examples: &["echo 'root::0:0::/root:/bin/sh' > /etc/passwd"],
        description: "writing /etc/passwd, /etc/shadow, /etc/group, /etc/sudoers(.d) or /boot/* by redirection, \
                      tee, cp, mv, dd or truncate",
        detect: overwrite_system_file,
        across: Some(AcrossScript { picks: picks_sudoers_write, detect: sudoers_write }),
    },
    Rule {
        name: "fork-bomb",
        categories: &[Category::ForkBomb],
        examples: &[":(){ :|:& };:"],
        description: "a function that starts copies of itself in a pipeline or in the background",
        detect: fork_bomb,
        across: None,
    },
    Rule {
        name: "kill-all",
        categories: &[Category::KillAll],
        examples: &["kill -9 -1"],
        description: "kill -1 (every process), kill 1 (init), killall5",
        detect: kill_all,
        across: None,
    },
    Rule {
        name: "volume-wipe",
        categories: &[Category::DiskWrite],
        examples: &["cryptsetup luksFormat /dev/sdb1"],
        description: "cryptsetup luksFormat/erase, mdadm --zero-superblock, nvme format, zpool destroy, lvremove -f, \
                      vgremove, zfs destroy -r, hdparm --security-erase, sgdisk --zap-all on a device (a regular file \
                      such as ./disk.img is not a disk)",
        detect: volume_wipe,
        across: None,
    },
    Rule {
        name: "download-run",
        categories: &[Category::DownloadRun],
        examples: &["curl -fsSLo install.sh https://example.com/install.sh\nsh install.sh"],
        description: "a file fetched by curl/wget and then run in the same script (sh FILE, ./FILE, source FILE), \
                      followed across lines and variables; a checksum or signature check in between counts",
        detect: no_statement_part,
        across: Some(AcrossScript { picks: picks_download_run, detect: download_run }),
    },
    Rule {
        name: "encoded-payload",
        categories: &[Category::EncodedPayload],
        examples: &["echo cm0gLXJmIC8K | base64 -d | sh"],
        description: "text decoded by base64 -d, xxd -r, rev, openssl enc -d or printf '\\x..' and run by a shell, \
                      an interpreter or eval",
        detect: encoded_payload,
        across: None,
    },
    Rule {
        name: "lockout",
        categories: &[Category::Lockout],
        examples: &["iptables -P INPUT DROP"],
        description: "a default-drop firewall without an SSH rule (iptables, ufw), nft flush ruleset, stopping or \
                      disabling sshd, locking or deleting accounts (passwd -l root, usermod -L, userdel -r)",
        detect: no_statement_part,
        across: Some(AcrossScript { picks: picks_lockout, detect: lockout }),
    },
    Rule {
        name: "data-store",
        categories: &[Category::DataStore],
        examples: &["docker volume prune -f"],
        description: "docker system prune --volumes, docker volume prune/rm, compose down -v, DROP DATABASE through \
                      psql/mysql, dropdb, redis-cli FLUSHALL, deleting a database's data directory",
        detect: data_store,
        across: None,
    },
    Rule {
        name: "remove-system-package",
        categories: &[Category::SystemPackage],
        examples: &["apt-get purge -y systemd"],
        description: "removing packages the system needs (libc6, systemd, sudo, openssh-server, python3, the kernel) \
                      or removing without dependency checks (rpm -e --nodeps, dpkg --force-all -r)",
        detect: system_package,
        across: None,
    },
    Rule {
        name: "kill-everything",
        categories: &[Category::KillAll],
        examples: &["kill -9 $(ps -e -o pid=)"],
        description: "kill given every process ps lists, pkill -f ., killall -r .",
        detect: kill_everything,
        across: None,
    },
    Rule {
        name: "program-fork-bomb",
        categories: &[Category::ForkBomb],
        examples: &["perl -e 'fork while fork'"],
        description: "an interpreter's program that forks in an endless loop (perl, python, ruby, node)",
        detect: program_fork_bomb,
        across: None,
    },
    Rule {
        name: "empty-crontab",
        categories: &[Category::CrontabRemove],
        examples: &["echo | crontab -"],
        description: "an empty crontab installed from stdin (echo | crontab -, crontab - < /dev/null)",
        detect: empty_crontab,
        across: None,
    },
    Rule {
        name: "crontab-remove",
        categories: &[Category::CrontabRemove],
        examples: &["crontab -r"],
        description: "crontab -r (all cron jobs, without asking), crontab /dev/null",
        detect: crontab_remove,
        across: None,
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

/// The command as written, for messages: `find / -type f -delete`, at most 60 characters.
fn written(cmd: &Cmd) -> String {
    let mut out = cmd.name.clone();
    for a in &cmd.args {
        if out.len() > 60 {
            out.push_str(" …");
            break;
        }
        out.push(' ');
        out.push_str(&a.display());
    }
    out
}

fn deletion_hit(cmd: &Cmd, word: &Word, hit: PathHit<Target>, verb: &str) -> Hit {
    let (category, what) = match &hit.what {
        Target::Root => (Category::DeleteRoot, "the root directory /, the whole system".to_string()),
        Target::RootContents => (Category::DeleteRoot, format!("everything under / ({})", hit.path)),
        Target::System(d) => (Category::DeleteSystem, format!("the system directory {d}")),
        Target::SystemContents(d) => (Category::DeleteSystem, format!("{} in the system directory {d}", hit.path)),
        Target::Home(d) => (Category::DeleteHome, format!("the home directory {d}")),
        Target::HomeContents(d) => (Category::DeleteHome, format!("everything in the home directory {d}")),
        Target::SystemTree(d) | Target::SystemEntry(d) => {
            (Category::DeleteSystem, format!("{}, which the system needs ({d} belongs to the OS)", hit.path))
        }
        Target::HomeSubtree(d) => (Category::DeleteHome, format!("{d} (keys, settings or documents)")),
        Target::Data(d, store) => (Category::DataStore, format!("the {store} data in {d}")),
        Target::FoundUnder(d) if d == "/" => (Category::DeleteRoot, "every file it finds under /".to_string()),
        Target::FoundUnder(d) => (Category::DeleteSystem, format!("every file it finds under the system path {d}")),
    };
    let l = if cmd.name == "find" { written(cmd) } else { label(cmd) };
    let by = if cmd.via.iter().any(|v| v == "find" || v == "xargs") && cmd.name != "find" {
        format!(" (run by {})", cmd.via.iter().rev().find(|v| *v == "find" || *v == "xargs").map_or("", |v| v))
    } else {
        String::new()
    };
    match hit.empty.first() {
        Some(var) if category != Category::DataStore => Hit {
            category: Category::DeleteEmptyVar,
            span: cmd.span.clone(),
            message: format!(
                "`{l} {}`{by}: if {var} is empty or unset, this {verb}s {what}{}",
                word.display(),
                guard_hint(var)
            ),
        },
        _ => Hit { category, span: cmd.span.clone(), message: format!("`{l}`{by} {verb}s {what}") },
    }
}

/// `*`, `.*`, `./*`, `.`: what a glob deletes in the current directory.
fn is_cwd_glob(w: &Word) -> bool {
    let Some(c) = w.candidates().into_iter().next() else { return false };
    let mut t = c.text.as_str();
    if t.starts_with('/') || t.starts_with(super::words::HOME) {
        return false;
    }
    while let Some(r) = t.strip_prefix("./") {
        t = r;
    }
    let t = t.trim_end_matches('/');
    t.is_empty() || t == "." || (!t.contains('/') && paths::is_glob(t))
}

fn risky_cd_hit(cmd: &Cmd, w: &Word, r: &RiskyCd) -> Hit {
    let message = if r.goes_home {
        format!(
            "`{}` goes to your home directory when {} is empty, and `{} {}` then deletes everything there{}",
            r.cd,
            r.var,
            label(cmd),
            w.display(),
            guard_hint(&r.var)
        )
    } else {
        format!(
            "when `{}` fails ({} missing or empty), the script stays where it was and `{} {}` deletes the files \
             there; write `{} || exit 1`",
            r.cd,
            r.var,
            label(cmd),
            w.display(),
            r.cd
        )
    };
    Hit { category: Category::DeleteEmptyVar, span: cmd.span.clone(), message }
}

fn deletion(m: &Model, out: &mut Vec<Hit>) {
    for cmd in &m.cmds {
        match cmd.name.as_str() {
            "rm" => {
                let o = Opts::parse(&cmd.args, &[]);
                let recursive = o.short('r') || o.short('R') || o.long("--recursive");
                let force = o.short('f') || o.long("--force") || o.long("--no-preserve-root");
                for w in o.operands {
                    if let Some(r) = &cmd.risky_cd
                        && (recursive || force)
                        && cmd.cwd.is_none()
                        && is_cwd_glob(w)
                    {
                        out.push(risky_cd_hit(cmd, w, r));
                        continue;
                    }
                    let w = cmd.resolve(w);
                    if let Some(hit) = find_hit(&w, paths::deletion_target) {
                        // Without -r or -f only files go, and as root without asking.
                        let deep = matches!(
                            hit.what,
                            Target::SystemTree(_) | Target::Data(..) | Target::HomeSubtree(_) | Target::FoundUnder(_)
                        );
                        let entry = matches!(hit.what, Target::SystemEntry(_));
                        if entry && !recursive {
                            continue;
                        }
                        if recursive || force || deep {
                            out.push(deletion_hit(cmd, &w, hit, "delete"));
                        }
                    }
                }
            }
            "unlink" | "rmdir" => {}
            "find" => {
                let f = parse_find(&cmd.args);
                if !f.delete {
                    continue;
                }
                for w in &f.starts {
                    let mut w = cmd.resolve(w);
                    if f.filters {
                        w.pieces.extend([Piece::lit("/", true), Piece::lit(paths::FOUND, false)]);
                    }
                    if let Some(hit) = find_hit(&w, paths::deletion_target) {
                        out.push(deletion_hit(cmd, &w, hit, "delete"));
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
                    out.push(deletion_hit(cmd, dest, hit, "delete"));
                }
            }
            "mv" => {
                let o = Opts::parse(&cmd.args, &["-S", "--suffix", "-t", "--target-directory"]);
                let sources = if o.short('t') || o.long("--target-directory") {
                    &o.operands[..]
                } else {
                    &o.operands[..o.operands.len().saturating_sub(1)]
                };
                for w in sources {
                    let w = cmd.resolve(w);
                    if let Some(h) = find_hit(&w, paths::system_file_target) {
                        out.push(Hit {
                            category: Category::OverwriteSystemFile,
                            span: cmd.span.clone(),
                            message: format!("`{}` moves {} away: nobody can log in or use sudo", written(cmd), h.path),
                        });
                        continue;
                    }
                    let hit = match find_hit(&w, paths::deletion_target) {
                        Some(PathHit { what: Target::SystemContents(_), .. }) => find_hit(&w, paths::deep_target),
                        other => other,
                    };
                    let Some(hit) = hit else { continue };
                    // `mv /etc/hosts /etc/hosts.bak` is ordinary; moving what the system runs on is not.
                    if matches!(
                        hit.what,
                        Target::Root
                            | Target::System(_)
                            | Target::SystemTree(_)
                            | Target::Home(_)
                            | Target::HomeSubtree(_)
                            | Target::Data(..)
                    ) {
                        out.push(deletion_hit(cmd, &w, hit, "move"));
                    }
                }
            }
            "truncate" => {
                let o = Opts::parse(&cmd.args, &["-s", "--size", "-r", "--reference"]);
                for w in o.operands {
                    let Some(hit) = find_hit(&cmd.resolve(w), paths::deletion_target) else { continue };
                    if matches!(hit.what, Target::SystemTree(_) | Target::Data(..)) {
                        out.push(deletion_hit(cmd, w, hit, "empty"));
                    }
                }
            }
            "git" => {
                let lits: Vec<String> = cmd.args.iter().filter_map(Word::literal).collect();
                let Some(pos) = lits.iter().position(|t| t == "clean") else { continue };
                let flags: String = lits[pos + 1..]
                    .iter()
                    .filter(|t| t.starts_with('-') && !t.starts_with("--"))
                    .map(|t| &t[1..])
                    .collect();
                if !(flags.contains('f') && (flags.contains('x') || flags.contains('d'))) {
                    continue;
                }
                let dir = match lits.iter().position(|t| t == "-C") {
                    Some(c) => cmd.args.get(c + 1).cloned(),
                    None => cmd.cwd.clone().map(|p| Word { pieces: p, ..Word::default() }),
                };
                let Some(dir) = dir else { continue };
                if let Some(hit) = find_hit(&dir, paths::deletion_target)
                    && matches!(hit.what, Target::Root | Target::Home(_))
                {
                    out.push(deletion_hit(cmd, &dir, hit, "delete"));
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
        } else if formats(name) {
            // Across the script: format_disk (a volume made above is the script's own).
        } else if name == "wipefs" {
            if (o.short('a') || o.long("--all") || o.short('o') || o.long("--offset"))
                && !(o.short('n') || o.long("--no-act"))
                && o.operands.iter().any(|w| may_be_device(w))
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
            if o.operands.iter().any(|w| may_be_device(w)) {
                push(&cmd.span, "`blkdiscard` discards every block of the device: its data is gone".into());
            }
        } else if let Some((_, listing)) = PARTITION_TOOLS.iter().find(|(n, _)| *n == name) {
            let lists = listing
                .iter()
                .any(|l| if l.starts_with("--") { o.long(l) } else { l.chars().nth(1).is_some_and(|c| o.short(c)) });
            let parted_ok = name == "parted"
                && !cmd.args.iter().filter_map(Word::literal).any(|t| PARTED_WRITES.contains(&t.as_str()));
            if !lists && !parted_ok && o.operands.iter().any(|w| may_be_device(w)) {
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

fn formats(name: &str) -> bool {
    name.starts_with("mkfs") || matches!(name, "mke2fs" | "mkdosfs" | "mkntfs" | "mkexfatfs" | "mkswap")
}

fn picks_format(c: &Cmd) -> bool {
    formats(&c.name) || c.name == "lvcreate"
}

/// mkfs and friends on a disk; not on a logical volume the script made itself.
fn format_disk(m: &Model, out: &mut Vec<Hit>) {
    let mut push = |span: &Range<usize>, message: String| {
        out.push(Hit { category: Category::DiskWrite, span: span.clone(), message })
    };
    for cmd in m.cmds.iter().filter(|c| formats(&c.name)) {
        let name = cmd.name.as_str();
        let o = Opts::parse(&cmd.args, &[]);
        let target =
            o.operands.iter().rev().find(|w| !w.literal().is_some_and(|t| t.chars().all(|c| c.is_ascii_digit())));
        let Some(target) = target else { continue };
        let unknown = target.literal().is_none() && paths::segments(&target.candidates()[0].text).is_none();
        // A logical volume the script made itself (`lvcreate -n data vg` … `mkfs /dev/vg/data`).
        let made_here = target.literal().and_then(|t| t.rsplit('/').next().map(str::to_string)).is_some_and(|leaf| {
            m.cmds.iter().any(|c| {
                c.name == "lvcreate"
                    && c.args.windows(2).any(|w| {
                        matches!(w[0].literal().as_deref(), Some("-n" | "--name"))
                            && w[1].literal().as_deref() == Some(&leaf)
                    })
            })
        });
        if made_here {
            continue;
        }
        if let Some(p) = device_hit(target) {
            push(&cmd.span, format!("`{name}` formats {p}; everything on it is lost"));
        } else if unknown && name != "mkswap" {
            push(&cmd.span, format!("`{name}` formats {}, a device not known before it runs", target.display()));
        }
    }
}

/// A disk, or a path not known before the script runs; a regular file (`./disk.img`) is not.
fn may_be_device(w: &Word) -> bool {
    device_hit(w).is_some() || w.literal().is_none() && !w.candidates().iter().all(|c| c.text.starts_with('/'))
}

/// Volume managers, encryption, RAID and firmware erase commands that destroy what a device
/// or volume holds: `(program, subcommand or option, needs a device operand)`.
const VOLUME_WIPES: &[(&str, &str, &str)] = &[
    ("cryptsetup", "luksFormat", "formats"),
    ("cryptsetup", "erase", "erases the key slots of"),
    ("cryptsetup", "luksErase", "erases the key slots of"),
    ("mdadm", "--zero-superblock", "erases the RAID superblock of"),
    ("nvme", "format", "formats"),
    ("nvme", "sanitize", "sanitizes (erases)"),
    ("zpool", "destroy", "destroys the pool"),
    ("zpool", "labelclear", "clears the ZFS label of"),
    ("hdparm", "--security-erase", "erases"),
    ("hdparm", "--security-erase-enhanced", "erases"),
    ("sgdisk", "--zap-all", "erases the partition tables of"),
    ("sgdisk", "-Z", "erases the partition tables of"),
    ("sfdisk", "--delete", "deletes the partitions of"),
];

fn volume_wipe(m: &Model, out: &mut Vec<Hit>) {
    const NAMES: &[&str] = &["lvremove", "pvremove", "vgremove", "zfs"];
    for cmd in &m.cmds {
        if !(NAMES.contains(&cmd.name.as_str()) || VOLUME_WIPES.iter().any(|(n, _, _)| *n == cmd.name)) {
            continue;
        }
        let lits: Vec<String> = cmd.args.iter().filter_map(Word::literal).collect();
        let o = Opts::parse(&cmd.args, &[]);
        let what: Vec<String> = o.operands.iter().map(|w| w.display()).take(2).collect();
        let what = what.join(" ");
        let mut push =
            |message: String| out.push(Hit { category: Category::DiskWrite, span: cmd.span.clone(), message });
        if let Some((_, sub, verb)) = VOLUME_WIPES
            .iter()
            .find(|(n, sub, _)| *n == cmd.name && lits.iter().any(|t| t == sub || t.starts_with(&format!("{sub}="))))
        {
            let device = o.operands.iter().any(|w| may_be_device(w)) || matches!(cmd.name.as_str(), "zpool" | "mdadm");
            if device {
                push(format!("`{} {sub}` {verb} {what}; everything on it is lost", cmd.name));
            }
            continue;
        }
        let forced = o.short('f') || o.short('y') || o.long("--force") || o.long("--yes");
        match cmd.name.as_str() {
            "lvremove" | "pvremove" if forced => {
                push(format!("`{}` removes {what} without asking; the data on it is lost", label(cmd)))
            }
            "vgremove" => push(format!("`{}` removes the volume group {what} and its logical volumes", label(cmd))),
            "zfs" if lits.first().map(String::as_str) == Some("destroy") && (o.short('r') || o.short('R')) => {
                push(format!("`zfs destroy -r` destroys {what} and everything below it"))
            }
            _ => {}
        }
    }
}

fn system_permissions(m: &Model, out: &mut Vec<Hit>) {
    for cmd in &m.cmds {
        if !matches!(cmd.name.as_str(), "chmod" | "chown" | "chgrp" | "setfacl") {
            continue;
        }
        let o = Opts::parse(&cmd.args, &["-m", "-x", "-M", "-X", "--modify", "--remove"]);
        let skip = usize::from(cmd.name != "setfacl" && !o.long("--reference"));
        let mode = o.operands.first().and_then(|w| w.literal()).unwrap_or_default();
        for w in o.operands.iter().skip(skip) {
            let w = cmd.resolve(w);
            if let Some(h) = find_hit(&w, paths::system_file_target) {
                let safe = match cmd.name.as_str() {
                    "chmod" => SAFE_AUTH_MODES.contains(&mode.as_str()),
                    "chown" | "chgrp" => mode.starts_with("root") || mode.starts_with("0:") || mode == "0",
                    _ => false,
                };
                if !safe {
                    out.push(Hit {
                        category: Category::SystemPermissions,
                        span: cmd.span.clone(),
                        message: format!(
                            "`{}` on {}: accounts and sudo depend on exactly root-owned, narrow permissions",
                            written(cmd),
                            h.path
                        ),
                    });
                }
            }
        }
        if !(o.short('R') || o.long("--recursive")) {
            continue;
        }
        if cmd.name == "chmod" && world_writable(&mode) {
            for w in o.operands.iter().skip(1) {
                let w = cmd.resolve(w);
                if let Some(h) = find_hit(&w, paths::deletion_target)
                    && matches!(h.what, Target::Home(_) | Target::HomeContents(_) | Target::HomeSubtree(_))
                {
                    out.push(Hit {
                        category: Category::SystemPermissions,
                        span: cmd.span.clone(),
                        message: format!(
                            "`{}` makes everything in {} writable by every user (ssh then refuses its keys)",
                            written(cmd),
                            h.path
                        ),
                    });
                }
            }
        }
        // chmod MODE FILE…, chown OWNER FILE… (no mode or owner with --reference).
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

/// Modes that keep account files private (what the distributions ship, or narrower).
const SAFE_AUTH_MODES: &[&str] = &[
    "440", "0440", "400", "0400", "640", "0640", "600", "0600", "644", "0644", "000", "0000", "u-w", "go-rwx", "o-rwx",
    "a-w", "go-w", "o-w",
];

fn world_writable(mode: &str) -> bool {
    let digits = mode.trim_start_matches('0');
    (digits.len() == 3
        && digits.chars().all(|c| c.is_ascii_digit())
        && matches!(digits.as_bytes()[2], b'2' | b'3' | b'6' | b'7'))
        || mode.split(',').any(|p| {
            (p.starts_with('o') || p.starts_with('a') || p.starts_with('+')) && p.contains("+") && p.contains('w')
        })
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
        if let Some(p) = in_place_edit(cmd) {
            push(
                &cmd.span,
                format!("`{}` edits {p} in place; a mistake there locks users out or hands out root", written(cmd)),
            );
            continue;
        }
        // A file in /etc/sudoers.d/ is checked across the script: sudoers_write.
        for (w, verb) in file_writes(cmd).into_iter().filter(|(w, _)| !in_sudoers_d(w)) {
            if let Some(p) = file(w) {
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

/// The files `tee`, `truncate`, `cp`, `mv`, `install` or `ln` write, with the verb.
fn file_writes(cmd: &Cmd) -> Vec<(&Word, &'static str)> {
    if !matches!(cmd.name.as_str(), "tee" | "truncate" | "cp" | "mv" | "install" | "ln") {
        return Vec::new();
    }
    let o = Opts::parse(&cmd.args, &["-S", "--suffix", "-m", "--mode", "-o", "-g", "-s", "--size", "-r"]);
    let verb = match cmd.name.as_str() {
        "tee" if o.short('a') || o.long("--append") => "appends to",
        "truncate" => "empties",
        _ => "overwrites",
    };
    let targets: Vec<&Word> = match cmd.name.as_str() {
        "tee" | "truncate" => o.operands.clone(),
        _ if o.operands.len() >= 2 && !o.short('t') => vec![o.operands[o.operands.len() - 1]],
        _ => Vec::new(),
    };
    targets.into_iter().map(|w| (w, verb)).collect()
}

fn in_sudoers_d(w: &Word) -> bool {
    w.literal().is_some_and(|t| t.starts_with("/etc/sudoers.d/"))
}

fn picks_sudoers_write(c: &Cmd) -> bool {
    c.name == "visudo" || c.args.iter().any(in_sudoers_d)
}

/// A file put into /etc/sudoers.d/ without `visudo -c` anywhere in the script (or
/// `install -m 0440`, the safe way).
fn sudoers_write(m: &Model, out: &mut Vec<Hit>) {
    let checked = m.cmds.iter().any(|c| {
        c.name == "visudo"
            && c.args
                .iter()
                .filter_map(Word::literal)
                .any(|t| t == "--check" || (t.starts_with('-') && !t.starts_with("--") && t.contains('c')))
    });
    for cmd in &m.cmds {
        let mode = cmd.args.iter().position(|a| a.literal().as_deref() == Some("-m")).and_then(|i| cmd.arg(i + 1));
        let installed_safely = cmd.name == "install" && mode.as_deref().is_some_and(|m| m.ends_with("440"));
        if checked || installed_safely {
            continue;
        }
        for (w, verb) in file_writes(cmd).into_iter().filter(|(w, _)| in_sudoers_d(w)) {
            if let Some(p) = find_hit(w, paths::system_file_target).map(|h| h.path) {
                out.push(Hit {
                    category: Category::OverwriteSystemFile,
                    span: cmd.span.clone(),
                    message: format!("`{}` {verb} {p}; a mistake there locks users out or hands out root", cmd.name),
                });
            }
        }
    }
}

/// `sed -i`, `perl -pi`, `awk -i inplace`, `ed` on an account or sudoers file.
fn in_place_edit(cmd: &Cmd) -> Option<String> {
    let lits: Vec<String> = cmd.args.iter().filter_map(Word::literal).collect();
    let in_place = match cmd.name.as_str() {
        "sed" | "gsed" => lits
            .iter()
            .any(|t| t.starts_with("--in-place") || (t.starts_with('-') && !t.starts_with("--") && t.contains('i'))),
        "perl" => lits.iter().any(|t| t.starts_with('-') && !t.starts_with("--") && t.contains('i')),
        "awk" | "gawk" => lits.windows(2).any(|w| w[0] == "-i" && w[1] == "inplace"),
        "ed" | "ex" => true,
        _ => false,
    };
    if !in_place {
        return None;
    }
    cmd.args
        .iter()
        .filter(|a| !a.is_option())
        .find_map(|w| find_hit(&cmd.resolve(w), paths::system_file_target).map(|h| h.path))
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

/// Docker and database commands that delete volumes or whole databases.
/// Programs [`data_store`] looks at; the others are skipped before their words are read.
const DATA_PROGRAMS: &[&str] = &[
    "docker",
    "podman",
    "docker-compose",
    "psql",
    "mysql",
    "mariadb",
    "sqlite3",
    "clickhouse-client",
    "cockroach",
    "mongo",
    "mongosh",
    "redis-cli",
    "sqlcmd",
    "cqlsh",
    "dropdb",
    "mysqladmin",
    "kubectl",
    "oc",
    "terraform",
    "tofu",
    "pulumi",
    "aws",
    "gsutil",
    "gcloud",
    "az",
];

fn data_store(m: &Model, out: &mut Vec<Hit>) {
    for cmd in m.cmds.iter().filter(|c| DATA_PROGRAMS.contains(&c.name.as_str())) {
        let lits: Vec<String> = cmd.args.iter().map(|a| a.literal().unwrap_or_else(|| a.display())).collect();
        let has = |t: &str| lits.iter().any(|l| l == t);
        let message = match cmd.name.as_str() {
            "docker" | "podman" | "docker-compose" => {
                let sub: Vec<&str> = lits.iter().map(String::as_str).filter(|t| !t.starts_with('-')).take(2).collect();
                match sub.as_slice() {
                    ["system", "prune"] if has("--volumes") => {
                        Some(format!("`{}` deletes every unused volume, and the data in it", written(cmd)))
                    }
                    ["volume", "prune"] => {
                        Some(format!("`{}` deletes every unused volume, and the data in it", written(cmd)))
                    }
                    ["volume", "rm"] if lits.iter().any(|t| t.contains("volume ls")) => {
                        Some(format!("`{}` deletes every volume, and the data in it", written(cmd)))
                    }
                    ["compose", "down"] | ["down", ..] if has("-v") || has("--volumes") => {
                        Some(format!("`{}` deletes the project's named volumes, and the data in them", written(cmd)))
                    }
                    _ => None,
                }
            }
            "psql" | "mysql" | "mariadb" | "sqlite3" | "clickhouse-client" | "cockroach" | "mongo" | "mongosh"
            | "redis-cli" | "sqlcmd" | "cqlsh" => {
                let mut text = lits.join(" ");
                if let Some(t) = &cmd.stdin_text {
                    text.push(' ');
                    text.push_str(t);
                }
                // Words as SQL reads them: `DROP\n  TABLE x` is `drop table x`.
                let text = text.to_ascii_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
                let text = drop_scratch_tables(&text);
                let wipe = [
                    "drop database",
                    "drop schema",
                    "drop table",
                    "dropdatabase(",
                    "flushall",
                    "flushdb",
                    "drop owned",
                    "drop keyspace",
                ]
                .into_iter()
                .find(|w| text.contains(w))
                .or_else(|| {
                    // `DELETE FROM users;`: every row, when no WHERE narrows it.
                    text.split(';')
                        .any(|st| st.contains("delete from") && !st.contains(" where "))
                        .then_some("delete from")
                })
                .or_else(|| {
                    // `TRUNCATE orders;`, `TRUNCATE TABLE orders`: a statement, not a word in a
                    // file name (`-f truncate_logs.sql`).
                    let statements = lits
                        .iter()
                        .map(|l| l.to_ascii_lowercase())
                        .chain(cmd.stdin_text.iter().map(|t| t.to_ascii_lowercase()));
                    statements
                        .flat_map(|t| t.split(';').map(|s| s.trim().to_string()).collect::<Vec<_>>())
                        .any(|st| st.strip_prefix("truncate").is_some_and(|rest| rest.starts_with([' ', '\n', '\t'])))
                        .then_some("truncate")
                });
                wipe.map(|w| {
                    format!("`{}` runs {}: the data is gone", cmd.name, w.to_ascii_uppercase().trim_end_matches('('))
                })
            }
            "dropdb" => Some(format!("`{}` deletes the database", written(cmd))),
            "kubectl" | "oc" if lits.first().map(String::as_str) == Some("delete") => {
                let wide = has("--all") || has("-A") || has("--all-namespaces");
                let kind = lits.get(1).map(String::as_str).unwrap_or("");
                let ns = matches!(kind, "namespace" | "namespaces" | "ns");
                let volumes = matches!(
                    kind,
                    "pvc" | "pv" | "persistentvolumeclaim" | "persistentvolumeclaims" | "persistentvolume"
                );
                (ns || (wide && (volumes || kind == "all")))
                    .then(|| format!("`{}` deletes everything in it, volumes included", written(cmd)))
            }
            "terraform" | "tofu" | "pulumi" if has("destroy") || (has("apply") && has("-destroy")) => {
                Some(format!("`{}` destroys the infrastructure the state manages", written(cmd)))
            }
            "aws"
                if lits.first().map(String::as_str) == Some("s3")
                    && ((has("rm") && has("--recursive")) || (has("rb") && has("--force"))) =>
            {
                Some(format!("`{}` deletes every object in the bucket", written(cmd)))
            }
            "gsutil" | "gcloud" if has("rm") && (has("-r") || has("-R") || has("--recursive")) => {
                Some(format!("`{}` deletes every object below that path", written(cmd)))
            }
            "az" if has("group") && has("delete") => {
                Some(format!("`{}` deletes the resource group and everything in it", written(cmd)))
            }
            "mysqladmin" if has("drop") => Some(format!("`{}` deletes the database", written(cmd))),
            _ => None,
        };
        if let Some(message) = message {
            out.push(Hit { category: Category::DataStore, span: cmd.span.clone(), message });
        }
    }
}

/// The file name a word ends in (`./x/install.sh` is `install.sh`), to match a download
/// with the command that runs it.
fn file_key(w: &Word) -> Option<String> {
    let d = w.display();
    let d = d.trim_end_matches('/');
    let d = d.split(['?', '#']).next().unwrap_or(d);
    let key = d.rsplit('/').next().unwrap_or(d);
    (!key.is_empty() && key != "-" && !key.starts_with('-')).then(|| key.to_string())
}

/// Where a downloader writes: `curl -o F`, `curl -O URL`, `wget URL`, `wget -O F`, `> F`.
fn fetched_file(cmd: &Cmd) -> Option<String> {
    if let Some(to) = &cmd.stdout_to {
        return file_key(to);
    }
    let args = &cmd.args;
    let url = || args.iter().rev().find(|a| a.display().contains("://")).and_then(file_key);
    let mut remote_name = cmd.name == "wget";
    let mut i = 0;
    while i < args.len() {
        let t = args[i].literal().unwrap_or_default();
        let next = || args.get(i + 1).and_then(file_key);
        match t.as_str() {
            "-o" | "--output" | "-O" | "--output-document" if !(cmd.name == "curl" && t == "-O") => {
                return if args.get(i + 1).and_then(Word::literal).as_deref() == Some("-") { None } else { next() };
            }
            "-O" | "--remote-name" | "--remote-name-all" => remote_name = true,
            _ if t.starts_with("--output=") || t.starts_with("--output-document=") => {
                return args[i]
                    .strip_prefix(t.split_once('=').map_or("", |(a, _)| a))
                    .and_then(|w| w.strip_prefix("="))
                    .and_then(|w| file_key(&w));
            }
            _ if t.starts_with('-') && !t.starts_with("--") && t.len() > 2 => {
                let last = t.chars().last().unwrap_or(' ');
                if (cmd.name == "curl" && last == 'o') || (cmd.name == "wget" && last == 'O') {
                    return next().filter(|k| k != "-");
                }
                if cmd.name == "curl" && t.contains('O') {
                    remote_name = true;
                }
                if cmd.name == "wget" && t.starts_with("-O") {
                    return args[i].strip_prefix("-O").and_then(|w| file_key(&w));
                }
            }
            _ => {}
        }
        i += 1;
    }
    if remote_name { url() } else { None }
}

/// The script a shell, an interpreter or `source` runs from a file.
fn run_file(cmd: &Cmd) -> Option<String> {
    let name = cmd.name.as_str();
    let shell = super::SHELLS.contains(&name);
    if shell || super::INTERPRETERS.contains(&name) || name.starts_with("python3.") || matches!(name, "source" | ".") {
        if let Some(from) = &cmd.stdin_from {
            return file_key(from);
        }
        let mut k = 0;
        while let Some(t) = cmd.args.get(k).and_then(Word::literal).filter(|t| t.starts_with('-')) {
            if t == "-c" || t == "-e" || t == "-m" {
                return None;
            }
            k += if shell && t.contains('o') { 2 } else { 1 };
        }
        return cmd.args.get(k).and_then(file_key);
    }
    // `./install.sh`, `/tmp/setup`, `"$TMP"`: a path run directly.
    let p = cmd.program.display();
    (p.contains('/') || cmd.program.literal().is_none()).then(|| file_key(&cmd.program)).flatten()
}

/// A download, a checksum or signature check, or a command that runs a file.
fn picks_download_run(cmd: &Cmd) -> bool {
    if super::DOWNLOADERS.contains(&cmd.name.as_str()) {
        return fetched_file(cmd).is_some();
    }
    verifies(cmd) || run_file(cmd).is_some()
}

/// A checksum or signature check, which is what an admin does before running a download.
fn verifies(cmd: &Cmd) -> bool {
    (cmd.name.ends_with("sum") && cmd.args.iter().filter_map(Word::literal).any(|t| t == "-c" || t == "--check"))
        || (matches!(cmd.name.as_str(), "gpg" | "gpgv" | "cosign" | "minisign" | "signify")
            && cmd.args.iter().filter_map(Word::literal).any(|t| t.contains("verify") || t == "-V"))
}

fn download_run(m: &Model, out: &mut Vec<Hit>) {
    let mut fetched: Vec<(String, String, bool)> = Vec::new();
    for cmd in &m.cmds {
        if super::DOWNLOADERS.contains(&cmd.name.as_str()) {
            if let Some(f) = fetched_file(cmd) {
                fetched.push((f, cmd.name.clone(), false));
            }
            continue;
        }
        if verifies(cmd) {
            fetched.iter_mut().for_each(|f| f.2 = true);
            continue;
        }
        if fetched.is_empty() {
            continue;
        }
        let Some(key) = run_file(cmd) else { continue };
        if let Some((file, downloader, _)) = fetched.iter().rev().find(|(f, _, verified)| *f == key && !verified) {
            out.push(Hit {
                category: Category::DownloadRun,
                span: cmd.span.clone(),
                message: format!(
                    "`{}` runs {file}, downloaded by `{downloader}` above without a checksum or signature check; \
                     read it (or verify it) before running it",
                    written(cmd)
                ),
            });
        }
    }
}

fn encoded_payload(m: &Model, out: &mut Vec<Hit>) {
    for d in &m.decoded {
        out.push(Hit {
            category: Category::EncodedPayload,
            span: d.span.clone(),
            message: format!(
                "text decoded by `{}` is run by `{}`: what it does is hidden; decode it and read it first",
                d.downloader, d.interpreter
            ),
        });
    }
}

fn lits(cmd: &Cmd) -> Vec<String> {
    cmd.args.iter().map(|a| a.literal().unwrap_or_else(|| a.display())).collect()
}

/// The programs [`lockout`] reads.
const LOCKOUT_PROGRAMS: &[&str] = &[
    "iptables",
    "ip6tables",
    "nft",
    "ufw",
    "firewall-cmd",
    "systemctl",
    "service",
    "passwd",
    "usermod",
    "chage",
    "userdel",
    "deluser",
    "ip",
    "ifdown",
    "ifconfig",
    "nmcli",
    "chsh",
];

fn picks_lockout(c: &Cmd) -> bool {
    LOCKOUT_PROGRAMS.contains(&c.name.as_str())
}

/// Firewall rules that shut out the SSH session, sshd stopped, accounts locked or removed.
fn lockout(m: &Model, out: &mut Vec<Hit>) {
    let mut push =
        |cmd: &Cmd, message: String| out.push(Hit { category: Category::Lockout, span: cmd.span.clone(), message });
    let all: Vec<(&Cmd, Vec<String>)> = m.cmds.iter().filter(|c| picks_lockout(c)).map(|c| (c, lits(c))).collect();
    let ssh_port = |l: &[String]| {
        l.iter().any(|t| {
            t == "22"
                || t == "ssh"
                || t == "OpenSSH"
                || t.starts_with("22/")
                || t.split(',').any(|p| p == "22")
                || t.contains("port=22")
        })
    };
    let ssh_allowed = all.iter().any(|(c, l)| match c.name.as_str() {
        "iptables" | "ip6tables" => l.iter().any(|t| t == "ACCEPT") && ssh_port(l),
        "ufw" => l.iter().any(|t| matches!(t.as_str(), "allow" | "limit")) && ssh_port(l),
        _ => false,
    });
    let nft_loads = all.iter().any(|(c, l)| c.name == "nft" && l.iter().any(|t| t == "-f" || t == "--file"));
    let ufw_deny = all.iter().any(|(c, l)| {
        c.name == "ufw"
            && l.windows(2).any(|w| w[0] == "default" && matches!(w[1].as_str(), "deny" | "reject"))
            && !l.iter().any(|t| t == "outgoing")
    });
    for (cmd, l) in &all {
        let has = |t: &str| l.iter().any(|x| x == t);
        match cmd.name.as_str() {
            "iptables" | "ip6tables" if !ssh_allowed => {
                // `iptables -I INPUT -j DROP`: a rule that drops everything, matching on nothing.
                let narrowed = ["-s", "--source", "-p", "--protocol", "-m", "--match", "-i", "--in-interface", "-d"];
                let drop_all = l
                    .windows(2)
                    .any(|w| matches!(w[0].as_str(), "-A" | "-I" | "--append" | "--insert") && w[1] == "INPUT")
                    && l.windows(2).any(|w| w[0] == "-j" && matches!(w[1].as_str(), "DROP" | "REJECT"))
                    && !l.iter().any(|t| narrowed.contains(&t.as_str()));
                let drop = drop_all
                    || l.windows(3).any(|w| {
                        matches!(w[0].as_str(), "-P" | "--policy")
                            && w[1] == "INPUT"
                            && matches!(w[2].as_str(), "DROP" | "REJECT")
                    });
                if drop {
                    push(
                        cmd,
                        format!(
                            "`{}` drops all incoming traffic and nothing here accepts SSH (port 22): the session is cut off",
                            written(cmd)
                        ),
                    );
                }
            }
            "nft" if l.windows(2).any(|w| w[0] == "flush" && w[1] == "ruleset") && !nft_loads => push(
                cmd,
                "`nft flush ruleset` removes every firewall rule and table, and nothing here loads new ones".into(),
            ),
            "ufw" if has("enable") && ufw_deny && !ssh_allowed => push(
                cmd,
                "`ufw enable` with `ufw default deny incoming` and no `ufw allow ssh`: the SSH session is cut off"
                    .into(),
            ),
            "ufw" if l.iter().any(|t| matches!(t.as_str(), "deny" | "reject")) && !has("default") && ssh_port(l) => {
                push(cmd, format!("`{}` closes SSH: the session is cut off", written(cmd)))
            }
            "ip" if has("link") && has("down") && !has("lo") => {
                push(cmd, format!("`{}` takes the network interface down: a remote session ends", written(cmd)))
            }
            "ifdown" | "ifconfig" if (cmd.name == "ifdown" || has("down")) && !has("lo") => {
                push(cmd, format!("`{}` takes the network interface down: a remote session ends", written(cmd)))
            }
            "nmcli" if l.windows(2).any(|w| w[0] == "networking" && w[1] == "off") => {
                push(cmd, format!("`{}` turns networking off: a remote session ends", written(cmd)))
            }
            "chsh" if has("root") && l.iter().any(|t| t.ends_with("nologin") || t.ends_with("/false")) => {
                push(cmd, format!("`{}` stops root from logging in", written(cmd)))
            }
            "firewall-cmd" if l.iter().any(|t| t == "--remove-service=ssh" || t.starts_with("--remove-port=22/")) => {
                push(cmd, format!("`{}` closes SSH in the firewall", written(cmd)))
            }
            "systemctl" | "service" => {
                let stops = l.iter().any(|t| matches!(t.as_str(), "stop" | "disable" | "mask" | "kill"));
                // `for s in sshd ssh; do systemctl stop "$s"`: every value of the loop.
                let l: Vec<String> = cmd.args.iter().flat_map(|a| a.candidates().into_iter().map(|c| c.text)).collect();
                let ssh = l.iter().any(|t| {
                    matches!(
                        t.as_str(),
                        "ssh" | "sshd" | "ssh.service" | "sshd.service" | "ssh.socket" | "openssh-server"
                    )
                });
                let network = l.iter().any(|t| {
                    let unit = t.trim_end_matches(".service");
                    matches!(unit, "network" | "networking" | "NetworkManager" | "systemd-networkd")
                });
                if stops && ssh {
                    push(cmd, format!("`{}` stops the SSH server: remote logins end", written(cmd)))
                } else if stops && network {
                    push(cmd, format!("`{}` stops the network: a remote session ends", written(cmd)))
                }
            }
            "passwd" => {
                let o = Opts::parse(&cmd.args, &[]);
                let user = o.operands.first().map(|w| w.display()).unwrap_or_default();
                let root = user.is_empty() || user == "root" || user.contains("USER") || user.contains("whoami");
                if root && (o.short('l') || o.long("--lock")) {
                    push(cmd, format!("`{}` locks the account's password: nobody can log in with it", written(cmd)))
                } else if root && (o.short('d') || o.long("--delete")) {
                    push(cmd, format!("`{}` removes the password: anyone can log in as that user", written(cmd)))
                }
            }
            "usermod" => {
                let o = Opts::parse(
                    &cmd.args,
                    &["-s", "--shell", "-e", "--expiredate", "-d", "-g", "-G", "-c", "-l", "-u", "-p"],
                );
                let nologin = l.windows(2).any(|w| {
                    matches!(w[0].as_str(), "-s" | "--shell") && (w[1].ends_with("nologin") || w[1].ends_with("false"))
                }) && o.operands.iter().any(|w| w.display() == "root");
                if o.short('L') || o.long("--lock") || nologin {
                    push(cmd, format!("`{}` locks the account: nobody can log in as that user", written(cmd)))
                }
            }
            "chage" if l.windows(2).any(|w| w[0] == "-E" && w[1] == "0") && has("root") => {
                push(cmd, "`chage -E 0 root` expires the root account".into())
            }
            "userdel" | "deluser" => {
                let o = Opts::parse(&cmd.args, &[]);
                let wipes = o.short('r')
                    || o.short('f')
                    || o.long("--remove")
                    || o.long("--force")
                    || o.long("--remove-home")
                    || o.long("--remove-all-files");
                let root = o.operands.iter().any(|w| w.display() == "root");
                if wipes || root {
                    push(cmd, format!("`{}` deletes the account and its files", written(cmd)))
                }
            }
            _ => {}
        }
    }
}

/// Packages the system cannot run without (glob patterns match names and versions).
pub const ESSENTIAL_PACKAGES: &[&str] = &[
    "libc6",
    "libc-bin",
    "glibc",
    "glibc-common",
    "libc",
    "systemd",
    "systemd-sysv",
    "libsystemd0",
    "systemd-libs",
    "init",
    "sudo",
    "openssh-server",
    "openssh",
    "ssh",
    "python3",
    "python3-minimal",
    "python3.[0-9]*",
    "bash",
    "dash",
    "coreutils",
    "util-linux",
    "dpkg",
    "apt",
    "rpm",
    "dnf",
    "yum",
    "pacman",
    "login",
    "passwd",
    "shadow-utils",
    "base-files",
    "perl-base",
    "grub-pc",
    "grub-efi*",
    "grub2*",
    "grub-common",
    "libpam0g",
    "libpam-modules",
    "pam",
    "udev",
    "kernel",
    "kernel-core",
    "python",
    "linux-generic",
    "linux-image-generic",
    "linux",
    "linux-lts",
    "tar",
    "gzip",
    "findutils",
    "sed",
    "grep",
    "mount",
];

fn essential(pkg: &str) -> bool {
    let pkg = pkg.trim_matches(['"', '\'']);
    let pkg = pkg.split(['=', ':']).next().unwrap_or(pkg);
    // apt's regular expressions: `^python3.*`.
    let regex = pkg.trim_start_matches('^').trim_end_matches('$').replace(".*", "*");
    let pkg = regex.as_str();
    // The running kernel, or every kernel at once.
    if let Some(rest) = pkg.strip_prefix("linux-image-") {
        return rest.contains('*') || rest.contains('…') || rest.contains("uname") || rest == "generic";
    }
    ESSENTIAL_PACKAGES.iter().any(|e| paths::seg_matches(e, pkg) || (paths::is_glob(pkg) && paths::seg_matches(pkg, e)))
}

fn system_package(m: &Model, out: &mut Vec<Hit>) {
    const MANAGERS: &[&str] = &[
        "apt", "apt-get", "aptitude", "dnf", "yum", "microdnf", "zypper", "tdnf", "apk", "pacman", "yay", "paru",
        "dpkg", "rpm",
    ];
    for cmd in m.cmds.iter().filter(|c| MANAGERS.contains(&c.name.as_str())) {
        let l = lits(cmd);
        let sub = l.iter().position(|t| !t.starts_with('-'));
        let removes = match cmd.name.as_str() {
            "apt" | "apt-get" | "aptitude" => {
                sub.is_some_and(|s| matches!(l[s].as_str(), "remove" | "purge" | "autoremove" | "autopurge"))
            }
            "dnf" | "yum" | "microdnf" | "zypper" | "tdnf" => {
                sub.is_some_and(|s| matches!(l[s].as_str(), "remove" | "erase" | "rm" | "autoremove"))
            }
            "apk" => sub.is_some_and(|s| l[s] == "del"),
            "pacman" | "yay" | "paru" => l.iter().any(|t| t.starts_with("-R") || t == "--remove"),
            "dpkg" => l.iter().any(|t| matches!(t.as_str(), "-r" | "-P" | "--remove" | "--purge")),
            "rpm" => l.iter().any(|t| t == "-e" || t == "--erase" || (t.starts_with("-e") && !t.starts_with("--"))),
            _ => false,
        };
        if !removes {
            continue;
        }
        let forced = l.iter().any(|t| {
            t == "--nodeps"
                || t.starts_with("--force-all")
                || t.starts_with("--force-depends")
                || t.starts_with("--force-remove-essential")
                || t == "-Rdd"
                || t.starts_with("-Rdd")
        });
        let start = if matches!(cmd.name.as_str(), "dpkg" | "rpm" | "pacman" | "yay" | "paru") {
            0
        } else {
            sub.map_or(l.len(), |s| s + 1)
        };
        let hit = l[start..].iter().filter(|t| !t.starts_with('-')).find(|t| essential(t));
        let message = match (hit, forced) {
            (Some(p), _) => {
                format!("`{}` removes {p}, which the system needs to boot, log in or manage packages", written(cmd))
            }
            (None, true) => format!("`{}` removes packages without checking what depends on them", written(cmd)),
            (None, false) => continue,
        };
        out.push(Hit { category: Category::SystemPackage, span: cmd.span.clone(), message });
    }
}

/// `ps` listing every process, with nothing narrowing it down.
fn lists_every_process(text: &str) -> bool {
    let t = text.trim_start_matches("$(").trim_start_matches('`').trim_start();
    if !t.starts_with("ps ") {
        return false;
    }
    let every =
        t.split_whitespace().any(|w| matches!(w, "-e" | "-A" | "aux" | "ax" | "-ef" | "-eo" | "-aux" | "axo" | "-Ao"));
    let narrowed = ["grep", " -C", " -u", " -U", " -p", "--pid", "--ppid", " -G", " -t", "==", "~", "/ {", "$1 >"]
        .iter()
        .any(|n| t.contains(n));
    every && !narrowed
}

fn kill_everything(m: &Model, out: &mut Vec<Hit>) {
    for cmd in m.cmds.iter().filter(|c| matches!(c.name.as_str(), "kill" | "pkill" | "killall")) {
        let l = lits(cmd);
        let message = match cmd.name.as_str() {
            "kill" if l.iter().any(|t| lists_every_process(t)) => {
                format!(
                    "`kill` is given every process `ps` lists: `{}` ends the session and the system's services",
                    written(cmd)
                )
            }
            "pkill" | "killall" | "pgrep" if cmd.name != "pgrep" => {
                let o = Opts::parse(&cmd.args, &["-u", "-U", "-g", "-G", "-P", "-s", "-t", "--signal", "-n"]);
                let pattern = o.operands.first().and_then(|w| w.literal());
                let regex = cmd.name == "pkill" || o.short('r') || o.long("--regexp");
                let root = l.windows(2).any(|w| {
                    matches!(w[0].as_str(), "-u" | "-U" | "--euid" | "--uid" | "--user")
                        && matches!(w[1].as_str(), "root" | "0")
                });
                match pattern.as_deref() {
                    None if root => {
                        format!("`{}` signals every process root runs: the system's services stop", written(cmd))
                    }
                    Some("." | ".*" | "^" | "" | "^.*" | ".+") if regex => {
                        format!(
                            "`{}` matches every process: it ends the session and the system's services",
                            written(cmd)
                        )
                    }
                    _ => continue,
                }
            }
            _ => continue,
        };
        out.push(Hit { category: Category::KillAll, span: cmd.span.clone(), message });
    }
    // `echo c > /proc/sysrq-trigger` crashes or reboots the machine at once.
    let sysrq = "writing /proc/sysrq-trigger crashes, reboots or powers off the machine at once";
    for r in m.redirects.iter().filter(|r| r.writes()) {
        if r.target.literal().as_deref() == Some("/proc/sysrq-trigger") {
            out.push(Hit { category: Category::KillAll, span: r.span.clone(), message: sysrq.into() });
        }
    }
    for cmd in m.cmds.iter().filter(|c| c.name == "tee") {
        if cmd.args.iter().any(|a| a.literal().as_deref() == Some("/proc/sysrq-trigger")) {
            out.push(Hit { category: Category::KillAll, span: cmd.span.clone(), message: sysrq.into() });
        }
    }
    // `ps -e -o pid= | xargs kill -9`
    for pipe in &m.pipes {
        let stages: Vec<&Cmd> = pipe.iter().filter_map(|i| i.and_then(|i| m.cmds.get(i))).collect();
        let Some(ps) = stages.first().filter(|c| c.name == "ps") else { continue };
        let text = format!("ps {}", lits(ps).join(" "));
        let filtered = stages.iter().any(|c| {
            matches!(c.name.as_str(), "grep" | "egrep" | "fgrep" | "pgrep")
                || (c.name == "awk" && lits(c).iter().any(|t| t.contains('/') || t.contains("==") || t.contains('~')))
        });
        if let Some(kill) = stages.iter().find(|c| c.name == "kill" && c.via.iter().any(|v| v == "xargs"))
            && lists_every_process(&text)
            && !filtered
        {
            out.push(Hit {
                category: Category::KillAll,
                span: kill.span.clone(),
                message:
                    "`xargs kill` is given every process `ps` lists: it ends the session and the system's services"
                        .into(),
            });
        }
    }
}

/// Fork bombs written in another language: `perl -e 'fork while fork'`, a Python
/// `while True: os.fork()`, Ruby's `loop { fork }`.
fn program_fork_bomb(m: &Model, out: &mut Vec<Hit>) {
    for cmd in &m.cmds {
        let name = cmd.name.as_str();
        if !(super::INTERPRETERS.contains(&name) || name.starts_with("python3.")) {
            continue;
        }
        let inline = cmd.args.windows(2).find_map(|w| {
            let opt = w[0].literal()?;
            (opt.starts_with('-')
                && !opt.starts_with("--")
                && (opt.ends_with('c') || opt.ends_with('e') || opt.ends_with('E')))
            .then(|| w[1].literal())
            .flatten()
        });
        let Some(text) = inline.or_else(|| cmd.stdin_text.clone().filter(|_| cmd.stdin_program)) else { continue };
        let fork = text.contains("fork");
        let looped = text.contains("while")
            || text.contains("loop")
            || text.contains("until")
            || text.contains("for(;;)")
            || text.contains("for (;;)");
        let waits = text.contains("wait") || text.contains("exit(") || text.contains("_exit");
        if fork && looped && !waits {
            out.push(Hit {
                category: Category::ForkBomb,
                span: cmd.span.clone(),
                message: format!(
                    "fork bomb: the `{name}` program forks in an endless loop until the system runs out of processes"
                ),
            });
        }
    }
}

/// `echo | crontab -`, `crontab - < /dev/null`, `true | crontab -`: an empty crontab.
fn empty_crontab(m: &Model, out: &mut Vec<Hit>) {
    let mut push = |cmd: &Cmd| {
        out.push(Hit {
            category: Category::CrontabRemove,
            span: cmd.span.clone(),
            message: format!("`{}` installs an empty crontab: all of the user's cron jobs are gone", written(cmd)),
        })
    };
    for pipe in &m.pipes {
        let stages: Vec<Option<&Cmd>> = pipe.iter().map(|i| i.and_then(|i| m.cmds.get(i))).collect();
        for pair in stages.windows(2) {
            let (Some(from), Some(cron)) = (pair[0], pair[1]) else { continue };
            if cron.name != "crontab" {
                continue;
            }
            let o = Opts::parse(&cron.args, &["-u"]);
            if o.operands.iter().any(|a| a.literal().as_deref() != Some("-")) {
                continue;
            }
            let empty = matches!(from.name.as_str(), ":" | "true")
                || (from.name == "cat" && from.args.iter().any(|a| a.literal().as_deref() == Some("/dev/null")))
                || (matches!(from.name.as_str(), "echo" | "printf")
                    && cron.stdin_text.as_deref().is_some_and(|t| t.trim().is_empty()));
            if empty {
                push(cron);
            }
        }
    }
    for cmd in m.cmds.iter().filter(|c| c.name == "crontab") {
        if cmd.stdin_from.as_ref().and_then(Word::literal).as_deref() == Some("/dev/null") {
            push(cmd);
        }
    }
}

/// SQL text without its `DROP TABLE [IF EXISTS] name` statements whose tables are all
/// scratch tables (`tmp_import`, `temp_rows`, `scratch`): the idempotent clean-up before
/// re-creating them, not a wipe of data anyone keeps.
fn drop_scratch_tables(sql: &str) -> String {
    sql.split(';')
        .filter(|st| {
            let st = st.trim();
            let Some(rest) = st.split_once("drop table").map(|(_, r)| r) else { return true };
            let names = rest.trim_start().strip_prefix("if exists").unwrap_or(rest).trim();
            let names = names.trim_end_matches(" cascade").trim_end_matches(" restrict");
            let scratch = |n: &str| {
                let n = n.trim().trim_matches(['"', '`']);
                let n = n.rsplit('.').next().unwrap_or(n);
                ["tmp", "temp", "scratch"].iter().any(|p| n.starts_with(p))
            };
            names.is_empty() || !names.split(',').all(scratch)
        })
        .collect::<Vec<_>>()
        .join(";")
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
                "find / -name '*.tmp' -delete",
                "find / -type f -name '*.log' -mtime +7 -exec rm -f {} +",
                "find / -name core -print0 | xargs -0 rm -f",
                "(cd / && rm -rf *)",
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
    fn system_paths_at_any_depth() {
        table(
            Category::DeleteSystem,
            &[
                "rm -rf /usr/lib/x86_64-linux-gnu",
                "sudo rm -f /usr/lib/x86_64-linux-gnu/libc.so.6",
                "rm -rf /usr/lib/python3*/",
                "sudo rm /usr/bin/python3",
                "rm -f /usr/bin/perl",
                "rm -rf /lib/modules/$(uname -r)",
                "rm -f /lib64/ld-linux-x86-64.so.2",
                "rm -rf /boot/grub",
                "rm -rf /etc/ssl/certs",
                "rm -rf /etc/pam.d",
                "rm -f /etc/pam.d/common-auth",
                "rm -rf /etc/systemd/system",
                "rm -rf /var/lib/dpkg/info",
                "rm -rf /var/lib/rpm",
                "mv /usr/bin/python3 /usr/bin/python3.bak",
                "sudo mv /lib /lib.old",
                "truncate -s 0 /usr/lib/os-release",
                "find /usr/lib -name '*.so*' -delete",
                "find /etc -name '*.conf' -exec rm -f {} \\;",
                "find /usr -type f -name '*.pyc' | xargs rm -f",
            ],
            &[
                "rm -rf /usr/local/lib/python3.11/site-packages/foo",
                "sudo rm -f /usr/local/bin/docker-compose",
                "rm -rf /opt/app/releases/old",
                "rm -rf /srv/www/cache/*",
                "rm -rf /var/cache/apt/archives/*.deb",
                "rm -rf /var/cache/nginx",
                "rm -rf /var/tmp/build-123",
                "rm -rf /var/log/myapp/",
                "rm -f /var/log/nginx/access.log.1",
                "rm -rf /var/lib/apt/lists/*",
                "sudo rm -f /etc/nginx/sites-enabled/default",
                "rm -f /etc/systemd/system/myapp.service",
                "sudo rm -f /etc/apt/sources.list.d/docker.list",
                "mv /etc/hosts /etc/hosts.bak",
                "mv /etc/nginx/nginx.conf /etc/nginx/nginx.conf.orig",
                "sudo rm -rf /usr/lib/node_modules/npm",
                "find /usr/local -name '*.pyc' -delete",
                "find /var/log/myapp -name '*.gz' -mtime +14 -delete",
                "truncate -s 0 /var/log/myapp/app.log",
                "ls -la /usr/lib/x86_64-linux-gnu",
                "sudo rm /usr/share/keyrings/docker-archive-keyring.gpg",
                "sudo rm /etc/init.d/myapp",
                "sudo rm -f /usr/lib/systemd/system/myapp.service",
                "sudo rm -f /etc/apt/sources.list.d/*",
            ],
        );
        table(
            Category::DeleteSystem,
            &["rm -rf /etc/init.d/*", "rm -rf /usr/lib/systemd/system/*", "rm -rf /usr/share/keyrings/../perl5"],
            &[],
        );
        table(
            Category::SystemPermissions,
            &["chmod -R 777 /usr/lib", "chown -R nobody /etc/ssl", "chmod -R 700 /usr/bin"],
            &[
                "chown -R www-data /var/www/html",
                "chmod -R 755 /usr/local/share/app",
                "chown -R mysql:mysql /var/lib/mysql",
            ],
        );
    }

    #[test]
    fn home_and_secrets() {
        table(
            Category::DeleteHome,
            &[
                "rm -rf ~/.ssh",
                "rm -rf ~/.ssh/*",
                "rm -rf ~/.gnupg",
                "rm -rf ~/Documents",
                "rm -rf \"$HOME/Documents/\"*",
                "rm -rf /home/alice/.ssh",
                "mv ~ /tmp/oldhome",
                "mv ~/.ssh /tmp/",
                "cd ~ && git clean -fdx",
            ],
            &[
                "rm -f ~/.ssh/known_hosts",
                "rm -rf ~/.cache",
                "rm -rf ~/Documents/project/build",
                "rm -rf ~/.config/myapp",
                "mv ~/Downloads/file.zip ~/Documents/",
                "git clean -fdx",
                "chmod 700 ~/.ssh",
                "chmod 600 ~/.ssh/id_ed25519",
            ],
        );
        table(
            Category::SystemPermissions,
            &["chmod -R 777 ~", "chmod -R a+w \"$HOME\""],
            &["chmod -R 755 ~/bin", "sudo chown -R $USER:$USER ~"],
        );
    }

    #[test]
    fn download_then_run() {
        table(
            Category::DownloadRun,
            &[
                "curl -fsSL https://example.com/install.sh -o install.sh\nsh install.sh",
                "curl -fsSLo /tmp/i.sh https://example.com/i.sh && sudo bash /tmp/i.sh",
                "wget https://example.com/setup.sh\nchmod +x setup.sh\n./setup.sh --yes",
                "curl -O https://example.com/get.sh; bash get.sh",
                "wget -qO /tmp/x https://example.com/x && chmod +x /tmp/x && /tmp/x",
                "URL=https://example.com/i.sh\nF=/tmp/i.sh\ncurl -sL \"$URL\" -o \"$F\"\nsource \"$F\"",
                "TMP=$(mktemp)\ncurl -fsSL https://example.com/i.sh > \"$TMP\"\nbash \"$TMP\"",
                "curl -sSL https://bootstrap.example.com/get-pip.py -o get-pip.py\npython3 get-pip.py",
                "wget --output-document=run.sh https://example.com/run.sh; . ./run.sh",
                "curl -fsSL https://example.com/i.sh -o i.sh\nsh -s -- --yes < i.sh",
            ],
            &[
                "curl -fsSL https://example.com/app.tar.gz -o app.tar.gz && tar xzf app.tar.gz",
                "curl -fsSLo install.sh https://example.com/install.sh\nless install.sh",
                "curl -fsSLO https://example.com/i.sh\ncurl -fsSLO https://example.com/i.sh.sha256\nsha256sum -c i.sh.sha256 && sh i.sh",
                "wget https://example.com/key.gpg -O key.gpg\ngpg --dearmor key.gpg",
                "bash install.sh",
                "curl -s https://api.example.com/data.json -o data.json\npython3 process.py data.json",
                "curl -LO https://dl.k8s.io/release/v1.30.0/bin/linux/amd64/kubectl\nsudo install -m 0755 kubectl /usr/local/bin/kubectl",
            ],
        );
        table(
            Category::PipeToShell,
            &[
                "bash <(curl -fsSL https://x)",
                "S=$(curl -fsSL https://x)\neval \"$S\"",
                "eval \"$(wget -qO- https://x)\"",
                "ssh host 'curl -s https://x | sh'",
            ],
            &["V=$(curl -s https://x/version)\necho \"$V\""],
        );
    }

    #[test]
    fn encoded_payloads() {
        table(
            Category::EncodedPayload,
            &[
                "echo cm0gLXJmIC8K | base64 -d | sh",
                "echo cm0gLXJmIC8K | base64 --decode | bash",
                "base64 -d payload.b64 | sudo bash",
                "eval \"$(echo cm0gLXJmIH4K | base64 -d)\"",
                "bash -c \"$(echo cm0gLXJmIH4K | base64 -d)\"",
                "xxd -r -p payload.hex | sh",
                "echo '/ fr- mr' | rev | sh",
                "P=$(base64 -d <<< cm0gLXJmIH4K)\neval \"$P\"",
                "python3 -c \"$(echo aW1wb3J0IG9z | base64 -d)\"",
                "sh <<< \"$(echo cm0gLXJm | base64 -d)\"",
                "openssl enc -d -base64 -in x.b64 | sh",
            ],
            &[
                "echo \"$TOKEN\" | base64 -d > key.json",
                "base64 -d cert.b64 > cert.pem",
                "kubectl get secret db -o jsonpath='{.data.password}' | base64 -d",
                "echo eyJhIjoxfQ== | base64 -d | jq .",
                "xxd -r -p hex.txt > firmware.bin",
                "rev names.txt | sort",
                "base64 -w0 file.bin",
            ],
        );
    }

    #[test]
    fn unset_directory_then_glob() {
        table(
            Category::DeleteEmptyVar,
            &[
                "cd $BUILD_DIR && rm -rf *",
                "cd $DIR; rm -rf ./*",
                "cd \"$DIR\"\nrm -rf *",
                "cd \"$WORK\"; rm -rf .[!.]* *",
                "ssh host \"sudo rm -rf $APP_DIR/\"",
            ],
            &[
                "cd \"$DIR\" && rm -rf *",
                "cd \"$DIR\" || exit 1\nrm -rf *",
                "set -e\ncd \"$DIR\"\nrm -rf *",
                ": \"${DIR:?}\"\ncd $DIR && rm -rf *",
                "cd /tmp/build && rm -rf *",
                "if cd \"$DIR\"; then rm -rf *; fi",
                "cd \"$(dirname \"$0\")\"\nrm -rf build/*",
            ],
        );
    }

    #[test]
    fn guards_earlier_in_the_script() {
        for guard in [
            ": \"${DIR:?}\"",
            ": ${DIR:?DIR must be set}",
            "[ -n \"$DIR\" ] || exit 1",
            "[ -z \"$DIR\" ] && exit",
            "[[ -z $DIR ]] && { echo 'DIR not set' >&2; exit 1; }",
            "if [ -z \"$DIR\" ]; then exit 1; fi",
            "if [ -z \"${DIR:-}\" ]; then\n  echo 'no DIR' >&2\n  exit 1\nfi",
            "test -d \"$DIR\" || exit 1",
            "DIR=${DIR:?set DIR}",
            "DIR=/srv/build",
        ] {
            let script = format!("{guard}\nrm -rf \"$DIR/\"\n");
            assert!(check_structure(&script).is_empty(), "{script:?}: {:?}", check_structure(&script));
        }
        for unguarded in
            ["[ -n \"$DIR\" ] && echo set", "if [ -z \"$DIR\" ]; then echo empty; fi", "echo \"${DIR:-none}\""]
        {
            let script = format!("{unguarded}\nrm -rf \"$DIR/\"\n");
            assert_eq!(found(&script), [Category::DeleteEmptyVar], "{script:?}");
        }
        let m = &check_structure("cleanup() {\n  rm -rf \"$STAGING_DIR/\"\n}")[0].message;
        assert!(
            m.contains("$STAGING_DIR") && m.contains("${STAGING_DIR:?}") && m.starts_with("`rm -rf $STAGING_DIR/`"),
            "{m}"
        );
        let m = &check_structure("find / -type f -delete")[0].message;
        assert!(m.starts_with("`find / -type f -delete`"), "{m}");
    }

    #[test]
    fn remote_shells() {
        table(
            Category::DeleteRoot,
            &[
                "ssh host bash -s <<'EOF'\nrm -rf /\nEOF",
                "ssh -T admin@host <<EOF\nsudo rm -rf /*\nEOF",
                "ssh host 'sudo bash -s' <<EOF\nrm -rf /\nEOF",
                "ssh -p 2222 root@host \"rm -rf /\"",
            ],
            &["ssh host 'ls -la /'", "ssh host cat <<EOF\nrm -rf /\nEOF", "ssh host uptime"],
        );
        table(
            Category::DataStore,
            &["ssh db1 \"sudo -u postgres dropdb app\""],
            &["ssh db1 \"sudo -u postgres psql -c 'SELECT 1'\""],
        );
    }

    #[test]
    fn functions_and_aliases_run_at_their_call() {
        table(
            Category::DeleteRoot,
            &[
                "f() { rm -rf \"$1\"; }; f /",
                "alias nuke='rm -rf /'; nuke",
                "alias rmf='rm -rf'\nrmf /",
                "clean() {\n  sudo rm -rf \"$@\"\n}\nclean /",
                "wipe() { rm -rf \"$1\"; }\nrun() { wipe \"$1\"; }\nrun /",
                "function nuke { rm -rf \"$1\"/*; }\nnuke /",
                // Regression: `"$@"` with several arguments is each of them, not only a lone one.
                "clean() { rm -rf \"$@\"; }\nclean /tmp/build /",
            ],
            &[
                "alias rm='rm -i'",
                "alias ll='ls -la'; ll /",
                "f() { rm -rf \"$1\"; }; f ./build",
                "clean() { rm -rf ./dist; }; clean",
                "alias nuke='rm -rf /'; unalias nuke; echo nuke",
                "greet() { echo \"Hello $1\"; }; greet /",
            ],
        );
        table(
            Category::DeleteSystem,
            &["alias nuke='rm -rf'\nnuke /usr/lib", "del() { rm -rf \"$1\"; }; del /usr/bin"],
            &["del() { rm -rf \"$1\"; }; del /usr/local/share/app"],
        );
        let m = &check_structure("alias nuke='rm -rf /'; nuke")[0].message;
        assert!(m.starts_with("`rm -rf`"), "names the real command: {m}");
    }

    #[test]
    fn wrappers_and_obfuscation() {
        table(
            Category::DeleteRoot,
            &[
                "$(which rm) -rf /",
                "\"$(command -v rm)\" -rf /",
                "`which rm` -rf /",
                "busybox rm -rf /",
                "sudo -E env PATH=/usr/bin:/bin rm -rf /",
                "\\rm -rf --no-preserve-root /",
                "'r''m' -r -f /",
                "RM='rm -rf'; $RM /",
            ],
            &["which rm", "command -v rm", "type rm"],
        );
    }

    #[test]
    fn volumes() {
        table(
            Category::DiskWrite,
            &[
                "cryptsetup luksFormat /dev/sdb1",
                "cryptsetup erase /dev/sdb1",
                "mdadm --zero-superblock /dev/sdb1",
                "nvme format /dev/nvme0n1",
                "blkdiscard -f /dev/sdb",
                "sgdisk --zap-all /dev/sdb",
                "lvremove -f /dev/vg0/data",
                "vgremove vg0",
                "zpool destroy tank",
                "zfs destroy -r tank/data",
                "hdparm --user-master u --security-erase p /dev/sda",
                "cat /dev/zero > /dev/nvme0n1",
                "wipefs -a \"$DISK\"",
            ],
            &[
                "wipefs -a ./disk.img",
                "mkfs.ext4 disk.img",
                "sgdisk --zap-all disk.img",
                "cryptsetup luksFormat ./vault.img",
                "cryptsetup open /dev/sdb1 data",
                "lvremove vg0/old",
                "lvs",
                "zpool status",
                "zfs destroy tank/data@snap1",
                "nvme list",
                "blkdiscard --help",
                "parted disk.img mklabel gpt",
            ],
        );
    }

    #[test]
    fn lockout() {
        table(
            Category::Lockout,
            &[
                "iptables -F\niptables -P INPUT DROP",
                "iptables -P INPUT DROP\niptables -A INPUT -p tcp --dport 80 -j ACCEPT",
                "nft flush ruleset",
                "ufw default deny incoming\nufw enable",
                "ufw default deny incoming && ufw --force enable",
                "systemctl stop sshd",
                "sudo systemctl disable --now ssh",
                "service ssh stop",
                "passwd -l root",
                "passwd -d root",
                "usermod -L alice",
                "userdel -r bob",
                "deluser --remove-all-files carol",
                "firewall-cmd --permanent --remove-service=ssh",
            ],
            &[
                "iptables -A INPUT -p tcp --dport 22 -j ACCEPT\niptables -P INPUT DROP",
                "iptables -F\niptables -P INPUT ACCEPT",
                "iptables -L -n",
                "nft flush ruleset\nnft -f /etc/nftables.conf",
                "ufw allow OpenSSH\nufw default deny incoming\nufw enable",
                "ufw allow 22/tcp && ufw enable",
                "systemctl restart sshd",
                "systemctl status ssh",
                "passwd alice",
                "usermod -aG docker \"$USER\"",
                "useradd -m -s /bin/bash deploy",
                "userdel olduser",
            ],
        );
    }

    #[test]
    fn account_files() {
        table(
            Category::OverwriteSystemFile,
            &[
                "sed -i 's/^root:[^:]*:/root::/' /etc/shadow",
                "sudo sed -i '/^alice:/d' /etc/passwd",
                "perl -pi -e 's/x/y/' /etc/group",
                "awk -i inplace '!/bob/' /etc/passwd",
                "sed -i 's/^%sudo.*/%sudo ALL=(ALL) NOPASSWD:ALL/' /etc/sudoers",
                "echo 'deploy ALL=(ALL) NOPASSWD:ALL' | sudo tee /etc/sudoers.d/deploy",
            ],
            &[
                "sed -i 's/a/b/' /etc/nginx/nginx.conf",
                "sed 's/x/y/' /etc/passwd",
                "grep -c bash /etc/passwd",
                "sudo install -m 0440 deploy.sudoers /etc/sudoers.d/deploy",
                "visudo -cf /tmp/deploy && sudo cp /tmp/deploy /etc/sudoers.d/deploy",
                "chmod 0440 /etc/sudoers.d/deploy",
                "chown root:root /etc/sudoers.d/deploy",
                "chmod 640 /etc/shadow",
            ],
        );
        table(
            Category::SystemPermissions,
            &["chmod 777 /etc/shadow", "chmod 666 /etc/sudoers", "chown alice /etc/passwd"],
            &["chmod 644 /etc/passwd"],
        );
    }

    #[test]
    fn data_stores() {
        table(
            Category::DataStore,
            &[
                "docker system prune -a --volumes -f",
                "docker volume prune -f",
                "docker volume rm $(docker volume ls -q)",
                "docker compose down -v",
                "psql -U postgres -c 'DROP DATABASE app;'",
                "mysql -u root -e \"drop database wordpress\"",
                "psql <<EOF\nDROP SCHEMA public CASCADE;\nEOF",
                "psql -c \"DROP TABLE users\"",
                "mysql -u root shop -e 'TRUNCATE TABLE orders'",
                "sqlite3 app.db 'DROP TABLE users'",
                // Regression: a line break between DROP and TABLE.
                "docker exec -i pg psql -U app -c 'DROP\n  TABLE invoices'",
                "psql mydb <<EOF\nBEGIN;\nTRUNCATE orders, payments;\nCOMMIT;\nEOF",
                "psql -d app -c 'drop table if exists sessions cascade'",
                "echo 'DROP DATABASE shop;' | mysql -uroot",
                "dropdb production",
                "redis-cli FLUSHALL",
                "redis-cli -n 0 flushdb",
                "mongosh app --eval 'db.dropDatabase()'",
                "rm -rf /var/lib/mysql",
                "sudo rm -rf /var/lib/postgresql/16/main",
                "rm -rf /var/lib/docker/volumes/*",
            ],
            &[
                "docker system prune -f",
                "docker volume ls",
                "docker compose down",
                "docker image prune -a -f",
                "psql -c 'SELECT count(*) FROM users'",
                "echo \"DROP TABLE users\"",
                "grep -rn 'DROP TABLE' migrations/",
                "psql -f truncate_logs.sql",
                "psql -c 'CREATE TABLE t (truncate_at timestamp)'",
                "psql app -c 'DROP TABLE IF EXISTS tmp_import'",
                "psql -c 'drop table if exists staging.temp_rows, tmp_ids'",
                "sqlite3 app.db '.tables'",
                "mysql -e 'CREATE DATABASE app'",
                "createdb app",
                "redis-cli GET key",
                "pg_dump app > app.sql",
                "rm -rf /var/lib/myapp/cache",
                "sudo rm -rf /var/lib/docker",
            ],
        );
    }

    #[test]
    fn system_packages() {
        table(
            Category::SystemPackage,
            &[
                "apt-get purge -y systemd",
                "sudo apt remove libc6",
                "apt-get remove --purge -y openssh-server",
                "sudo apt purge python3",
                "apt remove sudo",
                "apt-get purge 'linux-image-*'",
                "apt-get remove -y linux-image-$(uname -r)",
                "yum remove -y glibc",
                "dnf remove python3",
                "rpm -e --nodeps openssl-libs",
                "dpkg --force-all -r dpkg",
                "dpkg --force-all -r libssl3",
                "pacman -Rdd glibc",
                "apk del busybox libc6",
            ],
            &[
                "apt-get remove -y nginx",
                "sudo apt purge docker-ce docker-ce-cli",
                "apt remove python3-pip",
                "apt autoremove -y",
                "apt install -y python3 sudo",
                "dnf remove httpd",
                "apt-get purge linux-image-5.15.0-56-generic",
                "rpm -e nginx",
                "pacman -Rns firefox",
                "dpkg -l | grep libc6",
            ],
        );
    }

    #[test]
    fn processes() {
        table(
            Category::KillAll,
            &[
                "kill -9 $(ps -e -o pid=)",
                "kill -9 $(ps aux | awk '{print $2}')",
                "ps -e -o pid= | xargs kill -9",
                "pkill -9 -f .",
                "killall5 -9",
            ],
            &[
                "kill -9 $(ps aux | grep myapp | awk '{print $2}')",
                "kill $(pgrep -f myapp)",
                "ps aux | grep '[n]ode' | awk '{print $2}' | xargs kill",
                "pkill -f 'gunicorn: master'",
                "killall nginx",
            ],
        );
        table(
            Category::ForkBomb,
            &[
                "perl -e 'fork while fork'",
                "python3 -c 'import os\nwhile True:\n    os.fork()'",
                "ruby -e 'loop { fork }'",
                "python3 - <<'EOF'\nimport os\nwhile 1:\n    os.fork()\nEOF",
            ],
            &[
                "python3 -c 'import os; pid = os.fork(); print(pid)'",
                "perl -e 'my $pid = fork(); waitpid($pid, 0);'",
                "python3 -c 'while True: print(1)'",
            ],
        );
    }

    #[test]
    fn cron() {
        table(
            Category::CrontabRemove,
            &[
                "echo | crontab -",
                "echo '' | crontab -",
                "crontab - < /dev/null",
                "true | crontab -",
                "cat /dev/null | crontab -",
                "crontab -r -u www-data",
            ],
            &[
                "crontab -l | grep -v backup | crontab -",
                "echo '0 3 * * * /usr/local/bin/backup' | crontab -",
                "crontab -l > cron.bak",
            ],
        );
    }

    #[test]
    fn more_reach() {
        table(
            Category::DeleteSystem,
            &[
                "rm -rf /var/log/*",
                "pssh -h hosts.txt -i 'sudo rm -rf /etc/nginx'",
                "python3 -c \"import shutil; shutil.rmtree('/etc')\"",
                "python3 - <<'EOF'\nimport shutil\nshutil.rmtree('/var/lib')\nEOF",
                "perl -e 'system(\"rm -rf /usr/lib\")'",
            ],
            &[
                "rm -rf /var/log/*.gz",
                "rm -rf /var/log/myapp/*",
                "find /var/log -name '*.gz' -mtime +30 -delete",
                "python3 -c 'import shutil; shutil.rmtree(\"build\")'",
                "python3 -c 'import os; os.system(\"ls -la\")'",
                "pssh -h hosts.txt -i uptime",
            ],
        );
        table(
            Category::DataStore,
            &["docker exec -it redis redis-cli FLUSHALL", "kubectl exec -it pg-0 -- psql -c 'DROP DATABASE app'"],
            &["docker exec -it redis redis-cli DBSIZE", "docker exec web ls"],
        );
        table(
            Category::DiskWrite,
            &["mkfs.ext4 /dev/vg0/data"],
            &["lvcreate -L 10G -n data vg0\nmkfs.ext4 /dev/vg0/data"],
        );
        table(
            Category::KillAll,
            &["echo c > /proc/sysrq-trigger", "echo b | sudo tee /proc/sysrq-trigger", "pkill -9 -u root"],
            &["cat /proc/sys/kernel/sysrq", "pkill -u alice -f jupyter"],
        );
        table(
            Category::Lockout,
            &[
                "ip link set eth0 down",
                "ifdown eth0",
                "nmcli networking off",
                "systemctl stop NetworkManager",
                "ufw deny ssh",
                "iptables -I INPUT -j DROP",
            ],
            &[
                "ip link set eth0 up",
                "ip link set lo down",
                "ufw deny 23",
                "iptables -A INPUT -s 10.0.0.0/8 -j DROP",
                "systemctl restart NetworkManager",
            ],
        );
        table(
            Category::EncodedPayload,
            &[
                "$(echo cm0gLXJmIC8K | base64 -d)",
                "python3 -c \"import base64,os; os.system(base64.b64decode('cm0='))\"",
            ],
            &["python3 -c \"import base64; print(base64.b64decode('aGk='))\""],
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
