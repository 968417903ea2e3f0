/**
 * Escape hatches in the tree's context menu (shown only when the backend supports them, see
 * views/capabilities.ts): Create Snapshot… (`<backend>.snapshot.create`) and Attach Volume…
 * (`<backend>.volume.attach`), run through `nexus/provider/execute`.
 */
import { showError } from '../common/errors';
import { withSidecarProgress } from '../common/progress';
import type { ProviderExecuteResult } from '../common/protocol';
import { showInformationMessage, showInputBox } from '../common/vscodeapi';
import { pickWorkspace, type CommandContext } from './context';

export const SNAPSHOT_NAME = /^[A-Za-z0-9._-]{1,63}$/;
export const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

async function execute(
    ctx: CommandContext,
    name: string,
    action: string,
    params: Record<string, unknown>,
    title: string,
): Promise<ProviderExecuteResult | undefined> {
    try {
        const backend = ctx.model.get(name)?.backend ?? (await ctx.client.request('nexus/workspace/get', { name })).backend;
        const operation = `${backend}.${action}`;
        return await withSidecarProgress(ctx.client, title, (workDoneToken, token) =>
            ctx.client.request('nexus/provider/execute', { operation, workspace: name, params, workDoneToken }, token));
    } catch (e) {
        await showError(title, e);
        return undefined;
    }
}

export async function createSnapshot(ctx: CommandContext, arg?: unknown): Promise<ProviderExecuteResult | undefined> {
    const name = await pickWorkspace(ctx, arg, 'Workspace to snapshot', ['running']);
    if (!name) {
        return undefined;
    }
    const snapshot = await showInputBox({
        title: `Create a snapshot of workspace "${name}"`,
        prompt: 'Snapshot name (letters, digits, ".", "_", "-"; unique in your organization)',
        value: `${name}-${new Date().toISOString().slice(0, 10)}`,
        validateInput: (v) => (SNAPSHOT_NAME.test(v.trim()) ? undefined : 'Use letters, digits, ".", "_" and "-" (at most 63).'),
    });
    if (snapshot === undefined) {
        return undefined;
    }
    const result = await execute(ctx, name, 'snapshot.create', { name: snapshot.trim() }, `Create snapshot "${snapshot.trim()}" of "${name}"`);
    if (result) {
        void showInformationMessage(`Created snapshot "${snapshot.trim()}" of workspace "${name}".`);
    }
    return result;
}

export async function attachVolume(ctx: CommandContext, arg?: unknown): Promise<ProviderExecuteResult | undefined> {
    const name = await pickWorkspace(ctx, arg, 'Workspace to attach a volume to', ['running']);
    if (!name) {
        return undefined;
    }
    const volume = await showInputBox({
        title: `Attach a volume to workspace "${name}" (1/2)`,
        prompt: 'Volume name',
        validateInput: (v) => (VOLUME_NAME.test(v.trim()) ? undefined : 'Use letters, digits, "_", "." and "-".'),
    });
    if (volume === undefined) {
        return undefined;
    }
    const mount = await showInputBox({
        title: `Attach a volume to workspace "${name}" (2/2)`,
        prompt: 'Absolute path in the workspace to mount it at',
        value: `/mnt/${volume.trim()}`,
        validateInput: (v) => (v.trim().startsWith('/') && !v.split('/').includes('..') ? undefined : 'Enter an absolute path.'),
    });
    if (mount === undefined) {
        return undefined;
    }
    const result = await execute(ctx, name, 'volume.attach', { volume: volume.trim(), mount: mount.trim() },
        `Attach volume "${volume.trim()}" to "${name}"`);
    if (result) {
        void showInformationMessage(`Volume "${volume.trim()}" is mounted at ${mount.trim()} in workspace "${name}".`);
    }
    return result;
}
