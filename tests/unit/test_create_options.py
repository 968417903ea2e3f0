"""A create option is defined once (nexus.domain.create_options); every place that spells it
out is checked against that table here, so they cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from nexus.domain.create_options import CREATE_OPTIONS, OPTION_BY_FIELD, CreateOptions, from_wire
from nexus.domain.kinds import BackendType
from nexus.service.backends import BACKENDS, facts
from nexus.sidecar.protocol import CreateParams

REPO = Path(__file__).resolve().parents[2]
WIRE = {spec.wire for spec in CREATE_OPTIONS}


def _cli_flags() -> set[str]:
    from nexus.cli.workspace import workspace_app

    command = typer.main.get_command(workspace_app).commands["create"]  # type: ignore[attr-defined]
    flags: set[str] = set()
    for param in command.params:
        flags.update(param.opts)
        flags.update(getattr(param, "secondary_opts", []))
    return flags


def test_every_option_has_its_cli_flag() -> None:
    flags = _cli_flags()
    missing = [spec.flag for spec in CREATE_OPTIONS if spec.flag and spec.flag not in flags]
    assert not missing


def test_the_sidecar_params_are_the_wire_names() -> None:
    fields = {info.alias or name for name, info in CreateParams.model_fields.items()}
    assert fields - {"workDoneToken"} == WIRE


def test_the_extension_protocol_has_the_wire_names() -> None:
    source = (REPO / "vscode-extension" / "src" / "common" / "protocol.ts").read_text()
    body = re.search(r"export interface CreateParams[^{]*\{(.*?)\n\}", source, re.S)
    assert body is not None
    properties = set(re.findall(r"^\s+(\w+)\??:", body.group(1), re.M))
    assert properties == WIRE


def test_wire_params_become_options() -> None:
    options = from_wire(
        {
            "name": "w",
            "backend": "daytona",
            "autoStop": 0,
            "memoryGb": 2,
            "allowAliasShadowing": True,
        }
    )
    assert options == CreateOptions(
        name="w", backend=BackendType.DAYTONA, auto_stop_minutes=0, memory_gb=2, force_alias=True
    )


def test_backend_specific_options_are_taken_by_some_backend() -> None:
    """Every option that is not common is one some backend lists, and each backend lists only
    options that exist."""
    taken = set().union(*(facts(b).create_options for b in BACKENDS))
    specific = {spec.field for spec in CREATE_OPTIONS if not spec.common}
    assert taken == specific
    assert taken <= set(OPTION_BY_FIELD)


def test_every_option_reaches_the_backend_or_the_service() -> None:
    from nexus.domain.create_options import REQUEST_FIELDS, RESOLVED_BY_SERVICE
    from nexus.domain.models import CreateRequest

    assert set(REQUEST_FIELDS) <= set(CreateRequest.model_fields)
    assert set(REQUEST_FIELDS) | set(RESOLVED_BY_SERVICE) == set(OPTION_BY_FIELD)
    assert not set(REQUEST_FIELDS) & set(RESOLVED_BY_SERVICE)
