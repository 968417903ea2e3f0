/**
 * Test doubles: a fake NexusClient, workspace fixtures and a stubbed progress notification.
 */
import * as sinon from 'sinon';
import type { CancellationToken, Disposable, NexusClient, WorkDoneProgressValue } from '../../common/client';
import type {
    NotificationMap, NotificationMethod, ParamsOf, ProgressToken, RequestMethod, ResultOf, SyncEndpoint, SyncReport, SyncSession, Workspace,
} from '../../common/protocol';
import * as api from '../../common/vscodeapi';
import { SyncModel } from '../../views/syncModel';
import { WorkspacesModel } from '../../views/workspacesTree';
import type { CommandContext } from '../../commands/context';

export interface SentRequest {
    method: string;
    params: unknown;
    token?: CancellationToken;
}

type Responder = (params: never, token?: CancellationToken) => unknown;

export class FakeClient implements NexusClient {
    readonly sent: SentRequest[] = [];
    private readonly responders = new Map<string, Responder>();
    private readonly notificationHandlers = new Map<string, Set<(p: unknown) => void>>();
    readonly progressHandlers = new Map<ProgressToken, (v: WorkDoneProgressValue) => void>();

    respond<M extends RequestMethod>(method: M, fn: (params: ParamsOf<M>, token?: CancellationToken) => ResultOf<M> | Promise<ResultOf<M>>): this {
        this.responders.set(method, fn);
        return this;
    }

    async request<M extends RequestMethod>(method: M, params: ParamsOf<M>, token?: CancellationToken): Promise<ResultOf<M>> {
        this.sent.push({ method, params, token });
        const fn = this.responders.get(method);
        if (!fn) {
            throw new Error(`no response for ${method}`);
        }
        return (await (fn as (p: ParamsOf<M>, t?: CancellationToken) => unknown)(params, token)) as ResultOf<M>;
    }

    onNotification<M extends NotificationMethod>(method: M, handler: (params: NotificationMap[M]) => void): Disposable {
        let set = this.notificationHandlers.get(method);
        if (!set) {
            set = new Set();
            this.notificationHandlers.set(method, set);
        }
        set.add(handler as (p: unknown) => void);
        return { dispose: () => set.delete(handler as (p: unknown) => void) };
    }

    notify<M extends NotificationMethod>(method: M, params: NotificationMap[M]): void {
        for (const h of this.notificationHandlers.get(method) ?? []) {
            h(params);
        }
    }

    onWorkDoneProgress(token: ProgressToken, handler: (value: WorkDoneProgressValue) => void): Disposable {
        this.progressHandlers.set(token, handler);
        return { dispose: () => this.progressHandlers.delete(token) };
    }

    requests(method: string): SentRequest[] {
        return this.sent.filter((r) => r.method === method);
    }
}

export function workspace(name: string, over: Partial<Workspace> = {}): Workspace {
    return {
        name,
        backend: 'docker',
        status: 'running',
        backendId: 'abc123def4567890',
        sshAlias: `nexus-${name}`,
        sshHost: '127.0.0.1',
        sshPort: 32800,
        sshUser: 'nexus',
        remotePath: '/workspace',
        localPath: null,
        branch: null,
        image: 'nexus-workspace:latest',
        resources: { cpu: null, memoryGb: null, diskGb: null },
        labels: {},
        createdAt: '2026-01-01T00:00:00Z',
        updatedAt: '2026-01-01T00:00:00Z',
        forwardAgent: false,
        autoStop: null,
        ...over,
    };
}

function endpoint(url: string, path: string): SyncEndpoint {
    return { url, path, connected: true, scanned: true, directories: 2, files: 5, symlinks: 0, size: 2048, problems: [] };
}

