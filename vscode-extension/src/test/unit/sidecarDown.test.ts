import * as assert from 'assert';
import * as sinon from 'sinon';
import { stopWorkspace } from '../../commands/lifecycle';
import { renderError, showError, showSidecarDown, SidecarUnavailableError } from '../../common/errors';
import { progressReporter } from '../../common/progress';
import * as api from '../../common/vscodeapi';
import { WorkspacesModel, WorkspacesSync } from '../../views/workspacesTree';
import { context, FakeClient, stubProgress, workspace } from './helpers';
import { PKG } from './packageJson';

suite('a broken or missing sidecar', () => {
    let sandbox: sinon.SinonSandbox;
    setup(() => {
        sandbox = sinon.createSandbox();
        stubProgress(sandbox);
    });
    teardown(() => sandbox.restore());

    test('one message, naming nexus.sidecar.command, with Open Settings and Restart Sidecar', async () => {
        const err = sandbox.stub(api, 'showErrorMessage').resolves('Open Settings');
        const exec = sandbox.stub(api, 'executeCommand').resolves(undefined);
        const rendered = await showError('List workspaces', new SidecarUnavailableError('spawn /nope ENOENT'));
        assert.ok(rendered.sidecarDown);
        assert.ok(err.calledOnce);
        assert.match(err.firstCall.args[0], /the Nexus sidecar is not running/i);
        assert.match(err.firstCall.args[0], /"nexus\.sidecar\.command"/);
        assert.doesNotMatch(err.firstCall.args[0], /failed|ENOENT/);
        assert.deepStrictEqual(err.firstCall.args.slice(1), ['Open Settings', 'Restart Sidecar', 'Show Logs']);
        assert.deepStrictEqual(exec.firstCall.args, ['workbench.action.openSettings', 'nexus.sidecar.command']);
    });

    test('while the message is shown, a second failure adds no second message', async () => {
        let answer: (v: string | undefined) => void = () => undefined;
        const err = sandbox.stub(api, 'showErrorMessage').returns(new Promise<string | undefined>((r) => {
            answer = r;
        }));
        const first = showSidecarDown();
        const second = showError('Stop workspace "a"', new SidecarUnavailableError('x'));
        answer(undefined);
        await Promise.all([first, second]);
        assert.ok(err.calledOnce);
        await showSidecarDown();
        assert.ok(err.calledTwice, 'shown again once the first was dismissed');
    });

    test('a command run while it is down says so instead of "List workspaces failed"', async () => {
        const err = sandbox.stub(api, 'showErrorMessage').resolves(undefined);
        const client = new FakeClient().respond('nexus/workspace/list', () => {
            throw new SidecarUnavailableError('spawn /nope ENOENT');
        });
        assert.strictEqual(await stopWorkspace(context(client)), undefined);
        assert.ok(err.calledOnce);
        assert.match(err.firstCall.args[0], /^The Nexus sidecar is not running\./);
        assert.match(renderError('Stop workspace "a"', new SidecarUnavailableError('x')).text, /^The Nexus sidecar is not running/);
    });

    test('the tree shows no spawn error: it empties, so the welcome view shows', async () => {
        const model = new WorkspacesModel();
        model.setAll([workspace('stale')]);
        const messages: Array<string | undefined> = [];
        const client = new FakeClient().respond('nexus/workspace/list', () => {
            throw new SidecarUnavailableError('spawn /nope ENOENT\nat ChildProcess...');
        });
        await new WorkspacesSync(client, model, (m) => messages.push(m)).refresh();
        assert.deepStrictEqual(model.list(), []);
        assert.deepStrictEqual(messages, [undefined]);
    });

    test('the welcome view for a failed sidecar has Open Settings and Restart Sidecar', () => {
        const welcome = PKG.contributes.viewsWelcome;
        const failed = welcome.filter((w) => w.when === 'nexus.sidecarState == failed');
        assert.strictEqual(failed.length, 1);
        assert.match(failed[0].contents, /nexus\.sidecar\.command/);
        assert.match(failed[0].contents, /\[Open Settings\]\(command:workbench\.action\.openSettings\?/);
        assert.match(failed[0].contents, /\[Restart Sidecar\]\(command:nexus\.restartSidecar\)/);
        assert.ok(welcome.every((w) => w === failed[0] || !/nexusSidecar|failed/.test(w.when ?? '')));
    });
});

suite('notifications', () => {
    test('a progress message repeating the title is dropped', () => {
        const seen: Array<{ message?: string; increment?: number }> = [];
        const r = progressReporter((v) => seen.push(v), 'Starting workspace "vsx1"');
        r({ kind: 'begin', title: 'Starting workspace vsx1' });
        r({ kind: 'report', message: 'Starting workspace vsx1' });
        r({ kind: 'report', message: 'waiting for ssh', percentage: 50 });
        r({ kind: 'end' });
        assert.deepStrictEqual(seen, [{ message: 'waiting for ssh', increment: 50 }]);
    });
});
