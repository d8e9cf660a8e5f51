// A minimal LSP client over stdio, used by the tests as an independent peer of the
// server: it starts the fake Ollama and llm-router-lsp as their own processes, records
// everything the server sends, and answers its requests the way an editor would.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { once } from 'node:events';

import * as lsp from 'vscode-languageserver-protocol/node.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');

export const SERVER = process.env.LLM_ROUTER_LSP ?? join(repo, 'target', 'debug', 'llm-router-lsp');
export const FAKE_OLLAMA =
  process.env.FAKE_OLLAMA ?? join(repo, 'target', 'debug', 'examples', 'fake_ollama');

export const FAST = 'llama3.2:11b-vision';
export const CODE = 'qwen3-coder:30b-q4';
export const HEAVY = 'llama3.1:70b';

/** A scenario for the fake Ollama; `replies` maps model names to answers. */
export function scenario(replies, extra = {}) {
  const sizes = { [FAST]: 500_000_000, [CODE]: 1_000_000_000, [HEAVY]: 2_000_000_000 };
  return {
    models: Object.entries(sizes).map(([name, size]) => ({
      name,
      size,
      reply: replies[name] ?? `fake answer from ${name}`,
      chunks: [],
      chunk_delay_ms: extra[name]?.chunk_delay_ms ?? 0,
      logprobs: [],
      behaviour: { kind: 'reply' },
    })),
    pullable: [],
    loaded: [],
  };
}

function firstLine(stream, what) {
  return new Promise((resolveLine, reject) => {
    let buffered = '';
    const onData = (chunk) => {
      buffered += chunk.toString('utf8');
      const nl = buffered.indexOf('\n');
      if (nl >= 0) {
        stream.off('data', onData);
        resolveLine(buffered.slice(0, nl));
      }
    };
    stream.on('data', onData);
    stream.once('end', () => reject(new Error(`${what} closed stdout before its first line`)));
    setTimeout(() => reject(new Error(`${what} printed no line within 20 s`)), 20_000).unref();
  });
}

export function requireBinaries() {
  for (const [name, path] of [
    ['llm-router-lsp', SERVER],
    ['fake_ollama', FAKE_OLLAMA],
  ]) {
    if (!existsSync(path)) {
      throw new Error(
        `${name} not found at ${path}: run \`cargo build --bins --example fake_ollama\` in the repository root`,
      );
    }
  }
}

