// VS Code client for llm-router-lsp.
//
// All behaviour lives in the server: the commands here only ask it for the code actions
// on the selection and execute the one that matches, so the editor shows exactly what
// the server offers (titles, models, consent questions). Progress reported by the server
// ($/progress) is shown in our status bar item, where a click cancels the running job.

import * as os from 'os';
import * as vscode from 'vscode';
import {
  CloseAction,
  CodeActionRequest,
  CodeActionTriggerKind,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  RevealOutputChannelOn,
  WorkDoneProgress,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
  type ClientCapabilities,
  type CodeActionParams,
  type Command,
  type CodeAction,
  type Disposable,
  type FeatureState,
  type LanguageClientOptions,
  type ProgressToken,
  type ServerOptions,
  type StaticFeature,
  type WorkDoneProgressBegin,
  type WorkDoneProgressEnd,
  type WorkDoneProgressReport,
} from 'vscode-languageclient/node';

import {
  notFoundMessage,
  resolveConfigPath,
  resolveServerPath,
  settingOrigin,
  tildify,
  type LookupEnv,
  type Resolution,
} from './serverPath';

/** VS Code language ids the server is started for (same list as the Neovim plugin). */
export const LANGUAGES = ['shellscript', 'fish', 'dockerfile', 'makefile', 'yaml', 'python', 'lua'];

/** Server command ids, as the server's code actions carry them. */
const SERVER_COMMANDS = {
  explain: 'llm-router.explain',
  generate: 'llm-router.generate',
  ask: 'llm-router.ask',
  cancel: 'llm-router.cancel',
} as const;

type Task = 'explain' | 'generate';

interface ActiveProgress {
  title: string;
  message?: string;
  percentage?: number;
  cancellable: boolean;
  disposable: Disposable;
}

let client: LanguageClient | undefined;
let output: vscode.OutputChannel | undefined;
let statusItem: vscode.StatusBarItem | undefined;
const progress = new Map<ProgressToken, ActiveProgress>();
/** Disposables of the running client (its request handlers), dropped with it. */
let clientDisposables: Disposable[] = [];
/** Starts and stops run one after another (activation, restart command, settings, Retry). */
let lifecycle: Promise<void> = Promise.resolve();
/** When the running server went away by itself lately: it is restarted up to CRASH_LIMIT times. */
let crashes: number[] = [];
/** The command and --config of the client started last, to tell whether a folder change matters. */
let startedWith: string | undefined;
const CRASH_LIMIT = 4;
const CRASH_WINDOW_MS = 3 * 60 * 1000;

/**
 * A client that writes its own errors to the output channel only. vscode-languageclient
 * shows a notification for a failed start even with `revealOutputChannelOn: Never` (it
 * logs it with 'force'), so a server that cannot start produced two toasts: its and ours.
 * Start failures and crashes are reported by this extension, once, with buttons.
 */
class QuietLanguageClient extends LanguageClient {
  override error(message: string, data?: unknown): void {
    super.error(message, data, false);
  }
}

function lookupEnv(): LookupEnv {
  const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
  return {
    home: os.homedir(),
    path: process.env.PATH,
    cargoHome: process.env.CARGO_HOME,
    workspaceFolder: folder?.uri.fsPath,
    pathExt: process.env.PATHEXT,
  };
}

/**
 * Reads both settings from every scope VS Code has for this window (folder, workspace,
 * user, and in a remote window the remote machine's settings) at the moment of the call.
 */
function settings(): { server: Resolution; configPath: string; env: LookupEnv } {
  const env = lookupEnv();
  const folder = vscode.workspace.workspaceFolders?.[0];
  const config = vscode.workspace.getConfiguration('llmRouter', folder?.uri);
  return {
    server: resolveServerPath(config.inspect<string>('serverPath'), env),
    configPath: resolveConfigPath(config.inspect<string>('configPath'), env),
    env,
  };
}

function serverOptions(command: string, configPath: string): ServerOptions {
  const args = ['--stdio'];
  if (configPath !== '') {
    args.push('--config', configPath);
  }
  return { command, args };
}

/**
 * The output channel, with what goes through `append` also handed to `sink`: the client
 * writes the server's stderr with `append` (its own log lines with `appendLine`), so a
 * server that dies at start can be quoted in the notification.
 */
