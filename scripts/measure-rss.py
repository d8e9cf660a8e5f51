#!/usr/bin/env python3
"""Idle memory of the language server: starts it, answers `initialize`, waits, and prints
VmRSS from /proc/PID/status; then opens a 10,000-line shell file and prints it again.

    scripts/measure-rss.py [BINARY]   (default target/release/llm-router-lsp)
"""
import json, os, subprocess, sys, tempfile, time

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/llm-router-lsp"

def frame(msg):
    body = json.dumps(msg).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

with tempfile.TemporaryDirectory() as home:
    cfg = os.path.join(home, "config.yaml")
    with open(cfg, "w") as f:
        f.write("backends:\n  local:\n    kind: ollama\n    url: http://127.0.0.1:9\nvram:\n  probe: {kind: none}\n")
    env = {"HOME": home, "XDG_CONFIG_HOME": home, "LANG": "C", "PATH": os.environ.get("PATH", "")}
    started = time.perf_counter()
    p = subprocess.Popen([binary, "--config", cfg], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=env)
    p.stdin.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}))
    p.stdin.flush()
    header = b""
    while not header.endswith(b"\r\n\r\n"):
        header += p.stdout.read(1)
    length = int(header.split(b":")[1].split(b"\r\n")[0])
    p.stdout.read(length)
    answered = time.perf_counter() - started
    p.stdin.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    p.stdin.flush()
    time.sleep(1.0)
    idle = rss_kib(p.pid)
    text = "".join(f"echo line {i} && ls -la /tmp | grep foo\n" for i in range(10000))
    p.stdin.write(frame({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": "file:///big.sh", "languageId": "shellscript", "version": 1, "text": text}}}))
    p.stdin.flush()
    time.sleep(3.0)
    opened = rss_kib(p.pid)
    p.kill()
    print(f"initialize answered after {answered * 1000:.1f} ms (process start included)")
    print(f"idle RSS after initialize: {idle / 1024:.1f} MiB")
    print(f"after opening a 10,000-line shell file: {opened / 1024:.1f} MiB (+{(opened - idle) / 1024:.1f} MiB)")
