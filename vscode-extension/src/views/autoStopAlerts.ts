/**
 * Auto-stop seen coming: a warning with "Keep running" before a workspace stops itself for want of
 * activity (the sidecar sends it once per approach of the deadline), and a clear message with
 * "Start" once it did.
 */
import type { Disposable, NexusClient } from '../common/client';
import { showError } from '../common/errors';
import { log } from '../common/logging';
import type { AutoStoppedParams, AutoStopWarningParams } from '../common/protocol';
import { executeCommand, showInformationMessage, showWarningMessage } from '../common/vscodeapi';

export const KEEP_RUNNING = 'Keep running';
export const START = 'Start';

export function warningMessage(p: AutoStopWarningParams): string {
    return `Workspace "${p.name}" stops in ~${p.minutesLeft} min: no activity for a while.`;
}

export function stoppedMessage(p: AutoStoppedParams): string {
    return `Workspace "${p.name}" stopped after ${p.minutes} min without activity. Its files are kept; start it to go on.`;
}

export class AutoStopAlerts implements Disposable {
    private readonly subs: Disposable[];

    constructor(private readonly client: NexusClient) {
        this.subs = [
            client.onNotification('nexus/workspace/autoStopWarning', (p) => void this.warn(p)),
            client.onNotification('nexus/workspace/autoStopped', (p) => void this.stopped(p)),
        ];
    }

    private async warn(p: AutoStopWarningParams): Promise<void> {
        log.info(`workspace ${p.name} stops in ~${p.minutesLeft} min (at ${p.stopsAt})`);
        if ((await showWarningMessage(warningMessage(p), {}, KEEP_RUNNING)) !== KEEP_RUNNING) {
            return;
        }
        try {
            const ws = await this.client.request('nexus/workspace/keepRunning', { name: p.name });
            const minutes = ws.autoStop?.minutes;
            void showInformationMessage(
                minutes === undefined
                    ? `Workspace "${p.name}" keeps running.`
                    : `Workspace "${p.name}" keeps running: it stops after ${minutes} min without activity from now.`,
            );
        } catch (e) {
            await showError(`Keep workspace "${p.name}" running`, e);
        }
    }

    private async stopped(p: AutoStoppedParams): Promise<void> {
        log.info(`workspace ${p.name} stopped after ${p.minutes} min without activity`);
        if ((await showInformationMessage(stoppedMessage(p), START)) === START) {
            await executeCommand('nexus.startWorkspace', p.name);
        }
    }

    dispose(): void {
        for (const s of this.subs) {
            s.dispose();
        }
    }
}
