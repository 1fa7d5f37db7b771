"""scripts/test's steps, in a copy of the checkout whose tests are two tiny
files (an engine one that passes or fails, and a Nix one): every step runs
whatever the one before gave, the run fails at the end if one failed, and
the current-Nix step runs on the host where its Nix is >= 2.18, and where
the trixie root cannot be made (no mirror answers) is skipped with one line
saying why, a failure under CI=true."""

import os
import shutil
import subprocess

import pytest

from nix_support import REPO, require_nixpkgs_lib

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="scripts/test runs as root")

ENGINE_TEST = "def test_engine():\n    assert {ok}\n"
NIX_TEST = "from nix_support import REPO, require_nixpkgs_lib\n\n\ndef test_nix():\n    assert REPO.is_dir()\n"


def checkout(root, engine_ok=True, nix_version=None):
    """A copy of scripts/ and the tests' support with two tiny tests; with a
    `nix` first on PATH that says it is NIX_VERSION, if given."""
    shutil.copytree(REPO / "scripts", root / "scripts")
    (root / "tests").mkdir()
    for name in ("conftest.py", "nix_support.py"):
        shutil.copy2(REPO / "tests" / name, root / "tests" / name)
    (root / "tests" / "test_engine_tiny.py").write_text(ENGINE_TEST.format(ok=engine_ok))
    (root / "tests" / "test_registry_parts.py").write_text(ENGINE_TEST.format(ok=True))
    (root / "tests" / "test_nix_tiny.py").write_text(NIX_TEST)
    path = os.environ["PATH"]
    if nix_version:
        (root / "bin").mkdir()
        (root / "bin" / "nix").write_text(f"#!/bin/sh\necho 'nix (Nix) {nix_version}'\n")
        (root / "bin" / "nix").chmod(0o755)
        path = f"{root / 'bin'}:{path}"
    return path


def scripts_test(root, path, **env):
    environment = {k: v for k, v in os.environ.items() if k not in ("CI", "GROUP_LAYERS_SKIP_CURRENT_NIX")}
    # No trixie root, and a mirror that never answers.
    environment.update(PATH=path, TRIXIE_ROOT=str(root / "no-root"), DEBIAN_MIRROR="http://127.0.0.1:9/debian",
                       **env)
    proc = subprocess.run([root / "scripts" / "test"], env=environment, capture_output=True, text=True,
                          timeout=600)
    return proc.returncode, proc.stderr


def test_without_a_mirror_the_current_nix_step_is_skipped_saying_why(tmp_path):
    if shutil.which("nix") is None:
        pytest.skip("nix is not installed")
    path = checkout(tmp_path, nix_version="2.8.0")
    code, err = scripts_test(tmp_path, path)
    assert code == 0, err
    assert ("scripts/test: the Nix tests under a current Nix skipped: no Debian mirror answers at "
            "http://127.0.0.1:9/debian (set DEBIAN_MIRROR, or TRIXIE_ROOT to a root made elsewhere)\n") in err
    assert err.rstrip().endswith("all passed")
    assert not (tmp_path / "no-root").exists()
    # Under CI=true that is a failure.
    code, err = scripts_test(tmp_path, path, CI="true", NIXPKGS_LIB=str(require_nixpkgs_lib()))
    assert code == 1
    assert ("scripts/test: the Nix tests under a current Nix cannot run: no Debian mirror answers at "
            "http://127.0.0.1:9/debian (set DEBIAN_MIRROR, or TRIXIE_ROOT to a root made elsewhere) "
            "(CI=true: that is a failure)\n") in err
    assert err.rstrip().endswith("failed: the Nix tests under a current Nix;")


def test_a_failed_step_does_not_stop_the_others(tmp_path):
    path = checkout(tmp_path, engine_ok=False, nix_version="2.8.0")
    code, err = scripts_test(tmp_path, path, GROUP_LAYERS_SKIP_CURRENT_NIX="1")
    assert code == 1
    assert "scripts/test: the Nix tests under a current Nix skipped: GROUP_LAYERS_SKIP_CURRENT_NIX is set" in err
    assert "failed: " in err and "all tests;" in err


def test_a_current_host_nix_is_the_current_nix_run(tmp_path):
    path = checkout(tmp_path, nix_version="2.26.3")
    code, err = scripts_test(tmp_path, path)
    assert code == 0, err
    assert ("scripts/test: the host's Nix 2.26.3 is current (>= 2.18): the run above was the Nix tests under a "
            "current Nix") in err
    assert "no Debian mirror" not in err and not (tmp_path / "no-root").exists()
