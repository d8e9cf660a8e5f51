// Where the llm-router-lsp binary is: the `llmRouter.serverPath` setting, resolved.
//
// Pure apart from reading the file system (stat, access), so node:test can drive it with
// temporary folders, fake executables and a fake PATH (test/serverPath.test.mjs). It does
// not import `vscode`: the extension passes in what `WorkspaceConfiguration.inspect` gave.

import * as fs from 'fs';
import * as path from 'path';

/** The setting's default: a bare name, searched for. */
export const DEFAULT_SERVER_PATH = 'llm-router-lsp';

/** What `workspace.getConfiguration('llmRouter').inspect('serverPath')` returns (the part we use). */
export interface InspectedSetting {
  defaultValue?: unknown;
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

/** The settings scope a value came from, as VS Code's settings editor names it. */
export type SettingSource = 'Folder settings' | 'Workspace settings' | 'User settings' | 'default';

/** What the lookup depends on besides the setting. */
export interface LookupEnv {
  /** The user's home folder (`os.homedir()`). */
  home: string;
  /** `PATH` of the extension host. */
  path?: string;
  /** `CARGO_HOME`, where `cargo install` puts `bin/` when it is set. */
  cargoHome?: string;
  /** File system path of the first workspace folder, for relative settings. */
  workspaceFolder?: string;
  /** Defaults to `process.platform`. */
  platform?: NodeJS.Platform;
  /** `PATHEXT` (Windows only). */
  pathExt?: string;
}

export interface Found {
  ok: true;
  /** Absolute path of the executable to start. */
  command: string;
  /** The setting as written. */
  setting: string;
  source: SettingSource;
  /** Where it was found: the folder a bare name was found in, or 'setting'. */
  via: string;
}

export interface NotFound {
  ok: false;
  setting: string;
  source: SettingSource;
  /** Why nothing can be started, one short sentence (no leading capital, no full stop). */
  reason: string;
  /** The files that were looked at, in order. */
  tried: string[];
  /** For a bare name: the folders searched, in order (PATH first). */
  searched: string[];
}

export type Resolution = Found | NotFound;

/**
 * The value that applies, most specific scope first: folder, workspace, user (which in a
 * remote window already includes the remote machine's settings), default. Empty strings
 * and non-strings are skipped, so `""` in a scope means "not set here".
 */
export function chooseSetting(inspected: InspectedSetting | undefined, fallback: string): { value: string; source: SettingSource } {
  const scopes: [unknown, SettingSource][] = [
    [inspected?.workspaceFolderValue, 'Folder settings'],
    [inspected?.workspaceValue, 'Workspace settings'],
    [inspected?.globalValue, 'User settings'],
    [inspected?.defaultValue, 'default'],
  ];
  for (const [value, source] of scopes) {
    if (typeof value === 'string' && value.trim() !== '') {
      return { value: value.trim(), source };
    }
  }
  return { value: fallback, source: 'default' };
}

/** `~`, `~/…` and `${userHome}` at the start become the home folder. */
export function expandHome(value: string, home: string): string {
  if (value === '~') {
    return home;
  }
  if (value.startsWith('~/') || value.startsWith('~\\')) {
    return path.join(home, value.slice(2));
  }
  if (value.startsWith('${userHome}')) {
    return path.join(home, value.slice('${userHome}'.length));
  }
  return value;
}

/** A name without any folder part (`llm-router-lsp`), searched for instead of opened. */
export function isBareName(value: string, platform: NodeJS.Platform = process.platform): boolean {
  return !value.includes('/') && !(platform === 'win32' && value.includes('\\'));
}

/**
 * Expands `~`/`${userHome}` and resolves a relative path against the workspace folder.
 * Undefined when the path is relative and no folder is open.
 */
export function absolutePath(value: string, env: LookupEnv): string | undefined {
  const pathApi = (env.platform ?? process.platform) === 'win32' ? path.win32 : path.posix;
  const expanded = expandHome(value, env.home);
  if (pathApi.isAbsolute(expanded)) {
    return pathApi.normalize(expanded);
  }
  if (env.workspaceFolder === undefined) {
    return undefined;
  }
  return pathApi.resolve(env.workspaceFolder, expanded);
}

/** Why `file` cannot be started, or undefined when it is an executable file. */
export function notExecutable(file: string, platform: NodeJS.Platform = process.platform): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return 'does not exist';
  }
  if (!stat.isFile()) {
    return 'is not a file';
  }
  if (platform !== 'win32') {
    try {
      fs.accessSync(file, fs.constants.X_OK);
    } catch {
      return 'is not executable';
    }
  }
  return undefined;
}

