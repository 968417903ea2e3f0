"""docs/provider-reference.md is the registry's own reference: regenerate it when it drifts
(`python -m nexus.cli.provider_reference > docs/provider-reference.md`)."""

from __future__ import annotations

from pathlib import Path

from nexus.cli.provider_reference import render

PAGE = Path(__file__).resolve().parents[2] / "docs" / "provider-reference.md"


def test_the_reference_page_is_current() -> None:
    assert PAGE.read_text() == render()
