import * as assert from 'assert';
import * as sinon from 'sinon';
import { START_OVER_BUDGET, startWorkspace } from '../../commands/lifecycle';
import { doctorMarkdown, FIX, keepRunning, migrateWorkspace, runDoctor, showUsage, usageMarkdown } from '../../commands/living';
import type { BudgetDidChangeParams, DoctorReport, MigrateParams } from '../../common/protocol';
import * as api from '../../common/vscodeapi';
import { BudgetAlerts, budgetMessage, SHOW_USAGE } from '../../views/budgetAlerts';
import { context, FakeClient, responseError, stubProgress, workspace } from './helpers';

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

const USAGE = {
    since: '2026-11-01T00:00:00+00:00',
    until: '2026-11-30T12:00:00+00:00',
    workspaces: [
        { name: 'api', backend: 'daytona', status: 'running', runningHours: 12.5, cpuHours: 25, memoryGbHours: 50, diskGbHours: 400, unknown: [], cost: 2.1132, currency: 'USD' },
        { name: 'local', backend: 'docker', status: 'stopped', runningHours: 3, cpuHours: 0, memoryGbHours: 0, diskGbHours: 0, unknown: ['cpu', 'memory'], cost: 0, currency: 'USD' },
    ],
    backends: [],
    month: { cost: 2.1132, forecast: 4.5, currency: 'USD' },
    budget: { monthly: 5, usedPercent: 42.264, state: 'ok' },
    notes: [],
};

const DOCTOR: DoctorReport = {
    findings: [
        { code: 'DOCTOR_DOCKER_OK', severity: 'ok', check: 'docker', subject: '', message: 'the engine answers', fix: '', fixable: false, fixed: false },
        { code: 'DOCTOR_SSH_INCLUDE_BROKEN', severity: 'error', check: 'ssh', subject: '~/.ssh/config', message: 'the end marker is missing', fix: 'nexus doctor --fix', fixable: true, fixed: false },
        { code: 'DOCTOR_ORPHAN_CONTAINER', severity: 'warning', check: 'records', subject: 'old', message: 'a container with no record', fix: 'docker rm -f -v abc', fixable: false, fixed: false },
    ],
    summary: {},
};

