/**
 * Where the `nexus` CLI is: `nexus.cli.command` when set; else the `nexus` installed beside the
 * sidecar (`<dir>/nexus-sidecar` -> `<dir>/nexus`, `python -m nexus.sidecar` -> `python -m
 * nexus.cli.main`); else `nexus` from PATH.
 */
import * as fs from 'fs';
import * as path from 'path';
import { expandHome, type NexusSettings, resolveSidecarCommand, splitCommandLine, whichSync } from './settings';

export interface CliCommand {
    command: string;
    args: string[];
    source: 'setting' | 'sidecar' | 'path';
}

function isExecutable(file: string): boolean {
    try {
        fs.accessSync(file, fs.constants.X_OK);
        return fs.statSync(file).isFile();
    } catch {
        return false;
    }
}

/** Undefined when none was found (the caller names `nexus.cli.command`). */
export function resolveCliCommand(
    settings: Pick<NexusSettings, 'cliCommand' | 'sidecarCommand' | 'pythonPath'>,
    findOnPath: (exe: string) => string | undefined = whichSync,
    exists: (file: string) => boolean = isExecutable,
    home?: string,
): CliCommand | undefined {
    const raw = settings.cliCommand;
    const argv = (Array.isArray(raw) ? raw : splitCommandLine(raw ?? '')).filter((a) => a !== '');
    if (argv.length > 0) {
        const [command, ...args] = home === undefined ? argv : argv.map((a) => expandHome(a, home));
        return { command, args, source: 'setting' };
    }
    const sidecar = resolveSidecarCommand(settings, findOnPath, ...(home === undefined ? [] : [home]));
    if (sidecar.args.length >= 2 && sidecar.args[sidecar.args.length - 2] === '-m' && sidecar.args[sidecar.args.length - 1] === 'nexus.sidecar') {
        return { command: sidecar.command, args: [...sidecar.args.slice(0, -1), 'nexus.cli.main'], source: 'sidecar' };
    }
    if (path.basename(sidecar.command).startsWith('nexus-sidecar')) {
        const beside = path.join(path.dirname(sidecar.command), 'nexus');
        if (path.isAbsolute(beside) && exists(beside)) {
            return { command: beside, args: [], source: 'sidecar' };
        }
    }
    const onPath = findOnPath('nexus');
    return onPath ? { command: onPath, args: [], source: 'path' } : undefined;
}
