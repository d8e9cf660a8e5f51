//! Drives the fake model server over real HTTP in both of its dialects (Ollama NDJSON, OpenAI
//! SSE) and checks the exact wire output and every fault switch.

#[path = "support/fake_model.rs"]
mod fake_model;

use std::io::{Read, Write};
use std::time::{Duration, Instant, UNIX_EPOCH};

use fake_model::{
    Behaviour, FakeModel, FakeServer, GIB, INVALID_KEY, LOADING_ERROR, RecordedRequest, Scenario, default_scenario,
};
use serde_json::{Value, json};

const DURATIONS: [&str; 4] = ["total_duration", "load_duration", "prompt_eval_duration", "eval_duration"];

fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 30
        && s.ends_with('Z')
        && [4, 7].iter().all(|&i| b[i] == b'-')
        && b[10] == b'T'
        && [13, 16].iter().all(|&i| b[i] == b':')
        && b[19] == b'.'
}

/// Checks the volatile fields' form, then removes them so the rest can be compared exactly.
fn stable(mut v: Value) -> Value {
    if let Some(obj) = v.as_object_mut() {
        if let Some(t) = obj.remove("created_at") {
            assert!(is_rfc3339(t.as_str().unwrap()), "created_at {t}");
        }
        for key in DURATIONS {
            if let Some(d) = obj.remove(key) {
                assert!(d.as_u64().unwrap() > 0, "{key} = {d}");
            }
        }
    }
    v
}

fn chunk(model: &str, content: &str) -> Value {
    json!({"model": model, "message": {"role": "assistant", "content": content}, "done": false})
}

fn done(model: &str, eval_count: u64, prompt_eval_count: u64) -> Value {
    json!({"model": model, "message": {"role": "assistant", "content": ""}, "done": true,
           "done_reason": "stop", "prompt_eval_count": prompt_eval_count, "eval_count": eval_count})
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

async fn post(server: &FakeServer, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new().post(format!("{}{path}", server.url())).json(&body).send().await.unwrap()
}

async fn get(server: &FakeServer, path: &str) -> Value {
    let resp = reqwest::get(format!("{}{path}", server.url())).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// The full body as text lines, plus the body error if the stream broke.
async fn read_body(resp: reqwest::Response) -> (Vec<String>, Option<reqwest::Error>) {
    use futures_util::StreamExt;
    let (mut bytes, mut stream) = (Vec::new(), resp.bytes_stream());
    while let Some(item) = stream.next().await {
        match item {
            Ok(b) => bytes.extend_from_slice(&b),
            Err(e) => return (into_lines(&bytes), Some(e)),
        }
    }
    (into_lines(&bytes), None)
}

fn into_lines(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "unterminated line in {text:?}");
    text.lines().map(str::to_string).collect()
}

fn parse(lines: &[String]) -> Vec<Value> {
    lines.iter().map(|l| stable(serde_json::from_str(l).unwrap())).collect()
}

async fn ps_names(server: &FakeServer) -> Vec<String> {
    let ps = get(server, "/api/ps").await;
    ps["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap().to_string()).collect()
}

fn scenario(models: Vec<FakeModel>) -> Scenario {
    Scenario { models, ..Default::default() }
}

#[tokio::test]
async fn version_tags_ps_and_unknown_paths() {
    let server = FakeServer::start(default_scenario()).await;
    assert_eq!(get(&server, "/api/version").await, json!({"version": "0.13.0"}));
    assert_eq!(get(&server, "/api/ps").await, json!({"models": []}));
    let tags = get(&server, "/api/tags").await;
    let models = tags["models"].as_array().unwrap();
    let summary: Vec<_> = models
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["model"].as_str().unwrap(), m["size"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("llama3.2:11b-vision", "llama3.2:11b-vision", 7_900_000_000),
            ("qwen3-coder:30b-q4", "qwen3-coder:30b-q4", 19_000_000_000),
            ("llama3.1:70b", "llama3.1:70b", 42_000_000_000),
        ]
    );
    let details: Vec<_> = models.iter().map(|m| m["details"]["parameter_size"].as_str().unwrap()).collect();
    assert_eq!(details, ["11B", "30B", "70B"]);
    assert_eq!(models[0]["details"]["format"], "gguf");
    assert_eq!(models[0]["details"]["family"], "llama");
    assert_eq!(models[0]["details"]["quantization_level"], "Q4_K_M");
    assert_eq!(models[0]["digest"].as_str().unwrap().len(), 64);
    assert_eq!(models[0]["modified_at"], "2025-01-01T00:00:00Z");

    let resp = reqwest::get(format!("{}/api/nope", server.url())).await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.text().await.unwrap(), "404 page not found");
    let root = reqwest::get(server.url()).await.unwrap().text().await.unwrap();
    assert_eq!(root, "Ollama is running");
    assert!(server.url().starts_with("http://127.0.0.1:"));
    assert_eq!(server.url(), format!("http://127.0.0.1:{}", server.addr().port()));
}

