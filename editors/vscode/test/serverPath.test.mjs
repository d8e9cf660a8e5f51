// Table tests of the server path lookup (src/serverPath.ts, compiled to out/ by
// `npm run build`; `npm test` builds first). Real files in temporary folders: fake
// executables, a non-executable file, a folder with the server's name, and a fake PATH.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const {
  DEFAULT_SERVER_PATH,
  chooseSetting,
  expandHome,
  notFoundMessage,
  resolveConfigPath,
  resolveServerPath,
} = require('../out/serverPath.js');

const NAME = DEFAULT_SERVER_PATH;

/** A fresh tree: home/, home/.cargo/bin, home/.local/bin, ws/ (workspace), p1..p3 (PATH). */
function tree() {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'llm-router-serverpath-')));
  const dirs = {
    root,
    home: path.join(root, 'home'),
    cargo: path.join(root, 'home', '.cargo', 'bin'),
    local: path.join(root, 'home', '.local', 'bin'),
    cargoHome: path.join(root, 'cargo-home'),
    ws: path.join(root, 'ws'),
    p1: path.join(root, 'p1'),
    p2: path.join(root, 'p2'),
    p3: path.join(root, 'p3'),
  };
  for (const dir of Object.values(dirs)) {
    fs.mkdirSync(dir, { recursive: true });
  }
  return dirs;
}

function executable(file) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '#!/bin/sh\nexit 0\n');
  fs.chmodSync(file, 0o755);
  return file;
}

function plainFile(file) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'not a program\n');
  fs.chmodSync(file, 0o644);
  return file;
}

const posix = process.platform !== 'win32';
// root ignores the execute bit for access(X_OK) only when no x bit is set at all; a 0644
// file is still refused for root, so the "not executable" rows hold there too.

test('chooseSetting: the most specific scope with a non-empty string wins', () => {
  const rows = [
    [undefined, NAME, 'default'],
    [{}, NAME, 'default'],
    [{ defaultValue: NAME }, NAME, 'default'],
    [{ defaultValue: NAME, globalValue: '/u/bin/s' }, '/u/bin/s', 'User settings'],
    [{ defaultValue: NAME, globalValue: '/u', workspaceValue: '/w' }, '/w', 'Workspace settings'],
    [
      { defaultValue: NAME, globalValue: '/u', workspaceValue: '/w', workspaceFolderValue: '/f' },
      '/f',
      'Folder settings',
    ],
    // "" and whitespace mean "not set in this scope"; non-strings are ignored.
    [{ defaultValue: NAME, globalValue: '/u', workspaceValue: '  ' }, '/u', 'User settings'],
    [{ defaultValue: NAME, globalValue: 42, workspaceFolderValue: '' }, NAME, 'default'],
    [{ defaultValue: NAME, globalValue: '  ~/bin/s  ' }, '~/bin/s', 'User settings'],
  ];
  for (const [inspected, value, source] of rows) {
    assert.deepEqual(chooseSetting(inspected, NAME), { value, source }, JSON.stringify(inspected));
  }
});

test('expandHome: ~ and ${userHome} at the start only', { skip: !posix }, () => {
  const rows = [
    ['~', '/h/me'],
    ['~/bin/s', '/h/me/bin/s'],
    ['${userHome}/.cargo/bin/s', '/h/me/.cargo/bin/s'],
    ['${userHome}', '/h/me'],
    ['/opt/s', '/opt/s'],
    ['bin/~/s', 'bin/~/s'],
    ['~other/s', '~other/s'],
    [NAME, NAME],
  ];
  for (const [input, want] of rows) {
    assert.equal(expandHome(input, '/h/me'), want, input);
  }
});

