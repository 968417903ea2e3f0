/**
 * A conflict must not be silent: one warning when a workspace's sync comes to need the user
 * (conflicts, halted, error), with a "Show Sync Status" button, and not again for the same state.
 */
import type { SyncReport, SyncState } from '../common/protocol';
import { executeCommand, showWarningMessage } from '../common/vscodeapi';
import { ATTENTION_STATES, conflictCountOf, plural } from './syncModel';

export const SHOW_SYNC_STATUS = 'Show Sync Status';

/** The warning for a sync in `state` (an attention state). */
export function alertMessage(state: SyncState, report: SyncReport): string {
    const ws = `"${report.workspace}"`;
    const session = report.sessions.find((s) => s.state === state);
    switch (state) {
        case 'conflicts':
            return `Sync of ${ws} has ${plural(conflictCountOf(report), 'conflict')}.`;
        case 'halted':
            return `Sync of ${ws} halted: ${session?.statusText ?? 'halted'}.`;
        default:
            return `Sync of ${ws} failed: ${session?.lastError ?? state}.`;
    }
}

export class SyncAlerts {
    /** Per workspace, the attention state last warned about (until the sync leaves it). */
    private readonly warned = new Map<string, SyncState>();

    /**
     * Sees a workspace's sync state; warns when it is an attention state not warned about yet, or
     * one the sidecar says the sync just entered again (`previousState` another state). Returns
     * whether it warned.
     */
    observe(workspace: string, state: SyncState | null, previousState: SyncState | null, report: SyncReport): boolean {
        if (state === null || !ATTENTION_STATES.includes(state)) {
            this.warned.delete(workspace);
            return false;
        }
        const reentered = previousState !== null && previousState !== state;
        if (this.warned.get(workspace) === state && !reentered) {
            return false;
        }
        this.warned.set(workspace, state);
        void this.warn(workspace, alertMessage(state, report));
        return true;
    }

    forget(workspace: string): void {
        this.warned.delete(workspace);
    }

    private async warn(workspace: string, message: string): Promise<void> {
        if (await showWarningMessage(message, {}, SHOW_SYNC_STATUS) === SHOW_SYNC_STATUS) {
            await executeCommand('nexus.showSyncStatus', workspace);
        }
    }
}
