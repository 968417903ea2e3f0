import * as assert from 'assert';
import * as sinon from 'sinon';
import { attachVolume, createSnapshot } from '../../commands/hatches';
import type { Capabilities, ProviderExecuteParams, ProviderOperation } from '../../common/protocol';
import * as api from '../../common/vscodeapi';
import { CapabilitiesCache, hatchFlags } from '../../views/capabilities';
import { describeWorkspace, WorkspacesModel, WorkspacesTreeProvider } from '../../views/workspacesTree';
import { context, FakeClient, stubProgress, workspace } from './helpers';
import { shows } from './packageJson';

function caps(over: Partial<Capabilities> = {}): Capabilities {
    return {
        supportsSsh: true, supportsSync: true, supportsDirectVolumeManagement: false, supportsImageCaching: false,
        supportsSnapshots: false, supportsLsp: false, supportsWebPreviews: true, supportsProcessApi: false, supportsFileApi: false, ...over,
    };
}

function op(operation: string): ProviderOperation {
    const [backend, group, action] = operation.split('.');
    return { operation, backend: backend as 'docker', group, action, summary: '', capability: '', takesWorkspace: true, hasFallback: false, params: {} };
}

const OPERATIONS = ['daytona.snapshot.create', 'daytona.snapshot.list', 'docker.volume.attach', 'docker.volume.create'].map(op);

suite('escape hatches by capability', () => {
    let sandbox: sinon.SinonSandbox;
    setup(() => {
        sandbox = sinon.createSandbox();
        stubProgress(sandbox);
    });
    teardown(() => sandbox.restore());

    test('a hatch needs both the capability and the operation', () => {
        const ops = new Set(OPERATIONS.map((o) => o.operation));
        assert.deepStrictEqual(hatchFlags('daytona', caps({ supportsSnapshots: true }), ops), ['snapshot']);
        assert.deepStrictEqual(hatchFlags('daytona', caps({ supportsSnapshots: false }), ops), []);
        assert.deepStrictEqual(hatchFlags('docker', caps({ supportsDirectVolumeManagement: true }), ops), ['volume']);
        assert.deepStrictEqual(hatchFlags('docker', caps({ supportsDirectVolumeManagement: true, supportsSnapshots: true }), ops), ['volume']);
        assert.deepStrictEqual(hatchFlags('docker', undefined, ops), []);
    });

    test('capabilities are asked once per backend; the tree rows carry them; the menu follows', async () => {
        const client = new FakeClient()
            .respond('nexus/backend/capabilities', (p) => (p.backend === 'daytona' ? caps({ supportsSnapshots: true }) : caps({ supportsDirectVolumeManagement: true })))
            .respond('nexus/provider/operations', () => ({ operations: OPERATIONS }));
        const cache = new CapabilitiesCache(client);
        const model = new WorkspacesModel();
        model.setAll([workspace('d', { backend: 'daytona' }), workspace('k', { backend: 'docker', status: 'stopped' })]);
        const provider = new WorkspacesTreeProvider(model, undefined, cache);
        let fired = 0;
        provider.onDidChangeTreeData(() => fired++);
        await cache.load(['daytona', 'docker', 'daytona']);
        await cache.load(['daytona']);
        assert.strictEqual(client.requests('nexus/backend/capabilities').length, 2);
        assert.strictEqual(client.requests('nexus/provider/operations').length, 1);
        assert.ok(fired >= 1);
        const [d, k] = provider.getChildren().map((w) => provider.getTreeItem(w).contextValue ?? '');
        assert.strictEqual(d, 'nexusWorkspace.running +snapshot +autostop');
        assert.strictEqual(k, 'nexusWorkspace.stopped +volume');
        assert.ok(shows('nexus.createSnapshot', d, 'menu') && !shows('nexus.attachVolume', d, 'menu'));
        assert.ok(shows('nexus.attachVolume', k, 'menu') && !shows('nexus.createSnapshot', k, 'menu'));
        const plain = describeWorkspace(workspace('d', { backend: 'daytona' })).contextValue;
        assert.ok(!shows('nexus.createSnapshot', plain, 'menu'), 'hidden when the capability is false');
        cache.clear();
        assert.deepStrictEqual(cache.flags('daytona'), []);
    });

    test('Create Snapshot… runs <backend>.snapshot.create with the name', async () => {
        sandbox.stub(api, 'showInputBox').resolves('snap-1');
        const info = sandbox.stub(api, 'showInformationMessage').resolves(undefined);
        const client = new FakeClient().respond('nexus/provider/execute', (p) => ({ operation: p.operation, result: { name: 'snap-1' }, fallback: null }));
        const ctx = context(client);
        ctx.model.setAll([workspace('d', { backend: 'daytona' })]);
        await createSnapshot(ctx, 'd');
        const params = client.requests('nexus/provider/execute')[0].params as ProviderExecuteParams;
        assert.strictEqual(params.operation, 'daytona.snapshot.create');
        assert.strictEqual(params.workspace, 'd');
        assert.deepStrictEqual(params.params, { name: 'snap-1' });
        assert.match(info.firstCall.args[0], /Created snapshot "snap-1"/);
    });

    test('Attach Volume… runs <backend>.volume.attach with volume and mount', async () => {
        sandbox.stub(api, 'showInputBox').onFirstCall().resolves('data').onSecondCall().resolves('/mnt/data');
        sandbox.stub(api, 'showInformationMessage').resolves(undefined);
        const client = new FakeClient().respond('nexus/provider/execute', (p) => ({ operation: p.operation, result: {}, fallback: null }));
        const ctx = context(client);
        ctx.model.setAll([workspace('k')]);
        await attachVolume(ctx, workspace('k'));
        const params = client.requests('nexus/provider/execute')[0].params as ProviderExecuteParams;
        assert.strictEqual(params.operation, 'docker.volume.attach');
        assert.deepStrictEqual(params.params, { volume: 'data', mount: '/mnt/data' });
    });
});
