// The extension in VS Code's real workbench: code-server with the packaged .vsix, driven in
// Chromium by playwright-core, the way a user works: keys and clicks, the text on screen.
// Started by workbench.sh, which installs the tools and passes their paths in WORKBENCH_*.
//
// Each case names the files it opens (written before the window opens; names are not shared
// between cases), the fake Ollama it needs (started afresh on the same port before the
// case, so every case has its own answers and timing) and, optionally, the GPU memory the
// server sees (`vram`, "USED TOTAL" in MiB; a change rewrites the server's configuration
// and runs "LLM Router: Restart server"), then drives the window through `wb`, the
// workbench as a user sees it. To add a case, append one to CASES.
// `node workbench.mjs NAME...` runs only the cases with those names.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const env = (name) => {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set: run editors/vscode/test/workbench.sh`);
  }
  return value;
};
const WORK = env('WORKBENCH_WORK');
const OUT = env('WORKBENCH_OUT');
const SERVER = env('LLM_ROUTER_LSP');
const FAKE = env('FAKE_OLLAMA');
const { chromium } = createRequire(import.meta.url)(env('WORKBENCH_PLAYWRIGHT'));

const FAST = 'llama3.2:11b-vision';
const CODE = 'qwen3-coder:30b-q4';
const HEAVY = 'llama3.1:70b';
const PROJECT = join(WORK, 'project');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- The fake Ollama ------------------------------------------------------------------

/**
 * The three models of the server's default configuration; `code` overrides fields of the
 * code model, `fast` is the fast model's reply.
 */
function scenario(code, fast = 'fast answer') {
  const model = (name, size, reply) => ({
    name,
    size,
    reply,
    chunks: [],
    chunk_delay_ms: 0,
    logprobs: [],
    behaviour: { kind: 'reply' },
  });
  return {
    models: [
      model(FAST, 500_000_000, fast),
      { ...model(CODE, 1_000_000_000, ''), ...code },
      model(HEAVY, 2_000_000_000, 'heavy answer'),
    ],
    pullable: [],
    loaded: [],
  };
}

/** Lines of `stream` until `match` returns a value; rejects after `ms`. */
function lineMatching(stream, match, what, ms = 30_000) {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      stream.off('data', onData);
      reject(new Error(`${what}: nothing matching within ${ms / 1000} s; it wrote:\n${buffered.slice(-2000)}`));
    }, ms);
    const onData = (chunk) => {
      buffered += chunk.toString('utf8');
      for (const line of buffered.split('\n')) {
        const found = match(line);
        if (found !== undefined) {
          clearTimeout(timer);
          stream.off('data', onData);
          resolve(found);
          return;
        }
      }
    };
    stream.on('data', onData);
  });
}

class FakeOllama {
  port = 0;
  process = undefined;
  count = 0;

