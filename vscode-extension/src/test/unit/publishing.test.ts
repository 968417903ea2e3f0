import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as sinon from 'sinon';
import { createWorkspace } from '../../commands/create';
import { programSetting, PROGRAM_SETTINGS, readSettings, TRACE_LEVELS } from '../../common/settings';
import * as api from '../../common/vscodeapi';
import { STATUS_ICON_COLORS } from './treeColors';
import { context, FakeClient, stubProgress, stubSettings, workspace } from './helpers';
import { EXTENSION_ROOT, PKG } from './packageJson';

suite('workspace trust', () => {
    let sandbox: sinon.SinonSandbox;
    setup(() => {
        sandbox = sinon.createSandbox();
    });
    teardown(() => sandbox.restore());

    /** A configuration where the folder chose one program and the user another. */
    function config(values: Record<string, { global?: unknown; workspace?: unknown }>): ReturnType<typeof api.getConfiguration> {
        return {
            get: (key: string, def?: unknown) => values[key]?.workspace ?? values[key]?.global ?? def,
            inspect: (key: string) => (key in values ? { key, globalValue: values[key].global } : undefined),
        } as unknown as ReturnType<typeof api.getConfiguration>;
    }

    test('in Restricted Mode a program setting comes only from the user settings', () => {
        const c = config({ 'sidecar.command': { global: '/usr/bin/nexus-sidecar', workspace: './evil' }, 'cli.command': { workspace: './evil-cli' } });
        sandbox.stub(api, 'getConfiguration').returns(c);
        const trusted = sandbox.stub(api, 'isWorkspaceTrusted').returns(false);
        let s = readSettings();
        assert.strictEqual(s.sidecarCommand, '/usr/bin/nexus-sidecar');
        assert.deepStrictEqual(s.cliCommand, []);
        trusted.returns(true);
        s = readSettings();
        assert.strictEqual(s.sidecarCommand, './evil');
        assert.strictEqual(s.cliCommand, './evil-cli');
        assert.strictEqual(programSetting(c, 'sidecar.pythonPath', 'python3', false), 'python3');
    });

    test('package.json declares limited support and restricts every program setting', () => {
        const untrusted = PKG.capabilities.untrustedWorkspaces;
        assert.strictEqual(untrusted.supported, 'limited');
        assert.deepStrictEqual([...untrusted.restrictedConfigurations].sort(), PROGRAM_SETTINGS.map((k) => `nexus.${k}`).sort());
        for (const key of untrusted.restrictedConfigurations) {
            assert.ok(PKG.contributes.configuration.properties[key], key);
        }
    });
});

suite('publishing', () => {
    test('repository, bugs, homepage and a 128x128 PNG icon', () => {
        assert.strictEqual(PKG.repository.url, 'https://github.com/nexus-workspaces/nexus.git');
        assert.strictEqual(PKG.bugs.url, 'https://github.com/nexus-workspaces/nexus/issues');
        assert.strictEqual(PKG.homepage, 'https://github.com/nexus-workspaces/nexus');
        const png = fs.readFileSync(path.join(EXTENSION_ROOT, PKG.icon));
        assert.strictEqual(png.subarray(1, 4).toString(), 'PNG');
        assert.deepStrictEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [128, 128]);
        assert.ok(fs.existsSync(path.join(EXTENSION_ROOT, 'CHANGELOG.md')));
        assert.doesNotMatch(PKG.scripts.package, /allow-missing-repository/);
    });

    test('every enum setting describes its values; nexus.trace.server is off|messages|verbose', () => {
        const props = PKG.contributes.configuration.properties;
        for (const [key, p] of Object.entries(props)) {
            if (p.enum) {
                assert.strictEqual(p.enumDescriptions?.length, p.enum.length, key);
            }
        }
        // vscode-languageclient reads `<client id>.trace.server`; the client id is "nexus" (sidecar.ts).
        assert.deepStrictEqual(props['nexus.trace.server'].enum, [...TRACE_LEVELS]);
        assert.match(fs.readFileSync(path.join(EXTENSION_ROOT, 'src', 'common', 'sidecar.ts'), 'utf8'), /export const CLIENT_ID = 'nexus';/);
    });

    test('the activity-bar icon is not the four squares of the Extensions icon; stopped rows are colored', () => {
        const svg = fs.readFileSync(path.join(EXTENSION_ROOT, 'media', 'nexus.svg'), 'utf8');
        assert.ok((svg.match(/<rect/g) ?? []).length < 4);
        assert.ok(STATUS_ICON_COLORS.stopped && STATUS_ICON_COLORS.stopped !== 'disabledForeground');
    });

    test('the "created" message has no buttons, so it goes away by itself', async () => {
        const sandbox = sinon.createSandbox();
        try {
            stubProgress(sandbox);
            stubSettings(sandbox);
            sandbox.stub(api, 'workspaceFolderPaths').returns(['/src/demo']);
            sandbox.stub(api, 'showInputBox').resolves('demo');
            sandbox.stub(api, 'showQuickPick').callsFake(async (items) => (await items)[0]);
            const info = sandbox.stub(api, 'showInformationMessage').resolves(undefined);
            const client = new FakeClient().respond('nexus/workspace/create', () => workspace('demo'));
            await createWorkspace(context(client));
            await new Promise((r) => setImmediate(r));
            assert.ok(info.calledOnce);
            assert.strictEqual(info.firstCall.args.length, 1);
            assert.match(info.firstCall.args[0], /^Workspace "demo" is running\./);
        } finally {
            sandbox.restore();
        }
    });
});
