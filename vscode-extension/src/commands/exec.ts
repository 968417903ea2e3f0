/**
 * Nexus: Run Command in Workspace — runs a shell command line via `nexus/workspace/exec`,
 * streaming its output (`nexus/workspace/didOutput`) into the "Nexus: Command Output" channel.
 */
import type * as vscode from 'vscode';
import { showError } from '../common/errors';
import { newWorkDoneToken, withSidecarProgress } from '../common/progress';
import type { ExecResult } from '../common/protocol';
import { createOutputChannel, showInputBox, showWarningMessage } from '../common/vscodeapi';
import { pickWorkspace, type CommandContext } from './context';

let outputChannel: vscode.OutputChannel | undefined;

function output(): vscode.OutputChannel {
    outputChannel ??= createOutputChannel('Nexus: Command Output');
    return outputChannel;
}

export function disposeExecOutput(): void {
    outputChannel?.dispose();
    outputChannel = undefined;
}

/** The `command` sent for a line typed by the user: one element, run as a shell snippet. */
export function shellCommand(line: string): string[] {
    return [line];
}

export async function execCommand(ctx: CommandContext, arg?: unknown): Promise<ExecResult | undefined> {
    const name = await pickWorkspace(ctx, arg, 'Workspace to run a command in', ['running']);
    if (!name) {
        return undefined;
    }
    const line = await showInputBox({
        title: `Run in workspace "${name}"`,
        prompt: 'Command line (run by the shell in the workspace)',
        placeHolder: 'git status',
        validateInput: (v) => (v.trim() ? undefined : 'Enter a command.'),
    });
    if (line === undefined) {
        return undefined;
    }
    const out = output();
    out.show(true);
    out.appendLine(`$ ${line}    # in ${name}`);
    const outputId = newWorkDoneToken('exec');
    let streamed = false;
    const sub = ctx.client.onNotification('nexus/workspace/didOutput', (p) => {
        if (p.outputId === outputId) {
            streamed = true;
            out.append(p.text);
        }
    });
    try {
        const result = await withSidecarProgress(ctx.client, `Running "${line}" in "${name}"`, (workDoneToken, token) =>
            ctx.client.request('nexus/workspace/exec', { name, command: shellCommand(line), outputId, workDoneToken }, token));
        if (!streamed) {
            out.append(result.stdout);
            out.append(result.stderr);
        }
        out.appendLine(`[exit code ${result.exitCode}]`);
        if (result.exitCode !== 0) {
            void showWarningMessage(`"${line}" exited with code ${result.exitCode} in "${name}".`, {});
        }
        return result;
    } catch (e) {
        out.appendLine(`[${(await showError(`Run "${line}" in "${name}"`, e)).cancelled ? 'cancelled' : 'failed'}]`);
        return undefined;
    } finally {
        sub.dispose();
    }
}
