import * as assert from 'assert';
import * as sinon from 'sinon';
import { startWorkspace, stopWorkspace } from '../../commands/lifecycle';
import type { WorkspaceStatus } from '../../common/protocol';
import * as api from '../../common/vscodeapi';
import { describeWorkspace } from '../../views/workspacesTree';
import { context, FakeClient, stubProgress, syncReport, workspace } from './helpers';
import { shows, TREE_MENUS } from './packageJson';

const STATUSES: WorkspaceStatus[] = ['creating', 'starting', 'running', 'stopping', 'stopped', 'paused', 'deleting', 'error', 'missing', 'unknown'];

suite('state-aware context menu', () => {
    let sandbox: sinon.SinonSandbox;
    setup(() => {
        sandbox = sinon.createSandbox();
        stubProgress(sandbox);
    });
    teardown(() => sandbox.restore());

    test('the right-click menu uses the inline actions\' states', () => {
        for (const status of STATUSES) {
            for (const cv of [
                describeWorkspace(workspace('demo', { status })).contextValue,
                describeWorkspace(workspace('demo', { status }), syncReport('demo')).contextValue,
                describeWorkspace(workspace('demo', { status }), undefined, ['snapshot', 'volume']).contextValue,
            ]) {
                for (const command of ['nexus.startWorkspace', 'nexus.stopWorkspace', 'nexus.openWorkspace', 'nexus.openTerminal', 'nexus.deleteWorkspace']) {
                    assert.strictEqual(shows(command, cv, 'menu'), shows(command, cv, 'inline'), `${command} on ${cv}`);
                }
            }
        }
        const running = describeWorkspace(workspace('demo')).contextValue;
        const stopped = describeWorkspace(workspace('demo', { status: 'stopped' })).contextValue;
        assert.ok(shows('nexus.stopWorkspace', running, 'menu') && !shows('nexus.startWorkspace', running, 'menu'));
        assert.ok(shows('nexus.startWorkspace', stopped, 'menu') && !shows('nexus.stopWorkspace', stopped, 'menu'));
        for (const command of ['nexus.openWorkspace', 'nexus.openTerminal', 'nexus.execCommand', 'nexus.copySshCommand', 'nexus.openPreview']) {
            assert.ok(shows(command, running, 'menu'), `${command} on a running workspace`);
            assert.ok(!shows(command, stopped, 'menu'), `${command} not on a stopped workspace`);
        }
        assert.ok(shows('nexus.showInfo', stopped, 'menu') && shows('nexus.deleteWorkspace', stopped, 'menu'));
        // Keep Running: only a running workspace of a backend that stops its workspaces by itself
        const daytona = describeWorkspace(workspace('demo', { backend: 'daytona' })).contextValue;
        const daytonaStopped = describeWorkspace(workspace('demo', { backend: 'daytona', status: 'stopped' })).contextValue;
        assert.ok(shows('nexus.keepRunning', daytona, 'menu'));
        assert.ok(!shows('nexus.keepRunning', running, 'menu') && !shows('nexus.keepRunning', daytonaStopped, 'menu'));
        assert.ok(shows('nexus.migrateWorkspace', running, 'menu') && !shows('nexus.migrateWorkspace', stopped, 'menu'));
    });

    test('every tree menu entry names a contributed command and matches some row', () => {
        for (const item of TREE_MENUS) {
            const some = STATUSES.some((status) => [undefined, syncReport('demo', { state: 'conflicts', conflictCount: 1 }), syncReport('demo', { state: 'paused', paused: true })]
                .some((report) => [[], ['snapshot', 'volume']].some((h) => (['docker', 'daytona'] as const).some((backend) =>
                    shows(item.command, describeWorkspace(workspace('demo', { status, backend }), report, h).contextValue, item.group.startsWith('inline') ? 'inline' : 'menu')))));
            assert.ok(some, `${item.command} (${item.group}) never shows`);
        }
    });

    test('Start on a running workspace says so and sends nothing; Stop on a stopped one too', async () => {
        const info = sandbox.stub(api, 'showInformationMessage').resolves(undefined);
        const client = new FakeClient();
        const ctx = context(client);
        ctx.model.setAll([workspace('demo'), workspace('off', { status: 'stopped' })]);
        assert.strictEqual((await startWorkspace(ctx, 'demo'))?.status, 'running');
        assert.match(info.firstCall.args[0], /"demo" is already running/);
        assert.strictEqual((await stopWorkspace(ctx, 'off'))?.status, 'stopped');
        assert.match(info.secondCall.args[0], /"off" is already stopped/);
        assert.strictEqual(client.sent.length, 0);
    });
});
