"""How the tests call Nix: the one place that says which options and which
environment every Nix command of the test suite gets.

Every test that runs nix, nix-build, nix-instantiate or nix-store takes its
options from ``NIX_OPTIONS`` and its environment from ``nix_environment``, so
that a change of how Nix is run (another Nix, the sandbox, another package
set) is made here once and reaches all of them.
"""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE_PKGS = REPO / "tests" / "fixture-pkgs"

# Options for every Nix command: no binary cache (there is none offline).
NIX_OPTIONS = ["--option", "substituters", ""]
# The same for `nix` commands that need flakes.
FLAKE_OPTIONS = ["--extra-experimental-features", "nix-command flakes", *NIX_OPTIONS]
# The same as configuration, for Nix commands started by the programs under
# test (nix run, the wrapper's nix-build).
NIX_CONFIG = "experimental-features = nix-command flakes\nsubstituters =\n"


def nix_environment(nix_path=f"nixpkgs={FIXTURE_PKGS}", home=None):
    """The environment of a Nix command: the caller's, without its NIX_*
    variables, with NIX_PATH set (the offline package set unless told
    otherwise) and, when given, a HOME of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIX_")}
    env["NIX_PATH"] = nix_path
    env["NIX_CONFIG"] = NIX_CONFIG
    if home is not None:
        env.update(HOME=str(home), XDG_CACHE_HOME=str(Path(home) / "cache"))
    return env