#[tokio::test]
async fn streaming_chat_exact_lines_and_loads_model() {
    let server = FakeServer::start(default_scenario()).await;
    let resp = post(&server, "/api/chat", json!({"model": "llama3.1:70b", "messages": user("hello there")})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let (lines, err) = read_body(resp).await;
    assert!(err.is_none());
    let m = "llama3.1:70b";
    assert_eq!(parse(&lines), [chunk(m, "fake answer from "), chunk(m, "llama3.1:70b"), done(m, 2, 3)]);
    let raw_done: Value = serde_json::from_str(&lines[2]).unwrap();
    for key in DURATIONS {
        assert!(raw_done[key].is_u64(), "{key} missing");
    }

    assert_eq!(server.loaded(), ["llama3.1:70b"]);
    let ps = get(&server, "/api/ps").await;
    let entry = &ps["models"][0];
    assert_eq!(entry["name"], m);
    assert_eq!(entry["model"], m);
    assert_eq!(entry["size"], 42_000_000_000u64);
    assert_eq!(entry["size_vram"], 42_000_000_000u64);
    assert_eq!(entry["context_length"], 4096);
    assert_eq!(entry["details"]["parameter_size"], "70B");
    assert!(is_rfc3339(entry["expires_at"].as_str().unwrap()));
    assert_eq!(entry["digest"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn non_streaming_chat_and_keep_alive_zero() {
    let server = FakeServer::start(default_scenario()).await;
    let m = "qwen3-coder:30b-q4";
    let body = json!({"model": m, "messages": user("hi"), "stream": false, "keep_alive": 0});
    let resp = post(&server, "/api/chat", body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let got = stable(resp.json().await.unwrap());
    let mut want = done(m, 2, 1);
    want["message"]["content"] = json!("fake answer from qwen3-coder:30b-q4");
    assert_eq!(got, want);
    assert!(server.loaded().is_empty(), "keep_alive 0 unloads after the reply");

    post(&server, "/api/chat", json!({"model": m, "messages": user("hi"), "keep_alive": "5m"})).await;
    assert_eq!(server.loaded(), [m]);
}

#[tokio::test]
async fn load_and_unload_with_empty_messages() {
    let server = FakeServer::start(default_scenario()).await;
    let load = |m: &str| json!({"model": m, "messages": []});
    for m in ["llama3.1:70b", "llama3.2:11b-vision"] {
        let (lines, _) = read_body(post(&server, "/api/chat", load(m)).await).await;
        let want =
            json!({"model": m, "message": {"role": "assistant", "content": ""}, "done_reason": "load", "done": true});
        assert_eq!(parse(&lines), [want]);
    }
    assert_eq!(ps_names(&server).await, ["llama3.1:70b", "llama3.2:11b-vision"]);

    let unloads = [json!(0), json!("0"), json!("0s")];
    for (keep_alive, m) in unloads.iter().zip(["llama3.1:70b", "llama3.2:11b-vision", "llama3.1:70b"]) {
        let body = json!({"model": m, "keep_alive": keep_alive});
        let (lines, _) = read_body(post(&server, "/api/chat", body).await).await;
        let want =
            json!({"model": m, "message": {"role": "assistant", "content": ""}, "done_reason": "unload", "done": true});
        assert_eq!(parse(&lines), [want], "keep_alive {keep_alive}");
    }
    assert!(ps_names(&server).await.is_empty());

    let body = json!({"model": "llama3.1:70b", "messages": [], "stream": false});
    let got = stable(post(&server, "/api/chat", body).await.json().await.unwrap());
    assert_eq!(got["done_reason"], "load");
    assert_eq!(server.loaded(), ["llama3.1:70b"]);
}

#[tokio::test]
async fn chat_errors_for_bad_requests() {
    let server = FakeServer::start(default_scenario()).await;
    let resp = post(&server, "/api/chat", json!({"model": "nope:1b", "messages": user("x")})).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "model \"nope:1b\" not found, try pulling it first"})
    );

    let resp = post(&server, "/api/chat", json!({"messages": user("x")})).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"error": "model is required"}));

    let client = reqwest::Client::new();
    for body in ["{not json", "", "[1,2]"] {
        let resp = client.post(format!("{}/api/chat", server.url())).body(body).send().await.unwrap();
        assert_eq!(resp.status(), 400, "body {body:?}");
        let err: Value = resp.json().await.unwrap();
        assert!(!err["error"].as_str().unwrap().is_empty());
    }
    assert!(server.loaded().is_empty());
    let bodies: Vec<Value> = server.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies[2], Value::Null, "bad JSON is recorded as null");
    assert_eq!(bodies[3], Value::Null);
    assert_eq!(bodies[4], json!([1, 2]));
}

