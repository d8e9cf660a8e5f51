//! The stdio transport in front of tower-lsp-server: it survives any byte sequence.
//!
//! tower-lsp-server 0.23 reads stdin through tokio-util's `FramedRead`, which ends the
//! stream after the first decode error, so one malformed frame (bad JSON, a batch, an id of
//! the wrong type, a lowercase header, garbage before the header, invalid UTF-8) made the
//! server exit while the editor still had it open. Its codec also buffers whatever
//! `Content-Length` announces. So we frame and validate here, and hand tower-lsp-server
//! only well-formed messages, re-framed, over an in-memory pipe:
//!
//! - a malformed message is answered as JSON-RPC says (ParseError or InvalidRequest, with
//!   `id: null` when the id cannot be read), logged once per kind, and skipped;
//! - a frame above the size limit is refused without buffering it;
//! - after a framing error the reader resynchronises on the next `Content-Length` header,
//!   and a body that stalls with another header inside it is cut there, so a wrong length
//!   loses one message, not the connection;
//! - a `$/` request we do not know gets MethodNotFound (tower-lsp-server drops them);
//! - `exit` without `shutdown` ends the process with exit code 1, as the spec says.
//!
//! The server's output goes through one writer that writes whole frames, so our answers
//! never interleave with tower-lsp-server's.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Frames larger than this are refused (the editor's whole-document syncs of large files
/// stay far below it).
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024 * 1024;
/// Header lines longer than this are garbage, not a header.
const MAX_HEADER_LINE: usize = 1024;
/// A body that has received nothing for this long while another frame's header sits in
/// it was announced too long: it is cut at that header.
const STALL: Duration = Duration::from_millis(500);

/// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;

/// How the session ended, for the process's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `exit` after `shutdown`, or the client closed stdin.
    Clean,
    /// `exit` without `shutdown`: exit code 1.
    ExitWithoutShutdown,
}

/// What to do with one decoded message.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Pass it on; the method, for requests and notifications (`shutdown` and `exit` are
    /// tracked here).
    Forward(Option<String>),
    /// Answer the client with this error response and drop the message.
    Reply(Value),
    /// Drop silently (a malformed notification or response: nobody waits for an answer).
    Drop(&'static str),
}

/// The `$/` requests tower-lsp-server answers itself.
const KNOWN_DOLLAR: &[&str] = &["$/cancelRequest", "$/setTrace", "$/logTrace", "$/progress"];

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn valid_id(id: &Value) -> bool {
    match id {
        Value::String(_) => true,
        // tower-lsp-server's ids are i64 or strings; 1.5, 2^64, objects and booleans are not.
        Value::Number(n) => n.as_i64().is_some(),
        _ => false,
    }
}

/// Checks one frame's body as a JSON-RPC 2.0 message of the kind LSP allows.
pub fn judge(body: &[u8]) -> Verdict {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Verdict::Reply(error(Value::Null, PARSE_ERROR, "Parse error: the message is not valid UTF-8 JSON"));
    };
    let Value::Object(map) = &value else {
        let what = if value.is_array() { "batches are not supported by LSP" } else { "a message must be an object" };
        return Verdict::Reply(error(Value::Null, INVALID_REQUEST, &format!("Invalid Request: {what}")));
    };
    let id = map.get("id");
    let id_ok = id.is_some_and(valid_id);
    let reply_id = if id_ok { id.cloned().unwrap_or(Value::Null) } else { Value::Null };
    if map.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return Verdict::Reply(error(reply_id, INVALID_REQUEST, "Invalid Request: \"jsonrpc\" must be \"2.0\""));
    }
    match map.get("method") {
        Some(Value::String(method)) => {
            if let Some(id) = id {
                if !valid_id(id) {
                    return Verdict::Reply(error(
                        Value::Null,
                        INVALID_REQUEST,
                        "Invalid Request: an id must be a string or an integer",
                    ));
                }
                if method.starts_with("$/") && !KNOWN_DOLLAR.contains(&method.as_str()) {
                    return Verdict::Reply(error(id.clone(), METHOD_NOT_FOUND, &format!("Method not found: {method}")));
                }
            }
            if map.get("params").is_some_and(|p| !(p.is_object() || p.is_array() || p.is_null())) {
                return match id {
                    Some(id) => {
                        Verdict::Reply(error(id.clone(), INVALID_REQUEST, "Invalid Request: params must be structured"))
                    }
                    None => Verdict::Drop("a notification whose params are not structured"),
                };
            }
            Verdict::Forward(Some(method.clone()))
        }
        Some(_) => Verdict::Reply(error(reply_id, INVALID_REQUEST, "Invalid Request: \"method\" must be a string")),
        None if map.contains_key("result") || map.contains_key("error") => {
            // A response to one of our requests. Without a usable id nobody can take it.
            if id_ok { Verdict::Forward(None) } else { Verdict::Drop("a response without a usable id") }
        }
        None => Verdict::Reply(error(reply_id, INVALID_REQUEST, "Invalid Request: no \"method\"")),
    }
}

