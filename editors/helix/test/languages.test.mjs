// Checks editors/helix/languages.toml: valid TOML, registers the llm-router-lsp binary
// with a timeout fit for model work, and adds it to exactly the languages listed in
// editors/helix/README.md. Run: node --test editors/helix/test/
// (smol-toml comes from editors/vscode's devDependencies: `npm ci` there first).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const helix = join(here, '..');
const requireFromVscode = createRequire(join(helix, '..', 'vscode', 'package.json'));
const { parse } = requireFromVscode('smol-toml');

const snippet = parse(readFileSync(join(helix, 'languages.toml'), 'utf8'));
const readme = readFileSync(join(helix, 'README.md'), 'utf8');

/** Language names from the table under "## Languages" in the README. */
function readmeLanguages() {
  const section = readme.split(/^## /m).find((s) => s.startsWith('Languages'));
  assert.ok(section, 'README.md has a "## Languages" section');
  const names = [...section.matchAll(/^\|\s*`([A-Za-z0-9_-]+)`\s*\|/gm)].map((m) => m[1]);
  assert.ok(names.length > 0, 'the Languages table lists languages');
  return names;
}

test('the server entry runs llm-router-lsp with a long timeout', () => {
  const server = snippet['language-server']?.['llm-router'];
  assert.ok(server, '[language-server.llm-router] exists');
  assert.equal(server.command, 'llm-router-lsp');
  assert.ok(
    server.args === undefined || (Array.isArray(server.args) && server.args.every((a) => typeof a === 'string')),
    'args, if any, is a list of strings',
  );
  assert.equal(typeof server.timeout, 'number');
  assert.ok(server.timeout >= 60, `timeout ${server.timeout} s leaves room for model work`);
  const known = new Set(['command', 'args', 'timeout', 'environment', 'config', 'required-root-patterns']);
  for (const key of Object.keys(server)) {
    assert.ok(known.has(key), `unknown Helix language-server key ${key}`);
  }
});

test('the languages are exactly those in the README, each using llm-router', () => {
  const languages = snippet.language;
  assert.ok(Array.isArray(languages), '[[language]] entries exist');
  const names = languages.map((l) => l.name);
  assert.equal(new Set(names).size, names.length, `no language twice: ${names}`);
  assert.ok(names.includes('bash'), "Helix's shell language is bash");
  assert.deepEqual([...names].sort(), [...readmeLanguages()].sort());
  for (const language of languages) {
    const servers = language['language-servers'];
    assert.ok(Array.isArray(servers), `${language.name}: language-servers is a list`);
    assert.ok(servers.includes('llm-router'), `${language.name}: uses llm-router`);
    assert.ok(
      servers.every((s) => typeof s === 'string' || (typeof s === 'object' && typeof s.name === 'string')),
      `${language.name}: each server is a name or {name = ...}`,
    );
  }
});

test('the README documents the Helix 25.07 workarounds', () => {
  assert.match(readme, /Cancel generation/);
  assert.match(readme, /showMessageRequest/);
  assert.match(readme, /Continue with MODEL/);
  assert.match(readme, /timeout = 120/);
});