#[tokio::test]
async fn logprobs_custom_chunks_and_delay() {
    let model = FakeModel::new("m:1b", "").with_chunks(&["a", "b", "c"]).with_logprobs(&[-0.5, -1.5]).with_delay(40);
    let server = FakeServer::start(scenario(vec![model])).await;
    let started = Instant::now();
    let body = json!({"model": "m:1b", "messages": user("x"), "logprobs": true});
    let (lines, _) = read_body(post(&server, "/api/chat", body).await).await;
    assert!(started.elapsed() >= Duration::from_millis(120));
    let with_lp = |c: &str, lp: f64| {
        let mut v = chunk("m:1b", c);
        v["logprobs"] = json!([{"token": c, "logprob": lp}]);
        v
    };
    assert_eq!(parse(&lines), [with_lp("a", -0.5), with_lp("b", -1.5), with_lp("c", -0.5), done("m:1b", 3, 1)]);

    let (lines, _) = read_body(post(&server, "/api/chat", json!({"model": "m:1b", "messages": user("x")})).await).await;
    assert_eq!(parse(&lines), [chunk("m:1b", "a"), chunk("m:1b", "b"), chunk("m:1b", "c"), done("m:1b", 3, 1)]);

    let body = json!({"model": "m:1b", "messages": user("x"), "logprobs": true, "stream": false});
    let got = stable(post(&server, "/api/chat", body).await.json().await.unwrap());
    assert_eq!(got["message"]["content"], "abc");
    assert_eq!(
        got["logprobs"],
        json!([{"token": "a", "logprob": -0.5}, {"token": "b", "logprob": -1.5}, {"token": "c", "logprob": -0.5}])
    );
}

fn failing(behaviour: Behaviour) -> Scenario {
    scenario(vec![FakeModel::new("bad:7b", "one two three four five six seven").with_behaviour(behaviour)])
}

fn chat_bad() -> Value {
    json!({"model": "bad:7b", "messages": user("x")})
}

#[tokio::test]
async fn stall_sends_nothing_more_until_client_leaves() {
    let server = FakeServer::start(failing(Behaviour::Stall { after_chunks: 1 })).await;
    let mut resp = post(&server, "/api/chat", chat_bad()).await;
    assert_eq!(resp.status(), 200);
    let mut got = Vec::new();
    while !got.ends_with(b"\n") {
        got.extend_from_slice(&resp.chunk().await.unwrap().unwrap());
    }
    assert_eq!(parse(&into_lines(&got)), [chunk("bad:7b", "one two three ")]);
    let more = tokio::time::timeout(Duration::from_millis(300), resp.chunk()).await;
    assert!(more.is_err(), "stalled stream sent {more:?}");
    drop(resp);
    // The server stays usable, and a stalled stream ends when the server is dropped.
    let mut resp = post(&server, "/api/chat", chat_bad()).await;
    resp.chunk().await.unwrap().unwrap();
    assert_eq!(get(&server, "/api/version").await["version"], "0.13.0");
    drop(server);
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match resp.chunk().await {
                Ok(Some(_)) => continue,
                other => return other.map(|_| ()),
            }
        }
    })
    .await
    .expect("stream must end when the server is dropped");
    assert!(rest.is_err(), "a stall cut by shutdown is not a clean end");
}

#[tokio::test]
async fn error_line_then_clean_end() {
    let message = "an error was encountered while running the model: CUDA error: out of memory";
    let server = FakeServer::start(failing(Behaviour::ErrorLine { after_chunks: 2, message: message.into() })).await;
    let resp = post(&server, "/api/chat", chat_bad()).await;
    assert_eq!(resp.status(), 200);
    let (lines, err) = read_body(resp).await;
    assert!(err.is_none());
    assert_eq!(
        parse(&lines),
        [chunk("bad:7b", "one two three "), chunk("bad:7b", "four five six "), json!({"error": message})]
    );
    let body = json!({"model": "bad:7b", "messages": user("x"), "stream": false});
    let resp = post(&server, "/api/chat", body).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"error": message}));
}