  /** (Re)starts the fake with `scenario`, on the port of the first start. */
  async start(scenarioValue) {
    await this.stop();
    const file = join(WORK, `scenario-${++this.count}.json`);
    writeFileSync(file, JSON.stringify(scenarioValue));
    // Its stdin is ours: it exits when this process does, whatever way that happens.
    const child = spawn(FAKE, ['--port', String(this.port), '--scenario', file], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.process = child;
    const url = await lineMatching(child.stdout, (l) => /^listening on (\S+)/.exec(l)?.[1], 'fake_ollama');
    this.port = Number(new URL(url).port);
    return url;
  }

  async stop() {
    const child = this.process;
    this.process = undefined;
    if (child !== undefined && child.exitCode === null) {
      child.kill();
      await once(child, 'exit');
    }
  }
}

// --- code-server ----------------------------------------------------------------------

async function startCodeServer() {
  const config = join(WORK, 'code-server.yaml');
  writeFileSync(config, 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');
  const child = spawn(
    env('WORKBENCH_CODE_SERVER'),
    [
      '--config', config,
      '--user-data-dir', env('WORKBENCH_PROFILE'),
      '--extensions-dir', env('WORKBENCH_EXTENSIONS'),
      '--disable-workspace-trust',
      '--disable-telemetry',
      '--disable-update-check',
      // Without it a closed browser leaves the extension host and our server running for hours.
      '--reconnection-grace-time', '5',
    ],
    // Its own process group, so the extension host and the server go with it.
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log = [];
  child.stdout.on('data', (c) => log.push(c));
  child.stderr.on('data', (c) => log.push(c));
  const url = await lineMatching(
    child.stdout,
    (l) => /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(l)?.[1],
    'code-server',
    60_000,
  );
  return {
    url,
    log: () => Buffer.concat(log).toString('utf8'),
    stop: async () => {
      if (child.exitCode === null) {
        process.kill(-child.pid, 'SIGTERM');
        await Promise.race([once(child, 'exit'), sleep(5000)]);
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    },
  };
}

// --- The workbench as a user sees it --------------------------------------------------

let shots = 0;

class Workbench {
  constructor(page, caseName) {
    this.page = page;
    this.caseName = caseName;
  }

  /** A screenshot of the window now: target/editor-tests/vscode/NN-case-step.png. */
  async shot(step) {
    const name = `${String(++shots).padStart(2, '0')}-${this.caseName}-${step}.png`;
    await this.page.screenshot({ path: join(OUT, name) });
    return name;
  }

  /** Runs a command from the Command Palette (F1), by its title. */
  async command(title) {
    const page = this.page;
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(`>${title}`);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
  }

  /** Opens a file of the project with Quick Open (Ctrl+P) and waits for its text. */
  async open(file, firstLine) {
    const page = this.page;
    await page.keyboard.press('Control+P');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(file);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: file }).first().waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.tab.active', { hasText: file }).waitFor();
    await this.waitForText((text) => text.startsWith(firstLine), `${file} to show its first line`);
  }

  /** Selects the text of line `n` (1-based), as Ctrl+G, Home, Shift+End do. */
  async selectLine(n) {
    const page = this.page;
    await page.keyboard.press('Control+G');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(`:${n}`);
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    await page.keyboard.press('Home');
    await page.keyboard.press('Home'); // the first Home stops at the indentation
    await page.keyboard.press('Shift+End');
  }

  /** Puts the cursor on line `line`, column `column` (1-based), as Ctrl+G `:LINE:COLUMN` does. */
  async goTo(line, column) {
    const page = this.page;
    await page.keyboard.press('Control+G');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(`:${line}:${column}`);
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
  }

  /**
   * VS Code's Refactor Preview (the panel that opens for an edit whose change annotation
   * needs confirmation), once it shows an edit: its text, and its Apply / Discard buttons.
   */
  async refactorPreview(ms = 30_000) {
    const panel = this.page.locator('.bulk-edit-panel[data-state="data"]');
    await panel.waitFor({ timeout: ms });
    // The tree's rows render a moment after the panel switches to its data state.
    await panel.locator('.monaco-list-row').first().waitFor({ timeout: ms });
    const rows = await panel.locator('.monaco-list-row').allTextContents();
    console.log(`       refactor preview: ${JSON.stringify(rows)}`);
    const button = (name) => panel.locator('.buttons .monaco-button', { hasText: name }).first();
    // Each row's tick box: only ticked changes are applied.
    const ticks = panel.locator('.monaco-list-row .monaco-checkbox');
    return { panel, rows, ticks, apply: button('Apply'), discard: button('Discard') };
  }

  /** The active editor's text as drawn: the lines in screen order, NBSP as space. */
  async text() {
    // Runs in the page, where `document` is the workbench's.
    return this.page.evaluate(() => {
      const editor = globalThis.document.querySelector('.editor-instance .monaco-editor .view-lines');
      if (editor === null) {
        return '';
      }
      return [...editor.querySelectorAll('.view-line')]
        .map((line) => ({ top: parseFloat(line.style.top), text: line.textContent ?? '' }))
        .sort((a, b) => a.top - b.top)
        .map((line) => line.text.replace(/\u00a0/g, ' '))
        .join('\n');
    });
  }

  async waitForText(predicate, what, ms = 30_000) {
    const deadline = Date.now() + ms;
    let text = '';
    while (Date.now() < deadline) {
      text = await this.text();
      if (predicate(text)) {
        return text;
      }
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}; the editor shows:\n${text}`);
  }

  /**
   * Opens the code action menu (Ctrl+.) and returns the rows' titles once one matches
   * `wanted`. The server may not have started yet when the file opens: a menu without
   * its actions is closed and opened again.
   */
  async codeActions(wanted, ms = 30_000) {
    const page = this.page;
    const rows = page.locator('.action-widget .monaco-list-row.action');
    const deadline = Date.now() + ms;
    let titles = [];
    while (Date.now() < deadline) {
      await page.keyboard.press('Control+Period');
      try {
        await rows.first().waitFor({ timeout: 3000 });
        titles = await rows.allTextContents();
        if (titles.some((t) => wanted.test(t))) {
          return titles;
        }
      } catch {
        // No menu (or "No code actions available"): the server is not there yet.
      }
      await page.keyboard.press('Escape');
      await sleep(500);
    }
    throw new Error(`the code action menu never offered ${wanted}; last rows: ${JSON.stringify(titles)}`);
  }

  /** Clicks the open code action menu's row matching `title`. */
  async pickAction(title) {
    const rows = this.page.locator('.action-widget .monaco-list-row.action');
    await rows.filter({ hasText: title }).first().click();
    await rows.first().waitFor({ state: 'hidden' });
  }

  /** The full text of the first notification toast matching `pattern`, once it has faded in. */
  async notification(pattern, ms = 30_000) {
    const toast = this.page
      .locator('.notification-toast.notification-fade-in-done .notification-list-item-message')
      .filter({ hasText: pattern })
      .first();
    await toast.waitFor({ timeout: ms });
    const text = (await toast.textContent()) ?? '';
    console.log(`       notification: ${text}`);
    return text;
  }

  /** The status bar item matching `pattern`. */
  statusItem(pattern) {
    return this.page.locator('#workbench\\.parts\\.statusbar .statusbar-item').filter({ hasText: pattern }).first();
  }

  async save() {
    await this.page.keyboard.press('Control+S');
    await this.page.locator('.tab.active.dirty').waitFor({ state: 'detached' });
  }

  /** Back to an empty window for the next case: no editors (unsaved changes dropped), no notifications. */
  async reset() {
    const page = this.page;
    await page.keyboard.press('Escape');
    await this.command('View: Close All Editors');
    const dontSave = page.locator('.monaco-dialog-box').getByRole('button', { name: "Don't Save" });
    if (await dontSave.waitFor({ timeout: 1000 }).then(() => true, () => false)) {
      await dontSave.click();
    }
    await page.locator('.tabs-container .tab').first().waitFor({ state: 'detached' });
    await this.command('Notifications: Clear All Notifications');
  }
}

function expectEqual(actual, expected, what) {
  if (actual !== expected) {
    throw new Error(`${what} differs.\n--- expected:\n${expected}\n--- actual:\n${actual}`);
  }
}

function expectMatch(actual, pattern, what) {
  if (!pattern.test(actual)) {
    throw new Error(`${what} does not match ${pattern}: ${JSON.stringify(actual)}`);
  }
}

const fileText = (file) => readFileSync(join(PROJECT, file), 'utf8');

// --- The cases --------------------------------------------------------------------------

const GENERATE_SCRIPT = [
  '#!/usr/bin/env bash',
  'echo start',
  '# list files larger than 100 MB',
  'echo done',
  '',
].join('\n');

const EXPLAIN_SCRIPT = ['#!/usr/bin/env bash', 'echo start', 'du -sh /var/log/* | sort -h', 'echo done', ''].join('\n');
const EXPLANATION =
  'Shows the disk usage of every entry below /var/log in human-readable units and sorts the list by size.';

// A shellcheck finding (SC2086, the unquoted $1 on line 3) and the model's corrected block.
const FIX_SCRIPT = ['#!/usr/bin/env bash', 'greet() {', '  echo Hello $1', '}', 'greet world', ''].join('\n');
const FIXED_SCRIPT = ['#!/usr/bin/env bash', 'greet() {', '  echo Hello "$1"', '}', 'greet world', ''].join('\n');
const FIX_REPLY = '```bash\ngreet() {\n  echo Hello "$1"\n}\n```';

/**
 * "Fix with MODEL" from Ctrl+. on the finding, up to VS Code's Refactor Preview, which
 * shows the change before anything lands: returns the preview.
 */
async function fixUpToPreview(wb, file) {
  await wb.open(file, '#!/usr/bin/env bash');
  // The cursor inside `$1`, where the squiggle is: Ctrl+. offers the quick fixes for it.
  await wb.goTo(3, 15);
  const titles = await wb.codeActions(/Fix with/);
  expectMatch(titles.join(' | '), new RegExp(`Fix with ${CODE}`), 'the quick fix title');
  await wb.shot('menu');
  await wb.pickAction(`Fix with ${CODE}`);
  const preview = await wb.refactorPreview();
  await wb.shot('preview');
  expectMatch(preview.rows.join(' | '), new RegExp(file.replace('.', '\\.')), 'the Refactor Preview');
  // Nothing has landed while the preview is open.
  expectEqual(fileText(file), FIX_SCRIPT, `${file} on disk during the preview`);
  if ((await wb.page.locator('.tab.dirty', { hasText: file }).count()) > 0) {
    throw new Error(`${file} is modified before the preview was accepted`);
  }
  return preview;
}

const CASES = [
  {
    name: 'generate',
    title: 'Generate script from the Ctrl+. menu: the code lands after the description',
    files: { 'generate.sh': GENERATE_SCRIPT },
    scenario: scenario({
      reply: '```bash\n#!/usr/bin/env bash\nset -euo pipefail\nfind . -type f -size +100M\n```',
      chunk_delay_ms: 50,
    }),
    async run(wb) {
      await wb.open('generate.sh', '#!/usr/bin/env bash');
      await wb.selectLine(3);
      await wb.shot('selected');
      const titles = await wb.codeActions(/Generate script/);
      expectMatch(titles.join(' | '), new RegExp(`Generate script \\(${CODE}\\)`), 'the Generate title');
      await wb.shot('menu');
      await wb.pickAction('Generate script');
      const message = await wb.notification(/answered in/);
      await wb.shot('answered');
      // Short and human; the dropped shebang and shell options are named.
      expectMatch(message, new RegExp(`^${CODE} answered in [0-9.]+ s`), 'the closing message');
      expectMatch(message, /set -euo pipefail/, 'the closing message');
      const want = [
        '#!/usr/bin/env bash',
        'echo start',
        '# list files larger than 100 MB',
        'find . -type f -size +100M',
        'echo done',
        '',
      ].join('\n');
      await wb.waitForText((t) => t === want, 'the generated line in the editor');
      await wb.save();
      expectEqual(fileText('generate.sh'), want, 'generate.sh on disk');
    },
  },
  {
    name: 'explain',
    title: 'Explain command from the Ctrl+. menu: the answer above the line, and the message',
    files: { 'explain.sh': EXPLAIN_SCRIPT },
    scenario: scenario({ reply: EXPLANATION }),
    async run(wb) {
      await wb.open('explain.sh', '#!/usr/bin/env bash');
      await wb.selectLine(3);
      await wb.codeActions(/Explain command/);
      await wb.shot('menu');
      await wb.pickAction('Explain command');
      const message = await wb.notification(/answered in/);
      await wb.shot('answered');
      expectMatch(message, new RegExp(`^${CODE} answered in [0-9.]+ s`), 'the closing message');
      const want = [
        '#!/usr/bin/env bash',
        'echo start',
        '# Shows the disk usage of every entry below /var/log in human-readable units and',
        '# sorts the list by size.',
        'du -sh /var/log/* | sort -h',
        'echo done',
        '',
      ].join('\n');
      await wb.waitForText((t) => t === want, 'the explanation above the command');
      await wb.save();
      expectEqual(fileText('explain.sh'), want, 'explain.sh on disk');
    },
  },
  {
    name: 'cancel',
    title: 'Cancel from the status bar during a slow answer: nothing is inserted',
    files: { 'cancel.sh': GENERATE_SCRIPT },
    // Two pieces of code, then the model stalls: only a cancel ends this job.
    scenario: scenario({
      reply: '```bash\nfind . -type f -size +100M\n```',
      chunk_delay_ms: 200,
      behaviour: { kind: 'stall', after_chunks: 2 },
    }),
    async run(wb) {
      await wb.open('cancel.sh', '#!/usr/bin/env bash');
      await wb.selectLine(3);
      await wb.codeActions(/Generate script/);
      await wb.pickAction('Generate script');
      const progress = wb.statusItem(/characters received/);
      await progress.waitFor({ timeout: 30_000 });
      const shown = (await progress.textContent()) ?? '';
      await wb.shot('progress');
      expectMatch(shown, new RegExp(`Generate script.*${CODE}|${CODE}.*Generate script`), 'the status bar progress');
      await progress.click();
      const message = await wb.notification(/Cancelled/);
      await wb.shot('cancelled');
      expectEqual(message, 'Cancelled; nothing was inserted.', 'the cancel message');
      await wb.statusItem(/Generate script/).waitFor({ state: 'detached', timeout: 10_000 });
      // Nothing arrives later either.
      await sleep(1000);
      expectEqual(await wb.text(), GENERATE_SCRIPT, 'the editor after the cancel');
      expectEqual(fileText('cancel.sh'), GENERATE_SCRIPT, 'cancel.sh on disk');
      if ((await wb.page.locator('.tab.active.dirty').count()) > 0) {
        throw new Error('the editor is modified after the cancel');
      }
    },
  },
  {
    name: 'vram',
    title: 'The GPU memory question: "Use fast model" in the warning, the fast model answers',
    files: { 'vram.sh': GENERATE_SCRIPT },
    scenario: scenario({ reply: '```bash\nfind . -type f -size +100M\n```' }, '```bash\nls -la\n```'),
    vram: '9000 10000',
    async run(wb) {
      await wb.open('vram.sh', '#!/usr/bin/env bash');
      await wb.selectLine(3);
      await wb.codeActions(/Generate script/);
      await wb.pickAction('Generate script');
      const question = await wb.notification(/VRAM usage: 90\.0%/);
      expectMatch(question, new RegExp(`Switching to ${CODE}`), 'the VRAM question');
      const toast = wb.page.locator('.notification-toast').filter({ hasText: 'VRAM usage' }).first();
      const buttons = await toast.locator('.monaco-button').allTextContents();
      expectEqual(JSON.stringify(buttons), JSON.stringify(['Continue', 'Use fast model', 'Cancel']), 'the buttons');
      await wb.shot('question');
      await toast.getByRole('button', { name: 'Use fast model' }).click();
      const message = await wb.notification(new RegExp(`${FAST} answered in`));
      await wb.shot('answered');
      expectMatch(message, /fast model chosen at the VRAM warning/, 'the closing message');
      const want = ['#!/usr/bin/env bash', 'echo start', '# list files larger than 100 MB', 'ls -la', 'echo done', ''].join('\n');
      await wb.waitForText((t) => t === want, 'the fast model\'s line in the editor');
      await wb.save();
      expectEqual(fileText('vram.sh'), want, 'vram.sh on disk');
    },
  },
  {
    name: 'fix',
    title: 'Fix with MODEL on a shellcheck finding: the Refactor Preview, Apply, the block is fixed',
    files: { 'fix.sh': FIX_SCRIPT },
    scenario: scenario({ reply: FIX_REPLY }),
    async run(wb) {
      const preview = await fixUpToPreview(wb, 'fix.sh');
      // VS Code lists a change that needs confirmation unticked: Apply alone would apply
      // nothing. Tick it (the file's box ticks its changes), then Apply.
      const ticked = await preview.ticks.evaluateAll((boxes) => boxes.map((b) => b.getAttribute('aria-checked')));
      expectEqual(JSON.stringify(ticked), JSON.stringify(['false', 'false']), 'the tick boxes of the file and its change');
      await preview.ticks.first().click();
      await wb.page.waitForFunction(
        () => [...globalThis.document.querySelectorAll('.bulk-edit-panel .monaco-list-row .monaco-checkbox')]
          .every((b) => b.getAttribute('aria-checked') === 'true'),
      );
      await wb.shot('ticked');
      await preview.apply.click();
      const message = await wb.notification(/fixed in lines/);
      expectMatch(message, new RegExp(`^${CODE} answered in [0-9.]+ s: fix, shell script\\. SC2086 fixed in lines 2–4\\.$`), 'the closing message');
      await wb.waitForText((t) => t === FIXED_SCRIPT, 'the fixed block in the editor');
      await wb.shot('applied');
      await wb.save();
      expectEqual(fileText('fix.sh'), FIXED_SCRIPT, 'fix.sh on disk');
    },
  },
  {
    name: 'fix-discard',
    title: 'Fix with MODEL, Discard in the Refactor Preview: nothing changes, and the message says so',
    files: { 'fix-discard.sh': FIX_SCRIPT },
    scenario: scenario({ reply: FIX_REPLY }),
    async run(wb) {
      const preview = await fixUpToPreview(wb, 'fix-discard.sh');
      await preview.discard.click();
      const message = await wb.notification(/discarded in review/);
      await wb.shot('discarded');
      expectEqual(message, `${CODE}'s change was discarded in review; nothing changed.`, 'the closing message');
      expectEqual(await wb.text(), FIX_SCRIPT, 'the editor after Discard');
      expectEqual(fileText('fix-discard.sh'), FIX_SCRIPT, 'fix-discard.sh on disk');
      if ((await wb.page.locator('.tab.active.dirty').count()) > 0) {
        throw new Error('the editor is modified after Discard');
      }
    },
  },
  {
    name: 'fix-unticked',
    title: 'Fix with MODEL, Apply with the change left unticked: nothing changes, and the message says so',
    files: { 'fix-unticked.sh': FIX_SCRIPT },
    scenario: scenario({ reply: FIX_REPLY }),
    async run(wb) {
      const preview = await fixUpToPreview(wb, 'fix-unticked.sh');
      await preview.apply.click();
      const message = await wb.notification(/discarded in review/);
      await wb.shot('discarded');
      expectEqual(message, `${CODE}'s change was discarded in review; nothing changed.`, 'the closing message');
      expectEqual(await wb.text(), FIX_SCRIPT, 'the editor after Apply with nothing ticked');
      expectEqual(fileText('fix-unticked.sh'), FIX_SCRIPT, 'fix-unticked.sh on disk');
    },
  },
];

