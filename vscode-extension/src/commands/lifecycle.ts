/**
 * Nexus: Start / Stop / Delete Workspace.
 */
import { renderError, showError } from '../common/errors';
import { withSidecarProgress } from '../common/progress';
import type { DeleteParams, Workspace } from '../common/protocol';
import { showInformationMessage, showWarningMessage } from '../common/vscodeapi';
import { pickWorkspace, type CommandContext } from './context';

export async function startWorkspace(ctx: CommandContext, arg?: unknown): Promise<Workspace | undefined> {
    const name = await pickWorkspace(ctx, arg, 'Workspace to start', ['stopped', 'paused', 'error', 'missing']);
    if (!name) {
        return undefined;
    }
    const known = ctx.model.get(name);
    if (known?.status === 'running') {
        void showInformationMessage(`Workspace "${name}" is already running.`);
        return known;
    }
    for (const overBudget of [false, true]) {
        try {
            const ws = await withSidecarProgress(ctx.client, `Starting workspace "${name}"`, (workDoneToken, token) =>
                ctx.client.request('nexus/workspace/start', { name, workDoneToken, ...(overBudget ? { overBudget } : {}) }, token));
            ctx.model.apply({ name, workspace: ws, previousStatus: null, deleted: false });
            return ws;
        } catch (e) {
            const rendered = renderError(`Start workspace "${name}"`, e);
            if (!overBudget && rendered.nexusCode === 'BUDGET_EXCEEDED') {
                if ((await showWarningMessage(rendered.text, {}, START_OVER_BUDGET)) === START_OVER_BUDGET) {
                    continue;
                }
                return undefined;
            }
            await showError(`Start workspace "${name}"`, e);
            return undefined;
        }
    }
    return undefined;
}

export const START_OVER_BUDGET = 'Start Over Budget';

export async function stopWorkspace(ctx: CommandContext, arg?: unknown): Promise<Workspace | undefined> {
    const name = await pickWorkspace(ctx, arg, 'Workspace to stop', ['running']);
    if (!name) {
        return undefined;
    }
    const known = ctx.model.get(name);
    if (known?.status === 'stopped') {
        void showInformationMessage(`Workspace "${name}" is already stopped.`);
        return known;
    }
    try {
        const ws = await withSidecarProgress(ctx.client, `Stopping workspace "${name}"`, (workDoneToken, token) =>
            ctx.client.request('nexus/workspace/stop', { name, workDoneToken }, token));
        ctx.model.apply({ name, workspace: ws, previousStatus: null, deleted: false });
        return ws;
    } catch (e) {
        await showError(`Stop workspace "${name}"`, e);
        return undefined;
    }
}

export const DELETE = 'Delete';
export const DELETE_KEEP_BRANCH = 'Delete, Keep Branch';

/** Asks for confirmation (modal). Returns the delete params, or undefined when declined. */
export async function confirmDelete(name: string, ws: Workspace | undefined): Promise<DeleteParams | undefined> {
    const details = [
        'Its container or sandbox and its SSH host entry are removed.',
        ws?.branch ? `The git worktree is removed; "Delete" also deletes the branch ${ws.branch}.` : undefined,
        'This cannot be undone.',
    ].filter(Boolean).join(' ');
    const buttons = ws?.branch ? [DELETE, DELETE_KEEP_BRANCH] : [DELETE];
    const choice = await showWarningMessage(`Delete Nexus workspace "${name}"?`, { modal: true, detail: details }, ...buttons);
    if (choice === DELETE) {
        return { name };
    }
    if (choice === DELETE_KEEP_BRANCH) {
        return { name, keepBranch: true };
    }
    return undefined;
}

export async function deleteWorkspace(ctx: CommandContext, arg?: unknown): Promise<boolean> {
    const name = await pickWorkspace(ctx, arg, 'Workspace to delete');
    if (!name) {
        return false;
    }
    const params = await confirmDelete(name, ctx.model.get(name));
    if (!params) {
        return false;
    }
    try {
        await withSidecarProgress(ctx.client, `Deleting workspace "${name}"`, async (workDoneToken, token) => {
            await ctx.client.request('nexus/workspace/delete', { ...params, workDoneToken }, token);
            return true;
        });
        ctx.model.apply({ name, workspace: null, previousStatus: null, deleted: true });
        return true;
    } catch (e) {
        await showError(`Delete workspace "${name}"`, e);
        return false;
    }
}
