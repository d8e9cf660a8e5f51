#!/usr/bin/env python3
"""Side-by-side latency of llm-router-lsp and lsp-ai 0.7.0 over stdio, against the same
instantly answering fake Ollama (TCP_NODELAY, like real Ollama).

For each case, both servers are driven by this one client, interleaved A B A B: the time
from choosing the action (ours: workspace/executeCommand; lsp-ai: codeAction/resolve, where
it runs the model) to the edit arriving at the client (ours: the workspace/applyEdit
request; lsp-ai: the resolve response). Prints median, min and max per server and the
ratio of the medians. Run through scripts/peer-bench.sh, which builds and installs both.

    scripts/peer-bench.py OURS LSP_AI FAKE_OLLAMA [ROUNDS]

Cases: Generate on a one-line description, Explain on one line (both answered at once),
and Generate with a 300-token answer streamed at 200 tokens/s.
"""
import json, os, statistics, subprocess, sys, tempfile, threading, time, queue

ours_bin, lspai_bin, fake_bin = sys.argv[1:4]
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 20
CODE = "qwen3-coder:30b-q4"
FAST = "llama3.2:11b-vision"
REPLY = "```bash\nfind . -type f -size +100M\n```"


class Client:
    def __init__(self, argv, env, init_options=None):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=env)
        self.q = queue.Queue()
        self.next_id = 1
        threading.Thread(target=self._read, daemon=True).start()
        caps = {"workspace": {"applyEdit": True, "workspaceEdit": {"documentChanges": True}},
                "textDocument": {"codeAction": {"resolveSupport": {"properties": ["edit"]},
                                                "dataSupport": True}}}
        params = {"processId": os.getpid(), "rootUri": None, "capabilities": caps}
        if init_options is not None:
            params["initializationOptions"] = init_options
        self.request("initialize", params)
        self.notify("initialized", {})

    def _read(self):
        out = self.p.stdout
        while True:
            header = b""
            while not header.endswith(b"\r\n\r\n"):
                c = out.read(1)
                if not c:
                    return
                header += c
            n = int([l for l in header.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
            self.q.put((time.perf_counter(), json.loads(out.read(n))))

    def send(self, msg):
        body = json.dumps(msg).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.p.stdin.flush()

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method, params):
        i = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == i and "method" not in m)[1]

    def wait(self, pred, timeout=30):
        deadline = time.time() + timeout
        while True:
            at, m = self.q.get(timeout=max(0.01, deadline - time.time()))
            if "method" in m and "id" in m and m["method"] != "workspace/applyEdit":
                # Requests from the server (progress tokens, messages): answer at once.
                self.send({"jsonrpc": "2.0", "id": m["id"], "result": None})
            if pred(m):
                return at, m

    def close(self):
        self.p.kill()


