"""Package-set updates: how much is downloaded again after one.

An update bumps some packages (a new version, so a new name) and, as Nix
hashes propagate, gives every package that needs one of them, directly or not,
a new store path under its old name.  The user has pulled the whole workload
before the update; they pull it again after, with the old layers cached:

    update efficiency = new bytes / bytes pulled after the update

where the new bytes are the distinct paths of the new images that no old image
had: what one layer per path would pull.  Updates are named (one low-level
library bumped) or random (a share of the whole archive, over several seeds;
pooled = summed new bytes / summed pulled bytes, with the range over seeds).

Popularity after the update is *fresh* (recounted: a bumped package keeps its
count under its new name) or *stale* (the file from before: bumped packages
are missing from it).
"""

import copy
import random
from functools import lru_cache

from .corpus import label, store_path

NAMED = ("zlib1g", "libssl3", "libsqlite3-0")
RATES = (0.01, 0.001)
SEEDS = range(10)


@lru_cache(maxsize=None)
def _needed_by(corpus):
    users = {}
    for name, package in corpus.packages.items():
        for dep in package["deps"]:
            users.setdefault(dep, []).append(name)
    return users


def updated(corpus, bumped, tag="u1"):
    """``(corpus after the update, stale popularity)``: the corpus copy has the
    new store paths and fresh popularity (``corpus`` may be an updated one:
    each update needs its own ``tag``)."""
    users = _needed_by(corpus)
    changed, stack = set(), list(bumped)
    while stack:
        name = stack.pop()
        if name not in changed:
            changed.add(name)
            stack.extend(users.get(name, ()))
    new = copy.copy(corpus)
    new.path = dict(corpus.path)
    new.popularity = dict(corpus.popularity)
    for name in sorted(changed):
        old = corpus.path[name].split("-", 1)[1]  # its label now: bumped before, perhaps
        version = old[len(name) + 1 :]
        if name in bumped:
            version += "+" + tag
            if old in new.popularity:
                new.popularity[label(name, version)] = new.popularity.pop(old)
        new.path[name] = store_path(name, version, salt=tag)
    return new, corpus.popularity


def random_bump(corpus, rate, seed):
    """``rate`` of the archive's packages, drawn with ``seed``."""
    names = sorted(corpus.packages)
    return set(random.Random(seed).sample(names, max(1, round(rate * len(names)))))


def scenarios(corpus):
    """``{group: [(label, bumped names)]}``: the named updates and each rate's seeds."""
    found = {"named": [(name, {name}) for name in NAMED]}
    for rate in RATES:
        found[f"random {rate:.1%}"] = [(f"seed {s}", random_bump(corpus, rate, s)) for s in SEEDS]
    return found


def new_bytes(old_graphs, new_graphs):
    """Bytes of the distinct paths of ``new_graphs`` that no old graph had."""
    old = {p for g in old_graphs for p in g.paths}
    fresh = {}
    for g in new_graphs:
        fresh.update((p, s) for p, s in zip(g.paths, g.nar_size) if p not in old)
    return sum(fresh.values())


def pooled(pairs):
    """``(pooled, lowest, highest)`` efficiency of ``[(new, pulled)]``."""
    ratios = [new / pulled if pulled else 1.0 for new, pulled in pairs]
    total = sum(p for _, p in pairs)
    return (sum(n for n, _ in pairs) / total if total else 1.0), min(ratios), max(ratios)
