"""Shared test setup: in CI the Nix and image tests must run, never skip.

The Nix-dependent test files skip themselves where ``nix-build`` (or skopeo,
podman) is absent, for a developer without Nix, and the NixOS modules' tests
where nixpkgs' lib is not found (nix_support.require_nixpkgs_lib); CI installs them
and has the lib, so there a missing tool or lib is an error rather than a
quietly green run."""

import os
import shutil

import pytest

import nix_support

CI_TOOLS = ("nix-build", "nix", "skopeo", "umoci", "podman", "systemd-analyze", "docker-registry")


def pytest_sessionstart(session):
    if os.environ.get("CI"):
        missing = [tool for tool in CI_TOOLS if shutil.which(tool) is None]
        if missing:
            raise pytest.UsageError(f"CI run without {', '.join(missing)}: the Nix tests would be skipped")
        if nix_support.nixpkgs_lib() is None:
            raise pytest.UsageError(f"CI run without nixpkgs' lib: {nix_support.NO_NIXPKGS_LIB}")

