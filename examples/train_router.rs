//! Builds the intent classifier's weights (`src/router/intent-weights.bin`) from
//! `data/routing/`: NL2Bash descriptions (code), TREC questions (general) and the labelled
//! files in `data/routing/train/`. Run through `scripts/train-router.sh`; the result is
//! deterministic (fixed seed, fixed order), so the same data gives the same bytes.
//!
//! Logistic regression with AdaGrad and L2, classes weighted to equal total weight, over
//! the features of `llm_router_lsp::router::intent::features`, so training and
//! classification cannot drift apart. Prints the accuracy on the development set
//! (`data/routing/dev-*.tsv`), which is never trained on.

use std::path::Path;

use llm_router_lsp::router::intent::{
    self, BUCKET_BITS, BUCKETS, Example, FEATURES_VERSION, Header, read_examples, training_files, training_fingerprint,
    vectorize,
};

const TRAINER_VERSION: u32 = 1;
// Chosen on the development set; accuracy is flat around them (±0.2 points for 6 to 14
// epochs, L2 1e-6 to 1e-5, NL2Bash weight 0.1 to 0.5).
const EPOCHS: usize = 8;
const LEARNING_RATE: f32 = 0.5;
const L2: f32 = 1e-6;
/// NL2Bash's terse descriptions are many and alike; users ask in prose. Weighted down so
/// that the handwritten requests shape the model as much.
const NL2BASH_WEIGHT: f32 = 0.3;
const SEED: u64 = 0x5eed_1234;

fn load(root: &Path) -> Result<Vec<Example>, String> {
    let mut examples = Vec::new();
    for file in training_files(root).map_err(|e| e.to_string())? {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let example =
            |code: bool, text: &str| Example { code, group: String::new(), language: None, text: text.into() };
        if name == "nl2bash-train.tsv" {
            examples.extend(
                text.lines()
                    .filter(|l| !l.starts_with('#'))
                    .filter_map(|l| l.split('\t').next())
                    .filter(|d| !d.trim().is_empty())
                    .map(|d| Example { group: "nl2bash-raw".into(), ..example(true, d) }),
            );
        } else if name == "trec-questions.txt" {
            examples.extend(text.lines().filter(|l| !l.trim().is_empty()).map(|l| example(false, l)));
        } else {
            examples.extend(read_examples(&text).map_err(|e| format!("{}: {e}", file.display()))?);
        }
    }
    Ok(examples)
}

/// xorshift64*: a fixed, dependency-free shuffle.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    for i in (1..items.len()).rev() {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        items.swap(i, (r % (i as u64 + 1)) as usize);
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples = match load(root) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("train-router: {e}");
            std::process::exit(2);
        }
    };
    let code = examples.iter().filter(|e| e.code).count();
    let general = examples.len() - code;
    eprintln!("train-router: {} examples ({code} code, {general} general)", examples.len());
    let source_weight = |e: &Example| if e.group == "nl2bash-raw" { NL2BASH_WEIGHT } else { 1.0 };
    let total = |is_code: bool| examples.iter().filter(|e| e.code == is_code).map(source_weight).sum::<f32>();
    let (code_total, general_total) = (total(true), total(false));
    let class_weight = |is_code: bool| {
        let n = if is_code { code_total } else { general_total };
        (code_total + general_total) / (2.0 * n.max(1.0))
    };
    let mut rows: Vec<(Vec<usize>, f32, f32, f32)> = examples
        .iter()
        .map(|e| {
            let (buckets, value) = vectorize(&e.text);
            (buckets, value, if e.code { 1.0 } else { 0.0 }, class_weight(e.code) * source_weight(e))
        })
        .collect();

    let mut weights = vec![0f32; BUCKETS];
    let mut squares = vec![1e-8f32; BUCKETS];
    let mut bias = 0f32;
    let mut bias_square = 1e-8f32;
    for epoch in 0..EPOCHS {
        shuffle(&mut rows, SEED ^ epoch as u64);
        let mut loss = 0f64;
        for (buckets, value, label, weight) in &rows {
            let z = bias + buckets.iter().map(|&b| weights[b]).sum::<f32>() * value;
            let p = intent::sigmoid(z);
            let g = (p - label) * weight;
            loss -= f64::from(weight * if *label > 0.5 { p.max(1e-7).ln() } else { (1.0 - p).max(1e-7).ln() });
            for &b in buckets {
                let grad = g * value + L2 * weights[b];
                squares[b] += grad * grad;
                weights[b] -= LEARNING_RATE * grad / squares[b].sqrt();
            }
            bias_square += g * g;
            bias -= LEARNING_RATE * g / bias_square.sqrt();
        }
        eprintln!("train-router: epoch {epoch:2}: mean loss {:.4}", loss / rows.len() as f64);
    }

    let largest = weights.iter().fold(0f32, |m, w| m.max(w.abs())).max(1e-6);
    let scale = largest / f32::from(i16::MAX);
    let fingerprint = match training_fingerprint(root) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("train-router: {e}");
            std::process::exit(2);
        }
    };
    let header = Header {
        features_version: FEATURES_VERSION,
        bucket_bits: BUCKET_BITS,
        trainer_version: TRAINER_VERSION,
        data_fingerprint: fingerprint,
        scale,
        bias,
    };
    let mut bytes = header.encode();
    for w in &weights {
        bytes.extend_from_slice(&((w / scale).round().clamp(-32767.0, 32767.0) as i16).to_le_bytes());
    }
    let out = root.join("src/router/intent-weights.bin");
    if let Err(e) = std::fs::write(&out, &bytes) {
        eprintln!("train-router: {}: {e}", out.display());
        std::process::exit(2);
    }
    eprintln!("train-router: wrote {} ({} bytes, fingerprint {fingerprint:016x})", out.display(), bytes.len());

    // The classifier alone at p = 0.5 on the development set; `route --eval` measures the
    // whole decision (keywords, shell syntax, language, task, tokens) on the same file.
    let mut dev = Vec::new();
    let mut dev_files: Vec<_> = std::fs::read_dir(root.join("data/routing"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    dev_files.retain(|p: &std::path::PathBuf| {
        p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("dev-") && n.ends_with(".tsv"))
    });
    dev_files.sort();
    for path in &dev_files {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        match read_examples(&text) {
            Ok(rows) => dev.extend(rows),
            Err(e) => {
                eprintln!("train-router: {}: {e}", path.display());
                std::process::exit(2);
            }
        }
    }
    if dev.is_empty() {
        eprintln!("train-router: no data/routing/dev-*.tsv; skipping the dev-set accuracy");
        return;
    }
    let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    let model = intent::IntentModel::from_bytes(leaked).expect("just built");
    let right = dev.iter().filter(|e| (model.classify(&e.text, 0).logit >= 0.0) == e.code).count();
    eprintln!(
        "train-router: classifier alone on the dev set: {right}/{} = {:.1} %",
        dev.len(),
        100.0 * right as f64 / dev.len().max(1) as f64
    );
}