#[tokio::test]
async fn malformed_line_then_clean_end() {
    let server = FakeServer::start(failing(Behaviour::Malformed { after_chunks: 1 })).await;
    let (lines, err) = read_body(post(&server, "/api/chat", chat_bad()).await).await;
    assert!(err.is_none());
    assert_eq!(lines.len(), 2);
    assert_eq!(parse(&lines[..1]), [chunk("bad:7b", "one two three ")]);
    assert_eq!(lines[1], r#"{"model":"bad:7b","message":{"role":"assistant","content":"#);
    assert!(serde_json::from_str::<Value>(&lines[1]).is_err());
}

#[tokio::test]
async fn disconnect_is_a_body_error() {
    let server = FakeServer::start(failing(Behaviour::Disconnect { after_chunks: 2 })).await;
    let resp = post(&server, "/api/chat", chat_bad()).await;
    assert_eq!(resp.status(), 200);
    let (lines, err) = read_body(resp).await;
    assert!(err.is_some(), "client must see an incomplete body");
    assert_eq!(parse(&lines), [chunk("bad:7b", "one two three "), chunk("bad:7b", "four five six ")]);

    let body = json!({"model": "bad:7b", "messages": user("x"), "stream": false});
    // Non-streaming: the connection drops before or while the answer is sent.
    let sent = reqwest::Client::new().post(format!("{}/api/chat", server.url())).json(&body).send().await;
    match sent {
        Ok(resp) => assert!(resp.bytes().await.is_err()),
        Err(e) => assert!(!e.is_status(), "{e}"),
    }
    // Like Ollama, the model is loaded before generation starts, so it stays loaded.
    assert_eq!(server.loaded(), ["bad:7b"]);
}

#[tokio::test]
async fn status_and_busy_once() {
    let models = vec![
        FakeModel::new("gone:1b", "x")
            .with_behaviour(Behaviour::Status { status: 500, error: "llama runner process has terminated".into() }),
        FakeModel::new("busy:1b", "ok now").with_behaviour(Behaviour::BusyOnce),
    ];
    let server = FakeServer::start(scenario(models)).await;
    let resp = post(&server, "/api/chat", json!({"model": "gone:1b", "messages": user("x")})).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"error": "llama runner process has terminated"}));

    let busy = json!({"model": "busy:1b", "messages": user("x")});
    let resp = post(&server, "/api/chat", busy.clone()).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "server busy, please try again.  maximum pending requests exceeded"})
    );
    assert!(server.loaded().is_empty());
    let resp = post(&server, "/api/chat", busy.clone()).await;
    assert_eq!(resp.status(), 200);
    let (lines, _) = read_body(resp).await;
    assert_eq!(parse(&lines), [chunk("busy:1b", "ok now"), done("busy:1b", 1, 1)]);
    assert_eq!(post(&server, "/api/chat", busy).await.status(), 200);
}

#[tokio::test]
async fn show_known_and_unknown() {
    let server = FakeServer::start(default_scenario()).await;
    let resp = post(&server, "/api/show", json!({"model": "nope"})).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"error": "model 'nope' not found"}));
    for key in ["model", "name"] {
        let resp = post(&server, "/api/show", json!({key: "llama3.1:70b"})).await;
        assert_eq!(resp.status(), 200);
        let got: Value = resp.json().await.unwrap();
        assert_eq!(
            got,
            json!({"modelfile": "", "parameters": "", "template": "",
                   "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                               "parameter_size": "70B", "quantization_level": "Q4_K_M"},
                   "model_info": {"general.architecture": "llama"}, "capabilities": ["completion"]})
        );
    }
}

