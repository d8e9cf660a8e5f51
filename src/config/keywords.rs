//! The keyword lists and code languages that ship with the server.

/// The keyword lists that ship with the server. In `intent` mode these are evidence;
/// any other keyword in the config is the user's own and forces the code tier.
pub fn builtin_keywords() -> impl Iterator<Item = &'static str> {
    [SPEC_LINUX_KEYWORDS, GERMAN_LINUX_KEYWORDS, SPEC_CODE_KEYWORDS, GERMAN_CODE_KEYWORDS]
        .into_iter()
        .flatten()
        .copied()
}

pub const SPEC_LINUX_KEYWORDS: &[&str] = &[
    "befehl",
    "command",
    "script",
    "bash",
    "shell",
    "systemctl",
    "grep",
    "awk",
    "sed",
    "find",
    "chmod",
    "chown",
    "mount",
    "df",
    "ps",
    "top",
    "htop",
    "ssh",
    "rsync",
    "tar",
    "zip",
    "cron",
    "service",
    "docker",
];
/// German words the spec's list lacks.
pub(super) const GERMAN_LINUX_KEYWORDS: &[&str] = &["skript", "kommando", "terminal", "konsole"];
pub const SPEC_CODE_KEYWORDS: &[&str] = &[
    "programmiere",
    "code",
    "function",
    "class",
    "debug",
    "error",
    "exception",
    "syntax",
    "python",
    "javascript",
    "compile",
    "build",
    "test",
    "git",
    "repository",
];
pub(super) const GERMAN_CODE_KEYWORDS: &[&str] = &["funktion", "fehler"];

/// `languageId`s whose documents hold code or shell: selected text there goes to the code model.
pub const CODE_LANGUAGES: &[&str] = &[
    "shellscript",
    "sh",
    "bash",
    "zsh",
    "fish",
    "powershell",
    "dockerfile",
    "makefile",
    "python",
    "rust",
    "go",
    "c",
    "cpp",
    "java",
    "javascript",
    "typescript",
    "javascriptreact",
    "typescriptreact",
    "lua",
    "ruby",
    "perl",
    "php",
    "sql",
    "haskell",
    "kotlin",
    "swift",
    "csharp",
    "scala",
];

pub(super) fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}
