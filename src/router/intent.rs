//! The intent classifier: is a request about Linux, shell or code (the code model's job) or
//! a general one? A logistic regression over hashed features of the text's start: words,
//! word pairs, character n-grams inside words (they carry German compounds such as
//! "Festplattenspeicher" and inflections no keyword list has) and the punctuation shape of
//! each whitespace-separated token (`--force` is `--a`, `/etc/fstab` is `/a/a`).
//!
//! The weights ship inside the binary (`intent-weights.bin`, built by
//! `scripts/train-router.sh` from `data/routing/`), so nothing is downloaded or pulled and a
//! decision takes microseconds. The same [`features`] function is used to train and to
//! classify, so the two cannot drift; the file's header records the feature version and a
//! hash of the training data and trainer, and a test fails when they are stale.

use std::fmt;

/// Bumped whenever [`features`] changes, which makes the shipped weights stale.
pub const FEATURES_VERSION: u32 = 1;
/// Only this much of a text is read: a request's intent shows at its start, and a 1 MB
/// selection must cost no more than a short one.
pub const SCAN_LIMIT: usize = 4096;
pub const BUCKET_BITS: u32 = 18;
pub const BUCKETS: usize = 1 << BUCKET_BITS;
const MAGIC: &[u8; 4] = b"LRIW";
const HEADER_LEN: usize = 32;

static SHIPPED: &[u8] = include_bytes!("intent-weights.bin");

/// Words that carry no meaning of their own: they count, but are not shown as a reason.
const FUNCTION_WORDS: &[&str] = &[
    "the", "and", "for", "you", "your", "can", "how", "what", "with", "this", "that", "are", "was", "not", "but",
    "from", "have", "has", "der", "die", "das", "und", "ich", "wie", "was", "ist", "mit", "von", "den", "dem", "ein",
    "eine", "einen", "mir", "mich", "auf", "für", "nicht", "sich", "kann",
];

/// What kind of feature, so that reasons can show the readable ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureKind {
    Word,
    WordPair,
    CharGram,
    Shape,
    Layout,
}

/// Calls `emit(bucket, kind, text)` for every feature of `text` (duplicates included; the
/// caller counts each bucket once). `text` in the callback is the word, the pair or the
/// n-gram as it appears, lowercased.
pub fn features(text: &str, mut emit: impl FnMut(usize, FeatureKind, &str)) {
    let scanned = super::analyzer::prefix_at_char_boundary(text, SCAN_LIMIT);
    let lower = scanned.to_lowercase();
    let mut previous: Option<&str> = None;
    let mut padded = String::with_capacity(64);
    for word in lower.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()) {
        emit(bucket(b"w", word.as_bytes(), &[]), FeatureKind::Word, word);
        if let Some(p) = previous {
            // Both are slices of `lower`: the pair as written, separator included.
            let start = p.as_ptr() as usize - lower.as_ptr() as usize;
            let end = word.as_ptr() as usize - lower.as_ptr() as usize + word.len();
            emit(bucket(b"b", p.as_bytes(), word.as_bytes()), FeatureKind::WordPair, &lower[start..end]);
        }
        previous = Some(word);
        // Boundaries marked, so "^ls$" differs from the "ls" inside "also".
        padded.clear();
        padded.push('^');
        padded.push_str(word);
        padded.push('$');
        let starts: Vec<usize> = padded.char_indices().map(|(i, _)| i).chain([padded.len()]).collect();
        let chars = starts.len() - 1;
        if chars > 40 {
            continue;
        }
        for n in 3..=5 {
            for i in 0..chars.saturating_sub(n - 1) {
                let gram = &padded[starts[i]..starts[i + n]];
                emit(bucket(b"c", gram.as_bytes(), &[]), FeatureKind::CharGram, gram);
            }
        }
    }
    let mut shape = String::with_capacity(16);
    for token in lower.split_whitespace() {
        shape.clear();
        let mut last = ' ';
        for c in token.chars() {
            let class = if c.is_alphabetic() || c == '_' {
                'a'
            } else if c.is_ascii_digit() {
                '0'
            } else {
                c
            };
            if class != last || !matches!(class, 'a' | '0') {
                shape.push(class);
            }
            last = class;
            if shape.len() >= 12 {
                break;
            }
        }
        if shape != "a" && shape != "0" {
            emit(bucket(b"p", shape.as_bytes(), &[]), FeatureKind::Shape, token);
        }
    }
    let lines = scanned.lines().count();
    let layout = match lines {
        0 | 1 => "one-line",
        2..=4 => "few-lines",
        _ => "many-lines",
    };
    emit(bucket(b"l", layout.as_bytes(), &[]), FeatureKind::Layout, layout);
    if scanned.lines().any(|l| l.starts_with("  ") || l.starts_with('\t')) {
        emit(bucket(b"l", b"indented", &[]), FeatureKind::Layout, "indented");
    }
}

