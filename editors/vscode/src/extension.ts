// VS Code client for llm-router-lsp.
//
// All behaviour lives in the server: the commands here only ask it for the code actions
// on the selection and execute the one that matches, so the editor shows exactly what
// the server offers (titles, models, consent questions). Progress reported by the server
// ($/progress) is shown in the status bar, where a click cancels the running job.

import * as vscode from 'vscode';
import {
  CodeActionRequest,
  CodeActionTriggerKind,
  ExecuteCommandRequest,
  LanguageClient,
  WorkDoneProgress,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
  type CodeActionParams,
  type Command,
  type CodeAction,
  type Disposable,
  type LanguageClientOptions,
  type ProgressToken,
  type ServerOptions,
  type WorkDoneProgressBegin,
  type WorkDoneProgressEnd,
  type WorkDoneProgressReport,
} from 'vscode-languageclient/node';

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

function settings(): { serverPath: string; configPath: string } {
  const config = vscode.workspace.getConfiguration('llmRouter');
  const serverPath = config.get<string>('serverPath', 'llm-router-lsp').trim();
  const configPath = config.get<string>('configPath', '').trim();
  return { serverPath: serverPath === '' ? 'llm-router-lsp' : serverPath, configPath };
}

function serverOptions(): ServerOptions {
  const { serverPath, configPath } = settings();
  const args = ['--stdio'];
  if (configPath !== '') {
    args.push('--config', configPath);
  }
  return { command: serverPath, args };
}

function clientOptions(): LanguageClientOptions {
  return {
    documentSelector: LANGUAGES.flatMap((language) => [
      { scheme: 'file', language },
      { scheme: 'untitled', language },
    ]),
    outputChannel: output,
    // The id 'llmRouter' makes the client read the `llmRouter.trace.server` setting.
  };
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  const next = new LanguageClient('llmRouter', 'LLM Router', serverOptions(), clientOptions());
  client = next;
  await next.start();
  // Show the server's work-done progress in our own status bar item (clickable to cancel)
  // instead of the client's default, which cannot be cancelled from the status bar.
  context.subscriptions.push(
    next.onRequest(WorkDoneProgressCreateRequest.type, (params) => {
      trackProgress(next, params.token);
      return null;
    }),
  );
}

async function stopClient(): Promise<void> {
  const current = client;
  client = undefined;
  for (const entry of progress.values()) {
    entry.disposable.dispose();
  }
  progress.clear();
  updateStatus();
  if (current !== undefined) {
    await current.stop();
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
    void vscode.window.showWarningMessage('LLM Router: the server is not running for this editor.');
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
    vscode.commands.registerCommand('llmRouter.restartServer', async () => {
      await stopClient();
      await startClient(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (
        event.affectsConfiguration('llmRouter.serverPath') ||
        event.affectsConfiguration('llmRouter.configPath')
      ) {
        await stopClient();
        await startClient(context);
      }
    }),
  );
  try {
    await startClient(context);
  } catch (error) {
    const { serverPath } = settings();
    void vscode.window.showErrorMessage(
      `LLM Router: cannot start "${serverPath}" (${String(error)}). Set llmRouter.serverPath.`,
    );
  }
}

export async function deactivate(): Promise<void> {
  await stopClient();
}
