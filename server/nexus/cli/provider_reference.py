"""The reference of every escape hatch, as docs/provider-reference.md holds it (generated from
the operation registry: `python -m nexus.cli.provider_reference > docs/provider-reference.md`;
tests/unit/test_provider_reference.py fails when the page is out of date)."""

from __future__ import annotations

from ..domain.kinds import BackendType
from ..domain.provider import OperationSpec
from ..service.backends import operations
from .provider_cmd import option_name


def _usage(spec: OperationSpec) -> str:
    parts = ["nexus workspace provider", spec.backend.value, spec.group, spec.action]
    if spec.workspace:
        parts.append("WORKSPACE")
    fields = spec.params.model_fields
    parts += [name.upper().replace("_", "-") for name in spec.positional]
    command = None
    for name, info in fields.items():
        if name in spec.positional:
            continue
        if name == "command":
            command = "-- COMMAND…"
            continue
        flag = option_name(name, info)
        if info.annotation is bool:
            parts.append(f"[{flag}]")
        elif info.is_required():
            parts.append(f"{flag} VALUE")
        else:
            parts.append(f"[{flag} VALUE]")
    if command:
        parts.append(command)
    parts += ["[--json]"] + (["[--no-fallback]"] if spec.fallback is not None else [])
    return " ".join(parts)


def render() -> str:
    lines = [
        "# Escape hatch reference",
        "",
        "Generated from the operation registry by `python -m nexus.cli.provider_reference`; "
        "when to use these instead of the common path: [escape-hatches.md](escape-hatches.md).",
        "Every command takes `--json` (the result object below the command). The sidecar runs the "
        "same operations: `nexus/provider/execute {workspace, operation, params}`.",
    ]
    for backend in BackendType:
        lines += ["", f"## {backend.value}"]
        for spec in operations(backend).values():
            lines += ["", f"### `{spec.id}`", "", spec.summary, "", "```", _usage(spec), "```", ""]
            lines.append(f"Needs capability `{spec.capability}`.")
            if spec.fallback is not None:
                lines.append(
                    f"When the backend's API cannot serve it, falls back to {spec.fallback_label} "
                    "(one note line, `fallback` in `--json`) unless `--no-fallback`."
                )
            params = [
                (name, info) for name, info in spec.params.model_fields.items() if name != "command"
            ]
            if params:
                lines += ["", "| Parameter | Option | Required | Meaning |", "|---|---|---|---|"]
                for name, info in params:
                    option = (
                        "argument" if name in spec.positional else f"`{option_name(name, info)}`"
                    )
                    required = "yes" if info.is_required() else "no"
                    lines.append(
                        f"| `{info.alias or name}` | {option} | {required} | {info.description or ''} |"
                    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
