"""The quick `workspace list` prints byte for byte what the full listing prints, or declines.

The table is compared with rich's own rendering of the full listing's table, for many rows and
console widths, on a terminal (colour) and off one; the constants it keeps are compared with
their sources.
"""

from __future__ import annotations

import io
import random

import pytest
from rich.console import Console

from nexus.backends.docker.engine import STATE_STATUS
from nexus.cli import quick_list
from nexus.cli.listing import workspace_table
from nexus.cli.quick_list import Unhandled, render_table, table_row
from nexus.domain.kinds import SSH_ALIAS_PREFIX, TRANSITIONAL, BackendType, WorkspaceStatus
from nexus.domain.models import Workspace

STATUSES = [WorkspaceStatus(s) for s in sorted(quick_list.SETTLED)]


def _rich(workspaces: list[Workspace], width: int, terminal: bool) -> str:
    out = io.StringIO()
    console = Console(
        file=out,
        width=width,
        force_terminal=terminal,
        color_system="standard" if terminal else None,
        highlight=False,
        soft_wrap=True,
        emoji=False,
        legacy_windows=False,
    )
    console.print(workspace_table(workspaces))
    return out.getvalue()


def _workspace(rng: random.Random, index: int) -> Workspace:
    def text(low: int, high: int, alphabet: str = "abcdefghij-_./[]: ") -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))

    return Workspace(
        name=f"ws{index}-" + text(0, 12, "abcdef-"),
        backend=BackendType.DOCKER,
        status=rng.choice(STATUSES),
        ssh_host=rng.choice(["127.0.0.1", None]),
        ssh_port=rng.choice([32800, None]),
        ssh_user=rng.choice(["nexus", None]),
        branch=rng.choice([None, "", "nexus/" + text(1, 20, "abcxyz/-")]),
        local_path=rng.choice([None, "/home/u/" + text(0, 60)]),
    )


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("terminal", [False, True])
def test_the_table_is_what_rich_prints(seed: int, terminal: bool) -> None:
    rng = random.Random(seed)
    workspaces = [_workspace(rng, i) for i in range(rng.randint(1, 4))]
    rows = [table_row(ws.public_dict()) for ws in workspaces]
    handled = 0
    for width in [*range(20, 140, 7), 200]:
        try:
            ours = render_table(rows, width=width, terminal=terminal, ellipsis=True)
        except Unhandled:
            continue
        handled += 1
        assert ours == _rich(workspaces, width, terminal), (width, rows)
    assert handled  # the wide consoles at least


def test_a_long_path_is_cut_as_rich_cuts_it() -> None:
    ws = Workspace(
        name="ws",
        backend=BackendType.DOCKER,
        status=WorkspaceStatus.RUNNING,
        ssh_host="127.0.0.1",
        ssh_port=32800,
        ssh_user="nexus",
        branch="nexus/ws",
        local_path="/tmp/nexus-bench-list-abcdefgh/project/.worktree/ws",
    )
    ours = render_table([table_row(ws.public_dict())], width=80, terminal=False, ellipsis=True)
    assert "…" in ours
    assert ours == _rich([ws], 80, False)
    with pytest.raises(Unhandled):  # an output that cannot carry "…" is left to rich
        render_table([table_row(ws.public_dict())], width=80, terminal=False, ellipsis=False)


def test_what_it_declines() -> None:
    def row(path: str) -> list[str]:
        return ["ws", "docker", "running", "-", "-", path]

    for path in ("/ünïcode", "/tab\there", "/back\\slash", "/a b c d e f g h i j k l m n o p"):
        with pytest.raises(Unhandled):
            render_table([row(path)], width=40, terminal=False, ellipsis=True)


def test_the_constants_it_keeps_match_their_sources() -> None:
    from nexus.config.loader import ENV_OVERRIDES
    from nexus.service.workspaces import CREATE_INTERRUPTED

    assert set(quick_list.CONFIG_ENV_OVERRIDES) == set(ENV_OVERRIDES)
    assert quick_list.CREATE_INTERRUPTED == CREATE_INTERRUPTED
    assert quick_list.SSH_ALIAS_PREFIX == SSH_ALIAS_PREFIX
    assert not quick_list.SETTLED & {s.value for s in TRANSITIONAL}
    assert {WorkspaceStatus(s) for s in STATE_STATUS.values()} <= set(WorkspaceStatus)


def test_the_public_form_is_the_models() -> None:
    ws = Workspace(
        name="ws",
        backend=BackendType.DOCKER,
        status=WorkspaceStatus.STOPPED,
        backend_id="abc",
        ssh_host="127.0.0.1",
        ssh_port=32800,
        ssh_user="nexus",
        host_key="ssh-ed25519 AAAA",
        local_path="/p",
        branch="nexus/ws",
        image="img:1",
        labels={"team": "a"},
        metadata={"k": 1},
        ports={"ssh": 32800},
        forward_agent=True,
    )
    ws.resources.cpu = 2
    row = {
        "name": ws.name,
        "backend": "docker",
        "status": "stopped",
        "backend_id": ws.backend_id,
        "ssh_host": ws.ssh_host,
        "ssh_port": ws.ssh_port,
        "ssh_user": ws.ssh_user,
        "remote_path": ws.remote_path,
        "local_path": ws.local_path,
        "branch": ws.branch,
        "image": ws.image,
        "resources": '{"cpu": 2, "memory_gb": null, "disk_gb": null}',
        "labels": '{"team": "a"}',
        "metadata": '{"k": 1}',
        "created_at": ws.created_at.isoformat(),
        "updated_at": ws.updated_at.isoformat(),
        "forward_agent": 1,
    }
    assert quick_list._public(row) == ws.public_dict()
    assert list(quick_list._public(row)) == list(ws.public_dict())
    for change in (
        {"metadata": '{"create_interrupted": true}'},
        {"created_at": "2026-01-01T00:00:00.123456+00:00"},
        {"resources": '{"cpu": "2"}'},
        {"labels": '{"n": 1}'},
        {"ssh_port": "22"},
    ):
        with pytest.raises(Unhandled):
            quick_list._public({**row, **change})
