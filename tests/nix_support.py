"""How the tests call Nix: the one place that says which options and which
environment every Nix command of the test suite gets.

Every test that runs nix, nix-build, nix-instantiate or nix-store takes its
options from ``NIX_OPTIONS`` and its environment from ``nix_environment``, so
that a change of how Nix is run (another Nix, the sandbox, another package
set) is made here once and reaches all of them.

The build sandbox follows ``GROUP_LAYERS_NIX_SANDBOX``: ``true`` or ``false``
(scripts/test runs the Nix tests both ways), unset for Nix's own setting.
With the sandbox on, the offline package set, which wraps the host's tools
(/bin/bash, /usr/bin/tar, Debian's python3), needs them inside the sandbox:
``HOST_TOOL_PATHS`` are bind-mounted there with ``extra-sandbox-paths``.
Real nixpkgs needs none of this.

nixpkgs' real lib (the module system, for the NixOS modules' tests) is
looked for here too, once: ``nixpkgs_lib()``, also as
``python3 tests/nix_support.py nixpkgs-lib`` for scripts/trixie-root.
"""

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE_PKGS = REPO / "tests" / "fixture-pkgs"


def _sandbox_path(path):
    """An extra-sandbox-paths entry for ``path``, mounted as what it resolves
    to (``/bin/sh=/usr/bin/dash``, ``/lib=/usr/lib`` on a merged-/usr
    system): Nix 2.26 can't mount a symlink."""
    real = os.path.realpath(path)
    return path if real == path else f"{path}={real}"


# What the offline package set's builders use from the host: its shells by
# name, the folders of its programs and libraries, and the CA bundle that
# Debian's pip (trixie's) reads as it starts. Not /bin itself:
# Nix (2.26 on Debian, upstream's default too) puts its own /bin/sh in the
# sandbox, creating the file it mounts over, and in a /bin mounted from the
# host that would be the host's own shell, emptied.
HOST_TOOL_PATHS = " ".join(
    _sandbox_path(p) for p in ("/bin/bash", "/bin/sh", "/usr", "/lib", "/lib64",
                                            "/etc/ssl/certs/ca-certificates.crt") if os.path.exists(p))

SANDBOX = os.environ.get("GROUP_LAYERS_NIX_SANDBOX", "")
if SANDBOX not in ("", "true", "false"):
    raise ValueError(f"GROUP_LAYERS_NIX_SANDBOX is {SANDBOX!r}, it must be true, false or unset")

# Settings for every Nix command: no binary cache (there is none offline),
# and the sandbox as asked.
_SETTINGS = [("substituters", ""), ("extra-sandbox-paths", HOST_TOOL_PATHS)]
if SANDBOX:
    _SETTINGS.append(("sandbox", SANDBOX))

# As command-line options.
NIX_OPTIONS = [arg for name, value in _SETTINGS for arg in ("--option", name, value)]
# The same for `nix` commands that need flakes.
FLAKE_OPTIONS = ["--extra-experimental-features", "nix-command flakes", *NIX_OPTIONS]
# The same as configuration, for Nix commands started by the programs under
# test (nix run, the wrapper's nix-build).
NIX_CONFIG = "experimental-features = nix-command flakes\n" + "".join(
    f"{name} = {value}\n" for name, value in _SETTINGS)


