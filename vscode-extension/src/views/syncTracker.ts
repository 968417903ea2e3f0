/**
 * Keeps the sync model current: every workspace's sync from `nexus/sync/status` on (re)start and
 * refresh, then `nexus/sync/didChange` notifications; warns through SyncAlerts.
 */
import type { Disposable, NexusClient } from '../common/client';
import { log } from '../common/logging';
import { ErrorCodes } from '../common/protocol';
import type { SyncAlerts } from './syncAlerts';
import { syncStateOf, type SyncModel } from './syncModel';

function isMethodNotFound(e: unknown): boolean {
    return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === ErrorCodes.MethodNotFound;
}

export class SyncTracker implements Disposable {
    private readonly subs: Disposable[] = [];

    constructor(
        private readonly client: NexusClient,
        private readonly model: SyncModel,
        private readonly alerts: SyncAlerts,
    ) {
        this.subs.push(
            client.onNotification('nexus/sync/didChange', (p) => {
                log.debug(`sync didChange ${p.workspace}: ${p.previousState ?? '-'} -> ${p.state ?? '-'} (${p.conflictCount} conflicts)`);
                model.apply(p.report);
                alerts.observe(p.workspace, p.state, p.previousState, p.report);
            }),
            client.onNotification('nexus/workspace/didChangeState', (p) => {
                if (p.deleted) {
                    model.delete(p.name);
                    alerts.forget(p.name);
                }
            }),
        );
    }

    /** Reads every workspace's sync. A failure only logs: the workspaces list does not depend on it. */
    async refresh(): Promise<void> {
        let reports;
        try {
            reports = (await this.client.request('nexus/sync/status', {})).workspaces;
        } catch (e) {
            if (isMethodNotFound(e)) {
                log.info('this sidecar does not report sync (no nexus/sync/status)');
            } else {
                log.warn(`reading the sync status: ${e instanceof Error ? e.message : String(e)}`);
            }
            return;
        }
        const before = new Map(this.model.list().map((r) => [r.workspace, syncStateOf(r)]));
        this.model.setAll(reports);
        const seen = new Set<string>();
        for (const report of reports) {
            seen.add(report.workspace);
            this.alerts.observe(report.workspace, syncStateOf(report), before.get(report.workspace) ?? null, report);
        }
        for (const name of before.keys()) {
            if (!seen.has(name)) {
                this.alerts.forget(name);
            }
        }
    }

    dispose(): void {
        for (const s of this.subs) {
            s.dispose();
        }
    }
}
