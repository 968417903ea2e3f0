/**
 * The sidecar process and its JSON-RPC connection (vscode-languageclient over stdio).
 *
 * Notification handlers and listeners survive restarts: they are kept here and attached to
 * every new client. Restarts are single-flight: a burst of restart requests while one is in
 * progress results in at most one more.
 */
import * as vscode from 'vscode';
import {
    CloseAction,
    ErrorAction,
    LanguageClient,
    LogMessageNotification,
    RevealOutputChannelOn,
    State,
    TransportKind,
    WorkDoneProgress,
    type ErrorHandler,
    type LanguageClientOptions,
    type ServerOptions,
} from 'vscode-languageclient/node';
import type { CancellationToken, Disposable, NexusClient, SidecarState, SidecarStatus, WorkDoneProgressValue } from './client';
import { SidecarUnavailableError } from './errors';
import { ClientOutputAdapter, log, logServerMessage } from './logging';
import {
    API_VERSION,
    type InitializationOptions,
    type NotificationMap,
    type NotificationMethod,
    type ParamsOf,
    type ProgressToken,
    type RequestMethod,
    type ResultOf,
} from './protocol';
import { editorId, editorKind } from './remote';
import { readSettings, resolveSidecarCommand } from './settings';
import { appName } from './vscodeapi';

type AnyHandler = (params: never) => void;

/** The language client's id: it reads `nexus.trace.server` for its JSON-RPC trace. */
export const CLIENT_ID = 'nexus';



/**
 * A LanguageClient that reports its own errors only to the log: the extension shows one message
 * of its own (naming `nexus.sidecar.command`) instead of languageclient's generic toasts
 * ("couldn't create connection to server", "Connection to server got closed").
 */
class QuietLanguageClient extends LanguageClient {
    override error(message: string, data?: unknown): void {
        super.error(message, data, false);
    }
}

/** Restarts a crashed sidecar up to 3 times in 3 minutes, without notifications. */
export function quietErrorHandler(now: () => number = Date.now): ErrorHandler {
    const restarts: number[] = [];
    return {
        error: (_error, _message, count) => ({ action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown, handled: true }),
        closed: () => {
            const t = now();
            while (restarts.length && t - restarts[0] > 180_000) {
                restarts.shift();
            }
            if (restarts.length >= 3) {
                return { action: CloseAction.DoNotRestart, handled: true };
            }
            restarts.push(t);
            return { action: CloseAction.Restart, handled: true };
        },
    };
}

interface ProgressEntry {
    handler: (value: WorkDoneProgressValue) => void;
    sub?: Disposable;
}

export class Sidecar implements NexusClient, SidecarStatus, Disposable {
    private client: LanguageClient | undefined;
    private starting: Promise<LanguageClient> | undefined;
    private restarting: Promise<void> | undefined;
    private restartQueued = false;
    private readonly handlers = new Map<string, Set<AnyHandler>>();
    private readonly progressHandlers = new Map<ProgressToken, ProgressEntry>();
    private readonly output = new ClientOutputAdapter();
    private readonly startedEmitter = new vscode.EventEmitter<void>();
    private readonly stoppedEmitter = new vscode.EventEmitter<string | undefined>();
    private readonly stateEmitter = new vscode.EventEmitter<SidecarState>();
    private currentState: SidecarState = 'stopped';
    private failure: string | undefined;

    /** Fires each time a (new) sidecar is up and initialized. */
    readonly onDidStart = this.startedEmitter.event;
    /** Fires when the sidecar stopped or could not start (with the reason, if any). */
    readonly onDidStop = this.stoppedEmitter.event;
    /** Fires on every state change (starting, running, failed, stopped). */
    readonly onDidChangeState = this.stateEmitter.event;

    get state(): SidecarState {
        return this.currentState;
    }

    /** Why the last start failed (while `state` is `failed`). */
    get failureReason(): string | undefined {
        return this.failure;
    }

    private setState(state: SidecarState, reason?: string): void {
        this.failure = state === 'failed' ? reason : undefined;
        if (state !== this.currentState) {
            this.currentState = state;
            this.stateEmitter.fire(state);
        }
    }

    constructor(private readonly clientVersion: string) {}

    /** Starts the sidecar unless it is running or starting; resolves when it is ready. */
    start(): Promise<LanguageClient> {
        if (this.client?.state === State.Running) {
            return Promise.resolve(this.client);
        }
        this.starting ??= this.doStart().finally(() => {
            this.starting = undefined;
        });
        return this.starting;
    }

    async restart(): Promise<void> {
        if (this.restarting) {
            this.restartQueued = true;
            return this.restarting;
        }
        this.restarting = (async () => {
            do {
                this.restartQueued = false;
                await this.stop();
                try {
                    await this.start();
                } catch {
                    // reported by start()
                }
            } while (this.restartQueued);
        })().finally(() => {
            this.restarting = undefined;
        });
        return this.restarting;
    }

