import * as assert from 'assert';
import * as sinon from 'sinon';
import { deleteWorkspace, startWorkspace, stopWorkspace } from '../../commands/lifecycle';
import type { DeleteParams } from '../../common/protocol';
import * as api from '../../common/vscodeapi';
import { context, FakeClient, stubProgress, workspace } from './helpers';

suite('start, stop, delete', () => {
    let sandbox: sinon.SinonSandbox;
    setup(() => {
        sandbox = sinon.createSandbox();
        stubProgress(sandbox);
    });
    teardown(() => sandbox.restore());

    test('delete asks for confirmation (modal) and sends nothing when declined', async () => {
        const warn = sandbox.stub(api, 'showWarningMessage').resolves(undefined);
        const client = new FakeClient();
        const ctx = context(client);
        ctx.model.setAll([workspace('demo')]);
        assert.strictEqual(await deleteWorkspace(ctx, workspace('demo')), false);
        assert.ok(warn.calledOnce);
        assert.match(warn.firstCall.args[0], /Delete Nexus workspace "demo"\?/);
        assert.strictEqual(warn.firstCall.args[1].modal, true);
        assert.deepStrictEqual(warn.firstCall.args.slice(2), ['Delete']);
        assert.strictEqual(client.requests('nexus/workspace/delete').length, 0);
        assert.ok(ctx.model.get('demo'));
    });

    test('delete, once confirmed, sends the request and removes the workspace', async () => {
        sandbox.stub(api, 'showWarningMessage').resolves('Delete');
        const client = new FakeClient().respond('nexus/workspace/delete', () => null);
        const ctx = context(client);
        ctx.model.setAll([workspace('demo'), workspace('other')]);
        assert.strictEqual(await deleteWorkspace(ctx, 'demo'), true);
        const [req] = client.requests('nexus/workspace/delete');
        assert.strictEqual((req.params as DeleteParams).name, 'demo');
        assert.strictEqual((req.params as DeleteParams).keepBranch, undefined);
        assert.ok((req.params as DeleteParams).workDoneToken);
        assert.deepStrictEqual(ctx.model.list().map((w) => w.name), ['other']);
    });

    test('a workspace with a branch offers to keep it', async () => {
        const warn = sandbox.stub(api, 'showWarningMessage').resolves('Delete, Keep Branch');
        const client = new FakeClient().respond('nexus/workspace/delete', () => null);
        const ctx = context(client);
        ctx.model.setAll([workspace('demo', { branch: 'nexus/demo' })]);
        await deleteWorkspace(ctx, 'demo');
        assert.deepStrictEqual(warn.firstCall.args.slice(2), ['Delete', 'Delete, Keep Branch']);
        assert.strictEqual((client.requests('nexus/workspace/delete')[0].params as DeleteParams).keepBranch, true);
    });

    test('without an argument the user picks a workspace, preferred states first', async () => {
        const pick = sandbox.stub(api, 'showQuickPick').callsFake(async (items) => (await items)[0]);
        const client = new FakeClient()
            .respond('nexus/workspace/list', () => ({ workspaces: [workspace('a'), workspace('b', { status: 'stopped' })] }))
            .respond('nexus/workspace/start', (p) => workspace(p.name));
        const ctx = context(client);
        const ws = await startWorkspace(ctx);
        assert.strictEqual(ws?.name, 'b');
        const items = await pick.firstCall.args[0];
        assert.deepStrictEqual(items.map((i) => i.label), ['b', 'a']);
        assert.strictEqual(ctx.model.get('b')?.status, 'running');
    });

    test('stop from a tree item uses its name without asking', async () => {
        const pick = sandbox.stub(api, 'showQuickPick');
        const client = new FakeClient().respond('nexus/workspace/stop', (p) => workspace(p.name, { status: 'stopped' }));
        const ctx = context(client);
        await stopWorkspace(ctx, workspace('demo'));
        assert.ok(pick.notCalled);
        assert.strictEqual(ctx.model.get('demo')?.status, 'stopped');
    });
});
