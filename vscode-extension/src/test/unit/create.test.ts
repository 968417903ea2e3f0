import * as assert from 'assert';
import * as sinon from 'sinon';
import { collectCreateParams, createWorkspace, parseResources, suggestName, validateName } from '../../commands/create';
import * as logging from '../../common/logging';
import type { CreateParams } from '../../common/protocol';
import * as api from '../../common/vscodeapi';
import { context, FakeClient, responseError, stubProgress, stubSettings, workspace } from './helpers';

suite('create workspace', () => {
    let sandbox: sinon.SinonSandbox;
    setup(() => {
        sandbox = sinon.createSandbox();
        sandbox.stub(api, 'workspaceFolderPaths').returns(['/home/dev/My Project']);
        sandbox.stub(api, 'showInformationMessage').resolves(undefined);
    });
    teardown(() => sandbox.restore());

    function answer(name: string | undefined, backend: string | undefined, resources: string | undefined, custom?: string) {
        const input = sandbox.stub(api, 'showInputBox');
        input.onFirstCall().resolves(name);
        input.onSecondCall().resolves(custom);
        const pick = sandbox.stub(api, 'showQuickPick');
        pick.onFirstCall().callsFake(async (items) => (await items).find((i) => i.label === backend));
        pick.onSecondCall().callsFake(async (items) => (await items).find((i) => i.label === resources));
        return { input, pick };
    }

    test('collects name, backend and resources and sends nexus/workspace/create with a workDoneToken and the cancel token', async () => {
        stubSettings(sandbox);
        const progress = stubProgress(sandbox);
        answer('demo', 'daytona', 'Medium');
        const client = new FakeClient().respond('nexus/workspace/create', (p) => workspace(p.name, { backend: 'daytona', branch: 'nexus/demo' }));
        const ctx = context(client);

        const ws = await createWorkspace(ctx);

        assert.strictEqual(ws?.name, 'demo');
        const [req] = client.requests('nexus/workspace/create');
        const params = req.params as CreateParams;
        assert.deepStrictEqual({ ...params, workDoneToken: undefined }, {
            name: 'demo', backend: 'daytona', cpu: 2, memoryGb: 4, diskGb: 20,
            sourcePath: '/home/dev/My Project', workDoneToken: undefined,
        });
        assert.ok(typeof params.workDoneToken === 'string' && params.workDoneToken.length > 0);
        assert.strictEqual(req.token, progress.token, 'the progress cancellation token is forwarded');
        assert.match(progress.titles[0], /Creating workspace "demo"/);
        assert.strictEqual(ctx.model.get('demo')?.branch, 'nexus/demo');
    });

    test('offers the default backend first and suggests a name from the folder', async () => {
        stubSettings(sandbox, { defaultBackend: 'daytona' });
        const { input, pick } = answer(undefined, undefined, undefined);
        await collectCreateParams(context(new FakeClient()));
        assert.strictEqual(input.firstCall.args[0].value, 'my-project');
        assert.strictEqual(pick.callCount, 0, 'backing out of the name stops the flow');

        sandbox.restore();
        sandbox = sinon.createSandbox();
        sandbox.stub(api, 'workspaceFolderPaths').returns([]);
        sandbox.stub(api, 'pickFolder').resolves('/picked');
        stubSettings(sandbox, { defaultBackend: 'daytona' });
        const second = answer('x', undefined, undefined);
        await collectCreateParams(context(new FakeClient()));
        const items = await second.pick.firstCall.args[0];
        assert.deepStrictEqual(items.map((i) => i.label), ['daytona', 'docker']);
    });

    test('default resources send no resource fields; custom resources are parsed', async () => {
        stubSettings(sandbox);
        answer('a', 'docker', 'Default');
        const p1 = await collectCreateParams(context(new FakeClient()));
        assert.deepStrictEqual(p1, { name: 'a', backend: 'docker', sourcePath: '/home/dev/My Project' });

        sandbox.restore();
        sandbox = sinon.createSandbox();
        sandbox.stub(api, 'workspaceFolderPaths').returns([]);
        sandbox.stub(api, 'pickFolder').resolves('/picked');
        stubSettings(sandbox);
        answer('b', 'docker', 'Custom…', '3, 6 30');
        const p2 = await collectCreateParams(context(new FakeClient()));
        assert.deepStrictEqual(p2, { name: 'b', backend: 'docker', cpu: 3, memoryGb: 6, diskGb: 30, sourcePath: '/picked' });
    });

    test('with no folder open the user picks one; backing out sends nothing', async () => {
        stubSettings(sandbox);
        (api.workspaceFolderPaths as sinon.SinonStub).returns([]);
        const folder = sandbox.stub(api, 'pickFolder').resolves(undefined);
        const input = sandbox.stub(api, 'showInputBox');
        assert.strictEqual(await collectCreateParams(context(new FakeClient())), undefined);
        assert.ok(folder.calledOnce);
        assert.ok(input.notCalled);
    });

    test('sends nothing when the user backs out of a quick pick', async () => {
        stubSettings(sandbox);
        stubProgress(sandbox);
        answer('demo', 'docker', undefined);
        const client = new FakeClient();
        assert.strictEqual(await createWorkspace(context(client)), undefined);
        assert.strictEqual(client.sent.length, 0);
    });

    test('a Nexus error shows its code and resolution with a Show Logs action', async () => {
        stubSettings(sandbox);
        stubProgress(sandbox);
        answer('demo', 'docker', 'Default');
        const err = sandbox.stub(api, 'showErrorMessage').resolves('Show Logs');
        const show = sandbox.stub(logging, 'showLogs');
        const client = new FakeClient().respond('nexus/workspace/create', () => {
            throw responseError(-32803, 'WORKSPACE_EXISTS: Workspace "demo" already exists.', {
                code: 'WORKSPACE_EXISTS', message: 'Workspace "demo" already exists.', resolution: 'Pick another name.',
            });
        });
        assert.strictEqual(await createWorkspace(context(client)), undefined);
        const [text, action] = err.firstCall.args;
        assert.strictEqual(text, 'Create workspace "demo" failed: Workspace "demo" already exists. [WORKSPACE_EXISTS] Pick another name.');
        assert.strictEqual(action, 'Show Logs');
        assert.ok(show.calledOnce);
    });

    test('cancelling the progress cancels the request and reports it quietly', async () => {
        stubSettings(sandbox);
        const progress = stubProgress(sandbox);
        answer('demo', 'docker', 'Default');
        const info = api.showInformationMessage as sinon.SinonStub;
        const err = sandbox.stub(api, 'showErrorMessage').resolves(undefined);
        const client = new FakeClient().respond('nexus/workspace/create', (_p, token) => new Promise((_resolve, reject) => {
            token?.onCancellationRequested(() => reject(responseError(-32800, 'Request cancelled')));
            setTimeout(() => progress.token.cancel(), 5);
        }));
        const ctx = context(client);
        assert.strictEqual(await createWorkspace(ctx), undefined);
        assert.ok(err.notCalled);
        assert.match(String(info.lastCall.args[0]), /cancelled/);
        assert.strictEqual(ctx.model.get('demo'), undefined);
    });

    test('progress reports from the sidecar reach the notification as increments', async () => {
        stubSettings(sandbox);
        const progress = stubProgress(sandbox);
        answer('demo', 'docker', 'Default');
        const client = new FakeClient();
        client.respond('nexus/workspace/create', (p) => {
            const h = client.progressHandlers.get(p.workDoneToken!)!;
            h({ kind: 'begin', title: 'Creating demo', percentage: 0 });
            h({ kind: 'report', message: 'pulling image', percentage: 40 });
            h({ kind: 'report', message: 'starting', percentage: 100 });
            h({ kind: 'end' });
            return workspace('demo');
        });
        await createWorkspace(context(client));
        assert.deepStrictEqual(progress.reports, [
            { message: 'Creating demo', increment: 0 },
            { message: 'pulling image', increment: 40 },
            { message: 'starting', increment: 60 },
        ]);
        assert.strictEqual(client.progressHandlers.size, 0, 'progress handler disposed');
    });

    test('name validation, suggestion and resource parsing', () => {
        const none = () => false;
        assert.strictEqual(validateName('demo-1', none), undefined);
        assert.ok(validateName('', none));
        assert.ok(validateName('Demo', none));
        assert.ok(validateName('-x', none));
        assert.ok(validateName('a'.repeat(64), none));
        assert.match(validateName('taken', (n) => n === 'taken') ?? '', /already exists/);
        assert.strictEqual(suggestName('/x/My Cool_Repo'), 'my-cool-repo');
        assert.strictEqual(suggestName(undefined), 'workspace');
        assert.deepStrictEqual(parseResources('2 4 20'), { cpu: 2, memoryGb: 4, diskGb: 20 });
        assert.deepStrictEqual(parseResources('1'), { cpu: 1, memoryGb: undefined, diskGb: undefined });
        assert.strictEqual(typeof parseResources('x'), 'string');
        assert.strictEqual(typeof parseResources('1 2 3 4'), 'string');
        assert.strictEqual(typeof parseResources('0'), 'string');
    });
});
