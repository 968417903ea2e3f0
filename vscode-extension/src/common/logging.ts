/**
 * The single "Nexus" log channel, and an adapter that lets vscode-languageclient write into it
 * at the right levels.
 */
import type * as vscode from 'vscode';

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';

let channel: vscode.LogOutputChannel | undefined;

export function setLogChannel(c: vscode.LogOutputChannel | undefined): void {
    channel = c;
}

function write(level: Level, message: string): void {
    if (channel) {
        channel[level](message);
    } else if (process.env.CI) {
        console.log(`[${level}] ${message}`);
    }
}

export const log = {
    trace: (m: string): void => write('trace', m),
    debug: (m: string): void => write('debug', m),
    info: (m: string): void => write('info', m),
    warn: (m: string): void => write('warn', m),
    error: (m: string): void => write('error', m),
};

export function showLogs(): void {
    channel?.show(true);
}

/** LSP MessageType (window/logMessage) to a channel level. */
export function levelOfMessageType(type: number): Level {
    switch (type) {
        case 1:
            return 'error';
        case 2:
            return 'warn';
        case 3: // Info
            return 'info';
        default: // 4: Log (what the sidecar uses for debug records), 5: Debug
            return 'debug';
    }
}

/** Logs a window/logMessage from the sidecar at its own level. */
export function logServerMessage(params: { type: number; message: string }): void {
    write(levelOfMessageType(params.type), params.message);
}

const CLIENT_LINE = /^\[(Trace|Debug|Info|Warn|Error)\s*-\s*[^\]]*\]\s?(.*)$/s;

/**
 * What vscode-languageclient 9 writes to its output channel, routed into the log channel:
 * its own "[Level - time] message" lines go out at that level; the sidecar's stderr (raw
 * `append`) goes out at trace level (its useful content also arrives as window/logMessage),
 * and its last lines are kept so a crash can be reported with them.
 */
export class ClientOutputAdapter implements vscode.OutputChannel {
    readonly name = 'Nexus';
    private partial = '';
    private readonly recent: string[] = [];

    append(value: string): void {
        const text = this.partial + value;
        const lines = text.split(/\r?\n/);
        this.partial = lines.pop() ?? '';
        for (const line of lines) {
            this.stderrLine(line);
        }
    }

    appendLine(value: string): void {
        if (value === 'true' || value === 'false') {
            // languageclient 9 logs the "handled" flag of its close handler as data; drop it.
            return;
        }
        const m = CLIENT_LINE.exec(value);
        if (m) {
            const level = m[1].toLowerCase() as Level;
            write(level, m[2]);
        } else {
            write('info', value);
        }
    }

    /** The sidecar's last stderr lines (for an error report when it dies). */
    recentStderr(): string[] {
        return this.partial ? [...this.recent, this.partial] : [...this.recent];
    }

    private stderrLine(line: string): void {
        if (!line) {
            return;
        }
        this.recent.push(line);
        if (this.recent.length > 40) {
            this.recent.shift();
        }
        write('trace', `[sidecar] ${line}`);
    }

    replace(value: string): void {
        this.appendLine(value);
    }
    clear(): void {
        /* the log channel is append-only */
    }
    show(): void {
        showLogs();
    }
    hide(): void {
        /* nothing to hide */
    }
    dispose(): void {
        /* the log channel is owned by the extension */
    }
}
