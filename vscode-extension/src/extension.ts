/**
 * Nexus Workspaces: wiring only (logging, sidecar, tree view, commands, settings).
 */
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { disposeExecOutput } from './commands/exec';
import { showError } from './common/errors';
import { log, setLogChannel } from './common/logging';
import { SIDECAR_SETTINGS } from './common/settings';
import { Sidecar } from './common/sidecar';
import { createLogOutputChannel, createTreeView, disposeReadOnlyDocuments, onDidChangeConfiguration } from './common/vscodeapi';
import { AutoStopAlerts } from './views/autoStopAlerts';
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
    sidecar = new Sidecar(version);
    const model = new WorkspacesModel();
    const syncModel = new SyncModel();
    const provider = new WorkspacesTreeProvider(model, syncModel);
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
    };

    context.subscriptions.push(
        sidecar,
        provider,
        tree,
        sync,
        syncTracker,
        new AutoStopAlerts(sidecar),
        sidecar.onDidStart(() => void refresh()),
        sidecar.onDidStop((reason) => {
            if (reason) {
                tree.message = `The Nexus sidecar is not running: ${reason}. Run "Nexus: Restart Sidecar" after fixing it.`;
            }
        }),
        ...registerCommands({ client: sidecar, model, sync: syncModel, state: context.globalState }, { restartSidecar: restart, refresh }),
        onDidChangeConfiguration((e) => {
            if (SIDECAR_SETTINGS.some((s) => e.affectsConfiguration(s))) {
                void restart();
            }
        }),
        { dispose: disposeExecOutput },
        { dispose: disposeReadOnlyDocuments },
    );

    sidecar.start().catch((e: unknown) => showError('Start the Nexus sidecar', e));
}

export async function deactivate(): Promise<void> {
    await sidecar?.stop();
    sidecar = undefined;
}
