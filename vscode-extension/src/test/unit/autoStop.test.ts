import * as assert from 'assert';
import * as sinon from 'sinon';
import * as api from '../../common/vscodeapi';
import { AutoStopAlerts, KEEP_RUNNING, START } from '../../views/autoStopAlerts';
import { FakeClient, responseError, workspace } from './helpers';

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

suite('auto-stop alerts', () => {
    let sandbox: sinon.SinonSandbox;
    let warn: sinon.SinonStub;
    let info: sinon.SinonStub;
    let error: sinon.SinonStub;
    let executed: unknown[][];

    setup(() => {
        sandbox = sinon.createSandbox();
        warn = sandbox.stub(api, 'showWarningMessage').resolves(undefined);
        info = sandbox.stub(api, 'showInformationMessage').resolves(undefined);
        error = sandbox.stub(api, 'showErrorMessage').resolves(undefined);
        executed = [];
        sandbox.stub(api, 'executeCommand').callsFake(async (...args: unknown[]) => {
            executed.push(args);
            return undefined;
        });
    });

    teardown(() => sandbox.restore());

    const warning = { name: 'agent', backend: 'daytona' as const, stopsAt: '2026-11-30T12:05:00+00:00', minutesLeft: 4 };

    test('a warning with "Keep running" that records activity through the sidecar', async () => {
        warn.resolves(KEEP_RUNNING);
        const kept = workspace('agent', { backend: 'daytona', autoStop: { minutes: 30, lastActivityAt: '2026-11-30T12:02:00+00:00', stopsAt: '2026-11-30T12:32:00+00:00' } });
        const client = new FakeClient().respond('nexus/workspace/keepRunning', () => kept);
        const alerts = new AutoStopAlerts(client);
        client.notify('nexus/workspace/autoStopWarning', warning);
        await settle();
        await settle();
        assert.deepStrictEqual(warn.firstCall.args, ['Workspace "agent" stops in ~4 min: no activity for a while.', {}, KEEP_RUNNING]);
        assert.deepStrictEqual(client.requests('nexus/workspace/keepRunning').map((r) => r.params), [{ name: 'agent' }]);
        assert.strictEqual(info.firstCall.args[0], 'Workspace "agent" keeps running: it stops after 30 min without activity from now.');
        alerts.dispose();
        client.notify('nexus/workspace/autoStopWarning', warning);
        assert.ok(warn.calledOnce, 'no longer listening after dispose');
    });

    test('dismissed: nothing is sent; a failed keep-running shows the error', async () => {
        const client = new FakeClient().respond('nexus/workspace/keepRunning', () => {
            throw responseError(-32803, 'the daytona sandbox of \'agent\' is stopped', { code: 'DAYTONA_SANDBOX_STOPPED' });
        });
        const alerts = new AutoStopAlerts(client);
        client.notify('nexus/workspace/autoStopWarning', warning);
        await settle();
        assert.deepStrictEqual(client.requests('nexus/workspace/keepRunning'), []);
        warn.resolves(KEEP_RUNNING);
        client.notify('nexus/workspace/autoStopWarning', warning);
        await settle();
        await settle();
        await settle();
        assert.ok(error.calledOnce);
        assert.match(String(error.firstCall.args[0]), /Keep workspace "agent" running failed/);
        alerts.dispose();
    });

    test('a clear message once it stopped, with "Start"', async () => {
        info.resolves(START);
        const client = new FakeClient();
        const alerts = new AutoStopAlerts(client);
        client.notify('nexus/workspace/autoStopped', { name: 'agent', backend: 'daytona', minutes: 15 });
        await settle();
        assert.deepStrictEqual(info.firstCall.args, ['Workspace "agent" stopped after 15 min without activity. Its files are kept; start it to go on.', START]);
        assert.deepStrictEqual(executed, [['nexus.startWorkspace', 'agent']]);
        alerts.dispose();
    });
});
