import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as sinon from 'sinon';
import {
    CLOSE_PREVIEW, closePreview, OTHER_PORT, openPreview, parsePort, RECENT_PORTS_KEY, recentPorts, RECORD_EXTERNAL_ENV, rememberPort, validatePort,
} from '../../commands/preview';
import type { Preview, PreviewOpenParams } from '../../common/protocol';
import * as api from '../../common/vscodeapi';
import { describeWorkspace } from '../../views/workspacesTree';
import { context, FakeClient, MemoryState, responseError, stubProgress, workspace } from './helpers';

function preview(ws: string, port: number, localPort = 40000 + port): Preview {
    return { workspace: ws, port, localPort, url: `http://127.0.0.1:${localPort}/`, pid: 4242, via: 'ssh', startedAt: '2026-01-01T00:00:00Z' };
}

function openingClient(): FakeClient {
    return new FakeClient().respond('nexus/preview/open', (p) => {
        const pv = preview(p.workspace, p.port);
        return { localUrl: pv.url, started: true, preview: pv };
    });
}

interface MenuItem {
    command: string;
    when: string;
}
const MENUS = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
    contributes: { menus: { 'view/item/context': MenuItem[] } };
}).contributes.menus['view/item/context'];

suite('preview commands', () => {
    let sandbox: sinon.SinonSandbox;
    let external: sinon.SinonStub;
    let info: sinon.SinonStub;
    setup(() => {
        sandbox = sinon.createSandbox();
        stubProgress(sandbox);
        external = sandbox.stub(api, 'openExternal').resolves(true);
        info = sandbox.stub(api, 'showInformationMessage').resolves(undefined);
    });
    teardown(() => {
        sandbox.restore();
    });

    test('ports are validated: whole numbers from 1 to 65535', () => {
        assert.strictEqual(parsePort('8080'), 8080);
        assert.strictEqual(parsePort(' 1 '), 1);
        assert.strictEqual(parsePort('65535'), 65535);
        for (const bad of ['', '0', '65536', '-1', '80.5', 'http', '1e3', '123456']) {
            assert.strictEqual(parsePort(bad), undefined, bad);
            assert.ok(validatePort(bad), bad);
        }
        assert.strictEqual(validatePort('3000'), undefined);
    });

    test('recent ports: most recent first, no duplicates, at most five, per workspace', async () => {
        const state = new MemoryState();
        for (const p of [3000, 8000, 5173, 3000, 9000, 9001, 9002]) {
            await rememberPort(state, 'demo', p);
        }
        await rememberPort(state, 'other', 1234);
        assert.deepStrictEqual(recentPorts(state, 'demo'), [9002, 9001, 9000, 3000, 5173]);
        assert.deepStrictEqual(recentPorts(state, 'other'), [1234]);
        assert.deepStrictEqual(recentPorts(state, 'none'), []);
    });

    test('open: asks the port, opens the preview with progress, opens the URL externally, remembers the port', async () => {
        const input = sandbox.stub(api, 'showInputBox').resolves('8125');
        const client = openingClient();
        const state = new MemoryState();
        const result = await openPreview(context(client, state), workspace('demo'));
        assert.strictEqual(result?.localUrl, 'http://127.0.0.1:48125/');
        const options = input.firstCall.args[0];
        assert.ok(options.validateInput?.('0'));
        assert.strictEqual(options.validateInput?.('8125'), undefined);
        const params = client.requests('nexus/preview/open')[0].params as PreviewOpenParams;
        assert.strictEqual(params.workspace, 'demo');
        assert.strictEqual(params.port, 8125);
        assert.ok(params.workDoneToken);
        assert.strictEqual(external.callCount, 1);
        assert.strictEqual(String(external.firstCall.args[0]), 'http://127.0.0.1:48125/');
        assert.strictEqual(info.firstCall.args[0], 'Preview of demo:8125 at http://127.0.0.1:48125/');
        assert.strictEqual(info.firstCall.args[1], CLOSE_PREVIEW);
        assert.deepStrictEqual(state.get(RECENT_PORTS_KEY), { demo: [8125] });
    });

    test('open offers the recent ports, and "Other port…" asks for another', async () => {
        const state = new MemoryState();
        await rememberPort(state, 'demo', 3000);
        await rememberPort(state, 'demo', 5173);
        const pick = sandbox.stub(api, 'showQuickPick');
        pick.onFirstCall().callsFake(async (items) => (await items).find((i) => i.label === '3000'));
        pick.onSecondCall().callsFake(async (items) => (await items).find((i) => i.label === OTHER_PORT));
        const input = sandbox.stub(api, 'showInputBox').resolves('8000');
        const client = openingClient();

        await openPreview(context(client, state), 'demo');
        const labels = (await pick.firstCall.args[0]).map((i) => i.label);
        assert.deepStrictEqual(labels, ['5173', '3000', OTHER_PORT]);
        assert.strictEqual(input.callCount, 0);
        assert.deepStrictEqual(recentPorts(state, 'demo'), [3000, 5173]);

        await openPreview(context(client, state), 'demo');
        assert.strictEqual(input.callCount, 1);
        assert.deepStrictEqual(client.requests('nexus/preview/open').map((r) => (r.params as PreviewOpenParams).port), [3000, 8000]);
        assert.deepStrictEqual(recentPorts(state, 'demo'), [8000, 3000, 5173]);
    });

    test('backing out of the port prompt sends nothing', async () => {
        sandbox.stub(api, 'showInputBox').resolves(undefined);
        const client = openingClient();
        assert.strictEqual(await openPreview(context(client), 'demo'), undefined);
        assert.strictEqual(client.sent.length, 0);
        assert.strictEqual(external.callCount, 0);
    });

    test('an error is shown with its code and resolution; the port is not remembered and nothing opens', async () => {
        sandbox.stub(api, 'showInputBox').resolves('8125');
        const err = sandbox.stub(api, 'showErrorMessage').resolves(undefined);
        const client = new FakeClient().respond('nexus/preview/open', () => {
            throw responseError(-32803, 'nothing answers on port 8125', {
                code: 'PREVIEW_UNREACHABLE', message: 'nothing answers on port 8125 in workspace "demo"', resolution: 'Start the server first.',
            });
        });
        const state = new MemoryState();
        assert.strictEqual(await openPreview(context(client, state), 'demo'), undefined);
        assert.match(err.firstCall.args[0], /Open preview of "demo" port 8125 failed: .*\[PREVIEW_UNREACHABLE\] Start the server first\./);
        assert.strictEqual(external.callCount, 0);
        assert.deepStrictEqual(recentPorts(state, 'demo'), []);
    });

    test('the notification\'s Close Preview closes it', async () => {
        sandbox.stub(api, 'showInputBox').resolves('8125');
        info.onFirstCall().resolves(CLOSE_PREVIEW);
        const client = openingClient().respond('nexus/preview/close', (p) => ({ closed: true, preview: preview(p.workspace, p.port) }));
        await openPreview(context(client), 'demo');
        assert.deepStrictEqual(client.requests('nexus/preview/close')[0].params, { workspace: 'demo', port: 8125 });
    });

    test('with the record variable set, the URL is written to the file instead of opened', async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nexus-preview-'));
        const file = path.join(dir, 'external.json');
        process.env[RECORD_EXTERNAL_ENV] = file;
        try {
            sandbox.stub(api, 'showInputBox').resolves('8125');
            await openPreview(context(openingClient()), 'demo');
            assert.strictEqual(external.callCount, 0);
            assert.deepStrictEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { command: 'openExternal', url: 'http://127.0.0.1:48125/' });
        } finally {
            Reflect.deleteProperty(process.env, RECORD_EXTERNAL_ENV);
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test('close lists the running previews and closes the one picked', async () => {
        const client = new FakeClient()
            .respond('nexus/preview/list', () => ({ previews: [preview('web', 3000), preview('demo', 8125), preview('demo', 80)] }))
            .respond('nexus/preview/close', (p) => ({ closed: true, preview: preview(p.workspace, p.port) }));
        const pick = sandbox.stub(api, 'showQuickPick').callsFake(async (items) => (await items)[1]);
        const closed = await closePreview(context(client));
        assert.deepStrictEqual((await pick.firstCall.args[0]).map((i) => i.label), ['demo:80', 'demo:8125', 'web:3000']);
        assert.strictEqual(closed?.port, 8125);
        assert.deepStrictEqual(client.requests('nexus/preview/close')[0].params, { workspace: 'demo', port: 8125 });
        assert.match(String(info.lastCall.args[0]), /Closed the preview of demo:8125/);
    });

    test('close from a workspace lists only its previews; none running says so', async () => {
        const client = new FakeClient().respond('nexus/preview/list', () => ({ previews: [] }));
        const pick = sandbox.stub(api, 'showQuickPick');
        assert.strictEqual(await closePreview(context(client), workspace('demo')), undefined);
        assert.deepStrictEqual(client.requests('nexus/preview/list')[0].params, { workspace: 'demo' });
        assert.strictEqual(pick.callCount, 0);
        assert.match(String(info.firstCall.args[0]), /No preview of workspace "demo" is running/);
    });

    test('a close error shows its code', async () => {
        const err = sandbox.stub(api, 'showErrorMessage').resolves(undefined);
        const client = new FakeClient()
            .respond('nexus/preview/list', () => ({ previews: [preview('demo', 8125)] }))
            .respond('nexus/preview/close', () => {
                throw responseError(-32803, 'no preview', { code: 'PREVIEW_NOT_FOUND', message: 'no preview of demo:8125', resolution: 'List them.' });
            });
        sandbox.stub(api, 'showQuickPick').callsFake(async (items) => (await items)[0]);
        assert.strictEqual(await closePreview(context(client)), undefined);
        assert.match(err.firstCall.args[0], /\[PREVIEW_NOT_FOUND\]/);
    });

    test('the tree offers Open and Close Preview on running workspaces only', () => {
        for (const command of ['nexus.openPreview', 'nexus.closePreview']) {
            const items = MENUS.filter((i) => i.command === command);
            assert.ok(items.length > 0, command);
            const offered = (status: 'running' | 'stopped'): boolean => items.some((i) => {
                const m = /viewItem =~ \/(.*)\/$/.exec(i.when);
                return m !== null && new RegExp(m[1]).test(describeWorkspace(workspace('demo', { status })).contextValue ?? '');
            });
            assert.ok(offered('running'), `${command} on a running workspace`);
            assert.ok(!offered('stopped'), `${command} on a stopped workspace`);
        }
    });
});
