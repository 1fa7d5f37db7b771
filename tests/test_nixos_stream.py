"""The NixOS module wires oci-containers' imageStream when the system has it
(no image tarball in the system closure), imageFile otherwise or when asked,
evaluated with nixpkgs' real module system (nix_support's
require_nixpkgs_lib)."""

import json
import shutil
import subprocess

import pytest

from nix_support import NIX_OPTIONS, REPO, nix_environment, require_nixpkgs_lib

pytestmark = pytest.mark.skipif(shutil.which("nix-instantiate") is None, reason="nix is not installed")


def evaluate(with_stream, load_with=None):
    args = ["--arg", "withStream", "true" if with_stream else "false"]
    if load_with:
        args += ["--argstr", "loadWith", load_with]
    process = subprocess.run(
        ["nix-instantiate", "--read-write-mode", "--eval", "--strict", "--json", *NIX_OPTIONS, str(REPO / "tests" / "nixos-stream-eval.nix"),
         "--arg", "libPath", str(require_nixpkgs_lib() / "lib"), "--arg", "root", str(REPO), *args],
        env=nix_environment(), capture_output=True, text=True)
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(process.stdout)


def test_module_wires_image_stream_when_nixos_has_it():
    result = evaluate(with_stream=True)
    assert result["imageStream"] == result["stream"]
    assert result["imageFile"] is None
    assert result["image"] == "web:v1"
    # Only the stream is built with the system: no archive in its closure.
    assert result["extraDependencies"] == [result["stream"]]
    stream = subprocess.run(["nix-store", *NIX_OPTIONS, "--realise", result["stream"]], env=nix_environment(),
                            capture_output=True, text=True, check=True).stdout.strip()
    closure = subprocess.run(["nix-store", "--query", "--requisites", stream], capture_output=True, text=True,
                             check=True).stdout.split()
    assert not any(path.endswith(".tar") and "customisation" not in path for path in closure)


def test_module_falls_back_to_image_file_without_image_stream():
    result = evaluate(with_stream=False)
    assert result["imageFile"] == result["archive"] and result["imageStream"] is None
    assert result["extraDependencies"] == [result["archive"]]


def test_image_file_stays_an_option():
    result = evaluate(with_stream=True, load_with="imageFile")
    assert (result["imageFile"], result["imageStream"]) == (result["archive"], None)
