import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as sinon from 'sinon';
import { registerCommands } from '../../commands';
import { CAN_FLUSH, CAN_PAUSE, CAN_RESUME, flushSync, NO_SYNC, pauseSync, renderSyncReport, resumeSync, showSyncStatus, type SyncFilter } from '../../commands/sync';
import type { SyncReport, SyncWorkspaceParams } from '../../common/protocol';
import { SYNC_STATES, type WorkspaceStatus } from '../../common/protocol';
import * as api from '../../common/vscodeapi';
import { describeSync, INACTIVE, syncStateOf } from '../../views/syncModel';
import { describeWorkspace } from '../../views/workspacesTree';
import { conflicted, context, FakeClient, responseError, stubProgress, syncReport, workspace } from './helpers';

interface MenuItem {
    command: string;
    when: string;
    group: string;
}
interface PackageJson {
    contributes: { commands: Array<{ command: string; title: string }>; menus: { 'view/item/context': MenuItem[] } };
}
const PACKAGE = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as PackageJson;

/** The `viewItem =~ /…/` regex of a tree context menu entry. */
function menuRegex(item: MenuItem): RegExp {
    const m = /viewItem =~ \/(.*)\/$/.exec(item.when);
    assert.ok(m, `no viewItem regex in ${item.when}`);
    return new RegExp(m[1]);
}

function menusOf(command: string): MenuItem[] {
    return PACKAGE.contributes.menus['view/item/context'].filter((i) => i.command === command && !i.group.startsWith('inline'));
}

