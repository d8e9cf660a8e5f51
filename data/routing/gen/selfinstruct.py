"""train/en-selfinstruct.tsv: every instruction of raw/self-instruct-user-oriented.jsonl,
labelled by hand (the task numbers below), plus instruction + "\n" + the first instance's
input where that input is short.

Borderline calls: LaTeX, HTML, CSS, Markdown conversion, regex, SQL, GitHub Actions and
programming-interview tasks are `code`; spreadsheet formulas (Excel, Google Sheets), product
pages for tech products, software job ads, Jira/user-story writing and ML paper summaries are
`general` (office, marketing and reading work, not programming).
"""
import json

from check import fold
from tsvlib import ROUTING, write_train

# Task numbers: N of the task's id user_oriented_task_N (not its line; some numbers are unused) whose instruction is a code/programming request.
CODE = {10, 11, 12, 13, 14, 23, 38, 39, 40, 41, 77, 78, 92, 93, 94, 96, 103, 178, 190, 195,
        205, 210, 226, 227, 242, 243}
# Generic instructions that become code requests once their input is attached.
CODE_WITH_INPUT = {27, 90, 91}
MAX_INPUT = 600  # characters: a longer input is not added as a second row


def main():
    rows, seen = [], set()
    lines = (ROUTING / "raw/self-instruct-user-oriented.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines:
        task = json.loads(line)
        n = int(task["id"].rsplit("_", 1)[1])
        instruction = task["instruction"].strip()
        label = "code" if n in CODE else "general"
        if instruction not in seen:
            rows.append((label, instruction))
            seen.add(instruction)
        inp = task["instances"][0]["input"].strip()
        if inp and len(inp) <= MAX_INPUT:
            with_input = instruction + "\n" + inp
            if fold(with_input) != fold(instruction) and with_input not in seen:
                rows.append(("code" if n in CODE or n in CODE_WITH_INPUT else label, with_input))
                seen.add(with_input)
    return write_train("en-selfinstruct", rows)


if __name__ == "__main__":
    print(*main())
