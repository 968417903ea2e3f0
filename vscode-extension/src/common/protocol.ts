/**
 * The Nexus sidecar protocol, mirrored from docs/sidecar-protocol.md.
 *
 * Method names and field names are exactly those of the contract (camelCase).
 * Nothing here depends on VS Code, so it can be used by the unit tests as is.
 */

export const API_VERSION = 1;

export type BackendType = 'docker' | 'daytona';
export const BACKENDS: readonly BackendType[] = ['docker', 'daytona'];

export type WorkspaceStatus =
    | 'creating'
    | 'starting'
    | 'running'
    | 'stopping'
    | 'stopped'
    | 'paused'
    | 'deleting'
    | 'error'
    | 'missing'
    | 'unknown';

export type LogLevel = 'error' | 'warning' | 'info' | 'debug';

export interface Resources {
    cpu: number | null;
    memoryGb: number | null;
    diskGb: number | null;
}

export interface Workspace {
    name: string;
    backend: BackendType;
    status: WorkspaceStatus;
    backendId: string | null;
    sshAlias: string;
    sshHost: string | null;
    sshPort: number | null;
    sshUser: string | null;
    remotePath: string;
    localPath: string | null;
    branch: string | null;
    image: string | null;
    resources: Resources;
    labels: Record<string, string>;
    createdAt: string;
    updatedAt: string;
    /** ssh-agent forwarding into the workspace (chosen at create). */
    forwardAgent: boolean;
    /** A running workspace that stops itself when idle (Daytona); null: it never does. */
    autoStop: AutoStop | null;
}

export interface AutoStop {
    minutes: number;
    lastActivityAt: string;
    stopsAt: string;
}

export interface Capabilities {
    supportsSsh: boolean;
    supportsSync: boolean;
    supportsDirectVolumeManagement: boolean;
    supportsImageCaching: boolean;
    supportsSnapshots: boolean;
    supportsLsp: boolean;
    supportsWebPreviews: boolean;
    supportsProcessApi: boolean;
    supportsFileApi: boolean;
}

export interface ResourceStats {
    cpuPercent: number | null;
    memoryUsedBytes: number | null;
    memoryLimitBytes: number | null;
}

export interface WorkspaceInfo extends Workspace {
    capabilities: Capabilities;
    stats: ResourceStats | null;
    /** What it syncs (`nexus/sync/status` has the live state). */
    sync?: SyncBlock | null;
}

export interface SyncBlock {
    local: string;
    remote: string;
    mode: string;
    ignore: string[];
}

export interface ConnectionInfo {
    alias: string;
    host: string;
    port: number;
    user: string;
    remotePath: string;
    authority: string;
    uri: string;
    sshCommand: string;
    sshConfigPath: string;
}

export interface OpenTarget {
    mode: 'remote-ssh' | 'local';
    uri: string;
    localPath: string | null;
}

// ---- initialize ----

export interface InitializationOptions {
    apiVersion: number;
    editor: string;
    logLevel: LogLevel;
}

// ---- request params and results ----

/** Progress token, as in LSP's WorkDoneProgressParams. */
export type ProgressToken = string | number;

export interface WorkDoneProgressParams {
    workDoneToken?: ProgressToken;
}

export interface ListParams {
    backend?: BackendType;
    /** Read live status from each engine (default true); false answers from the store. */
    refresh?: boolean;
}
export interface ListResult {
    workspaces: Workspace[];
}

export interface NameParams {
    name: string;
}

