//! Which paths matter: the root, system directories and their direct contents, home
//! directories, disks, and the files that hold users and privileges. The lists are data;
//! the functions match expanded words (see [`super::words::Candidate`]) against them.

use super::words::{Candidate, HOME, OPAQUE, Word};

/// Top-level directories whose loss breaks the system.
pub const SYSTEM_DIRS: &[&str] =
    &["bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "root", "sbin", "sys", "usr", "var"];

/// Directories that hold home directories.
pub const HOME_PARENTS: &[&str] = &["home", "Users"];

/// Direct contents of system directories that are application data: changing their
/// ownership recursively is routine (`chown -R www-data /var/www`).
pub const PERMISSION_EXCEPTIONS: &[&[&str]] = &[&["var", "www"], &["usr", "local"], &["var", "tmp"], &["var", "mail"]];

/// How far below a [`SystemPath`] the system's ownership reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The path and everything below it (`/usr/lib/**`).
    Tree,
    /// The path and its direct contents (`/etc/systemd`, `/etc/systemd/system`), not deeper
    /// (one unit file under `/etc/systemd/system/` is ordinary administration).
    Contents,
    /// The path, and a glob over all of its contents at once (`/var/log/*`), not single
    /// entries (`/var/log/myapp`, `/var/log/*.gz`).
    Everything,
}

/// Paths below the top level that the operating system and its package manager own:
/// deleting, moving away, truncating or recursively re-permissioning them breaks the
/// system. Documented in the README ("System paths"); checked after [`ORDINARY_PATHS`].
pub const SYSTEM_PATHS: &[(&str, Reach)] = &[
    ("/bin", Reach::Tree),
    ("/sbin", Reach::Tree),
    ("/lib", Reach::Tree),
    ("/lib32", Reach::Tree),
    ("/lib64", Reach::Tree),
    ("/libx32", Reach::Tree),
    ("/boot", Reach::Tree),
    ("/usr/bin", Reach::Tree),
    ("/usr/sbin", Reach::Tree),
    ("/usr/lib", Reach::Tree),
    ("/usr/lib32", Reach::Tree),
    ("/usr/lib64", Reach::Tree),
    ("/usr/libx32", Reach::Tree),
    ("/usr/libexec", Reach::Tree),
    ("/usr/include", Reach::Contents),
    ("/usr/share", Reach::Contents),
    ("/etc/ssl", Reach::Tree),
    ("/etc/pki", Reach::Tree),
    ("/etc/pam.d", Reach::Tree),
    ("/etc/security", Reach::Tree),
    ("/etc/systemd", Reach::Contents),
    ("/etc/init.d", Reach::Contents),
    ("/etc/apt", Reach::Contents),
    ("/etc/ld.so.conf.d", Reach::Contents),
    ("/etc/default", Reach::Contents),
    ("/var/lib/dpkg", Reach::Tree),
    ("/var/lib/rpm", Reach::Tree),
    ("/var/lib/pacman", Reach::Tree),
    ("/var/spool/cron", Reach::Tree),
    ("/var/log", Reach::Everything),
];

/// Ordinary administration places inside system directories, checked before
/// [`SYSTEM_PATHS`]: `true` when the place itself is ordinary too, `false` when only what is
/// below it is (`/var/log/<app>/…`, written `/var/log/*`).
pub const ORDINARY_PATHS: &[(&str, bool)] = &[
    ("/usr/local", false),
    ("/usr/lib/node_modules", true),
    // One unit file; the directory or a glob over it is not ordinary.
    ("/usr/lib/systemd/system/*", true),
    ("/usr/share/keyrings", false),
    ("/etc/apt/sources.list.d", false),
    ("/etc/apt/keyrings", false),
    ("/etc/apt/trusted.gpg.d", false),
    ("/opt", true),
    ("/srv", true),
    ("/var/cache", true),
    ("/var/tmp", true),
    ("/var/log/*", false),
    ("/var/lib/apt/lists", true),
    ("/var/www", false),
    ("/tmp", true),
    ("/usr/share/doc", true),
    ("/usr/share/man", true),
    ("/usr/share/info", true),
    ("/usr/share/locale", true),
    ("/root/.cache", true),
    ("/root/.npm", true),
    // Files that images and setup scripts replace as a matter of course.
    ("/etc/localtime", true),
    ("/etc/resolv.conf", true),
    ("/etc/machine-id", true),
    ("/etc/nologin", true),
    ("/etc/motd", true),
    ("/etc/timezone", true),
];

