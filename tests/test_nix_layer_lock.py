"""The layer lock through Nix: ``-A lock`` writes it, ``layerLock`` reads it,
and an image that gains a package keeps every old layer's digest, in order,
with the grouping read back at evaluation time or made at build time."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from nix_support import NIX_OPTIONS, REPO, nix_environment

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build is not installed")

BEFORE = ["hello", "python3Packages.requests"]
AFTER = BEFORE + ["bashInteractive"]


def nix_build(*args):
    proc = subprocess.run(["nix-build", "--no-out-link", *NIX_OPTIONS, *args], cwd=REPO,
                          env=nix_environment(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout.strip()


def image_args(names, *more):
    return ["--argstr", "name", "app", "--argstr", "packages", json.dumps(names), "--arg", "maxLayers", "4", *more]


def store_digests(manifest_output):
    """The digests of the image's store layers, in order (the customisation layer left out)."""
    return [layer["digest"] for layer in json.loads(Path(manifest_output).read_text())["manifest"]["layers"][:-1]]


@pytest.mark.parametrize("at_build_time", [False, True], ids=["evaluation time", "build time"])
def test_adding_a_package_keeps_every_old_layer_digest(at_build_time, tmp_path):
    more = ["--arg", "groupAtBuildTime", "true"] if at_build_time else []
    lock_file = tmp_path / "layers.lock"
    lock_arg = ["--arg", "layerLock", str(lock_file)]  # not there yet: the first build
    before = store_digests(nix_build("-A", "buildImage", *image_args(BEFORE, *more, *lock_arg)))
    lock_file.write_text(Path(nix_build("-A", "lock", *image_args(BEFORE, *more, *lock_arg))).read_text())
    written = json.loads(lock_file.read_text())
    assert written["version"] == 1 and list(written["images"]) == ["app"]

    locked = store_digests(nix_build("-A", "buildImage", *image_args(AFTER, *more, *lock_arg)))
    scratch = store_digests(nix_build("-A", "buildImage", *image_args(AFTER, *more)))
    assert len(locked) <= 3
    # at its budget, the image makes room for what is new with one old layer
    kept = [d for d in locked if d in before]
    assert kept == [d for d in before if d in locked] and len(kept) >= len(before) - 1
    assert locked[: len(kept)] == kept  # old layers first, in their order: ChainIDs reused
    assert len(kept) > sum(d in before for d in scratch)


def test_a_bad_lock_fails_the_build_with_one_line(tmp_path):
    lock_file = tmp_path / "layers.lock"
    lock_file.write_text(json.dumps({"version": 2, "images": {}}))
    proc = subprocess.run(["nix-build", "--no-out-link", *NIX_OPTIONS, "-A", "buildImage",
                           *image_args(BEFORE, "--arg", "layerLock", str(lock_file))],
                          cwd=REPO, env=nix_environment(), capture_output=True, text=True)
    assert proc.returncode != 0
    assert "layers.lock: /version: lock version 2 is not supported" in proc.stderr