/// Frames incoming bytes. Pure state over a buffer, so every resynchronisation rule is
/// testable without I/O.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    max_frame: usize,
    /// Reading past an oversized body: bytes are thrown away, unreported, up to the next
    /// header. (Counting its announced length instead would also swallow the messages after
    /// it when the length was a lie.)
    skipping: bool,
}

/// One step of framing.
#[derive(Debug, PartialEq)]
pub enum Frame {
    Message(Vec<u8>),
    /// A framing problem: answered with `id: null`, then reading goes on.
    Bad(String),
    /// Not enough bytes yet.
    Incomplete,
}

impl Framer {
    pub fn new(max_frame: usize) -> Self {
        Self { buf: Vec::new(), max_frame, skipping: false }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next frame, or what went wrong with it.
    pub fn next_frame(&mut self) -> Frame {
        // Skip whatever precedes a header: garbage, stray line breaks.
        let Some(start) = find_header(&self.buf) else {
            // Keep a tail that may be the start of a header split across reads.
            let cut = self.buf.len().saturating_sub(HEADER_NAME.len() - 1);
            let garbage = self.buf[..cut].iter().any(|b| !b.is_ascii_whitespace());
            self.buf.drain(..cut);
            return if garbage && !self.skipping {
                Frame::Bad("bytes before a Content-Length header were skipped".into())
            } else {
                Frame::Incomplete
            };
        };
        let skipping = std::mem::take(&mut self.skipping);
        if start > 0 {
            let garbage = self.buf[..start].iter().any(|b| !b.is_ascii_whitespace());
            self.buf.drain(..start);
            if garbage && !skipping {
                return Frame::Bad("bytes before a Content-Length header were skipped".into());
            }
        }
        // Headers end at an empty line; `\n` alone is accepted as a line end too.
        let Some((header_end, body_start)) = end_of_headers(&self.buf) else {
            if self.buf.len() > 4 * MAX_HEADER_LINE {
                self.buf.drain(..1);
                return Frame::Bad("a header that never ends".into());
            }
            return Frame::Incomplete;
        };
        let headers = String::from_utf8_lossy(&self.buf[..header_end]).into_owned();
        let mut length: Option<Result<usize, String>> = None;
        for line in headers.lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("content-length") {
                let value = value.trim();
                length = Some(value.parse::<usize>().map_err(|_| format!("Content-Length {value:?} is not a number")));
            }
        }
        let length = match length {
            Some(Ok(n)) => n,
            Some(Err(e)) => {
                self.buf.drain(..body_start);
                return Frame::Bad(e);
            }
            None => {
                self.buf.drain(..body_start);
                return Frame::Bad("a frame without Content-Length".into());
            }
        };
        if length > self.max_frame {
            self.buf.drain(..body_start);
            self.skipping = true;
            return Frame::Bad(format!(
                "a message of {length} bytes is larger than the limit of {} bytes and was skipped",
                self.max_frame
            ));
        }
        if self.buf.len() < body_start + length {
            return Frame::Incomplete;
        }
        let body = self.buf[body_start..body_start + length].to_vec();
        self.buf.drain(..body_start + length);
        Frame::Message(body)
    }

