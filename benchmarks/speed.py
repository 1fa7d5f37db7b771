"""Whole-process speed and memory of the ``group-layers`` command.

Two images from the Debian corpus, written as the ``.attrs.json`` Nix would
export, with the corpus' popularity file:

* ``desktops``: gnome + kde-full + texlive-full (2,153 paths), target 0.3 s;
* ``archive``: the whole archive as one image, every package a root
  (63,436 paths), target 3 s and 1 GB.

Each command runs from process start to written output (``python -m
group_layers``, validation included, the engine byte-compiled first as an
installed one is), several times; the table gives the
median wall time, the peak resident memory, and their ratio to the target.
``cohort, --previous`` plans from the lock of the plan just made (the most
work the lock can do: every path matched), paired with ``cohort`` (target:
1.2x at most).

Nixery's own Go code runs in the same rounds where it can be built: give a
checkout of Nixery's source (``--nixery DIR`` or ``NIXERY_SOURCE``; its
``builder/layers.go`` is compiled with a small ``main`` written here) and of
gonum, its one dependency that matters (``--gonum DIR`` or ``GONUM_SOURCE``;
Nixery pins v0.9.1, which Go 1.19 cannot run: v0.13 can), and Go
(``go``) with logrus (Debian's ``golang-github-sirupsen-logrus-dev``).
The last column is each row's ratio to the Go binary on the same image
(targets: 1.2x on the archive, 1.5x on desktops).  Where any of these is
missing, the table says so and has no Go row.  ``python -c pass`` runs in
the same rounds too: what the interpreter's start costs every Python row.

Run ``python -m benchmarks.speed`` from the repository root.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .corpus import Corpus
from .progress import Progress

CASES = {"desktops": (0.3, None), "archive": (3.0, 1024)}  # seconds, MiB
#: (label, --strategy, with the popularity file, with --previous)
VARIANTS = (("cohort", "cohort", True, False), ("cohort, --previous", "cohort", True, True),
            ("cohort, no --pop", "cohort", False, False), ("nixery", "nixery", True, False))
GO = "Nixery's Go binary"
#: The interpreter alone, in the same rounds: the floor under every Python row.
START = ("start-up", "python -c pass")

#: The ``main`` that makes Nixery's ``builder/layers.go`` a program: its old
#: ``group-layers`` command's flags, reading and writing the same files.
GO_MAIN = """package main

import (
	"encoding/json"
	"flag"
	"os"
)

