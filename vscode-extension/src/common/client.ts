/**
 * What commands and views need from the sidecar connection. The real implementation is
 * `Sidecar` (sidecar.ts, on top of vscode-languageclient); unit tests pass a fake.
 */
import type { NotificationMap, NotificationMethod, ParamsOf, ProgressToken, RequestMethod, ResultOf } from './protocol';

export interface Disposable {
    dispose(): void;
}

/** A cancellation token (structurally the same as vscode.CancellationToken). */
export interface CancellationToken {
    readonly isCancellationRequested: boolean;
    onCancellationRequested(listener: (e: unknown) => unknown, thisArgs?: unknown, disposables?: Disposable[]): Disposable;
}

/** `$/progress` values for a work-done token (LSP WorkDoneProgressBegin/Report/End). */
export type WorkDoneProgressValue =
    | { kind: 'begin'; title: string; message?: string; percentage?: number; cancellable?: boolean }
    | { kind: 'report'; message?: string; percentage?: number; cancellable?: boolean }
    | { kind: 'end'; message?: string };

export interface NexusClient {
    /** Sends a request; passing `token` makes a cancellation send `$/cancelRequest`. */
    request<M extends RequestMethod>(method: M, params: ParamsOf<M>, token?: CancellationToken): Promise<ResultOf<M>>;
    onNotification<M extends NotificationMethod>(method: M, handler: (params: NotificationMap[M]) => void): Disposable;
    onWorkDoneProgress(token: ProgressToken, handler: (value: WorkDoneProgressValue) => void): Disposable;
}

/** The sidecar process as the status bar and the welcome view see it. */
export type SidecarState = 'stopped' | 'starting' | 'running' | 'failed';

export interface SidecarStatus {
    readonly state: SidecarState;
    onDidChangeState(listener: (state: SidecarState) => void): Disposable;
}