/// Where data stores keep their data: deleting it is a database or volume wipe.
pub const DATA_PATHS: &[(&str, &str)] = &[
    ("/var/lib/mysql", "MySQL"),
    ("/var/lib/mariadb", "MariaDB"),
    ("/var/lib/postgresql", "PostgreSQL"),
    ("/var/lib/pgsql", "PostgreSQL"),
    ("/var/lib/mongodb", "MongoDB"),
    ("/var/lib/redis", "Redis"),
    ("/var/lib/elasticsearch", "Elasticsearch"),
    ("/var/lib/cassandra", "Cassandra"),
    ("/var/lib/influxdb", "InfluxDB"),
    ("/var/lib/docker/volumes", "Docker volumes"),
    ("/var/opt/mssql", "SQL Server"),
];

/// Whole-home subtrees and secrets: keys, configuration, the user's documents.
pub const HOME_SUBTREES: &[&str] = &[
    ".ssh",
    ".gnupg",
    ".config",
    ".local",
    ".password-store",
    ".aws",
    "Documents",
    "Desktop",
    "Pictures",
    "Music",
    "Videos",
];

/// Marks "whatever `find` finds below here" (filters: any depth, any name).
pub(crate) const FOUND: &str = "\u{E003}";

/// Files under /etc whose overwriting locks users out or hands out root.
pub const SYSTEM_FILES: &[&str] = &["passwd", "shadow", "group", "gshadow", "sudoers"];

/// Devices under /dev that are safe to write to; everything else there is treated as a disk.
pub const SAFE_DEVICES: &[&str] = &[
    "null", "zero", "full", "random", "urandom", "stdin", "stdout", "stderr", "tty", "console", "ptmx", "kmsg", "log",
];
/// Prefixes of safe device names (`tty1`, `pts/0`, `fd/3`, `shm/x`, bash's `/dev/tcp/…`).
pub const SAFE_DEVICE_PREFIXES: &[&str] =
    &["tty", "pts", "shm", "tcp", "udp", "mqueue", "snd", "input", "dri", "video"];

/// The user segment of `~` inside an absolute path (`~` is `/home/<user>`).
const HOME_USER: &str = "\u{E002}";

/// What a path names, for deletion and permission rules.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Root,
    RootContents,
    System(String),
    SystemContents(String),
    Home(String),
    HomeContents(String),
    /// Inside a [`SYSTEM_PATHS`] entry (the entry).
    SystemTree(String),
    /// One entry directly in a [`Reach::Contents`] path (`/etc/init.d/myapp`): the system's
    /// when it is a directory deleted recursively (`/etc/systemd/system`), else ordinary.
    SystemEntry(String),
    /// A home subtree or secret ([`HOME_SUBTREES`]).
    HomeSubtree(String),
    /// A data store's data ([`DATA_PATHS`]): the path and the store.
    Data(String, &'static str),
    /// Files that `find` finds below the root or a system path (the start).
    FoundUnder(String),
}

/// A protected path hit by one expansion of a word.
#[derive(Debug, Clone, PartialEq)]
pub struct PathHit<T> {
    pub what: T,
    /// The expanded path, for messages.
    pub path: String,
    /// Values taken as empty to get there (empty when the path is hit as written).
    pub empty: Vec<String>,
}

/// The first hit among a word's expansions, preferring one that needs no empty value.
pub(crate) fn find_hit<T>(word: &Word, classify: impl Fn(&[String]) -> Option<T>) -> Option<PathHit<T>> {
    let mut with_empty = None;
    for Candidate { text, empty } in word.candidates() {
        for text in expand_braces(&text) {
            let Some(segs) = segments(&text) else { continue };
            if let Some(what) = classify(&segs) {
                let hit = PathHit { what, path: display(&segs), empty: empty.clone() };
                if empty.is_empty() {
                    return Some(hit);
                }
                with_empty.get_or_insert(hit);
            }
        }
    }
    with_empty
}

/// Whether `segs` lies under the table path `entry` (globs in `segs` may match it): the
/// number of segments below it.
fn below(segs: &[String], entry: &str, exact: bool) -> Option<usize> {
    let parts: Vec<&str> = entry.split('/').filter(|p| !p.is_empty()).collect();
    if segs.len() < parts.len() {
        return None;
    }
    let matches = |p: &str, s: &String| match (p, exact) {
        ("*", _) => !(is_opaque(s) || exact && is_glob(s)),
        (p, true) => !is_glob(s) && unescape(s) == p,
        (p, false) => seg_matches(s, p),
    };
    parts.iter().zip(segs).all(|(p, s)| matches(p, s)).then(|| segs.len() - parts.len())
}