def nix_environment(nix_path=f"nixpkgs={FIXTURE_PKGS}", home=None):
    """The environment of a Nix command: the caller's, without its NIX_*
    variables, with NIX_PATH set (the offline package set unless told
    otherwise; None for no NIX_PATH at all) and, when given, a HOME of its
    own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIX_")}
    if nix_path is not None:
        env["NIX_PATH"] = nix_path
    env["NIX_CONFIG"] = NIX_CONFIG
    if home is not None:
        env.update(HOME=str(home), XDG_CACHE_HOME=str(Path(home) / "cache"))
    return env


# nixpkgs' lib ------------------------------------------------------------------

# What a test that needs nixpkgs' lib says when it skips.
NO_NIXPKGS_LIB = ("nixpkgs' lib not found: set NIXPKGS_LIB to a nixpkgs checkout (looked at NIXPKGS_LIB, "
                  "<nixpkgs> on NIX_PATH, the flake's locked nixpkgs, ../shared/nixpkgs-lib)")
# How long a lookup may wait on Nix (a NIX_PATH or a lock that needs the
# network): it gives up after that, never hangs.
LOOKUP_TIMEOUT = 30


class NixpkgsLibError(ValueError):
    """NIXPKGS_LIB is set to a folder that is not nixpkgs."""


def _is_nixpkgs(folder):
    return folder is not None and (Path(folder) / "lib" / "modules.nix").is_file()


def _nix_output(cmd):
    """stdout of a Nix command on the caller's own NIX_PATH, or None when it
    fails, is missing or takes longer than LOOKUP_TIMEOUT."""
    try:
        proc = subprocess.run([*cmd, "--option", "connect-timeout", "5"], capture_output=True, text=True,
                              timeout=LOOKUP_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _on_nix_path():
    """<nixpkgs> as the caller's NIX_PATH (or Nix's default) finds it."""
    return _nix_output(["nix-instantiate", "--find-file", "nixpkgs"])


def _locked_input():
    """The flake's nixpkgs input as flake.lock pins it, when a lock exists
    (none is committed) and Nix has or can fetch that tree."""
    lock = REPO / "flake.lock"
    if not lock.is_file():
        return None
    expr = (f"let lock = builtins.fromJSON (builtins.readFile {json.dumps(str(lock))}); "
            "in (builtins.fetchTree lock.nodes.${lock.nodes.${lock.root}.inputs.nixpkgs}.locked).outPath")
    return _nix_output(["nix", "--extra-experimental-features", "nix-command flakes", "eval", "--raw",
                        "--impure", "--expr", expr])


def _beside_checkout():
    return REPO.parent / "shared" / "nixpkgs-lib"


@functools.lru_cache(maxsize=None)
def nixpkgs_lib():
    """The folder that holds nixpkgs' real lib/ (it has lib/modules.nix), as
    its canonical path (restricted evaluation allows what -I names, and
    refuses a path reached through a symlink), or None. Looked for in this
    order: $NIXPKGS_LIB (an error if it is set and no nixpkgs); <nixpkgs>
    on NIX_PATH, where that is real nixpkgs (the offline set is not); the
    flake's locked nixpkgs input, where flake.lock exists and the tree can
    be had; ../shared/nixpkgs-lib beside the checkout."""
    if os.environ.get("NIXPKGS_LIB"):
        path = Path(os.environ["NIXPKGS_LIB"]).resolve()
        if not _is_nixpkgs(path):
            raise NixpkgsLibError(f"NIXPKGS_LIB={os.environ['NIXPKGS_LIB']} has no lib/modules.nix: "
                                  "it must name a nixpkgs checkout")
        return path
    for find in (_on_nix_path, _locked_input, _beside_checkout):
        path = find()
        if _is_nixpkgs(path):
            return Path(path).resolve()
    return None


def require_nixpkgs_lib():
    """nixpkgs_lib() for a test that needs it: the test skips, with one line
    naming NIXPKGS_LIB, where there is none (an error under CI=true: see
    conftest.py)."""
    import pytest

    found = nixpkgs_lib()
    if found is None:
        pytest.skip(NO_NIXPKGS_LIB)
    return found


if __name__ == "__main__":
    # python3 tests/nix_support.py nixpkgs-lib: prints nixpkgs_lib(); exit 1
    # when there is none, 2 when NIXPKGS_LIB names no nixpkgs.
    if sys.argv[1:] != ["nixpkgs-lib"]:
        sys.exit("usage: python3 tests/nix_support.py nixpkgs-lib")
    try:
        found = nixpkgs_lib()
    except NixpkgsLibError as error:
        print(f"nix_support: {error}", file=sys.stderr)
        sys.exit(2)
    if found is None:
        sys.exit(1)
    print(found)
