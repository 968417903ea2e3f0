/**
 * Which escape hatches each backend offers, for the tree's context menu: a hatch shows when the
 * backend reports its capability (`nexus/backend/capabilities`) and has the operation
 * (`nexus/provider/operations`). Both are asked once per backend and sidecar start.
 */
import type { Disposable, NexusClient } from '../common/client';
import { log } from '../common/logging';
import type { BackendType, Capabilities } from '../common/protocol';

export interface Hatch {
    /** Appended to a row's context value as ` +<flag>`. */
    flag: string;
    /** `<backend>.<action>` is the operation run through `nexus/provider/execute`. */
    action: string;
    capability: keyof Capabilities;
    command: string;
}

export const HATCHES: readonly Hatch[] = [
    { flag: 'snapshot', action: 'snapshot.create', capability: 'supportsSnapshots', command: 'nexus.createSnapshot' },
    { flag: 'volume', action: 'volume.attach', capability: 'supportsDirectVolumeManagement', command: 'nexus.attachVolume' },
];

/** The hatch flags of a backend (pure). */
export function hatchFlags(backend: string, caps: Capabilities | undefined, operations: ReadonlySet<string>): string[] {
    if (!caps) {
        return [];
    }
    return HATCHES.filter((h) => caps[h.capability] && operations.has(`${backend}.${h.action}`)).map((h) => h.flag);
}

export class CapabilitiesCache implements Disposable {
    private readonly caps = new Map<BackendType, Capabilities>();
    private readonly pending = new Map<BackendType, Promise<void>>();
    private operations: Promise<Set<string>> | undefined;
    private readonly listeners = new Set<() => void>();

    constructor(private readonly client: NexusClient) {}

    /** The flags of `backend`, as far as known (empty until `load` got them). */
    flags(backend: BackendType): string[] {
        return this.known.get(backend) ?? [];
    }

    private readonly known = new Map<BackendType, string[]>();

    /** Fetches what is not cached yet for these backends; fires a change when something new is known. */
    async load(backends: Iterable<BackendType>): Promise<void> {
        await Promise.all([...new Set(backends)].map((b) => {
            if (this.known.has(b)) {
                return Promise.resolve();
            }
            let p = this.pending.get(b);
            if (!p) {
                p = this.fetch(b).finally(() => this.pending.delete(b));
                this.pending.set(b, p);
            }
            return p;
        }));
    }

    private async fetch(backend: BackendType): Promise<void> {
        try {
            this.operations ??= this.client.request('nexus/provider/operations', {})
                .then((r) => new Set(r.operations.map((o) => o.operation)));
            const [caps, ops] = await Promise.all([this.client.request('nexus/backend/capabilities', { backend }), this.operations]);
            this.caps.set(backend, caps);
            this.known.set(backend, hatchFlags(backend, caps, ops));
            for (const l of this.listeners) {
                l();
            }
        } catch (e) {
            this.operations = undefined;
            log.warn(`capabilities of ${backend}: ${e instanceof Error ? e.message : String(e)}`);
        }
    }

    /** Forgets everything (a new sidecar may run another version). */
    clear(): void {
        this.caps.clear();
        this.known.clear();
        this.operations = undefined;
    }

    onDidChange(listener: () => void): Disposable {
        this.listeners.add(listener);
        return { dispose: () => this.listeners.delete(listener) };
    }

    dispose(): void {
        this.listeners.clear();
    }
}