/// Ordinary only when the path is certainly there: `/var/*` is not `/var/cache`.
fn is_ordinary(segs: &[String]) -> bool {
    ORDINARY_PATHS.iter().any(|(p, itself)| below(segs, p, true).is_some_and(|d| d > 0 || *itself))
}

/// A path under the system path table, a data directory or a home subtree.
pub fn deep_target(segs: &[String]) -> Option<Target> {
    if is_ordinary(segs) {
        return None;
    }
    if let Some((p, store)) = DATA_PATHS.iter().find(|(p, _)| below(segs, p, false).is_some()) {
        return Some(Target::Data((*p).to_string(), store));
    }
    for (p, reach) in SYSTEM_PATHS {
        match (below(segs, p, false), reach) {
            (Some(_), Reach::Tree) | (Some(0), Reach::Contents) => {
                return Some(Target::SystemTree((*p).to_string()));
            }
            (Some(1), Reach::Contents) => {
                let all = segs.last().is_some_and(|s| is_glob(s));
                return Some(if all {
                    Target::SystemTree((*p).to_string())
                } else {
                    Target::SystemEntry((*p).to_string())
                });
            }
            (Some(0), Reach::Everything) => return Some(Target::SystemTree((*p).to_string())),
            (Some(1), Reach::Everything) if segs.last().is_some_and(|s| matches_everything(s)) => {
                return Some(Target::SystemTree((*p).to_string()));
            }
            // `/etc/systemd/system/*`: everything one level further down, all at once.
            (Some(2), Reach::Contents) if segs.last().is_some_and(|s| is_glob(s)) => {
                return Some(Target::SystemTree((*p).to_string()));
            }
            _ => {}
        }
    }
    if let [parent, user, sub, rest @ ..] = segs
        && HOME_PARENTS.iter().any(|d| seg_matches(parent, d))
        && !is_glob(user)
        && (user == HOME_USER || !is_opaque(user))
        && !is_glob(sub)
        && HOME_SUBTREES.iter().any(|h| seg_matches(sub, h))
        && (rest.is_empty() || matches!(rest, [g] if is_glob(g) || is_private_key(sub, g)) || unescape(sub) == ".gnupg")
    {
        return Some(Target::HomeSubtree(display(&segs[..3])));
    }
    None
}

/// A glob that takes any name (`*`, `.*` with `*`), not a family (`*.gz`).
fn matches_everything(seg: &str) -> bool {
    is_glob(seg) && ["apt", "journal", "syslog"].iter().all(|n| seg_matches(seg, n))
}

/// `~/.ssh/id_ed25519` (not the `.pub`), anything in `~/.gnupg`.
fn is_private_key(dir: &str, file: &str) -> bool {
    match unescape(dir).as_str() {
        ".ssh" => file.starts_with("id_") && !file.ends_with(".pub"),
        ".gnupg" => true,
        _ => false,
    }
}

/// What `find` with filters would delete below its start path.
fn found_target(start: &[String]) -> Option<Target> {
    if start.iter().any(|s| is_glob(s) || is_opaque(s)) {
        return None;
    }
    let is_system = |s: &str| SYSTEM_DIRS.iter().any(|d| seg_matches(s, d));
    match start {
        [] => Some(Target::FoundUnder("/".into())),
        [s] if is_system(s) => Some(Target::FoundUnder(display(start))),
        _ => match deep_target(start)? {
            // Filters over the logs (`-name '*.gz' -mtime +30`) are log rotation.
            Target::SystemTree(p) if SYSTEM_PATHS.iter().any(|(q, r)| *q == p && *r == Reach::Everything) => None,
            Target::SystemTree(_) | Target::SystemEntry(_) | Target::Data(..) => {
                Some(Target::FoundUnder(display(start)))
            }
            _ => None,
        },
    }
}

/// Root, system directories and their direct contents, the system path table, data
/// directories, home directories, their contents and subtrees.
pub fn deletion_target(segs: &[String]) -> Option<Target> {
    if let [start @ .., last] = segs
        && last == FOUND
    {
        return found_target(start);
    }
    if segs.len() > 1 && is_ordinary(segs) {
        return None;
    }
    shallow_target(segs).or_else(|| deep_target(segs))
}

