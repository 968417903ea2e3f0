/**
 * The command handlers against the fake sidecar over a real JSON-RPC stdio connection
 * (vscode-jsonrpc, the transport vscode-languageclient uses): progress on the client's
 * workDoneToken, cancellation through $/cancelRequest, and Nexus errors.
 */
import * as assert from 'assert';
import * as cp from 'child_process';
import * as path from 'path';
import * as sinon from 'sinon';
import * as rpc from 'vscode-jsonrpc/node';
import { createWorkspace } from '../../commands/create';
import { deleteWorkspace } from '../../commands/lifecycle';
import type { CancellationToken, Disposable, NexusClient, WorkDoneProgressValue } from '../../common/client';
import type { NotificationMap, NotificationMethod, ParamsOf, ProgressToken, RequestMethod, ResultOf } from '../../common/protocol';
import * as api from '../../common/vscodeapi';
import { SyncModel } from '../../views/syncModel';
import { WorkspacesModel, WorkspacesSync } from '../../views/workspacesTree';
import { MemoryState, stubProgress, stubSettings } from './helpers';

const FAKE = path.resolve(__dirname, '../../../src/test/fixtures/fake-sidecar.js');

class JsonRpcClient implements NexusClient {
    constructor(readonly conn: rpc.MessageConnection) {}
    request<M extends RequestMethod>(method: M, params: ParamsOf<M>, token?: CancellationToken): Promise<ResultOf<M>> {
        return token ? this.conn.sendRequest(method, params, token) : this.conn.sendRequest(method, params);
    }
    onNotification<M extends NotificationMethod>(method: M, handler: (params: NotificationMap[M]) => void): Disposable {
        return this.conn.onNotification(method, handler);
    }
    onWorkDoneProgress(token: ProgressToken, handler: (value: WorkDoneProgressValue) => void): Disposable {
        return this.conn.onProgress(new rpc.ProgressType<WorkDoneProgressValue>(), token, handler);
    }
}

suite('against the fake sidecar over stdio', () => {
    let proc: cp.ChildProcess;
    let client: JsonRpcClient;
    let sandbox: sinon.SinonSandbox;

    setup(async () => {
        sandbox = sinon.createSandbox();
        proc = cp.spawn(process.execPath, [FAKE, '--stdio'], { env: { ...process.env, NEXUS_HOME: '', FAKE_SIDECAR_DELAY_MS: '300' } });
        const conn = rpc.createMessageConnection(new rpc.StreamMessageReader(proc.stdout!), new rpc.StreamMessageWriter(proc.stdin!));
        conn.listen();
        client = new JsonRpcClient(conn);
        const init = await conn.sendRequest<{ serverInfo: { name: string } }>('initialize', {
            processId: process.pid, rootUri: null, capabilities: {}, initializationOptions: { apiVersion: 1, editor: 'vscode', logLevel: 'debug' },
        });
        assert.match(init.serverInfo.name, /nexus-sidecar/);
        await conn.sendNotification('initialized', {});
        stubSettings(sandbox);
        sandbox.stub(api, 'workspaceFolderPaths').returns(['/src/app']);
        sandbox.stub(api, 'showInformationMessage').resolves(undefined);
    });

    teardown(async () => {
        sandbox.restore();
        await client.conn.sendRequest('shutdown').catch(() => undefined);
        await client.conn.sendNotification('exit').catch(() => undefined);
        client.conn.dispose();
        proc.kill();
    });

    function answers(name: string): void {
        sandbox.stub(api, 'showInputBox').resolves(name);
        const pick = sandbox.stub(api, 'showQuickPick');
        pick.onFirstCall().callsFake(async (items) => (await items)[0]);
        pick.onSecondCall().callsFake(async (items) => (await items)[0]);
    }

    test('create reports progress, the tree follows didChangeState, delete removes it', async () => {
        const progress = stubProgress(sandbox);
        answers('demo');
        const model = new WorkspacesModel();
        const sync = new WorkspacesSync(client, model, () => undefined);
        const seen: string[] = [];
        model.onDidChange(() => seen.push(model.list().map((w) => `${w.name}:${w.status}`).join(',')));
        const ws = await createWorkspace({ client, model, sync: new SyncModel(), state: new MemoryState() });
        assert.strictEqual(ws?.status, 'running');
        assert.strictEqual(ws?.branch, 'nexus/demo');
        assert.ok(seen.includes('demo:creating'), `tree saw ${seen.join(' | ')}`);
        assert.ok(progress.reports.some((r) => r.message === 'pulling image'), JSON.stringify(progress.reports));

        sandbox.stub(api, 'showWarningMessage').resolves('Delete');
        assert.strictEqual(await deleteWorkspace({ client, model, sync: new SyncModel(), state: new MemoryState() }, 'demo'), true);
        await sync.refresh();
        assert.deepStrictEqual(model.list(), []);
        sync.dispose();
    });

    test('cancel sends $/cancelRequest and a cancelled create leaves nothing behind', async () => {
        const progress = stubProgress(sandbox);
        answers('doomed');
        const model = new WorkspacesModel();
        const sync = new WorkspacesSync(client, model, () => undefined);
        const created = createWorkspace({ client, model, sync: new SyncModel(), state: new MemoryState() });
        await new Promise((r) => setTimeout(r, 100));
        assert.strictEqual(model.get('doomed')?.status, 'creating');
        progress.token.cancel();
        assert.strictEqual(await created, undefined);
        const info = api.showInformationMessage as sinon.SinonStub;
        assert.match(String(info.lastCall.args[0]), /cancelled/);
        const { workspaces } = await client.request('nexus/workspace/list', {});
        assert.deepStrictEqual(workspaces, []);
        assert.strictEqual(model.get('doomed'), undefined);
        sync.dispose();
    });

    test('a Nexus error carries code and resolution', async () => {
        const err = await client.request('nexus/workspace/get', { name: 'nope' }).then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof rpc.ResponseError);
        assert.strictEqual(err.code, -32803);
        assert.deepStrictEqual(Object.keys(err.data as object).sort(), ['code', 'message', 'resolution']);
        assert.strictEqual((err.data as { code: string }).code, 'WORKSPACE_NOT_FOUND');
    });
});
