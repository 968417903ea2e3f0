/**
 * Registers every contributed command.
 */
import type * as vscode from 'vscode';
import { showLogs } from '../common/logging';
import { registerCommand } from '../common/vscodeapi';
import type { CommandContext } from './context';
import { createWorkspace } from './create';
import { execCommand } from './exec';
import { deleteWorkspace, startWorkspace, stopWorkspace } from './lifecycle';
import { keepRunning, migrateWorkspace, runDoctor, showUsage } from './living';
import { copySshCommand, openWorkspace, showInfo } from './open';
import { closePreview, openPreview } from './preview';
import { flushSync, pauseSync, resumeSync, showSyncStatus } from './sync';
import { attachVolume, createSnapshot } from './hatches';
import { openTerminal } from './terminal';

export interface CommandHooks {
    restartSidecar(): Promise<void>;
    refresh(): Promise<void>;
    /** The status bar item's click. */
    showStatusActions(): Promise<unknown>;
}

export function registerCommands(ctx: CommandContext, hooks: CommandHooks): vscode.Disposable[] {
    const table: Record<string, (arg?: unknown) => unknown> = {
        'nexus.createWorkspace': () => createWorkspace(ctx),
        'nexus.startWorkspace': (arg) => startWorkspace(ctx, arg),
        'nexus.stopWorkspace': (arg) => stopWorkspace(ctx, arg),
        'nexus.deleteWorkspace': (arg) => deleteWorkspace(ctx, arg),
        'nexus.openWorkspace': (arg) => openWorkspace(ctx, arg),
        'nexus.copySshCommand': (arg) => copySshCommand(ctx, arg),
        'nexus.showInfo': (arg) => showInfo(ctx, arg),
        'nexus.execCommand': (arg) => execCommand(ctx, arg),
        'nexus.openPreview': (arg) => openPreview(ctx, arg),
        'nexus.closePreview': (arg) => closePreview(ctx, arg),
        'nexus.pauseSync': (arg) => pauseSync(ctx, arg),
        'nexus.resumeSync': (arg) => resumeSync(ctx, arg),
        'nexus.flushSync': (arg) => flushSync(ctx, arg),
        'nexus.showSyncStatus': (arg) => showSyncStatus(ctx, arg),
        'nexus.openTerminal': (arg) => openTerminal(ctx, arg),
        'nexus.createSnapshot': (arg) => createSnapshot(ctx, arg),
        'nexus.attachVolume': (arg) => attachVolume(ctx, arg),
        'nexus.showUsage': () => showUsage(ctx),
        'nexus.runDoctor': () => runDoctor(ctx),
        'nexus.migrateWorkspace': (arg) => migrateWorkspace(ctx, arg),
        'nexus.keepRunning': (arg) => keepRunning(ctx, arg),
        'nexus.showStatusActions': () => hooks.showStatusActions(),
        'nexus.showLogs': () => showLogs(),
        'nexus.restartSidecar': () => hooks.restartSidecar(),
        'nexus.refresh': () => hooks.refresh(),
    };
    return Object.entries(table).map(([id, handler]) => registerCommand(id, (arg?: unknown) => handler(arg)));
}
