import * as assert from 'assert';
import * as vscode from 'vscode';
import { describeWorkspace, WorkspacesModel, WorkspacesSync, WorkspacesTreeProvider } from '../../views/workspacesTree';
import { FakeClient, workspace } from './helpers';

suite('workspaces tree', () => {
    test('renders the list sorted by name', () => {
        const model = new WorkspacesModel();
        model.setAll([workspace('zeta'), workspace('alpha', { status: 'stopped' })]);
        const provider = new WorkspacesTreeProvider(model);
        const rows = provider.getChildren().map((w) => provider.getTreeItem(w));
        assert.deepStrictEqual(rows.map((r) => r.label), ['alpha', 'zeta']);
        assert.strictEqual(rows[0].description, 'docker · stopped');
        assert.strictEqual(rows[0].contextValue, 'nexusWorkspace.stopped');
        assert.strictEqual((rows[1].iconPath as vscode.ThemeIcon).id, 'vm-running');
        assert.deepStrictEqual(provider.getChildren(workspace('alpha')), []);
    });

    test('describes backend, status icon and branch', () => {
        const v = describeWorkspace(workspace('demo', { backend: 'daytona', status: 'creating', branch: 'nexus/demo' }));
        assert.strictEqual(v.description, 'daytona · creating · nexus/demo');
        assert.strictEqual(v.icon.id, 'loading~spin');
        assert.strictEqual(describeWorkspace(workspace('e', { status: 'error' })).icon.id, 'error');
        assert.match(v.tooltip, /Branch: `nexus\/demo`/);
        assert.match(v.tooltip, /ssh nexus-demo/);
    });

    test('applies didChangeState: add, update, delete; the view is told to refresh', () => {
        const model = new WorkspacesModel();
        const provider = new WorkspacesTreeProvider(model);
        let fired = 0;
        provider.onDidChangeTreeData(() => fired++);
        model.apply({ name: 'a', workspace: workspace('a', { status: 'creating' }), previousStatus: null, deleted: false });
        model.apply({ name: 'a', workspace: workspace('a', { status: 'running' }), previousStatus: 'creating', deleted: false });
        assert.strictEqual(model.get('a')?.status, 'running');
        assert.strictEqual(model.apply({ name: 'a', workspace: null, previousStatus: 'running', deleted: true }), true);
        assert.strictEqual(model.get('a'), undefined);
        assert.strictEqual(model.apply({ name: 'nope', workspace: null, previousStatus: null, deleted: true }), false);
        assert.strictEqual(fired, 3);
    });

    test('sync lists on refresh and follows notifications, including changes from elsewhere', async () => {
        const client = new FakeClient().respond('nexus/workspace/list', () => ({ workspaces: [workspace('cli-made')] }));
        const model = new WorkspacesModel();
        const messages: Array<string | undefined> = [];
        const sync = new WorkspacesSync(client, model, (m) => messages.push(m));
        await sync.refresh();
        assert.deepStrictEqual(model.list().map((w) => w.name), ['cli-made']);
        client.notify('nexus/workspace/didChangeState', {
            name: 'from-terminal', workspace: workspace('from-terminal'), previousStatus: null, deleted: false,
        });
        client.notify('nexus/workspace/didChangeState', { name: 'cli-made', workspace: null, previousStatus: 'running', deleted: true });
        assert.deepStrictEqual(model.list().map((w) => w.name), ['from-terminal']);
        assert.deepStrictEqual(messages, [undefined]);
        sync.dispose();
        client.notify('nexus/workspace/didChangeState', { name: 'late', workspace: workspace('late'), previousStatus: null, deleted: false });
        assert.strictEqual(model.get('late'), undefined);
    });

    test('a failing list shows a message in the view', async () => {
        const client = new FakeClient().respond('nexus/workspace/list', () => {
            throw new Error('boom');
        });
        const messages: Array<string | undefined> = [];
        await new WorkspacesSync(client, new WorkspacesModel(), (m) => messages.push(m)).refresh();
        assert.match(messages[0] ?? '', /Could not list workspaces: boom/);
    });
});
