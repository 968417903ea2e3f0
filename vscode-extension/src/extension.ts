/**
 * Nexus Workspaces: wiring only (logging, sidecar, tree view, commands, settings).
 */
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { disposeExecOutput } from './commands/exec';
import { showSidecarDown } from './common/errors';
import { log, setLogChannel } from './common/logging';
import { SIDECAR_SETTINGS } from './common/settings';
import { Sidecar } from './common/sidecar';
import {
    createLogOutputChannel,
    createTreeView,
    disposeReadOnlyDocuments,
    onDidChangeConfiguration,
    onDidGrantWorkspaceTrust,
    remoteAuthority,
    setContext,
} from './common/vscodeapi';
import { AutoStopAlerts } from './views/autoStopAlerts';
import { BudgetAlerts } from './views/budgetAlerts';
import { CapabilitiesCache } from './views/capabilities';
import { NexusStatusBar, showStatusActions, workspaceOfAuthority } from './views/statusBar';
import { SyncAlerts } from './views/syncAlerts';
import { SyncModel } from './views/syncModel';
import { SyncTracker } from './views/syncTracker';
import { WorkspacesModel, WorkspacesSync, WorkspacesTreeProvider } from './views/workspacesTree';
import type { Workspace } from './common/protocol';

let sidecar: Sidecar | undefined;

export function activate(context: vscode.ExtensionContext): void {
    const channel = createLogOutputChannel('Nexus');
    setLogChannel(channel);
    context.subscriptions.push(channel);

    const version = (context.extension.packageJSON as { version?: string }).version ?? '0.0.0';
    const current = new Sidecar(version);
    sidecar = current;
    const model = new WorkspacesModel();
    const syncModel = new SyncModel();
    const hatches = new CapabilitiesCache(sidecar);
    const provider = new WorkspacesTreeProvider(model, syncModel, hatches);
    const tree = createTreeView<Workspace>('nexus.workspaces', { treeDataProvider: provider, showCollapseAll: false });
    const sync = new WorkspacesSync(sidecar, model, (message) => {
        tree.message = message;
    });
    const syncTracker = new SyncTracker(sidecar, syncModel, new SyncAlerts());
    const refresh = async (): Promise<void> => {
        await Promise.all([sync.refresh(), syncTracker.refresh()]);
    };
    const restart = async (): Promise<void> => {
        log.info('restarting the sidecar');
        await sidecar?.restart();
        if (sidecar?.state === 'failed') {
            await showSidecarDown();
        }
    };
    const connected = workspaceOfAuthority(remoteAuthority());
    const statusBar = new NexusStatusBar(sidecar, model, connected);
    let lastState = current.state;
    void setContext('nexus.sidecarState', lastState);

    context.subscriptions.push(
        sidecar,
        provider,
        tree,
        sync,
        syncTracker,
        new AutoStopAlerts(sidecar),
        new BudgetAlerts(sidecar),
        hatches,
        statusBar,
        model.onDidChange(() => void hatches.load(model.list().map((w) => w.backend))),
        sidecar.onDidStart(() => {
            hatches.clear();
            void refresh();
        }),
        current.onDidChangeState((state) => {
            void setContext('nexus.sidecarState', state);
            const was = lastState;
            lastState = state;
            if (state === 'failed') {
                if (was === 'running') {
                    // It crashed: say so once, unless languageclient's restart brought it back.
                    setTimeout(() => {
                        if (current.state === 'failed') {
                            void showSidecarDown();
                        }
                    }, 5000);
                }
                // The welcome view (Open Settings, Restart Sidecar) takes the place of the rows.
                model.setAll([]);
                tree.message = undefined;
            }
        }),
        ...registerCommands({ client: sidecar, model, sync: syncModel, state: context.globalState }, {
            restartSidecar: restart,
            refresh,
            showStatusActions: () => showStatusActions(current, model, connected),
        }),
        onDidGrantWorkspaceTrust(() => void restart()),
        onDidChangeConfiguration((e) => {
            if (SIDECAR_SETTINGS.some((s) => e.affectsConfiguration(s))) {
                void restart();
            }
        }),
        { dispose: disposeExecOutput },
        { dispose: disposeReadOnlyDocuments },
    );

    // One message when it cannot start (languageclient's own toasts are silenced in sidecar.ts).
    sidecar.start().catch(() => showSidecarDown());
}

export async function deactivate(): Promise<void> {
    await sidecar?.stop();
    sidecar = undefined;
}
