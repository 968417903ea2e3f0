/**
 * Nexus: Open in New Window (Remote-SSH), Copy SSH Command, Show Info.
 */
import * as fs from 'fs';
import { showError } from '../common/errors';
import { withSidecarProgress } from '../common/progress';
import type { ConnectionInfo, WorkspaceInfo } from '../common/protocol';
import { detectRemoteSsh, editorKind, recommendedRemoteSsh, type RemoteSshExtension } from '../common/remote';
import {
    appName,
    executeCommand,
    getConfiguration,
    isExtensionInstalled,
    parseUri,
    showInformationMessage,
    showReadOnlyDocument,
    showWarningMessage,
    writeClipboard,
} from '../common/vscodeapi';
import { pickWorkspace, type CommandContext } from './context';
import { startWorkspace } from './lifecycle';

/**
 * Test-only: when this environment variable names a file, "Open in New Window" writes the
 * folder URI it would open (and the Remote-SSH extension it found) to that file instead of
 * opening a window. The end-to-end test uses it because Remote-SSH cannot run there.
 */
export const RECORD_OPEN_ENV = 'NEXUS_E2E_RECORD_OPEN';

export const SHOW_EXTENSION = 'Show Extension';
export const START_AND_OPEN = 'Start and Open';

export type OpenOutcome = 'opened' | 'recorded' | 'missing-extension' | 'cancelled' | 'failed';

export async function openWorkspace(ctx: CommandContext, arg?: unknown): Promise<OpenOutcome> {
    const name = await pickWorkspace(ctx, arg, 'Workspace to open in a new window', ['running']);
    if (!name) {
        return 'cancelled';
    }
    const kind = editorKind(appName());
    const remote = detectRemoteSsh(kind, isExtensionInstalled);
    const recordFile = process.env[RECORD_OPEN_ENV];
    if (!remote && !recordFile) {
        const wanted = recommendedRemoteSsh(kind);
        const choice = await showWarningMessage(
            `Opening a Nexus workspace needs the "${wanted.displayName}" extension (${wanted.id}). Install it, then try again.`,
            {},
            SHOW_EXTENSION,
        );
        if (choice === SHOW_EXTENSION) {
            await executeCommand('workbench.extensions.search', `@id:${wanted.id}`);
        }
        return 'missing-extension';
    }

    const status = ctx.model.get(name)?.status;
    if (status === 'stopped') {
        const choice = await showWarningMessage(`Workspace "${name}" is stopped.`, {}, START_AND_OPEN);
        if (choice !== START_AND_OPEN || !(await startWorkspace(ctx, name))) {
            return 'cancelled';
        }
    }

    try {
        const info = await withSidecarProgress(ctx.client, `Connecting to workspace "${name}"`, (_workDoneToken, token) =>
            ctx.client.request('nexus/workspace/connectionInfo', { name }, token));
        if (recordFile) {
            recordOpen(recordFile, info.uri, remote);
            return 'recorded';
        }
        if (!(await remoteSshFindsAlias(info))) {
            return 'cancelled';
        }
        await executeCommand('vscode.openFolder', parseUri(info.uri), { forceNewWindow: true });
        return 'opened';
    } catch (e) {
        return (await showError(`Open workspace "${name}"`, e)).cancelled ? 'cancelled' : 'failed';
    }
}

export const USE_NEXUS_SSH_CONFIG = 'Use the Nexus ssh config';

/**
 * Remote-SSH resolves the alias through ~/.ssh/config. When Nexus could not include its file
 * there (a read-only config, or `nexus ssh-config uninstall`), `sshCommand` says `ssh -F <file>`:
 * offer to point `remote.SSH.configFile` at the Nexus file instead of failing inside Remote-SSH.
 */