function teeAppend(
  channel: vscode.OutputChannel | undefined,
  sink: (text: string) => void,
): vscode.OutputChannel | undefined {
  if (channel === undefined) {
    return undefined;
  }
  return new Proxy(channel, {
    get(target, prop) {
      if (prop === 'append') {
        return (text: string) => {
          sink(text);
          target.append(text);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The last line the server wrote to stderr, shortened for a notification. */
function lastLine(text: string): string | undefined {
  const lines = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '');
  if (lines.length === 0) {
    return undefined;
  }
  const last = lines[lines.length - 1];
  return last.length > 200 ? `${last.slice(0, 199)}…` : last;
}

function clientOptions(channel: vscode.OutputChannel | undefined, onClosed: () => void): LanguageClientOptions {
  return {
    documentSelector: LANGUAGES.flatMap((language) => [
      { scheme: 'file', language },
      { scheme: 'untitled', language },
    ]),
    outputChannel: channel,
    // The id 'llmRouter' makes the client read the `llmRouter.trace.server` setting.
    // No notifications from the client itself: this extension reports failures once.
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    // A failed `initialize` is not retried by the client: startClient reports it.
    initializationFailedHandler: () => false,
    errorHandler: {
      error: (_error, _message, count) => ({
        action: count !== undefined && count <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown,
        handled: true,
      }),
      closed: () => {
        onClosed();
        return { action: CloseAction.DoNotRestart, handled: true };
      },
    },
  };
}

/** The one error notification for a server that does not run, with its two ways out. */
function reportFailure(message: string, context: vscode.ExtensionContext): void {
  output?.appendLine(message);
  void vscode.window.showErrorMessage(message, 'Open settings', 'Retry').then(async (choice) => {
    if (choice === 'Open settings') {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'llmRouter.serverPath');
    } else if (choice === 'Retry') {
      await restart(context);
    }
  });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Starts a client for the settings as they are now; reports (does not throw) on failure. */
async function startClient(context: vscode.ExtensionContext): Promise<void> {
  const { server, configPath, env } = settings();
  if (!server.ok) {
    output?.appendLine(
      `Looking for the server (${settingOrigin(server)}): ${server.reason}.` +
        (server.tried.length > 0 ? ` Tried:\n  ${server.tried.join('\n  ')}` : ''),
    );
    reportFailure(notFoundMessage(server, env.home), context);
    return;
  }
  const where = server.via === 'setting' ? settingOrigin(server) : `found in ${tildify(server.via, env.home)}`;
  output?.appendLine(`Starting ${server.command} (${where})${configPath !== '' ? ` with --config ${configPath}` : ''}.`);
  let running = false;
  let stderrTail = '';
  const next: LanguageClient = new QuietLanguageClient(
    'llmRouter',
    'LLM Router',
    serverOptions(server.command, configPath),
    clientOptions(teeAppend(output, (text) => (stderrTail = (stderrTail + text).slice(-2000))), () => {
      // Only a server that was running and went away by itself; start failures are
      // reported below, a stop we asked for never gets here.
      if (running && client === next) {
        running = false;
        onCrash(context, server.command);
      }
    }),
  );
  client = next;
  startedWith = `${server.command}\0${configPath}`;
  next.registerFeature(new StatusBarProgress(next));
  try {
    await next.start();
    running = true;
  } catch (error) {
    if (client === next) {
      client = undefined;
      disposeClientState();
    }
    // The server's own last words say more than the client's error ("stream destroyed").
    const said = lastLine(stderrTail);
    reportFailure(
      `LLM Router: the server ${tildify(server.command, env.home)} (${where}) did not start: ` +
        `${said !== undefined ? `it wrote "${said}"` : errorText(error)}. Its output is in Output › LLM Router.`,
      context,
    );
  }
}

/** A running server exited: start it again, unless it keeps doing so. */
function onCrash(context: vscode.ExtensionContext, command: string): void {
  const now = Date.now();
  crashes = [...crashes.filter((t) => now - t < CRASH_WINDOW_MS), now];
  if (crashes.length <= CRASH_LIMIT) {
    output?.appendLine(`The server ${command} stopped; starting it again.`);
    // After the client has finished its own clean-up of the closed connection.
    setTimeout(() => void restart(context), 1000);
    return;
  }
  crashes = [];
  void lifecycle.then(() => stopClient());
  reportFailure(
    `LLM Router: the server ${command} stopped ${CRASH_LIMIT + 1} times in 3 minutes and is not ` +
      'started again. Its output is in Output › LLM Router.',
    context,
  );
}

function disposeClientState(): void {
  for (const disposable of clientDisposables) {
    disposable.dispose();
  }
  clientDisposables = [];
  for (const entry of progress.values()) {
    entry.disposable.dispose();
  }
  progress.clear();
  updateStatus();
}

async function stopClient(): Promise<void> {
  const current = client;
  client = undefined;
  startedWith = undefined;
  disposeClientState();
  if (current !== undefined && current.isRunning()) {
    try {
      await current.stop(2000);
    } catch (error) {
      output?.appendLine(`Stopping the server failed: ${errorText(error)}`);
    }
  }
}

/** Stops the client and starts one for the current settings, after any start or stop in flight. */
function restart(context: vscode.ExtensionContext): Promise<void> {
  const run = lifecycle.then(async () => {
    await stopClient();
    await startClient(context);
  });
  lifecycle = run.catch((error: unknown) => {
    output?.appendLine(`Restarting the server failed: ${errorText(error)}`);
  });
  return lifecycle;
}

/**
 * Shows the server's work-done progress in our own status bar item, where one click
 * cancels, instead of the client's built-in window progress (a click on that only opens a
 * notification with a second Cancel button). The built-in ProgressFeature registers its
 * handler for `window/workDoneProgress/create` when the client initializes, replacing one
 * set before `start()`; features initialize in the order they were registered, so ours,
 * registered after the built-in ones, sets the handler last.
 */
class StatusBarProgress implements StaticFeature {
  constructor(private readonly lc: LanguageClient) {}

  fillClientCapabilities(capabilities: ClientCapabilities): void {
    capabilities.window = { ...capabilities.window, workDoneProgress: true };
  }

  initialize(): void {
    clientDisposables.push(
      this.lc.onRequest(WorkDoneProgressCreateRequest.type, (params) => {
        trackProgress(this.lc, params.token);
        return null;
      }),
    );
  }

  getState(): FeatureState {
    return { kind: 'static' };
  }

  clear(): void {
    // The handler goes with the client's other state in disposeClientState.
  }
}

function trackProgress(lc: LanguageClient, token: ProgressToken): void {
  const disposable = lc.onProgress(WorkDoneProgress.type, token, (value) => {
    const entry = progress.get(token);
    switch (value.kind) {
      case 'begin': {
        const begin: WorkDoneProgressBegin = value;
        if (entry !== undefined) {
          entry.title = begin.title;
          entry.message = begin.message;
          entry.percentage = begin.percentage;
          entry.cancellable = begin.cancellable === true;
        }
        break;
      }
      case 'report': {
        const report: WorkDoneProgressReport = value;
        if (entry !== undefined) {
          entry.message = report.message ?? entry.message;
          entry.percentage = report.percentage ?? entry.percentage;
          entry.cancellable = report.cancellable ?? entry.cancellable;
        }
        break;
      }
      case 'end': {
        const end: WorkDoneProgressEnd = value;
        if (end.message !== undefined) {
          output?.appendLine(end.message);
        }
        entry?.disposable.dispose();
        progress.delete(token);
        break;
      }
    }
    updateStatus();
  });
  progress.set(token, { title: 'LLM Router', cancellable: false, disposable });
  updateStatus();
}

function updateStatus(): void {
  if (statusItem === undefined) {
    return;
  }
  const entries = [...progress.values()];
  void vscode.commands.executeCommand('setContext', 'llmRouter.busy', entries.length > 0);
  if (entries.length === 0) {
    statusItem.hide();
    return;
  }
  const last = entries[entries.length - 1];
  const percent = last.percentage !== undefined ? ` ${last.percentage} %` : '';
  const message = last.message !== undefined && last.message !== '' ? `: ${last.message}` : '';
  statusItem.text = `$(sync~spin) ${last.title}${message}${percent}`;
  statusItem.tooltip = 'LLM Router is working. Click to cancel.';
  statusItem.show();
}

function commandOf(action: Command | CodeAction): Command | undefined {
  if (typeof action.command === 'string') {
    return action as Command;
  }
  return action.command;
}

async function codeActions(lc: LanguageClient, editor: vscode.TextEditor): Promise<(Command | CodeAction)[]> {
  const params: CodeActionParams = {
    textDocument: { uri: lc.code2ProtocolConverter.asUri(editor.document.uri) },
    range: lc.code2ProtocolConverter.asRange(editor.selection),
    // No `only` filter: the VRAM choice may come as actions of another kind.
    context: { diagnostics: [], triggerKind: CodeActionTriggerKind.Invoked },
  };
  return (await lc.sendRequest(CodeActionRequest.type, params)) ?? [];
}

async function runServerCommand(lc: LanguageClient, action: Command | CodeAction): Promise<void> {
  if ('edit' in action && action.edit !== undefined) {
    const edit = await lc.protocol2CodeConverter.asWorkspaceEdit(action.edit);
    await vscode.workspace.applyEdit(edit);
  }
  const command = commandOf(action);
  if (command !== undefined) {
    await lc.sendRequest(ExecuteCommandRequest.type, {
      command: command.command,
      arguments: command.arguments,
    });
  }
}

/** Asks the server for the actions on the selection and runs the one for `task`. */
async function runTask(task: Task): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const lc = client;
  if (editor === undefined || lc === undefined || !lc.isRunning()) {
    void vscode.window.showWarningMessage(
      'LLM Router: the server is not running. Run "LLM Router: Restart server" to start it again.',
    );
    return;
  }
  if (!LANGUAGES.includes(editor.document.languageId)) {
    void vscode.window.showWarningMessage(
      `LLM Router: ${editor.document.languageId} documents are not handled by the server.`,
    );
    return;
  }
  const actions = await codeActions(lc, editor);
  const wanted = SERVER_COMMANDS[task];
  const matching = actions.find((a) => commandOf(a)?.command === wanted);
  // While a VRAM question is open the server may offer consent actions instead.
  const consent = actions.filter((a) => commandOf(a)?.command === 'llm-router.consent');
  if (matching !== undefined) {
    await runServerCommand(lc, matching);
    return;
  }
  if (consent.length > 0) {
    const picked = await vscode.window.showQuickPick(
      consent.map((a) => ({ label: a.title, action: a })),
      { placeHolder: 'LLM Router: GPU memory is nearly full' },
    );
    if (picked !== undefined) {
      await runServerCommand(lc, picked.action);
    }
    return;
  }
  void vscode.window.showInformationMessage(
    `LLM Router: the server offers no "${task}" action here.`,
  );
}

/** Cancels running jobs: through the progress tokens, else through the server's action. */
async function cancel(): Promise<void> {
  const lc = client;
  if (lc === undefined) {
    return;
  }
  const cancellable = [...progress.entries()].filter(([, entry]) => entry.cancellable);
  if (cancellable.length > 0) {
    for (const [token] of cancellable) {
      await lc.sendNotification(WorkDoneProgressCancelNotification.type, { token });
    }
    return;
  }
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined) {
    return;
  }
  const action = (await codeActions(lc, editor)).find(
    (a) => commandOf(a)?.command === SERVER_COMMANDS.cancel,
  );
  if (action !== undefined) {
    await runServerCommand(lc, action);
  } else {
    void vscode.window.showInformationMessage('LLM Router: nothing to cancel.');
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('LLM Router');
  statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
  statusItem.command = 'llmRouter.cancel';
  context.subscriptions.push(
    output,
    statusItem,
    vscode.commands.registerCommand('llmRouter.explainSelection', () => runTask('explain')),
    vscode.commands.registerCommand('llmRouter.generateScript', () => runTask('generate')),
    vscode.commands.registerCommand('llmRouter.cancel', () => cancel()),
    vscode.commands.registerCommand('llmRouter.restartServer', () => {
      crashes = [];
      return restart(context);
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (
        event.affectsConfiguration('llmRouter.serverPath') ||
        event.affectsConfiguration('llmRouter.configPath')
      ) {
        void restart(context);
      }
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(() => {
      // A relative serverPath/configPath is resolved against the first folder.
      const { server, configPath } = settings();
      const wanted = server.ok ? `${server.command}\0${configPath}` : undefined;
      if (client === undefined || wanted !== startedWith) {
        void restart(context);
      }
    }),
  );
  await restart(context);
}

export async function deactivate(): Promise<void> {
  await lifecycle;
  await stopClient();
}
