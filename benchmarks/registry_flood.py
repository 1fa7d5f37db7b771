"""A flood of unknown names against group-layers-registry while a real pull runs.

``--clients`` clients (aiohttp, from 127.0.0.2) request ``--names``
distinct names of packages that do not exist, each twice, in a shuffled
order, while skopeo (from 127.0.0.1) copies a cold image (``shell/hello``
of a package set with a fresh nonce: Nix builds it).  Each row is a server
of its own, on a storage and package set of its own:

- **no flood**: the pull alone, the baseline (first and last, so that the
  machine's drift shows; the ratio is to their mean);
- **defaults**: the flood against the server's default limits;
- **no rate limit**: the same with ``--client-builds-per-minute 0``: only the
  per-client and queue bounds and the negative cache hold it.

Prints, per row: the pull's time and its ratio to the baseline, the flood's
requests, requests/s and answers by status, the evaluations the server ran
and the most any one name had (1: nothing evaluated twice), and the
server's resident memory at the start and at its peak (VmHWM). Any
failure of the pull ends the run with status 1.

    python -m benchmarks.registry_flood [--clients 32] [--names 1000]
"""

import argparse
import asyncio
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from registry_support import Server, fixture_in_store, package_set, server_environment, wrapper  # noqa: E402

from .progress import Progress  # noqa: E402
from .registry_load import run  # noqa: E402

ROWS = {"no flood": None, "defaults": [], "no rate limit": ["--client-builds-per-minute", "0"],
        "no flood again": None}


def memory_kb(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


async def pull(server, target):
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        "skopeo", "copy", "--src-tls-verify=false", f"docker://{server.host}/shell/hello:latest", f"oci:{target}:x",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"skopeo copy failed during the flood: {err.decode()[-500:]}")
    return time.perf_counter() - start


async def flood(server, names, clients, progress):
    statuses = Counter()
    queue = list(names)
    connector = aiohttp.TCPConnector(limit=clients, local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:
        async def client():
            while queue:
                name = queue.pop()
                async with session.get(f"http://{server.host}/v2/{name}/manifests/latest") as response:
                    await response.read()
                    statuses[response.status] += 1
                progress.step()

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
    return statuses, time.perf_counter() - start


async def row(label, flags, args, fixture, env, build_command, work):
    folder = work / label.replace(" ", "-")
    pkgs = package_set(folder / "pkgs", uuid.uuid4().hex, fixture)
    server = Server(folder / "storage", folder / "log", env, "--pkgs-path", pkgs,
                    "--build-command", build_command, *(flags or []))
    try:
        rss_start = memory_kb(server.proc.pid, "VmRSS")
        pulling = asyncio.ensure_future(pull(server, folder / "oci"))
        result = {"row": label, "rss_start_mb": rss_start / 1024}
        if flags is not None:
            names = [f"nosuch{i}-{uuid.uuid4().hex[:8]}" for i in range(args.names)] * 2
            random.Random(0).shuffle(names)
            progress = Progress(len(names), f"{label}: flood")
            statuses, seconds = await flood(server, names, args.clients, progress)
            progress.done()
            result.update(requests=len(names), flood_seconds=seconds, statuses=dict(statuses))
        result["pull_seconds"] = await pulling
        builds = Counter(tuple(e["packages"]) for e in server.events("build"))
        unknown = {k: v for k, v in builds.items() if any(p.startswith("nosuch") for p in k)}
        result.update(evaluations=len(unknown), most_per_name=max(unknown.values(), default=0),
                      rss_peak_mb=memory_kb(server.proc.pid, "VmHWM") / 1024)
        return result
    finally:
        server.stop()


async def measure(args, work):
    print("building the fixture's package set and the wrapper ...", file=sys.stderr)
    fixture = fixture_in_store()
    env, build_command = server_environment(fixture), wrapper()
    return [await row(label, flags, args, fixture, env, build_command, work) for label, flags in ROWS.items()]


def table(rows, args):
    alone = [r["pull_seconds"] for r in rows if "requests" not in r]
    base = sum(alone) / len(alone)
    lines = [f"{args.clients} clients flood {args.names} distinct unknown names (each twice) while skopeo pulls "
             "a cold shell/hello:", "",
             "| server | pull s | pull / alone | flood requests | req/s | 404 | 429 | evaluations | "
             "most per name | RSS start MB | RSS peak MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r.get("statuses", {})
        rate = f"{r['requests'] / r['flood_seconds']:.0f}" if "requests" in r else "-"
        lines.append(f"| {r['row']} | {r['pull_seconds']:.2f} | {r['pull_seconds'] / base:.2f} | "
                     f"{r.get('requests', '-')} | {rate} | {s.get(404, '-')} | {s.get(429, '-')} | "
                     f"{r['evaluations']} | {r['most_per_name']} | {r['rss_start_mb']:.0f} | {r['rss_peak_mb']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--names", type=int, default=1000)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    return run("registry_flood", measure, table, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
