"""Helpers shared by the routing-data generators: escaping, the block source format, checks.

Source format (gen/src/*.txt), read by `read_source`:

    ## label=code                    directive: sets label (and for the dev set group=, language=)
    one example per line
    <<<
    a multi-line example,
    kept verbatim up to the closing line
    >>>

Blank lines outside blocks are ignored. Nothing else is special, so examples may begin with
`#` (a shell comment, `#include`) as long as they do not begin with `## `.
"""
import re
import sys
from pathlib import Path

ROUTING = Path(__file__).resolve().parent.parent
LABELS = ("code", "general")

# Held out for the router's own tests: never in training or dev data (checked exactly and by
# the word combinations below, which catch close paraphrases).
HELD_OUT = [
    "what program is holding port 5432 open?",
    "how can I make root the owner of deploy.sh?",
    "sort a vector of structs by two fields in Go",
    "What's the top score in bowling?",
    "help me find a good name for my cat",
    "ideas for a class reunion",
    "fix the spelling errors in this letter",
    "E: Unable to locate package",
    "E: Unable to locate package libfoo-dev",
    "grep for errors",
    "tar -xzvf backup.tar.gz -C /opt",
    "ps aux | grep nginx",
    "what is the capital of France",
    "perhaps convert the pdf on my desktop",
]
HELD_OUT_PATTERNS = [
    r"5432",
    r"deploy\.sh",
    r"\broot the owner\b",
    r"\bstructs?\b.*\btwo fields\b",
    r"\bbowling\b",
    r"\bname\b.*\b(cat|kitten)\b",
    r"\bideas?\b.*\bclass reunion\b|\bclass reunion\b.*\bideas?\b",
    r"\bspelling (errors|mistakes)\b.*\bletter\b",
    r"libfoo",
    r"KeyError: 'port'",
    r"\|\s*Anna\s*\|",
]


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def unescape(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] in "nt\\":
            out.append({"n": "\n", "t": "\t", "\\": "\\"}[s[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def read_source(path):
    """Yields dicts (label, group, language, text) from a block source file."""
    state = {"label": None, "group": "", "language": ""}
    block = None
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if block is not None:
            if line == ">>>":
                text = "\n".join(block)
                if not text.strip():
                    sys.exit(f"{path}:{n}: empty block")
                yield dict(state, text=text, where=f"{path}:{n}")
                block = None
            else:
                block.append(line)
            continue
        if line == "<<<":
            block = []
        elif line.startswith("## "):
            for kv in line[3:].split():
                k, _, v = kv.partition("=")
                if k not in state:
                    sys.exit(f"{path}:{n}: unknown directive {k}")
                state[k] = v
        elif line.strip():
            if state["label"] not in LABELS:
                sys.exit(f"{path}:{n}: no label set")
            yield dict(state, text=line.strip(), where=f"{path}:{n}")
    if block is not None:
        sys.exit(f"{path}: unclosed <<< block")


def held_out_hit(text: str, patterns=True):
    """The held-out sentence or pattern `text` matches, if any (patterns: English data only)."""
    low = text.lower().strip()
    for h in HELD_OUT:
        if low.rstrip("?.! ") == h.lower().rstrip("?.! "):
            return h
    for p in HELD_OUT_PATTERNS if patterns else []:
        if re.search(p, text, re.IGNORECASE):
            return p
    return None


def write_train(name, rows):
    """rows: list of (label, text). Writes train/<name>.tsv, refusing duplicates."""
    seen = set()
    path = ROUTING / "train" / f"{name}.tsv"
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("label\ttext\n")
        for label, text in rows:
            assert label in LABELS, (label, text)
            if text in seen:
                sys.exit(f"{name}: duplicate text {text!r}")
            seen.add(text)
            f.write(f"{label}\t{escape(text)}\n")
    return path, len(rows)


def write_dev(path, rows):
    """rows: list of (label, group, language, text)."""
    seen = set()
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("label\tgroup\tlanguage\ttext\n")
        for label, group, language, text in rows:
            assert label in LABELS, (label, text)
            if text in seen:
                sys.exit(f"dev: duplicate text {text!r}")
            seen.add(text)
            f.write(f"{label}\t{group}\t{language}\t{escape(text)}\n")
    return len(rows)
