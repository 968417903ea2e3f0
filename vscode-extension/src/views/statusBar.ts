/**
 * The status bar item: the sidecar's state, and inside a Remote-SSH window of a Nexus workspace
 * (authority `ssh-remote+nexus-<name>`) that workspace with its backend and status. A click
 * opens a quick pick of actions (`nexus.showStatusActions`).
 */
import * as vscode from 'vscode';
import type { Disposable, SidecarState, SidecarStatus } from '../common/client';
import type { Workspace } from '../common/protocol';
import { createStatusBarItem, executeCommand, showQuickPick } from '../common/vscodeapi';
import type { WorkspacesModel } from './workspacesTree';

export const STATUS_COMMAND = 'nexus.showStatusActions';

/**
 * The Nexus workspace a remote authority points at: `ssh-remote+nexus-demo` -> `demo`; also the
 * hex-encoded JSON form Remote-SSH uses for some hosts (`ssh-remote+7b22686f73744e616d65...`).
 */
export function workspaceOfAuthority(authority: string | undefined): string | undefined {
    const m = /^ssh-remote\+(.+)$/.exec(authority ?? '');
    if (!m) {
        return undefined;
    }
    let host = decodeURIComponent(m[1]);
    if (/^(?:[0-9a-f]{2})+$/i.test(host) && host.startsWith('7b')) {
        try {
            const parsed = JSON.parse(Buffer.from(host, 'hex').toString('utf8')) as { hostName?: unknown };
            host = typeof parsed.hostName === 'string' ? parsed.hostName : '';
        } catch {
            return undefined;
        }
    }
    const ws = /^nexus-([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)$/.exec(host);
    return ws?.[1];
}

export interface StatusView {
    text: string;
    tooltip: string;
    /** Shown on the error background. */
    error: boolean;
}

const SIDECAR_TEXT: Record<SidecarState, string> = {
    starting: '$(loading~spin) Nexus',
    running: '$(vm) Nexus',
    failed: '$(error) Nexus',
    stopped: '$(circle-slash) Nexus',
};

/** What the item shows (pure). `connected`: the workspace this window is in, if any. */
export function describeStatus(state: SidecarState, connected?: { name: string; workspace?: Workspace }): StatusView {
    const sidecarLine = `Nexus sidecar: ${state}`;
    if (connected) {
        const ws = connected.workspace;
        const detail = ws ? `${ws.backend} · ${ws.status}` : 'unknown';
        const icon = state === 'failed' ? '$(error)'
            : state === 'starting' ? '$(loading~spin)'
            : ws?.status === 'running' ? '$(vm-running)' : '$(vm-outline)';
        return {
            text: `${icon} ${connected.name} (${detail})`,
            tooltip: `Nexus workspace ${connected.name}: ${detail}\n${sidecarLine}\nClick for actions`,
            error: state === 'failed',
        };
    }
    return { text: SIDECAR_TEXT[state], tooltip: `${sidecarLine}\nClick for actions`, error: state === 'failed' };
}

export class NexusStatusBar implements Disposable {
    private readonly item: vscode.StatusBarItem;
    private readonly subs: Disposable[];

    constructor(
        private readonly sidecar: SidecarStatus,
        private readonly model: WorkspacesModel,
        private readonly connectedName: string | undefined,
    ) {
        this.item = createStatusBarItem('nexus.status', 100);
        this.item.name = 'Nexus';
        this.item.command = STATUS_COMMAND;
        this.subs = [sidecar.onDidChangeState(() => this.update()), model.onDidChange(() => this.update())];
        this.update();
        this.item.show();
    }

    /** What it shows now (for tests). */
    get view(): StatusView {
        const name = this.connectedName;
        return describeStatus(this.sidecar.state, name ? { name, workspace: this.model.get(name) } : undefined);
    }

    update(): void {
        const view = this.view;
        this.item.text = view.text;
        this.item.tooltip = view.tooltip;
        this.item.backgroundColor = view.error ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    }

    dispose(): void {
        for (const s of this.subs) {
            s.dispose();
        }
        this.item.dispose();
    }
}

export interface StatusAction extends vscode.QuickPickItem {
    command: string;
    args: unknown[];
}

/** The actions offered on a click (pure): the connected workspace's first, then the sidecar's. */
export function statusActions(state: SidecarState, connected?: { name: string; workspace?: Workspace }): StatusAction[] {
    const actions: StatusAction[] = [];
    if (connected && state === 'running') {
        const { name, workspace } = connected;
        const running = workspace?.status === 'running';
        actions.push({ label: '$(terminal) Open Terminal', description: name, command: 'nexus.openTerminal', args: [name] });
        actions.push(running
            ? { label: '$(debug-stop) Stop Workspace', description: name, command: 'nexus.stopWorkspace', args: [name] }
            : { label: '$(debug-start) Start Workspace', description: name, command: 'nexus.startWorkspace', args: [name] });
        actions.push({ label: '$(info) Show Info', description: name, command: 'nexus.showInfo', args: [name] });
    } else if (state === 'running') {
        actions.push(
            { label: '$(terminal) Open Terminal…', command: 'nexus.openTerminal', args: [] },
            { label: '$(debug-start) Start Workspace…', command: 'nexus.startWorkspace', args: [] },
            { label: '$(debug-stop) Stop Workspace…', command: 'nexus.stopWorkspace', args: [] },
            { label: '$(info) Show Info…', command: 'nexus.showInfo', args: [] },
        );
    }
    if (state === 'failed') {
        actions.push({ label: '$(settings-gear) Open Settings', description: 'nexus.sidecar.command', command: 'workbench.action.openSettings', args: ['nexus.sidecar.command'] });
    }
    actions.push(
        { label: '$(output) Show Logs', command: 'nexus.showLogs', args: [] },
        { label: '$(debug-restart) Restart Sidecar', description: `sidecar: ${state}`, command: 'nexus.restartSidecar', args: [] },
    );
    return actions;
}

/** The click handler: a quick pick of `statusActions`, then the picked command. */
export async function showStatusActions(sidecar: SidecarStatus, model: WorkspacesModel, connectedName: string | undefined): Promise<string | undefined> {
    const connected = connectedName ? { name: connectedName, workspace: model.get(connectedName) } : undefined;
    const picked = await showQuickPick(statusActions(sidecar.state, connected), { placeHolder: 'Nexus' });
    if (!picked) {
        return undefined;
    }
    await executeCommand(picked.command, ...picked.args);
    return picked.command;
}
