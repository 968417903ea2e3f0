/**
 * The sidecar process and its JSON-RPC connection (vscode-languageclient over stdio).
 *
 * Notification handlers and listeners survive restarts: they are kept here and attached to
 * every new client. Restarts are single-flight: a burst of restart requests while one is in
 * progress results in at most one more.
 */
import * as vscode from 'vscode';
import {
    LanguageClient,
    LogMessageNotification,
    RevealOutputChannelOn,
    State,
    TransportKind,
    WorkDoneProgress,
    type LanguageClientOptions,
    type ServerOptions,
} from 'vscode-languageclient/node';
import type { CancellationToken, Disposable, NexusClient, WorkDoneProgressValue } from './client';
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

interface ProgressEntry {
    handler: (value: WorkDoneProgressValue) => void;
    sub?: Disposable;
}

export class Sidecar implements NexusClient, Disposable {
    private client: LanguageClient | undefined;
    private starting: Promise<LanguageClient> | undefined;
    private restarting: Promise<void> | undefined;
    private restartQueued = false;
    private readonly handlers = new Map<string, Set<AnyHandler>>();
    private readonly progressHandlers = new Map<ProgressToken, ProgressEntry>();
    private readonly output = new ClientOutputAdapter();
    private readonly startedEmitter = new vscode.EventEmitter<void>();
    private readonly stoppedEmitter = new vscode.EventEmitter<string | undefined>();

    /** Fires each time a (new) sidecar is up and initialized. */
    readonly onDidStart = this.startedEmitter.event;
    /** Fires when the sidecar stopped or could not start (with the reason, if any). */
    readonly onDidStop = this.stoppedEmitter.event;

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
        this.stoppedEmitter.fire(undefined);
    }

    async request<M extends RequestMethod>(method: M, params: ParamsOf<M>, token?: CancellationToken): Promise<ResultOf<M>> {
        const client = await this.start();
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
        };
        const client = new LanguageClient('nexus', 'Nexus', serverOptions, clientOptions);
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
                this.stoppedEmitter.fire('the sidecar stopped');
            } else if (e.newState === State.Running && e.oldState !== State.Running && this.client === client) {
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
            this.stoppedEmitter.fire(e instanceof Error ? e.message : String(e));
            throw e;
        }
        const info = client.initializeResult?.serverInfo;
        log.info(`sidecar ready${info ? `: ${info.name} ${info.version ?? ''}` : ''} (client ${this.clientVersion})`);
        return client;
    }
}
