/**
 * Settings (`nexus.*`) and how the sidecar command is resolved from them.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BACKENDS, type BackendType, type LogLevel } from './protocol';
import { getConfiguration, isWorkspaceTrusted } from './vscodeapi';

export interface NexusSettings {
    /** `nexus.sidecar.command`: argument array, or one string split like a shell would. */
    sidecarCommand: string[] | string;
    /** `nexus.sidecar.pythonPath`: interpreter for `-m nexus.sidecar`. */
    pythonPath: string;
    defaultBackend: BackendType;
    logLevel: LogLevel;
    /** `nexus.cli.command`: the `nexus` CLI (empty: next to the sidecar, else from PATH). */
    cliCommand: string[] | string;
}

/**
 * Settings that name a program the extension runs. A folder's settings must not choose them in
 * Restricted Mode (an untrusted repository could name any program): then only the user value
 * counts. The same list is `restrictedConfigurations` in package.json.
 */
export const PROGRAM_SETTINGS = ['sidecar.command', 'sidecar.pythonPath', 'cli.command'] as const;

interface ConfigReader {
    get<T>(key: string, defaultValue: T): T;
    inspect?<T>(key: string): { defaultValue?: T; globalValue?: T } | undefined;
}

/**
 * `key` of the `nexus` section; in Restricted Mode a program setting comes only from the user
 * (global) value, never from the workspace or folder settings.
 */
export function programSetting<T>(c: ConfigReader, key: (typeof PROGRAM_SETTINGS)[number], defaultValue: T, trusted: boolean): T {
    if (trusted) {
        return c.get<T>(key, defaultValue);
    }
    const info = c.inspect?.<T>(key);
    return info?.globalValue ?? defaultValue;
}

/** Settings whose change needs a sidecar restart. */
export const SIDECAR_SETTINGS = ['nexus.sidecar', 'nexus.logLevel'];

export const TRACE_LEVELS = ['off', 'messages', 'verbose'] as const;

const LOG_LEVELS: readonly LogLevel[] = ['error', 'warning', 'info', 'debug'];

export function readSettings(): NexusSettings {
    const c = getConfiguration('nexus');
    const trusted = isWorkspaceTrusted();
    const backend = c.get<string>('defaultBackend', 'docker');
    const level = c.get<string>('logLevel', 'info');
    return {
        sidecarCommand: programSetting<string[] | string>(c, 'sidecar.command', [], trusted),
        pythonPath: programSetting<string>(c, 'sidecar.pythonPath', 'python3', trusted) || 'python3',
        cliCommand: programSetting<string[] | string>(c, 'cli.command', [], trusted),
        defaultBackend: (BACKENDS as readonly string[]).includes(backend) ? (backend as BackendType) : 'docker',
        logLevel: (LOG_LEVELS as readonly string[]).includes(level) ? (level as LogLevel) : 'info',
    };
}

export interface SidecarCommand {
    command: string;
    args: string[];
    /** Where it came from, for the log. */
    source: 'setting' | 'path' | 'python';
}

/**
 * Resolution order:
 *   1. `nexus.sidecar.command`, when set;
 *   2. `nexus-sidecar` found on PATH;
 *   3. `<nexus.sidecar.pythonPath> -m nexus.sidecar`.
 */
export function resolveSidecarCommand(
    settings: Pick<NexusSettings, 'sidecarCommand' | 'pythonPath'>,
    findOnPath: (exe: string) => string | undefined = whichSync,
    home: string = os.homedir(),
): SidecarCommand {
    const raw = settings.sidecarCommand;
    const argv = (Array.isArray(raw) ? raw : splitCommandLine(raw ?? '')).filter((a) => a !== '');
    if (argv.length > 0) {
        const [command, ...args] = argv.map((a) => expandHome(a, home));
        return { command, args, source: 'setting' };
    }
    const onPath = findOnPath('nexus-sidecar');
    if (onPath) {
        return { command: onPath, args: [], source: 'path' };
    }
    return { command: expandHome(settings.pythonPath, home), args: ['-m', 'nexus.sidecar'], source: 'python' };
}

/** Splits a command line on whitespace, honouring single quotes, double quotes and backslashes. */
export function splitCommandLine(line: string): string[] {
    const out: string[] = [];
    let cur = '';
    let inWord = false;
    let quote: '"' | "'" | undefined;
    for (let i = 0; i < line.length; i++) {
        const ch = line[i];
        if (quote) {
            if (ch === quote) {
                quote = undefined;
            } else if (ch === '\\' && quote === '"' && i + 1 < line.length) {
                cur += line[++i];
            } else {
                cur += ch;
            }
        } else if (ch === '"' || ch === "'") {
            quote = ch;
            inWord = true;
        } else if (ch === '\\' && i + 1 < line.length) {
            cur += line[++i];
            inWord = true;
        } else if (/\s/.test(ch)) {
            if (inWord) {
                out.push(cur);
                cur = '';
                inWord = false;
            }
        } else {
            cur += ch;
            inWord = true;
        }
    }
    if (inWord) {
        out.push(cur);
    }
    return out;
}

export function expandHome(p: string, home: string): string {
    if (p === '~') {
        return home;
    }
    if (p.startsWith('~/')) {
        return path.join(home, p.slice(2));
    }
    return p;
}

/** The first executable called `exe` on PATH, if any. */
export function whichSync(exe: string, envPath: string = process.env.PATH ?? ''): string | undefined {
    for (const dir of envPath.split(path.delimiter)) {
        if (!dir) {
            continue;
        }
        const candidate = path.join(dir, exe);
        try {
            fs.accessSync(candidate, fs.constants.X_OK);
            if (fs.statSync(candidate).isFile()) {
                return candidate;
            }
        } catch {
            // not here
        }
    }
    return undefined;
}
