"""Shared test setup: in CI the Nix and image tests must run, never skip.

The Nix-dependent test files skip themselves where ``nix-build`` (or skopeo)
is absent, for a developer without Nix; CI installs them, so there a missing
tool is an error rather than a quietly green run."""

import os
import shutil

import pytest

CI_TOOLS = ("nix-build", "nix", "skopeo", "umoci", "docker-registry")


def pytest_sessionstart(session):
    if os.environ.get("CI"):
        missing = [tool for tool in CI_TOOLS if shutil.which(tool) is None]
        if missing:
            raise pytest.UsageError(f"CI run without {', '.join(missing)}: the Nix tests would be skipped")