suite('sync commands', () => {
    let sandbox: sinon.SinonSandbox;
    let info: sinon.SinonStub;
    setup(() => {
        sandbox = sinon.createSandbox();
        stubProgress(sandbox);
        info = sandbox.stub(api, 'showInformationMessage').resolves(undefined);
    });
    teardown(() => sandbox.restore());

    test('pause from a tree item sends nexus/sync/pause for it, under a cancellable progress, and updates the tree', async () => {
        const pick = sandbox.stub(api, 'showQuickPick');
        const client = new FakeClient().respond('nexus/sync/pause', (p) => syncReport(p.workspace, { state: 'paused', paused: true, statusText: 'Paused' }));
        const ctx = context(client);
        ctx.sync.apply(syncReport('demo'));
        const report = await pauseSync(ctx, workspace('demo'));
        assert.ok(pick.notCalled);
        const [req] = client.requests('nexus/sync/pause');
        assert.deepStrictEqual({ ...(req.params as SyncWorkspaceParams), workDoneToken: undefined }, { workspace: 'demo', workDoneToken: undefined });
        assert.ok((req.params as SyncWorkspaceParams).workDoneToken, 'progress is reported on a fresh token');
        assert.ok(req.token, 'the progress cancellation token is forwarded');
        assert.strictEqual(syncStateOf(report!), 'paused');
        assert.strictEqual(syncStateOf(ctx.sync.get('demo')!), 'paused');
        assert.match(String(info.lastCall.args[0]), /Sync of "demo" paused/);
    });

    test('from the palette the user picks among the syncs the command applies to', async () => {
        const pick = sandbox.stub(api, 'showQuickPick').callsFake(async (items) => (await items).find((i) => i.label === 'b'));
        const client = new FakeClient()
            .respond('nexus/sync/status', () => ({
                workspaces: [
                    syncReport('a'),
                    syncReport('b', { state: 'paused', paused: true }),
                    syncReport('c', { state: 'halted', status: 'halted-on-root-emptied' }),
                    syncReport('d', null),
                ],
            }))
            .respond('nexus/sync/resume', (p) => syncReport(p.workspace, conflicted(1)));
        const ctx = context(client);
        await resumeSync(ctx);
        const items = await pick.firstCall.args[0];
        assert.deepStrictEqual(items.map((i) => [i.label, i.description]), [['b', 'sync paused'], ['c', 'sync: halted']]);
        assert.strictEqual(items[0].detail, '/home/dev/proj ↔ b:/home/nexus/src');
        assert.deepStrictEqual(client.requests('nexus/sync/resume').map((r) => (r.params as SyncWorkspaceParams).workspace), ['b']);
        assert.strictEqual(info.lastCall.args[0], 'Sync of "b" resumed: conflicts (1 conflict).');
        assert.deepStrictEqual(ctx.sync.list().map((r) => r.workspace), ['a', 'b', 'c', 'd'], 'the status read also refreshed the tree');
    });

    test('nothing to act on: a message, no request; backing out of the pick sends nothing', async () => {
        const pick = sandbox.stub(api, 'showQuickPick').resolves(undefined);
        const client = new FakeClient().respond('nexus/sync/status', () => ({ workspaces: [syncReport('a', { state: 'paused', paused: true })] }));
        assert.strictEqual(await flushSync(context(client)), undefined);
        assert.strictEqual(info.lastCall.args[0], 'No running Nexus sync to flush.');
        assert.ok(pick.notCalled);

        client.respond('nexus/sync/status', () => ({ workspaces: [] }));
        assert.strictEqual(await showSyncStatus(context(client)), undefined);
        assert.strictEqual(info.lastCall.args[0], NO_SYNC);

        client.respond('nexus/sync/status', () => ({ workspaces: [syncReport('a')] }));
        assert.strictEqual(await pauseSync(context(client)), undefined);
        assert.ok(pick.calledOnce);
        assert.deepStrictEqual(client.sent.map((r) => r.method), ['nexus/sync/status', 'nexus/sync/status', 'nexus/sync/status']);
    });

    test('a Nexus error (a paused sync cannot flush) shows its code and resolution', async () => {
        const err = sandbox.stub(api, 'showErrorMessage').resolves(undefined);
        const client = new FakeClient().respond('nexus/sync/flush', () => {
            throw responseError(-32803, "SYNC_FAILED: the sync of 'demo' is paused", {
                code: 'SYNC_FAILED', message: "the sync of 'demo' is paused", resolution: 'Resume it first (`nexus sync resume demo`).',
            });
        });
        const ctx = context(client);
        ctx.sync.apply(syncReport('demo', { state: 'paused', paused: true }));
        assert.strictEqual(await flushSync(ctx, 'demo'), undefined);
        assert.strictEqual(err.firstCall.args[0],
            'Flush the sync of "demo" failed: the sync of \'demo\' is paused [SYNC_FAILED] Resume it first (`nexus sync resume demo`).');
        assert.strictEqual(syncStateOf(ctx.sync.get('demo')!), 'paused', 'the tree is left as it was');
    });

    test('flush reports conflicts that remain', async () => {
        const client = new FakeClient().respond('nexus/sync/flush', (p) => syncReport(p.workspace, conflicted(2)));
        await flushSync(context(client), 'demo');
        assert.strictEqual(info.lastCall.args[0], 'Sync of "demo" flushed (2 conflicts).');
    });

    test('show sync status reads the workspace\'s report and opens it, conflicts with both sides\' changes', async () => {
        const show = sandbox.stub(api, 'showReadOnlyDocument').resolves();
        const client = new FakeClient().respond('nexus/sync/status', (p) => ({ workspaces: [syncReport(p.workspace!, conflicted(1))] }));
        const ctx = context(client);
        await showSyncStatus(ctx, workspace('demo'));
        assert.deepStrictEqual(client.requests('nexus/sync/status').map((r) => r.params), [{ workspace: 'demo' }]);
        const [title, md] = show.firstCall.args;
        assert.strictEqual(title, 'demo (Nexus sync).md');
        assert.match(md, /^# Sync of Nexus workspace demo/);
        assert.match(md, /\*\*1 conflict\*\* — `\/home\/dev\/proj` \(this machine\) ↔ `demo:\/home\/nexus\/src`/);
        assert.match(md, /### 1 conflict\n/);
        assert.match(md, /- `a\.txt`\n {2}- this machine: `modified file: a\.txt`\n {2}- workspace: `deleted file: a\.txt`/);
        assert.strictEqual(syncStateOf(ctx.sync.get('demo')!), 'conflicts');
    });

    test('the report: endpoints, problems, unlisted conflicts, a lost session, no sync', () => {
        const report: SyncReport = syncReport('demo', {
            ...conflicted(1),
            conflictCount: 3,
            lastError: 'a | b',
            problems: [{ side: 'workspace', path: 'x/y', error: 'permission denied', kind: 'transition' }],
        });
        report.sessions[0].remote.connected = false;
        const md = renderSyncReport(report);
        assert.match(md, /\| This machine \| `\/home\/dev\/proj`: 5 files, 2 folders, 0 links, 2\.0 KB, connected \|/);
        assert.match(md, /\| Workspace \| `nexus-demo:\/home\/nexus\/src`: .*\*\*not connected\*\* \|/);
        assert.match(md, /\| Last error \| `a \\\| b` \|/);
        assert.match(md, /### 3 conflicts/);
        assert.match(md, /…and 2 more conflicts Mutagen did not list/);
        assert.match(md, /\| workspace \| transition \| `x\/y` \| `permission denied` \|/);
        assert.match(md, /`\.git`, `node_modules` and version control folders/);
        assert.match(renderSyncReport(syncReport('demo', null)), /The sync is not running: start the workspace, or run `nexus sync start demo`/);
        assert.match(renderSyncReport({ workspace: 'demo', configured: false, local: null, remote: null, sessions: [] }),
            /`demo` does not sync a folder/);
    });

    test('the context menu offers pause, resume and flush exactly when the palette would', () => {
        const cases: Array<[string, SyncFilter]> = [['nexus.pauseSync', CAN_PAUSE], ['nexus.resumeSync', CAN_RESUME], ['nexus.flushSync', CAN_FLUSH]];
        for (const state of [...SYNC_STATES, INACTIVE] as const) {
            const report = state === INACTIVE ? syncReport('demo', null) : syncReport('demo', { state, paused: state === 'paused' });
            const view = describeSync(report)!;
            const running = describeWorkspace(workspace('demo'), report).contextValue;
            for (const [command, filter] of cases) {
                const shown = menusOf(command).some((m) => menuRegex(m).test(running));
                assert.strictEqual(shown, filter(view), `${command} for a running workspace whose sync is ${state}`);
            }
            assert.ok(menusOf('nexus.showSyncStatus').some((m) => menuRegex(m).test(running)));
        }
        const stopped = describeWorkspace(workspace('demo', { status: 'stopped' }), syncReport('demo', { state: 'paused', paused: true })).contextValue;
        assert.ok(!menusOf('nexus.resumeSync').some((m) => menuRegex(m).test(stopped)), 'a stopped workspace resumes its sync by starting');
    });

    test('synced rows keep the workspace menus; unsynced rows get no sync menus', () => {
        const statuses: WorkspaceStatus[] = ['running', 'stopped', 'paused', 'error'];
        for (const status of statuses) {
            const plain = describeWorkspace(workspace('demo', { status })).contextValue;
            const synced = describeWorkspace(workspace('demo', { status }), syncReport('demo', { state: 'paused', paused: true })).contextValue;
            for (const item of PACKAGE.contributes.menus['view/item/context']) {
                const re = menuRegex(item);
                if (item.command.endsWith('Sync') || item.command === 'nexus.showSyncStatus') {
                    assert.ok(!re.test(plain), `${item.command} on a ${status} workspace without sync`);
                } else {
                    assert.strictEqual(re.test(synced), re.test(plain), `${item.command} (${item.group}) on a ${status} workspace`);
                }
            }
        }
        const conflicts = describeWorkspace(workspace('demo'), syncReport('demo', { state: 'conflicts', conflictCount: 1 })).contextValue;
        const inline = PACKAGE.contributes.menus['view/item/context'].filter((i) => i.group.startsWith('inline') && i.command === 'nexus.showSyncStatus');
        assert.ok(inline.some((m) => menuRegex(m).test(conflicts)), 'conflicts get an inline Show Sync Status');
        assert.ok(!inline.some((m) => menuRegex(m).test(describeWorkspace(workspace('demo'), syncReport('demo')).contextValue)));
    });

    test('every contributed command is registered, and only those', () => {
        const registered: string[] = [];
        sandbox.stub(api, 'registerCommand').callsFake((id: string) => {
            registered.push(id);
            return undefined as never; // the disposables are not used here
        });
        registerCommands(context(new FakeClient()), { restartSidecar: async () => undefined, refresh: async () => undefined, showStatusActions: async () => undefined });
        assert.deepStrictEqual(registered.sort(), PACKAGE.contributes.commands.map((c) => c.command).sort());
        assert.deepStrictEqual(
            PACKAGE.contributes.commands.filter((c) => /Sync/.test(c.title)).map((c) => c.title),
            ['Pause Sync', 'Resume Sync', 'Flush Sync', 'Show Sync Status'],
        );
    });
});
