/**
 * Nexus: Open Preview… / Close Preview… — a workspace's web server on a local URL
 * (`nexus/preview/open`, `close`, `list`), opened in the default browser.
 */
import * as fs from 'fs';
import { showError } from '../common/errors';
import { withSidecarProgress } from '../common/progress';
import type { Preview, PreviewOpenResult } from '../common/protocol';
import { openExternal, parseUri, showInformationMessage, showInputBox, showQuickPick } from '../common/vscodeapi';
import { argName, pickWorkspace, type CommandContext, type KeyValueStore } from './context';

/**
 * Test-only: when this environment variable names a file, Open Preview writes the URL it would
 * open to that file instead of calling `openExternal` (code-server has no browser to open).
 */
export const RECORD_EXTERNAL_ENV = 'NEXUS_E2E_RECORD_EXTERNAL';

export const RECENT_PORTS_KEY = 'nexus.preview.recentPorts';
export const MAX_RECENT_PORTS = 5;
export const CLOSE_PREVIEW = 'Close Preview';
export const OTHER_PORT = 'Other port…';

/** The port in `value`, or undefined when it is not a whole number in 1..65535. */
export function parsePort(value: string): number | undefined {
    const v = value.trim();
    if (!/^\d{1,5}$/.test(v)) {
        return undefined;
    }
    const port = Number(v);
    return port >= 1 && port <= 65535 ? port : undefined;
}

export function validatePort(value: string): string | undefined {
    return parsePort(value) === undefined ? 'Enter a port number from 1 to 65535.' : undefined;
}

type RecentPorts = Record<string, number[]>;

function readRecent(state: KeyValueStore): RecentPorts {
    const all = state.get(RECENT_PORTS_KEY);
    return typeof all === 'object' && all !== null ? (all as RecentPorts) : {};
}

/** The workspace's recently previewed ports, most recent first. */
export function recentPorts(state: KeyValueStore, workspace: string): number[] {
    const ports = readRecent(state)[workspace] as unknown;
    return Array.isArray(ports) ? ports.filter((p): p is number => Number.isInteger(p)) : [];
}

/** Puts `port` first in the workspace's recent ports, keeping at most MAX_RECENT_PORTS. */
export async function rememberPort(state: KeyValueStore, workspace: string, port: number): Promise<void> {
    const all = { ...(readRecent(state)) };
    all[workspace] = [port, ...recentPorts(state, workspace).filter((p) => p !== port)].slice(0, MAX_RECENT_PORTS);
    await state.update(RECENT_PORTS_KEY, all);
}

async function inputPort(workspace: string): Promise<number | undefined> {
    const value = await showInputBox({
        title: `Open a preview of workspace "${workspace}"`,
        prompt: 'Port the web server listens on inside the workspace',
        placeHolder: '3000',
        validateInput: validatePort,
    });
    return value === undefined ? undefined : parsePort(value);
}

/** Asks the port: the recent ports of the workspace plus "Other port…", or an input box when there are none. */
export async function askPort(state: KeyValueStore, workspace: string): Promise<number | undefined> {
    const recent = recentPorts(state, workspace);
    if (recent.length === 0) {
        return inputPort(workspace);
    }
    const items = [
        ...recent.map((p) => ({ label: String(p), description: 'recently previewed', port: p })),
        { label: OTHER_PORT, description: '', port: undefined },
    ];
    const picked = await showQuickPick(items, { placeHolder: `Port to preview in workspace "${workspace}"` });
    if (!picked) {
        return undefined;
    }
    return picked.port ?? inputPort(workspace);
}

function recordExternal(file: string, url: string): void {
    fs.writeFileSync(file, JSON.stringify({ command: 'openExternal', url }, null, 2) + '\n');
}

export async function openPreview(ctx: CommandContext, arg?: unknown): Promise<PreviewOpenResult | undefined> {
    const workspace = await pickWorkspace(ctx, arg, 'Workspace to preview', ['running']);
    if (!workspace) {
        return undefined;
    }
    const port = await askPort(ctx.state, workspace);
    if (port === undefined) {
        return undefined;
    }
    let result: PreviewOpenResult;
    try {
        result = await withSidecarProgress(ctx.client, `Opening a preview of "${workspace}" port ${port}`, (workDoneToken, token) =>
            ctx.client.request('nexus/preview/open', { workspace, port, workDoneToken }, token));
    } catch (e) {
        await showError(`Open preview of "${workspace}" port ${port}`, e);
        return undefined;
    }
    await rememberPort(ctx.state, workspace, port);
    const recordFile = process.env[RECORD_EXTERNAL_ENV];
    if (recordFile) {
        recordExternal(recordFile, result.localUrl);
    } else {
        await openExternal(parseUri(result.localUrl));
    }
    const choice = await showInformationMessage(`Preview of ${workspace}:${port} at ${result.localUrl}`, CLOSE_PREVIEW);
    if (choice === CLOSE_PREVIEW) {
        await closeOne(ctx, workspace, port);
    }
    return result;
}

async function closeOne(ctx: CommandContext, workspace: string, port: number): Promise<boolean> {
    try {
        await ctx.client.request('nexus/preview/close', { workspace, port });
        void showInformationMessage(`Closed the preview of ${workspace}:${port}.`);
        return true;
    } catch (e) {
        await showError(`Close preview of "${workspace}" port ${port}`, e);
        return false;
    }
}

/** Lists the running previews (of the workspace in `arg`, if any) and closes the one picked. */
export async function closePreview(ctx: CommandContext, arg?: unknown): Promise<Preview | undefined> {
    const workspace = argName(arg);
    let previews: Preview[];
    try {
        previews = (await ctx.client.request('nexus/preview/list', workspace ? { workspace } : {})).previews;
    } catch (e) {
        await showError('List previews', e);
        return undefined;
    }
    if (previews.length === 0) {
        void showInformationMessage(workspace ? `No preview of workspace "${workspace}" is running.` : 'No Nexus preview is running.');
        return undefined;
    }
    const items = [...previews]
        .sort((a, b) => a.workspace.localeCompare(b.workspace) || a.port - b.port)
        .map((p) => ({ label: `${p.workspace}:${p.port}`, description: p.url, preview: p }));
    const picked = await showQuickPick(items, { placeHolder: 'Preview to close', matchOnDescription: true });
    if (!picked) {
        return undefined;
    }
    return (await closeOne(ctx, picked.preview.workspace, picked.preview.port)) ? picked.preview : undefined;
}
