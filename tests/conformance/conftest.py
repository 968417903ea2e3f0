"""The Daytona half runs against the emulator: the same fixtures as the Daytona backend tests."""

from tests.daytona_backend.conftest import bare_repos, daytona_env, emulator

__all__ = ["bare_repos", "daytona_env", "emulator"]
