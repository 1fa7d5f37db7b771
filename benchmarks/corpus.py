"""The Debian bookworm corpus as Nix would see it (see corpus/README.md).

Each Debian package becomes a store path ``/nix/store/<hash>-<name>-<version>``
whose hash depends only on name and version, so the same package has the same
path in every image, as in one nixpkgs revision.  ``image_document`` gives the
``.attrs.json`` document Nix writes for ``exportReferencesGraph`` over a
request's packages; ``image_graph`` the engine's :class:`Graph` read from it.
"""

import gzip
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

from group_layers import validate

HERE = Path(__file__).resolve().parent / "corpus"
NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"
_INVALID = re.compile(r"[^A-Za-z0-9+\-._?=]")


def label(name, version):
    """A store path's name (and popularity's key) for a package."""
    return _INVALID.sub("_", f"{name}-{version}")


def store_path(name, version, salt=""):
    """The package's store path; ``salt`` stands for a change in its inputs
    (a rebuilt dependency) that gives it a new hash under the same name."""
    digest = hashlib.sha256((label(name, version) + salt).encode()).digest()
    digits = "".join(NIX32[b % 32] for b in digest[:32])
    return f"/nix/store/{digits}-{label(name, version)}"


class Corpus:
    """Packages, their store paths and closures, popularity and workloads."""

    def __init__(self, directory=HERE):
        directory = Path(directory)
        with gzip.open(directory / "debian-bookworm.json.gz") as f:
            self.packages = json.load(f)["packages"]
        with gzip.open(directory / "debian-bookworm-popularity.json.gz") as f:
            self.popularity = json.load(f)
        self.requests = json.loads((directory / "requests-public.json").read_text())["requests"]
        self.directory = directory
        self.path = {n: store_path(n, p["version"]) for n, p in self.packages.items()}

    def closure(self, names):
        """Package names in the closure of ``names``, sorted."""
        seen, stack = set(), list(names)
        while stack:
            name = stack.pop()
            if name not in seen:
                seen.add(name)
                stack.extend(self.packages[name]["deps"])
        return sorted(seen)

    @lru_cache(maxsize=None)
    def _closure_size(self, name):
        return sum(self.packages[n]["size"] for n in self.closure([name]))

    def image_document(self, request):
        """The structured-attrs document Nix exports for an image of ``request``."""
        entries = []
        for name in self.closure(request):
            path = self.path[name]
            deps = self.packages[name]["deps"]
            entries.append({
                "path": path,
                "narSize": self.packages[name]["size"],
                "closureSize": self._closure_size(name),
                "narHash": "sha256:" + hashlib.sha256(path.encode()).hexdigest(),
                "references": sorted({path, *(self.path[d] for d in deps)}),
            })
        return {
            "exportReferencesGraph": {"graph": [self.path[n] for n in request]},
            "graph": entries,
        }

    def image_graph(self, request):
        """The engine's :class:`Graph` of an image of ``request``, read from its
        ``.attrs.json`` document and validated as the command would."""
        return validate.graph(self.image_document(request), "+".join(request) + ".attrs.json")
