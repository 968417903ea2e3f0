/**
 * Nexus: Pause / Resume / Flush Sync and Show Sync Status: a workspace's Mutagen sync
 * (`nexus/sync/*`), from the tree's context menu or the palette (then the user picks among the
 * workspaces whose sync the command applies to).
 */
import { showError } from '../common/errors';
import { withSidecarProgress } from '../common/progress';
import type { SyncEndpoint, SyncReport, SyncSession } from '../common/protocol';
import { showInformationMessage, showQuickPick, showReadOnlyDocument } from '../common/vscodeapi';
import { describeSync, INACTIVE, plural, syncEnds, type SyncItemView } from '../views/syncModel';
import { argName, type CommandContext } from './context';

/** Which syncs a command applies to (the palette's choice; package.json's `when` clauses agree). */
export type SyncFilter = (view: SyncItemView) => boolean;

export const CAN_PAUSE: SyncFilter = (v) => v.state !== 'paused' && v.state !== INACTIVE;
export const CAN_RESUME: SyncFilter = (v) => v.state === 'paused' || v.state === 'halted' || v.state === 'error';
export const CAN_FLUSH: SyncFilter = (v) => v.state !== 'paused' && v.state !== 'halted' && v.state !== INACTIVE;
const ANY: SyncFilter = () => true;

export const NO_SYNC = 'No Nexus workspace syncs a folder. Start one with `nexus sync start <workspace>`.';

/**
 * The workspace name from the command argument, or from a quick pick over the workspaces whose
 * sync `filter` accepts. Undefined when there is none or the user backed out.
 */
export async function pickSyncedWorkspace(
    ctx: CommandContext,
    arg: unknown,
    placeHolder: string,
    filter: SyncFilter,
    none: string,
): Promise<string | undefined> {
    const name = argName(arg);
    if (name) {
        return name;
    }
    let reports: SyncReport[];
    try {
        reports = (await ctx.client.request('nexus/sync/status', {})).workspaces;
    } catch (e) {
        await showError('Read the sync status', e);
        return undefined;
    }
    ctx.sync.setAll(reports);
    const items = reports.flatMap((r) => {
        const view = describeSync(r);
        if (!view || !filter(view)) {
            return [];
        }
        const { local, remote } = syncEnds(r);
        return [{ label: r.workspace, description: view.description, detail: `${local} ↔ ${r.workspace}:${remote}` }];
    });
    if (items.length === 0) {
        void showInformationMessage(none);
        return undefined;
    }
    const picked = await showQuickPick(items, { placeHolder, matchOnDescription: true });
    return picked?.label;
}

type ControlMethod = 'nexus/sync/pause' | 'nexus/sync/resume' | 'nexus/sync/flush';

async function control(
    ctx: CommandContext,
    workspace: string,
    method: ControlMethod,
    title: string,
    action: string,
    done: (view: SyncItemView | undefined) => string,
): Promise<SyncReport | undefined> {
    try {
        // A flush waits for a full cycle: cancellable, with the sidecar's progress.
        const report = await withSidecarProgress(ctx.client, title, (workDoneToken, token) =>
            ctx.client.request(method, { workspace, workDoneToken }, token));
        ctx.sync.apply(report);
        void showInformationMessage(done(describeSync(report)));
        return report;
    } catch (e) {
        await showError(action, e);
        return undefined;
    }
}

/** ` (2 conflicts)`, or nothing. */
function conflictsNote(view: SyncItemView | undefined): string {
    return view && view.conflicts > 0 ? ` (${plural(view.conflicts, 'conflict')})` : '';
}

export async function pauseSync(ctx: CommandContext, arg?: unknown): Promise<SyncReport | undefined> {
    const ws = await pickSyncedWorkspace(ctx, arg, 'Workspace whose sync to pause', CAN_PAUSE, 'No running Nexus sync to pause.');
    if (!ws) {
        return undefined;
    }
    return control(ctx, ws, 'nexus/sync/pause', `Pausing the sync of "${ws}"`, `Pause the sync of "${ws}"`,
        () => `Sync of "${ws}" paused: nothing is copied until it resumes.`);
}

export async function resumeSync(ctx: CommandContext, arg?: unknown): Promise<SyncReport | undefined> {
    const ws = await pickSyncedWorkspace(ctx, arg, 'Workspace whose sync to resume', CAN_RESUME, 'No paused or stopped Nexus sync to resume.');
    if (!ws) {
        return undefined;
    }
    return control(ctx, ws, 'nexus/sync/resume', `Resuming the sync of "${ws}"`, `Resume the sync of "${ws}"`,
        (v) => `Sync of "${ws}" resumed: ${v?.state ?? INACTIVE}${conflictsNote(v)}.`);
}

export async function flushSync(ctx: CommandContext, arg?: unknown): Promise<SyncReport | undefined> {
    const ws = await pickSyncedWorkspace(ctx, arg, 'Workspace whose sync to flush', CAN_FLUSH, 'No running Nexus sync to flush.');
    if (!ws) {
        return undefined;
    }
    return control(ctx, ws, 'nexus/sync/flush', `Flushing the sync of "${ws}"`, `Flush the sync of "${ws}"`,
        (v) => `Sync of "${ws}" flushed${conflictsNote(v)}.`);
}

