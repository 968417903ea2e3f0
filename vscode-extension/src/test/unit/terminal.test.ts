import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as sinon from 'sinon';
import { openTerminal } from '../../commands/terminal';
import { resolveCliCommand } from '../../common/cli';
import * as api from '../../common/vscodeapi';
import { context, FakeClient, stubSettings, workspace } from './helpers';

suite('open terminal', () => {
    let sandbox: sinon.SinonSandbox;
    let dir: string;
    setup(() => {
        sandbox = sinon.createSandbox();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nexus-cli-'));
        for (const exe of ['nexus-sidecar', 'nexus']) {
            fs.writeFileSync(path.join(dir, exe), '#!/bin/sh\n', { mode: 0o755 });
        }
    });
    teardown(() => {
        sandbox.restore();
        fs.rmSync(dir, { recursive: true, force: true });
    });
    const nothing = (): undefined => undefined;

    test('the CLI: the setting, else beside the sidecar, else python -m, else PATH', () => {
        assert.deepStrictEqual(resolveCliCommand({ cliCommand: '/opt/nexus --x', sidecarCommand: [], pythonPath: 'python3' }, nothing),
            { command: '/opt/nexus', args: ['--x'], source: 'setting' });
        assert.deepStrictEqual(resolveCliCommand({ cliCommand: [], sidecarCommand: [path.join(dir, 'nexus-sidecar')], pythonPath: 'python3' }, nothing),
            { command: path.join(dir, 'nexus'), args: [], source: 'sidecar' });
        assert.deepStrictEqual(resolveCliCommand({ cliCommand: [], sidecarCommand: '/venv/bin/python -m nexus.sidecar', pythonPath: 'python3' }, nothing),
            { command: '/venv/bin/python', args: ['-m', 'nexus.cli.main'], source: 'sidecar' });
        assert.deepStrictEqual(resolveCliCommand({ cliCommand: [], sidecarCommand: ['/nowhere/nexus-sidecar'], pythonPath: 'python3' }, (e) => `/usr/bin/${e}`),
            { command: '/usr/bin/nexus', args: [], source: 'path' });
        assert.strictEqual(resolveCliCommand({ cliCommand: '', sidecarCommand: ['/nowhere/nexus-sidecar'], pythonPath: 'python3' }, nothing), undefined);
    });

    test('a running workspace: a terminal named after it runs `nexus workspace ssh <name>`', async () => {
        stubSettings(sandbox, { 'sidecar.command': [path.join(dir, 'nexus-sidecar')] });
        const term = sandbox.stub(api, 'openTerminal').returns({} as never);
        const ctx = context(new FakeClient());
        ctx.model.setAll([workspace('demo')]);
        assert.strictEqual(await openTerminal(ctx, workspace('demo')), 'Nexus: demo');
        const spec = term.firstCall.args[0];
        assert.strictEqual(spec.name, 'Nexus: demo');
        assert.strictEqual(spec.shellPath, path.join(dir, 'nexus'));
        assert.deepStrictEqual(spec.shellArgs, ['workspace', 'ssh', 'demo']);
    });

    test('a stopped workspace is started first when the user agrees', async () => {
        stubSettings(sandbox, { 'cli.command': ['/opt/nexus'] });
        const term = sandbox.stub(api, 'openTerminal').returns({} as never);
        const info = sandbox.stub(api, 'showInformationMessage').resolves('Start and Open Terminal');
        const ctx = context(new FakeClient());
        ctx.model.setAll([workspace('demo', { status: 'stopped' })]);
        await openTerminal(ctx, 'demo');
        assert.match(info.firstCall.args[0], /"demo" is stopped/);
        assert.deepStrictEqual(term.firstCall.args[0].shellArgs, ['workspace', 'ssh', '--start', 'demo']);
        info.resolves(undefined);
        assert.strictEqual(await openTerminal(ctx, 'demo'), undefined);
        assert.ok(term.calledOnce);
    });

    test('no CLI found: one error naming nexus.cli.command, no terminal', async () => {
        stubSettings(sandbox, { 'sidecar.command': ['/nowhere/nexus-sidecar'] });
        sandbox.stub(api, 'openTerminal');
        const err = sandbox.stub(api, 'showErrorMessage').resolves(undefined);
        const oldPath = process.env.PATH;
        process.env.PATH = dir + '-missing';
        try {
            assert.strictEqual(await openTerminal(context(new FakeClient()), 'demo'), undefined);
        } finally {
            process.env.PATH = oldPath;
        }
        assert.ok(err.calledOnce);
        assert.match(err.firstCall.args[0], /"nexus\.cli\.command"/);
    });
});
