"""Package sources: where the image's packages come from, and what the tag
means for each (Nixery's rules).

- ``nixpkgs`` channel (``NIXERY_CHANNEL``, ``--channel``): a nixpkgs tarball
  of that channel or commit from GitHub; the tag is ignored.
- git repository (``NIXERY_PKGS_REPO``, ``--pkgs-repo``): the tag picks the
  revision: ``latest`` is HEAD, 40 hex digits a commit, anything else a
  branch or tag name.  It is resolved to a commit with ``git ls-remote``
  first, so that the build and the cache key name the same revision.
- local folder (``NIXERY_PKGS_PATH``, ``--pkgs-path``): the tag is ignored.
- none of these: the wrapper's own default package set.

A source is *pinned* when the same name can only ever give the same
packages: a channel given as a commit, a resolved git commit, a folder in
the Nix store.  Built images are reused (cached by packages, revision,
layer budget and popularity) only from a pinned source, as Nixery does; an
unpinned source is built for each request (Nix makes a repeated build cheap).
"""

import asyncio
import os
from dataclasses import dataclass

from .names import COMMIT


class UnknownRevision(Exception):
    """The tag names no revision of the git repository."""


@dataclass(frozen=True)
class Resolved:
    """A source at one revision: the wrapper's ``pkgSource`` argument (None:
    its default) and whether it is pinned."""

    pkg_source: str | None
    pinned: bool


@dataclass(frozen=True)
class Source:
    kind: str  # "channel", "git", "path" or "default"
    location: str | None = None

    async def resolve(self, tag):
        if self.kind == "channel":
            return Resolved(f"nixpkgs!{self.location}", COMMIT.fullmatch(self.location) is not None)
        if self.kind == "git":
            rev = await _git_commit(self.location, tag)
            return Resolved(f"git!{self.location}!{rev}", True)
        if self.kind == "path":
            real = os.path.realpath(self.location)
            return Resolved(f"path!{real}", real.startswith("/nix/store/"))
        return Resolved(None, False)

    def describe(self):
        return self.kind if self.location is None else f"{self.kind} {self.location}"


async def _git_commit(url, tag):
    if COMMIT.fullmatch(tag):
        return tag
    ref = "HEAD" if tag == "latest" else tag
    proc = await asyncio.create_subprocess_exec(
        "git", "ls-remote", "--", url, ref,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        # Not in the server's folder: a repository there (or a broken one,
        # as a worktree whose main repository is not mounted) is no concern.
        cwd="/", env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise UnknownRevision(f"git ls-remote {url}: {err.decode(errors='replace').strip()[-300:]}")
    # An exact ref first (HEAD, refs/heads/x), then a branch, then a tag
    # (an annotated tag's ^{} line is the commit it points at).
    refs = dict(reversed(line.split("\t", 1)) for line in out.decode().splitlines() if "\t" in line)
    for candidate in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"):
        if candidate in refs:
            return refs[candidate]
    raise UnknownRevision(f"{url} has no branch or tag {ref!r}")
