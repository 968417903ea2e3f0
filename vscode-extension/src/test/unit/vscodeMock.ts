/**
 * The little of the `vscode` module that modules under test touch at load time or build
 * objects with. Everything interactive goes through common/vscodeapi.ts and is stubbed.
 */
export class EventEmitter<T> {
    private listeners = new Set<(e: T) => void>();
    readonly event = (listener: (e: T) => void): { dispose(): void } => {
        this.listeners.add(listener);
        return { dispose: () => this.listeners.delete(listener) };
    };
    fire(e: T): void {
        for (const l of [...this.listeners]) {
            l(e);
        }
    }
    dispose(): void {
        this.listeners.clear();
    }
}

export enum TreeItemCollapsibleState {
    None = 0,
    Collapsed = 1,
    Expanded = 2,
}

export class TreeItem {
    id?: string;
    description?: string;
    tooltip?: unknown;
    iconPath?: unknown;
    contextValue?: string;
    constructor(
        public label: string,
        public collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None,
    ) {}
}

export class ThemeColor {
    constructor(public id: string) {}
}

export class ThemeIcon {
    constructor(
        public id: string,
        public color?: ThemeColor,
    ) {}
}

export class MarkdownString {
    constructor(public value: string) {}
}

export class Uri {
    private constructor(
        public scheme: string,
        public authority: string,
        public path: string,
    ) {}
    static parse(value: string): Uri {
        const m = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)(.*)$/i.exec(value);
        if (!m) {
            throw new Error(`bad uri ${value}`);
        }
        return new Uri(m[1], m[2], m[3] || '/');
    }
    toString(): string {
        return `${this.scheme}://${this.authority}${this.path}`;
    }
}

export enum ProgressLocation {
    SourceControl = 1,
    Window = 10,
    Notification = 15,
}

export const window = {};
export const commands = {};
export const workspace = {};
export const env = { appName: 'Visual Studio Code' };
export const extensions = {};