export async function showSyncStatus(ctx: CommandContext, arg?: unknown): Promise<SyncReport | undefined> {
    const ws = await pickSyncedWorkspace(ctx, arg, 'Workspace whose sync to show', ANY, NO_SYNC);
    if (!ws) {
        return undefined;
    }
    try {
        const [report] = (await ctx.client.request('nexus/sync/status', { workspace: ws })).workspaces;
        const shown: SyncReport = report ?? { workspace: ws, configured: false, local: null, remote: null, sessions: [] };
        ctx.sync.apply(shown);
        await showReadOnlyDocument(`${ws} (Nexus sync).md`, renderSyncReport(shown));
        return shown;
    } catch (e) {
        await showError(`Show the sync of "${ws}"`, e);
        return undefined;
    }
}

// ---- the report as markdown ----

/** A table cell: code-formatted, `|` escaped, `—` when empty. */
function cell(value: string | number | null | undefined): string {
    if (value === null || value === undefined || value === '') {
        return '—';
    }
    return `\`${String(value).replaceAll('|', '\\|').replaceAll('`', "'")}\``;
}

/** A code span for running text. */
function code(value: string): string {
    return `\`${value.replaceAll('`', "'")}\``;
}

export function formatSize(bytes: number): string {
    let size = bytes;
    for (const unit of ['B', 'KB', 'MB', 'GB']) {
        if (size < 1024 || unit === 'GB') {
            return unit === 'B' ? `${size} B` : `${size.toFixed(1)} ${unit}`;
        }
        size /= 1024;
    }
    return `${bytes} B`;
}

function endpointRow(label: string, end: SyncEndpoint): string {
    const contents = end.scanned
        ? `${end.files} files, ${end.directories} folders, ${end.symlinks} links, ${formatSize(end.size)}`
        : 'not scanned yet';
    return `| ${label} | ${cell(end.url)}: ${contents}, ${end.connected ? 'connected' : '**not connected**'} |`;
}

function renderSession(s: SyncSession): string[] {
    const lines = [
        `## Session ${code(s.name || s.id)}`,
        '',
        '| | |',
        '|---|---|',
        `| State | **${s.state}** (${s.statusText}) |`,
        `| Mode | ${cell(s.mode)} |`,
        `| Cycles | ${s.successfulCycles} since it (re)connected |`,
        endpointRow('This machine', s.local),
        endpointRow('Workspace', s.remote),
        `| Ignored | ${s.ignores.length ? s.ignores.map(code).join(', ') : '—'}${s.ignoreVcs ? ' and version control folders' : ''} |`,
        `| Session id | ${cell(s.id)} |`,
    ];
    if (s.lastError) {
        lines.push(`| Last error | ${cell(s.lastError)} |`);
    }
    lines.push('');
    if (s.conflictCount > 0) {
        lines.push(
            `### ${plural(s.conflictCount, 'conflict')}`,
            '',
            'Both sides changed these paths, so the sync applied neither change: each side keeps its own ' +
                'until you make them agree (keep one version on both sides, or delete the one you do not ' +
                'want); then the sync carries on.',
            '',
        );
        for (const c of s.conflicts) {
            lines.push(`- ${code(c.path)}`);
            for (const change of c.local) {
                lines.push(`  - this machine: ${code(change)}`);
            }
            for (const change of c.workspace) {
                lines.push(`  - workspace: ${code(change)}`);
            }
        }
        const unlisted = s.conflictCount - s.conflicts.length;
        if (unlisted > 0) {
            lines.push(`- …and ${plural(unlisted, 'more conflict')} Mutagen did not list`);
        }
        lines.push('');
    }
    if (s.problems.length > 0) {
        lines.push(`### ${plural(s.problems.length, 'problem')}`, '', '| Side | Kind | Path | Error |', '|---|---|---|---|');
        for (const p of s.problems) {
            lines.push(`| ${p.side} | ${p.kind} | ${cell(p.path)} | ${cell(p.error)} |`);
        }
        lines.push('');
    }
    return lines;
}

/** Markdown for Show Sync Status: each session, both sides, conflicts with each side's changes. */
export function renderSyncReport(report: SyncReport): string {
    const view = describeSync(report);
    const lines = [`# Sync of Nexus workspace ${report.workspace}`, ''];
    if (!view) {
        lines.push(`${code(report.workspace)} does not sync a folder. Start one with ${code(`nexus sync start ${report.workspace}`)}.`, '');
        return lines.join('\n');
    }
    const { local, remote } = syncEnds(report);
    lines.push(
        `**${view.description}** — ${code(local)} (this machine) ↔ ${code(`${report.workspace}:${remote}`)} (the workspace)`,
        '',
    );
    if (report.sessions.length === 0) {
        lines.push(`The sync is not running: start the workspace, or run ${code(`nexus sync start ${report.workspace}`)}.`, '');
    }
    for (const s of report.sessions) {
        lines.push(...renderSession(s));
    }
    return lines.join('\n');
}
