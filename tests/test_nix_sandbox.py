"""The build sandbox and the offline package set: with the sandbox on, a
builder that runs the host's /bin/bash (as the offline package set's do)
fails unless nix_support.HOST_TOOL_PATHS are in the sandbox, and works with
them. Run under each Nix scripts/test uses, whatever GROUP_LAYERS_NIX_SANDBOX
says: the sandbox is asked for here explicitly."""

import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from nix_support import HOST_TOOL_PATHS, nix_environment

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build is not installed")

# A new derivation each run (a fresh name), so that it is really built.
HOST_BASH_BUILD = """
derivation {
  name = "sandbox-probe-%s";
  system = builtins.currentSystem;
  builder = "/bin/bash";
  args = [ "-c" "/usr/bin/tar --version > $out; exit 0" ];
}
"""


def build_in_sandbox(tmp_path, *sandbox_options):
    expr = tmp_path / "probe.nix"
    expr.write_text(HOST_BASH_BUILD % uuid.uuid4().hex)
    env = nix_environment()
    env["NIX_CONFIG"] = "substituters =\n"  # without the sandbox paths nix_support adds
    return subprocess.run(["nix-build", "--no-out-link", "--option", "sandbox", "true", *sandbox_options,
                           str(expr)], env=env, capture_output=True, text=True)


def test_host_tools_are_missing_in_a_bare_sandbox(tmp_path):
    proc = build_in_sandbox(tmp_path)
    assert proc.returncode != 0
    assert "/bin/bash" in proc.stderr


def test_host_tool_paths_make_them_visible_and_leave_them_intact(tmp_path):
    """Nix puts its own /bin/sh into the sandbox (2.26 on Debian): the host's
    shell, which HOST_TOOL_PATHS also mount, must come out of it unchanged."""
    shell = Path(os.path.realpath("/bin/sh"))
    before = hashlib.sha256(shell.read_bytes()).hexdigest()
    proc = build_in_sandbox(tmp_path, "--option", "extra-sandbox-paths", HOST_TOOL_PATHS)
    assert proc.returncode == 0, proc.stderr
    with open(proc.stdout.strip()) as out:
        assert "GNU tar" in out.read()
    assert hashlib.sha256(shell.read_bytes()).hexdigest() == before