export interface CreateParams extends WorkDoneProgressParams {
    name: string;
    backend?: BackendType;
    cpu?: number;
    memoryGb?: number;
    diskGb?: number;
    image?: string;
    sourcePath?: string;
    labels?: Record<string, string>;
    /** Make a git worktree on branch `nexus/<name>` (default: config `workspace.worktree`). */
    worktree?: boolean;
    base?: string;
    /** Forward the user's ssh-agent into the workspace (default: config `ssh.forward_agent`, off). */
    forwardAgent?: boolean;
    /** Create even if the user's ssh config defines `Host nexus-<name>` (else SSH_ALIAS_TAKEN). */
    allowAliasShadowing?: boolean;
    /** Daytona only. */
    region?: string;
    autoStop?: number;
    ephemeral?: boolean;
    snapshot?: string;
    gitUrl?: string;
    gitBranch?: string;
    env?: Record<string, string>;
    /** Create even when the month's estimated cost has reached `budget.monthly`. */
    overBudget?: boolean;
}

export interface LifecycleParams extends WorkDoneProgressParams {
    name: string;
}

export interface StartParams extends LifecycleParams {
    /** Start even when the month's estimated cost has reached `budget.monthly`. */
    overBudget?: boolean;
}

export interface DeleteParams extends WorkDoneProgressParams {
    name: string;
    force?: boolean;
    keepBranch?: boolean;
    /** Drop the record even when the backend cannot remove the container/sandbox. */
    forget?: boolean;
}

/** A container/sandbox a `forget` delete could not remove: it may still exist (and cost money). */
export interface LeftBehind {
    backend: BackendType;
    kind: 'container' | 'sandbox';
    id: string;
    name: string;
    /** What removes it by hand. */
    command: string;
    /** `<ERROR_CODE>: <message>`. */
    reason: string;
}

/** `null` when nothing was left behind. */
export interface DeleteResult {
    leftBehind: LeftBehind[];
}

export interface ExecParams extends WorkDoneProgressParams {
    name: string;
    /** One element: run as a shell snippet; several: passed exactly. */
    command: string[];
    outputId?: string;
    workdir?: string;
}
export interface ExecResult {
    exitCode: number;
    stdout: string;
    stderr: string;
}

export interface OpenParams {
    name: string;
    path?: string;
    mode?: 'remote-ssh' | 'local';
    ide?: string;
}

export interface CapabilitiesParams {
    backend: BackendType;
}

export interface ConfigGetParams {
    key?: string;
}
export interface ConfigGetResult {
    key: string | null;
    value: unknown;
}
export interface ConfigSetParams {
    key: string;
    value: string;
}
export interface ConfigSetResult {
    key: string;
    value: unknown;
}

/** An escape hatch (`nexus workspace provider …`): docs/provider-reference.md lists them. */
export interface ProviderExecuteParams extends WorkDoneProgressParams {
    /** `<backend>.<group>.<action>`, e.g. `daytona.snapshot.create`. */
    operation: string;
    workspace?: string;
    params?: Record<string, unknown>;
    noFallback?: boolean;
}

export interface ProviderExecuteResult {
    operation: string;
    result: Record<string, unknown>;
    /** Set when the common path (SSH) served the request instead of the backend's API. */
    fallback: string | null;
}

export interface ProviderOperationsParams {
    backend?: BackendType;
}

export interface ProviderOperation {
    operation: string;
    backend: BackendType;
    group: string;
    action: string;
    summary: string;
    capability: string;
    takesWorkspace: boolean;
    hasFallback: boolean;
    /** JSON schema of the operation's params. */
    params: Record<string, unknown>;
}

export interface ProviderOperationsResult {
    operations: ProviderOperation[];
}

// ---- sync (Mutagen sessions that follow a workspace) ----

/** One word for a session, most urgent first (what `nexus sync status` shows). */
export type SyncState = 'paused' | 'halted' | 'error' | 'conflicts' | 'problems' | 'connecting' | 'syncing' | 'watching';
export const SYNC_STATES: readonly SyncState[] = [
    'paused', 'halted', 'error', 'conflicts', 'problems', 'connecting', 'syncing', 'watching',
];