/// FNV-1a: simple enough to reproduce anywhere, and the same on every platform.
fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |h, byte| (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// A feature's bucket: its kind tag and bytes, hashed.
fn bucket(kind: &[u8], a: &[u8], b: &[u8]) -> usize {
    let bytes = kind.iter().chain(&[0xff]).chain(a).chain(&[0xfe]).chain(b).copied();
    (fnv1a(bytes) as usize) & (BUCKETS - 1)
}

/// The training data's fingerprint: each part, then its length.
pub fn fingerprint(parts: &[&[u8]]) -> u64 {
    fnv1a(parts.iter().flat_map(|part| part.iter().copied().chain((part.len() as u64).to_le_bytes())))
}

/// The distinct buckets of a text and the value each gets (1/√n, so long texts do not
/// outweigh short ones), plus the readable features for explanations.
pub fn vectorize(text: &str) -> (Vec<usize>, f32) {
    let mut buckets: Vec<usize> = Vec::with_capacity(256);
    features(text, |b, _, _| buckets.push(b));
    buckets.sort_unstable();
    buckets.dedup();
    let value = if buckets.is_empty() { 0.0 } else { 1.0 / (buckets.len() as f32).sqrt() };
    (buckets, value)
}

/// The trained weights: a bias and one weight per bucket, stored as i16 with one scale.
#[derive(Clone)]
pub struct IntentModel {
    bytes: &'static [u8],
    pub header: Header,
}

impl fmt::Debug for IntentModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntentModel").field("header", &self.header).finish()
    }
}

/// The weights file's header (32 bytes, little-endian): magic, feature version, bucket bits,
/// trainer version, data fingerprint, scale, bias.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    pub features_version: u32,
    pub bucket_bits: u32,
    pub trainer_version: u32,
    pub data_fingerprint: u64,
    pub scale: f32,
    pub bias: f32,
}

impl Header {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.features_version.to_le_bytes());
        out.extend_from_slice(&self.bucket_bits.to_le_bytes());
        out.extend_from_slice(&self.trainer_version.to_le_bytes());
        out.extend_from_slice(&self.data_fingerprint.to_le_bytes());
        out.extend_from_slice(&self.scale.to_le_bytes());
        out.extend_from_slice(&self.bias.to_le_bytes());
        out
    }

    fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < HEADER_LEN || &b[..4] != MAGIC {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or_default());
        let f32_at = |i: usize| f32::from_le_bytes(b[i..i + 4].try_into().unwrap_or_default());
        Some(Self {
            features_version: u32_at(4),
            bucket_bits: u32_at(8),
            trainer_version: u32_at(12),
            data_fingerprint: u64::from_le_bytes(b[16..24].try_into().unwrap_or_default()),
            scale: f32_at(24),
            bias: f32_at(28),
        })
    }
}

/// One feature's pull on a decision, for the reasons.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub text: String,
    pub weight: f32,
}

/// The classifier's verdict on one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// The classifier's log-odds that the text is a code/Linux request.
    pub logit: f32,
    /// The words and word pairs that pushed hardest, in the direction of the verdict's sign.
    pub evidence: Vec<Evidence>,
}

impl IntentModel {
    /// The weights built into the binary.
    pub fn shipped() -> Self {
        Self::from_bytes(SHIPPED).expect("the shipped intent weights are checked by a test")
    }

    pub fn from_bytes(bytes: &'static [u8]) -> Option<Self> {
        let header = Header::decode(bytes)?;
        let ok = header.features_version == FEATURES_VERSION
            && header.bucket_bits == BUCKET_BITS
            && bytes.len() == HEADER_LEN + 2 * BUCKETS;
        ok.then_some(Self { bytes, header })
    }

