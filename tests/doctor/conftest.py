"""The Daytona emulator and `daytona_env` for doctor's Daytona checks."""

from tests.daytona_backend.conftest import bare_repos, daytona_env, emulator

__all__ = ["bare_repos", "daytona_env", "emulator"]
