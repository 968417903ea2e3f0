/**
 * Which Remote-SSH extension can open `vscode-remote://ssh-remote+<alias>/<path>` in this editor.
 *
 * Every fork uses the same `ssh-remote+` authority, but each editor has its own extension:
 * Microsoft's only runs in VS Code, Cursor ships its own, and VSCodium uses Open Remote - SSH.
 */

export type EditorKind = 'vscode' | 'cursor' | 'vscodium' | 'other';

export interface RemoteSshExtension {
    id: string;
    displayName: string;
}

export const REMOTE_SSH_EXTENSIONS = {
    microsoft: { id: 'ms-vscode-remote.remote-ssh', displayName: 'Remote - SSH' },
    cursor: { id: 'anysphere.remote-ssh', displayName: 'Remote - SSH (Cursor)' },
    openRemoteSsh: { id: 'jeanp413.open-remote-ssh', displayName: 'Open Remote - SSH' },
    windsurf: { id: 'codeium.windsurf-remote-openssh', displayName: 'Windsurf Remote - SSH' },
} as const satisfies Record<string, RemoteSshExtension>;

/** The editor we run in, from `vscode.env.appName`. */
export function editorKind(appName: string): EditorKind {
    const name = appName.toLowerCase();
    if (name.includes('cursor')) {
        return 'cursor';
    }
    if (name.includes('vscodium')) {
        return 'vscodium';
    }
    if (name.includes('visual studio code')) {
        return 'vscode';
    }
    return 'other';
}

/** Remote-SSH extensions that work in `kind`, the one to recommend first. */
export function remoteSshCandidates(kind: EditorKind): RemoteSshExtension[] {
    const e = REMOTE_SSH_EXTENSIONS;
    switch (kind) {
        case 'vscode':
            return [e.microsoft, e.openRemoteSsh];
        case 'cursor':
            return [e.cursor, e.openRemoteSsh];
        case 'vscodium':
            return [e.openRemoteSsh];
        case 'other':
            return [e.openRemoteSsh, e.windsurf, e.cursor, e.microsoft];
    }
}

/** The installed Remote-SSH extension for this editor, if any. */
export function detectRemoteSsh(
    kind: EditorKind,
    isInstalled: (id: string) => boolean,
): RemoteSshExtension | undefined {
    return remoteSshCandidates(kind).find((ext) => isInstalled(ext.id));
}

/** The extension to suggest when none is installed. */
export function recommendedRemoteSsh(kind: EditorKind): RemoteSshExtension {
    return remoteSshCandidates(kind)[0];
}

/** The editor name to send as `initializationOptions.editor`. */
export function editorId(kind: EditorKind): string {
    return kind === 'other' ? 'vscode' : kind;
}
