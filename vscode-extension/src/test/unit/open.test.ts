import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as sinon from 'sinon';
import { copySshCommand, openWorkspace, RECORD_OPEN_ENV, renderInfo } from '../../commands/open';
import type { ConnectionInfo } from '../../common/protocol';
import { detectRemoteSsh, editorKind, recommendedRemoteSsh } from '../../common/remote';
import * as api from '../../common/vscodeapi';
import { context, FakeClient, stubProgress, workspace } from './helpers';

function connectionInfo(name: string): ConnectionInfo {
    const alias = `nexus-${name}`;
    return {
        alias, host: '127.0.0.1', port: 32801, user: 'nexus', remotePath: '/workspace',
        authority: `ssh-remote+${alias}`, uri: `vscode-remote://ssh-remote+${alias}/workspace`,
        sshCommand: `ssh ${alias}`, sshConfigPath: '/home/dev/.nexus/ssh_config',
    };
}

suite('open in new window', () => {
    let sandbox: sinon.SinonSandbox;
    let executed: unknown[][];
    setup(() => {
        sandbox = sinon.createSandbox();
        stubProgress(sandbox);
        executed = [];
        sandbox.stub(api, 'executeCommand').callsFake(async (...args: unknown[]) => {
            executed.push(args);
            return undefined;
        });
        Reflect.deleteProperty(process.env, RECORD_OPEN_ENV);
    });
    teardown(() => {
        sandbox.restore();
        Reflect.deleteProperty(process.env, RECORD_OPEN_ENV);
    });

    function installed(app: string, ids: string[]): void {
        sandbox.stub(api, 'appName').returns(app);
        sandbox.stub(api, 'isExtensionInstalled').callsFake((id: string) => ids.includes(id));
    }

    test('editor detection and the Remote-SSH extension each editor uses', () => {
        assert.strictEqual(editorKind('Visual Studio Code'), 'vscode');
        assert.strictEqual(editorKind('Visual Studio Code - Insiders'), 'vscode');
        assert.strictEqual(editorKind('Cursor'), 'cursor');
        assert.strictEqual(editorKind('VSCodium'), 'vscodium');
        assert.strictEqual(editorKind('code-server'), 'other');
        const all = () => true;
        assert.strictEqual(detectRemoteSsh('vscode', all)?.id, 'ms-vscode-remote.remote-ssh');
        assert.strictEqual(detectRemoteSsh('cursor', all)?.id, 'anysphere.remote-ssh');
        assert.strictEqual(detectRemoteSsh('vscodium', all)?.id, 'jeanp413.open-remote-ssh');
        assert.strictEqual(detectRemoteSsh('cursor', (id) => id === 'ms-vscode-remote.remote-ssh'), undefined,
            "Microsoft's Remote-SSH does not run in Cursor");
        assert.strictEqual(recommendedRemoteSsh('cursor').id, 'anysphere.remote-ssh');
    });

    test('VS Code with Remote-SSH opens the connectionInfo URI in a new window', async () => {
        installed('Visual Studio Code', ['ms-vscode-remote.remote-ssh']);
        const client = new FakeClient().respond('nexus/workspace/connectionInfo', (p) => connectionInfo(p.name));
        const outcome = await openWorkspace(context(client), workspace('demo'));
        assert.strictEqual(outcome, 'opened');
        assert.strictEqual(executed.length, 1);
        const [cmd, uri, options] = executed[0];
        assert.strictEqual(cmd, 'vscode.openFolder');
        assert.strictEqual(String(uri), 'vscode-remote://ssh-remote+nexus-demo/workspace');
        assert.deepStrictEqual(options, { forceNewWindow: true });
    });

    test("Cursor uses Cursor's own Remote-SSH", async () => {
        installed('Cursor', ['anysphere.remote-ssh']);
        const client = new FakeClient().respond('nexus/workspace/connectionInfo', (p) => connectionInfo(p.name));
        assert.strictEqual(await openWorkspace(context(client), 'demo'), 'opened');
        assert.strictEqual(executed[0][0], 'vscode.openFolder');
    });

    test('with no Remote-SSH extension it names the one to install and can show it', async () => {
        installed('VSCodium', ['ms-vscode-remote.remote-ssh']);
        const warn = sandbox.stub(api, 'showWarningMessage').resolves('Show Extension');
        const client = new FakeClient();
        assert.strictEqual(await openWorkspace(context(client), 'demo'), 'missing-extension');
        assert.match(warn.firstCall.args[0], /Open Remote - SSH.*jeanp413\.open-remote-ssh/);
        assert.deepStrictEqual(executed, [['workbench.extensions.search', '@id:jeanp413.open-remote-ssh']]);
        assert.strictEqual(client.sent.length, 0);
    });

    test('when ~/.ssh/config cannot include Nexus, it offers remote.SSH.configFile, then opens', async () => {
        installed('Visual Studio Code', ['ms-vscode-remote.remote-ssh']);
        const updates: unknown[][] = [];
        sandbox.stub(api, 'getConfiguration').returns({
            get: () => undefined,
            update: async (...args: unknown[]) => { updates.push(args); },
        } as unknown as ReturnType<typeof api.getConfiguration>);
        const warn = sandbox.stub(api, 'showWarningMessage').resolves('Use the Nexus ssh config');
        const client = new FakeClient().respond('nexus/workspace/connectionInfo', (p) => ({
            ...connectionInfo(p.name), sshCommand: `ssh -F /home/dev/.nexus/ssh/config nexus-${p.name}`,
        }));
        assert.strictEqual(await openWorkspace(context(client), 'demo'), 'opened');
        assert.match(warn.firstCall.args[0], /does not include the Nexus ssh config/);
        assert.deepStrictEqual(updates, [['configFile', '/home/dev/.nexus/ssh_config', true]]);
        assert.strictEqual(executed[0][0], 'vscode.openFolder');
    });

    test('declining the ssh config change opens nothing', async () => {
        installed('Visual Studio Code', ['ms-vscode-remote.remote-ssh']);
        sandbox.stub(api, 'getConfiguration').returns({
            get: () => undefined,
            update: async () => undefined,
        } as unknown as ReturnType<typeof api.getConfiguration>);
        sandbox.stub(api, 'showWarningMessage').resolves(undefined);
        const client = new FakeClient().respond('nexus/workspace/connectionInfo', (p) => ({
            ...connectionInfo(p.name), sshCommand: `ssh -F /x nexus-${p.name}`,
        }));
        assert.strictEqual(await openWorkspace(context(client), 'demo'), 'cancelled');
        assert.strictEqual(executed.length, 0);
    });

    test('test-only record mode writes the URI instead of opening a window', async () => {
        installed('code-server', []);
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nexus-open-')), 'open.json');
        process.env[RECORD_OPEN_ENV] = file;
        const client = new FakeClient().respond('nexus/workspace/connectionInfo', (p) => connectionInfo(p.name));
        assert.strictEqual(await openWorkspace(context(client), 'demo'), 'recorded');
        assert.strictEqual(executed.length, 0);
        const record = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
        assert.deepStrictEqual(record, {
            command: 'vscode.openFolder', uri: 'vscode-remote://ssh-remote+nexus-demo/workspace',
            options: { forceNewWindow: true }, remoteSshExtension: null,
        });
    });

    test('a stopped workspace is started first when the user agrees', async () => {
        installed('Visual Studio Code', ['ms-vscode-remote.remote-ssh']);
        sandbox.stub(api, 'showWarningMessage').resolves('Start and Open');
        const client = new FakeClient()
            .respond('nexus/workspace/start', (p) => workspace(p.name))
            .respond('nexus/workspace/connectionInfo', (p) => connectionInfo(p.name));
        const ctx = context(client);
        ctx.model.setAll([workspace('demo', { status: 'stopped' })]);
        assert.strictEqual(await openWorkspace(ctx, 'demo'), 'opened');
        assert.deepStrictEqual(client.sent.map((r) => r.method), ['nexus/workspace/start', 'nexus/workspace/connectionInfo']);
    });

    test('copy SSH command puts the sidecar-provided command on the clipboard', async () => {
        const clip = sandbox.stub(api, 'writeClipboard').resolves();
        sandbox.stub(api, 'showInformationMessage').resolves(undefined);
        const client = new FakeClient().respond('nexus/workspace/connectionInfo', (p) => connectionInfo(p.name));
        assert.strictEqual(await copySshCommand(context(client), 'demo'), 'ssh nexus-demo');
        assert.ok(clip.calledOnceWith('ssh nexus-demo'));
    });

    test('show info renders the workspace as markdown', () => {
        const md = renderInfo({
            ...workspace('demo', { branch: 'nexus/demo', resources: { cpu: 2, memoryGb: 4, diskGb: null } }),
            capabilities: {
                supportsSsh: true, supportsSync: false, supportsDirectVolumeManagement: true, supportsImageCaching: false,
                supportsSnapshots: false, supportsLsp: false, supportsWebPreviews: false, supportsProcessApi: true, supportsFileApi: false,
            },
            stats: { cpuPercent: 12.5, memoryUsedBytes: 1073741824, memoryLimitBytes: null },
        });
        assert.match(md, /# Nexus workspace demo/);
        assert.match(md, /`nexus\/demo`/);
        assert.match(md, /CPU `2`, memory `4` GB, disk — GB/);
        assert.match(md, /Ssh, DirectVolumeManagement, ProcessApi/);
        assert.match(md, /12\.5 %/);
    });
});