    async stop(): Promise<void> {
        const client = this.client;
        this.client = undefined;
        if (!client) {
            return;
        }
        try {
            if (client.isRunning()) {
                await client.stop(5000);
            }
        } catch (e) {
            log.warn(`stopping the sidecar: ${String(e)}`);
        }
        this.setState('stopped');
        this.stoppedEmitter.fire(undefined);
    }

    async request<M extends RequestMethod>(method: M, params: ParamsOf<M>, token?: CancellationToken): Promise<ResultOf<M>> {
        let client: LanguageClient;
        try {
            client = await this.start();
        } catch (e) {
            throw new SidecarUnavailableError(e instanceof Error ? e.message : String(e));
        }
        log.debug(`-> ${method} ${JSON.stringify(params)}`);
        const result: ResultOf<M> = token
            ? await client.sendRequest(method, params, token)
            : await client.sendRequest(method, params);
        return result;
    }

    onNotification<M extends NotificationMethod>(method: M, handler: (params: NotificationMap[M]) => void): Disposable {
        let set = this.handlers.get(method);
        if (!set) {
            set = new Set();
            this.handlers.set(method, set);
            this.client?.onNotification(method, (p: NotificationMap[M]) => this.dispatch(method, p));
        }
        set.add(handler);
        return { dispose: () => set.delete(handler) };
    }

    /** Works before the sidecar has started too: handlers are attached to every new client. */
    onWorkDoneProgress(token: ProgressToken, handler: (value: WorkDoneProgressValue) => void): Disposable {
        const entry: ProgressEntry = { handler };
        if (this.client) {
            entry.sub = this.attachProgress(this.client, token, entry);
        }
        this.progressHandlers.set(token, entry);
        return {
            dispose: () => {
                entry.sub?.dispose();
                this.progressHandlers.delete(token);
            },
        };
    }

    private attachProgress(client: LanguageClient, token: ProgressToken, entry: ProgressEntry): Disposable {
        return client.onProgress(WorkDoneProgress.type, token, (v) => { entry.handler(v); });
    }

    dispose(): void {
        void this.stop();
        this.startedEmitter.dispose();
        this.stoppedEmitter.dispose();
        this.stateEmitter.dispose();
    }

    private dispatch(method: string, params: unknown): void {
        for (const h of this.handlers.get(method) ?? []) {
            try {
                (h as (p: unknown) => void)(params);
            } catch (e) {
                log.error(`handler for ${method} failed: ${String(e)}`);
            }
        }
    }

    private async doStart(): Promise<LanguageClient> {
        const settings = readSettings();
        const cmd = resolveSidecarCommand(settings);
        log.info(`starting sidecar (${cmd.source}): ${[cmd.command, ...cmd.args].join(' ')}`);
        const serverOptions: ServerOptions = {
            command: cmd.command,
            args: cmd.args,
            transport: TransportKind.stdio,
            options: { env: { ...process.env } },
        };
        const initializationOptions: InitializationOptions = {
            apiVersion: API_VERSION,
            editor: editorId(editorKind(appName())),
            logLevel: settings.logLevel,
        };
        const clientOptions: LanguageClientOptions = {
            documentSelector: [],
            outputChannel: this.output,
            revealOutputChannelOn: RevealOutputChannelOn.Never,
            initializationOptions,
            connectionOptions: { maxRestartCount: 3 },
            errorHandler: quietErrorHandler(),
            // No retry toast: the extension reports the failure once (and stops the client).
            initializationFailedHandler: () => false,
        };
        this.setState('starting');
        const client = new QuietLanguageClient(CLIENT_ID, 'Nexus', serverOptions, clientOptions);
        client.onNotification(LogMessageNotification.type, logServerMessage);
        for (const method of this.handlers.keys()) {
            client.onNotification(method, (p: unknown) => this.dispatch(method, p));
        }
        for (const [token, entry] of this.progressHandlers) {
            entry.sub?.dispose();
            entry.sub = this.attachProgress(client, token, entry);
        }
        client.onDidChangeState((e) => {
            if (e.newState === State.Stopped && this.client === client) {
                this.setState('failed', 'the sidecar stopped');
                this.stoppedEmitter.fire('the sidecar stopped');
            } else if (e.newState === State.Starting && this.client === client) {
                this.setState('starting');
            } else if (e.newState === State.Running && e.oldState !== State.Running && this.client === client) {
                this.setState('running');
                this.startedEmitter.fire();
            }
        });
        this.client = client;
        try {
            await client.start();
        } catch (e) {
            const stderr = this.output.recentStderr();
            log.error(`the sidecar did not start: ${e instanceof Error ? e.message : String(e)}`
                + (stderr.length ? `\n${stderr.join('\n')}` : ''));
            if (this.client === client) {
                this.client = undefined;
            }
            const reason = e instanceof Error ? e.message : String(e);
            this.setState('failed', reason);
            this.stoppedEmitter.fire(reason);
            throw e;
        }
        const info = client.initializeResult?.serverInfo;
        log.info(`sidecar ready${info ? `: ${info.name} ${info.version ?? ''}` : ''} (client ${this.clientVersion})`);
        return client;
    }
}
