#!/usr/bin/env python3
"""A scripted editor session against llm-router-lsp over stdio (Python 3.11, standard library only).

It plays the editor: starts the server, opens a file, asks for code actions on a line,
executes "Explain command" on one line and "Generate script" on another (one after the
other), and answers what the server asks of an editor:

  window/workDoneProgress/create  -> null
  workspace/applyEdit             -> applied to its own copy of the buffer (UTF-16 positions),
                                     didChange with the full text, then {"applied": true}
  window/showMessageRequest       -> the action titled --consent (default "Continue")
  workspace/configuration         -> null for each item

Then it checks what an editor user would see: the edit arrived, Explain's comment lines sit
directly above the explained line (each starting with the comment character), Generate's
lines directly after the description, every other line unchanged, `$/progress`
begin/report/end arrived, and the closing window/showMessage names the model.

Usage:
  python3 scripts/lsp_session.py --server target/release/llm-router-lsp [--config FILE] \\
      --file scripts/sample.sh --explain-line 6 --generate-line 8 [--verbose] [--json-result OUT]

Line numbers are 1-based, as an editor shows them, and refer to the file as given (the
Generate line is followed when Explain's comments push it down).

Exit status: 0 every check passed; 1 an expected edit did not arrive within --timeout or a
check failed; 2 usage error, or the server could not be started or initialised.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

CMD_EXPLAIN = "llm-router.explain"
CMD_GENERATE = "llm-router.generate"
CONSENT_TITLES = [("Continue", "Fortfahren"), ("Use fast model", "Schnelles Modell verwenden"),
                  ("Cancel", "Abbrechen")]
MESSAGE_TYPES = {1: "error", 2: "warning", 3: "info", 4: "log", 5: "debug"}
LANGUAGE_IDS = {
    ".sh": "shellscript",
    ".bash": "shellscript",
    ".zsh": "shellscript",
    ".py": "python",
    ".rs": "rust",
    ".js": "javascript",
    ".ts": "typescript",
    ".go": "go",
    ".lua": "lua",
}
COMMENT_PREFIX = {"shellscript": "#", "python": "#", "rust": "//", "javascript": "//", "typescript": "//",
                  "go": "//", "lua": "--"}


class SessionError(Exception):
    """The session cannot go on (server died, no answer to a request)."""


# --- UTF-16 positions -----------------------------------------------------------------------

def utf16_len(s: str) -> int:
    return sum(2 if ord(c) > 0xFFFF else 1 for c in s)


def utf16_to_index(line: str, character: int) -> int:
    """The str index of a UTF-16 column in `line` (clamped to the line's end)."""
    units = 0
    for i, c in enumerate(line):
        if units >= character:
            return i
        units += 2 if ord(c) > 0xFFFF else 1
    return len(line)


def split_lines_keepends(text: str) -> list[str]:
    """Lines with their breaks, the last one possibly empty (as LSP counts lines)."""
    lines = text.splitlines(keepends=True)
    # LSP line breaks are \n, \r\n and \r only; str.splitlines knows more (\x0c, \u2028, ...).
    out: list[str] = []
    for piece in lines:
        if out and not out[-1].endswith(("\n", "\r")):
            out[-1] += piece
        else:
            out.append(piece)
    if not out or out[-1].endswith(("\n", "\r")):
        out.append("")
    return out


def strip_break(line: str) -> str:
    return line.rstrip("\r\n")


def position_to_offset(text: str, line: int, character: int) -> int:
    lines = split_lines_keepends(text)
    if line >= len(lines):
        return len(text)
    offset = sum(len(l) for l in lines[:line])
    return offset + utf16_to_index(strip_break(lines[line]), character)


def same_uri(a: str | None, b: str) -> bool:
    """URIs equal up to percent-encoding (`%C3%A4` and `ä`, `%3A` and `:`)."""
    return a is not None and unquote(a) == unquote(b)


# --- The buffer: the editor's copy of the document ------------------------------------------

@dataclass
class Buffer:
    """The document as this client holds it, with where each line came from.

    `origin[i]` is the line of the original file that line i still is, or None for a line
    some edit inserted. An edit that changes an original line marks `damaged`.
    """

    uri: str
    text: str
    version: int = 1
    origin: list[int | None] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.original_lines = [strip_break(l) for l in split_lines_keepends(self.text)]
        self.origin = list(range(len(self.original_lines)))

    def lines(self) -> list[str]:
        return [strip_break(l) for l in split_lines_keepends(self.text)]

    def line_of_original(self, original: int) -> int:
        return self.origin.index(original)

    def apply(self, edits: list[dict]) -> list[int]:
        """Applies text edits (LSP TextEdit, UTF-16 positions); returns the indices of the
        lines they inserted, in the buffer as it is afterwards."""
        # Apply from the end so earlier positions stay valid; for equal starts, keep the
        # order the server gave (LSP: inserts at one position apply in array order).
        indexed = list(enumerate(edits))
        indexed.sort(key=lambda ie: (ie[1]["range"]["start"]["line"], ie[1]["range"]["start"]["character"], ie[0]),
                     reverse=True)
        inserted_marker = object()
        origin: list[Any] = list(self.origin)
        for _, edit in indexed:
            r = edit["range"]
            new_text = edit.get("newText", "")
            lines = split_lines_keepends(self.text)
            sl, sc, el, ec = r["start"]["line"], r["start"]["character"], r["end"]["line"], r["end"]["character"]
            start = position_to_offset(self.text, sl, sc)
            end = position_to_offset(self.text, el, ec)
            if end < start:
                raise SessionError(f"edit with end before start: {r}")
            pure_insert = start == end
            if not pure_insert:
                self.damaged.append(f"edit replaces text at {r}: {self.text[start:end]!r}")
            self.text = self.text[:start] + new_text + self.text[end:]
            # Line bookkeeping: lines sl..el become the lines of prefix + new_text + suffix.
            sl_c, el_c = min(sl, len(lines) - 1), min(el, len(lines) - 1)
            prefix = lines[sl_c][: utf16_to_index(strip_break(lines[sl_c]), sc)]
            suffix = strip_break(lines[el_c])[utf16_to_index(strip_break(lines[el_c]), ec):]
            new_lines = [strip_break(l) for l in split_lines_keepends(prefix + new_text + suffix)]
            replaced = origin[sl_c: el_c + 1]
            fresh: list[Any] = [inserted_marker] * len(new_lines)
            if pure_insert:
                keeper = replaced[0]
                if prefix == "" and (new_text.endswith(("\n", "\r")) or new_text == ""):
                    fresh[-1] = keeper  # inserted before the line: the line is the last one
                elif suffix == "" and new_text.startswith(("\n", "\r")):
                    fresh[0] = keeper  # inserted after the line's end: the line is the first one
                elif new_text:
                    self.damaged.append(f"insertion inside line {sl} at column {sc}: {new_text!r}")
                    fresh = [None] * len(new_lines)
            else:
                fresh = [None] * len(new_lines)
            origin[sl_c: el_c + 1] = fresh
        self.version += 1
        inserted = [i for i, o in enumerate(origin) if o is inserted_marker]
        self.origin = [None if o is inserted_marker else o for o in origin]
        return inserted

    def intact(self) -> bool:
        """The buffer with the inserted lines removed equals the original."""
        kept = [l for l, o in zip(self.lines(), self.origin) if o is not None]
        return not self.damaged and kept == self.original_lines and \
            [o for o in self.origin if o is not None] == list(range(len(self.original_lines)))


# --- The connection -------------------------------------------------------------------------

@dataclass
class Job:
    """What one executed command produced."""

    task: str
    command: str
    original_line: int  # 0-based, in the original file
    line_at_start: int = -1  # 0-based, in the buffer when the command was sent
    action_title: str = ""
    token: Any = None
    progress: list[dict] = field(default_factory=list)
    edits: list[dict] = field(default_factory=list)  # {"lines": [...], "inserted_at": [...]}
    messages: list[dict] = field(default_factory=list)
    logs: list[dict] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    timed_out: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def progress_kinds(self) -> list[str]:
        return [p.get("kind", "") for p in self.progress]


class LspSession:
    def __init__(self, server: list[str], *, consent: str, verbose: bool, stderr_path: str, env: dict | None = None):
        self.verbose = verbose
        self.consent = consent
        self.stderr_file = open(stderr_path, "wb")
        self.stderr_path = stderr_path
        self.proc = subprocess.Popen(server, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr_file, env=env)
        self.write_lock = threading.Lock()
        self.state_lock = threading.RLock()
        self.next_id = 1
        self.pending: dict[int, queue.Queue] = {}
        self.buffer: Buffer | None = None
        self.language_id = "shellscript"
        self.job: Job | None = None
        self.unassigned_messages: list[dict] = []
        self.progress_tokens: dict[str, Job] = {}
        self.closed = threading.Event()
        self.print_lock = threading.RLock()
        self.tty = sys.stdout.isatty()
        self.status_shown = False
        self.status_unprinted = ""
        self.status_printed = 0.0
        self.last_report: str | None = None
        self.reader = threading.Thread(target=self._read_loop, name="lsp-reader", daemon=True)
        self.reader.start()

    # -- transcript --
    def say(self, text: str) -> None:
        """A transcript line (with --verbose); closes a pending status line first."""
        if not self.verbose:
            return
        with self.print_lock:
            if self.tty and self.status_shown:
                sys.stdout.write("\n")
            elif not self.tty and self.status_unprinted:
                sys.stdout.write(self.status_unprinted + "\n")
            self.status_shown = False
            self.status_unprinted = ""
            print(text, flush=True)

    def status(self, text: str) -> None:
        """A line that keeps changing (text received so far): rewritten in place on a
        terminal; elsewhere printed at most every 5 s, and its last value before the next line."""
        if not self.verbose:
            return
        with self.print_lock:
            now = time.monotonic()
            if self.tty:
                sys.stdout.write("\r" + text + "\033[K")
                self.status_shown = True
            elif not self.status_shown or now - self.status_printed >= 5.0:
                sys.stdout.write(text + "\n")
                self.status_shown = True
                self.status_printed = now
                self.status_unprinted = ""
            else:
                self.status_unprinted = text
            sys.stdout.flush()

    # -- framing --
    def _send(self, message: dict) -> None:
        message = {"jsonrpc": "2.0", **message}
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        with self.write_lock:
            if self.proc.stdin is None or self.proc.poll() is not None:
                raise SessionError("the server has exited")
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()

    def _read_message(self) -> dict | None:
        stream = self.proc.stdout
        assert stream is not None
        length = None
        while True:
            header = stream.readline()
            if not header:
                return None
            header = header.strip()
            if not header:
                if length is None:
                    continue
                break
            name, _, value = header.decode("ascii", "replace").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = stream.read(length)
        if len(body) < length:
            return None
        return json.loads(body.decode("utf-8"))

    def _read_loop(self) -> None:
        try:
            while True:
                message = self._read_message()
                if message is None:
                    break
                try:
                    self._dispatch(message)
                except Exception as e:  # a bug here must not hang the session silently
                    print(f"lsp_session: error handling {json.dumps(message)[:300]}: {e!r}", file=sys.stderr)
        finally:
            self.closed.set()
            for q in list(self.pending.values()):
                q.put({"error": {"code": -1, "message": "the server closed the connection"}})
            with self.state_lock:
                if self.job is not None:
                    self.job.done.set()

    # -- requests from the client --
    def request(self, method: str, params: Any, timeout: float = 30.0) -> Any:
        with self.state_lock:
            rid = self.next_id
            self.next_id += 1
            q: queue.Queue = queue.Queue()
            self.pending[rid] = q
        self._send({"id": rid, "method": method, "params": params})
        try:
            reply = q.get(timeout=timeout)
        except queue.Empty:
            raise SessionError(f"no answer to {method} within {timeout:.0f} s") from None
        finally:
            self.pending.pop(rid, None)
        if "error" in reply:
            raise SessionError(f"{method} failed: {json.dumps(reply['error'], ensure_ascii=False)}")
        return reply.get("result")

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    # -- what the server sends --
    def _dispatch(self, m: dict) -> None:
        if "id" in m and "method" not in m:
            q = self.pending.get(m["id"])
            if q is not None:
                q.put(m)
            return
        method = m.get("method", "")
        params = m.get("params") or {}
        if "id" in m:
            self._answer_request(m["id"], method, params)
        else:
            self._on_notification(method, params)

    def _answer_request(self, rid: Any, method: str, params: dict) -> None:
        if method == "window/workDoneProgress/create":
            with self.state_lock:
                if self.job is not None:
                    self.job.token = params.get("token")
                    self.progress_tokens[json.dumps(params.get("token"))] = self.job
            self._send({"id": rid, "result": None})
        elif method == "workspace/applyEdit":
            self._send({"id": rid, "result": self._apply_edit(params)})
        elif method == "window/showMessageRequest":
            actions = [a.get("title") for a in params.get("actions") or []]
            # The title as configured, or its translation (the server speaks German too).
            wanted = next((group for group in CONSENT_TITLES if self.consent in group), (self.consent,))
            pick = next((a for a in actions if a in wanted), None)
            self.say(f"  ? {MESSAGE_TYPES.get(params.get('type'), '?')}: {params.get('message', '')!r}")
            self.say(f"    choices {actions}; answering {pick!r}")
            with self.state_lock:
                if self.job is not None:
                    self.job.messages.append({"request": True, **params, "answer": pick})
            self._send({"id": rid, "result": {"title": pick} if pick else None})
        elif method == "workspace/configuration":
            self._send({"id": rid, "result": [None for _ in params.get("items", [])]})
        elif method in ("client/registerCapability", "client/unregisterCapability",
                        "workspace/codeLens/refresh", "workspace/inlayHint/refresh",
                        "workspace/semanticTokens/refresh", "workspace/diagnostic/refresh"):
            self._send({"id": rid, "result": None})
        else:
            self.say(f"  ! unexpected request {method}")
            self._send({"id": rid, "error": {"code": -32601, "message": f"unhandled: {method}"}})

    def _apply_edit(self, params: dict) -> dict:
        edit = params.get("edit") or {}
        with self.state_lock:
            buf = self.buffer
            job = self.job
            if buf is None:
                return {"applied": False, "failureReason": "no document is open"}
            text_edits: list[dict] = []
            for change in edit.get("documentChanges") or []:
                if "kind" in change:
                    return {"applied": False, "failureReason": f"resource operation {change['kind']} not supported"}
                doc = change.get("textDocument") or {}
                if not same_uri(doc.get("uri"), buf.uri):
                    return {"applied": False, "failureReason": f"unknown document {doc.get('uri')}"}
                if doc.get("version") is not None and doc["version"] != buf.version:
                    return {"applied": False,
                            "failureReason": f"version {doc['version']} is not the buffer's {buf.version}"}
                text_edits.extend(change.get("edits") or [])
            for uri, edits in (edit.get("changes") or {}).items():
                if not same_uri(uri, buf.uri):
                    return {"applied": False, "failureReason": f"unknown document {uri}"}
                text_edits.extend(edits)
            if not text_edits:
                return {"applied": False, "failureReason": "the edit changes nothing"}
            try:
                inserted = buf.apply(text_edits)
            except SessionError as e:
                return {"applied": False, "failureReason": str(e)}
            lines = buf.lines()
            if job is not None:
                job.edits.append({"raw": text_edits, "inserted_at": inserted,
                                  "lines": [lines[i] for i in inserted], "version": buf.version})
            where = f"lines {line_ranges(inserted)}" if inserted else "no new lines"
            self.say(f"  ← workspace/applyEdit: {len(text_edits)} edit(s), {len(inserted)} line(s) inserted ({where})")
            # As an editor does: the document changed, tell the server (full text).
            self.notify("textDocument/didChange", {
                "textDocument": {"uri": buf.uri, "version": buf.version},
                "contentChanges": [{"text": buf.text}],
            })
        return {"applied": True}

    def _on_notification(self, method: str, params: dict) -> None:
        if method == "$/progress":
            value = params.get("value") or {}
            with self.state_lock:
                job = self.progress_tokens.get(json.dumps(params.get("token")))
                if job is not None:
                    job.progress.append({**value, "t": time.monotonic()})
            kind = value.get("kind")
            if kind == "begin":
                self.say(f"  ← progress begin: {value.get('title', '')} — {value.get('message', '')}")
            elif kind == "report":
                msg = value.get("message", "")
                if msg.endswith("characters received"):
                    self.status(f"  ← progress: {msg}")
                elif msg != self.last_report:
                    self.say(f"  ← progress: {msg}")
                self.last_report = msg
            elif kind == "end":
                self.say(f"  ← progress end: {value.get('message', '')}")
        elif method == "window/showMessage":
            entry = {"type": MESSAGE_TYPES.get(params.get("type"), str(params.get("type"))),
                     "message": params.get("message", "")}
            self.say(f"  ← showMessage [{entry['type']}]: {entry['message']}")
            with self.state_lock:
                job = self.job
                if job is None:
                    self.unassigned_messages.append(entry)
                    return
                job.messages.append(entry)
                # The closing message comes after the progress end (or alone without progress).
                if job.token is None or "end" in job.progress_kinds():
                    job.finished = time.monotonic()
                    job.done.set()
        elif method == "window/logMessage":
            entry = {"type": MESSAGE_TYPES.get(params.get("type"), "?"), "message": params.get("message", "")}
            self.say(f"  ← logMessage [{entry['type']}]: {entry['message'][:500]}")
            with self.state_lock:
                if self.job is not None:
                    self.job.logs.append(entry)
        elif method in ("textDocument/publishDiagnostics", "telemetry/event", "$/logTrace"):
            pass
        else:
            self.say(f"  ← {method}: {json.dumps(params, ensure_ascii=False)[:200]}")

    # -- lifecycle --
    def initialize(self, root: Path) -> dict:
        params = {
            "processId": os.getpid(),
            "clientInfo": {"name": "lsp_session.py", "version": "1"},
            "rootUri": root.as_uri(),
            "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
            "capabilities": {
                "general": {"positionEncodings": ["utf-16"]},
                "window": {
                    "workDoneProgress": True,
                    "showMessage": {"messageActionItem": {"additionalPropertiesSupport": False}},
                },
                "workspace": {
                    "applyEdit": True,
                    "workspaceEdit": {"documentChanges": True, "failureHandling": "abort"},
                    "configuration": True,
                    "executeCommand": {"dynamicRegistration": False},
                },
                "textDocument": {
                    "synchronization": {"didSave": False, "dynamicRegistration": False},
                    "codeAction": {
                        "codeActionLiteralSupport": {
                            "codeActionKind": {"valueSet": ["", "quickfix", "refactor", "refactor.rewrite"]},
                        },
                    },
                },
            },
        }
        result = self.request("initialize", params, timeout=30)
        self.notify("initialized", {})
        return result

    def open(self, path: Path, text: str) -> Buffer:
        self.language_id = LANGUAGE_IDS.get(path.suffix, "plaintext")
        with self.state_lock:
            self.buffer = Buffer(uri=path.resolve().as_uri(), text=text)
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": self.buffer.uri, "languageId": self.language_id, "version": self.buffer.version, "text": text}})
        return self.buffer

    def run_action(self, task: str, command: str, original_line: int, timeout: float) -> Job:
        """Requests the code actions on a whole line, executes the one for `command`, waits
        for the closing message."""
        buf = self.buffer
        assert buf is not None
        with self.state_lock:
            line = buf.line_of_original(original_line)
            text = buf.lines()[line]
            job = Job(task=task, command=command, original_line=original_line, line_at_start=line)
        rng = {"start": {"line": line, "character": 0}, "end": {"line": line, "character": utf16_len(text)}}
        self.say(f"\n→ textDocument/codeAction on line {line + 1}: {text!r}")
        actions = self.request("textDocument/codeAction", {
            "textDocument": {"uri": buf.uri}, "range": rng,
            "context": {"diagnostics": [], "triggerKind": 1}}) or []
        for a in actions:
            self.say(f"  ← action: {a.get('title')!r} ({(a.get('command') or {}).get('command', a.get('command'))})")
        chosen = next((a for a in actions if (a.get("command") or {}).get("command") == command
                       or a.get("command") == command), None)
        if chosen is None:
            raise SessionError(f"no code action runs {command} on line {line + 1}; got {[a.get('title') for a in actions]}")
        cmd = chosen["command"] if isinstance(chosen.get("command"), dict) else chosen
        job.action_title = chosen.get("title", "")
        with self.state_lock:
            self.job = job
        job.started = time.monotonic()
        self.say(f"→ workspace/executeCommand {cmd['command']} ({job.action_title!r})")
        result = self.request("workspace/executeCommand",
                              {"command": cmd["command"], "arguments": cmd.get("arguments", [])}, timeout=30)
        answered = time.monotonic() - job.started
        self.say(f"  ← executeCommand answered in {answered * 1000:.0f} ms: {json.dumps(result)}")
        job.__dict__["execute_answer_s"] = answered
        if not job.done.wait(timeout):
            job.timed_out = True
            self.say(f"  ! no closing message within {timeout:.0f} s; cancelling the job")
            # As a user would: cancel it, so that its late answer is not taken for the next one's.
            try:
                if job.token is not None:
                    self.notify("window/workDoneProgress/cancel", {"token": job.token})
                else:
                    self.request("workspace/executeCommand",
                                 {"command": "llm-router.cancel", "arguments": [{"uri": buf.uri}]}, timeout=10)
            except SessionError as e:
                self.say(f"  ! cancelling failed: {e}")
            if not job.done.wait(30):
                self.say("  ! the job did not end within 30 s of the cancel")
        if self.closed.is_set() and not job.finished:
            self.say("  ! the server closed the connection")
        with self.state_lock:
            self.job = None
        return job

    def shutdown(self) -> int | None:
        try:
            if not self.closed.is_set():
                self.request("shutdown", None, timeout=10)
                self.notify("exit", None)
        except SessionError:
            pass
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self.stderr_file.close()


# --- Checks ---------------------------------------------------------------------------------

def job_inserted_now(buf: Buffer, job: Job) -> list[int]:
    """The job's inserted lines in the final buffer: the lines its edits added, found by the
    line they were attached to (their positions move when a later job inserts above them)."""
    # The buffer only knows "inserted", not by whom: attribute each inserted run to the job
    # whose anchor line it touches.
    anchor = buf.line_of_original(job.original_line)
    runs: list[int] = []
    if job.task == "explain":
        i = anchor - 1
        while i >= 0 and buf.origin[i] is None:
            runs.insert(0, i)
            i -= 1
    else:
        i = anchor + 1
        while i < len(buf.origin) and buf.origin[i] is None:
            runs.append(i)
            i += 1
    return runs


def line_ranges(indices: list[int]) -> str:
    """0-based indices as 1-based ranges: [5, 6, 7, 9] -> "6-8, 10"."""
    out: list[str] = []
    for i in sorted(indices):
        if out and i == prev + 1:
            out[-1] = f"{out[-1].split('-')[0]}-{i + 1}"
        else:
            out.append(str(i + 1))
        prev = i
    return ", ".join(out) or "none"


def check_job(buf: Buffer, job: Job, comment_prefix: str, expect_model: str | None, timeout: float) -> list[dict]:
    checks: list[dict] = []

    def check(name: str, ok: bool, detail: str = "") -> None:
        checks.append({"job": job.task, "check": name, "ok": bool(ok), "detail": detail})

    inserted_lines = [l for e in job.edits for l in e["lines"]]
    if job.edits:
        why = f"{len(job.edits)} applyEdit(s), {len(inserted_lines)} line(s)"
    elif job.timed_out:
        why = f"no workspace/applyEdit within {timeout:.0f} s (then cancelled)"
    elif job.done.is_set():
        why = "the job ended without a workspace/applyEdit"
    else:
        why = f"no workspace/applyEdit within {timeout:.0f} s"
    check("edit arrived", bool(job.edits) and bool(inserted_lines) and not job.timed_out, why)
    if job.edits:
        at_time = job.edits[-1]["inserted_at"]
        contiguous = at_time == list(range(at_time[0], at_time[0] + len(at_time))) if at_time else False
        check("inserted lines are one block", contiguous, f"lines {line_ranges(at_time)}")
        now = job_inserted_now(buf, job)
        anchor = buf.line_of_original(job.original_line)
        if job.task == "explain":
            check("placed directly above the explained line", len(now) == len(inserted_lines) and bool(now),
                  f"{len(now)} comment line(s) directly above line {anchor + 1}, {len(inserted_lines)} inserted")
            bad = [l for l in inserted_lines if not l.lstrip().startswith(comment_prefix)]
            check(f"every inserted line starts with {comment_prefix!r}", not bad, f"not comments: {bad[:3]}" if bad else "")
        else:
            check("placed directly after the description line", len(now) == len(inserted_lines) and bool(now),
                  f"{len(now)} line(s) directly after line {anchor + 1}, {len(inserted_lines)} inserted")
            check("generated code is not empty", any(l.strip() for l in inserted_lines))
    kinds = job.progress_kinds()
    reports = [p for p in job.progress if p.get("kind") == "report"]
    streamed = [p for p in reports if "characters received" in (p.get("message") or "")]
    check("progress begin/report/end", job.token is not None and kinds[:1] == ["begin"] and kinds[-1:] == ["end"]
          and bool(reports), f"token {job.token!r}: {len(kinds)} notification(s), {len(reports)} report(s)")
    check("streaming seen (reports of text received)", bool(streamed), f"{len(streamed)} report(s)")
    closing = [m for m in job.messages if not m.get("request")]
    last = closing[-1] if closing else None
    check("closing window/showMessage", last is not None and last["type"] == "info",
          f"[{last['type']}] {last['message']}" if last else "none")
    if expect_model:
        check(f"closing message names {expect_model}", last is not None and expect_model in last["message"],
              last["message"] if last else "")
    return checks


def numbered(text: str, inserted: set[int]) -> str:
    lines = [strip_break(l) for l in split_lines_keepends(text)]
    if lines and lines[-1] == "" and text.endswith(("\n", "\r")):
        lines.pop()
    width = len(str(len(lines)))
    return "\n".join(f"{'+' if i in inserted else ' '}{i + 1:>{width}} | {l}" for i, l in enumerate(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Line numbers are 1-based.")
    p.add_argument("--server", required=True, help="the llm-router-lsp binary")
    p.add_argument("--config", help="config file passed to the server with --config")
    p.add_argument("--file", required=True, type=Path, help="the file to open (a copy is edited in memory only)")
    p.add_argument("--explain-line", type=int, help="run 'Explain command' on this line")
    p.add_argument("--generate-line", type=int, help="run 'Generate script' on this (description) line")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for each action (default 180)")
    p.add_argument("--consent", default="Continue", help="title to pick at a VRAM question (default Continue)")
    p.add_argument("--expect-model", help="check that the closing messages name this model")
    p.add_argument("--server-log", help="keep the server's stderr in this file (default: a temporary file, "
                                        "printed on failure)")
    p.add_argument("--verbose", "-v", action="store_true", help="print the transcript")
    p.add_argument("--json-result", type=Path, help="write what happened and the checks as JSON")
    args = p.parse_args(argv)
    if args.explain_line is None and args.generate_line is None:
        p.error("give --explain-line and/or --generate-line")
    try:
        text = args.file.read_text(encoding="utf-8")
    except OSError as e:
        print(f"lsp_session: cannot read {args.file}: {e}", file=sys.stderr)
        return 2
    n_lines = len(split_lines_keepends(text))
    for name, value in (("--explain-line", args.explain_line), ("--generate-line", args.generate_line)):
        if value is not None and not 1 <= value <= n_lines:
            p.error(f"{name} {value} is outside the file (1-{n_lines})")

    server_cmd = [args.server] + (["--config", args.config] if args.config else []) + ["--stdio"]
    log_path = args.server_log or tempfile.mkstemp(prefix="lsp_session-", suffix=".log")[1]
    t0 = time.monotonic()
    try:
        session = LspSession(server_cmd, consent=args.consent, verbose=args.verbose, stderr_path=log_path)
    except OSError as e:
        print(f"lsp_session: cannot start {args.server}: {e}", file=sys.stderr)
        return 2

    print(f"--- {args.file} before ---\n{numbered(text, set())}\n", flush=True)
    result: dict[str, Any] = {"file": str(args.file), "server": server_cmd, "jobs": [], "checks": []}
    status = 0
    try:
        init = session.initialize(args.file.resolve().parent)
        caps = init.get("capabilities", {})
        result["initialize"] = {"serverInfo": init.get("serverInfo"), "positionEncoding": caps.get("positionEncoding")}
        session.say(f"← initialize: {init.get('serverInfo')} positionEncoding={caps.get('positionEncoding')!r} "
                    f"commands={caps.get('executeCommandProvider', {}).get('commands')}")
        enc = caps.get("positionEncoding", "utf-16")
        result["checks"].append({"job": "-", "check": "position encoding is utf-16", "ok": enc == "utf-16",
                                 "detail": str(enc)})
        buf = session.open(args.file, text)
        time.sleep(0.2)  # let a config error shown after `initialized` arrive before the first job
        for m in session.unassigned_messages:
            print(f"lsp_session: the server said [{m['type']}]: {m['message']}", file=sys.stderr)
        plan = []
        if args.explain_line is not None:
            plan.append(("explain", CMD_EXPLAIN, args.explain_line - 1))
        if args.generate_line is not None:
            plan.append(("generate", CMD_GENERATE, args.generate_line - 1))
        jobs: list[Job] = []
        for task, command, line in plan:
            job = session.run_action(task, command, line, args.timeout)
            jobs.append(job)
        prefix = COMMENT_PREFIX.get(session.language_id, "#")
        for job in jobs:
            result["checks"].extend(check_job(buf, job, prefix, args.expect_model, args.timeout))
        result["checks"].append({"job": "-", "check": "rest of the buffer intact", "ok": buf.intact(),
                                 "detail": "; ".join(buf.damaged) or
                                 "the buffer without the inserted lines equals the original"})
        inserted = {i for i, o in enumerate(buf.origin) if o is None}
        print(f"\n--- {args.file} after ({len(inserted)} line(s) inserted, marked +) ---\n"
              f"{numbered(buf.text, inserted)}\n", flush=True)
        for job in jobs:
            reports = [p.get("message") for p in job.progress if p.get("kind") == "report"]
            result["jobs"].append({
                "task": job.task, "command": job.command, "action_title": job.action_title,
                "line": job.original_line + 1, "line_at_start": job.line_at_start + 1,
                "token": job.token, "execute_answer_s": job.__dict__.get("execute_answer_s"),
                "seconds": round((job.finished or time.monotonic()) - job.started, 2),
                "progress": [{k: v for k, v in p.items() if k != "t"} for p in job.progress],
                "routing": [r for r in reports if r and "characters received" not in r],
                "edits": [{"inserted_at": [i + 1 for i in e["inserted_at"]], "lines": e["lines"], "raw": e["raw"]}
                          for e in job.edits],
                "messages": job.messages, "logs": job.logs,
            })
        result["final_text"] = buf.text
    except SessionError as e:
        print(f"lsp_session: {e}", file=sys.stderr)
        result["error"] = str(e)
        status = 2 if not result["jobs"] and "initialize" not in result else 1
    finally:
        code = session.shutdown()
        result["server_exit"] = code
        result["seconds"] = round(time.monotonic() - t0, 2)

    print("checks:")
    for c in result["checks"]:
        print(f"  [{'ok' if c['ok'] else 'FAIL'}] {c['job']}: {c['check']}" + (f" ({c['detail']})" if c["detail"] else ""))
    if any(not c["ok"] for c in result["checks"]) and status == 0:
        status = 1
    if "error" in result and status == 0:
        status = 1
    if code not in (0, None):
        print(f"lsp_session: the server exited with status {code}", file=sys.stderr)
    if status != 0:
        try:
            tail = Path(log_path).read_text(errors="replace")[-4000:]
        except OSError:
            tail = ""
        if tail.strip():
            print(f"--- server stderr (tail, {log_path}) ---\n{tail}", file=sys.stderr)
    elif not args.server_log:
        try:
            os.unlink(log_path)
        except OSError:
            pass
    if args.json_result:
        args.json_result.parent.mkdir(parents=True, exist_ok=True)
        args.json_result.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"lsp_session: {'passed' if status == 0 else 'FAILED'} in {result['seconds']:.1f} s", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