#[tokio::test]
async fn pull_streams_progress_and_adds_to_tags() {
    let mut sc = default_scenario();
    sc.pullable.push(FakeModel::new("tiny:1b", "tiny").with_size(1000));
    let server = FakeServer::start(sc).await;

    let resp = post(&server, "/api/pull", json!({"model": "missing:1b"})).await;
    assert_eq!(resp.status(), 200);
    let (lines, _) = read_body(resp).await;
    assert_eq!(parse(&lines), [json!({"error": "pull model manifest: file does not exist"})]);
    assert_eq!(server.pulled().len(), 3);

    let tags = get(&server, "/api/tags").await;
    assert!(!tags.to_string().contains("tiny:1b"));
    for body in [json!({"model": "tiny:1b"}), json!({"name": "tiny:1b"})] {
        let (lines, err) = read_body(post(&server, "/api/pull", body).await).await;
        assert!(err.is_none());
        let got = parse(&lines);
        assert_eq!(got.len(), 9);
        assert_eq!(got[0], json!({"status": "pulling manifest"}));
        let progress = &got[1..6];
        let digest = progress[0]["digest"].as_str().unwrap();
        assert!(digest.starts_with("sha256:") && digest.len() == 71);
        let completed: Vec<u64> = progress.iter().map(|p| p["completed"].as_u64().unwrap()).collect();
        assert_eq!(completed, [0, 250, 500, 750, 1000]);
        for p in progress {
            assert_eq!(p["status"], format!("pulling {}", &digest[7..19]));
            assert_eq!(p["digest"], digest);
            assert_eq!(p["total"], 1000);
        }
        let tail: Vec<_> = got[6..].iter().map(|v| v["status"].as_str().unwrap()).collect();
        assert_eq!(tail, ["verifying sha256 digest", "writing manifest", "success"]);
    }
    assert_eq!(server.pulled(), ["llama3.2:11b-vision", "qwen3-coder:30b-q4", "llama3.1:70b", "tiny:1b"]);
    let tags = get(&server, "/api/tags").await;
    assert_eq!(tags["models"][3]["name"], "tiny:1b");
    assert_eq!(tags["models"][3]["size"], 1000);
    let (lines, _) =
        read_body(post(&server, "/api/chat", json!({"model": "tiny:1b", "messages": user("x")})).await).await;
    assert_eq!(parse(&lines)[0], chunk("tiny:1b", "tiny"));

    let resp = post(&server, "/api/pull", json!({"model": "llama3.1:70b", "stream": false})).await;
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"status": "success"}));
    let (lines, _) = read_body(post(&server, "/api/pull", json!({"model": "llama3.1:70b"})).await).await;
    assert_eq!(parse(&lines).last().unwrap(), &json!({"status": "success"}));
}

#[tokio::test]
async fn request_log_in_order() {
    let server = FakeServer::start(default_scenario()).await;
    get(&server, "/api/tags").await;
    let chat = json!({"model": "llama3.1:70b", "messages": user("q"), "options": {"num_ctx": 8192}});
    read_body(post(&server, "/api/chat", chat.clone()).await).await;
    post(&server, "/api/show", json!({"model": "x"})).await;

    let want = vec![
        RecordedRequest { method: "GET".into(), path: "/api/tags".into(), authorization: None, body: Value::Null },
        RecordedRequest { method: "POST".into(), path: "/api/chat".into(), authorization: None, body: chat.clone() },
        RecordedRequest {
            method: "POST".into(),
            path: "/api/show".into(),
            authorization: None,
            body: json!({"model": "x"}),
        },
    ];
    assert_eq!(server.requests(), want);
    assert_eq!(server.chat_requests(), [chat]);
    let over_http: Vec<RecordedRequest> = serde_json::from_value(get(&server, "/__requests").await).unwrap();
    assert_eq!(over_http, want);
    assert_eq!(server.requests().len(), 3, "/__requests is not recorded");
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = FakeServer::start(default_scenario()).await;
    let addr = server.addr();
    drop(server);
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("still accepting connections after drop");
}

