"""The CLI's names for request options the service's errors speak of."""

from __future__ import annotations

from collections.abc import Iterable

# options of commands other than create (create's come from nexus.domain.create_options)
_OTHER_FLAGS = {
    "force": "--force",
    "forget": "--forget",
    "mode": "--mode",
    "keep_branch": "--keep-branch",
}


def flags_of(options: Iterable[str]) -> list[str]:
    from ..domain.create_options import OPTION_BY_FIELD

    flags: list[str] = []
    for option in options:
        spec = OPTION_BY_FIELD.get(option)
        flag = spec.flag if spec is not None and spec.flag else _OTHER_FLAGS.get(option)
        flag = flag or "--" + option.replace("_", "-")
        if flag not in flags:
            flags.append(flag)
    return flags