fn shallow_target(segs: &[String]) -> Option<Target> {
    let is_system = |s: &str| SYSTEM_DIRS.iter().any(|d| seg_matches(s, d));
    let is_home_parent = |s: &str| HOME_PARENTS.iter().any(|d| seg_matches(s, d));
    match segs {
        [] => Some(Target::Root),
        [s] if is_glob(s) && ["bin", "etc", "usr", "var", "home"].iter().all(|d| seg_matches(s, d)) => {
            Some(Target::RootContents)
        }
        [s] if is_system(s) => {
            let matched: Vec<String> =
                SYSTEM_DIRS.iter().filter(|d| seg_matches(s, d)).map(|d| format!("/{d}")).collect();
            Some(Target::System(matched.join(", ")))
        }
        [s] if is_home_parent(s) => Some(Target::Home(format!("/{}", unescape(s)))),
        [s, _] if is_system(s) => Some(Target::SystemContents(format!("/{}", first_match(s, SYSTEM_DIRS)))),
        [p, u] if is_home_parent(p) => {
            if is_glob(u) {
                Some(Target::HomeContents(format!("/{}", unescape(p))))
            } else {
                Some(Target::Home(display(segs)))
            }
        }
        [p, u, g] if is_home_parent(p) && !is_glob(u) && !is_opaque(u) && is_glob(g) => {
            Some(Target::HomeContents(display(&segs[..2])))
        }
        _ => None,
    }
}

/// [`deletion_target`] without home directories and the application-data exceptions.
pub fn permission_target(segs: &[String]) -> Option<Target> {
    let target = deletion_target(segs)?;
    match target {
        Target::Home(_)
        | Target::HomeContents(_)
        | Target::HomeSubtree(_)
        | Target::Data(..)
        | Target::FoundUnder(_) => None,
        Target::SystemContents(_)
            if PERMISSION_EXCEPTIONS
                .iter()
                .any(|e| e.iter().zip(segs).all(|(a, b)| !is_glob(b) && unescape(b) == *a)) =>
        {
            None
        }
        t => Some(t),
    }
}

/// A device under /dev that is not known to be safe.
pub fn device_target(segs: &[String]) -> Option<()> {
    let [dev, name, rest @ ..] = segs else { return None };
    if !seg_matches(dev, "dev") {
        return None;
    }
    if is_glob(name) || is_opaque(name) {
        return Some(());
    }
    let name = unescape(name);
    let safe = SAFE_DEVICES.contains(&name.as_str())
        || SAFE_DEVICE_PREFIXES.iter().any(|p| name.starts_with(p))
        || (name == "fd" && !rest.is_empty());
    (!safe).then_some(())
}

/// `/etc/passwd` and friends, `/etc/sudoers.d/*`, anything under `/boot`.
pub fn system_file_target(segs: &[String]) -> Option<()> {
    match segs {
        [etc, f] if seg_matches(etc, "etc") && SYSTEM_FILES.iter().any(|s| seg_matches(f, s)) => Some(()),
        [etc, d, f] if seg_matches(etc, "etc") && seg_matches(d, "sudoers.d") && !is_opaque(f) => Some(()),
        [boot, _, ..] if seg_matches(boot, "boot") => Some(()),
        _ => None,
    }
}

/// The absolute path's segments, normalised (`.`, `..`, `//`); `None` for relative or
/// unknown paths. `~` becomes `/home/<user>`.
pub fn segments(text: &str) -> Option<Vec<String>> {
    let mut segs: Vec<String> = Vec::new();
    let rest = if let Some(r) = text.strip_prefix(HOME) {
        if !r.is_empty() && !r.starts_with('/') {
            return None;
        }
        segs.push("home".into());
        segs.push(HOME_USER.into());
        r
    } else if text.starts_with('/') {
        text
    } else {
        return None;
    };
    for raw in rest.split('/') {
        match raw {
            "" | "." => {}
            ".." => {
                // An unknown part may stand for several segments.
                if segs.pop().is_some_and(|s| is_opaque(&s)) {
                    return None;
                }
            }
            s => segs.push(s.to_string()),
        }
    }
    Some(segs)
}

