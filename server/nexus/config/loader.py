"""Loading, migrating and editing the config file.

The *raw* file (with ``${VAR}`` placeholders) is what ``config set`` edits and writes back; the
*effective* config is the raw file with placeholders expanded and env overrides (PRD §5.3) applied.

YAML and the pydantic schema are imported where a file is read or a config validated, so a
command that never looks at the config does not pay for them.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..domain.errors import ErrorCode, NexusError
from ..fsutil import atomic_write
from ..locking import file_lock
from ..paths import NexusPaths
from ..redact import register_secret

if TYPE_CHECKING:
    from pydantic import ValidationError

    from .schema import NexusConfig

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# the keys whose values are secrets (masked in output, never logged)
SECRET_KEYS = frozenset({"backends.daytona.api_key"})

# env var -> dotted key it overrides (PRD §5.3)
ENV_OVERRIDES: dict[str, str] = {
    "NEXUS_DEFAULT_BACKEND": "workspace.default_backend",
    "DAYTONA_API_KEY": "backends.daytona.api_key",
    "DAYTONA_API_URL": "backends.daytona.api_url",
    "NEXUS_DAYTONA_REGION": "backends.daytona.default_region",
    "NEXUS_SYNC_THRESHOLD": "backends.daytona.sync.use_file_api_threshold",
    "NEXUS_MUTAGEN": "sync.mutagen_path",
}

MASK = "********"


def _invalid(message: str, resolution: str = "") -> NexusError:
    return NexusError(
        ErrorCode.INVALID_CONFIG,
        message,
        resolution or "Fix the value with `nexus config set KEY VALUE` or edit the config file.",
    )


def expand_vars(value: Any, env: dict[str, str]) -> Any:
    """Expand ``${VAR}`` in every string; a string that is only an unset ``${VAR}`` becomes None."""
    if isinstance(value, dict):
        return {k: expand_vars(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_vars(v, env) for v in value]
    if isinstance(value, str):
        whole = _VAR.fullmatch(value)
        if whole and whole.group(1) not in env:
            return None
        return _VAR.sub(lambda m: env.get(m.group(1), ""), value)
    return value


def _get_path(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def _set_path(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _format_validation(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


def migrate_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """Turn an older flat config (no version, or version "1") into v2, keeping what still means something."""
    v2: dict[str, Any] = {"version": "2"}
    old_ws = raw.get("workspace") or {}
    ws = {k: old_ws[k] for k in ("default_backend", "auto_start", "storage_path") if k in old_ws}
    if ws:
        v2["workspace"] = ws
    old_backends = raw.get("backends") or {}
    backends: dict[str, Any] = {}
    docker = old_backends.get("docker") or {}
    if "enabled" in docker:
        backends["docker"] = {"enabled": docker["enabled"]}
    daytona = old_backends.get("daytona") or {}
    kept = {k: daytona[k] for k in ("enabled", "api_key", "api_url") if k in daytona}
    if kept:
        backends["daytona"] = kept
    if backends:
        v2["backends"] = backends
    return v2


_V1_ONLY_KEYS = frozenset({"daemon", "telemetry", "cli"})


def _is_v1(raw: dict[str, Any]) -> bool:
    """An older file: `version: "1"`, or no version and keys only the older Nexus had.

    A file with no version line but nothing v1-specific is read as v2 and kept whole (v2 accepts
    every key such a file can hold), so no setting is ever dropped by a guess.
    """
    if "version" in raw:
        return str(raw["version"]) == "1"
    workspace = raw.get("workspace") or {}
    return bool(_V1_ONLY_KEYS & raw.keys()) or (
        isinstance(workspace, dict) and "default" in workspace
    )


# keys of earlier versions that no longer mean anything: dropped when a file is read, with a
# warning naming the key (never accepted and silently ignored, never a refused config)
RETIRED_KEYS: dict[str, str] = {
    "backends.daytona.sync.use_process_api_threshold": (
        "nothing chooses the Process API by itself: commands go over SSH, and "
        "`nexus workspace provider daytona process execute` uses the Process API when asked"
    ),
}


def _drop_retired(data: dict[str, Any], path: Path) -> None:
    import logging

    for key, why in RETIRED_KEYS.items():
        *parents, leaf = key.split(".")
        node: Any = data
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node:
            del node[leaf]
            logging.getLogger(__name__).warning(
                "%s: '%s' is no longer a setting and was ignored (%s); remove it from the file",
                path,
                key,
                why,
            )


class ConfigManager:
    """Reads and writes one config file; ``env`` is injectable for tests."""

    def __init__(self, paths: NexusPaths | None = None, env: dict[str, str] | None = None) -> None:
        self.paths = paths or NexusPaths()
        self.env = dict(os.environ) if env is None else env

    @property
    def path(self) -> Path:
        return self.paths.config_file

    def is_default(self) -> bool:
        """No config file and no environment override: the effective config is the schema's
        defaults, known without reading or validating anything."""
        return not self.path.exists() and not any(self.env.get(var) for var in ENV_OVERRIDES)

    # ---- raw file ----------------------------------------------------------------------------
    def read_raw(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"version": "2"}
        import yaml

        try:
            loaded = yaml.safe_load(self._read_text()) or {}
        except yaml.YAMLError as exc:
            raise _invalid(f"{self.path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise _invalid(f"{self.path} must hold a mapping at the top level")
        if _is_v1(loaded):
            loaded = self._migrate_file(loaded)
        _drop_retired(loaded, self.path)
        return loaded

    def _read_text(self) -> str:
        """The file as UTF-8 text; INVALID_CONFIG naming where it is not (the file is left as is)."""
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise _invalid(
                f"cannot read {self.path}: {exc.strerror or exc}",
                "Check that the file is readable by you.",
            ) from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise _invalid(
                f"{self.path} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset "
                f"{exc.start} (line {line}, column {column})",
                "Save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`), or fix that line.",
            ) from None

    def _migrate_file(self, raw: dict[str, Any]) -> dict[str, Any]:
        import yaml

        with file_lock(self.paths.lock("config")):
            backup = self.path.with_name(self.path.name + ".v1.bak")
            if backup.exists():  # never overwrite an earlier backup
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                backup = self.path.with_name(f"{self.path.name}.v1.{stamp}.bak")
            shutil.copy2(self.path, backup)
            migrated = migrate_v1(raw)
            self._validate(migrated)
            atomic_write(self.path, yaml.safe_dump(migrated, sort_keys=False), mode=0o600)
        return migrated

    def write_raw(self, raw: dict[str, Any]) -> None:
        import yaml

        atomic_write(self.path, yaml.safe_dump(raw, sort_keys=False), mode=0o600)

    # ---- effective config --------------------------------------------------------------------
    def _effective_dict(self, raw: dict[str, Any]) -> dict[str, Any]:
        data = expand_vars(copy.deepcopy(raw), self.env)
        for var, key in ENV_OVERRIDES.items():
            value = self.env.get(var)
            if value:
                _set_path(data, key, value)
        return data  # type: ignore[no-any-return]

    def _validate(self, raw: dict[str, Any]) -> NexusConfig:
        from pydantic import ValidationError

        from .schema import NexusConfig

        try:
            config = NexusConfig.model_validate(self._effective_dict(raw))
            register_secret(config.backends.daytona.api_key)  # never in a log line or message
            return config
        except ValidationError as exc:
            raise _invalid(f"invalid configuration: {_format_validation(exc)}") from exc

    def load(self) -> NexusConfig:
        return self._validate(self.read_raw())

    # ---- get / set / list --------------------------------------------------------------------
    def get(self, key: str) -> Any:
        data = self.load().model_dump(mode="json")
        try:
            value = _get_path(data, key)
        except KeyError:
            raise _invalid(
                f"unknown config key '{key}'", "Run `nexus config list` to see the keys."
            ) from None
        return mask_secrets(value, key)

    def set(self, key: str, text: str) -> Any:
        import yaml

        from .schema import NexusConfig

        defaults = NexusConfig().model_dump(mode="json")
        try:
            _get_path(defaults, key)
        except KeyError:
            raise _invalid(
                f"unknown config key '{key}'", "Run `nexus config list` to see the keys."
            ) from None
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        if key in SECRET_KEYS and isinstance(value, str):
            register_secret(value)
        with file_lock(self.paths.lock("config")):
            raw = self.read_raw()
            raw.setdefault("version", "2")
            _set_path(raw, key, value)
            self._validate(raw)
            self.write_raw(raw)
        return self.get(key)

    def list(self) -> dict[str, Any]:
        flat: dict[str, Any] = {}

        def walk(prefix: str, node: Any) -> None:
            if isinstance(node, dict) and not (prefix.endswith("ide_mode")):
                for k, v in node.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                flat[prefix] = mask_secrets(node, prefix)

        walk("", self.load().model_dump(mode="json"))
        return flat


def mask_secrets(value: Any, key: str) -> Any:
    """Secrets never leave Nexus in output: a set secret shows as a mask."""
    if key in SECRET_KEYS:
        return MASK if value else None
    if isinstance(value, dict):
        return {k: mask_secrets(v, f"{key}.{k}" if key else k) for k, v in value.items()}
    return value


def load_config(paths: NexusPaths | None = None) -> NexusConfig:
    return ConfigManager(paths).load()