    fn weight(&self, bucket: usize) -> f32 {
        let i = HEADER_LEN + 2 * bucket;
        f32::from(i16::from_le_bytes([self.bytes[i], self.bytes[i + 1]])) * self.header.scale
    }

    /// Classifies `text`; `explain` names up to that many words or word pairs.
    pub fn classify(&self, text: &str, explain: usize) -> Intent {
        let mut seen: Vec<(usize, FeatureKind, Option<String>)> = Vec::with_capacity(256);
        features(text, |b, kind, t| {
            // Words users can read as a reason: not one- or two-letter words or bare numbers.
            let readable = match kind {
                FeatureKind::Word => {
                    t.chars().count() >= 3 && !t.chars().all(|c| c.is_ascii_digit()) && !FUNCTION_WORDS.contains(&t)
                }
                FeatureKind::WordPair => t.chars().count() >= 5,
                _ => false,
            };
            let shown = (explain > 0 && readable).then(|| t.to_string());
            seen.push((b, kind, shown));
        });
        seen.sort_by_key(|s| s.0);
        seen.dedup_by_key(|s| s.0);
        let value = if seen.is_empty() { 0.0 } else { 1.0 / (seen.len() as f32).sqrt() };
        let mut logit = self.header.bias;
        let mut pulls: Vec<Evidence> = Vec::new();
        for (b, _, shown) in &seen {
            let w = self.weight(*b);
            logit += w * value;
            if let Some(shown) = shown {
                pulls.push(Evidence { text: shown.clone(), weight: w });
            }
        }
        let sign = if logit >= 0.0 { 1.0 } else { -1.0 };
        pulls.retain(|e| e.weight * sign > 0.0);
        pulls.sort_by(|a, b| (b.weight * sign).total_cmp(&(a.weight * sign)));
        pulls.truncate(explain);
        Intent { logit, evidence: pulls }
    }
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// One labelled example of the training or development data.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub code: bool,
    /// The development set's group (`en-code`, `hard`, …); empty in training data.
    pub group: String,
    /// A document language (LSP `languageId`), when the example has one.
    pub language: Option<String>,
    pub text: String,
}

