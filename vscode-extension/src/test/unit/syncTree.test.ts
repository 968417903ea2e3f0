import * as assert from 'assert';
import * as sinon from 'sinon';
import * as vscode from 'vscode';
import type { SyncDidChangeParams, SyncReport, SyncState } from '../../common/protocol';
import * as api from '../../common/vscodeapi';
import { SHOW_SYNC_STATUS, SyncAlerts } from '../../views/syncAlerts';
import { describeSync, SyncModel, syncStateOf } from '../../views/syncModel';
import { SyncTracker } from '../../views/syncTracker';
import { describeWorkspace, WorkspacesModel, WorkspacesTreeProvider } from '../../views/workspacesTree';
import { conflicted, FakeClient, responseError, syncReport, syncSession, workspace } from './helpers';

suite('sync in the workspaces tree', () => {
    test('a watching sync: description suffix, tooltip line with both ends, context value', () => {
        const v = describeWorkspace(workspace('demo'), syncReport('demo'));
        assert.strictEqual(v.description, 'docker · running · sync: watching');
        assert.strictEqual(v.contextValue, 'nexusWorkspace.running.sync.watching');
        assert.match(v.tooltip, /- Sync: \*\*watching\*\* — `\/home\/dev\/proj` ↔ `demo:\/home\/nexus\/src` \(Watching for changes\)/);
        assert.strictEqual(v.icon.id, 'vm-running');
    });

    test('paused, conflicts, both, and a block without a session', () => {
        const paused = describeWorkspace(workspace('demo', { status: 'stopped' }), syncReport('demo', { state: 'paused', paused: true, statusText: 'Paused' }));
        assert.strictEqual(paused.description, 'docker · stopped · sync paused');
        assert.strictEqual(paused.contextValue, 'nexusWorkspace.stopped.sync.paused');

        const one = describeWorkspace(workspace('demo'), syncReport('demo', conflicted(1)));
        assert.strictEqual(one.description, 'docker · running · 1 conflict');
        assert.strictEqual(one.contextValue, 'nexusWorkspace.running.sync.conflicts');
        assert.deepStrictEqual(one.icon, { id: 'warning', color: 'list.warningForeground' }, 'a conflict is not silent');
        assert.match(one.tooltip, /1 conflict/);

        const pausedWithConflicts = describeSync(syncReport('demo', { ...conflicted(2), state: 'paused', paused: true }));
        assert.strictEqual(pausedWithConflicts?.description, 'sync paused · 2 conflicts');

        const lost = describeWorkspace(workspace('demo'), syncReport('demo', null));
        assert.strictEqual(lost.description, 'docker · running · sync: inactive');
        assert.strictEqual(lost.contextValue, 'nexusWorkspace.running.sync.inactive');
        assert.match(lost.tooltip, /no Mutagen session/);

        const halted = describeSync(syncReport('demo', { state: 'halted', status: 'halted-on-root-emptied', statusText: 'Halted: one side was emptied' }));
        assert.strictEqual(halted?.description, 'sync: halted');
        assert.ok(halted.attention);
        const err = describeSync(syncReport('demo', { state: 'error', lastError: 'ssh: connection refused' }));
        assert.match(err?.tooltip ?? '', /last error: ssh: connection refused/);
    });

    test('a workspace that does not sync keeps its row as before', () => {
        const none: SyncReport = { workspace: 'demo', configured: false, local: null, remote: null, sessions: [] };
        for (const report of [undefined, none]) {
            const v = describeWorkspace(workspace('demo'), report);
            assert.strictEqual(v.description, 'docker · running');
            assert.strictEqual(v.contextValue, 'nexusWorkspace.running');
            assert.doesNotMatch(v.tooltip, /Sync/);
        }
    });

    test('the most urgent session state wins', () => {
        const report = syncReport('demo');
        report.sessions.push(syncSession('demo', { id: 'sync_2', state: 'problems' }), syncSession('demo', { id: 'sync_3', state: 'syncing' }));
        assert.strictEqual(syncStateOf(report), 'problems');
        assert.strictEqual(syncStateOf(syncReport('demo', null)), null);
    });

    test('the tree refreshes and renders when the sync model changes', () => {
        const model = new WorkspacesModel();
        const sync = new SyncModel();
        model.setAll([workspace('demo'), workspace('plain')]);
        const provider = new WorkspacesTreeProvider(model, sync);
        let fired = 0;
        provider.onDidChangeTreeData(() => fired++);
        sync.apply(syncReport('demo', conflicted(3)));
        assert.strictEqual(fired, 1);
        const [demo, plain] = provider.getChildren().map((w) => provider.getTreeItem(w));
        assert.strictEqual(demo.description, 'docker · running · 3 conflicts');
        assert.strictEqual(demo.contextValue, 'nexusWorkspace.running.sync.conflicts');
        assert.strictEqual((demo.iconPath as vscode.ThemeIcon).id, 'warning');
        assert.match((demo.tooltip as vscode.MarkdownString).value, /3 conflicts/);
        assert.strictEqual(plain.contextValue, 'nexusWorkspace.running');
        sync.apply({ workspace: 'demo', configured: false, local: null, remote: null, sessions: [] });
        assert.strictEqual(sync.get('demo'), undefined, 'a stopped sync leaves the model');
        assert.strictEqual(provider.getTreeItem(workspace('demo')).description, 'docker · running');
        provider.dispose();
    });
});

