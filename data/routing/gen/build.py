"""Rebuilds every English routing data file from its source, then runs the checks.

    python3 data/routing/gen/build.py

train/en-selfinstruct.tsv    selfinstruct.py (hand labels by task number)
train/en-nl2bash-asked.tsv   nl2bash_asked.py (seeded rephrasing of raw/nl2bash-train.tsv)
train/en-<name>.tsv          src/en-<name>.txt (handwritten, block format: see tsvlib.py)
dev-en.tsv                   src/dev-en.txt (handwritten, separate from all training rows)
"""
import sys

import check
import nl2bash_asked
import selfinstruct
from tsvlib import ROUTING, read_source, write_dev, write_train

HANDWRITTEN = ["en-code-requests", "en-errors", "en-code-snippets", "en-general", "en-general-techwords"]


def main():
    print(*selfinstruct.main())
    print(*nl2bash_asked.main())
    src = ROUTING / "gen" / "src"
    for name in HANDWRITTEN:
        rows = [(r["label"], r["text"]) for r in read_source(src / f"{name}.txt")]
        print(*write_train(name, rows))
    dev = [(r["label"], r["group"], r["language"], r["text"]) for r in read_source(src / "dev-en.txt")]
    print(ROUTING / "dev-en.tsv", write_dev(ROUTING / "dev-en.tsv", dev))
    return check.main()


if __name__ == "__main__":
    sys.exit(main())
