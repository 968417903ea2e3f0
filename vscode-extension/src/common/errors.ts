/**
 * Turning sidecar errors into messages. A Nexus error arrives as a JSON-RPC ResponseError with
 * code -32803 and `data: { code, message, resolution }`.
 */
import { showLogs } from './logging';
import { ErrorCodes, type NexusErrorData } from './protocol';
import { executeCommand, showErrorMessage, showInformationMessage } from './vscodeapi';

/** Raised when the user cancelled an operation (or the sidecar answered -32800). */
export class CancelledError extends Error {
    constructor() {
        super('Cancelled');
        this.name = 'CancelledError';
    }
}

/** Raised by requests made while the sidecar is down (it failed to start, or crashed). */
export class SidecarUnavailableError extends Error {
    constructor(readonly reason: string) {
        super('the Nexus sidecar is not running');
        this.name = 'SidecarUnavailableError';
    }
}

export const SIDECAR_SETTING = 'nexus.sidecar.command';
export const OPEN_SETTINGS = 'Open Settings';
export const RESTART_SIDECAR = 'Restart Sidecar';

/** The one message for a sidecar that cannot start: it names the setting that chooses it. */
export function sidecarDownMessage(): string {
    return `The Nexus sidecar is not running. Check the "${SIDECAR_SETTING}" setting (see Nexus: Show Logs), then restart it.`;
}

export interface RenderedError {
    /** One line for a notification. */
    text: string;
    /** The stable Nexus error code, when the sidecar sent one. */
    nexusCode?: string;
    resolution?: string;
    cancelled: boolean;
    /** The sidecar was down: nothing was tried. */
    sidecarDown?: boolean;
}

interface ResponseErrorLike {
    code: number;
    message: string;
    data?: unknown;
}

function isResponseErrorLike(e: unknown): e is ResponseErrorLike {
    return typeof e === 'object' && e !== null && typeof (e as ResponseErrorLike).code === 'number'
        && typeof (e as ResponseErrorLike).message === 'string';
}

function isNexusErrorData(d: unknown): d is NexusErrorData {
    return typeof d === 'object' && d !== null && typeof (d as NexusErrorData).code === 'string'
        && typeof (d as NexusErrorData).message === 'string';
}

export function isCancellation(e: unknown): boolean {
    return e instanceof CancelledError
        || (isResponseErrorLike(e) && e.code === ErrorCodes.RequestCancelled)
        || (e instanceof Error && e.name === 'Canceled');
}

/** `action` is what was being done, e.g. `Create workspace "demo"`. */
export function renderError(action: string, e: unknown): RenderedError {
    if (isCancellation(e)) {
        return { text: `${action}: cancelled.`, cancelled: true };
    }
    if (e instanceof SidecarUnavailableError) {
        return { text: sidecarDownMessage(), cancelled: false, sidecarDown: true };
    }
    if (isResponseErrorLike(e) && e.code === ErrorCodes.RequestFailed && isNexusErrorData(e.data)) {
        const { code, message } = e.data;
        const resolution = typeof e.data.resolution === 'string' && e.data.resolution ? e.data.resolution : undefined;
        const text = `${action} failed: ${message} [${code}]` + (resolution ? ` ${resolution}` : '');
        return { text, nexusCode: code, resolution, cancelled: false };
    }
    const message = e instanceof Error || isResponseErrorLike(e) ? e.message : String(e);
    return { text: `${action} failed: ${message}`, cancelled: false };
}

export const SHOW_LOGS = 'Show Logs';

/** Shows an error notification with a "Show Logs" action (cancellations get a quiet notice). */
export async function showError(action: string, e: unknown): Promise<RenderedError> {
    const rendered = renderError(action, e);
    if (rendered.cancelled) {
        void showInformationMessage(rendered.text);
        return rendered;
    }
    if (rendered.sidecarDown) {
        await showSidecarDown();
        return rendered;
    }
    const choice = await showErrorMessage(rendered.text, SHOW_LOGS);
    if (choice === SHOW_LOGS) {
        showLogs();
    }
    return rendered;
}

let sidecarDownShown: Promise<void> | undefined;

/**
 * The sidecar-down message, with buttons to fix the setting or try again. While it is shown,
 * another call (a second restart, a command run meanwhile) adds no second one.
 */
export function showSidecarDown(): Promise<void> {
    sidecarDownShown ??= askAboutSidecar().finally(() => {
        sidecarDownShown = undefined;
    });
    return sidecarDownShown;
}

async function askAboutSidecar(): Promise<void> {
    const choice = await showErrorMessage(sidecarDownMessage(), OPEN_SETTINGS, RESTART_SIDECAR, SHOW_LOGS);
    if (choice === OPEN_SETTINGS) {
        await executeCommand('workbench.action.openSettings', SIDECAR_SETTING);
    } else if (choice === RESTART_SIDECAR) {
        await executeCommand('nexus.restartSidecar');
    } else if (choice === SHOW_LOGS) {
        showLogs();
    }
}
