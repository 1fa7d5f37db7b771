"""Speed and memory of ``group-layers popcount --cache``.

A synthetic binary cache (nix-cache-info and one ``.narinfo`` per path, what
popcount reads) is written to a temporary folder and served on 127.0.0.1 by
``benchmarks/narinfo_server.py``.  Its shape is that of a package set: a core
of widely used paths (a libc and its like), libraries that use some of the
core and a few related libraries, and applications on top; the roots are the
applications, as a channel's ``store-paths.xz`` lists its top-level outputs.

* throughput: narinfos read per second at ``--jobs`` 1, 16 and 64, against
  the local server as it is (no latency: what the client itself can do) and
  with ``--latency`` added to every answer (a remote cache's round trip,
  where the number of requests in flight is what counts);
* memory: the peak RSS of the whole command on ``--paths-memory`` paths
  (100,000 by default), over HTTP at --jobs 64.

Each row is one whole ``group-layers popcount --cache`` process, from start
to written output.  Run ``python -m benchmarks.popcount`` from the
repository root (about four minutes on a busy 2-core machine, most of it the
100,000 paths; ``--small`` for a quick look).
"""

import argparse
import hashlib
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .narinfo_server import serve
from .progress import Progress

REPO = Path(__file__).resolve().parent.parent
BASE32 = "0123456789abcdfghijklmnpqrsvwxyz"  # Nix's base32 alphabet


def store_path(i):
    digest = hashlib.sha256(str(i).encode()).digest()
    return "/nix/store/" + "".join(BASE32[b % 32] for b in digest[:32]) + f"-pkg{i}-1.0"


def package_set(size, seed=8):
    """``(references by path index, root indices)``: 1% core paths, 30%
    libraries in families of 20, the rest applications (the roots).  A root's
    closure holds some tens of paths, as runtime closures in nixpkgs do."""
    rng = random.Random(seed)
    core, libs = max(size // 100, 5), size * 31 // 100

    def some(population, low, high):
        return rng.sample(population, min(len(population), rng.randint(low, high)))

    refs = []
    for i in range(size):
        if i < core:  # a few earlier core paths
            chosen = some(range(i), 0, 2)
        elif i < libs:  # some core, and earlier libraries of its family of 20
            chosen = some(range(core), 1, 4) + some(range(max(core, i - i % 20), i), 0, 2)
        else:  # applications: core and libraries
            chosen = some(range(core), 1, 3) + some(range(core, libs), 1, 5)
        refs.append(sorted(set(chosen)))
    return refs, list(range(libs, size))


def write_cache(folder, size):
    """The cache of a package set of ``size`` paths; returns the roots' file."""
    refs, roots = package_set(size)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nix-cache-info").write_text("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n")
    for i, references in enumerate(refs):
        path = store_path(i)
        base = path.rsplit("/", 1)[1]
        (folder / f"{base[:32]}.narinfo").write_text(
            f"StorePath: {path}\nURL: nar/{base[:32]}.nar.xz\nCompression: xz\n"
            f"NarHash: sha256:{base[:32]}\nNarSize: {1000 + i}\n"
            f"References: {' '.join(store_path(r).rsplit('/', 1)[1] for r in references)}\n")
    paths = folder.parent / f"{folder.name}.store-paths"
    paths.write_text("".join(store_path(r) + "\n" for r in roots))
    return paths


def run(url, paths, jobs, out):
    """``(seconds, crawl seconds, narinfos, requests, peak RSS MiB)`` of one
    popcount run; the crawl is the reading of the narinfos, without the
    interpreter's start and the counting, as the command's summary tells."""
    command = [sys.executable, "-m", "group_layers", "popcount", "--cache", url, "--paths", str(paths),
               "--jobs", str(jobs), "--out", str(out)]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr}")
    summary = re.search(r"; (\d+) narinfos \(\d+ read with (\d+) requests.* in ([\d.]+) s", stderr)
    return seconds, float(summary[3]), int(summary[1]), int(summary[2]), usage.ru_maxrss / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths-speed", type=int, default=5000, help="paths in the throughput cache")
    parser.add_argument("--paths-latency", type=int, default=500, help="paths in the cache behind latency")
    parser.add_argument("--paths-memory", type=int, default=100_000, help="paths in the memory cache")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to each answer")
    parser.add_argument("--small", action="store_true", help="a tenth of every size, for a quick look")
    args = parser.parse_args(argv)
    scale = 10 if args.small else 1
    cases = [  # (label, paths, latency, jobs)
        *((f"local, {args.paths_speed // scale:,} paths", args.paths_speed // scale, 0.0, j) for j in (1, 16, 64)),
        *((f"{args.latency * 1000:.0f} ms latency, {args.paths_latency // scale:,} paths",
           args.paths_latency // scale, args.latency, j) for j in (1, 16, 64)),
        (f"memory, {args.paths_memory // scale:,} paths", args.paths_memory // scale, 0.0, 64),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        progress = Progress(len(cases), "popcount runs")
        for label, size, latency, jobs in cases:
            folder = tmp / f"cache-{size}"
            paths = folder.parent / f"{folder.name}.store-paths"
            if not paths.exists():
                write_cache(folder, size)
            with serve(folder, delay=latency) as cache:
                seconds, crawl, narinfos, requests, mib = run(cache.url, paths, jobs, tmp / "popularity.json")
            rows.append(f"| {label} | {jobs} | {narinfos:,} | {requests:,} | {seconds:.2f} s "
                        f"| {narinfos / crawl:,.0f} | {mib:.0f} MiB |")
            progress.step()
        progress.done()
        # Before the folder of (by default) 100,000 files is removed, which takes a while.
        print("| cache | --jobs | narinfos | requests | wall time | narinfos/s (reading) | peak RSS |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