suite('sync tracker and the conflict warning', () => {
    let sandbox: sinon.SinonSandbox;
    let warn: sinon.SinonStub;
    let executed: unknown[][];
    setup(() => {
        sandbox = sinon.createSandbox();
        warn = sandbox.stub(api, 'showWarningMessage').resolves(undefined);
        executed = [];
        sandbox.stub(api, 'executeCommand').callsFake(async (...args: unknown[]) => {
            executed.push(args);
            return undefined;
        });
    });
    teardown(() => sandbox.restore());

    function change(ws: string, previousState: SyncState | null, report: SyncReport): SyncDidChangeParams {
        const state = syncStateOf(report);
        const conflictCount = report.sessions.reduce((n, s) => n + s.conflictCount, 0);
        return { workspace: ws, state, previousState, conflictCount, report };
    }

    function tracker(client: FakeClient): { model: SyncModel; tracker: SyncTracker } {
        const model = new SyncModel();
        return { model, tracker: new SyncTracker(client, model, new SyncAlerts()) };
    }

    test('refresh reads every sync; didChange keeps it current; a deleted workspace drops out', async () => {
        const client = new FakeClient().respond('nexus/sync/status', () => ({ workspaces: [syncReport('a'), syncReport('b', { state: 'paused', paused: true })] }));
        const { model, tracker: t } = tracker(client);
        await t.refresh();
        assert.deepStrictEqual(client.requests('nexus/sync/status').map((r) => r.params), [{}]);
        assert.deepStrictEqual(model.list().map((r) => [r.workspace, syncStateOf(r)]), [['a', 'watching'], ['b', 'paused']]);

        client.notify('nexus/sync/didChange', change('a', 'watching', syncReport('a', { state: 'syncing', status: 'staging-beta' })));
        assert.strictEqual(syncStateOf(model.get('a')!), 'syncing');
        client.notify('nexus/workspace/didChangeState', { name: 'b', workspace: null, previousStatus: 'stopped', deleted: true });
        assert.strictEqual(model.get('b'), undefined);
        assert.ok(warn.notCalled, 'nothing to warn about');
        t.dispose();
        client.notify('nexus/sync/didChange', change('a', 'syncing', syncReport('a', { state: 'paused', paused: true })));
        assert.strictEqual(syncStateOf(model.get('a')!), 'syncing', 'no longer listening after dispose');
    });

    test('a sidecar without sync (method not found) or a failing status leaves the tree alone', async () => {
        const client = new FakeClient().respond('nexus/sync/status', () => {
            throw responseError(-32601, 'Method Not Found: nexus/sync/status');
        });
        const { model, tracker: t } = tracker(client);
        await t.refresh();
        assert.deepStrictEqual(model.list(), []);
        client.respond('nexus/sync/status', () => {
            throw new Error('boom');
        });
        await t.refresh();
        assert.deepStrictEqual(model.list(), []);
        assert.ok(warn.notCalled);
    });

    test('one warning when conflicts appear, with a Show Sync Status button; not repeated for the same state', async () => {
        warn.resolves(SHOW_SYNC_STATUS);
        const client = new FakeClient().respond('nexus/sync/status', () => ({ workspaces: [syncReport('demo', conflicted(2))] }));
        const { tracker: t } = tracker(client);
        client.notify('nexus/sync/didChange', change('demo', 'watching', syncReport('demo', conflicted(1))));
        assert.ok(warn.calledOnce);
        assert.deepStrictEqual(warn.firstCall.args, ['Sync of "demo" has 1 conflict.', {}, SHOW_SYNC_STATUS]);
        await new Promise((r) => setImmediate(r));
        assert.deepStrictEqual(executed, [['nexus.showSyncStatus', 'demo']], 'the button shows that workspace\'s sync');

        client.notify('nexus/sync/didChange', change('demo', 'conflicts', syncReport('demo', conflicted(2))));
        client.notify('nexus/sync/didChange', change('demo', null, syncReport('demo', conflicted(2))));
        await t.refresh();
        assert.ok(warn.calledOnce, 'more conflicts, a restarted sidecar or a refresh in the same state do not warn again');

        client.notify('nexus/sync/didChange', change('demo', 'conflicts', syncReport('demo')));
        client.notify('nexus/sync/didChange', change('demo', 'watching', syncReport('demo', conflicted(1))));
        assert.strictEqual(warn.callCount, 2, 'resolved, then a new conflict: warned again');
        assert.strictEqual(warn.secondCall.args[0], 'Sync of "demo" has 1 conflict.');
        t.dispose();
    });

    test('halted and error warn too, each once; other workspaces are separate', () => {
        const client = new FakeClient();
        const { tracker: t } = tracker(client);
        const halted = syncReport('demo', { state: 'halted', status: 'halted-on-root-deletion', statusText: 'Halted: a synced folder was deleted' });
        client.notify('nexus/sync/didChange', change('demo', 'watching', halted));
        client.notify('nexus/sync/didChange', change('demo', 'halted', halted));
        client.notify('nexus/sync/didChange', change('other', 'watching', syncReport('other', { state: 'error', lastError: 'agent went away' })));
        client.notify('nexus/sync/didChange', change('demo', 'halted', syncReport('demo', conflicted(1))));
        assert.deepStrictEqual(warn.getCalls().map((c) => String(c.args[0])), [
            'Sync of "demo" halted: Halted: a synced folder was deleted.',
            'Sync of "other" failed: agent went away.',
            'Sync of "demo" has 1 conflict.',
        ]);
        t.dispose();
    });

    test('conflicts found by the first status read warn once; a later read does not', async () => {
        const client = new FakeClient().respond('nexus/sync/status', () => ({ workspaces: [syncReport('demo', conflicted(1)), syncReport('calm')] }));
        const { tracker: t } = tracker(client);
        await t.refresh();
        await t.refresh();
        assert.deepStrictEqual(warn.getCalls().map((c) => String(c.args[0])), ['Sync of "demo" has 1 conflict.']);
        t.dispose();
    });
});
