import * as assert from 'assert';
import * as sinon from 'sinon';
import type { SidecarState, SidecarStatus } from '../../common/client';
import * as api from '../../common/vscodeapi';
import { describeStatus, NexusStatusBar, showStatusActions, statusActions, workspaceOfAuthority } from '../../views/statusBar';
import { WorkspacesModel } from '../../views/workspacesTree';
import { workspace } from './helpers';
import { PKG } from './packageJson';

class FakeStatus implements SidecarStatus {
    private listeners = new Set<(s: SidecarState) => void>();
    constructor(public state: SidecarState) {}
    onDidChangeState(l: (s: SidecarState) => void): { dispose(): void } {
        this.listeners.add(l);
        return { dispose: () => this.listeners.delete(l) };
    }
    set(state: SidecarState): void {
        this.state = state;
        for (const l of this.listeners) {
            l(state);
        }
    }
}

suite('status bar', () => {
    let sandbox: sinon.SinonSandbox;
    setup(() => {
        sandbox = sinon.createSandbox();
    });
    teardown(() => sandbox.restore());

    test('the workspace of a Remote-SSH authority', () => {
        assert.strictEqual(workspaceOfAuthority('ssh-remote+nexus-demo'), 'demo');
        assert.strictEqual(workspaceOfAuthority('ssh-remote+nexus-my-ws-2'), 'my-ws-2');
        const hex = Buffer.from(JSON.stringify({ hostName: 'nexus-hexed' })).toString('hex');
        assert.strictEqual(workspaceOfAuthority(`ssh-remote+${hex}`), 'hexed');
        assert.strictEqual(workspaceOfAuthority('ssh-remote+myserver'), undefined);
        assert.strictEqual(workspaceOfAuthority('wsl+Ubuntu'), undefined);
        assert.strictEqual(workspaceOfAuthority(undefined), undefined);
    });

    test('shows the sidecar state, or the connected workspace with backend and status', () => {
        assert.strictEqual(describeStatus('starting').text, '$(loading~spin) Nexus');
        assert.strictEqual(describeStatus('running').text, '$(vm) Nexus');
        const failed = describeStatus('failed');
        assert.strictEqual(failed.error, true);
        assert.match(failed.tooltip, /sidecar: failed/);
        const ws = describeStatus('running', { name: 'demo', workspace: workspace('demo', { backend: 'daytona' }) });
        assert.strictEqual(ws.text, '$(vm-running) demo (daytona · running)');
        assert.strictEqual(ws.error, false);
    });

    test('the item follows the sidecar and the model', () => {
        const item = { show: sandbox.spy(), dispose: sandbox.spy() } as unknown as Record<string, unknown>;
        sandbox.stub(api, 'createStatusBarItem').returns(item as never);
        const status = new FakeStatus('starting');
        const model = new WorkspacesModel();
        const bar = new NexusStatusBar(status, model, 'demo');
        assert.strictEqual(item.command, 'nexus.showStatusActions');
        assert.strictEqual(item.text, '$(loading~spin) demo (unknown)');
        status.set('running');
        model.setAll([workspace('demo', { status: 'stopped' })]);
        assert.strictEqual(item.text, '$(vm-outline) demo (docker · stopped)');
        status.set('failed');
        assert.ok(item.backgroundColor);
        bar.dispose();
    });

    test('a click offers the workspace actions, Show Logs and Restart Sidecar, and runs the pick', async () => {
        const connected = statusActions('running', { name: 'demo', workspace: workspace('demo') });
        assert.deepStrictEqual(connected.map((a) => a.command), [
            'nexus.openTerminal', 'nexus.stopWorkspace', 'nexus.showInfo', 'nexus.showLogs', 'nexus.restartSidecar']);
        assert.deepStrictEqual(connected[0].args, ['demo']);
        const stopped = statusActions('running', { name: 'demo', workspace: workspace('demo', { status: 'stopped' }) });
        assert.strictEqual(stopped[1].command, 'nexus.startWorkspace');
        assert.deepStrictEqual(statusActions('failed').map((a) => a.command),
            ['workbench.action.openSettings', 'nexus.showLogs', 'nexus.restartSidecar']);

        sandbox.stub(api, 'showQuickPick').callsFake(async (items) => (await items)[0]);
        const exec = sandbox.stub(api, 'executeCommand').resolves(undefined);
        const model = new WorkspacesModel();
        model.setAll([workspace('demo')]);
        assert.strictEqual(await showStatusActions(new FakeStatus('running'), model, 'demo'), 'nexus.openTerminal');
        assert.deepStrictEqual(exec.firstCall.args, ['nexus.openTerminal', 'demo']);
    });

    test('every action is a contributed or built-in command', () => {
        const contributed = new Set(PKG.contributes.commands.map((c) => c.command));
        for (const a of [...statusActions('running'), ...statusActions('failed'), ...statusActions('running', { name: 'x' })]) {
            assert.ok(contributed.has(a.command) || a.command.startsWith('workbench.'), a.command);
        }
    });
});
