"""train/en-nl2bash-asked.tsv: NL2Bash descriptions rephrased the way people ask (label code),
plus bash one-liners from the command column pasted as they are or with a question.

Deterministic: a fixed seed, the raw file in its order. Rerun after changing anything here.
"""
import random
import re

import check
from tsvlib import ROUTING, held_out_hit, write_train

SEED = 20240611
N_DESCRIPTIONS = 3500
N_COMMANDS = 300

NOT_VERBS = {"this", "a", "an", "the", "all", "file", "files", "if", "from", "for", "long", "error",
             "running", "numerically", "mathematically", "continuously", "immediately", "silently",
             "infinitely", "reversibly", "automatically", "verbosely", "interactively", "forcibly",
             "forcefully", "recursively"}
ADVERBS = {"recursively", "forcibly", "forcefully", "interactively", "silently", "verbosely",
           "automatically", "continuously", "numerically", "immediately", "infinitely"}
KEEP_S = {"compress", "decompress", "uncompress", "process", "pass", "access", "this", "ssh", "address"}

# Frames for a verb phrase ("find all .txt files under /home").
ASK = [  # questions: usually end in "?"
    "how do I {vp}", "how do i {vp}", "how can I {vp}", "how would I {vp}", "how to {vp}",
    "how should I {vp}", "is there a way to {vp}", "is it possible to {vp}",
    "what's the command to {vp}", "what is the command to {vp}", "whats the command to {vp}",
    "which command can I use to {vp}", "which command do I use to {vp}", "what command will {vp}",
    "can you show me how to {vp}", "could you show me how to {vp}", "what is the best way to {vp}",
    "what's the easiest way to {vp}", "what's the quickest way to {vp}", "any way to {vp}",
    "how do I {vp} from the terminal", "how can I {vp} in bash", "how do you {vp} in linux",
    "what do I type to {vp}", "is there a one-liner to {vp}", "how can i {vp} on ubuntu",
    "in bash, how do I {vp}", "on linux how do I {vp}", "what's a good way to {vp}",
    "can I {vp} with one command", "how would you {vp}", "what would I run to {vp}",
    "do you know how to {vp}", "can someone tell me how to {vp}", "how do I {vp} on my server",
]
TELL = [  # statements and imperatives: no "?"
    "I need to {vp}", "i need to {vp}", "I want to {vp}", "i'm trying to {vp}", "I'd like to {vp}",
    "bash: {vp}", "linux: {vp}", "linux {vp}", "shell: {vp}", "terminal - {vp}",
    "command to {vp}", "one-liner to {vp}", "bash one liner to {vp}", "help me {vp}",
    "please give me a command that will {vp}", "need a command to {vp}",
    "write a bash command to {vp}", "write me a one-liner that will {vp}", "show me how to {vp}",
    "give me the shell command to {vp}", "trying to {vp}, what's the command", "{vp} (bash)",
    "{vp} in bash", "{vp} from the command line", "{vp} using the shell", "how to {vp} in linux",
    "unix command to {vp}", "script that will {vp}", "I have to {vp} - what do I run",
]
LEADS = ["quick question: ", "hey, ", "noob here - ", "sorry if this is dumb but ", "hi! ",
         "ok so ", "hello, ", "question - ", "stupid question, ", "so "]
TAILS = [" on ubuntu", " in linux", " from the command line", " in the terminal", " on centos",
         " on debian", " on my mac", " with one command", " in a script", " on the server",
         " without a gui", " in zsh"]
MISSPELL = {"directory": "directoy", "directories": "directorys", "recursively": "recursivly",
            "permissions": "permisions", "permission": "permision", "separate": "seperate",
            "current": "currnet", "search": "serach", "files": "fiels", "file": "flie",
            "modified": "modifed", "folder": "floder", "which": "wich", "contents": "contens",
            "without": "whithout", "command": "comand", "length": "lenght", "their": "thier"}
PLURAL_NOUNS = ("files", "directories", "folders", "processes", "lines", "users", "symlinks",
                "links", "subdirectories", "packages", "entries")
