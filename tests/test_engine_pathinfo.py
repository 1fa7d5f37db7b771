"""The engine reads what each Nix version's `nix path-info --json` writes, and
names an invalid path (group_layers/pathinfo.py): fixed documents of each
format, and the real output of the Nix installed here."""

import json
import shutil
import subprocess

import pytest

from engine_support import run, write_json
from nix_support import NIX_OPTIONS, nix_environment

APP = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app-1.0"
LIB = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-lib-2.0"
MISSING = "/nix/store/cccccccccccccccccccccccccccccccc-missing-1.0"

FORMAT_1 = {APP: {"narSize": 1000, "narHash": "sha256-x", "references": [APP, LIB]},
            LIB: {"narSize": 5000, "references": []}}
# --json-format 2 (Nix 2.33): wrapped, paths without the store folder, and
# narHash an object.
FORMAT_2 = {"version": 2, "storeDir": "/nix/store", "info": {
    APP[11:]: {"narSize": 1000, "narHash": {"algorithm": "sha256", "format": "base64", "hash": "x"},
               "references": [APP[11:], LIB[11:]]},
    LIB[11:]: {"narSize": 5000, "references": []}}}


def layers(tmp_path, doc):
    graph = tmp_path / "graph.json"
    write_json(graph, doc)
    return run("--graph", str(graph), "--budget", "2", "--out", "-")


def test_json_format_2_reads_as_format_1(tmp_path):
    one, two = layers(tmp_path, FORMAT_1), layers(tmp_path, FORMAT_2)
    assert one.returncode == two.returncode == 0, two.stderr
    assert one.stdout == two.stdout
    assert {p for layer in json.loads(two.stdout) for p in layer["contents"]} == {APP, LIB}


def test_another_json_format_is_named(tmp_path):
    proc = layers(tmp_path, {**FORMAT_2, "version": 3})
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(
        "/version: nix path-info --json-format 3 is not supported (formats read: 1, the default, and 2)")


@pytest.mark.parametrize("doc, where", [
    ({**FORMAT_1, MISSING: None}, f"/{MISSING.replace('/', '~1')}: null: {MISSING} is not a valid store path"),
    ([{"path": MISSING, "valid": False}], f"/0/valid: false: {MISSING} is not a valid store path"),
], ids=["nix-2.19-and-later", "before-2.19"])
def test_an_invalid_path_is_named(tmp_path, doc, where):
    proc = layers(tmp_path, doc)
    assert proc.returncode == 2
    assert where in proc.stderr and "build or fetch it first" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(shutil.which("nix") is None, reason="nix is not installed")
def test_the_installed_nix_on_a_path_not_in_the_store(tmp_path):
    out = subprocess.run(["nix", "--extra-experimental-features", "nix-command", *NIX_OPTIONS,
                          "path-info", "--json", MISSING], env=nix_environment(),
                         capture_output=True, text=True)
    proc = layers(tmp_path, json.loads(out.stdout))
    assert proc.returncode == 2
    assert f"{MISSING} is not a valid store path" in proc.stderr