/// The path for messages: `~` for the home directory, `…` for unknown parts.
pub fn display(segs: &[String]) -> String {
    if segs.len() >= 2 && segs[0] == "home" && segs[1] == HOME_USER {
        let rest: Vec<String> = segs[2..].iter().map(|s| unescape(s)).collect();
        return if rest.is_empty() { "~".into() } else { format!("~/{}", rest.join("/")) };
    }
    let parts: Vec<String> = segs.iter().map(|s| unescape(s)).collect();
    format!("/{}", parts.join("/"))
}

fn first_match<'a>(seg: &str, names: &[&'a str]) -> &'a str {
    names.iter().find(|d| seg_matches(seg, d)).copied().unwrap_or("")
}

pub fn is_opaque(seg: &str) -> bool {
    seg.contains(OPAQUE) || seg.contains(HOME) || seg == FOUND
}

/// Has an unescaped `*`, `?` or `[`.
pub fn is_glob(seg: &str) -> bool {
    let mut escaped = false;
    for c in seg.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if matches!(c, '*' | '?' | '[') {
            return true;
        }
    }
    false
}

/// The segment as text: escapes removed, unknown parts as `…`.
pub fn unescape(seg: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in seg.chars() {
        if !escaped && c == '\\' {
            escaped = true;
            continue;
        }
        escaped = false;
        match c {
            OPAQUE => out.push('…'),
            HOME => out.push('~'),
            c if c.to_string() == HOME_USER => out.push('…'),
            c => out.push(c),
        }
    }
    out
}

/// The segment (a glob or literal text) matches `name`.
pub fn seg_matches(seg: &str, name: &str) -> bool {
    if is_opaque(seg) {
        return false;
    }
    let pattern: Vec<char> = seg.chars().collect();
    let name: Vec<char> = name.chars().collect();
    glob(&pattern, &name)
}