// --- The run ----------------------------------------------------------------------------

function writeSetup(fakeUrl) {
  mkdirSync(PROJECT, { recursive: true });
  const profile = env('WORKBENCH_PROFILE');
  // As the README says for code-server: the server path in the Machine settings.
  mkdirSync(join(profile, 'Machine'), { recursive: true });
  writeFileSync(join(profile, 'Machine', 'settings.json'), JSON.stringify({ 'llmRouter.serverPath': SERVER }, null, 2));
  // A quiet window: no welcome page, no chat panel, no tips; otherwise VS Code's defaults.
  mkdirSync(join(profile, 'User'), { recursive: true });
  writeFileSync(
    join(profile, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
        'chat.disableAIFeatures': true,
        'extensions.ignoreRecommendations': true,
        'telemetry.telemetryLevel': 'off',
        'files.autoSave': 'off',
      },
      null,
      2,
    ),
  );
  writeServerConfig(fakeUrl, DEFAULT_VRAM);
}

const DEFAULT_VRAM = '1000 10000';

/**
 * The server's own configuration, where it looks by default (XDG_CONFIG_HOME reaches the
 * extension host; workbench.sh points it into the run folder). `vram` is what the probe
 * reports: used and total MiB.
 */
function writeServerConfig(fakeUrl, vram) {
  const dir = join(env('XDG_CONFIG_HOME'), 'llm-router-lsp');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'config.yaml'),
    `language: en\nbackends:\n  local: {kind: ollama, url: "${fakeUrl}"}\n` +
      `vram:\n  probe: {kind: command, command: [echo, "${vram}"]}\n`,
  );
}

