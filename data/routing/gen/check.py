"""Checks the English routing data: headers, column counts, labels, escapes, duplicates within
and across training and dev files (exact, and after case/space/punctuation folding), held-out
test sentences, dev rows too close to a training row, and the dev set's group minimums.

    python3 data/routing/gen/check.py        (exit status 1 on any problem)
"""
import re
import sys
from collections import Counter, defaultdict

from tsvlib import LABELS, ROUTING, held_out_hit, unescape

# Every training file (the German ones too, for duplicates across files); minimums and
# one-label rules only for the English files written here.
TRAIN = sorted(p.stem for p in (ROUTING / "train").glob("*.tsv"))
MINIMUMS = {"en-code-requests": 600, "en-errors": 250, "en-code-snippets": 250, "en-general": 1500,
            "en-general-techwords": 400}
DEV_MINIMUMS = {"en-code": 130, "en-general": 130, "hard": 110, "with-language": 70}
LABEL_OF_FILE = {"en-code-requests": "code", "en-errors": "code", "en-code-snippets": "code",
                 "en-nl2bash-asked": "code", "en-general": "general", "en-general-techwords": "general"}
NEAR = 0.8  # dev vs train: word-set Jaccard at or above this is "too close"


def fold(text):
    return re.sub(r"[^\w]+", " ", text.lower()).strip()


def words(text):
    return set(re.findall(r"\w+", text.lower()))


def read(path, columns, problems):
    rows = []
    lines = path.read_text(encoding="utf-8").split("\n")
    want = "label\ttext" if columns == 2 else "label\tgroup\tlanguage\ttext"
    if lines[0] != want:
        problems.append(f"{path.name}: header {lines[0]!r}, want {want!r}")
    if lines[-1] != "":
        problems.append(f"{path.name}: no final newline")
    for n, line in enumerate(lines[1:-1], 2):
        fields = line.split("\t")
        if len(fields) != columns:
            problems.append(f"{path.name}:{n}: {len(fields)} fields, want {columns}")
            continue
        if fields[0] not in LABELS:
            problems.append(f"{path.name}:{n}: label {fields[0]!r}")
        raw = fields[-1]
        if "\r" in raw or not raw.strip():
            problems.append(f"{path.name}:{n}: empty text or a carriage return")
        if re.search(r"\\(?![nt\\])", raw.replace("\\\\", "")):
            problems.append(f"{path.name}:{n}: unescaped backslash")
        text = unescape(raw)
        hit = held_out_hit(text, patterns=not path.name.startswith("de-"))
        if hit:
            problems.append(f"{path.name}:{n}: held-out test sentence ({hit}): {text[:60]!r}")
        rows.append((fields, text, n))
    return rows


def main():
    problems = []
    counts = {}
    seen = {}          # exact text -> where
    folded = {}        # folded text -> where
    train_words = []
    for name in TRAIN:
        path = ROUTING / "train" / f"{name}.tsv"
        rows = read(path, 2, problems)
        labels = Counter(f[0] for f, _, _ in rows)
        counts[name] = (len(rows), dict(labels))
        if name in MINIMUMS and len(rows) < MINIMUMS[name]:
            problems.append(f"{name}: {len(rows)} rows, want at least {MINIMUMS[name]}")
        for f, text, n in rows:
            if name in LABEL_OF_FILE and f[0] != LABEL_OF_FILE[name]:
                problems.append(f"{name}:{n}: label {f[0]} in a {LABEL_OF_FILE[name]} file")
            where = f"{name}:{n}"
            if text in seen:
                problems.append(f"duplicate text in {where} and {seen[text]}: {text[:60]!r}")
            seen.setdefault(text, where)
            k = fold(text)
            if k in folded and folded[k] != seen[text]:
                problems.append(f"near-duplicate (case/punctuation) {where} and {folded[k]}: {text[:60]!r}")
            folded.setdefault(k, where)
            train_words.append((words(text), where, text))
    # The trainer also reads these raw files as training data.
    raw_texts = set()
    for line in (ROUTING / "raw/nl2bash-train.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        raw_texts.add(line.split("\t", 1)[0].strip())
    raw_texts |= {l.strip() for l in (ROUTING / "raw/trec-questions.txt").read_text(encoding="utf-8").splitlines()}
    raw_folded = {fold(t) for t in raw_texts}

    dev = read(ROUTING / "dev-en.tsv", 4, problems)
    groups = Counter(f[1] for f, _, _ in dev)
    group_labels = defaultdict(Counter)
    index = defaultdict(list)
    for ws, where, text in train_words:
        for w in ws:
            index[w].append((ws, where, text))
    for f, text, n in dev:
        group_labels[f[1]][f[0]] += 1
        where = f"dev-en:{n}"
        if f[1] in DEV_MINIMUMS and f[1] != "with-language" and f[2]:
            problems.append(f"{where}: group {f[1]} should have no language")
        if f[1] == "with-language" and not f[2]:
            problems.append(f"{where}: with-language row without a language")
        if text in seen:
            problems.append(f"dev row {where} repeats {seen[text]}: {text[:60]!r}")
        seen.setdefault(text, where)
        k = fold(text)
        if k in folded and folded[k] != where:
            problems.append(f"dev row {where} is a near-duplicate of {folded[k]}: {text[:60]!r}")
        folded.setdefault(k, where)
        if text.strip() in raw_texts or k in raw_folded:
            problems.append(f"dev row {where} is in the raw training material: {text[:60]!r}")
        ws = words(text)
        if len(ws) >= 3:
            cands = {id(c): c for w in ws for c in index.get(w, [])}.values()
            for tws, twhere, ttext in cands:
                j = len(ws & tws) / len(ws | tws)
                if j >= NEAR:
                    problems.append(f"dev row {where} is close to {twhere} (Jaccard {j:.2f}): {text[:50]!r} ~ {ttext[:50]!r}")
    for g, want in DEV_MINIMUMS.items():
        if groups[g] < want:
            problems.append(f"dev group {g}: {groups[g]} rows, want at least {want}")

    for name, (n, labels) in counts.items():
        print(f"train/{name}.tsv: {n} rows {labels}")
    print(f"dev-en.tsv: {len(dev)} rows")
    for g in sorted(groups):
        print(f"  {g}: {groups[g]} {dict(group_labels[g])}")
    langs = Counter(f[2] for f, _, _ in dev if f[2])
    print("  languages:", dict(langs))
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for p in problems:
            print("  " + p)
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