/** The folders a bare name is searched in: PATH, then where `cargo install` and pip put binaries. */
export function searchFolders(env: LookupEnv): string[] {
  const platform = env.platform ?? process.platform;
  const delimiter = platform === 'win32' ? ';' : ':';
  const pathApi = platform === 'win32' ? path.win32 : path.posix;
  const folders = (env.path ?? '')
    .split(delimiter)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => absolutePath(entry, { ...env, workspaceFolder: undefined }))
    .filter((entry): entry is string => entry !== undefined);
  if (env.cargoHome !== undefined && env.cargoHome.trim() !== '') {
    const cargoHome = absolutePath(env.cargoHome.trim(), { ...env, workspaceFolder: undefined });
    if (cargoHome !== undefined) {
      folders.push(pathApi.join(cargoHome, 'bin'));
    }
  }
  folders.push(pathApi.join(env.home, '.cargo', 'bin'), pathApi.join(env.home, '.local', 'bin'));
  return [...new Set(folders)];
}

/** Resolves the setting to an executable, or says what was tried. */
export function resolveServerPath(inspected: InspectedSetting | undefined, env: LookupEnv): Resolution {
  const platform = env.platform ?? process.platform;
  const pathApi = platform === 'win32' ? path.win32 : path.posix;
  const { value, source } = chooseSetting(inspected, DEFAULT_SERVER_PATH);
  const expanded = expandHome(value, env.home);
  if (expanded === value && isBareName(value, platform)) {
    const searched = searchFolders(env);
    const names = [value];
    if (platform === 'win32' && pathApi.extname(value) === '') {
      const exts = (env.pathExt ?? '.COM;.EXE;.BAT;.CMD').split(';').filter((e) => e !== '');
      names.unshift(...exts.map((ext) => value + ext.toLowerCase()));
    }
    const tried: string[] = [];
    for (const folder of searched) {
      for (const name of names) {
        const candidate = pathApi.join(folder, name);
        tried.push(candidate);
        if (notExecutable(candidate, platform) === undefined) {
          return { ok: true, command: candidate, setting: value, source, via: folder };
        }
      }
    }
    return { ok: false, setting: value, source, reason: `"${value}" was not found`, tried, searched };
  }
  const file = absolutePath(value, env);
  if (file === undefined) {
    return {
      ok: false,
      setting: value,
      source,
      reason: `"${value}" is a relative path and no folder is open to resolve it against`,
      tried: [],
      searched: [],
    };
  }
  const why = notExecutable(file, platform);
  if (why !== undefined) {
    return { ok: false, setting: value, source, reason: `${file} ${why}`, tried: [file], searched: [] };
  }
  return { ok: true, command: file, setting: value, source, via: 'setting' };
}

/** The home folder written as `~` (for short messages). */
export function tildify(file: string, home: string): string {
  if (home !== '' && (file === home || file.startsWith(home + '/') || file.startsWith(home + '\\'))) {
    return '~' + file.slice(home.length);
  }
  return file;
}

/** Where the setting came from, for messages: "llmRouter.serverPath in User settings". */
export function settingOrigin(r: Resolution): string {
  return r.source === 'default'
    ? `llmRouter.serverPath is the default "${r.setting}"`
    : `llmRouter.serverPath is "${r.setting}" in ${r.source}`;
}

/** The error notification's text for a setting that resolves to nothing. */
export function notFoundMessage(r: NotFound, home: string, maxFolders = 8): string {
  const head = `LLM Router: cannot start the server: ${r.reason}`;
  if (r.searched.length === 0) {
    return `${head} (${settingOrigin(r)}).`;
  }
  const shown = r.searched.slice(0, maxFolders).map((folder) => tildify(folder, home));
  const more = r.searched.length - shown.length;
  const list = shown.join(', ') + (more > 0 ? ` and ${more} more (see Output › LLM Router)` : '');
  return (
    `${head}. Searched: ${list}. Install it on this machine (cargo install puts it in ~/.cargo/bin) ` +
    `or set llmRouter.serverPath to its full path.`
  );
}

/**
 * `llmRouter.configPath` with the same scopes, `~` and relative-path rules; empty when
 * unset (the server's own default applies). A relative path with no folder open is passed
 * on as written.
 */
export function resolveConfigPath(inspected: InspectedSetting | undefined, env: LookupEnv): string {
  const { value } = chooseSetting(inspected, '');
  if (value === '') {
    return '';
  }
  return absolutePath(value, env) ?? value;
}