export async function remoteSshFindsAlias(info: ConnectionInfo): Promise<boolean> {
    if (!info.sshCommand.includes(' -F ')) {
        return true;
    }
    const settings = getConfiguration('remote.SSH');
    if (settings.get<string>('configFile') === info.sshConfigPath) {
        return true;
    }
    const choice = await showWarningMessage(
        `Your ~/.ssh/config does not include the Nexus ssh config, so Remote-SSH cannot find "${info.alias}". ` +
            `Point Remote-SSH at ${info.sshConfigPath}? (Remote-SSH then lists only Nexus hosts.)`,
        {},
        USE_NEXUS_SSH_CONFIG,
    );
    if (choice !== USE_NEXUS_SSH_CONFIG) {
        return false;
    }
    await settings.update('configFile', info.sshConfigPath, true);
    return true;
}

function recordOpen(file: string, uri: string, remote: RemoteSshExtension | undefined): void {
    const record = { command: 'vscode.openFolder', uri, options: { forceNewWindow: true }, remoteSshExtension: remote?.id ?? null };
    fs.writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
}

export async function copySshCommand(ctx: CommandContext, arg?: unknown): Promise<string | undefined> {
    const name = await pickWorkspace(ctx, arg, 'Workspace whose SSH command to copy', ['running']);
    if (!name) {
        return undefined;
    }
    try {
        const info = await ctx.client.request('nexus/workspace/connectionInfo', { name });
        await writeClipboard(info.sshCommand);
        void showInformationMessage(`Copied: ${info.sshCommand}`);
        return info.sshCommand;
    } catch (e) {
        await showError(`Copy SSH command for "${name}"`, e);
        return undefined;
    }
}

/** Markdown for Show Info. */
export function renderInfo(ws: WorkspaceInfo): string {
    const v = (x: string | number | null | undefined): string => (x === null || x === undefined || x === '' ? '—' : `\`${x}\``);
    const gb = (b: number | null): string => (b === null ? '—' : `${(b / 1024 ** 3).toFixed(2)} GB`);
    const caps = Object.entries(ws.capabilities ?? {})
        .filter(([, on]) => on)
        .map(([k]) => k.replace(/^supports/, ''))
        .join(', ');
    const lines = [
        `# Nexus workspace ${ws.name}`,
        '',
        '| | |',
        '|---|---|',
        `| Status | **${ws.status}** |`,
        `| Backend | ${ws.backend} ${ws.backendId ? `(${v(ws.backendId)})` : ''} |`,
        `| SSH | ${v(`ssh ${ws.sshAlias}`)} → ${v(ws.sshUser)}@${v(ws.sshHost)}:${v(ws.sshPort)} |`,
        `| Remote path | ${v(ws.remotePath)} |`,
        `| Local path | ${v(ws.localPath)} |`,
        `| Branch | ${v(ws.branch)} |`,
        `| Image | ${v(ws.image)} |`,
        `| Resources | CPU ${v(ws.resources.cpu)}, memory ${v(ws.resources.memoryGb)} GB, disk ${v(ws.resources.diskGb)} GB |`,
        `| Created | ${ws.createdAt} |`,
        `| Updated | ${ws.updatedAt} |`,
    ];
    if (ws.stats) {
        lines.push(`| CPU use | ${ws.stats.cpuPercent === null ? '—' : `${ws.stats.cpuPercent.toFixed(1)} %`} |`);
        lines.push(`| Memory | ${gb(ws.stats.memoryUsedBytes)} of ${gb(ws.stats.memoryLimitBytes)} |`);
    }
    const labels = Object.entries(ws.labels ?? {});
    if (labels.length) {
        lines.push(`| Labels | ${labels.map(([k, val]) => `${k}=${val}`).join(', ')} |`);
    }
    lines.push(`| Capabilities | ${caps || '—'} |`, '');
    return lines.join('\n');
}

export async function showInfo(ctx: CommandContext, arg?: unknown): Promise<void> {
    const name = await pickWorkspace(ctx, arg, 'Workspace to describe');
    if (!name) {
        return;
    }
    try {
        const info = await ctx.client.request('nexus/workspace/get', { name });
        await showReadOnlyDocument(`${name} (Nexus workspace).md`, renderInfo(info));
    } catch (e) {
        await showError(`Show info for "${name}"`, e);
    }
}
