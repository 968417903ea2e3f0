/**
 * What command handlers share, and how they find the workspace they act on.
 */
import type { NexusClient } from '../common/client';
import { showError } from '../common/errors';
import type { Workspace, WorkspaceStatus } from '../common/protocol';
import { executeCommand, showInformationMessage, showQuickPick } from '../common/vscodeapi';
import type { SyncModel } from '../views/syncModel';
import type { WorkspacesModel } from '../views/workspacesTree';

export interface CommandContext {
    client: NexusClient;
    model: WorkspacesModel;
    /** Each workspace's sync, as the tree shows it. */
    sync: SyncModel;
    /** Small values kept across restarts (the extension's globalState). */
    state: KeyValueStore;
}

/** The part of `vscode.Memento` the commands use. */
export interface KeyValueStore {
    get(key: string): unknown;
    update(key: string, value: unknown): Thenable<void>;
}

/** A tree element (a Workspace), a name, or nothing (then the user picks). */
export type WorkspaceArg = { name: string } | string | undefined;

export function argName(arg: unknown): string | undefined {
    if (typeof arg === 'string' && arg) {
        return arg;
    }
    if (typeof arg === 'object' && arg !== null && typeof (arg as { name?: unknown }).name === 'string') {
        return (arg as { name: string }).name;
    }
    return undefined;
}

/**
 * The workspace name from the command argument, or from a quick pick over the current
 * workspaces (those in `preferred` states listed first). Undefined when the user backed out.
 */
export async function pickWorkspace(
    ctx: CommandContext,
    arg: unknown,
    placeHolder: string,
    preferred: readonly WorkspaceStatus[] = [],
): Promise<string | undefined> {
    const name = argName(arg);
    if (name) {
        return name;
    }
    let workspaces: Workspace[];
    try {
        workspaces = (await ctx.client.request('nexus/workspace/list', {})).workspaces;
        ctx.model.setAll(workspaces);
    } catch (e) {
        await showError('List workspaces', e);
        return undefined;
    }
    if (workspaces.length === 0) {
        const create = 'Create Workspace';
        if (await showInformationMessage('There are no Nexus workspaces yet.', create) === create) {
            await executeCommand('nexus.createWorkspace');
        }
        return undefined;
    }
    const rank = (ws: Workspace): number => (preferred.includes(ws.status) ? 0 : 1);
    const items = [...workspaces]
        .sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name))
        .map((ws) => ({
            label: ws.name,
            description: [ws.backend, ws.status, ws.branch].filter(Boolean).join(' · '),
        }));
    const picked = await showQuickPick(items, { placeHolder, matchOnDescription: true });
    return picked?.label;
}
