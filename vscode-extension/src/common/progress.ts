/**
 * Long sidecar operations under a notification progress with a Cancel button.
 *
 * The request carries a client-made `workDoneToken`; the sidecar's `$/progress` reports on that
 * token update the notification, and cancelling it cancels the request (`$/cancelRequest`).
 */
import type { CancellationToken, NexusClient, WorkDoneProgressValue } from './client';
import { CancelledError, isCancellation } from './errors';
import type { ProgressToken } from './protocol';
import { withNotificationProgress } from './vscodeapi';

let counter = 0;

export function newWorkDoneToken(prefix: string): string {
    counter += 1;
    return `nexus-${prefix}-${Date.now().toString(36)}-${counter}`;
}

/** Words only, lowercase: `Starting workspace "vsx1"` and `Starting workspace vsx1` are the same. */
function gist(text: string): string {
    return text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
}

/**
 * Converts absolute LSP percentages into the increments `Progress.report` expects. A message that
 * only repeats the notification's `title` (the sidecar's own title for the operation) is dropped,
 * so the notification never reads `Starting workspace "a": Starting workspace a`.
 */
export function progressReporter(report: (value: { message?: string; increment?: number }) => void, title = '') {
    let last = 0;
    const titleGist = gist(title);
    return (value: WorkDoneProgressValue): void => {
        if (value.kind === 'end') {
            return;
        }
        let increment: number | undefined;
        if (typeof value.percentage === 'number') {
            const pct = Math.max(0, Math.min(100, value.percentage));
            increment = Math.max(0, pct - last);
            last = Math.max(last, pct);
        }
        let message = value.message ?? (value.kind === 'begin' ? value.title : undefined);
        if (message !== undefined && titleGist && gist(message) === titleGist) {
            message = undefined;
        }
        if (message === undefined && increment === undefined) {
            return;
        }
        report({ message, increment });
    };
}

/**
 * Runs `operation` with a fresh work-done token and the progress notification's cancellation
 * token; resolves to its result, or rejects with `CancelledError` when cancelled.
 */
export async function withSidecarProgress<T>(
    client: NexusClient,
    title: string,
    operation: (workDoneToken: ProgressToken, token: CancellationToken) => Promise<T>,
): Promise<T> {
    return withNotificationProgress({ title, cancellable: true }, async (progress, token) => {
        const workDoneToken = newWorkDoneToken('op');
        const sub = client.onWorkDoneProgress(workDoneToken, progressReporter((v) => progress.report(v), title));
        try {
            const result = await operation(workDoneToken, token);
            // vscode-languageclient resolves a cancelled request to undefined instead of
            // rejecting in some paths; only a cancellation can produce that here.
            if (result === undefined && token.isCancellationRequested) {
                throw new CancelledError();
            }
            return result;
        } catch (e) {
            if (isCancellation(e)) {
                throw new CancelledError();
            }
            throw e;
        } finally {
            sub.dispose();
        }
    });
}
