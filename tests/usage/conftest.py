"""The Daytona fixtures (the emulator) for the usage tests on Daytona."""

from tests.daytona_backend.conftest import bare_repos, daytona_env, emulator

__all__ = ["bare_repos", "daytona_env", "emulator"]