fn raw_get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn spawn_in_thread_serves_sync_tests() {
    let mut sc = default_scenario();
    sc.loaded = vec!["llama3.1:70b".into()];
    let server = FakeServer::spawn_in_thread(sc);
    let addr = server.addr();
    let reply = raw_get(addr, "/api/version").unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with(r#"{"version":"0.13.0"}"#), "{reply}");
    assert!(raw_get(addr, "/api/ps").unwrap().contains(r#""size_vram":42000000000"#));
    assert_eq!(server.loaded(), ["llama3.1:70b"]);
    assert_eq!(server.requests().len(), 2);
    drop(server);
    assert!(std::net::TcpStream::connect(addr).is_err(), "listener closed once drop returns");
}

#[test]
fn scenario_json_and_helpers() {
    let sc: Scenario = serde_json::from_str(
        r#"{"models":[{"name":"a:1b","reply":"hi","behaviour":{"kind":"error_line","after_chunks":1,"message":"boom"}},
                      {"name":"b:1b","behaviour":{"kind":"busy_once"}}],
            "loaded":["a:1b"]}"#,
    )
    .unwrap();
    assert_eq!(sc.models[0].size, GIB);
    assert_eq!(sc.models[0].behaviour, Behaviour::ErrorLine { after_chunks: 1, message: "boom".into() });
    assert_eq!(sc.models[1].behaviour, Behaviour::BusyOnce);
    assert!(sc.pullable.is_empty());
    let round: Scenario = serde_json::from_str(&serde_json::to_string(&default_scenario()).unwrap()).unwrap();
    assert_eq!(round.models.len(), 3);
    assert_eq!(round.models[2].reply, "fake answer from llama3.1:70b");

    for reply in
        ["", "one", "  lead and trail  ", "a b c d e f g", "tabs\tand\nnew lines  here x y", "fake answer from x"]
    {
        let pieces = fake_model::split_reply(reply);
        assert_eq!(pieces.concat(), reply);
        assert!(pieces.iter().all(|p| p.split_whitespace().count() <= 3), "{pieces:?}");
    }
    assert_eq!(fake_model::split_reply("a b c d e"), ["a b c ", "d e"]);

    let at = |secs| fake_model::rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
    assert_eq!(at(0), "1970-01-01T00:00:00.000000000Z");
    assert_eq!(at(951_782_400), "2000-02-29T00:00:00.000000000Z");
    assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20.000000000Z");
}

// ---------------------------------------------------------------------------------------
// The OpenAI dialect

const FAST: &str = "llama-3.2-3b-instruct";
const KEY: &str = "sk-fake-key";

/// `data:` payloads of an SSE body, in order (`[DONE]` included).
fn events(text: &str) -> Vec<String> {
    text.split("\n\n").filter(|e| !e.is_empty()).map(|e| e.strip_prefix("data: ").unwrap_or(e).to_string()).collect()
}

/// The text the content events carry.
fn event_text(events: &[String]) -> String {
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_string))
        .collect()
}

async fn post_openai(server: &FakeServer, body: Value) -> reqwest::Response {
    reqwest::Client::new().post(format!("{}/v1/chat/completions", server.url())).json(&body).send().await.unwrap()
}

fn stream_bad() -> Value {
    json!({"model": "bad:7b", "messages": user("x"), "stream": true})
}

/// One model, both dialects, on one port.
#[tokio::test]
async fn one_model_answers_in_both_dialects() {
    let server = FakeServer::start(scenario(vec![FakeModel::new("m:1b", "one two three four")])).await;
    let (lines, _) = read_body(post(&server, "/api/chat", json!({"model": "m:1b", "messages": user("x")})).await).await;
    assert_eq!(parse(&lines)[..2], [chunk("m:1b", "one two three "), chunk("m:1b", "four")]);
    let text = post_openai(&server, json!({"model": "m:1b", "messages": user("x"), "stream": true}))
        .await
        .text()
        .await
        .unwrap();
    let got = events(&text);
    assert_eq!(event_text(&got), "one two three four");
    assert_eq!(got.last().map(String::as_str), Some("[DONE]"));
    let list: Value = reqwest::get(format!("{}/v1/models", server.url())).await.unwrap().json().await.unwrap();
    assert_eq!(list["data"][0]["id"], "m:1b");
    assert_eq!(server.chat_requests().len(), 2, "both chat paths are chat requests");
    // Unknown paths answer in the dialect of their prefix.
    let resp = reqwest::get(format!("{}/v1/nope", server.url())).await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["message"], "Unknown request URL: GET /v1/nope");
}

