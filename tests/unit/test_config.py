from pathlib import Path

import pytest
import yaml

from nexus.config.loader import MASK, ConfigManager
from nexus.domain.errors import ErrorCode, NexusError
from nexus.domain.models import BackendType
from nexus.paths import NexusPaths


def manager(tmp_path: Path, env: dict[str, str] | None = None) -> ConfigManager:
    return ConfigManager(NexusPaths(tmp_path), env or {})


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = manager(tmp_path).load()
    assert config.version == "2"
    assert config.workspace.default_backend is BackendType.DOCKER
    assert config.backends.daytona.api_key is None  # ${DAYTONA_API_KEY} unset
    assert config.backends.docker.port_range == (32800, 34999)


def test_env_overrides_and_var_expansion(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        'version: "2"\nbackends:\n  daytona:\n    api_url: "${MY_URL}/api"\n'
    )
    env = {
        "MY_URL": "http://localhost:3000",
        "DAYTONA_API_KEY": "dtn_secret",
        "NEXUS_DEFAULT_BACKEND": "daytona",
        "NEXUS_DAYTONA_REGION": "eu",
        "NEXUS_SYNC_THRESHOLD": "7",
    }
    config = manager(tmp_path, env).load()
    assert config.backends.daytona.api_url == "http://localhost:3000/api"
    assert config.backends.daytona.api_key == "dtn_secret"
    assert config.workspace.default_backend is BackendType.DAYTONA
    assert config.backends.daytona.default_region == "eu"
    assert config.backends.daytona.sync.use_file_api_threshold == 7
    env["DAYTONA_API_URL"] = "http://other/api"
    assert manager(tmp_path, env).load().backends.daytona.api_url == "http://other/api"


def test_set_validates_and_keeps_placeholders(tmp_path: Path) -> None:
    cm = manager(tmp_path, {"DAYTONA_API_KEY": "k"})
    assert cm.set("workspace.default_backend", "daytona") == "daytona"
    assert cm.set("backends.daytona.auto_stop_interval", "45") == 45
    raw = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert raw["workspace"]["default_backend"] == "daytona"
    assert "api_key" not in raw.get("backends", {}).get("daytona", {})
    with pytest.raises(NexusError) as bad_value:
        cm.set("workspace.default_backend", "podman")
    assert bad_value.value.code == ErrorCode.INVALID_CONFIG
    assert "default_backend" in bad_value.value.message
    with pytest.raises(NexusError) as bad_key:
        cm.set("workspace.nope", "1")
    assert bad_key.value.code == ErrorCode.INVALID_CONFIG
    # the failed sets changed nothing
    assert cm.get("workspace.default_backend") == "daytona"


def test_secrets_are_masked(tmp_path: Path) -> None:
    cm = manager(tmp_path, {"DAYTONA_API_KEY": "dtn_topsecret"})
    assert cm.get("backends.daytona.api_key") == MASK
    listing = cm.list()
    assert listing["backends.daytona.api_key"] == MASK
    assert "dtn_topsecret" not in repr(listing)
    assert "dtn_topsecret" not in repr(cm.get("backends.daytona"))


def test_v1_file_is_migrated_with_a_backup(tmp_path: Path) -> None:
    v1 = {
        "workspace": {"default_backend": "docker", "default": "old", "auto_start": False},
        "daemon": {"host": "localhost", "port": 8080},
        "telemetry": {"enabled": True},
        "backends": {
            "docker": {"enabled": True},
            "daytona": {"api_url": "https://x/api", "api_key": "${DAYTONA_API_KEY}"},
        },
    }
    original = yaml.safe_dump(v1)
    (tmp_path / "config.yaml").write_text(original)
    config = manager(tmp_path).load()
    assert config.version == "2"
    assert config.workspace.auto_start is False
    assert config.backends.daytona.api_url == "https://x/api"
    assert (tmp_path / "config.yaml.v1.bak").read_text() == original
    migrated = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert migrated["version"] == "2"
    assert "daemon" not in migrated
    assert migrated["backends"]["daytona"]["api_key"] == "${DAYTONA_API_KEY}"


def test_invalid_yaml_and_unknown_keys_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("version: '2'\nworkspace: [unclosed\n")
    with pytest.raises(NexusError) as broken:
        manager(tmp_path).load()
    assert broken.value.code == ErrorCode.INVALID_CONFIG
    (tmp_path / "config.yaml").write_text("version: '2'\nworkspace:\n  colour: blue\n")
    with pytest.raises(NexusError) as unknown:
        manager(tmp_path).load()
    assert "workspace.colour" in unknown.value.message


def test_a_v2_file_without_version_line_is_kept_whole(tmp_path: Path) -> None:
    text = (
        "workspace:\n  default_backend: docker\n  worktree: false\n"
        "ssh:\n  forward_agent: false\n"
        "backends:\n  docker:\n    base_image: ubuntu:24.04\n"
    )
    (tmp_path / "config.yaml").write_text(text)
    config = manager(tmp_path).load()
    assert config.ssh.forward_agent is False
    assert config.workspace.worktree is False
    assert config.backends.docker.base_image == "ubuntu:24.04"
    assert (tmp_path / "config.yaml").read_text() == text  # not rewritten
    assert not list(tmp_path.glob("*.bak"))


def test_explicit_v1_is_migrated_and_backups_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text('version: "1"\nworkspace:\n  default_backend: docker\n')
    manager(tmp_path).load()
    (tmp_path / "config.yaml").write_text('version: "1"\ntelemetry:\n  enabled: true\n')
    manager(tmp_path).load()
    backups = sorted(p.name for p in tmp_path.glob("config.yaml.v1*.bak"))
    assert len(backups) == 2


def test_a_retired_key_is_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Never accepted and silently ignored, never a refused config: read without it, and said."""
    paths = NexusPaths(tmp_path / ".nexus")
    paths.home.mkdir(parents=True)
    paths.config_file.write_text(
        'version: "2"\nbackends:\n  daytona:\n    sync:\n'
        "      use_file_api_threshold: 7\n      use_process_api_threshold: 5\n"
    )
    with caplog.at_level("WARNING"):
        config = ConfigManager(paths, {}).load()
    assert config.backends.daytona.sync.use_file_api_threshold == 7
    assert "use_process_api_threshold" in caplog.text and "no longer a setting" in caplog.text