func main() {
	graphFile := flag.String("graph", ".attrs.json", "")
	popFile := flag.String("pop", "popularity.json", "")
	outFile := flag.String("out", "layers.json", "")
	budget := flag.Int("budget", 94, "")
	flag.Parse()
	var refs runtimeGraph
	var pop Popularity
	for file, into := range map[string]interface{}{*graphFile: &refs, *popFile: &pop} {
		data, err := os.ReadFile(file)
		if err == nil {
			err = json.Unmarshal(data, into)
		}
		if err != nil {
			panic(err)
		}
	}
	out, _ := json.Marshal(groupLayers(&refs, &pop, *budget))
	if err := os.WriteFile(*outFile, out, 0644); err != nil {
		panic(err)
	}
}
"""


def build_go(nixery, gonum, directory):
    """Nixery's layering as a program built in ``directory``: its path, or
    why it cannot be built here."""
    if not nixery or not (Path(nixery) / "builder" / "layers.go").is_file():
        return None, "no Nixery source (--nixery DIR or NIXERY_SOURCE: a checkout of github.com/google/nixery)"
    if not gonum or not (Path(gonum) / "graph" / "flow").is_dir():
        return None, "no gonum source (--gonum DIR or GONUM_SOURCE: a checkout of gonum.org/v1/gonum, v0.13)"
    if shutil.which("go") is None:
        return None, "no Go toolchain (go)"
    src = directory / "gopath" / "src"
    (src / "gonum.org" / "v1").mkdir(parents=True)
    (src / "gonum.org" / "v1" / "gonum").symlink_to(Path(gonum).resolve())
    (src / "layers").mkdir()
    code = (Path(nixery) / "builder" / "layers.go").read_text()
    (src / "layers" / "layers.go").write_text(code.replace("package builder", "package main", 1))
    (src / "layers" / "main.go").write_text(GO_MAIN)
    binary = directory / "nixery-layers"
    env = dict(os.environ, GO111MODULE="off", GOFLAGS="", GOCACHE=str(directory / "gocache"),
               GOPATH=f"{directory / 'gopath'}{os.pathsep}/usr/share/gocode")
    built = subprocess.run(["go", "build", "-o", str(binary), "."], cwd=src / "layers", env=env,
                           capture_output=True, text=True)
    if built.returncode != 0:
        return None, f"go build failed: {built.stderr.strip().splitlines()[-1:]}"
    return binary, None


def write_inputs(directory):
    """The two graphs and the popularity file.  Run in a process of its own
    (``--write-inputs DIR``): the corpus takes 200 MB that the measured
    commands would otherwise inherit in their peak RSS."""
    corpus = Corpus()
    requests = {"desktops": ["gnome", "kde-full", "texlive-full"], "archive": sorted(corpus.packages)}
    for case, request in requests.items():
        (directory / f"{case}.attrs.json").write_text(json.dumps(corpus.image_document(request)))
    (directory / "popularity.json").write_text(json.dumps(corpus.popularity))


def command(graph, pop, strategy, out, previous=None):
    """The group-layers command (``pop`` None: no popularity)."""
    line = [sys.executable, "-m", "group_layers", "--graph", str(graph),
            "--budget", "94", "--strategy", strategy, "--out", str(out)]
    return line + (["--pop", str(pop)] if pop else []) + (["--previous", str(previous)] if previous else [])


def run_once(command):
    """Wall seconds, CPU seconds (user + system: what the run costs however
    busy the machine is) and peak RSS (MiB) of one whole run of ``command``."""
    start = time.perf_counter()
    quiet = subprocess.DEVNULL if command[0] != sys.executable else None  # Go logs each run
    process = subprocess.Popen(command, cwd=Path(__file__).resolve().parent.parent, stderr=quiet)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nixery", default=os.environ.get("NIXERY_SOURCE"), metavar="DIR",
                        help="a checkout of Nixery's source (default: $NIXERY_SOURCE)")
    parser.add_argument("--gonum", default=os.environ.get("GONUM_SOURCE"), metavar="DIR",
                        help="a checkout of gonum's source, v0.13 (default: $GONUM_SOURCE)")
    parser.add_argument("--write-inputs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write_inputs:
        write_inputs(args.write_inputs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, "-m", "benchmarks.speed", "--write-inputs", str(tmp)],
                       check=True, cwd=Path(__file__).resolve().parent.parent)
        # as installed (pip and Nix byte-compile a package): no run compiles
        # the engine's sources again, even where PYTHONDONTWRITEBYTECODE is set
        subprocess.run([sys.executable, "-m", "compileall", "-q", "group_layers"], check=True,
                       cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.DEVNULL)
        go, missing = build_go(args.nixery, args.gonum, tmp)
        files = {case: tmp / f"{case}.attrs.json" for case in CASES}
        pop, out = tmp / "popularity.json", tmp / "layers.json"
        commands = {}
        for case in CASES:
            lock = tmp / f"{case}.lock.json"
            subprocess.run(command(files[case], pop, "cohort", lock) + ["--format", "lock"], check=True,
                           cwd=Path(__file__).resolve().parent.parent)
            for label, strategy, with_pop, previous in VARIANTS:
                commands[case, label] = command(files[case], pop if with_pop else None, strategy, out,
                                                lock if previous else None)
            if go:
                commands[case, GO] = [go, "-graph", files[case], "-pop", pop, "-budget", "94", "-out", out]
        commands[START] = [sys.executable, "-c", "pass"]
        progress = Progress(len(commands) * args.runs, "timing runs")
        runs = {key: [] for key in commands}
        for _ in range(args.runs):  # in rounds: each row sees the machine as busy as the others
            for key, line in commands.items():
                runs[key].append(run_once(line))
                progress.step()
        progress.done()
    start = runs.pop(START)
    rows = []
    for (case, label), found in runs.items():
        target_s, target_mib = CASES[case]
        seconds = statistics.median(s for s, _, _ in found)
        cpu = statistics.median(c for _, c, _ in found)
        mib = max(m for _, _, m in found)
        memory = f"{mib:.0f} MiB" + (f" ({mib / target_mib:.2f})" if target_mib else "")
        def ratio(other):
            wall = seconds / statistics.median(s for s, _, _ in runs[case, other])
            return f"{wall:.2f}x (CPU {cpu / statistics.median(c for _, c, _ in runs[case, other]):.2f}x) {other}"
        paired = {"cohort, --previous": ratio("cohort")}
        if go:
            paired.setdefault(label, ratio(GO))
        rows.append(f"| {case} | {label} | {seconds:.3f} s ({seconds / target_s:.2f}) "
                    f"| {cpu:.3f} s | {memory} | {paired.get(label, '') if label != GO else ''} |")
    print("| image | strategy | median wall time (/ target) | CPU time | peak RSS (/ target) | paired |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nPython's start-up alone ({START[1]}, same rounds): "
          f"{statistics.median(s for s, _, _ in start):.3f} s wall, "
          f"{statistics.median(c for _, c, _ in start):.3f} s CPU")
    if missing:
        print(f"\n{GO}: not measured: {missing}")


if __name__ == "__main__":
    main()
