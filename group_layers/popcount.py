"""Popularity data: the one counting rule of ``group-layers popcount``.

For each package name (a store path without store dir and hash, Nixery's
``name-version``), the number of roots that have a path of that name in their
closure.  A root counts once however often it is given, and a name counts
once per root however many of its paths the closure holds.  Both sources of
closures use this module: graph files (``popcount GRAPH...``, in ``cli.py``)
and a Nix binary cache (``popcount --cache``, in ``popcount_cache.py``), so
that for the same closures they write byte-identical files.

Closures are walked over integer indices: ``refs[i]`` are the indices path
``i`` references and ``names[i]`` its package name.
"""

import json
from collections import Counter


def closure(refs, root):
    """The set of indices in the closure of ``root`` (``root`` included)."""
    seen, stack = {root}, [root]
    while stack:
        for r in refs[stack.pop()]:
            if r not in seen:
                seen.add(r)
                stack.append(r)
    return seen


class Tally:
    """Counts accumulated over roots, each distinct root path counted once."""

    def __init__(self):
        self.counts, self.counted = Counter(), set()

    def add(self, root_path, names, refs, root):
        """Count the names in the closure of ``root`` (whose path is
        ``root_path``) unless that root path was counted before."""
        if root_path in self.counted:
            return
        self.counted.add(root_path)
        self.counts.update({names[i] for i in closure(refs, root)})

    def render(self):
        """The popularity file: ``{"name-version": count}``, keys sorted, one a line."""
        return json.dumps(dict(sorted(self.counts.items())), indent=0) + "\n"