SINGULAR_NOUNS = ("file", "directory", "folder", "process", "program", "line", "user")
PAST = ("modified", "changed", "accessed", "updated", "created", "edited", "written")
STATE = ("owned", "named", "larger", "bigger", "smaller", "older", "newer", "greater",
         "executable", "empty", "readable", "writable")


def base_verb(word):
    w = word.lower()
    if w in KEEP_S or not w.endswith("s") or w.endswith("ss"):
        return w
    if w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith(("sses", "shes", "ches", "xes")):
        return w[:-2]
    return w[:-1]


def clean(desc):
    d = desc.strip()
    d = re.sub(r"\s+", " ", d)
    d = d.rstrip(".").rstrip()
    return d


def verb_phrase(d, rng):
    """Returns (vp, is_verb): the description as a lowercase verb phrase."""
    spec = re.match(r"^\((GNU|BSD|Linux|Mac OSX)[ -]specific[^)]*\)\s*", d, re.I)
    suffix = ""
    if spec:
        d = d[spec.end():]
        if rng.random() < 0.5:
            suffix = {"gnu": " (gnu version)", "bsd": " on bsd", "linux": " on linux",
                      "mac osx": " on macos"}[spec.group(1).lower()]
    words = d.split(" ")
    i = 0
    if words[0].lower() in ADVERBS and len(words) > 1:
        i = 1
    first = words[i]
    verb = base_verb(first)
    is_verb = first.isalpha() and verb not in NOT_VERBS
    if is_verb:
        words[i] = verb
    if i == 1:
        words[0] = words[0].lower()
    w0 = words[0]
    if not (len(w0) > 1 and w0.isupper()):
        words[0] = w0[:1].lower() + w0[1:]
    return " ".join(words) + suffix, is_verb


def which_question(vp, rng):
    """"find all files under /home modified today" -> "which files under /home were modified today?"."""
    m = re.match(r"^(find|list|display|show|print|search for|locate|get|output|report) "
                 r"(?:all |the |only |all the |every )?(?:regular |normal |regular/normal |)(.+)$", vp)
    if not m:
        return None
    obj = m.group(2)
    words = obj.split(" ")
    noun = words[0]
    rest = words[1:]
    if noun in PLURAL_NOUNS or noun in SINGULAR_NOUNS:
        plural = noun in PLURAL_NOUNS
        for j, w in enumerate(rest):
            lw = w.lower()
            if lw in ("that", "which") and j + 1 < len(rest):
                out = rest[:j] + rest[j + 1:]
                return f"which {noun} " + " ".join(out)
            if lw in PAST:
                aux = "were" if plural else "was"
                return f"which {noun} " + " ".join(rest[:j] + [aux] + rest[j:])
            if lw in STATE:
                aux = "are" if plural else "is"
                return f"which {noun} " + " ".join(rest[:j] + [aux] + rest[j:])
            if lw in ("containing", "matching", "belonging"):
                verb = {"containing": "contain", "matching": "match", "belonging": "belong"}[lw]
                if not plural:
                    verb += "es" if verb.endswith("ch") else "s"
                return f"which {noun} " + " ".join(rest[:j] + [verb] + rest[j + 1:])
            if j == 0 and lw.endswith("ing") and len(lw) > 5 and not plural:
                lead = "what program is " if noun in ("process", "program") and rng.random() < 0.5 else None
                if lead:
                    return lead + " ".join(rest[j:])
                return f"which {noun} is " + " ".join(rest[:j] + rest[j:])
        return None
    if m.group(1) in ("find", "locate", "search for") and re.match(r"^(the )?(file|directory|folder) ", obj):
        return "where is " + ("" if obj.startswith("the ") else "the ") + obj
    p = re.match(r"^(?:full |absolute )?path (?:of|to) (?:the )?(?:command|program|executable|binary) (\S+)(.*)$", obj)
    if p:
        return rng.choice(["where is {} installed", "where does {} live", "where is the {} binary"]).format(p.group(1))
    return None