test('bare default name: PATH in order, then $CARGO_HOME/bin, ~/.cargo/bin, ~/.local/bin', { skip: !posix }, () => {
  const rows = [
    {
      name: 'on PATH (second folder)',
      make: (d) => executable(path.join(d.p2, NAME)),
      env: (d) => ({ path: [d.p1, d.p2].join(':') }),
      want: (d) => path.join(d.p2, NAME),
    },
    {
      name: 'on PATH twice: the first folder wins',
      make: (d) => [executable(path.join(d.p1, NAME)), executable(path.join(d.p3, NAME))],
      env: (d) => ({ path: [d.p3, d.p1].join(':') }),
      want: (d) => path.join(d.p3, NAME),
    },
    {
      name: 'PATH before ~/.cargo/bin',
      make: (d) => [executable(path.join(d.p1, NAME)), executable(path.join(d.cargo, NAME))],
      env: (d) => ({ path: d.p1 }),
      want: (d) => path.join(d.p1, NAME),
    },
    {
      name: 'not on PATH: ~/.cargo/bin (the extension host PATH lacks it)',
      make: (d) => executable(path.join(d.cargo, NAME)),
      env: (d) => ({ path: [d.p1, d.p2].join(':') }),
      want: (d) => path.join(d.cargo, NAME),
    },
    {
      name: 'no PATH at all: ~/.cargo/bin',
      make: (d) => executable(path.join(d.cargo, NAME)),
      env: () => ({ path: undefined }),
      want: (d) => path.join(d.cargo, NAME),
    },
    {
      name: 'only ~/.local/bin',
      make: (d) => executable(path.join(d.local, NAME)),
      env: (d) => ({ path: d.p1 }),
      want: (d) => path.join(d.local, NAME),
    },
    {
      name: '$CARGO_HOME/bin before ~/.cargo/bin',
      make: (d) => [executable(path.join(d.cargoHome, 'bin', NAME)), executable(path.join(d.cargo, NAME))],
      env: (d) => ({ path: d.p1, cargoHome: d.cargoHome }),
      want: (d) => path.join(d.cargoHome, 'bin', NAME),
    },
    {
      name: 'a non-executable file and a folder of that name on PATH are skipped',
      make: (d) => [
        plainFile(path.join(d.p1, NAME)),
        fs.mkdirSync(path.join(d.p2, NAME)),
        executable(path.join(d.cargo, NAME)),
      ],
      env: (d) => ({ path: [d.p1, d.p2].join(':') }),
      want: (d) => path.join(d.cargo, NAME),
    },
    {
      name: 'empty and relative PATH entries are ignored (never the workspace)',
      make: (d) => [executable(path.join(d.ws, NAME)), executable(path.join(d.local, NAME))],
      env: (d) => ({ path: `::.:${NAME}-dir:`, workspaceFolder: d.ws }),
      want: (d) => path.join(d.local, NAME),
    },
    {
      name: 'a symlink on PATH to an executable',
      make: (d) => fs.symlinkSync(executable(path.join(d.p3, 'real-server')), path.join(d.p1, NAME)),
      env: (d) => ({ path: d.p1 }),
      want: (d) => path.join(d.p1, NAME),
    },
    {
      name: 'a bare name set in User settings is searched the same way',
      setting: { globalValue: 'llm-router-lsp-dev' },
      make: (d) => executable(path.join(d.cargo, 'llm-router-lsp-dev')),
      env: (d) => ({ path: d.p1 }),
      want: (d) => path.join(d.cargo, 'llm-router-lsp-dev'),
    },
  ];
  for (const row of rows) {
    const d = tree();
    try {
      row.make(d);
      const r = resolveServerPath(
        { defaultValue: NAME, ...row.setting },
        { home: d.home, platform: 'linux', ...row.env(d) },
      );
      assert.equal(r.ok, true, `${row.name}: ${JSON.stringify(r)}`);
      assert.equal(r.command, row.want(d), row.name);
      assert.equal(r.via, path.dirname(row.want(d)), row.name);
    } finally {
      fs.rmSync(d.root, { recursive: true, force: true });
    }
  }
});

test('bare name found nowhere: every folder searched, in order, and the message names them', { skip: !posix }, () => {
  const d = tree();
  try {
    plainFile(path.join(d.p2, NAME));
    const r = resolveServerPath({ defaultValue: NAME }, { home: d.home, path: `${d.p1}:${d.p2}:${d.p1}`, platform: 'linux' });
    assert.equal(r.ok, false);
    assert.equal(r.source, 'default');
    assert.deepEqual(r.searched, [d.p1, d.p2, d.cargo, d.local]);
    assert.deepEqual(r.tried, [d.p1, d.p2, d.cargo, d.local].map((dir) => path.join(dir, NAME)));
    const message = notFoundMessage(r, d.home);
    for (const part of [`"${NAME}" was not found`, d.p1, d.p2, '~/.cargo/bin', '~/.local/bin', 'llmRouter.serverPath']) {
      assert.ok(message.includes(part), `message lacks ${part}: ${message}`);
    }
    assert.ok(!message.includes(d.home + '/.cargo'), `home not shortened: ${message}`);
  } finally {
    fs.rmSync(d.root, { recursive: true, force: true });
  }
});

test('a long PATH is cut in the notification, not in the result', { skip: !posix }, () => {
  const d = tree();
  try {
    const dirs = Array.from({ length: 20 }, (_, i) => path.join(d.root, `dir${i}`));
    const r = resolveServerPath({}, { home: d.home, path: dirs.join(':'), platform: 'linux' });
    assert.equal(r.ok, false);
    assert.equal(r.searched.length, 22);
    const message = notFoundMessage(r, d.home, 8);
    assert.ok(message.includes(dirs[7]) && !message.includes(dirs[8] + ','), message);
    assert.ok(message.includes('and 14 more'), message);
  } finally {
    fs.rmSync(d.root, { recursive: true, force: true });
  }
});

