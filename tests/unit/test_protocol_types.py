"""The wire shapes written down elsewhere (the extension's TypeScript types, the protocol doc)
name exactly the fields the Python side sends and accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic.alias_generators import to_camel

from nexus.domain.errors import ErrorCode, NexusError
from nexus.domain.models import BackendType, Workspace, WorkspaceStatus
from nexus.paths import NexusPaths
from nexus.service.context import NexusContext
from nexus.service.workspaces import WorkspaceService
from nexus.sidecar.protocol import CreateParams, DeleteParams

REPO = Path(__file__).resolve().parents[2]
PROTOCOL_TS = REPO / "vscode-extension" / "src" / "common" / "protocol.ts"
PROTOCOL_DOC = REPO / "docs" / "sidecar-protocol.md"


def interface_fields(text: str, name: str) -> set[str]:
    found = re.search(rf"interface {name}\b[^{{]*\{{(.*?)\n\}}", text, re.S)
    assert found, f"no interface {name}"
    return set(re.findall(r"^\s+(\w+)\??:", found.group(1), re.M))


def workspace_fields() -> set[str]:
    ws = Workspace(name="w", backend=BackendType.DOCKER, status=WorkspaceStatus.RUNNING)
    return set(ws.public_dict())


def create_param_fields() -> set[str]:
    return {to_camel(name) for name in CreateParams.model_fields}


def test_typescript_workspace_matches_the_python_one() -> None:
    fields = workspace_fields()
    assert "forwardAgent" in fields
    assert interface_fields(PROTOCOL_TS.read_text(), "Workspace") == fields


def test_documented_workspace_matches_the_python_one() -> None:
    assert interface_fields(PROTOCOL_DOC.read_text(), "Workspace") == workspace_fields()


def test_typescript_create_params_match_the_python_ones() -> None:
    fields = create_param_fields()
    assert "forwardAgent" in fields
    ts = interface_fields(PROTOCOL_TS.read_text(), "CreateParams") | {"workDoneToken"}
    assert ts == fields


def test_documented_create_params_match_the_python_ones() -> None:
    row = next(
        line
        for line in PROTOCOL_DOC.read_text().splitlines()
        if line.startswith("| `nexus/workspace/create`")
    )
    params = row.split("|")[2]
    documented = {name.rstrip("?") for name in re.findall(r"(\w+\??)[,\s}]", params)}
    assert documented == create_param_fields()


def test_typescript_delete_params_match_the_python_ones() -> None:
    fields = {to_camel(name) for name in DeleteParams.model_fields}
    assert "forget" in fields
    ts = interface_fields(PROTOCOL_TS.read_text(), "DeleteParams") | {"workDoneToken"}
    assert ts == fields


def test_left_behind_is_written_down_as_delete_sends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    context = NexusContext(NexusPaths(tmp_path / ".nexus"))
    try:
        ws = Workspace(name="w", backend=BackendType.DOCKER, status=WorkspaceStatus.RUNNING)
        error = NexusError(ErrorCode.DOCKER_UNAVAILABLE, "cannot reach the engine", "Start it.")
        sent = set(WorkspaceService(context)._left_behind(ws, error))
    finally:
        context.close()
    assert interface_fields(PROTOCOL_TS.read_text(), "LeftBehind") == sent
    assert interface_fields(PROTOCOL_DOC.read_text(), "LeftBehind") == sent
    assert re.search(r"'nexus/workspace/delete': \[DeleteParams, DeleteResult \| null\]",
                     PROTOCOL_TS.read_text())  # fmt: skip
    assert interface_fields(PROTOCOL_TS.read_text(), "DeleteResult") == {"leftBehind"}


def test_typescript_provider_params_match_the_python_ones() -> None:
    from nexus.sidecar.protocol import ProviderExecuteParams

    fields = {to_camel(name) for name in ProviderExecuteParams.model_fields}
    ts = interface_fields(PROTOCOL_TS.read_text(), "ProviderExecuteParams") | {"workDoneToken"}
    assert ts == fields


def test_every_sidecar_method_is_written_down() -> None:
    """Each method the sidecar serves is in the protocol doc and in protocol.ts's RequestMap."""
    from nexus.sidecar.handlers import METHODS

    doc = PROTOCOL_DOC.read_text()
    ts = PROTOCOL_TS.read_text()
    for method, *_ in METHODS:
        assert f"| `{method}` |" in doc, method
        assert f"'{method}': [" in ts, method