def start_fake(streamed=False):
    code = {"name": CODE, "reply": REPLY}
    if streamed:
        # 300 tokens at 200 tokens/s: what the server adds on top of a streamed answer.
        code = {"name": CODE, "reply": "", "chunks": ["```bash\n"] + [f"echo {i}\n" for i in range(298)] + ["```"],
                "chunk_delay_ms": 5}
    scenario = {"models": [{"name": FAST, "reply": "fast"}, code], "loaded": [FAST, CODE]}
    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(scenario, f)
    f.close()
    p = subprocess.Popen([fake_bin, "--scenario", f.name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = p.stdout.readline().strip().split()[-1]
    return p, url


def text_for(case):
    return {"generate": "#!/bin/bash\n# list files larger than 100MB\necho done\n",
            "explain": "#!/bin/bash\ntar -xzvf backup.tar.gz -C /opt\necho done\n"}[case]


def ours(url, home):
    cfg = os.path.join(home, "ours.yaml")
    with open(cfg, "w") as f:
        f.write(f"backends:\n  local:\n    kind: ollama\n    url: \"{url}\"\nvram:\n  probe: {{kind: none}}\nlsp:\n  preload: false\n")
    env = {"HOME": home, "XDG_CONFIG_HOME": home, "LANG": "C", "PATH": os.environ["PATH"]}
    return Client([ours_bin, "--config", cfg], env)


def lspai(url, case):
    prompt = {"generate": "Write a shell script for: {CODE}", "explain": "Explain this command: {CODE}"}[case]
    options = {
        "memory": {"file_store": {}},
        "models": {"m": {"type": "ollama", "model": CODE, "chat_endpoint": f"{url}/api/chat",
                         "generate_endpoint": f"{url}/api/generate"}},
        "actions": [{"action_display_name": "Run", "model": "m",
                     "parameters": {"max_context": 4096, "messages": [{"role": "user", "content": prompt}]},
                     "post_process": {"extractor": "(?s)```\\w*\\n(.*?)```"}}],
    }
    env = {"HOME": tempfile.mkdtemp(), "PATH": os.environ["PATH"]}
    return Client([lspai_bin], env, options)


def open_with_actions(c, case, n):
    """Opens a fresh document for round n and returns the code actions on its second line."""
    uri = f"file:///bench/{case}{n}.sh"
    c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "shellscript", "version": 1,
                                                       "text": text_for(case)}})
    rng = {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 30}}
    actions = c.request("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": rng,
                                                   "context": {"diagnostics": []}})["result"]
    return actions


def time_ours(c, case, n):
    actions = open_with_actions(c, case, n)
    title = {"generate": "Generate script", "explain": "Explain command"}[case]
    action = next(a for a in actions if a["title"].startswith(title))
    cmd = action.get("command", action)
    start = time.perf_counter()
    c.send({"jsonrpc": "2.0", "id": 10_000 + n, "method": "workspace/executeCommand",
            "params": {"command": cmd["command"], "arguments": cmd.get("arguments", [])}})
    at, m = c.wait(lambda m: m.get("method") == "workspace/applyEdit")
    c.send({"jsonrpc": "2.0", "id": m["id"], "result": {"applied": True}})
    c.wait(lambda m: m.get("method") == "window/showMessage")
    return at - start


def time_lspai(c, case, n):
    actions = open_with_actions(c, case, n)
    action = actions[0]
    start = time.perf_counter()
    i = c.next_id
    c.next_id += 1
    c.send({"jsonrpc": "2.0", "id": i, "method": "codeAction/resolve", "params": action})
    at, m = c.wait(lambda m: m.get("id") == i and "method" not in m)
    assert "edit" in (m.get("result") or {}), m
    return at - start


def stats(xs):
    ms = [x * 1000 for x in xs]
    return statistics.median(ms), min(ms), max(ms)


home = tempfile.mkdtemp()
shellcheck = subprocess.run(["sh", "-c", "command -v shellcheck"], capture_output=True).returncode == 0
print(f"peer bench: {rounds} rounds per case, interleaved; shellcheck "
      f"{'installed' if shellcheck else 'not installed'}")
print(f"{'case':<10} {'llm-router-lsp median (min-max)':<34} {'lsp-ai 0.7.0 median (min-max)':<34} ratio")
for name, case, streamed in [("generate", "generate", False), ("explain", "explain", False),
                             ("streamed", "generate", True)]:
    fake, url = start_fake(streamed)
    a, b = ours(url, home), lspai(url, case)
    ta, tb = [], []
    for n in range(rounds + 2):
        x, y = time_ours(a, case, n), time_lspai(b, case, n)
        if n >= 2:  # two warm-up rounds
            ta.append(x)
            tb.append(y)
    a.close()
    b.close()
    fake.kill()
    (ma, la, ha), (mb, lb, hb) = stats(ta), stats(tb)
    print(f"{name:<10} {f'{ma:.1f} ms ({la:.1f}-{ha:.1f})':<34} {f'{mb:.1f} ms ({lb:.1f}-{hb:.1f})':<34} {ma / mb:.2f}")