/** A Mutagen session of workspace `ws`, as `nexus/sync/status` reports it. */
export function syncSession(ws: string, over: Partial<SyncSession> = {}): SyncSession {
    return {
        id: `sync_${ws}0123456789`,
        name: `nexus-${ws}`,
        workspace: ws,
        state: 'watching',
        status: 'watching',
        statusText: 'Watching for changes',
        paused: false,
        mode: 'two-way-safe',
        local: endpoint('/home/dev/proj', '/home/dev/proj'),
        remote: endpoint(`nexus-${ws}:/home/nexus/src`, '/home/nexus/src'),
        connected: true,
        successfulCycles: 1,
        lastError: null,
        conflicts: [],
        conflictCount: 0,
        problems: [],
        ignores: ['.git', 'node_modules'],
        ignoreVcs: true,
        ...over,
    };
}

/** A workspace's sync report with one session (`session` null: configured, no session). */
export function syncReport(ws: string, session: Partial<SyncSession> | null = {}): SyncReport {
    return {
        workspace: ws,
        configured: true,
        local: '/home/dev/proj',
        remote: '/home/nexus/src',
        sessions: session === null ? [] : [syncSession(ws, session)],
    };
}

/** A session with `n` listed conflicts on `a.txt`, `b.txt`, … */
export function conflicted(n: number): Partial<SyncSession> {
    const conflicts = Array.from({ length: n }, (_, i) => ({
        path: `${String.fromCharCode(97 + i)}.txt`,
        local: [`modified file: ${String.fromCharCode(97 + i)}.txt`],
        workspace: [`deleted file: ${String.fromCharCode(97 + i)}.txt`],
    }));
    return { state: 'conflicts', conflicts, conflictCount: n };
}

/** A cancellation token the test can cancel. */
export class TestToken implements CancellationToken {
    isCancellationRequested = false;
    private listeners: Array<(e: unknown) => unknown> = [];
    onCancellationRequested(listener: (e: unknown) => unknown): Disposable {
        this.listeners.push(listener);
        return { dispose: () => undefined };
    }
    cancel(): void {
        this.isCancellationRequested = true;
        for (const l of this.listeners) {
            l(undefined);
        }
    }
}

export interface ProgressStub {
    token: TestToken;
    reports: Array<{ message?: string; increment?: number }>;
    titles: string[];
}

/** Stubs the progress notification: runs the task at once with a test token. */
export function stubProgress(sandbox: sinon.SinonSandbox): ProgressStub {
    const stub: ProgressStub = { token: new TestToken(), reports: [], titles: [] };
    sandbox.stub(api, 'withNotificationProgress').callsFake(((options: { title: string }, task: (p: unknown, t: unknown) => Thenable<unknown>) => {
        stub.titles.push(options.title);
        return task({ report: (v: { message?: string; increment?: number }) => stub.reports.push(v) }, stub.token);
    }) as unknown as typeof api.withNotificationProgress);
    return stub;
}

/** Stubs workspace configuration reads with the given `nexus.*` values. */
export function stubSettings(sandbox: sinon.SinonSandbox, values: Record<string, unknown> = {}): void {
    sandbox.stub(api, 'getConfiguration').returns({
        get: (key: string, def?: unknown) => (key in values ? values[key] : def),
    } as unknown as ReturnType<typeof api.getConfiguration>);
}

/** An in-memory `globalState`. */
export class MemoryState {
    readonly values = new Map<string, unknown>();
    get(key: string): unknown {
        return this.values.get(key);
    }
    update(key: string, value: unknown): Thenable<void> {
        this.values.set(key, value);
        return Promise.resolve();
    }
}

export function context(client: FakeClient, state: MemoryState = new MemoryState()): CommandContext {
    return { client, model: new WorkspacesModel(), sync: new SyncModel(), state };
}

/** A JSON-RPC ResponseError as vscode-languageclient rejects with. */
export function responseError(code: number, message: string, data?: unknown): Error & { code: number; data?: unknown } {
    return Object.assign(new Error(message), { code, data });
}
