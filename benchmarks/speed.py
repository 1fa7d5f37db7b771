"""Whole-process speed and memory of the ``group-layers`` command.

Two images from the Debian corpus, written as the ``.attrs.json`` Nix would
export, with the corpus' popularity file:

* ``desktops``: gnome + kde-full + texlive-full (2,153 paths), target 0.3 s;
* ``archive``: the whole archive as one image, every package a root
  (63,436 paths), target 3 s and 1 GB.

Each command runs from process start to written output (``python -m
group_layers``, validation included), several times; the table gives the
median wall time, the peak resident memory, and their ratio to the target.

Run ``python -m benchmarks.speed`` from the repository root.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .corpus import Corpus
from .progress import Progress

CASES = {"desktops": (0.3, None), "archive": (3.0, 1024)}  # seconds, MiB
#: (label, --strategy, with the popularity file)
VARIANTS = (("cohort", "cohort", True), ("cohort, no --pop", "cohort", False), ("nixery", "nixery", True))


def write_inputs(directory):
    """The two graphs and the popularity file.  Run in a process of its own
    (``--write-inputs DIR``): the corpus takes 200 MB that the measured
    commands would otherwise inherit in their peak RSS."""
    corpus = Corpus()
    requests = {"desktops": ["gnome", "kde-full", "texlive-full"], "archive": sorted(corpus.packages)}
    for case, request in requests.items():
        (directory / f"{case}.attrs.json").write_text(json.dumps(corpus.image_document(request)))
    (directory / "popularity.json").write_text(json.dumps(corpus.popularity))


def run_once(graph, pop, strategy, out):
    """Wall seconds, CPU seconds (user + system: what the run costs however
    busy the machine is) and peak RSS (MiB) of one whole run (``pop`` None: no
    popularity)."""
    command = [sys.executable, "-m", "group_layers", "--graph", str(graph),
               "--budget", "94", "--strategy", strategy, "--out", str(out)]
    if pop:
        command += ["--pop", str(pop)]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=Path(__file__).resolve().parent.parent)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write-inputs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write_inputs:
        write_inputs(args.write_inputs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, "-m", "benchmarks.speed", "--write-inputs", str(tmp)],
                       check=True, cwd=Path(__file__).resolve().parent.parent)
        files = {case: tmp / f"{case}.attrs.json" for case in CASES}
        pop = tmp / "popularity.json"
        progress = Progress(len(CASES) * len(VARIANTS) * args.runs, "timing runs")
        rows = []
        for case, (target_s, target_mib) in CASES.items():
            for label, strategy, with_pop in VARIANTS:
                runs = []
                for _ in range(args.runs):
                    runs.append(run_once(files[case], pop if with_pop else None, strategy, tmp / "layers.json"))
                    progress.step()
                seconds = statistics.median(s for s, _, _ in runs)
                cpu = statistics.median(c for _, c, _ in runs)
                mib = max(m for _, _, m in runs)
                memory = f"{mib:.0f} MiB" + (f" ({mib / target_mib:.2f})" if target_mib else "")
                rows.append(f"| {case} | {label} | {seconds:.3f} s ({seconds / target_s:.2f}) "
                            f"| {cpu:.3f} s | {memory} |")
        progress.done()
    print("| image | strategy | median wall time (/ target) | CPU time | peak RSS (/ target) |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
