"""Whole-process time and memory on 200,000-path graphs: is the engine linear?

Three shapes, each generated deterministically (a fixed seed):

* ``star``: one root referencing every other path (a package set's
  ``buildEnv``);
* ``chain``: each path referencing the next one, 200,000 deep;
* ``dag``: a random graph of real degree.  Paths are numbered from the
  bottom of the package set up; path ``i`` takes its number of references
  from the corpus' out-degrees (Debian's ``Depends``, drawn at random) and
  picks them among the paths below it, each with a weight that is the
  corpus' in-degree at the same rank (the most depended-on paths are at the
  bottom, as glibc is).  Its closures come out like the corpus': on 63,436
  paths a median of 29 paths and a mean of 59, against 30 and 64 in Debian.

Each is written as ``nix path-info --json --recursive`` prints it (the
object form of Nix 2.19 and later, with ``narHash``, ``deriver``,
``signatures`` ...), once with ``closureSize`` (``-S``) and once without,
and run whole (``python -m group_layers``, start to written output) with and
without a popularity file, by every strategy.  The table gives the wall time
and the peak resident memory against the targets of 5 s and 1 GiB, and the
CPU time (user + system), which a busy machine inflates less.

Run ``python -m benchmarks.scale`` from the repository root (a few minutes;
``--paths N`` for another size, ``--only star,chain`` for some shapes).
"""

import argparse
import bisect
import json
import random
import subprocess
import sys
import tempfile
from collections import Counter
from itertools import accumulate
from pathlib import Path

from group_layers.graph import closure_sizes
from group_layers.strategies import STRATEGIES

from .corpus import Corpus, _store_path
from .progress import Progress
from .speed import run_once

PATHS = 200_000
TARGET_SECONDS, TARGET_MIB = 5.0, 1024
SHAPES = ("star", "chain", "dag")
SEED = 9


class Degrees:
    """What the generator takes from the corpus: out-degrees, in-degrees by
    rank (most depended-on first), sizes and popularity counts."""

    def __init__(self, corpus):
        packages = corpus.packages
        self.out = sorted(len(set(p["deps"])) for p in packages.values())
        users = Counter(d for p in packages.values() for d in set(p["deps"]))
        self.into = sorted((users[name] for name in packages), reverse=True)
        self.sizes = sorted(p["size"] for p in packages.values())
        self.popularity = sorted(corpus.popularity.values(), reverse=True)


