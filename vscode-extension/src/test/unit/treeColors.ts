/**
 * The status icon colours of the tree, read through describeWorkspace.
 */
import type { WorkspaceStatus } from '../../common/protocol';
import { describeWorkspace } from '../../views/workspacesTree';
import { workspace } from './helpers';

export const STATUS_ICON_COLORS: Partial<Record<WorkspaceStatus, string | undefined>> = Object.fromEntries(
    (['running', 'stopped', 'paused', 'error'] as WorkspaceStatus[]).map((s) => [s, describeWorkspace(workspace('x', { status: s })).icon.color]),
);
