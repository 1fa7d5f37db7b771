"""Where the tests find nixpkgs' lib (nix_support.nixpkgs_lib), tried in a
copy of the checkout with nothing beside it, as a fresh clone is: its
module tests skip naming NIXPKGS_LIB (and fail the run under CI=true), and
each place of the lookup is found, in its order."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from nix_support import FIXTURE_PKGS, REPO, require_nixpkgs_lib

pytestmark = pytest.mark.skipif(shutil.which("nix-instantiate") is None, reason="nix is not installed")


@pytest.fixture
def clone(tmp_path):
    """A copy of the checkout at TMP/lone/group-layers: nothing beside it."""
    root = tmp_path / "lone" / "group-layers"
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", "result*"))
    return root


def environment(**extra):
    """The caller's environment with no NIXPKGS_LIB, CI or NIX_PATH of its own
    (an empty NIX_PATH: no <nixpkgs>), then EXTRA."""
    env = {k: v for k, v in os.environ.items() if k not in ("NIXPKGS_LIB", "CI", "NIX_PATH")}
    return {**env, "NIX_PATH": "", **extra}


def lookup(clone, **extra):
    proc = subprocess.run([sys.executable, clone / "tests" / "nix_support.py", "nixpkgs-lib"],
                          env=environment(**extra), capture_output=True, text=True)
    return proc.returncode, proc.stdout.strip(), proc.stderr.strip()


def test_a_fresh_clone_skips_the_module_tests_naming_nixpkgs_lib(clone):
    test = ["tests/test_nixos_stream.py"]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *test],
                          cwd=clone, env=environment(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    skips = [line for line in proc.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skips and all("set NIXPKGS_LIB" in line for line in skips), proc.stdout[-3000:]
    assert " passed" not in proc.stdout and " failed" not in proc.stdout
    # CI never skips them silently.
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *test],
                          cwd=clone, env=environment(CI="true"), capture_output=True, text=True)
    assert proc.returncode != 0 and "CI run without nixpkgs' lib" in proc.stdout + proc.stderr


def test_nothing_found_and_a_wrong_nixpkgs_lib(clone, tmp_path):
    assert lookup(clone) == (1, "", "")
    # The offline set on NIX_PATH is no nixpkgs (it has no lib/modules.nix).
    assert lookup(clone, NIX_PATH=f"nixpkgs={FIXTURE_PKGS}") == (1, "", "")
    code, out, err = lookup(clone, NIXPKGS_LIB=str(tmp_path))
    assert (code, out) == (2, "") and err == f"nix_support: NIXPKGS_LIB={tmp_path} has no lib/modules.nix: " \
                                             "it must name a nixpkgs checkout"


def test_the_lookup_order(clone, tmp_path):
    real = require_nixpkgs_lib()
    # Four copies of nixpkgs' lib, one for each place.
    given, on_path, locked, beside = (tmp_path / name for name in ("given", "on-path", "locked", "beside"))
    for copy in (given, on_path, locked):
        shutil.copytree(real, copy, symlinks=True)
    (clone.parent / "shared").mkdir()
    shutil.copytree(real, clone.parent / "shared" / "nixpkgs-lib", symlinks=True)
    beside = (clone.parent / "shared" / "nixpkgs-lib").resolve()
    assert lookup(clone) == (0, str(beside), "")
    # A lock of the flake's nixpkgs input (here a local tree, as
    # `--override-input nixpkgs path:...` locks it): Nix copies it to the store.
    nar_hash = subprocess.run(["nix", "--extra-experimental-features", "nix-command", "hash", "path", "--sri",
                               locked], capture_output=True, text=True, check=True).stdout.strip()
    (clone / "flake.lock").write_text(json.dumps({
        "nodes": {"nixpkgs": {"locked": {"type": "path", "path": str(locked), "narHash": nar_hash}},
                  "root": {"inputs": {"nixpkgs": "nixpkgs"}}},
        "root": "root", "version": 7}))
    code, out, _ = lookup(clone)
    assert code == 0 and out.startswith("/nix/store/") and os.path.isfile(f"{out}/lib/modules.nix")
    assert lookup(clone, NIX_PATH=f"nixpkgs={on_path}") == (0, str(on_path), "")
    assert lookup(clone, NIX_PATH=f"nixpkgs={FIXTURE_PKGS}")[1] == out
    assert lookup(clone, NIX_PATH=f"nixpkgs={on_path}", NIXPKGS_LIB=str(given)) == (0, str(given), "")