    /// The pending body has stalled: if another header sits inside it, its length was
    /// wrong; cut it there so the next message is read.
    pub fn stalled(&mut self) -> Option<Frame> {
        let first = find_header(&self.buf)?;
        let (_, body_start) = end_of_headers(&self.buf[first..])?;
        let next = find_header(&self.buf[first + body_start..])? + first + body_start;
        self.buf.drain(..next);
        Some(Frame::Bad("a message shorter than its Content-Length was skipped".into()))
    }
}

const HEADER_NAME: &[u8] = b"content-length";

/// The offset of the next `Content-Length` header name, in any case. Not only at a line
/// start: garbage may run straight into it.
fn find_header(buf: &[u8]) -> Option<usize> {
    buf.windows(HEADER_NAME.len()).position(|w| w.eq_ignore_ascii_case(HEADER_NAME))
}

/// End of the headers (exclusive) and start of the body.
fn end_of_headers(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            let rest = &buf[i + 1..];
            if rest.starts_with(b"\r\n") {
                return Some((i, i + 3));
            }
            if rest.starts_with(b"\n") {
                return Some((i, i + 2));
            }
        }
        i += 1;
    }
    None
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Logs each kind of problem once at warn level (a fuzzing or broken client would flood
/// the log otherwise), and again at debug.
struct OnceLog(HashSet<String>);

impl OnceLog {
    fn log(&mut self, what: &str) {
        let kind: String = what.chars().take_while(|c| *c != ':' && !c.is_ascii_digit()).collect();
        if self.0.insert(kind) {
            tracing::warn!(
                "skipped a malformed message from the client: {what} (further ones are logged at debug level)"
            );
        } else {
            tracing::debug!("skipped a malformed message from the client: {what}");
        }
    }
}

/// Reads framed messages from `input`, forwards good ones to `server` and sends error
/// replies to `replies`. Returns how the session ended.
pub async fn read_client<R, W>(mut input: R, mut server: W, replies: mpsc::Sender<Vec<u8>>, max_frame: usize) -> Ending
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut framer = Framer::new(max_frame);
    let mut log = OnceLog(HashSet::new());
    let mut chunk = vec![0u8; 64 * 1024];
    let mut shutdown_seen = false;
    loop {
        // Drain every complete frame before reading more.
        loop {
            match framer.next_frame() {
                Frame::Incomplete => break,
                Frame::Bad(why) => {
                    log.log(&why);
                    let reply = error(Value::Null, INVALID_REQUEST, &format!("Invalid Request: {why}"));
                    let _ = replies.send(frame(reply.to_string().as_bytes())).await;
                }
                Frame::Message(body) => match judge(&body) {
                    Verdict::Forward(method) => {
                        match method.as_deref() {
                            Some("shutdown") => shutdown_seen = true,
                            Some("exit") if !shutdown_seen => {
                                tracing::warn!("exit without shutdown: ending with exit code 1");
                                return Ending::ExitWithoutShutdown;
                            }
                            _ => {}
                        }
                        if server.write_all(&frame(&body)).await.is_err() || server.flush().await.is_err() {
                            return Ending::Clean;
                        }
                    }
                    Verdict::Reply(reply) => {
                        log.log(reply["error"]["message"].as_str().unwrap_or("invalid message"));
                        let _ = replies.send(frame(reply.to_string().as_bytes())).await;
                    }
                    Verdict::Drop(why) => log.log(why),
                },
            }
        }
        let read = if framer.buffered() > 0 {
            match tokio::time::timeout(STALL, input.read(&mut chunk)).await {
                Ok(r) => r,
                Err(_) => {
                    if let Some(Frame::Bad(why)) = framer.stalled() {
                        log.log(&why);
                        let reply = error(Value::Null, PARSE_ERROR, &format!("Parse error: {why}"));
                        let _ = replies.send(frame(reply.to_string().as_bytes())).await;
                    }
                    continue;
                }
            }
        } else {
            input.read(&mut chunk).await
        };
        match read {
            Ok(0) | Err(_) => return Ending::Clean,
            Ok(n) => framer.push(&chunk[..n]),
        }
    }
}