/// Shell pattern matching with `*`, `?`, `[…]` (`!`/`^` negation, ranges) and `\` escapes.
fn glob(p: &[char], n: &[char]) -> bool {
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match class(&p[pi..], n[ni]) {
                Some((true, len)) => Some(len),
                Some((false, _)) => None,
                None => (n[ni] == '[').then_some(1),
            },
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == n[ni]).then_some(2),
            Some(c) => (*c == n[ni]).then_some(1),
            None => None,
        };
        match step {
            Some(len) => {
                pi += len;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the class at the start of `p`: (matched, length of the class), or
/// `None` when `p` does not start a complete class.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        let mut lo = p[i];
        if lo == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if lo == '\\' && i + 1 < p.len() {
            i += 1;
            lo = p[i];
        }
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|h| *h != ']') {
            let hi = p[i + 2];
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
    None
}

/// Brace expansion (`/{etc,usr}` is `/etc` and `/usr`), outside escapes; at most 32 results.
pub fn expand_braces(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    expand_into(text, &mut out, 0);
    out
}

fn expand_into(text: &str, out: &mut Vec<String>, depth: usize) {
    if out.len() >= 32 {
        return;
    }
    let Some((open, close, commas)) = (depth < 4).then(|| find_brace(text)).flatten() else {
        out.push(text.to_string());
        return;
    };
    let (head, tail) = (&text[..open], &text[close + 1..]);
    let mut start = open + 1;
    for end in commas.into_iter().chain([close]) {
        expand_into(&format!("{head}{}{tail}", &text[start..end]), out, depth + 1);
        start = end + 1;
    }
}

/// The first `{…,…}` group: byte offsets of `{`, `}` and the top-level commas.
fn find_brace(text: &str) -> Option<(usize, usize, Vec<usize>)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'{' => {
                let (mut depth, mut j, mut commas) = (0usize, i + 1, Vec::new());
                while j < bytes.len() {
                    match bytes[j] {
                        b'\\' => j += 1,
                        b'{' => depth += 1,
                        b'}' if depth == 0 => break,
                        b'}' => depth -= 1,
                        b',' if depth == 0 => commas.push(j),
                        _ => {}
                    }
                    j += 1;
                }
                if j < bytes.len() && !commas.is_empty() {
                    return Some((i, j, commas));
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(text: &str) -> Vec<String> {
        segments(text).unwrap_or_else(|| panic!("{text} is absolute"))
    }

    #[test]
    fn normalisation() {
        assert_eq!(segs("/"), Vec::<String>::new());
        assert_eq!(segs("//usr/./bin/"), ["usr", "bin"]);
        assert_eq!(segs("/tmp/../etc"), ["etc"]);
        assert_eq!(segs("/../.."), Vec::<String>::new());
        assert_eq!(segments("relative/path"), None);
        assert_eq!(segments(&format!("/{OPAQUE}/..")), None);
        assert_eq!(display(&segs(&format!("{HOME}/x"))), "~/x");
        assert_eq!(display(&segs(&format!("{HOME}/.."))), "/home");
    }

    #[test]
    fn deletion_targets() {
        let t = |p: &str| deletion_target(&segs(p));
        assert_eq!(t("/"), Some(Target::Root));
        assert_eq!(t("/*"), Some(Target::RootContents));
        assert_eq!(t("/etc"), Some(Target::System("/etc".into())));
        assert_eq!(t("/e?c"), Some(Target::System("/etc".into())));
        assert_eq!(t("/lib*"), Some(Target::System("/lib, /lib32, /lib64, /libx32".into())));
        assert_eq!(t("/usr/bin"), Some(Target::SystemContents("/usr".into())));
        assert_eq!(t("/var/*"), Some(Target::SystemContents("/var".into())));
        assert_eq!(t("/var/log/myapp"), None);
        assert_eq!(t("/tmp/build"), None);
        assert_eq!(t("/opt"), None);
        assert_eq!(t("/home"), Some(Target::Home("/home".into())));
        assert_eq!(t("/home/*"), Some(Target::HomeContents("/home".into())));
        assert_eq!(t("/home/alice"), Some(Target::Home("/home/alice".into())));
        assert_eq!(t("/home/alice/*"), Some(Target::HomeContents("/home/alice".into())));
        assert_eq!(t("/home/alice/project"), None);
        assert_eq!(t(&HOME.to_string()), Some(Target::Home("~".into())));
        assert_eq!(t(&format!("{HOME}/.*")), Some(Target::HomeContents("~".into())));
        assert_eq!(t(&format!("{HOME}/.cache")), None);
        assert_eq!(t("/\\*"), None, "a quoted star is a file named *");
        assert_eq!(t(&format!("/{OPAQUE}")), None);
        assert_eq!(t(&format!("/etc/{OPAQUE}")), Some(Target::SystemContents("/etc".into())));
    }

    #[test]
    fn other_targets() {
        let perm = |p: &str| permission_target(&segs(p));
        assert!(perm("/").is_some() && perm("/usr").is_some() && perm("/etc/ssl").is_some());
        assert!(perm("/var/www").is_none() && perm("/usr/local").is_none() && perm("/home/alice").is_none());
        let dev = |p: &str| device_target(&segs(p));
        for p in ["/dev/sda", "/dev/nvme0n1p1", "/dev/sd*", "/dev/mapper/root", "/dev/vg0/root", "/dev/mem"] {
            assert!(dev(p).is_some(), "{p}");
        }
        for p in ["/dev/null", "/dev/zero", "/dev/stderr", "/dev/tty1", "/dev/pts/0", "/dev/fd/3", "/dev/tcp/h/80"] {
            assert!(dev(p).is_none(), "{p}");
        }
        let file = |p: &str| system_file_target(&segs(p));
        for p in ["/etc/passwd", "/etc/shadow", "/etc/sudoers", "/etc/sudoers.d/x", "/boot/grub/grub.cfg", "/etc/pass*"]
        {
            assert!(file(p).is_some(), "{p}");
        }
        for p in ["/etc/hosts", "/etc/passwd.bak", "/boot", "/tmp/passwd"] {
            assert!(file(p).is_none(), "{p}");
        }
    }

    #[test]
    fn globs() {
        let m = |p: &str, n: &str| seg_matches(p, n);
        assert!(m("*", "etc") && m("e*", "etc") && m("?tc", "etc") && m("[a-f]tc", "etc") && m("[!x]tc", "etc"));
        assert!(!m("[!e]tc", "etc") && !m("e", "etc") && !m("\\*", "etc") && !m("x*", "etc"));
        assert!(m("*c", "etc") && m("*t*", "etc") && m("lib*", "lib64"));
        assert!(m("[", "[") && !is_glob("\\*") && is_glob("a*"));
    }

    #[test]
    fn braces() {
        assert_eq!(expand_braces("/{etc,usr}/x"), ["/etc/x", "/usr/x"]);
        assert_eq!(expand_braces("/{a,{b,c}}"), ["/a", "/b", "/c"]);
        assert_eq!(expand_braces("/\\{etc,usr}"), ["/\\{etc,usr}"]);
        assert_eq!(expand_braces("/{1..3}"), ["/{1..3}"]);
    }
}