#[tokio::test]
async fn generate_streams_responses_and_loads() {
    let server = FakeServer::start(scenario(vec![FakeModel::new("m:1b", "one two three four")])).await;
    let (lines, err) =
        read_body(post(&server, "/api/generate", json!({"model": "m:1b", "prompt": "say it"})).await).await;
    assert!(err.is_none());
    let got: Vec<Value> = parse(&lines).into_iter().map(stable).collect();
    assert_eq!(got[0], json!({"model": "m:1b", "response": "one two three ", "done": false}));
    assert_eq!(got[1], json!({"model": "m:1b", "response": "four", "done": false}));
    assert_eq!((got[2]["done"].clone(), got[2]["done_reason"].clone()), (json!(true), json!("stop")));
    assert_eq!(got[2]["eval_count"], 2);
    assert_eq!(server.loaded(), ["m:1b"]);
    let whole: Value = post(&server, "/api/generate", json!({"model": "m:1b", "prompt": "x", "stream": false}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whole["response"], "one two three four");
    let unload = json!({"model": "m:1b", "keep_alive": 0, "stream": false});
    let line: Value = post(&server, "/api/generate", unload).await.json().await.unwrap();
    assert_eq!(line["done_reason"], "unload");
    assert!(server.loaded().is_empty());
    let missing = post(&server, "/api/generate", json!({"model": "nope", "prompt": "x"})).await;
    assert_eq!(missing.status(), 404);
}

/// Every fault switch in the OpenAI dialect: (switch, text before the fault, what follows).
#[tokio::test]
async fn openai_fault_switches() {
    enum After {
        /// These events end the body.
        Events(&'static [&'static str]),
        /// The body breaks.
        BodyError,
        /// Nothing more arrives within 300 ms, though the connection stays open.
        Silence,
        /// Bytes keep coming but never end an event.
        NoEventEnd,
    }
    let cases = [
        (Behaviour::Stall { after_chunks: 1 }, "one two three ", After::Silence),
        (
            Behaviour::ErrorLine { after_chunks: 1, message: "CUDA out of memory".into() },
            "one two three ",
            After::Events(&["error: CUDA out of memory", "[DONE]"]),
        ),
        (Behaviour::Disconnect { after_chunks: 2 }, "one two three four five six ", After::BodyError),
        (Behaviour::NoDone, "one two three four five six seven", After::Events(&["finish"])),
        (Behaviour::EndlessEvent { after_chunks: 1 }, "one two three ", After::NoEventEnd),
        (Behaviour::EndlessLine { after_chunks: 1 }, "one two three ", After::NoEventEnd),
        (Behaviour::DripEvent { after_chunks: 1 }, "one two three ", After::NoEventEnd),
        (Behaviour::Reply, "one two three four five six seven", After::Events(&["finish", "[DONE]"])),
    ];
    for (behaviour, before, after) in cases {
        let server = FakeServer::start(failing(behaviour.clone())).await;
        let mut resp = post_openai(&server, stream_bad()).await;
        assert_eq!(resp.status(), 200, "{behaviour:?}");
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let (mut got, started) = (Vec::new(), Instant::now());
        let outcome = loop {
            match tokio::time::timeout(Duration::from_millis(300), resp.chunk()).await {
                Ok(Ok(Some(b))) => got.extend_from_slice(&b),
                Ok(Ok(None)) => break "end",
                Ok(Err(_)) => break "error",
                Err(_) => break "silence",
            }
            if got.len() > 1 << 20 || started.elapsed() > Duration::from_secs(1) {
                break "flowing";
            }
        };
        let text = String::from_utf8_lossy(&got).into_owned();
        let complete: String = text.rsplit_once("\n\n").map_or(String::new(), |(done, _)| format!("{done}\n\n"));
        let evs = events(&complete);
        assert_eq!(event_text(&evs), before, "{behaviour:?}: {text:.300}");
        let tail: Vec<String> = evs.into_iter().filter(|e| !e.contains("\"content\"")).collect();
        match after {
            After::Events(want) => {
                assert_eq!(outcome, "end", "{behaviour:?}");
                // Each event by what it is: the finishing chunk, an error, or as sent.
                let tail: Vec<String> = tail
                    .iter()
                    .map(|e| match serde_json::from_str::<Value>(e) {
                        Ok(v) if v["choices"][0]["finish_reason"] == "stop" => "finish".into(),
                        Ok(v) if v["error"]["type"] == "server_error" => {
                            format!("error: {}", v["error"]["message"].as_str().unwrap())
                        }
                        _ => e.clone(),
                    })
                    .collect();
                assert_eq!(tail, want, "{behaviour:?}");
            }
            After::BodyError => assert_eq!((outcome, tail.len()), ("error", 0), "{behaviour:?}"),
            After::Silence => assert_eq!((outcome, text.as_str()), ("silence", complete.as_str()), "{behaviour:?}"),
            After::NoEventEnd => {
                assert_eq!(outcome, "flowing", "{behaviour:?}");
                assert!(text.len() > complete.len(), "{behaviour:?}: bytes after the last event");
            }
        }
    }

    // Refusals before the stream: the dialect's error object with the status.
    for (behaviour, status, message) in [
        (Behaviour::Status { status: 429, error: "Rate limit reached".into() }, 429, "Rate limit reached"),
        (Behaviour::Status { status: 503, error: LOADING_ERROR.into() }, 503, LOADING_ERROR),
        (Behaviour::BusyOnce, 503, LOADING_ERROR),
    ] {
        let server = FakeServer::start(failing(behaviour.clone())).await;
        let resp = post_openai(&server, stream_bad()).await;
        assert_eq!(resp.status(), status, "{behaviour:?}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["message"], message, "{behaviour:?}");
        let again = post_openai(&server, stream_bad()).await.status();
        assert_eq!(again, if behaviour == Behaviour::BusyOnce { 200 } else { status }, "{behaviour:?}");
    }
    let server = FakeServer::start(Scenario { require_key: Some(KEY.into()), ..failing(Behaviour::Reply) }).await;
    let resp = post_openai(&server, stream_bad()).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["message"], INVALID_KEY);
    // The key guards the OpenAI dialect only.
    assert_eq!(post(&server, "/api/chat", chat_bad()).await.status(), 200);
}