/// Copies tower-lsp-server's framed output and our replies to `out`, a whole frame at a time.
pub async fn write_client<R, W>(mut from_server: R, mut replies: mpsc::Receiver<Vec<u8>>, mut out: W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // tower-lsp-server's own output is well-formed; this only has to find frame ends.
    let mut framer = Framer::new(usize::MAX);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut server_open = true;
    loop {
        tokio::select! {
            read = from_server.read(&mut chunk), if server_open => match read {
                Ok(0) | Err(_) => server_open = false,
                Ok(n) => {
                    framer.push(&chunk[..n]);
                    while let Frame::Message(body) = framer.next_frame() {
                        if out.write_all(&frame(&body)).await.is_err() {
                            return;
                        }
                    }
                    let _ = out.flush().await;
                }
            },
            reply = replies.recv() => match reply {
                Some(bytes) => {
                    if out.write_all(&bytes).await.is_err() {
                        return;
                    }
                    let _ = out.flush().await;
                }
                None if !server_open => return,
                None => {
                    // No more replies; copy the server's output until it ends.
                    while let Ok(n) = from_server.read(&mut chunk).await {
                        if n == 0 {
                            break;
                        }
                        framer.push(&chunk[..n]);
                        while let Frame::Message(body) = framer.next_frame() {
                            if out.write_all(&frame(&body)).await.is_err() {
                                return;
                            }
                        }
                        let _ = out.flush().await;
                    }
                    return;
                }
            },
        }
    }
}

