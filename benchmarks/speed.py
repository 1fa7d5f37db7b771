"""Whole-process speed and memory of the ``group-layers`` command.

Two images from the Debian corpus, written as the ``.attrs.json`` Nix would
export, with the corpus' popularity file:

* ``desktops``: gnome + kde-full + texlive-full (2,153 paths), target 0.3 s;
* ``archive``: the whole archive as one image, every package a root
  (63,436 paths), target 3 s and 1 GB.

Each command runs from process start to written output, validation
included, as installed: a virtual environment of this interpreter with only
the engine in it (a ``.pth`` line to this checkout, byte-compiled as pip and
Nix compile a package) and the ``group-layers`` script that pip writes for
``setup.py``'s entry point.  So no row pays for what this interpreter's own
site-packages load at start (on the machine these figures come from, a
``.pth`` file there imports certifi: 40 ms a start, which no installed
``group-layers`` has); the ``python -c pass`` rows show both starts, and
the ``cohort, python -m`` row runs the engine from this interpreter as it
is, for comparison.  ``cohort, --previous`` plans from the lock of the plan
just made (the most work the lock can do: every path matched), paired with
``cohort`` (target: 1.2x at most).

Nixery's own Go code runs in the same rounds where it can be built: give a
checkout of Nixery's source (``--nixery DIR`` or ``NIXERY_SOURCE``; its
``builder/layers.go`` is compiled with a small ``main`` written here) and of
gonum, its one dependency that matters (``--gonum DIR`` or ``GONUM_SOURCE``;
Nixery pins v0.9.1, which Go 1.19 cannot run: v0.13 can), and Go
(``go``) with logrus (Debian's ``golang-github-sirupsen-logrus-dev``).
The paired column is each row's ratio to the Go binary on the same image
(targets: 1.2x on the archive, 1.5x on desktops).  Where any of these is
missing, the table says so and has no Go row.

The machine may be shared: every row runs in every round, in an order
shuffled anew each round, the desktops rows several times a round
(``--desktops-repeat``), so that each row sees the machine as busy as the
others and no row always follows the same one.  The table gives the median
and the minimum of each row, and each ratio both ways: of the medians, and
of the minima (the run least disturbed by other work), with CPU time
(user + system of the process alone) beside wall time, and the load average
before and after.

Run ``python -m benchmarks.speed`` from the repository root.
"""

import argparse
import json
import os
import random
import re
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
GO_BINARY = "nixery-layers"
#: The engine run from this interpreter as it is (its site-packages and all).
AS_IS = "cohort, python -m"
#: The interpreters alone, in the same rounds: the floor under every Python
#: row (the installed command's), and under ``AS_IS``.
START = ("start-up", "python -c pass, installed")
START_AS_IS = ("start-up", "python -c pass, this interpreter")
ROOT = Path(__file__).resolve().parent.parent

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
    binary = directory / GO_BINARY
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


def command(graph, pop, strategy, out, previous=None, program=None):
    """The group-layers command (``pop`` None: no popularity; ``program``:
    the installed script, default this interpreter's ``-m group_layers``)."""
    line = [str(program)] if program else [sys.executable, "-m", "group_layers"]
    line += ["--graph", str(graph), "--budget", "94", "--strategy", strategy, "--out", str(out)]
    return line + (["--pop", str(pop)] if pop else []) + (["--previous", str(previous)] if previous else [])


def install(directory):
    """The engine installed in a virtual environment in ``directory``: the
    paths of its ``group-layers`` script and of its interpreter."""
    venv = directory / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "group-layers.pth").write_text(f"{ROOT}\n")
    # the entry point setup.py names, in the script pip writes for it
    module, function = re.search(r'"group-layers = ([\w.]+):(\w+)"', (ROOT / "setup.py").read_text()).groups()
    script = venv / "bin" / "group-layers"
    script.write_text(f"#!{python}\nimport re\nimport sys\nfrom {module} import {function}\n"
                      "if __name__ == '__main__':\n"
                      "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
                      f"    sys.exit({function}())\n")
    script.chmod(0o755)
    return script, python


