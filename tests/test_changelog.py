"""Releases: one version (niaouli/__init__.py, read by pyproject.toml) that CHANGELOG.md
knows, so that "the previous release" exists (issue 17 §6)."""

from __future__ import annotations

import re
from importlib.metadata import version

from packaging.version import Version

import niaouli
from tests.conftest import REPO


def test_the_version_is_one_and_the_changelog_lists_the_releases():
    assert version("niaouli") == niaouli.__version__
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, re.MULTILINE)
    assert headings[0] == ("Unreleased", "")
    released = [Version(name) for name, day in headings[1:] if day]
    assert released and released == sorted(released, reverse=True)
    assert Version(niaouli.__version__) > released[0]  # a development version after it