/// Reads a labelled TSV: `label<TAB>text` (training) or `label<TAB>group<TAB>language<TAB>text`
/// (development), with a header line, labels `code` or `general`, and `\n`, `\t`, `\\`
/// escapes in the text. Errors name the line.
pub fn read_examples(tsv: &str) -> Result<Vec<Example>, String> {
    let mut lines = tsv.lines().enumerate();
    let header = lines.next().map(|(_, l)| l).unwrap_or_default();
    let columns = header.split('\t').count();
    if !matches!(columns, 2 | 4) || !header.starts_with("label\t") {
        return Err(format!(
            "line 1: expected the header `label\\ttext` or `label\\tgroup\\tlanguage\\ttext`, found {header:?}"
        ));
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.splitn(columns, '\t').collect();
        if fields.len() != columns {
            return Err(format!("line {}: expected {columns} tab-separated fields", i + 1));
        }
        let code = match fields[0] {
            "code" => true,
            "general" => false,
            other => return Err(format!("line {}: label {other:?} is neither `code` nor `general`", i + 1)),
        };
        let (group, language) = if columns == 4 {
            (fields[1].to_string(), Some(fields[2]).filter(|l| !l.is_empty()).map(str::to_string))
        } else {
            (String::new(), None)
        };
        out.push(Example { code, group, language, text: unescape(fields[columns - 1]) });
    }
    Ok(out)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The files the shipped weights are built from, relative to the repository root, in the
/// order the trainer reads them.
pub fn training_files(root: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files =
        vec![root.join("data/routing/raw/nl2bash-train.tsv"), root.join("data/routing/raw/trec-questions.txt")];
    let mut own: Vec<_> = std::fs::read_dir(root.join("data/routing/train"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "tsv"))
        .collect();
    own.sort();
    files.extend(own);
    Ok(files)
}

/// What the weights were built from: the feature version, the trainer's source and every
/// training file. The trainer writes it into the header; a test recomputes it.
pub fn training_fingerprint(root: &std::path::Path) -> std::io::Result<u64> {
    let mut contents =
        vec![FEATURES_VERSION.to_le_bytes().to_vec(), std::fs::read(root.join("examples/train_router.rs"))?];
    for file in training_files(root)? {
        contents.push(file.strip_prefix(root).unwrap_or(&file).to_string_lossy().into_owned().into_bytes());
        contents.push(std::fs::read(&file)?);
    }
    let parts: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    Ok(fingerprint(&parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature_texts(text: &str) -> Vec<(FeatureKind, String)> {
        let mut out = Vec::new();
        features(text, |_, k, t| out.push((k, t.to_string())));
        out
    }

    #[test]
    fn features_of_a_short_request() {
        let got = feature_texts("Kill -9 it");
        let words: Vec<&str> = got.iter().filter(|f| f.0 == FeatureKind::Word).map(|f| f.1.as_str()).collect();
        assert_eq!(words, ["kill", "9", "it"]);
        let shapes: Vec<&str> = got.iter().filter(|f| f.0 == FeatureKind::Shape).map(|f| f.1.as_str()).collect();
        assert_eq!(shapes, ["-9"]);
        let grams: Vec<&str> = got.iter().filter(|f| f.0 == FeatureKind::CharGram).map(|f| f.1.as_str()).collect();
        assert!(
            grams.contains(&"^ki") && grams.contains(&"ill$") && grams.contains(&"^kill") && grams.contains(&"^9$"),
            "{grams:?}"
        );
    }

    #[test]
    fn german_compounds_share_grams_with_their_parts() {
        let grams = |t: &str| -> Vec<String> {
            feature_texts(t).into_iter().filter(|f| f.0 == FeatureKind::CharGram).map(|f| f.1).collect()
        };
        let compound = grams("Festplattenspeicher");
        assert!(grams("Festplatte").iter().filter(|g| compound.contains(g)).count() >= 10);
        assert!(compound.iter().any(|g| g == "speic"));
    }

    #[test]
    fn a_long_text_is_read_only_up_to_the_scan_limit() {
        let long = format!("{}{}", "a ".repeat(SCAN_LIMIT), "ünique");
        assert!(!feature_texts(&long).iter().any(|f| f.1.contains("ünique")));
        // Cut on a character boundary.
        let multibyte = "ä".repeat(SCAN_LIMIT);
        assert!(!feature_texts(&multibyte).is_empty());
    }

    #[test]
    fn shipped_weights_load_and_lean_the_right_way() {
        let model = IntentModel::shipped();
        assert!(model.classify("how do I list open ports with ss", 3).logit > 0.0);
        assert!(model.classify("suggest a name for my new puppy", 3).logit < 0.0);
        let explained = model.classify("which process is listening on port 8080", 3);
        assert!(!explained.evidence.is_empty() && explained.evidence.len() <= 3);
    }

    #[test]
    fn shipped_weights_are_built_from_the_current_data() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let fingerprint = training_fingerprint(root).unwrap();
        assert_eq!(
            IntentModel::shipped().header.data_fingerprint,
            fingerprint,
            "src/router/intent-weights.bin is stale: the training data, the trainer or the features \
             changed since it was built; run scripts/train-router.sh and commit the result"
        );
    }

    #[test]
    fn examples_parse_with_escapes_and_name_the_bad_line() {
        let got = read_examples("label\tgroup\tlanguage\ttext\ncode\thard\tpython\ta\\nb\\\\c\n").unwrap();
        assert_eq!(
            got,
            [Example { code: true, group: "hard".into(), language: Some("python".into()), text: "a\nb\\c".into() }]
        );
        assert_eq!(
            read_examples("label\ttext\nmaybe\tx\n").unwrap_err(),
            "line 2: label \"maybe\" is neither `code` nor `general`"
        );
    }

    #[test]
    fn header_round_trips() {
        let h = Header {
            features_version: FEATURES_VERSION,
            bucket_bits: BUCKET_BITS,
            trainer_version: 7,
            data_fingerprint: 0x1234_5678_9abc_def0,
            scale: 0.001,
            bias: -0.5,
        };
        assert_eq!(Header::decode(&h.encode()), Some(h));
    }
}
