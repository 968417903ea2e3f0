/**
 * The "Nexus Workspaces" tree: a model fed by `nexus/workspace/list` and by
 * `nexus/workspace/didChangeState` notifications (which carry the full workspace), and a
 * TreeDataProvider that renders it with each workspace's sync (syncModel.ts).
 */
import * as vscode from 'vscode';
import type { Disposable, NexusClient } from '../common/client';
import { SidecarUnavailableError } from '../common/errors';
import { log } from '../common/logging';
import type { DidChangeStateParams, SyncReport, Workspace, WorkspaceStatus } from '../common/protocol';
import { describeSync, SyncModel } from './syncModel';

export class WorkspacesModel {
    private readonly byName = new Map<string, Workspace>();
    private readonly listeners = new Set<() => void>();

    /** Replaces everything (a fresh `list`). */
    setAll(workspaces: readonly Workspace[]): void {
        this.byName.clear();
        for (const ws of workspaces) {
            this.byName.set(ws.name, ws);
        }
        this.changed();
    }

    /** Applies a didChangeState notification. Returns whether anything changed. */
    apply(change: DidChangeStateParams): boolean {
        if (change.deleted || change.workspace === null) {
            const had = this.byName.delete(change.name);
            if (had) {
                this.changed();
            }
            return had;
        }
        this.byName.set(change.workspace.name, change.workspace);
        this.changed();
        return true;
    }

    get(name: string): Workspace | undefined {
        return this.byName.get(name);
    }

    /** Workspaces sorted by name. */
    list(): Workspace[] {
        return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name));
    }

    onDidChange(listener: () => void): Disposable {
        this.listeners.add(listener);
        return { dispose: () => this.listeners.delete(listener) };
    }

    private changed(): void {
        for (const l of this.listeners) {
            l();
        }
    }
}

export interface StatusIcon {
    id: string;
    color?: string;
}

const STATUS_ICONS: Record<WorkspaceStatus, StatusIcon> = {
    creating: { id: 'loading~spin' },
    starting: { id: 'loading~spin' },
    stopping: { id: 'loading~spin' },
    deleting: { id: 'loading~spin' },
    running: { id: 'vm-running', color: 'testing.iconPassed' },
    stopped: { id: 'vm-outline', color: 'charts.orange' },
    paused: { id: 'debug-pause', color: 'charts.yellow' },
    error: { id: 'error', color: 'testing.iconFailed' },
    missing: { id: 'warning', color: 'list.warningForeground' },
    unknown: { id: 'question' },
};

export interface WorkspaceItemView {
    label: string;
    description: string;
    tooltip: string;
    icon: StatusIcon;
    contextValue: string;
}

/** Backends whose workspaces stop themselves when idle: their rows offer "Keep Running". */
const SELF_STOPPING: ReadonlySet<string> = new Set(['daytona']);

const SYNC_ATTENTION_ICON: StatusIcon = { id: 'warning', color: 'list.warningForeground' };

/**
 * What a tree row shows for a workspace and its sync (pure, so it can be tested without VS Code).
 * A synced workspace's context value is `nexusWorkspace.<status>.sync.<syncState>`; then come
 * the escape hatches its backend offers, ` +snapshot +volume` (views/capabilities.ts), and
 * ` +autostop` for a backend whose workspaces stop themselves.
 */
