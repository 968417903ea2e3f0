/**
 * Each workspace's sync (a `SyncReport` per workspace name), fed by `nexus/sync/status` and
 * `nexus/sync/didChange`, and what the tree shows of it. Nothing here depends on VS Code.
 */
import type { Disposable } from '../common/client';
import { SYNC_STATES, type SyncReport, type SyncState } from '../common/protocol';

/** A sync block without a session (the session was lost, or not made yet). */
export const INACTIVE = 'inactive';
export type SyncViewState = SyncState | typeof INACTIVE;

/** States worth a notification: the sync does not carry changes until the user acts. */
export const ATTENTION_STATES: readonly SyncState[] = ['conflicts', 'halted', 'error'];

export class SyncModel {
    private readonly byWorkspace = new Map<string, SyncReport>();
    private readonly listeners = new Set<() => void>();

    /** Replaces everything (a fresh `nexus/sync/status` of all workspaces). */
    setAll(reports: readonly SyncReport[]): void {
        this.byWorkspace.clear();
        for (const r of reports) {
            this.byWorkspace.set(r.workspace, r);
        }
        this.changed();
    }

    /** A report for one workspace (a didChange, a command's result); one that syncs nothing drops it. */
    apply(report: SyncReport): void {
        if (syncs(report)) {
            this.byWorkspace.set(report.workspace, report);
        } else {
            this.byWorkspace.delete(report.workspace);
        }
        this.changed();
    }

    delete(workspace: string): void {
        if (this.byWorkspace.delete(workspace)) {
            this.changed();
        }
    }

    get(workspace: string): SyncReport | undefined {
        return this.byWorkspace.get(workspace);
    }

    list(): SyncReport[] {
        return [...this.byWorkspace.values()].sort((a, b) => a.workspace.localeCompare(b.workspace));
    }

    onDidChange(listener: () => void): Disposable {
        this.listeners.add(listener);
        return { dispose: () => this.listeners.delete(listener) };
    }

    private changed(): void {
        for (const l of this.listeners) {
            l();
        }
    }
}

/** Whether a report shows any sync (a block or a session). */
export function syncs(report: SyncReport): boolean {
    return report.configured || report.sessions.length > 0;
}

/** The most urgent state of the report's sessions; null without sessions. */
export function syncStateOf(report: SyncReport): SyncState | null {
    let best: SyncState | null = null;
    for (const s of report.sessions) {
        const rank = SYNC_STATES.indexOf(s.state);
        if (rank >= 0 && (best === null || rank < SYNC_STATES.indexOf(best))) {
            best = s.state;
        }
    }
    return best;
}

export function conflictCountOf(report: SyncReport): number {
    return report.sessions.reduce((n, s) => n + s.conflictCount, 0);
}

export function plural(n: number, word: string): string {
    return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The local folder and the workspace path, from the block or else the first session. */
export function syncEnds(report: SyncReport): { local: string; remote: string } {
    const first = report.sessions.at(0);
    return {
        local: report.local ?? first?.local.path ?? '?',
        remote: report.remote ?? first?.remote.path ?? '?',
    };
}

export interface SyncItemView {
    state: SyncViewState;
    conflicts: number;
    /** Appended to the row's description, e.g. `sync: watching`, `sync paused`, `1 conflict`. */
    description: string;
    /** A markdown line for the row's tooltip. */
    tooltip: string;
    /** Appended to the row's context value: `.sync.<state>` (see package.json `when` clauses). */
    contextSuffix: string;
    /** The sync needs the user (conflicts, halted, error). */
    attention: boolean;
}

/** What a tree row shows of a workspace's sync; undefined when it does not sync. */
export function describeSync(report: SyncReport | undefined): SyncItemView | undefined {
    if (report === undefined || !syncs(report)) {
        return undefined;
    }
    const state: SyncViewState = syncStateOf(report) ?? INACTIVE;
    const conflicts = conflictCountOf(report);
    let description: string;
    if (state === 'paused') {
        description = 'sync paused';
    } else if (state === 'conflicts') {
        description = plural(conflicts, 'conflict');
    } else if (state === INACTIVE) {
        description = 'sync: inactive'; // a block without a session: the tooltip and the report say why
    } else {
        description = `sync: ${state}`;
    }
    if (conflicts > 0 && state !== 'conflicts') {
        description += ` · ${plural(conflicts, 'conflict')}`;
    }
    const { local, remote } = syncEnds(report);
    const session = report.sessions.find((s) => s.state === state) ?? report.sessions.at(0);
    const details = [
        session ? session.statusText : 'no Mutagen session',
        conflicts > 0 ? plural(conflicts, 'conflict') : undefined,
        session?.lastError ? `last error: ${session.lastError}` : undefined,
    ].filter((d) => d !== undefined).join('; ');
    return {
        state,
        conflicts,
        description,
        tooltip: `- Sync: **${state}** — \`${local}\` ↔ \`${report.workspace}:${remote}\` (${details})`,
        contextSuffix: `.sync.${state}`,
        attention: (ATTENTION_STATES as readonly string[]).includes(state),
    };
}