suite('usage, budget, doctor, move, keep running', () => {
    let sandbox: sinon.SinonSandbox;
    let docs: string[][];
    setup(() => {
        sandbox = sinon.createSandbox();
        stubProgress(sandbox);
        docs = [];
        sandbox.stub(api, 'showReadOnlyDocument').callsFake(async (name: string, content: string) => {
            docs.push([name, content]);
        });
    });
    teardown(() => sandbox.restore());

    test('usage as a table with the month and the budget; unknown resources said so', async () => {
        const text = usageMarkdown(USAGE);
        assert.match(text, /\| api \| daytona \| running \| 12\.50 \| 25\.00 \| 50\.00 \| 400\.00 \| 2\.11 USD \|/);
        assert.match(text, /\| local \| docker \| stopped \| 3\.00 \| unknown \| unknown \| 0\.00 \| 0\.00 USD \|/);
        assert.match(text, /\*\*Budget:\*\* 5\.00 USD, 42 % used \(ok\)/);
        assert.match(text, /estimates/);
        const client = new FakeClient().respond('nexus/usage', () => USAGE);
        await showUsage(context(client));
        assert.deepStrictEqual(docs.map((d) => d[0]), ['nexus-usage.md']);
    });

    test('a budget warning with Show Usage; ok says nothing', async () => {
        const executed: unknown[][] = [];
        sandbox.stub(api, 'executeCommand').callsFake(async (...args: unknown[]) => {
            executed.push(args);
            return undefined;
        });
        const warn = sandbox.stub(api, 'showWarningMessage').resolves(SHOW_USAGE);
        const client = new FakeClient();
        const alerts = new BudgetAlerts(client);
        const change: BudgetDidChangeParams = { state: 'warn', previousState: 'ok', usedPercent: 85, cost: 4.25, forecast: 6, monthly: 5, currency: 'USD' };
        client.notify('nexus/budget/didChange', { ...change, state: 'ok', usedPercent: 10 });
        client.notify('nexus/budget/didChange', change);
        await settle();
        assert.ok(warn.calledOnce);
        assert.strictEqual(warn.firstCall.args[0], "This month's estimated cost is 4.25 USD, 85 % of the 5.00 USD budget (forecast to the end of the month: 6.00 USD).");
        assert.deepStrictEqual(executed, [['nexus.showUsage']]);
        assert.match(budgetMessage({ ...change, state: 'exceeded', usedPercent: 104 }) ?? '', /104 %.*asks first/);
        alerts.dispose();
    });

    test('Start refused over budget offers to go ahead, and then asks with overBudget', async () => {
        const warn = sandbox.stub(api, 'showWarningMessage').resolves(START_OVER_BUDGET);
        let calls = 0;
        const client = new FakeClient().respond('nexus/workspace/start', (p) => {
            calls += 1;
            if (!p.overBudget) {
                throw responseError(-32803, 'cannot start', { code: 'BUDGET_EXCEEDED', message: "cannot start 'demo': over budget", resolution: 'Go ahead over the budget.' });
            }
            return workspace('demo');
        });
        const ctx = context(client);
        ctx.model.setAll([workspace('demo', { status: 'stopped' })]);
        assert.strictEqual((await startWorkspace(ctx, 'demo'))?.status, 'running');
        assert.strictEqual(calls, 2);
        assert.match(warn.firstCall.args[0], /BUDGET_EXCEEDED/);
        assert.deepStrictEqual(client.requests('nexus/workspace/start').map((r) => (r.params as { overBudget?: boolean }).overBudget), [undefined, true]);
    });

    test('doctor: problems first, fix offered when something is fixable, then run with fix', async () => {
        const text = doctorMarkdown(DOCTOR);
        assert.ok(text.indexOf('DOCTOR_SSH_INCLUDE_BROKEN') < text.indexOf('DOCTOR_ORPHAN_CONTAINER'));
        assert.ok(text.indexOf('DOCTOR_ORPHAN_CONTAINER') < text.indexOf('DOCTOR_DOCKER_OK'));
        assert.match(text, /fix: docker rm -f -v abc/);
        sandbox.stub(api, 'showWarningMessage').resolves(FIX);
        const client = new FakeClient().respond('nexus/doctor', (p) => (p.fix
            ? { ...DOCTOR, findings: DOCTOR.findings.map((f) => (f.fixable ? { ...f, fixed: true } : f)) }
            : DOCTOR));
        await runDoctor(context(client));
        assert.deepStrictEqual(client.requests('nexus/doctor').map((r) => r.params), [{}, { fix: true }]);
        assert.strictEqual(docs.length, 2);
        assert.match(docs[1][1], /DOCTOR_SSH_INCLUDE_BROKEN`[^\n]*fixed/);
    });

    test('move asks for the other backend, a name and what happens to the source', async () => {
        const pick = sandbox.stub(api, 'showQuickPick');
        pick.onFirstCall().callsFake(async (items) => (await items)[0]);
        pick.onSecondCall().callsFake(async (items) => (await items)[1]);
        sandbox.stub(api, 'showInputBox').resolves('api-cloud');
        const info = sandbox.stub(api, 'showInformationMessage').resolves(undefined);
        const client = new FakeClient().respond('nexus/workspace/migrate', () => ({}));
        const ctx = context(client);
        ctx.model.setAll([workspace('api')]);
        await migrateWorkspace(ctx, 'api');
        const params = client.requests('nexus/workspace/migrate')[0].params as MigrateParams;
        assert.strictEqual(params.toBackend, 'daytona');
        assert.strictEqual(params.newName, 'api-cloud');
        assert.strictEqual(params.keepSource, true);
        assert.match(info.firstCall.args[0], /"api-cloud" on daytona/);
    });

    test('keep running records activity and says when it stops now', async () => {
        const info = sandbox.stub(api, 'showInformationMessage').resolves(undefined);
        const client = new FakeClient().respond('nexus/workspace/keepRunning', () =>
            workspace('d', { backend: 'daytona', autoStop: { minutes: 15, lastActivityAt: '2026-11-30T12:00:00+00:00', stopsAt: '2026-11-30T12:15:00+00:00' } }));
        await keepRunning(context(client), 'd');
        assert.match(info.firstCall.args[0], /stops after 15 min without activity from now/);
    });
});