/** One side of a session: `local` is this machine (Mutagen's alpha), `remote` the workspace (beta). */
export interface SyncEndpoint {
    url: string;
    path: string;
    connected: boolean;
    scanned: boolean;
    directories: number;
    files: number;
    symlinks: number;
    /** Total size of the files, in bytes. */
    size: number;
    problems: Array<{ path: string; error: string; kind: string }>;
}

/** A path both sides changed: each side's changes, e.g. `modified file: src/a.txt`. */
export interface SyncConflict {
    path: string;
    local: string[];
    workspace: string[];
}

export interface SyncProblem {
    /** `local` or `workspace`. */
    side: string;
    path: string;
    error: string;
    /** `scan` or `transition`. */
    kind: string;
}

export interface SyncSession {
    id: string;
    name: string;
    workspace: string;
    state: SyncState;
    /** Mutagen's own status, e.g. `watching`, `halted-on-root-emptied`. */
    status: string;
    statusText: string;
    paused: boolean;
    mode: string;
    local: SyncEndpoint;
    remote: SyncEndpoint;
    connected: boolean;
    successfulCycles: number;
    lastError: string | null;
    /** The conflicts Mutagen lists; `conflictCount` also counts those it left out. */
    conflicts: SyncConflict[];
    conflictCount: number;
    problems: SyncProblem[];
    ignores: string[];
    ignoreVcs: boolean;
}

/** A workspace's sync: its configured block (local folder, remote path) and its sessions. */
export interface SyncReport {
    workspace: string;
    configured: boolean;
    local: string | null;
    remote: string | null;
    sessions: SyncSession[];
}

/** Returns once the first cycle is done (progress on `workDoneToken`). */
export interface SyncStartParams extends WorkDoneProgressParams {
    workspace: string;
    local?: string;
    remote?: string;
    ignore?: string[];
    mode?: string;
}

/** `flush` and `stop` report progress on `workDoneToken`; `pause` and `resume` ignore it. */
export interface SyncWorkspaceParams extends WorkDoneProgressParams {
    workspace: string;
}

// ---- previews (docs/previews.md) ----

/** A background preview: a workspace's port at a local URL (127.0.0.1). */
export interface Preview {
    workspace: string;
    port: number;
    localPort: number;
    url: string;
    pid: number;
    via: 'ssh' | 'preview-url';
    startedAt: string;
}

export interface PreviewOpenParams {
    workspace: string;
    port: number;
    localPort?: number;
    workDoneToken?: ProgressToken;
}

export interface PreviewOpenResult {
    localUrl: string;
    /** False: a preview of that port was already running; this is it. */
    started: boolean;
    preview: Preview;
}

export interface PreviewCloseParams {
    workspace: string;
    port: number;
}

export interface PreviewCloseResult {
    closed: boolean;
    preview: Preview;
}

export interface PreviewListParams {
    workspace?: string;
}

export interface PreviewListResult {
    previews: Preview[];
}

export interface SyncStatusParams {
    /** Absent: every workspace that syncs. */
    workspace?: string;
}
export interface SyncStatusResult {
    workspaces: SyncReport[];
}

