"""The config file read raw: keys the schema does not know (today they make the whole config
invalid), keys of earlier versions, values it refuses. Also the config the other checks use when
the file itself is invalid (its known keys only), so doctor always runs."""

from __future__ import annotations

import contextlib
import copy
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.loader import ENV_OVERRIDES, RETIRED_KEYS, expand_vars
from ..domain.errors import NexusError
from .model import Finding, error, ok, warning

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..config.loader import ConfigManager
    from ..config.schema import NexusConfig

CHECK = "config"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds (``Model`` or ``Model | None``), None for anything else."""
    from pydantic import BaseModel

    candidates = [annotation, *typing.get_args(annotation)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def unknown_keys(
    raw: dict[str, Any], model: type[BaseModel] | None = None, prefix: str = ""
) -> list[str]:
    """Dotted keys of ``raw`` that the schema has no field for (a field holding a mapping of the
    user's, such as ``lsp.commands``, takes any key below it)."""
    if model is None:
        from ..config.schema import NexusConfig

        model = NexusConfig
    found = []
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        fields = model.model_fields
        if str(key) not in fields:
            found.append(dotted)
            continue
        inner = _model_of(fields[str(key)].annotation)
        if inner is not None and isinstance(value, dict):
            found += unknown_keys(value, inner, dotted + ".")
    return found


def retired_keys(raw: dict[str, Any]) -> list[str]:
    found = []
    for key in RETIRED_KEYS:
        *parents, leaf = key.split(".")
        holder: Any = raw
        for part in parents:
            holder = holder.get(part) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and leaf in holder:
            found.append(key)
    return found


def current_unknown_keys(raw: dict[str, Any]) -> list[str]:
    """Unknown keys that are not retired ones (those are dropped with a warning, not refused)."""
    return [key for key in unknown_keys(raw) if key not in RETIRED_KEYS]


def _without(raw: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    cleaned = copy.deepcopy(raw)
    for key in keys:
        *parents, leaf = key.split(".")
        node: Any = cleaned
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return cleaned


def key_lines(text: str) -> dict[str, int]:
    """Dotted key -> its 1-based line in the YAML text (mappings only)."""
    import yaml

    lines: dict[str, int] = {}

    def walk(node: Any, prefix: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            return
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                dotted = f"{prefix}{key_node.value}"
                lines.setdefault(dotted, key_node.start_mark.line + 1)
                walk(value_node, dotted + ".")

    with contextlib.suppress(yaml.YAMLError):
        walk(yaml.compose(text), "")
    return lines


def _set_path(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value


def effective(raw: dict[str, Any], env: dict[str, str]) -> NexusConfig:
    """What ConfigManager.load makes of ``raw`` (placeholders and env overrides applied)."""
    from ..config.schema import NexusConfig

    data = expand_vars(copy.deepcopy(raw), env)
    for var, key in ENV_OVERRIDES.items():
        value = env.get(var)
        if value:
            _set_path(data, key, value)
    return NexusConfig.model_validate(data)


@dataclass
class ConfigCheck:
    findings: list[Finding] = field(default_factory=list)
    # the config the other checks use: the real one, or the file's valid part when it is invalid
    config: NexusConfig | None = None
    valid: bool = True


def _load_raw(path: Path) -> tuple[dict[str, Any] | None, str, str]:
    """(mapping, text, problem)."""
    import yaml

    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, "", f"{path} is not UTF-8 text (byte offset {exc.start})"
    except OSError as exc:
        return None, "", f"cannot read {path}: {exc.strerror or exc}"
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        return None, text, f"{path} is not valid YAML: {exc}"
    if not isinstance(loaded, dict):
        return None, text, f"{path} must hold a mapping at the top level"
    return loaded, text, ""


@contextlib.contextmanager
def _quiet_loader() -> Iterator[None]:
    import logging

    logger = logging.getLogger("nexus.config.loader")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_config(manager: ConfigManager) -> ConfigCheck:
    from pydantic import ValidationError

    path = manager.path
    result = ConfigCheck()
    fallback: dict[str, Any] = {"version": "2"}
    if not path.exists():
        result.findings.append(
            ok("DOCTOR_CONFIG_OK", f"no config file ({path}): the defaults apply", check=CHECK)
        )
    else:
        raw, text, problem = _load_raw(path)
        if raw is None:
            result.findings.append(
                error(
                    "DOCTOR_CONFIG_UNREADABLE",
                    problem,
                    f"Fix {path} by hand (it must be a YAML mapping, UTF-8), or move it aside to "
                    "start from the defaults.",
                    check=CHECK,
                    subject=str(path),
                )
            )
            result.valid = False
        else:
            result.findings += _key_findings(raw, text, path)
            old = str(raw.get("version", "")) == "1"
            unknown = [] if old else current_unknown_keys(raw)
            fallback = _without(raw, unknown + retired_keys(raw)) if not old else fallback
            result.valid = not unknown
    try:
        with _quiet_loader():  # its warnings about retired keys are findings here
            result.config = manager.load() if result.valid else None
    except NexusError as exc:
        result.findings.append(
            error(
                "DOCTOR_CONFIG_INVALID", exc.message, exc.resolution, check=CHECK, subject=str(path)
            )
        )
        result.valid = False
    if result.config is None:
        try:
            result.config = effective(fallback, manager.env)
        except ValidationError:
            result.config = effective({"version": "2"}, {})
    elif not any(f.severity != "ok" for f in result.findings) and path.exists():
        result.findings.append(
            ok("DOCTOR_CONFIG_OK", f"{path} is valid", check=CHECK, subject=str(path))
        )
    return result


def _key_findings(raw: dict[str, Any], text: str, path: Path) -> list[Finding]:
    lines = key_lines(text)
    found = []
    if str(raw.get("version", "")) == "1":
        return [
            warning(
                "DOCTOR_CONFIG_OLD_FORMAT",
                f"{path} is in the version 1 format",
                "Any nexus command rewrites it as version 2 (keeping a .v1.bak copy).",
                check=CHECK,
                subject=str(path),
            )
        ]
    for key in current_unknown_keys(raw):
        where = f" (line {lines[key]})" if key in lines else ""
        found.append(
            error(
                "DOCTOR_CONFIG_UNKNOWN_KEY",
                f"{path}{where} sets '{key}', which is not a setting: the whole config is refused "
                "until it goes",
                f"Remove '{key}' from {path}{where} (`nexus config list` shows the keys; a typo "
                "of one of them?).",
                check=CHECK,
                subject=key,
            )
        )
    for key in retired_keys(raw):
        where = f" (line {lines[key]})" if key in lines else ""
        found.append(
            warning(
                "DOCTOR_CONFIG_RETIRED_KEY",
                f"{path}{where} sets '{key}', which is no longer a setting and is ignored: "
                f"{RETIRED_KEYS[key]}",
                f"Remove '{key}' from {path}{where}.",
                check=CHECK,
                subject=key,
            )
        )
    return found
