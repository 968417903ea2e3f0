import pytest

from nexus.domain.errors import ErrorCode, ExitCode, NexusError
from nexus.domain.names import validate_name


@pytest.mark.parametrize("name", ["a", "my-feature", "x1", "a" * 63, "0abc", "a-b-c"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "BAD", "-lead", "trail-", "a_b", "a.b", "a" * 64, "ümlaut", "a b", "nexus/x"]
)
def test_invalid_names_raise_invalid_name(name: str) -> None:
    with pytest.raises(NexusError) as info:
        validate_name(name)
    assert info.value.code == ErrorCode.INVALID_NAME
    assert info.value.exit_code == ExitCode.USAGE
    assert info.value.resolution
