/**
 * Nexus: Create Workspace — name, backend and resources from quick inputs, then
 * `nexus/workspace/create` under a cancellable progress notification.
 */
import * as path from 'path';
import { showError } from '../common/errors';
import { withSidecarProgress } from '../common/progress';
import { BACKENDS, type CreateParams, type Workspace } from '../common/protocol';
import { readSettings } from '../common/settings';
import { pickFolder, showInformationMessage, showInputBox, showQuickPick, workspaceFolderPaths } from '../common/vscodeapi';
import type { CommandContext } from './context';

/** Lowercase letters, digits and hyphens; it becomes part of the ssh alias `nexus-<name>`. */
export const NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function validateName(value: string, existing: (name: string) => boolean): string | undefined {
    const name = value.trim();
    if (!name) {
        return 'Enter a name.';
    }
    if (!NAME_PATTERN.test(name)) {
        return 'Use lowercase letters, digits and hyphens (at most 63, not starting or ending with a hyphen).';
    }
    if (existing(name)) {
        return `A workspace named "${name}" already exists.`;
    }
    return undefined;
}

/** A name suggestion from the folder name: "My Project" -> "my-project". */
export function suggestName(folder: string | undefined): string {
    const base = folder ? path.basename(folder) : '';
    const slug = base.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50);
    return slug || 'workspace';
}

export interface ResourceChoice {
    label: string;
    description: string;
    cpu?: number;
    memoryGb?: number;
    diskGb?: number;
    custom?: boolean;
}

export const RESOURCE_CHOICES: ResourceChoice[] = [
    { label: 'Default', description: "the backend's defaults" },
    { label: 'Small', description: '1 CPU, 2 GB memory, 10 GB disk', cpu: 1, memoryGb: 2, diskGb: 10 },
    { label: 'Medium', description: '2 CPU, 4 GB memory, 20 GB disk', cpu: 2, memoryGb: 4, diskGb: 20 },
    { label: 'Large', description: '4 CPU, 8 GB memory, 40 GB disk', cpu: 4, memoryGb: 8, diskGb: 40 },
    { label: 'Custom…', description: 'enter CPU, memory and disk', custom: true },
];

export interface Resources {
    cpu?: number;
    memoryGb?: number;
    diskGb?: number;
}

/** Parses "CPU MEMORY_GB DISK_GB" (commas or spaces; trailing values optional). */
export function parseResources(text: string): Resources | string {
    const parts = text.trim().split(/[\s,]+/).filter(Boolean);
    if (parts.length === 0 || parts.length > 3) {
        return 'Enter 1 to 3 numbers: CPU, memory (GB), disk (GB).';
    }
    const nums = parts.map(Number);
    if (nums.some((n) => !Number.isFinite(n) || n <= 0)) {
        return 'Each value must be a positive number.';
    }
    const [cpu, memoryGb, diskGb] = nums;
    return { cpu, memoryGb, diskGb };
}

/** Asks for name, backend and resources. Undefined when the user backs out. */
export async function collectCreateParams(ctx: CommandContext): Promise<CreateParams | undefined> {
    const { defaultBackend } = readSettings();
    // The workspace is made from a folder (or a git worktree of it): the open one, else ask.
    const sourcePath = workspaceFolderPaths()[0] ?? (await pickFolder('Folder to create the Nexus workspace from'));
    if (!sourcePath) {
        return undefined;
    }

    const name = await showInputBox({
        title: 'Create Nexus Workspace (1/3)',
        prompt: `Workspace name (created from ${sourcePath})`,
        value: suggestName(sourcePath),
        validateInput: (v) => validateName(v, (n) => ctx.model.get(n) !== undefined),
        ignoreFocusOut: true,
    });
    if (name === undefined) {
        return undefined;
    }

    const backends = [defaultBackend, ...BACKENDS.filter((b) => b !== defaultBackend)];
    const backendPick = await showQuickPick(
        backends.map((b) => ({ label: b, description: b === defaultBackend ? 'default' : undefined })),
        { title: 'Create Nexus Workspace (2/3)', placeHolder: 'Backend', ignoreFocusOut: true },
    );
    if (!backendPick) {
        return undefined;
    }

    const resourcePick = await showQuickPick(RESOURCE_CHOICES, {
        title: 'Create Nexus Workspace (3/3)',
        placeHolder: 'Resources',
        ignoreFocusOut: true,
    });
    if (!resourcePick) {
        return undefined;
    }
    let resources: Resources = { cpu: resourcePick.cpu, memoryGb: resourcePick.memoryGb, diskGb: resourcePick.diskGb };
    if (resourcePick.custom) {
        const text = await showInputBox({
            title: 'Create Nexus Workspace: resources',
            prompt: 'CPU, memory (GB), disk (GB)',
            placeHolder: '2 4 20',
            validateInput: (v) => {
                const r = parseResources(v);
                return typeof r === 'string' ? r : undefined;
            },
            ignoreFocusOut: true,
        });
        if (text === undefined) {
            return undefined;
        }
        resources = parseResources(text) as Resources;
    }

    const params: CreateParams = { name: name.trim(), backend: backendPick.label };
    if (resources.cpu !== undefined) {
        params.cpu = resources.cpu;
    }
    if (resources.memoryGb !== undefined) {
        params.memoryGb = resources.memoryGb;
    }
    if (resources.diskGb !== undefined) {
        params.diskGb = resources.diskGb;
    }
    params.sourcePath = sourcePath;
    return params;
}

export async function createWorkspace(ctx: CommandContext): Promise<Workspace | undefined> {
    const params = await collectCreateParams(ctx);
    if (!params) {
        return undefined;
    }
    const action = `Create workspace "${params.name}"`;
    try {
        const ws = await withSidecarProgress(ctx.client, `Creating workspace "${params.name}" (${params.backend})`, (workDoneToken, token) =>
            ctx.client.request('nexus/workspace/create', { ...params, workDoneToken }, token));
        ctx.model.apply({ name: ws.name, workspace: ws, previousStatus: null, deleted: false });
        void announceCreated(ws);
        return ws;
    } catch (e) {
        await showError(action, e);
        return undefined;
    }
}

/**
 * A message without buttons, so it goes away by itself (a toast with buttons stays until it is
 * dismissed); the row's inline actions open the workspace.
 */
export function createdMessage(ws: Workspace): string {
    return ws.status === 'running'
        ? `Workspace "${ws.name}" is running. Open it or a terminal into it from its row in Nexus Workspaces.`
        : `Workspace "${ws.name}" is ${ws.status}.`;
}

async function announceCreated(ws: Workspace): Promise<void> {
    await showInformationMessage(createdMessage(ws));
}
