import * as assert from 'assert';
import * as sinon from 'sinon';
import { disposeExecOutput, execCommand, shellCommand } from '../../commands/exec';
import { showInfo } from '../../commands/open';
import type { ExecParams } from '../../common/protocol';
import * as api from '../../common/vscodeapi';
import { context, FakeClient, stubProgress, workspace } from './helpers';

suite('run command, show info', () => {
    let sandbox: sinon.SinonSandbox;
    let text: string;
    setup(() => {
        sandbox = sinon.createSandbox();
        stubProgress(sandbox);
        text = '';
        sandbox.stub(api, 'createOutputChannel').returns({
            append: (v: string) => { text += v; },
            appendLine: (v: string) => { text += `${v}\n`; },
            show: () => undefined,
            dispose: () => undefined,
        } as unknown as ReturnType<typeof api.createOutputChannel>);
    });
    teardown(() => {
        disposeExecOutput();
        sandbox.restore();
    });

    test('runs the line as one shell snippet and streams didOutput for its outputId', async () => {
        sandbox.stub(api, 'showInputBox').resolves('echo hi');
        const client = new FakeClient();
        client.respond('nexus/workspace/exec', (p) => {
            client.notify('nexus/workspace/didOutput', { outputId: 'someone-else', stream: 'stdout', text: 'not mine\n' });
            client.notify('nexus/workspace/didOutput', { outputId: p.outputId!, stream: 'stdout', text: 'hi\n' });
            return { exitCode: 0, stdout: 'hi\n', stderr: '' };
        });
        const result = await execCommand(context(client), workspace('demo'));
        assert.strictEqual(result?.exitCode, 0);
        const params = client.requests('nexus/workspace/exec')[0].params as ExecParams;
        assert.deepStrictEqual(params.command, shellCommand('echo hi'));
        assert.deepStrictEqual(params.command, ['echo hi']);
        assert.ok(params.workDoneToken && params.outputId);
        assert.strictEqual(text, '$ echo hi    # in demo\nhi\n[exit code 0]\n');
    });

    test('without streaming the result output is shown; a non-zero exit warns', async () => {
        sandbox.stub(api, 'showInputBox').resolves('false');
        const warn = sandbox.stub(api, 'showWarningMessage').resolves(undefined);
        const client = new FakeClient().respond('nexus/workspace/exec', () => ({ exitCode: 1, stdout: '', stderr: 'nope\n' }));
        await execCommand(context(client), 'demo');
        assert.match(text, /nope\n\[exit code 1\]/);
        assert.match(warn.firstCall.args[0], /exited with code 1/);
    });

    test('show info opens a read-only markdown document', async () => {
        const show = sandbox.stub(api, 'showReadOnlyDocument').resolves();
        const client = new FakeClient().respond('nexus/workspace/get', (p) => ({
            ...workspace(p.name),
            capabilities: {
                supportsSsh: true, supportsSync: false, supportsDirectVolumeManagement: false, supportsImageCaching: false,
                supportsSnapshots: false, supportsLsp: false, supportsWebPreviews: false, supportsProcessApi: false, supportsFileApi: false,
            },
            stats: null,
        }));
        await showInfo(context(client), 'demo');
        assert.strictEqual(show.firstCall.args[0], 'demo (Nexus workspace).md');
        assert.match(show.firstCall.args[1], /# Nexus workspace demo/);
    });
});
