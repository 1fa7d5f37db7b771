"""Image delivery with real Nix: what each way of delivering an image costs.

A package set of the given size is generated (benchmarks/sized-packages.nix:
packages of deterministic, compressible content with references between
them), and one image of all of it is built in each mode:

* ``stream`` (``-A stream``): the executable that writes the archive;
* ``image`` (``-A image``): that archive, stored;
* ``registry none/gzip/zstd`` (``-A buildImage``, ``compression``): Nixery's
  manifest with its layer blobs in the store;
* ``stream, groupAtBuildTime``: the stream without import-from-derivation.

For each mode: the build time **cold** (every layer derivation new: the
layers' tools are a fresh variant of the package set, the packages are the
same) and **warm** (the same command again), the **store bytes added** by the
cold build (outputs registered during it, in its build graph) as a multiple
of the closure, and the **bytes a registry would receive** (the manifest's
blobs; for the stream and the archive, their uncompressed layers), against
the floor measured in the same run: ``tar -c`` of the closure piped to
``sha256sum``.

Then a **toolchain bump**: the package set changes coreutils' derivation,
as a nixpkgs update does, and the image is built again, with the layers'
tools taken from the bumped set (the default) or pinned to the set before
the bump (``tools``).

Run ``python -m benchmarks.delivery [--size MB] [--packages N]`` from the
repository root (Nix and the offline package set, or NIX_PATH's nixpkgs).
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NIX_OPTIONS = ["--option", "substituters", ""]
MODES = [
    ("stream", "stream", []),
    ("image (archive)", "image", []),
    ("registry, none", "buildImage", []),
    ("registry, gzip", "buildImage", ["--argstr", "compression", "gzip"]),
    ("registry, zstd", "buildImage", ["--argstr", "compression", "zstd"]),
    ("stream, groupAtBuildTime", "stream", ["--arg", "groupAtBuildTime", "true"]),
]


def spec(count, total, seed):
    """``count`` packages of about ``total`` bytes: sizes spread over three
    orders of magnitude, each referring to up to three earlier ones."""
    rng = random.Random(seed)
    weights = [rng.lognormvariate(0, 1.5) for _ in range(count)]
    scale = total / sum(weights)
    return [{"name": f"pkg{i:03}-{seed[:6]}-1.0", "size": max(1000, int(w * scale)),
             "references": sorted({f"pkg{j:03}-{seed[:6]}-1.0" for j in rng.sample(range(i), min(i, rng.randint(0, 3)))})}
            for i, w in enumerate(weights)]



def path_infos(run, paths):
    """{store path: its `nix path-info --json` entry}, from either shape Nix
    writes: a list (before Nix 2.19) or an object keyed by path (after)."""
    info = json.loads(run("nix", "--extra-experimental-features", "nix-command", "path-info", "--json", *paths))
    return {e["path"]: e for e in info} if isinstance(info, list) else info

class Bench:
    def __init__(self, seed, packages):
        self.seed, self.contents = seed, set()
        self.env = {**os.environ, "NIX_PATH": os.environ.get("NIX_PATH") or f"nixpkgs={REPO / 'tests' / 'fixture-pkgs'}"}
        spec_file = Path(f"/tmp/group-layers-delivery-{seed}.json")
        spec_file.write_text(json.dumps(packages))
        self.packages = (f"builtins.attrValues (import {REPO}/benchmarks/sized-packages.nix "
                         f"{{ pkgs = import <nixpkgs> {{ }}; seed = \"{seed}\"; "
                         f"spec = builtins.fromJSON (builtins.readFile {spec_file}); }})")

    def run(self, *cmd, **kwargs):
        process = subprocess.run(cmd, cwd=REPO, env=self.env, capture_output=True, text=True, **kwargs)
        if process.returncode != 0:
            sys.exit(f"{' '.join(cmd[:4])}... failed:\n{process.stderr[-3000:]}")
        return process.stdout.strip()

    def pkgs_with(self, salt):
        """The package set with coreutils' derivation changed by `salt`."""
        return (f"import <nixpkgs> {{ overlays = [ (final: prev: {{ coreutils = prev.coreutils.overrideAttrs "
                f"(old: {{ deliveryBench = \"{salt}\"; }}); }}) ]; }}")

    def build(self, attr, extra, tools=None, pkgs=None):
        """(seconds, result path, store bytes the build added)."""
        args = ["-A", attr, "--arg", "contents", self.packages, "--argstr", "tag", "bench", *extra]
        if tools:
            args += ["--arg", "tools", tools]
        if pkgs:
            args += ["--arg", "pkgs", pkgs]
        start = time.time()
        result = self.run("nix-build", "--no-out-link", *NIX_OPTIONS, *args)
        seconds = time.time() - start
        drv = self.run("nix-store", "--query", "--deriver", result)
        built = self.run("nix-store", "--query", "--requisites", "--include-outputs", drv).split()
        outputs = [p for p in built if not p.endswith(".drv") and os.path.exists(p) and p not in self.contents]
        info = path_infos(self.run, outputs)
        added = sum(e["narSize"] for e in info.values() if e.get("registrationTime", 0) >= int(start))
        return seconds, result, added

    def closure(self):
        roots = self.run("nix-build", "--no-out-link", *NIX_OPTIONS, "-E", self.packages).split()
        paths = self.run("nix-store", "--query", "--requisites", *roots).split()
        self.contents = set(paths)
        return paths, sum(e["narSize"] for e in path_infos(self.run, paths).values())

    def floor(self, paths):
        start = time.time()
        subprocess.run(f"tar -c {' '.join(paths)} 2>/dev/null | sha256sum > /dev/null", shell=True, check=True)
        return time.time() - start