async function main() {
  const only = process.argv.slice(2);
  const unknown = only.filter((n) => !CASES.some((c) => c.name === n));
  if (unknown.length > 0) {
    throw new Error(`no case ${unknown.join(', ')}; cases: ${CASES.map((c) => c.name).join(', ')}`);
  }
  const cases = only.length > 0 ? CASES.filter((c) => only.includes(c.name)) : CASES;
  const fake = new FakeOllama();
  const fakeUrl = await fake.start(scenario({ reply: 'warm-up' }));
  writeSetup(fakeUrl);
  let vram = DEFAULT_VRAM;
  // Every case's files exist before the window opens: Quick Open's file list is read once,
  // and a file written later is not found by name.
  for (const c of cases) {
    for (const [file, text] of Object.entries(c.files)) {
      writeFileSync(join(PROJECT, file), text);
    }
  }
  const codeServer = await startCodeServer();
  const browser = await chromium.launch({ executablePath: env('WORKBENCH_CHROMIUM'), args: ['--no-sandbox'] });
  let passed = 0;
  let failed = 0;
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(30_000);
    await page.goto(`${codeServer.url}/?folder=${encodeURIComponent(PROJECT)}`);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    await page.locator('.explorer-folders-view').waitFor({ timeout: 60_000 });
    for (const c of cases) {
      const started = Date.now();
      const wb = new Workbench(page, c.name);
      try {
        await fake.start(c.scenario);
        if ((c.vram ?? DEFAULT_VRAM) !== vram) {
          vram = c.vram ?? DEFAULT_VRAM;
          writeServerConfig(fakeUrl, vram);
          await wb.command('LLM Router: Restart server');
        }
        await c.run(wb);
        passed += 1;
        console.log(`ok     ${c.name}: ${c.title} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      } catch (error) {
        failed += 1;
        console.log(`FAILED ${c.name}: ${c.title} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
        console.log(`  ${String(error?.stack ?? error).replace(/\n/g, '\n  ')}`);
        await wb.shot('failed').catch(() => undefined);
      }
      await wb.reset().catch((error) => console.log(`  (resetting the window failed: ${error.message})`));
    }
  } finally {
    await browser.close().catch(() => undefined);
    await codeServer.stop();
    await fake.stop();
    if (failed > 0) {
      // The extension's output channel and the extension host's log, for whoever reads the failure.
      writeFileSync(join(OUT, 'code-server.log'), codeServer.log());
      cpSync(join(env('WORKBENCH_PROFILE'), 'logs'), join(OUT, 'logs'), { recursive: true });
      console.log(`logs in ${OUT}/logs and ${OUT}/code-server.log`);
    }
  }
  return { passed, failed };
}

main().then(
  ({ passed, failed }) => {
    console.log(`vscode-workbench: ${passed} passed, ${failed} failed`);
    process.exit(failed === 0 ? 0 : 1);
  },
  (error) => {
    console.log(String(error?.stack ?? error));
    console.log('vscode-workbench: 0 passed, 1 failed');
    process.exit(1);
  },
);
