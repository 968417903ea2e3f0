/**
 * Nexus: Open Terminal — an integrated terminal running `nexus workspace ssh <name>` (a real
 * TTY through the system ssh client), named after the workspace.
 */
import { resolveCliCommand } from '../common/cli';
import { OPEN_SETTINGS } from '../common/errors';
import { log } from '../common/logging';
import { readSettings } from '../common/settings';
import { executeCommand, openTerminal as createTerminal, showErrorMessage, showInformationMessage, workspaceFolderPaths } from '../common/vscodeapi';
import { pickWorkspace, type CommandContext } from './context';

export const START_AND_OPEN_TERMINAL = 'Start and Open Terminal';

export function terminalName(name: string): string {
    return `Nexus: ${name}`;
}

/** Returns the terminal's name, or undefined when none was opened. */
export async function openTerminal(ctx: CommandContext, arg?: unknown): Promise<string | undefined> {
    const name = await pickWorkspace(ctx, arg, 'Workspace to open a terminal in', ['running']);
    if (!name) {
        return undefined;
    }
    const cli = resolveCliCommand(readSettings());
    if (!cli) {
        const choice = await showErrorMessage(
            'Cannot find the nexus CLI (not beside the sidecar, not on PATH). Set "nexus.cli.command" to its path.',
            OPEN_SETTINGS,
        );
        if (choice === OPEN_SETTINGS) {
            await executeCommand('workbench.action.openSettings', 'nexus.cli.command');
        }
        return undefined;
    }
    const args = [...cli.args, 'workspace', 'ssh'];
    const status = ctx.model.get(name)?.status;
    if (status !== undefined && status !== 'running') {
        const choice = await showInformationMessage(`Workspace "${name}" is ${status}.`, START_AND_OPEN_TERMINAL);
        if (choice !== START_AND_OPEN_TERMINAL) {
            return undefined;
        }
        args.push('--start');
    }
    args.push(name);
    log.info(`terminal for ${name}: ${[cli.command, ...args].join(' ')}`);
    const title = terminalName(name);
    createTerminal({ name: title, shellPath: cli.command, shellArgs: args, cwd: workspaceFolderPaths()[0], iconId: 'remote' });
    return title;
}