def registry_bytes(attr, result):
    if attr == "buildImage":
        manifest = json.loads(Path(result).read_text())["manifest"]
        return manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
    archive = result if attr == "image" else None
    if archive is None:
        size = 0
        with subprocess.Popen([result], stdout=subprocess.PIPE) as stream:
            while chunk := stream.stdout.read(1 << 20):
                size += len(chunk)
        return size
    return os.path.getsize(archive)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=300, help="closure size in MB (default: %(default)s)")
    parser.add_argument("--packages", type=int, default=40, help="number of packages (default: %(default)s)")
    parser.add_argument("--seed", default=None, help="package seed (default: new each run)")
    args = parser.parse_args(argv)
    seed = args.seed or uuid.uuid4().hex[:12]
    bench = Bench(seed, spec(args.packages, args.size * 1_000_000, seed))

    print(f"building {args.packages} packages of {args.size} MB in all (seed {seed})...", file=sys.stderr)
    paths, closure_bytes = bench.closure()
    floor = bench.floor(paths)
    print(f"closure: {len(paths)} paths, {closure_bytes / 1e6:.1f} MB; floor (tar -c | sha256sum): {floor:.2f} s\n")

    print("| mode | cold build s (x floor) | warm build s | store added (x closure) | registry receives (x closure) |")
    print("|---|---|---|---|---|")
    for number, (label, attr, extra) in enumerate(MODES, 1):
        print(f"[{number}/{len(MODES)}] {label}...", file=sys.stderr)
        tools = bench.pkgs_with(f"{seed}-{label}")
        cold, result, added = bench.build(attr, extra, tools=tools)
        warm, _, _ = bench.build(attr, extra, tools=tools)
        sent = registry_bytes(attr, result)
        print(f"| {label} | {cold:.1f} ({cold / floor:.1f}x) | {warm:.1f} | {added / 1e6:.1f} MB "
              f"({added / closure_bytes:.3f}x) | {sent / 1e6:.1f} MB ({sent / closure_bytes:.2f}x) |", flush=True)

    print("\n| toolchain bump (coreutils' derivation changes) | layers' tools | rebuild s | store added |")
    print("|---|---|---|---|")
    for label, attr in (("stream", "stream"), ("registry, none", "buildImage")):
        bench.build(attr, [])  # before the bump
        for tools_label, tools in (("from the bumped set (default)", None),
                                   ("pinned to the set before", "import <nixpkgs> { }")):
            print(f"bump: {label}, tools {tools_label}...", file=sys.stderr)
            bumped = bench.pkgs_with(f"{seed}-bump-{label}-{tools_label}")
            seconds, _, added = bench.build(attr, [], tools=tools, pkgs=bumped)
            print(f"| {label} | {tools_label} | {seconds:.1f} | {added / 1e6:.2f} MB ({added / closure_bytes:.3f}x) |",
                  flush=True)


if __name__ == "__main__":
    main()