export function describeWorkspace(ws: Workspace, syncReport?: SyncReport, hatches: readonly string[] = []): WorkspaceItemView {
    const sync = describeSync(syncReport);
    const parts: string[] = [ws.backend, ws.status];
    if (ws.branch) {
        parts.push(ws.branch);
    }
    if (sync) {
        parts.push(sync.description);
    }
    const res = ws.resources;
    const resText = [
        res.cpu !== null ? `${res.cpu} CPU` : undefined,
        res.memoryGb !== null ? `${res.memoryGb} GB RAM` : undefined,
        res.diskGb !== null ? `${res.diskGb} GB disk` : undefined,
    ].filter(Boolean).join(', ');
    const tooltip = [
        `**${ws.name}** — ${ws.status}`,
        '',
        `- Backend: ${ws.backend}${ws.backendId ? ` (\`${ws.backendId.slice(0, 12)}\`)` : ''}`,
        ws.branch ? `- Branch: \`${ws.branch}\`` : undefined,
        ws.localPath ? `- Source: \`${ws.localPath}\`` : undefined,
        `- SSH: \`ssh ${ws.sshAlias}\``,
        `- Remote path: \`${ws.remotePath}\``,
        ws.image ? `- Image: \`${ws.image}\`` : undefined,
        resText ? `- Resources: ${resText}` : undefined,
        sync?.tooltip,
        `- Updated: ${ws.updatedAt}`,
    ].filter((l) => l !== undefined).join('\n');
    return {
        label: ws.name,
        description: parts.join(' · '),
        tooltip,
        icon: sync?.attention && ws.status === 'running' ? SYNC_ATTENTION_ICON : STATUS_ICONS[ws.status] ?? STATUS_ICONS.unknown,
        contextValue: `nexusWorkspace.${ws.status}${sync?.contextSuffix ?? ''}${hatches.map((h) => ` +${h}`).join('')}${SELF_STOPPING.has(ws.backend) ? ' +autostop' : ''}`,
    };
}

/** The escape hatches of a backend (views/capabilities.ts), and when they become known. */
export interface HatchSource {
    flags(backend: Workspace['backend']): string[];
    onDidChange(listener: () => void): Disposable;
}

export class WorkspacesTreeProvider implements vscode.TreeDataProvider<Workspace>, vscode.Disposable {
    private readonly emitter = new vscode.EventEmitter<void>();
    private readonly subs: Disposable[];
    readonly onDidChangeTreeData = this.emitter.event;

    constructor(
        private readonly model: WorkspacesModel,
        private readonly sync: SyncModel = new SyncModel(),
        private readonly hatches?: HatchSource,
    ) {
        this.subs = [model.onDidChange(() => this.emitter.fire()), sync.onDidChange(() => this.emitter.fire())];
        if (hatches) {
            this.subs.push(hatches.onDidChange(() => this.emitter.fire()));
        }
    }

    getTreeItem(ws: Workspace): vscode.TreeItem {
        const view = describeWorkspace(ws, this.sync.get(ws.name), this.hatches?.flags(ws.backend) ?? []);
        const item = new vscode.TreeItem(view.label, vscode.TreeItemCollapsibleState.None);
        item.id = `nexus-workspace:${ws.name}`;
        item.description = view.description;
        item.tooltip = new vscode.MarkdownString(view.tooltip);
        item.iconPath = new vscode.ThemeIcon(view.icon.id, view.icon.color ? new vscode.ThemeColor(view.icon.color) : undefined);
        item.contextValue = view.contextValue;
        return item;
    }

    getChildren(element?: Workspace): Workspace[] {
        return element ? [] : this.model.list();
    }

    dispose(): void {
        for (const s of this.subs) {
            s.dispose();
        }
        this.emitter.dispose();
    }
}

/** Keeps the model in sync with the sidecar: a full list on (re)start, then notifications. */
export class WorkspacesSync implements Disposable {
    private readonly subs: Disposable[] = [];

    constructor(
        private readonly client: NexusClient,
        private readonly model: WorkspacesModel,
        private readonly setMessage: (message: string | undefined) => void,
    ) {
        this.subs.push(client.onNotification('nexus/workspace/didChangeState', (p) => {
            log.debug(`didChangeState ${p.name}: ${p.previousStatus ?? '-'} -> ${p.deleted ? 'deleted' : p.workspace?.status}`);
            model.apply(p);
        }));
    }

    async refresh(): Promise<void> {
        try {
            const { workspaces } = await this.client.request('nexus/workspace/list', {});
            this.model.setAll(workspaces);
            this.setMessage(undefined);
        } catch (e) {
            const text = e instanceof Error ? e.message : String(e);
            log.error(`listing workspaces: ${text}`);
            if (e instanceof SidecarUnavailableError) {
                // The welcome view says it (with Open Settings and Restart Sidecar).
                this.model.setAll([]);
                this.setMessage(undefined);
                return;
            }
            this.setMessage(`Could not list workspaces: ${text.split('\n')[0].slice(0, 200)} (see Nexus: Show Logs)`);
        }
    }

    dispose(): void {
        for (const s of this.subs) {
            s.dispose();
        }
    }
}
