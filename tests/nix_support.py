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
"""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE_PKGS = REPO / "tests" / "fixture-pkgs"
# nixpkgs' real lib, for the NixOS modules' tests (lib.evalModules), read in
# place: the folder that holds lib/ ($NIXPKGS_LIB, or ../shared/nixpkgs-lib
# beside the checkout), as its canonical path: restricted evaluation allows
# what -I names, and refuses a path reached through a symlink.
NIXPKGS_LIB = Path(os.environ.get("NIXPKGS_LIB", REPO.parent / "shared" / "nixpkgs-lib")).resolve()


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
