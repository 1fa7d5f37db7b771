"""nix-build of this repository for the image tests (users, annotations,
base images, multi-arch): the options and environment of nix_support, the
repository's default.nix, no result link."""

import subprocess

from nix_support import NIX_OPTIONS, REPO, nix_environment


def nix_build(*args, cwd=REPO, options=()):
    """The finished nix-build (its output and error text to look at)."""
    return subprocess.run(["nix-build", "--no-out-link", *NIX_OPTIONS, *options, str(REPO), *args], cwd=cwd,
                          env=nix_environment(), capture_output=True, text=True)


def built(*args, options=()):
    """The output path of a nix-build that must succeed."""
    proc = nix_build(*args, options=options)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()