def run_once(command):
    """Wall seconds, CPU seconds (user + system: what the run costs however
    busy the machine is) and peak RSS (MiB) of one whole run of ``command``."""
    start = time.perf_counter()
    quiet = subprocess.DEVNULL if Path(command[0]).name == GO_BINARY else None  # Go logs each run
    process = subprocess.Popen(command, cwd=ROOT, stderr=quiet)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def timed(commands, rounds, repeat):
    """``{key: [(wall, cpu, MiB), ...]}``: every command once a round (a key
    whose case has a ``repeat`` count that many times), in a new random
    order each round."""
    order = random.Random(0)
    runs = {key: [] for key in commands}
    schedule = [key for key in commands for _ in range(repeat.get(key[0], 1))]
    progress = Progress(len(schedule) * rounds, "timing runs")
    for _ in range(rounds):
        order.shuffle(schedule)
        for key in schedule:
            runs[key].append(run_once(commands[key]))
            progress.step()
    progress.done()
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="rounds (default: %(default)s)")
    parser.add_argument("--desktops-repeat", type=int, default=5, metavar="N",
                        help="runs of each desktops row per round (default: %(default)s)")
    parser.add_argument("--nixery", default=os.environ.get("NIXERY_SOURCE"), metavar="DIR",
                        help="a checkout of Nixery's source (default: $NIXERY_SOURCE)")
    parser.add_argument("--gonum", default=os.environ.get("GONUM_SOURCE"), metavar="DIR",
                        help="a checkout of gonum's source, v0.13 (default: $GONUM_SOURCE)")
    parser.add_argument("--write-inputs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write_inputs:
        write_inputs(args.write_inputs)
        return
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, "-m", "benchmarks.speed", "--write-inputs", str(tmp)], check=True, cwd=ROOT)
        # as installed (pip and Nix byte-compile a package): no run compiles
        # the engine's sources again, even where PYTHONDONTWRITEBYTECODE is set
        subprocess.run([sys.executable, "-m", "compileall", "-q", "group_layers"], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        program, python = install(tmp)
        go, missing = build_go(args.nixery, args.gonum, tmp)
        files = {case: tmp / f"{case}.attrs.json" for case in CASES}
        pop, out = tmp / "popularity.json", tmp / "layers.json"
        commands = {}
        for case in CASES:
            lock = tmp / f"{case}.lock.json"
            subprocess.run(command(files[case], pop, "cohort", lock, program=program) + ["--format", "lock"],
                           check=True, cwd=ROOT)
            for label, strategy, with_pop, previous in VARIANTS:
                commands[case, label] = command(files[case], pop if with_pop else None, strategy, out,
                                                lock if previous else None, program)
            if case == "desktops":
                commands[case, AS_IS] = command(files[case], pop, "cohort", out)
            if go:
                commands[case, GO] = [go, "-graph", files[case], "-pop", pop, "-budget", "94", "-out", out]
        commands[START] = [python, "-c", "pass"]
        commands[START_AS_IS] = [sys.executable, "-c", "pass"]
        runs = timed(commands, args.runs, {"desktops": args.desktops_repeat, START[0]: args.desktops_repeat})
    print(report(runs, go, missing, load + os.getloadavg()))


def report(runs, go, missing, load):
    """The table, the start-up rows and the targets, as Markdown."""
    def stat(key, field, how):
        return how(run[field] for run in runs[key])

    def ratio(key, other):
        return tuple(stat(key, f, h) / stat(other, f, h) for f in (0, 1) for h in (statistics.median, min))

    lines = ["| image | strategy | wall: median (/ target), min | CPU: median, min | peak RSS (/ target) "
             "| paired: wall median, min (CPU median, min) |", "|---|---|---|---|---|---|"]
    for key in runs:
        if key[0] not in CASES:
            continue
        case, label = key
        target_s, target_mib = CASES[case]
        wall, cpu = stat(key, 0, statistics.median), stat(key, 1, statistics.median)
        mib = stat(key, 2, max)
        other = {"cohort, --previous": (case, "cohort")}.get(label, (case, GO) if go and label != GO else None)
        paired = ""
        if other:
            w, w_min, c, c_min = ratio(key, other)
            paired = f"{w:.2f}x, {w_min:.2f}x ({c:.2f}x, {c_min:.2f}x) {other[1]}"
        lines.append(f"| {case} | {label} | {wall:.3f} s ({wall / target_s:.2f}), {stat(key, 0, min):.3f} s "
                     f"| {cpu:.3f} s, {stat(key, 1, min):.3f} s "
                     f"| {mib:.0f} MiB{f' ({mib / target_mib:.2f})' if target_mib else ''} | {paired} |")
    for key in (START, START_AS_IS):
        lines.append(f"\n`{key[1]}`: {stat(key, 0, statistics.median):.3f} s wall (min {stat(key, 0, min):.3f} s), "
                     f"{stat(key, 1, statistics.median):.3f} s CPU, {len(runs[key])} runs")
    lines.append(f"\nLoad average (1, 5, 15 min) before: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}; "
                 f"after: {load[3]:.2f}, {load[4]:.2f}, {load[5]:.2f}. Runs per row: "
                 + ", ".join(f"{case} {len(runs[case, 'cohort'])}" for case in CASES) + ".")
    if missing:
        lines.append(f"\n{GO}: not measured: {missing}")
    targets = [("cohort, --previous", "cohort", case, 1.2) for case in CASES]
    if go:
        targets[:0] = [("cohort", GO, "archive", 1.2), ("cohort", GO, "desktops", 1.5)]
    lines += ["", "| target | wall: median, min | CPU: median, min | met (both medians) |", "|---|---|---|---|"]
    for label, other, case, most in targets:
        w, w_min, c, c_min = ratio((case, label), (case, other))
        lines.append(f"| {label} vs {other}, {case}, at most {most}x | {w:.2f}x, {w_min:.2f}x "
                     f"| {c:.2f}x, {c_min:.2f}x | {'yes' if max(w, c) <= most else 'no'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
