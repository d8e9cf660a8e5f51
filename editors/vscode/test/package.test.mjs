// The extension's manifest against its source: every command the extension registers is
// contributed (so it is in the Command Palette), and the path settings are readable from
// User settings in a remote window (code-server): `machine` and `machine-overridable`
// settings are dropped from the local User settings there, which made the first window of
// a fresh code-server profile ignore `llmRouter.serverPath`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';

const manifest = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const source = fs.readFileSync(new URL('../src/extension.ts', import.meta.url), 'utf8');

test('every registered command is contributed, with a title, and the other way round', () => {
  const registered = [...source.matchAll(/registerCommand\(\s*'([^']+)'/g)].map((m) => m[1]).sort();
  const contributed = manifest.contributes.commands.map((c) => c.command).sort();
  assert.deepEqual(registered, contributed);
  assert.ok(registered.includes('llmRouter.restartServer'));
  const restart = manifest.contributes.commands.find((c) => c.command === 'llmRouter.restartServer');
  assert.equal(`${restart.category}: ${restart.title}`, 'LLM Router: Restart server');
});

test('path settings are not machine-scoped (User settings must reach a remote window)', () => {
  const props = manifest.contributes.configuration.properties;
  for (const key of ['llmRouter.serverPath', 'llmRouter.configPath']) {
    assert.ok(props[key], key);
    assert.ok(!['machine', 'machine-overridable', 'application'].includes(props[key].scope), `${key}: ${props[key].scope}`);
  }
  assert.equal(props['llmRouter.serverPath'].default, 'llm-router-lsp');
});