/** Polls `check` until it returns a truthy value. */
export async function waitFor(check, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the fake Ollama and the server, and returns a peer with the connection and
 * everything recorded. Options: replies, extra (per-model scenario fields), probe
 * ("USED TOTAL" in MiB), language (en/de, written to the config), capabilities
 * (overrides), answerShowMessageRequest (params => MessageActionItem | null).
 */
export async function startPeer(options = {}) {
  requireBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'llm-router-vscode-test-'));
  const scenarioPath = join(dir, 'scenario.json');
  writeFileSync(scenarioPath, JSON.stringify(scenario(options.replies ?? {}, options.extra ?? {})));
  const fake = spawn(FAKE_OLLAMA, ['--port', '0', '--scenario', scenarioPath, '--ignore-stdin'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const fakeStderr = [];
  fake.stderr.on('data', (d) => fakeStderr.push(d.toString()));
  const line = await firstLine(fake.stdout, 'fake_ollama');
  const match = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line.trim());
  if (match === null) {
    fake.kill();
    throw new Error(`unexpected first line from fake_ollama: ${JSON.stringify(line)}`);
  }
  const url = match[1];
  const configPath = join(dir, 'config.yaml');
  const language = options.language !== undefined ? `language: ${options.language}\n` : '';
  writeFileSync(
    configPath,
    `${language}backends:\n  local: {kind: ollama, url: "${url}"}\n` +
      `vram:\n  probe: {kind: command, command: [echo, "${options.probe ?? '1000 10000'}"]}\n`,
  );
  const server = spawn(SERVER, ['--stdio', '--config', configPath], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', LC_MESSAGES: '', RUST_BACKTRACE: '1' },
  });
  const serverStderr = [];
  server.stderr.on('data', (d) => serverStderr.push(d.toString()));
  let exited = null;
  server.on('exit', (code, signal) => {
    exited = { code, signal };
  });

  const connection = lsp.createProtocolConnection(
    new lsp.StreamMessageReader(server.stdout),
    new lsp.StreamMessageWriter(server.stdin),
  );
  const peer = {
    dir,
    url,
    configPath,
    connection,
    server,
    fake,
    /** Every message from the server, in order: {kind, method, params}. */
    log: [],
    progressTokens: [],
    progress: [],
    applyEdits: [],
    messages: [],
    messageRequests: [],
    stderr: () => serverStderr.join(''),
    exited: () => exited,
  };
  const record = (kind, method, params) => peer.log.push({ kind, method, params, at: Date.now() });

  connection.onRequest(lsp.WorkDoneProgressCreateRequest.type, (params) => {
    record('request', 'window/workDoneProgress/create', params);
    peer.progressTokens.push(params.token);
    return null;
  });
  connection.onUnhandledProgress((params) => {
    record('notification', '$/progress', params);
    peer.progress.push(params);
  });
  connection.onRequest(lsp.ApplyWorkspaceEditRequest.type, (params) => {
    record('request', 'workspace/applyEdit', params);
    peer.applyEdits.push(params);
    return { applied: options.applyResult ?? true };
  });
  connection.onNotification(lsp.ShowMessageNotification.type, (params) => {
    record('notification', 'window/showMessage', params);
    peer.messages.push(params);
  });
  connection.onRequest(lsp.ShowMessageRequest.type, async (params) => {
    record('request', 'window/showMessageRequest', params);
    peer.messageRequests.push(params);
    const answer = options.answerShowMessageRequest;
    return answer === undefined ? null : answer(params);
  });
  connection.onNotification(lsp.LogMessageNotification.type, (params) => {
    record('notification', 'window/logMessage', params);
  });
  connection.onRequest(lsp.RegistrationRequest.type, (params) => {
    record('request', 'client/registerCapability', params);
  });
  connection.onRequest(lsp.ConfigurationRequest.type, (params) => {
    record('request', 'workspace/configuration', params);
    return params.items.map(() => null);
  });
  connection.listen();

  const capabilities = {
    workspace: {
      applyEdit: true,
      workspaceEdit: { documentChanges: true },
      executeCommand: { dynamicRegistration: false },
    },
    window: {
      workDoneProgress: true,
      showMessage: { messageActionItem: { additionalPropertiesSupport: false } },
    },
    textDocument: {
      synchronization: { dynamicRegistration: false, didSave: false },
      codeAction: {
        codeActionLiteralSupport: {
          codeActionKind: { valueSet: ['', 'quickfix', 'refactor', 'refactor.rewrite', 'source'] },
        },
      },
    },
    general: { positionEncodings: ['utf-16'] },
    ...(options.capabilities ?? {}),
  };
  peer.initializeResult = await withTimeout(
    connection.sendRequest(lsp.InitializeRequest.type, {
      processId: process.pid,
      clientInfo: { name: 'llm-router-lsp node test peer', version: '1' },
      rootUri: pathToFileURL(dir).href,
      workspaceFolders: null,
      capabilities,
    }),
    20_000,
    () => `initialize got no answer; server stderr:\n${peer.stderr()}`,
  );
  await connection.sendNotification(lsp.InitializedNotification.type, {});

  peer.open = async (name, languageId, text, version = 1) => {
    const uri = pathToFileURL(join(dir, name)).href;
    writeFileSync(join(dir, name), text);
    await connection.sendNotification(lsp.DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId, version, text },
    });
    return uri;
  };
  peer.change = async (uri, version, text) => {
    await connection.sendNotification(lsp.DidChangeTextDocumentNotification.type, {
      textDocument: { uri, version },
      contentChanges: [{ text }],
    });
  };
  peer.codeActions = (uri, range) =>
    connection.sendRequest(lsp.CodeActionRequest.type, {
      textDocument: { uri },
      range,
      context: { diagnostics: [], triggerKind: lsp.CodeActionTriggerKind.Invoked },
    });
  peer.execute = (command) =>
    connection.sendRequest(lsp.ExecuteCommandRequest.type, {
      command: command.command,
      arguments: command.arguments,
    });
  peer.close = async () => {
    try {
      if (exited === null) {
        await withTimeout(connection.sendRequest(lsp.ShutdownRequest.type), 5_000, () => 'shutdown');
        await connection.sendNotification(lsp.ExitNotification.type);
        await withTimeout(
          exited === null ? once(server, 'exit') : Promise.resolve(),
          5_000,
          () => 'exit',
        );
      }
    } catch {
      // A server that does not shut down in time is killed below.
    } finally {
      connection.dispose();
      if (exited === null) {
        server.kill('SIGKILL');
      }
      fake.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  };
  return peer;
}

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Offset of an LSP position (UTF-16 code units, as JavaScript strings count). */
function offsetAt(text, position) {
  let line = 0;
  let offset = 0;
  while (line < position.line) {
    const nl = text.indexOf('\n', offset);
    if (nl < 0) {
      return text.length;
    }
    offset = nl + 1;
    line += 1;
  }
  const end = text.indexOf('\n', offset);
  const lineEnd = end < 0 ? text.length : end;
  return Math.min(offset + position.character, lineEnd);
}

/** Applies TextEdits to a text, as an editor would (edits refer to the original text). */
export function applyTextEdits(text, edits) {
  const sorted = edits
    .map((e) => ({ start: offsetAt(text, e.range.start), end: offsetAt(text, e.range.end), newText: e.newText }))
    .sort((a, b) => b.start - a.start || b.end - a.end);
  let out = text;
  for (const e of sorted) {
    out = out.slice(0, e.start) + e.newText + out.slice(e.end);
  }
  return out;
}

/** The TextEdits for `uri` in a WorkspaceEdit, from documentChanges or changes. */
export function editsFor(edit, uri) {
  if (edit.documentChanges !== undefined) {
    return edit.documentChanges
      .filter((c) => c.textDocument !== undefined && c.textDocument.uri === uri)
      .flatMap((c) => c.edits);
  }
  return edit.changes?.[uri] ?? [];
}
