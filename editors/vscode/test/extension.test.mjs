// The extension's start, failure and restart paths, run against a fake of the `vscode`
// API (test/fixtures/fake-vscode-host.cjs) and fake servers: a missing binary, one that
// dies at start, one that crashes after starting, a working one. Checks that a failure
// shows exactly one notification (ours, with "Open settings" and "Retry"; none from
// vscode-languageclient), that Retry and "Restart server" re-read the settings, and that
// the bare default is found in ~/.cargo/bin when PATH lacks it. Not the real workbench:
// that is the code-server test's job.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const HOST = path.join(here, 'fixtures', 'fake-vscode-host.cjs');
const EXTENSION = path.join(here, '..', 'out', 'extension.js');
const FAKE_LSP = path.join(here, 'fixtures', 'fake-lsp.cjs');
const DIES = path.join(here, 'fixtures', 'dies-at-start.sh');
const BUTTONS = ['Open settings', 'Retry'];

/** A home and a PATH of our own; `server` is an executable shell wrapper around the fake LSP. */
function sandbox() {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'llm-router-ext-')));
  const home = path.join(root, 'home');
  const bin = path.join(root, 'bin');
  fs.mkdirSync(home);
  fs.mkdirSync(bin);
  const server = path.join(root, 'fake-server');
  fs.writeFileSync(server, `#!/bin/sh\nexec "${process.execPath}" "${FAKE_LSP}" "$@"\n`);
  fs.chmodSync(server, 0o755);
  return { root, home, bin, server, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}

function runHost(box, env) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [HOST, EXTENSION],
      { env: { HOME: box.home, PATH: box.bin, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
        if (line === undefined) {
          reject(new Error(`no RESULT from the fake host (${error?.message})\n${stdout}\n${stderr}`));
          return;
        }
        const result = JSON.parse(line.slice('RESULT '.length));
        if (result.failed !== undefined) {
          reject(new Error(`${result.failed}\n${result.lines.join('\n')}`));
          return;
        }
        resolve(result);
      },
    );
  });
}

function only(result) {
  assert.equal(result.toasts.length, 1, `notifications: ${JSON.stringify(result.toasts, null, 1)}`);
  const [toast] = result.toasts;
  assert.equal(toast.kind, 'error');
  assert.deepEqual(toast.items, BUTTONS);
  return toast.message;
}

test('the bare default, not on PATH, nowhere else: one error naming where it searched', async () => {
  const box = sandbox();
  try {
    const message = only(await runHost(box, { SP: '' }));
    for (const part of ['"llm-router-lsp" was not found', box.bin, '~/.cargo/bin', '~/.local/bin']) {
      assert.ok(message.includes(part), `lacks ${part}: ${message}`);
    }
  } finally {
    box.cleanup();
  }
});

test('the bare default in ~/.cargo/bin, PATH without it: started, no notification', async () => {
  const box = sandbox();
  try {
    fs.mkdirSync(path.join(box.home, '.cargo', 'bin'), { recursive: true });
    fs.symlinkSync(box.server, path.join(box.home, '.cargo', 'bin', 'llm-router-lsp'));
    const result = await runHost(box, { SP: '', WAIT: '1500' });
    assert.deepEqual(result.toasts, []);
    assert.ok(result.lines.some((l) => l.includes('found in ~/.cargo/bin')), result.lines.join('\n'));
    assert.ok(result.lines.includes('stderr: fake-lsp: up\n'), result.lines.join('\n'));
  } finally {
    box.cleanup();
  }
});

test('a server that dies at start: one error, quoting what it wrote', async () => {
  const box = sandbox();
  try {
    const message = only(await runHost(box, { SP: DIES }));
    assert.ok(message.includes(DIES) && message.includes('in User settings'), message);
    assert.ok(message.includes('config error: no such model tier: heavy'), message);
  } finally {
    box.cleanup();
  }
});

test('a server that keeps crashing is restarted 4 times, then one error', async () => {
  const box = sandbox();
  try {
    const result = await runHost(box, { SP: box.server, FAKE_LSP_CRASH: '1', WAIT: '14000' });
    const message = only(result);
    assert.ok(message.includes('stopped 5 times in 3 minutes'), message);
    assert.equal(result.lines.filter((l) => l.startsWith('Starting ')).length, 5, result.lines.join('\n'));
  } finally {
    box.cleanup();
  }
});

test('Retry re-reads the setting; "Restart server" stops the server and starts a new one', async () => {
  const box = sandbox();
  try {
    const result = await runHost(box, {
      SP: path.join(box.root, 'missing'),
      RETRY: box.server,
      WAIT: '2000',
      RESTART: '1',
      DEACTIVATE: '1',
    });
    const message = only(result);
    assert.ok(message.includes(`${path.join(box.root, 'missing')} does not exist`), message);
    assert.ok(result.commands.includes('llmRouter.restartServer'));
    const log = result.lines.join('\n');
    const starts = result.lines.filter((l) => l.startsWith(`Starting ${box.server}`)).length;
    assert.equal(starts, 2, log);
    assert.ok(result.lines.includes('stderr: fake-lsp: exit\n'), `old server not shut down:\n${log}`);
    assert.ok(!log.includes('starting it again'), `a stop we asked for was taken for a crash:\n${log}`);
  } finally {
    box.cleanup();
  }
});

test("the server's progress is in our status bar item, and running llmRouter.cancel (its click) cancels it", async () => {
  const box = sandbox();
  try {
    const result = await runHost(box, { SP: box.server, FAKE_LSP_PROGRESS: '1', WAIT: '1500', CANCEL: '1' });
    const log = result.lines.join('\n');
    assert.deepEqual(result.toasts, []);
    // Not the client's built-in window progress, whose click only opens a notification
    // with a second Cancel button (what the code-server test showed before the fix).
    assert.deepEqual(result.withProgress, [], log);
    assert.ok(result.lines.includes('status: $(sync~spin) Generate script: qwen3-coder:30b-q4 (code tier)'), log);
    const cancelled = result.lines.indexOf('stderr: fake-lsp: cancel job-1\n');
    assert.ok(cancelled > result.lines.indexOf('--- cancel'), log);
    assert.ok(result.lines.slice(cancelled).includes('status: hidden'), log);
  } finally {
    box.cleanup();
  }
});
