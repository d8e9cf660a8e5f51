// End-to-end tests of llm-router-lsp over stdio, with node's own LSP peer (the same
// protocol library the VS Code extension uses) and the fake Ollama as the model server.
//
// Needs `cargo build --bins --example fake_ollama` in the repository root first
// (or LLM_ROUTER_LSP / FAKE_OLLAMA pointing at the binaries).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ErrorCodes, ResponseError } from 'vscode-languageserver-protocol/node.js';

import {
  CODE,
  FAST,
  applyTextEdits,
  editsFor,
  sleep,
  startPeer,
  waitFor,
} from './lsp-peer.mjs';

const SCRIPT = [
  '#!/usr/bin/env bash',
  'set -euo pipefail',
  '',
  '    # list files larger than 100 MB below the current directory',
  '    du -sh /var/log/* | sort -h',
  'echo done',
  '',
].join('\n');

const GENERATE_REPLY =
  'Here is the script:\n\n```bash\nfind . -type f -size +100M -print\n\nls -lh\n```\nDone.';
const EXPLAIN_REPLY =
  'Shows the disk usage of every entry below /var/log in human-readable units and sorts ' +
  'the list by size, so that the biggest entries come last.\n\nIt only reads; nothing is changed.';

// Line 3 from its text to the start of line 4: ends at column 0, so only line 3 is selected.
const DESCRIPTION = { start: { line: 3, character: 4 }, end: { line: 4, character: 0 } };
// The command on line 4, without its indentation.
const COMMAND = { start: { line: 4, character: 4 }, end: { line: 4, character: 31 } };

const at = (line) => ({ start: { line, character: 0 }, end: { line, character: 0 } });

function commandOf(action) {
  return typeof action.command === 'string' ? action : action.command;
}

function find(actions, id) {
  const found = actions.find((a) => commandOf(a)?.command === id);
  assert.ok(found, `no action with command ${id} in ${JSON.stringify(actions.map((a) => a.title))}`);
  return found;
}

async function withPeer(options, body) {
  const peer = await startPeer(options);
  try {
    await body(peer);
  } catch (error) {
    error.message += `\n--- messages from the server:\n${peer.log
      .map((m) => `${m.kind} ${m.method} ${JSON.stringify(m.params)}`)
      .join('\n')}\n--- server stderr (tail):\n${peer.stderr().slice(-4000)}`;
    throw error;
  } finally {
    await peer.close();
  }
}

test('initialize advertises code actions and the commands', async () => {
  await withPeer({}, async (peer) => {
    const caps = peer.initializeResult.capabilities;
    assert.ok(caps.codeActionProvider, 'codeActionProvider');
    const commands = caps.executeCommandProvider?.commands ?? [];
    for (const id of ['llm-router.explain', 'llm-router.generate', 'llm-router.ask']) {
      assert.ok(commands.includes(id), `executeCommandProvider.commands lacks ${id}: ${commands}`);
    }
    assert.ok(caps.textDocumentSync !== undefined, 'textDocumentSync');
  });
});