/** Every request of the protocol: method name -> [params, result]. */
export interface RequestMap {
    'nexus/workspace/list': [ListParams, ListResult];
    'nexus/workspace/get': [NameParams, WorkspaceInfo];
    'nexus/workspace/create': [CreateParams, Workspace];
    'nexus/workspace/start': [StartParams, Workspace];
    'nexus/workspace/stop': [LifecycleParams, Workspace];
    'nexus/workspace/keepRunning': [NameParams, Workspace];
    'nexus/workspace/migrate': [MigrateParams, Record<string, unknown>];
    'nexus/usage': [UsageParams, Record<string, unknown>];
    'nexus/doctor': [DoctorParams, DoctorReport];
    'nexus/workspace/delete': [DeleteParams, DeleteResult | null];
    'nexus/workspace/exec': [ExecParams, ExecResult];
    'nexus/workspace/connectionInfo': [NameParams, ConnectionInfo];
    'nexus/workspace/open': [OpenParams, OpenTarget];
    'nexus/backend/capabilities': [CapabilitiesParams, Capabilities];
    'nexus/provider/execute': [ProviderExecuteParams, ProviderExecuteResult];
    'nexus/provider/operations': [ProviderOperationsParams, ProviderOperationsResult];
    'nexus/config/get': [ConfigGetParams, ConfigGetResult];
    'nexus/config/set': [ConfigSetParams, ConfigSetResult];
    'nexus/sync/start': [SyncStartParams, SyncReport];
    'nexus/sync/pause': [SyncWorkspaceParams, SyncReport];
    'nexus/sync/resume': [SyncWorkspaceParams, SyncReport];
    'nexus/sync/flush': [SyncWorkspaceParams, SyncReport];
    'nexus/sync/stop': [SyncWorkspaceParams, SyncReport];
    'nexus/sync/status': [SyncStatusParams, SyncStatusResult];
    'nexus/preview/open': [PreviewOpenParams, PreviewOpenResult];
    'nexus/preview/close': [PreviewCloseParams, PreviewCloseResult];
    'nexus/preview/list': [PreviewListParams, PreviewListResult];
}
export type RequestMethod = keyof RequestMap;
export type ParamsOf<M extends RequestMethod> = RequestMap[M][0];
export type ResultOf<M extends RequestMethod> = RequestMap[M][1];

// ---- notifications (server -> client) ----

export interface DidChangeStateParams {
    name: string;
    workspace: Workspace | null;
    previousStatus: WorkspaceStatus | null;
    deleted: boolean;
}

export interface DidOutputParams {
    outputId: string;
    stream: 'stdout' | 'stderr';
    text: string;
}

/** A workspace's sync changed state (or its conflict count); `state` null: it no longer syncs. */
export interface SyncDidChangeParams {
    workspace: string;
    state: SyncState | null;
    previousState: SyncState | null;
    conflictCount: number;
    report: SyncReport;
}

export interface MigrateParams extends WorkDoneProgressParams {
    name: string;
    toBackend: BackendType;
    newName?: string;
    keepSource?: boolean;
}

export interface UsageParams {
    since?: string;
    workspace?: string;
}

export interface DoctorParams {
    fix?: boolean;
    offline?: boolean;
}

export interface DoctorFinding {
    code: string;
    severity: 'ok' | 'warning' | 'error';
    check: string;
    subject: string;
    message: string;
    fix: string;
    fixable: boolean;
    fixed: boolean;
}

export interface DoctorReport {
    findings: DoctorFinding[];
    summary: Record<string, unknown>;
}

export interface BudgetDidChangeParams {
    state: 'none' | 'ok' | 'warn' | 'exceeded';
    previousState: string | null;
    usedPercent: number | null;
    cost: number;
    forecast: number;
    monthly: number | null;
    currency: string;
}

export interface AutoStopWarningParams {
    name: string;
    backend: BackendType;
    stopsAt: string;
    minutesLeft: number;
}

export interface AutoStoppedParams {
    name: string;
    backend: BackendType;
    minutes: number;
}

export interface NotificationMap {
    'nexus/workspace/didChangeState': DidChangeStateParams;
    'nexus/workspace/didOutput': DidOutputParams;
    'nexus/sync/didChange': SyncDidChangeParams;
    'nexus/workspace/autoStopWarning': AutoStopWarningParams;
    'nexus/workspace/autoStopped': AutoStoppedParams;
    'nexus/budget/didChange': BudgetDidChangeParams;
}
export type NotificationMethod = keyof NotificationMap;

// ---- errors ----

export const ErrorCodes = {
    InvalidParams: -32602,
    MethodNotFound: -32601,
    RequestCancelled: -32800,
    RequestFailed: -32803,
} as const;

/** `data` of a RequestFailed (-32803) error. */
export interface NexusErrorData {
    code: string;
    message: string;
    resolution?: string | null;
}
