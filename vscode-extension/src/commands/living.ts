/**
 * Nexus: Show Usage, Run Doctor, Move Workspace to Another Backend.
 */
import { showError } from '../common/errors';
import { withSidecarProgress } from '../common/progress';
import type { BackendType, DoctorFinding, DoctorReport } from '../common/protocol';
import { showInformationMessage, showInputBox, showQuickPick, showReadOnlyDocument, showWarningMessage } from '../common/vscodeapi';
import { pickWorkspace, type CommandContext } from './context';

interface UsageRow {
    name?: string;
    backend: string;
    status?: string;
    runningHours: number;
    cpuHours: number;
    memoryGbHours: number;
    diskGbHours: number;
    unknown: string[];
    cost: number;
    currency: string;
}

interface UsageReport {
    since: string;
    until: string;
    workspaces: UsageRow[];
    backends: UsageRow[];
    month: { cost: number; forecast: number; currency: string };
    budget: { monthly: number | null; usedPercent: number | null; state: string };
    notes: string[];
}

const hours = (value: number): string => value.toFixed(2);

/** `nexus usage` as a Markdown document. */
export function usageMarkdown(report: UsageReport): string {
    const lines = [
        '# Nexus usage (estimates)',
        '',
        `From ${report.since} to ${report.until}.`,
        '',
        '| workspace | backend | status | running h | CPU-h | memory GB-h | disk GB-h | est. cost |',
        '|---|---|---|---|---|---|---|---|',
    ];
    for (const row of report.workspaces) {
        // a resource the workspace has no value for counted as 0: say "unknown", as the CLI does
        const of = (resource: string, value: number): string => (row.unknown.includes(resource) ? 'unknown' : hours(value));
        lines.push(`| ${row.name ?? ''} | ${row.backend} | ${row.status ?? ''} | ${hours(row.runningHours)} | ${of('cpu', row.cpuHours)} | ${of('memory', row.memoryGbHours)} | ${of('disk', row.diskGbHours)} | ${row.cost.toFixed(2)} ${row.currency} |`);
    }
    if (!report.workspaces.length) {
        lines.push('| (none) | | | | | | | |');
    }
    const { month, budget } = report;
    lines.push('', `**This month:** ${month.cost.toFixed(2)} ${month.currency}, forecast ${month.forecast.toFixed(2)} ${month.currency} to its end.`);
    lines.push(budget.monthly === null
        ? 'No monthly budget is set (`budget.monthly`).'
        : `**Budget:** ${budget.monthly.toFixed(2)} ${month.currency}, ${Math.round(budget.usedPercent ?? 0)} % used (${budget.state}).`);
    for (const note of report.notes) {
        lines.push('', `> ${note}`);
    }
    lines.push('', 'The rates are estimates from the config (`backends.<backend>.rates`), not a bill.', '');
    return lines.join('\n');
}

export async function showUsage(ctx: CommandContext): Promise<void> {
    try {
        const report = (await ctx.client.request('nexus/usage', {})) as unknown as UsageReport;
        await showReadOnlyDocument('nexus-usage.md', usageMarkdown(report));
    } catch (e) {
        await showError('Show usage', e);
    }
}

const MARK: Record<DoctorFinding['severity'], string> = { ok: '✓', warning: '!', error: '✗' };

/** `nexus doctor` as a Markdown document: problems first, then what passed. */
export function doctorMarkdown(report: DoctorReport): string {
    const order = { error: 0, warning: 1, ok: 2 } as const;
    const findings = [...report.findings].sort((a, b) => order[a.severity] - order[b.severity]);
    const lines = ['# Nexus doctor', ''];
    for (const f of findings) {
        const subject = f.subject ? ` (${f.subject})` : '';
        const state = f.fixed ? ' — fixed' : f.fixable ? ' — "Fix" repairs it' : '';
        lines.push(`- ${MARK[f.severity]} \`${f.code}\`${subject}: ${f.message}${state}`);
        if (f.fix && f.severity !== 'ok' && !f.fixed) {
            lines.push(`  - fix: ${f.fix}`);
        }
    }
    lines.push('', 'Every code is explained in docs/troubleshooting.md.', '');
    return lines.join('\n');
}

export const FIX = 'Fix';

export async function runDoctor(ctx: CommandContext): Promise<void> {
    try {
        let report = await withSidecarProgress(ctx.client, 'Checking the Nexus installation', (_workDoneToken, token) =>
            ctx.client.request('nexus/doctor', {}, token));
        await showReadOnlyDocument('nexus-doctor.md', doctorMarkdown(report));
        const fixable = report.findings.filter((f) => f.fixable && f.severity !== 'ok');
        const problems = report.findings.filter((f) => f.severity !== 'ok');
        if (!problems.length) {
            void showInformationMessage('Nexus doctor found nothing wrong.');
            return;
        }
        if (!fixable.length || (await showWarningMessage(`Nexus doctor: ${problems.length} problem(s), ${fixable.length} it can fix.`, {}, FIX)) !== FIX) {
            return;
        }
        report = await withSidecarProgress(ctx.client, 'Fixing the Nexus installation', (_workDoneToken, token) =>
            ctx.client.request('nexus/doctor', { fix: true }, token));
        await showReadOnlyDocument('nexus-doctor.md', doctorMarkdown(report));
    } catch (e) {
        await showError('Run Nexus doctor', e);
    }
}

const BACKENDS: BackendType[] = ['docker', 'daytona'];

export async function migrateWorkspace(ctx: CommandContext, arg?: unknown): Promise<void> {
    const name = await pickWorkspace(ctx, arg, 'Workspace to move', ['running']);
    if (!name) {
        return;
    }
    const from = ctx.model.get(name)?.backend;
    const to = (await showQuickPick(
        BACKENDS.filter((b) => b !== from).map((b) => ({ label: b })),
        { placeHolder: `Move "${name}" to which backend?` },
    ))?.label;
    if (!to) {
        return;
    }
    const newName = await showInputBox({ prompt: 'Name of the new workspace', value: `${name}-${to}` });
    if (!newName) {
        return;
    }
    const keep = await showQuickPick(
        [{ label: 'Stop the source once the copy is verified' }, { label: 'Keep the source running' }],
        { placeHolder: `After the move, "${name}"…` },
    );
    if (!keep) {
        return;
    }
    try {
        await withSidecarProgress(ctx.client, `Moving workspace "${name}" to ${to}`, (workDoneToken, token) =>
            ctx.client.request('nexus/workspace/migrate', {
                name, toBackend: to, newName, keepSource: keep.label.startsWith('Keep'), workDoneToken,
            }, token));
        void showInformationMessage(`Workspace "${newName}" on ${to} has the branch, commits and changes of "${name}" (verified).`);
    } catch (e) {
        await showError(`Move workspace "${name}"`, e);
    }
}

export async function keepRunning(ctx: CommandContext, arg?: unknown): Promise<void> {
    const name = await pickWorkspace(ctx, arg, 'Workspace to keep running', ['running']);
    if (!name) {
        return;
    }
    try {
        const ws = await ctx.client.request('nexus/workspace/keepRunning', { name });
        void showInformationMessage(ws.autoStop
            ? `Workspace "${name}" keeps running: it stops after ${ws.autoStop.minutes} min without activity from now.`
            : `Workspace "${name}" does not stop by itself.`);
    } catch (e) {
        await showError(`Keep workspace "${name}" running`, e);
    }
}