/// Runs `serve` (tower-lsp-server's `Server::serve` over the two pipe ends it is given)
/// between the client's `input` and `output` through this transport.
pub async fn run<R, W, F, Fut>(input: R, output: W, max_frame: usize, serve: F) -> Ending
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(tokio::io::DuplexStream, tokio::io::DuplexStream) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (to_server, server_in) = tokio::io::duplex(1 << 20);
    let (server_out, from_server) = tokio::io::duplex(1 << 20);
    let (reply_tx, reply_rx) = mpsc::channel(64);
    let writer = tokio::spawn(write_client(from_server, reply_rx, output));
    let reader = tokio::spawn(read_client(input, to_server, reply_tx, max_frame));
    serve(server_in, server_out).await;
    // tower-lsp-server returns after `exit` or when its input ends; the reader may still
    // wait on stdin, which the client keeps open: then the session ended cleanly, and the
    // reader goes (closing the reply channel, so the writer can finish).
    let ending = if reader.is_finished() {
        reader.await.unwrap_or(Ending::Clean)
    } else {
        reader.abort();
        Ending::Clean
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    ending
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &str) -> Vec<u8> {
        frame(body.as_bytes())
    }

    /// Feeds `input` to a framer and lists what comes out: `M:body` or `B`.
    fn frames(input: &[u8]) -> Vec<String> {
        let mut f = Framer::new(1000);
        f.push(input);
        let mut out = Vec::new();
        loop {
            match f.next_frame() {
                Frame::Incomplete => break,
                Frame::Bad(_) => out.push("B".to_string()),
                Frame::Message(m) => out.push(format!("M:{}", String::from_utf8_lossy(&m))),
            }
        }
        out
    }

    #[test]
    fn framing_recovers_from_every_broken_frame() {
        let good = framed("{}");
        let cases: Vec<(Vec<u8>, Vec<&str>)> = vec![
            (good.clone(), vec!["M:{}"]),
            (b"content-length: 2\r\n\r\n{}".to_vec(), vec!["M:{}"]),
            (
                b"Content-Length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\nX-Extra: 1\r\n\r\n{}"
                    .to_vec(),
                vec!["M:{}"],
            ),
            (b"Content-Length: 2\n\n{}".to_vec(), vec!["M:{}"]),
            ([b"garbage".as_slice(), &good].concat(), vec!["B", "M:{}"]),
            ([b"\r\n".as_slice(), &good].concat(), vec!["M:{}"]),
            ([b"Content-Length: x\r\n\r\n".as_slice(), &good].concat(), vec!["B", "M:{}"]),
            ([b"Content-Type: a\r\n\r\n".as_slice(), &good].concat(), vec!["B", "M:{}"]),
            // Too short: the rest of the body is garbage before the next header.
            ([b"Content-Length: 3\r\n\r\n{not json}".as_slice(), &good].concat(), vec!["M:{no", "B", "M:{}"]),
            // Above the limit: refused, its body skipped without being kept.
            ([b"Content-Length: 5000\r\n\r\n".as_slice(), &[b'x'; 5000], &good].concat(), vec!["B", "M:{}"]),
        ];
        for (input, expected) in cases {
            assert_eq!(frames(&input), expected, "{:?}", String::from_utf8_lossy(&input));
        }
    }

    #[test]
    fn a_frame_split_anywhere_is_read_whole() {
        let input = [framed("{\"a\":\"ü\"}"), framed("{}")].concat();
        for cut in 0..input.len() {
            let mut f = Framer::new(1000);
            f.push(&input[..cut]);
            let mut got = Vec::new();
            while let Frame::Message(m) = f.next_frame() {
                got.push(m);
            }
            f.push(&input[cut..]);
            while let Frame::Message(m) = f.next_frame() {
                got.push(m);
            }
            assert_eq!(got.len(), 2, "cut at {cut}");
        }
    }

    #[test]
    fn an_oversized_body_is_discarded_as_it_arrives() {
        let mut f = Framer::new(10);
        f.push(b"Content-Length: 1000000000\r\n\r\nabc");
        assert!(matches!(f.next_frame(), Frame::Bad(_)));
        for _ in 0..100 {
            f.push(&[b'x'; 4096]);
            assert_eq!(f.next_frame(), Frame::Incomplete, "the skipped body is not reported again");
            assert!(f.buffered() < HEADER_NAME.len(), "nothing of the oversized body is kept");
        }
        f.push(&framed("{}"));
        assert_eq!(f.next_frame(), Frame::Message(b"{}".to_vec()));
    }

    #[test]
    fn a_too_long_length_is_cut_at_the_next_header_when_the_body_stalls() {
        let mut f = Framer::new(1000);
        f.push(&[b"Content-Length: 500\r\n\r\n{}".as_slice(), &framed("{\"id\":1}")].concat());
        assert_eq!(f.next_frame(), Frame::Incomplete);
        assert!(matches!(f.stalled(), Some(Frame::Bad(_))));
        assert_eq!(f.next_frame(), Frame::Message(b"{\"id\":1}".to_vec()));
    }

    fn verdict(body: &str) -> String {
        match judge(body.as_bytes()) {
            Verdict::Forward(_) => "forward".into(),
            Verdict::Drop(_) => "drop".into(),
            Verdict::Reply(v) => format!("{} {}", v["error"]["code"], v["id"]),
        }
    }

    #[test]
    fn messages_are_judged_as_json_rpc_says() {
        for (body, expected) in [
            (r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#, "forward"),
            (r#"{"jsonrpc":"2.0","id":"a","method":"shutdown"}"#, "forward"),
            (r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#, "forward"),
            (r#"{"jsonrpc":"2.0","id":3,"result":null}"#, "forward"),
            (r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":1}}"#, "forward"),
            (r#"{"jsonrpc":"2.0","method":"$/unknown"}"#, "forward"),
            ("{not json", "-32700 null"),
            ("\u{fffd}", "-32700 null"),
            (r#"[{"jsonrpc":"2.0","id":1,"method":"shutdown"}]"#, "-32600 null"),
            (r#""hello""#, "-32600 null"),
            (r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#, "-32600 1"),
            (r#"{"id":1,"method":"x"}"#, "-32600 1"),
            (r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#, "-32600 null"),
            (r#"{"jsonrpc":"2.0","id":true,"method":"x"}"#, "-32600 null"),
            (r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#, "-32600 null"),
            (r#"{"jsonrpc":"2.0","id":18446744073709551616,"method":"x"}"#, "-32600 null"),
            (r#"{"jsonrpc":"2.0","id":2,"method":null}"#, "-32600 2"),
            (r#"{"jsonrpc":"2.0","id":2}"#, "-32600 2"),
            (r#"{"jsonrpc":"2.0","id":4,"method":"$/ping"}"#, "-32601 4"),
            (r#"{"jsonrpc":"2.0","id":5,"method":"x","params":7}"#, "-32600 5"),
            (r#"{"jsonrpc":"2.0","method":"x","params":7}"#, "drop"),
            (r#"{"jsonrpc":"2.0","id":[1],"result":null}"#, "drop"),
        ] {
            assert_eq!(verdict(body), expected, "{body}");
        }
    }
}
