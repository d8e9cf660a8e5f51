//! The language server over its real stdio, against hostile input: thousands of malformed
//! frames and messages, each followed by a valid request that must still be answered, and
//! the exit codes the spec gives. A server that exits, hangs or stops answering fails.

#[path = "support/cli_harness.rs"]
mod cli_harness;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cli_harness::isolated_program;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_llm-router-lsp");
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

struct Server {
    child: Child,
    stdin: ChildStdin,
    messages: mpsc::Receiver<Value>,
    _dir: tempfile::TempDir,
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Reads frames off stdout into a channel; anything that is not a frame fails the test
/// (the server must never write anything else to stdout).
fn read_frames(stdout: ChildStdout, tx: mpsc::Sender<Value>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut length = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("a header line on stdout");
            assert!(name.eq_ignore_ascii_case("content-length"), "unexpected header {line:?}");
            length = Some(value.trim().parse::<usize>().unwrap());
        }
        let mut body = vec![0; length.expect("Content-Length on stdout")];
        reader.read_exact(&mut body).unwrap();
        if tx.send(serde_json::from_slice(&body).expect("JSON on stdout")).is_err() {
            return;
        }
    }
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        // Nothing here calls a model; the backend address only has to be valid.
        std::fs::write(
            &config,
            "backends:\n  local:\n    kind: ollama\n    url: http://127.0.0.1:9\nvram:\n  probe: {kind: none}\n",
        )
        .unwrap();
        let mut cmd: Command = isolated_program(BIN, dir.path());
        cmd.arg("--config").arg(&config).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || read_frames(stdout, tx));
        let mut s = Self { child, stdin, messages, _dir: dir };
        s.request(0, "initialize", json!({"capabilities": {}}));
        s.send(&frame(br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#));
        s
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).expect("the server's stdin is open");
        self.stdin.flush().unwrap();
    }

    /// Sends a request and waits for its answer; other messages (our error replies with
    /// `id: null`, logs) are skipped.
    fn request(&mut self, id: i64, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        self.send(&frame(body.as_bytes()));
        self.answer(id)
    }

    fn answer(&mut self, id: i64) -> Value {
        let deadline = Instant::now() + ANSWER_WITHIN;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(m) if m["id"] == json!(id) => return m,
                Ok(_) => {}
                Err(_) => {
                    let status = self.child.try_wait().unwrap();
                    panic!("no answer to request {id} within {ANSWER_WITHIN:?}; server status {status:?}");
                }
            }
        }
    }

    fn exit_code(mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        None
    }
}

/// xorshift64*: the same hostile input on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const VALID: &str = r#"{"jsonrpc":"2.0","id":77,"method":"textDocument/hover","params":{"textDocument":{"uri":"file:///x"},"position":{"line":0,"character":0}}}"#;