test('explicit paths: ~, ${userHome}, relative to the workspace folder; no fallback search', { skip: !posix }, () => {
  const rows = [
    {
      name: 'absolute, in User settings',
      setting: (d) => ({ globalValue: path.join(d.root, 'opt', 'server') }),
      make: (d) => executable(path.join(d.root, 'opt', 'server')),
      want: (d) => ({ ok: true, command: path.join(d.root, 'opt', 'server'), source: 'User settings' }),
    },
    {
      name: '~/ in User settings',
      setting: () => ({ globalValue: '~/.cargo/bin/llm-router-lsp' }),
      make: (d) => executable(path.join(d.cargo, NAME)),
      want: (d) => ({ ok: true, command: path.join(d.cargo, NAME), source: 'User settings' }),
    },
    {
      name: '${userHome} in Workspace settings',
      setting: () => ({ globalValue: '/nonexistent', workspaceValue: '${userHome}/.local/bin/llm-router-lsp' }),
      make: (d) => executable(path.join(d.local, NAME)),
      want: (d) => ({ ok: true, command: path.join(d.local, NAME), source: 'Workspace settings' }),
    },
    {
      name: 'relative, in Folder settings, against the workspace folder',
      setting: () => ({ workspaceFolderValue: 'target/debug/llm-router-lsp' }),
      make: (d) => executable(path.join(d.ws, 'target', 'debug', NAME)),
      want: (d) => ({ ok: true, command: path.join(d.ws, 'target', 'debug', NAME), source: 'Folder settings' }),
    },
    {
      name: './relative with .. normalised',
      setting: () => ({ workspaceValue: './tools/../bin/llm-router-lsp' }),
      make: (d) => executable(path.join(d.ws, 'bin', NAME)),
      want: (d) => ({ ok: true, command: path.join(d.ws, 'bin', NAME) }),
    },
    {
      name: 'missing explicit path: an error, not the copy on PATH',
      setting: (d) => ({ globalValue: path.join(d.root, 'gone', NAME) }),
      make: (d) => executable(path.join(d.p1, NAME)),
      want: (d) => ({
        ok: false,
        reason: `${path.join(d.root, 'gone', NAME)} does not exist`,
        tried: [path.join(d.root, 'gone', NAME)],
        searched: [],
      }),
    },
    {
      name: 'not executable',
      setting: (d) => ({ globalValue: path.join(d.root, 'plain') }),
      make: (d) => plainFile(path.join(d.root, 'plain')),
      want: (d) => ({ ok: false, reason: `${path.join(d.root, 'plain')} is not executable` }),
    },
    {
      name: 'a folder',
      setting: (d) => ({ globalValue: d.cargo }),
      make: () => undefined,
      want: (d) => ({ ok: false, reason: `${d.cargo} is not a file` }),
    },
    {
      name: 'relative with no folder open',
      setting: () => ({ globalValue: 'bin/llm-router-lsp' }),
      noFolder: true,
      make: (d) => executable(path.join(d.ws, 'bin', NAME)),
      want: () => ({ ok: false, reason: '"bin/llm-router-lsp" is a relative path and no folder is open to resolve it against' }),
    },
  ];
  for (const row of rows) {
    const d = tree();
    try {
      row.make(d);
      const r = resolveServerPath(
        { defaultValue: NAME, ...row.setting(d) },
        { home: d.home, path: d.p1, platform: 'linux', workspaceFolder: row.noFolder ? undefined : d.ws },
      );
      const want = row.want(d);
      for (const [key, value] of Object.entries(want)) {
        assert.deepEqual(r[key], value, `${row.name}: ${key} in ${JSON.stringify(r)}`);
      }
      if (!r.ok) {
        const message = notFoundMessage(r, d.home);
        assert.ok(message.includes(r.reason) && message.includes('llmRouter.serverPath'), message);
      }
    } finally {
      fs.rmSync(d.root, { recursive: true, force: true });
    }
  }
});

test('resolveConfigPath: unset, ~, relative to the folder, relative with no folder', { skip: !posix }, () => {
  const env = { home: '/h/me', platform: 'linux', workspaceFolder: '/w/proj' };
  const rows = [
    [{ defaultValue: '' }, env, ''],
    [{ defaultValue: '', globalValue: '~/.config/r.yaml' }, env, '/h/me/.config/r.yaml'],
    [{ defaultValue: '', workspaceValue: 'conf/r.yaml' }, env, '/w/proj/conf/r.yaml'],
    [{ defaultValue: '', workspaceValue: 'conf/r.yaml' }, { ...env, workspaceFolder: undefined }, 'conf/r.yaml'],
    [{ defaultValue: '', globalValue: '/etc/r.yaml', workspaceFolderValue: '' }, env, '/etc/r.yaml'],
  ];
  for (const [inspected, lookup, want] of rows) {
    assert.equal(resolveConfigPath(inspected, lookup), want, JSON.stringify(inspected));
  }
});