def typo(text, rng):
    words = text.split(" ")
    cands = [k for k, w in enumerate(words) if w.lower() in MISSPELL]
    if cands and rng.random() < 0.6:
        k = rng.choice(cands)
        words[k] = MISSPELL[words[k].lower()]
        return " ".join(words)
    cands = [k for k, w in enumerate(words) if w.isalpha() and len(w) >= 5]
    if not cands:
        return text
    k = rng.choice(cands)
    w = words[k]
    j = rng.randrange(1, len(w) - 1)
    kind = rng.random()
    if kind < 0.4:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    elif kind < 0.7:
        w = w[:j] + w[j + 1:]
    else:
        w = w[:j] + w[j] + w[j:]
    words[k] = w
    return " ".join(words)


def rephrase(desc, rng):
    d = clean(desc)
    vp, is_verb = verb_phrase(d, rng)
    question = True
    text = None
    if is_verb and rng.random() < 0.3:
        text = which_question(vp, rng)
    if text is None:
        if is_verb:
            if rng.random() < 0.12:
                vp += rng.choice(TAILS)
            if rng.random() < 0.62:
                text = rng.choice(ASK).format(vp=vp)
            else:
                text = rng.choice(TELL).format(vp=vp)
                question = False
        else:
            text = rng.choice(["bash: {vp}", "linux: {vp}", "in the shell: {vp}", "how to do this in bash: {vp}",
                               "{vp} - how?", "need help with this: {vp}", "shell question: {vp}"]).format(vp=vp)
            question = False
    if rng.random() < 0.08:
        text = rng.choice(LEADS) + text
    r = rng.random()
    if question:
        text += "?" if r < 0.6 else ("??" if r < 0.64 else ("" if r < 0.97 else " pls"))
    else:
        text += "." if r < 0.25 else ("" if r < 0.93 else (" thanks" if r < 0.97 else " please"))
    if rng.random() < 0.18:
        text = text.lower()
    elif rng.random() < 0.15:
        text = text[:1].upper() + text[1:]
    if rng.random() < 0.07:
        text = typo(text, rng)
    return text


def command_row(cmd, rng):
    r = rng.random()
    if r < 0.55:
        return cmd
    return rng.choice([
        "what does this do: {c}", "What does this do: {c}", "what does `{c}` do?", "explain {c}",
        "explain this command: {c}", "can someone explain this?\n{c}", "{c}\nwhat does this do",
        "what does this command do\n{c}", "is this safe to run? {c}", "{c}\n\nexplain please",
        "found this in a script, what does it mean: {c}", "break this down for me: {c}",
    ]).format(c=cmd)


def main():
    rng = random.Random(SEED)
    lines = (ROUTING / "raw/nl2bash-train.tsv").read_text(encoding="utf-8").splitlines()
    pairs = [l.split("\t", 1) for l in lines if l and not l.startswith("#")]
    raw_desc = {p[0].strip() for p in pairs}
    order = list(range(len(pairs)))
    rng.shuffle(order)
    rows, seen = [], {check.fold(d) for d in raw_desc}
    k = 0
    while len(rows) < N_DESCRIPTIONS:
        desc = pairs[order[k]][0]
        k += 1
        text = rephrase(desc, rng)
        if check.fold(text) in seen or held_out_hit(text):
            continue
        seen.add(check.fold(text))
        rows.append(("code", text))
    n_cmd = 0
    for idx in order[k:]:
        if n_cmd == N_COMMANDS:
            break
        cmd = pairs[idx][1].strip() if len(pairs[idx]) > 1 else ""
        if not cmd or len(cmd) > 300:
            continue
        text = command_row(cmd, rng)
        if check.fold(text) in seen or held_out_hit(text):
            continue
        seen.add(check.fold(text))
        rows.append(("code", text))
        n_cmd += 1
    return write_train("en-nl2bash-asked", rows)


if __name__ == "__main__":
    print(*main())
