/**
 * Thin wrappers around the VS Code API. Commands, views and helpers call VS Code only through
 * this module, so unit tests can stub each function (sinon) without a running editor.
 */
import * as vscode from 'vscode';

export type MessageItems = string[];

export function showInputBox(options: vscode.InputBoxOptions): Thenable<string | undefined> {
    return vscode.window.showInputBox(options);
}

export function showQuickPick<T extends vscode.QuickPickItem>(
    items: readonly T[] | Thenable<readonly T[]>,
    options: vscode.QuickPickOptions,
): Thenable<T | undefined> {
    return vscode.window.showQuickPick(items, options);
}

export function showInformationMessage(message: string, ...items: MessageItems): Thenable<string | undefined> {
    return vscode.window.showInformationMessage(message, ...items);
}

export function showWarningMessage(
    message: string,
    options: vscode.MessageOptions,
    ...items: MessageItems
): Thenable<string | undefined> {
    return vscode.window.showWarningMessage(message, options, ...items);
}

export function showErrorMessage(message: string, ...items: MessageItems): Thenable<string | undefined> {
    return vscode.window.showErrorMessage(message, ...items);
}

/** A progress notification (with a Cancel button when `cancellable`). */
export function withNotificationProgress<R>(
    options: { title: string; cancellable: boolean },
    task: (
        progress: vscode.Progress<{ message?: string; increment?: number }>,
        token: vscode.CancellationToken,
    ) => Thenable<R>,
): Thenable<R> {
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, ...options }, task);
}

export function executeCommand<T = unknown>(command: string, ...rest: unknown[]): Thenable<T> {
    return vscode.commands.executeCommand<T>(command, ...rest);
}

export function registerCommand(command: string, callback: (...args: unknown[]) => unknown): vscode.Disposable {
    return vscode.commands.registerCommand(command, callback);
}

export function getConfiguration(section: string): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(section);
}

export function onDidChangeConfiguration(listener: (e: vscode.ConfigurationChangeEvent) => unknown): vscode.Disposable {
    return vscode.workspace.onDidChangeConfiguration(listener);
}

export function isExtensionInstalled(id: string): boolean {
    return vscode.extensions.getExtension(id) !== undefined;
}

export function appName(): string {
    return vscode.env.appName;
}

export function writeClipboard(text: string): Thenable<void> {
    return vscode.env.clipboard.writeText(text);
}

export function workspaceFolderPaths(): string[] {
    return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
}

/** Asks for one local folder. */
export async function pickFolder(title: string): Promise<string | undefined> {
    const picked = await vscode.window.showOpenDialog({ title, canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Select' });
    return picked?.[0]?.fsPath;
}

export function parseUri(value: string): vscode.Uri {
    return vscode.Uri.parse(value, true);
}

const READ_ONLY_SCHEME = 'nexus-info';
const readOnlyContents = new Map<string, string>();
let readOnlyProvider: vscode.Disposable | undefined;

/** Shows `content` in a read-only editor titled `fileName` (its extension picks the language). */
export async function showReadOnlyDocument(fileName: string, content: string): Promise<void> {
    readOnlyProvider ??= vscode.workspace.registerTextDocumentContentProvider(READ_ONLY_SCHEME, {
        provideTextDocumentContent: (uri) => readOnlyContents.get(uri.toString()) ?? '',
    });
    const uri = vscode.Uri.from({ scheme: READ_ONLY_SCHEME, path: `/${fileName}`, query: Date.now().toString(36) });
    readOnlyContents.set(uri.toString(), content);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, { preview: true });
}

export function disposeReadOnlyDocuments(): void {
    readOnlyProvider?.dispose();
    readOnlyProvider = undefined;
    readOnlyContents.clear();
}

export function createLogOutputChannel(name: string): vscode.LogOutputChannel {
    return vscode.window.createOutputChannel(name, { log: true });
}

export function createOutputChannel(name: string): vscode.OutputChannel {
    return vscode.window.createOutputChannel(name);
}

export function createTreeView<T>(viewId: string, options: vscode.TreeViewOptions<T>): vscode.TreeView<T> {
    return vscode.window.createTreeView(viewId, options);
}

/** Opens `uri` outside the editor (the default browser for http URLs). */
export function openExternal(uri: vscode.Uri): Thenable<boolean> {
    return vscode.env.openExternal(uri);
}

/** Whether the open folder is trusted (true when workspace trust is off). */
export function isWorkspaceTrusted(): boolean {
    return (vscode.workspace as { isTrusted?: boolean }).isTrusted !== false;
}

export function onDidGrantWorkspaceTrust(listener: () => unknown): vscode.Disposable {
    return vscode.workspace.onDidGrantWorkspaceTrust(listener);
}

export function setContext(key: string, value: unknown): Thenable<unknown> {
    return vscode.commands.executeCommand('setContext', key, value);
}

export interface TerminalSpec {
    name: string;
    shellPath: string;
    shellArgs: string[];
    cwd?: string;
    iconId?: string;
}

/** Creates and shows an integrated terminal running `shellPath shellArgs`. */
export function openTerminal(spec: TerminalSpec): vscode.Terminal {
    const terminal = vscode.window.createTerminal({
        name: spec.name,
        shellPath: spec.shellPath,
        shellArgs: spec.shellArgs,
        cwd: spec.cwd,
        iconPath: spec.iconId ? new vscode.ThemeIcon(spec.iconId) : undefined,
    });
    terminal.show();
    return terminal;
}

export function createStatusBarItem(id: string, priority: number): vscode.StatusBarItem {
    return vscode.window.createStatusBarItem(id, vscode.StatusBarAlignment.Left, priority);
}

/** The remote authority of the window's first folder (`ssh-remote+nexus-demo`), if remote. */
export function remoteAuthority(): string | undefined {
    const folder = (vscode.workspace.workspaceFolders ?? [])[0];
    if (folder && folder.uri.scheme === 'vscode-remote') {
        return folder.uri.authority;
    }
    return undefined;
}

/** A short message in the status bar that goes away by itself. */
export function flashStatus(text: string, ms = 8000): vscode.Disposable {
    return vscode.window.setStatusBarMessage(text, ms);
}