/// One malformed or hostile input, of the kinds that used to end the server.
fn hostile(rng: &mut Rng) -> Vec<u8> {
    let ids = [
        json!({}),
        json!(true),
        json!(1.5),
        serde_json::from_str::<Value>("18446744073709551616").unwrap(),
        json!([1]),
        Value::Null,
    ];
    match rng.below(16) {
        0 => frame(b"{not json"),
        1 => frame(format!("[{VALID}]").as_bytes()),
        2 => frame(br#"{"jsonrpc":"1.0","id":1,"method":"shutdown"}"#),
        3 => frame(br#"{"id":1,"method":"textDocument/hover","params":{}}"#),
        4 => {
            let id = &ids[rng.below(ids.len() as u64) as usize];
            frame(
                json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/hover", "params": {}})
                    .to_string()
                    .as_bytes(),
            )
        }
        5 => frame(br#"{"jsonrpc":"2.0","id":3,"method":null}"#),
        6 => {
            let body = br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
            [format!("content-length: {}\r\n\r\n", body.len()).as_bytes(), body].concat()
        }
        7 => {
            // Announced shorter than it is.
            let body = br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
            [format!("Content-Length: {}\r\n\r\n", body.len() - 5).as_bytes(), body].concat()
        }
        8 => {
            let mut body = b"{\"jsonrpc\":\"2.0\",\"method\":\"".to_vec();
            body.extend_from_slice(&[0xff, 0xfe, 0xc3]);
            body.extend_from_slice(b"\"}");
            frame(&body)
        }
        9 => {
            let body = br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
            [format!("Content-Length: {}\r\nX-Extra: yes\r\n\r\n", body.len()).as_bytes(), body].concat()
        }
        10 => {
            let n = 1 + rng.below(40) as usize;
            let mut garbage = rng.bytes(n);
            // Random bytes, but never a header name of their own.
            garbage.retain(|b| !b"cC".contains(b));
            garbage
        }
        11 => b"Content-Length: 1000000000\r\n\r\n{\"jsonrpc\":\"2.0\"".to_vec(),
        12 => frame(br#"{"jsonrpc":"2.0","id":9,"method":"$/unknownRequest"}"#),
        13 => frame(br#"{"jsonrpc":"2.0","id":10,"method":"textDocument/didOpen","params":7}"#),
        14 => b"Content-Length: abc\r\n\r\n".to_vec(),
        _ => {
            // Random bytes inside a well-framed body.
            let n = rng.below(64) as usize;
            frame(&rng.bytes(n))
        }
    }
}

#[test]
fn no_malformed_input_ends_the_server() {
    let mut s = Server::start();
    let mut rng = Rng(0x00c0_ffee_d00d_f00d);
    let rounds = 2500;
    for round in 0..rounds {
        let input = hostile(&mut rng);
        s.send(&input);
        let id = 1000 + round;
        let body = VALID.replace("\"id\":77", &format!("\"id\":{id}"));
        s.send(&frame(body.as_bytes()));
        let answer = s.answer(id);
        assert!(answer.get("result").is_some() || answer.get("error").is_some(), "round {round}: {answer}");
    }
    let answer = s.request(1, "shutdown", Value::Null);
    assert_eq!(answer["result"], Value::Null, "{answer}");
    s.send(&frame(br#"{"jsonrpc":"2.0","method":"exit"}"#));
    assert_eq!(s.exit_code(Duration::from_secs(10)), Some(0), "exit after shutdown is a clean exit");
}

#[test]
fn malformed_messages_are_answered_as_json_rpc_says() {
    let mut s = Server::start();
    // (input, expected error code, expected id)
    for (input, code, id) in [
        (frame(b"{not json"), -32700, Value::Null),
        (frame(format!("[{VALID}]").as_bytes()), -32600, Value::Null),
        (frame(br#"{"jsonrpc":"1.0","id":5,"method":"shutdown"}"#), -32600, json!(5)),
        (frame(br#"{"jsonrpc":"2.0","id":{},"method":"shutdown"}"#), -32600, Value::Null),
        (frame(br#"{"jsonrpc":"2.0","id":6,"method":"$/unknown"}"#), -32601, json!(6)),
    ] {
        s.send(&input);
        let deadline = Instant::now() + ANSWER_WITHIN;
        let got = loop {
            let m =
                s.messages.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("an error reply");
            if m.get("error").is_some() {
                break m;
            }
        };
        assert_eq!((got["error"]["code"].as_i64(), &got["id"]), (Some(code), &id), "{got}");
    }
    // A message announced larger than the limit is refused at once, not waited for.
    s.send(b"Content-Length: 1000000000\r\n\r\n{");
    let got = s.messages.recv_timeout(ANSWER_WITHIN).expect("a refusal");
    assert!(got["error"]["message"].as_str().unwrap().contains("larger than the limit"), "{got}");
    let answer = s.request(
        2,
        "textDocument/hover",
        json!({"textDocument": {"uri": "file:///x"}, "position": {"line": 0, "character": 0}}),
    );
    assert!(answer.get("result").is_some() || answer.get("error").is_some());
}

#[test]
fn exit_without_shutdown_exits_1() {
    let mut s = Server::start();
    s.send(&frame(br#"{"jsonrpc":"2.0","method":"exit"}"#));
    assert_eq!(s.exit_code(Duration::from_secs(10)), Some(1));
}
