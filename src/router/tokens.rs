//! Token counting with OpenAI's cl100k_base, bounded so that a huge selection costs no more
//! than the threshold it is compared with.

use std::fmt;
use std::sync::OnceLock;

use bpe_openai::Tokenizer;

/// What is known about a text's token count: as much as the decision needs, no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEstimate {
    /// Not counted: a text of N bytes has at most N tokens.
    AtMost(usize),
    Exact(usize),
    /// Counting stopped at this limit.
    MoreThan(usize),
}

impl TokenEstimate {
    pub fn exceeds(self, threshold: usize) -> bool {
        match self {
            TokenEstimate::AtMost(n) | TokenEstimate::Exact(n) => n > threshold,
            TokenEstimate::MoreThan(n) => n >= threshold,
        }
    }
}

impl fmt::Display for TokenEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenEstimate::AtMost(n) => write!(f, "at most {n} tokens ({n} bytes)"),
            TokenEstimate::Exact(n) => write!(f, "{n} tokens"),
            TokenEstimate::MoreThan(n) => write!(f, "more than {n} tokens"),
        }
    }
}

static LOADED: OnceLock<&'static Tokenizer> = OnceLock::new();

fn tokenizer() -> &'static Tokenizer {
    LOADED.get_or_init(bpe_openai::cl100k_base)
}

/// Whether the tokenizer is ready; callers that must not block (the editor's thread) check
/// this and fall back to the byte bound.
pub fn is_loaded() -> bool {
    LOADED.get().is_some()
}

/// Loads the tokenizer (about 40 ms) on a background thread, so the first real count finds
/// it ready.
pub fn warm_up_in_background() {
    static STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !is_loaded() && !STARTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        std::thread::spawn(|| {
            tokenizer();
        });
    }
}

/// Counts exactly up to `limit` tokens and stops there. Texts of at most `threshold`
/// bytes are not counted at all: they cannot exceed it.
pub fn estimate(text: &str, threshold: usize, limit: usize) -> TokenEstimate {
    if text.len() <= threshold {
        return TokenEstimate::AtMost(text.len());
    }
    let tok = tokenizer();
    match tok.count_till_limit(&tok.normalize(text), limit) {
        Some(n) => TokenEstimate::Exact(n),
        None => TokenEstimate::MoreThan(limit),
    }
}

/// The exact count, for tests and `route --json`.
pub fn count(text: &str) -> usize {
    tokenizer().count(text)
}