def _at_rank(values, i, n):
    """The value at the same relative rank ``i / n`` in ``values``."""
    return values[i * len(values) // n]


def star(n):
    """References: path 0 references every other path."""
    return [list(range(1, n))] + [[] for _ in range(n - 1)]


def chain(n):
    """References: path ``i`` references path ``i + 1``."""
    return [[i + 1] for i in range(n - 1)] + [[]]


def dag(n, degrees, rng):
    """References of a random graph of real degree (see the module docstring);
    path ``i`` references only paths below it."""
    weights = [_at_rank(degrees.into, i, n) for i in range(n)]
    cumulative = list(accumulate(weights))
    drawable = sum(1 for w in weights if w)  # the weighted paths come first
    refs = []
    for i in range(n):
        want = min(rng.choice(degrees.out), i, drawable)
        chosen = set()
        while len(chosen) < want:
            chosen.add(bisect.bisect_right(cumulative, rng.random() * cumulative[i - 1], 0, i))
        refs.append(sorted(chosen))
    return refs


def popularity(shape, n, degrees):
    """Popularity counts by path number: exact for the star (each leaf has the
    root as its one user) and the chain (every path above), the corpus'
    counts at the same rank for the random graph."""
    if shape == "star":
        return [1] + [2] * (n - 1)
    if shape == "chain":
        return [i + 1 for i in range(n)]
    return [_at_rank(degrees.popularity, i, n) for i in range(n)]


def generate(shape, n, degrees, seed=SEED):
    """``(refs, nar sizes)`` of the graph ``shape`` with ``n`` paths."""
    rng = random.Random(f"{shape}-{n}-{seed}")
    refs = {"star": star, "chain": chain}[shape](n) if shape != "dag" else dag(n, degrees, rng)
    sizes = [rng.choice(degrees.sizes) for _ in range(n)]
    return refs, sizes


def name(shape, i):
    """The package name (``name-version``) of path ``i``."""
    return f"{shape}-p{i}-1.0"


def path_info(shape, refs, sizes, with_closure):
    """The ``nix path-info --json --recursive [-S]`` document of the graph."""
    paths = [_store_path(f"{shape}-p{i}", "1.0") for i in range(len(refs))]
    closure = closure_sizes(sizes, refs) if with_closure else None
    doc = {}
    for i, path in enumerate(paths):
        info = {
            "ca": None,
            "deriver": path.replace("/nix/store/", "/nix/store/d", 1) + ".drv",
            "narHash": "sha256-" + path[11:43] + "AAAAAAAAAAA=",
            "narSize": sizes[i],
            "references": sorted([path, *(paths[r] for r in refs[i])]),
            "registrationTime": 1700000000 + i,
            "signatures": [],
            "ultimate": False,
        }
        if with_closure:
            info["closureSize"] = closure[i]
        doc[path] = info
    return doc


def write_inputs(directory, n, shapes):
    """For each shape, ``<shape>.json`` (with closureSize),
    ``<shape>-no-closure.json`` and ``<shape>-pop.json``."""
    degrees = Degrees(Corpus())
    for shape in shapes:
        refs, sizes = generate(shape, n, degrees)
        for with_closure, suffix in ((True, ""), (False, "-no-closure")):
            doc = path_info(shape, refs, sizes, with_closure)
            (directory / f"{shape}{suffix}.json").write_text(json.dumps(doc))
        counts = popularity(shape, n, degrees)
        pop = {name(shape, i): c for i, c in enumerate(counts) if c > 1}
        (directory / f"{shape}-pop.json").write_text(json.dumps(pop, sort_keys=True))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", type=int, default=PATHS)
    parser.add_argument("--only", default=",".join(SHAPES), help="shapes, comma-separated")
    parser.add_argument("--write-inputs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    shapes = [s for s in args.only.split(",") if s]
    if not set(shapes) <= set(SHAPES):
        parser.error(f"--only: shapes are {', '.join(SHAPES)}")
    if args.write_inputs:
        write_inputs(args.write_inputs, args.paths, shapes)
        return
    repo = Path(__file__).resolve().parent.parent
    variants = [(closure, pop, strategy) for closure in (True, False) for pop in (True, False)
                for strategy in sorted(STRATEGIES)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"writing {len(shapes)} graphs of {args.paths:,} paths ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "benchmarks.scale", "--write-inputs", str(tmp),
                        "--paths", str(args.paths), "--only", ",".join(shapes)], check=True, cwd=repo)
        progress = Progress(len(shapes) * len(variants), "whole runs")
        rows = []
        for shape in shapes:
            for with_closure, with_pop, strategy in variants:
                graph = tmp / (f"{shape}.json" if with_closure else f"{shape}-no-closure.json")
                pop = tmp / f"{shape}-pop.json" if with_pop else None
                seconds, cpu, mib = run_once(graph, pop, strategy, tmp / "layers.json")
                progress.step()
                rows.append(f"| {shape} | {'yes' if with_closure else 'no'} | {'yes' if with_pop else 'no'} "
                            f"| {strategy} | {seconds:.2f} s ({seconds / TARGET_SECONDS:.2f}) | {cpu:.2f} s "
                            f"| {mib:.0f} MiB ({mib / TARGET_MIB:.2f}) |")
        progress.done()
    print(f"{args.paths:,} paths; targets {TARGET_SECONDS:g} s and {TARGET_MIB} MiB")
    print("| graph | closureSize | popularity | strategy | wall time (/ target) | CPU time | peak RSS (/ target) |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