/// The switches that started in the OpenAI dialect, in Ollama's.
#[tokio::test]
async fn ollama_endless_and_unfinished_streams() {
    let server = FakeServer::start(failing(Behaviour::NoDone)).await;
    let (lines, err) = read_body(post(&server, "/api/chat", chat_bad()).await).await;
    assert!(err.is_none());
    assert_eq!(parse(&lines).len(), 3, "the chunks, no done line: {lines:?}");
    assert!(parse(&lines).iter().all(|l| l["done"] == false));

    for behaviour in [Behaviour::EndlessLine { after_chunks: 1 }, Behaviour::DripEvent { after_chunks: 1 }] {
        let server = FakeServer::start(failing(behaviour.clone())).await;
        let mut resp = post(&server, "/api/chat", chat_bad()).await;
        let mut got = Vec::new();
        while got.len() < 200 {
            let more = tokio::time::timeout(Duration::from_secs(2), resp.chunk()).await;
            got.extend_from_slice(&more.expect("output keeps coming").unwrap().unwrap());
        }
        let text = String::from_utf8_lossy(&got);
        assert_eq!(text.matches('\n').count(), 1, "{behaviour:?}: one chunk line, then a line that never ends");
    }
}

#[tokio::test]
async fn fake_speaks_the_openai_dialect() {
    let fake = FakeServer::start(Scenario {
        models: vec![FakeModel::new(FAST, "").with_chunks(&["a", "b"]).with_logprobs(&[-0.5])],
        require_key: Some(KEY.into()),
        ..Default::default()
    })
    .await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("{}/v1", fake.url());
    let get = client.get(format!("{base}/models")).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(get.status(), 200);
    let list: Value = get.json().await.unwrap();
    assert_eq!(
        list,
        json!({"object": "list", "data": [{"id": FAST, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}]})
    );

    let unauthorized = client.get(format!("{base}/models")).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(unauthorized.json::<Value>().await.unwrap()["error"]["message"], "Invalid API key");

    let post = |body: Value| client.post(format!("{base}/chat/completions")).bearer_auth(KEY).json(&body).send();
    let missing = post(json!({"model": "nope", "messages": []})).await.unwrap();
    assert_eq!(missing.status(), 404);
    let v: Value = missing.json().await.unwrap();
    assert_eq!(v["error"]["message"], "The model `nope` does not exist.");
    assert_eq!(v["error"]["type"], "invalid_request_error");

    let whole =
        post(json!({"model": FAST, "messages": [{"role": "user", "content": "hi"}], "logprobs": true})).await.unwrap();
    let v: Value = whole.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"], json!({"role": "assistant", "content": "ab"}));
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["choices"][0]["logprobs"]["content"][1]["logprob"], -0.5);

    let streamed =
        post(json!({"model": FAST, "messages": [{"role": "user", "content": "hi"}], "stream": true})).await.unwrap();
    assert_eq!(streamed.headers()["content-type"], "text/event-stream");
    let text = streamed.text().await.unwrap();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 4, "{text}");
    let first: Value = serde_json::from_str(events[0].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["model"], FAST);
    assert_eq!(first["choices"][0]["delta"], json!({"role": "assistant", "content": "a"}));
    assert_eq!(first["choices"][0]["logprobs"], Value::Null, "not asked for");
    assert_eq!(first["choices"][0]["finish_reason"], Value::Null);
    let last: Value = serde_json::from_str(events[2].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(
        (last["choices"][0]["delta"].clone(), last["choices"][0]["finish_reason"].clone()),
        (json!({}), json!("stop"))
    );
    assert_eq!(events[3], "data: [DONE]");
    assert_eq!(fake.chat_requests().len(), 3);
    assert_eq!(fake.requests()[1].authorization, None);
}