test('code actions on a shell selection: titles, kinds, commands and arguments', async () => {
  await withPeer({}, async (peer) => {
    const uri = await peer.open('script.sh', 'shellscript', SCRIPT);
    const actions = await peer.codeActions(uri, COMMAND);
    assert.ok(Array.isArray(actions) && actions.length >= 3, JSON.stringify(actions));
    const titles = actions.map((a) => a.title);
    const expected = [
      ['Explain command', 'llm-router.explain'],
      ['Generate script', 'llm-router.generate'],
      ['Ask the model', 'llm-router.ask'],
    ];
    for (const [title, id] of expected) {
      const action = find(actions, id);
      assert.ok(action.title.startsWith(title), `${id}: title ${JSON.stringify(action.title)}`);
      assert.equal(action.kind, 'refactor.rewrite', `${id}: kind`);
      const args = commandOf(action).arguments;
      assert.ok(Array.isArray(args) && args.length === 1, `${id}: arguments ${JSON.stringify(args)}`);
      assert.equal(args[0].uri, uri);
      assert.deepEqual(args[0].range, COMMAND);
      assert.equal(args[0].version, 1);
    }
    // A selection in a shell document goes to the code model (and every Generate does).
    const explain = find(actions, 'llm-router.explain').title;
    const generate = find(actions, 'llm-router.generate').title;
    for (const title of [explain, generate]) {
      assert.ok(!/\(/.test(title) || title.endsWith(`(${CODE})`), `model in title: ${title}`);
    }
    assert.ok(!titles.some((t) => t.startsWith('Cancel generation')), 'no job runs yet');

    // An empty range means the cursor's line.
    const cursor = await peer.codeActions(uri, {
      start: { line: 4, character: 6 },
      end: { line: 4, character: 6 },
    });
    find(cursor, 'llm-router.explain');
  });
});

test('German titles with language: de', async () => {
  await withPeer({ language: 'de' }, async (peer) => {
    const uri = await peer.open('script.sh', 'shellscript', SCRIPT);
    const actions = await peer.codeActions(uri, COMMAND);
    assert.ok(find(actions, 'llm-router.explain').title.startsWith('Befehl erklären'));
    assert.ok(find(actions, 'llm-router.generate').title.startsWith('Skript generieren'));
    assert.ok(find(actions, 'llm-router.ask').title.startsWith('Modell fragen'));
  });
});

test('Generate script inserts the fenced code after the selection, indented', async () => {
  await withPeer({ replies: { [CODE]: GENERATE_REPLY } }, async (peer) => {
    const uri = await peer.open('script.sh', 'shellscript', SCRIPT);
    const actions = await peer.codeActions(uri, DESCRIPTION);
    const generate = find(actions, 'llm-router.generate');
    const result = await peer.execute(commandOf(generate));
    assert.equal(result, null, 'executeCommand answers at once with null');

    await waitFor(() => peer.applyEdits.length > 0, 'workspace/applyEdit');
    const { edit } = peer.applyEdits[0];
    assert.ok(edit.documentChanges, `documentChanges expected: ${JSON.stringify(edit)}`);
    assert.deepEqual(edit.documentChanges, [
      {
        textDocument: { uri, version: 1 },
        edits: [{ range: at(4), newText: '    find . -type f -size +100M -print\n\n    ls -lh\n' }],
      },
    ]);
    assert.equal(
      applyTextEdits(SCRIPT, editsFor(edit, uri)),
      [
        '#!/usr/bin/env bash',
        'set -euo pipefail',
        '',
        '    # list files larger than 100 MB below the current directory',
        '    find . -type f -size +100M -print',
        '',
        '    ls -lh',
        '    du -sh /var/log/* | sort -h',
        'echo done',
        '',
      ].join('\n'),
    );

    const shown = await waitFor(
      () => peer.messages.find((m) => m.message.includes(CODE)),
      'window/showMessage naming the model',
    );
    assert.ok(shown.type >= 1 && shown.type <= 4, `message type ${shown.type}`);

    // Progress: created (the client supports it), then begin ... end on that token.
    assert.ok(peer.progressTokens.length >= 1, 'window/workDoneProgress/create');
    const token = peer.progressTokens[0];
    await waitFor(
      () => peer.progress.some((p) => p.token === token && p.value.kind === 'end'),
      '$/progress end',
    );
    const kinds = peer.progress.filter((p) => p.token === token).map((p) => p.value.kind);
    assert.equal(kinds[0], 'begin', `progress kinds ${kinds}`);
    assert.equal(kinds[kinds.length - 1], 'end', `progress kinds ${kinds}`);
    assert.ok(kinds.slice(1, -1).every((k) => k === 'report'), `progress kinds ${kinds}`);
    const createdAt = peer.log.findIndex((m) => m.method === 'window/workDoneProgress/create');
    const beganAt = peer.log.findIndex((m) => m.method === '$/progress');
    assert.ok(createdAt < beganAt, 'create before the first $/progress');
    const editAt = peer.log.findIndex((m) => m.method === 'workspace/applyEdit');
    assert.ok(createdAt < editAt, 'progress before the edit');
  });
});

test('Explain command inserts the answer as wrapped comments above the selection', async () => {
  await withPeer({ replies: { [CODE]: EXPLAIN_REPLY } }, async (peer) => {
    const uri = await peer.open('script.sh', 'shellscript', SCRIPT);
    const actions = await peer.codeActions(uri, COMMAND);
    const explain = find(actions, 'llm-router.explain');
    assert.equal(await peer.execute(commandOf(explain)), null);

    await waitFor(() => peer.applyEdits.length > 0, 'workspace/applyEdit');
    const comments =
      '    # Shows the disk usage of every entry below /var/log in human-readable units\n' +
      '    # and sorts the list by size, so that the biggest entries come last.\n' +
      '    #\n' +
      '    # It only reads; nothing is changed.\n';
    const { edit } = peer.applyEdits[0];
    assert.deepEqual(edit.documentChanges, [
      { textDocument: { uri, version: 1 }, edits: [{ range: at(4), newText: comments }] },
    ]);
    const after = applyTextEdits(SCRIPT, editsFor(edit, uri));
    for (const line of after.split('\n')) {
      assert.ok(line.length <= 80, `line over 80 columns: ${JSON.stringify(line)}`);
    }
    assert.equal(
      after,
      SCRIPT.replace('    du -sh', `${comments}    du -sh`),
    );
    await waitFor(
      () => peer.messages.find((m) => m.message.includes(CODE)),
      'window/showMessage naming the model',
    );
  });
});

test('without documentChanges support the edit comes as changes', async () => {
  await withPeer(
    {
      replies: { [CODE]: GENERATE_REPLY },
      capabilities: {
        workspace: { applyEdit: true, workspaceEdit: { documentChanges: false } },
        window: { workDoneProgress: false },
      },
    },
    async (peer) => {
      const uri = await peer.open('script.sh', 'shellscript', SCRIPT);
      const generate = find(await peer.codeActions(uri, DESCRIPTION), 'llm-router.generate');
      await peer.execute(commandOf(generate));
      await waitFor(() => peer.applyEdits.length > 0, 'workspace/applyEdit');
      const { edit } = peer.applyEdits[0];
      assert.equal(edit.documentChanges, undefined, JSON.stringify(edit));
      assert.deepEqual(edit.changes, {
        [uri]: [{ range: at(4), newText: '    find . -type f -size +100M -print\n\n    ls -lh\n' }],
      });
      await waitFor(() => peer.messages.find((m) => m.message.includes(CODE)), 'showMessage');
      assert.equal(peer.progressTokens.length, 0, 'no progress/create without client support');
    },
  );
});

test('VRAM warning answered "Cancel": no edit, and a message says so', async () => {
  await withPeer(
    {
      probe: '9000 10000',
      replies: { [CODE]: GENERATE_REPLY },
      answerShowMessageRequest: (params) => params.actions.find((a) => a.title === 'Cancel') ?? null,
    },
    async (peer) => {
      const uri = await peer.open('script.sh', 'shellscript', SCRIPT);
      const generate = find(await peer.codeActions(uri, DESCRIPTION), 'llm-router.generate');
      assert.equal(await peer.execute(commandOf(generate)), null);
      const question = await waitFor(() => peer.messageRequests[0], 'window/showMessageRequest');
      assert.equal(question.type, 2, 'a Warning');
      assert.deepEqual(
        question.actions.map((a) => a.title),
        ['Continue', 'Use fast model', 'Cancel'],
      );
      assert.match(question.message, /90/);
      await waitFor(
        () => peer.messages.find((m) => m.message.includes('Cancelled: VRAM warning confirmed by user')),
        'the cancellation message',
      );
      await sleep(500);
      assert.equal(peer.applyEdits.length, 0, 'no edit after Cancel');
    },
  );
});

test('VRAM warning answered "Use fast model": the fast model answers', async () => {
  await withPeer(
    {
      probe: '9000 10000',
      replies: { [CODE]: GENERATE_REPLY, [FAST]: '```sh\necho fast\n```' },
      answerShowMessageRequest: (params) =>
        params.actions.find((a) => a.title === 'Use fast model') ?? null,
    },
    async (peer) => {
      const uri = await peer.open('script.sh', 'shellscript', SCRIPT);
      const generate = find(await peer.codeActions(uri, DESCRIPTION), 'llm-router.generate');
      await peer.execute(commandOf(generate));
      await waitFor(() => peer.applyEdits.length > 0, 'workspace/applyEdit');
      assert.deepEqual(editsFor(peer.applyEdits[0].edit, uri), [
        { range: at(4), newText: '    echo fast\n' },
      ]);
      await waitFor(() => peer.messages.find((m) => m.message.includes(FAST)), 'showMessage');
    },
  );
});

test('a client that cannot show the question (Helix) gets the choice as code actions', async () => {
  await withPeer(
    {
      probe: '9000 10000',
      replies: { [CODE]: GENERATE_REPLY, [FAST]: '```sh\necho fast\n```' },
      // What Helix 25.07 answers to a request it does not know.
      answerShowMessageRequest: () => {
        throw new ResponseError(ErrorCodes.MethodNotFound, 'Method not found');
      },
    },
    async (peer) => {
      const uri = await peer.open('script.sh', 'shellscript', SCRIPT);
      const generate = find(await peer.codeActions(uri, DESCRIPTION), 'llm-router.generate');
      await peer.execute(commandOf(generate));
      await waitFor(() => peer.messageRequests[0], 'window/showMessageRequest');
      const told = await waitFor(
        () => peer.messages.find((m) => m.message.includes('Use fast model')),
        'a message pointing to the code actions',
      );
      assert.equal(told.type, 2, 'a Warning');
      const actions = await peer.codeActions(uri, DESCRIPTION);
      const choices = actions.filter((a) => commandOf(a)?.command === 'llm-router.consent');
      assert.deepEqual(
        choices.map((a) => a.title),
        [`Continue with ${CODE} (VRAM 90 %)`, 'Use fast model'],
      );
      assert.equal(peer.applyEdits.length, 0, 'nothing inserted while the choice waits');
      await peer.execute(commandOf(choices.find((a) => a.title === 'Use fast model')));
      await waitFor(() => peer.applyEdits.length > 0, 'workspace/applyEdit');
      assert.deepEqual(editsFor(peer.applyEdits[0].edit, uri), [
        { range: at(4), newText: '    echo fast\n' },
      ]);
    },
  );
});

test('the "Cancel generation" action stops a running job', async () => {
  const words = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
  await withPeer(
    { replies: { [CODE]: words }, extra: { [CODE]: { chunk_delay_ms: 500 } } },
    async (peer) => {
      const uri = await peer.open('script.sh', 'shellscript', SCRIPT);
      await peer.execute(commandOf(find(await peer.codeActions(uri, COMMAND), 'llm-router.explain')));
      const token = await waitFor(() => peer.progressTokens[0], 'window/workDoneProgress/create');
      await waitFor(
        () => peer.progress.some((p) => p.token === token && p.value.kind === 'begin'),
        '$/progress begin',
      );
      const cancelAction = find(await peer.codeActions(uri, COMMAND), 'llm-router.cancel');
      // Answers at once (the server says how many jobs it cancelled).
      await peer.execute(commandOf(cancelAction));
      await waitFor(
        () => peer.progress.some((p) => p.token === token && p.value.kind === 'end'),
        '$/progress end after "Cancel generation"',
        15_000,
      );
      await sleep(500);
      assert.equal(peer.applyEdits.length, 0, 'no edit after a cancelled job');
      const after = await peer.codeActions(uri, COMMAND);
      assert.ok(
        !after.some((a) => commandOf(a)?.command === 'llm-router.cancel'),
        'no "Cancel generation" once the job ended',
      );
    },
  );
});

test('a running job offers "Cancel generation"; window/workDoneProgress/cancel stops it', async () => {
  // 60 words, 3 a chunk, half a second apart: about 10 s of streaming.
  const slow = { [CODE]: { chunk_delay_ms: 500 } };
  const words = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
  await withPeer(
    {
      replies: { [CODE]: words },
      extra: slow,
    },
    async (peer) => {
      const uri = await peer.open('script.sh', 'shellscript', SCRIPT);
      const explain = find(await peer.codeActions(uri, COMMAND), 'llm-router.explain');
      await peer.execute(commandOf(explain));
      const token = await waitFor(() => peer.progressTokens[0], 'window/workDoneProgress/create');
      await waitFor(
        () => peer.progress.some((p) => p.token === token && p.value.kind === 'begin'),
        '$/progress begin',
      );
      const running = await peer.codeActions(uri, COMMAND);
      const cancelAction = find(running, 'llm-router.cancel');
      assert.ok(cancelAction.title.startsWith('Cancel generation'), cancelAction.title);

      await peer.connection.sendNotification('window/workDoneProgress/cancel', { token });
      await waitFor(
        () => peer.progress.some((p) => p.token === token && p.value.kind === 'end'),
        '$/progress end after cancel',
        15_000,
      );
      await sleep(500);
      assert.equal(peer.applyEdits.length, 0, 'no edit after a cancelled job');
    },
  );
});

test('llm-router.infer answers with the routing result', async () => {
  await withPeer({ replies: { [FAST]: 'Paris.' } }, async (peer) => {
    const result = await peer.execute({
      command: 'llm-router.infer',
      arguments: [{ query: 'What is the capital of France?' }],
    });
    assert.ok(result && typeof result === 'object', JSON.stringify(result));
    for (const key of ['response', 'confidence', 'model_used', 'vram_usage', 'processing_time', 'tier', 'reasons']) {
      assert.ok(key in result, `infer result lacks ${key}: ${JSON.stringify(result)}`);
    }
    assert.equal(result.model_used, FAST);
    assert.equal(result.response.trim(), 'Paris.');
  });
});
