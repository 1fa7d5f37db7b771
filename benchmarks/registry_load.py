"""Load on group-layers-registry, on loopback, against a real registry and plain static servers.

Builds nothing of its own but the image: a package set with a fresh nonce
(so the first build is cold even in a shared Nix store) is served by a
registry started here on 127.0.0.1, and

1. **cold**: the time to the first byte of ``hello``'s manifest (the whole
   build: evaluation, Nix builds, copying blobs into the storage), then the
   time to pull the whole image;
2. **warm**: N clients (aiohttp, keep-alive) request the same thing for a
   bounded time and count: the warm manifest, then the biggest layer blob.
   The same is then asked of two replicas of the registry on the one storage
   folder (the clients split between them), of Debian's ``docker-registry``
   (the CNCF distribution registry, 2.8) serving the same image (copied into
   it with skopeo: the same blobs, byte for byte), and the same files of two
   plain static servers serving the storage folder: ``python -m http.server``
   and aiohttp's ``web.static`` (the registry's own HTTP stack, without the
   registry).

Prints requests/s, p50/p99 latency and MB/s, and the registry's ratio to
each peer; the target is blob throughput of at least 0.8 times
docker-registry's. Every response's status and length are checked (and
the first body of each kind against its digest); any failure ends the run
with status 1.

    python -m benchmarks.registry_load [--clients 16] [--seconds 5] [--max-requests 20000]
"""

import argparse
import asyncio
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from oci_test_registry import Registry, available  # noqa: E402
from registry_support import Server, fixture_in_store, package_set, server_environment, wrapper  # noqa: E402

DOCKER = "application/vnd.docker.distribution.manifest.v2+json"
STATIC_AIOHTTP = """
import sys
from aiohttp import web
app = web.Application()
app.router.add_static("/", sys.argv[1])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=None, access_log=None)
"""


async def timed_get(session, url, headers=None):
    """(seconds to the first byte, seconds in all, body) of one GET."""
    start = time.perf_counter()
    async with session.get(url, headers=headers) as response:
        first = time.perf_counter() - start
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status} {body[:300]!r}")
        return first, time.perf_counter() - start, body


async def cold(base):
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1800)) as session:
        ttfb, _, body = await timed_get(session, f"{base}/v2/hello/manifests/latest")
        manifest = json.loads(body)
        start = time.perf_counter()
        for d in [manifest["config"], *manifest["layers"]]:
            _, _, blob = await timed_get(session, f"{base}/v2/hello/blobs/{d['digest']}")
            if "sha256:" + hashlib.sha256(blob).hexdigest() != d["digest"]:
                raise RuntimeError(f"blob {d['digest']} has another digest")
        return ttfb, ttfb + time.perf_counter() - start, manifest


async def load(urls, size, clients, seconds, max_requests, digest=None, headers=None):
    """{requests, seconds, latencies} of `clients` keep-alive clients
    fetching the same thing from `urls` (client i from urls[i % len(urls)])
    until `seconds` pass or `max_requests` are made."""
    latencies = []
    deadline = time.perf_counter() + seconds
    started = [0]
    connector = aiohttp.TCPConnector(limit=clients)

    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        for url in urls:
            _, _, body = await timed_get(session, url, headers)  # warm-up, and the digest check
            if digest and "sha256:" + hashlib.sha256(body).hexdigest() != digest:
                raise RuntimeError(f"{url}: the body does not have digest {digest}")

        async def client(url):
            while started[0] < max_requests and time.perf_counter() < deadline:
                started[0] += 1
                t = time.perf_counter()
                async with session.get(url, headers=headers) as response:
                    got = len(await response.read())
                    if response.status != 200 or got != size:
                        raise RuntimeError(f"{url}: status {response.status}, {got} bytes, not {size}")
                latencies.append(time.perf_counter() - t)

        begin = time.perf_counter()
        await asyncio.gather(*(client(urls[i % len(urls)]) for i in range(clients)))
        return {"requests": len(latencies), "seconds": time.perf_counter() - begin, "latencies": latencies}


async def upload(base, storage, manifest, body):
    """Put the image into a registry by its API, blobs and manifest byte for
    byte (skopeo would compress the uncompressed layers: other blobs)."""
    async with aiohttp.ClientSession() as session:
        for d in [manifest["config"], *manifest["layers"]]:
            async with session.post(f"{base}/v2/hello/blobs/uploads/") as response:
                location = response.headers["Location"]
            data = (storage / "blobs" / "sha256" / d["digest"][7:]).read_bytes()
            target = aiohttp.client.URL(base).join(aiohttp.client.URL(location)).update_query(digest=d["digest"])
            async with session.put(target, data=data,
                                   headers={"Content-Type": "application/octet-stream"}) as response:
                if response.status != 201:
                    raise RuntimeError(f"{base}: blob upload answered {response.status}")
        async with session.put(f"{base}/v2/hello/manifests/latest", data=body,
                               headers={"Content-Type": DOCKER}) as response:
            if response.status != 201:
                raise RuntimeError(f"{base}: manifest upload answered {response.status}: {await response.text()}")


def summary(result, size):
    lat = sorted(result["latencies"])
    return {
        "requests": result["requests"],
        "req_per_s": result["requests"] / result["seconds"],
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
        "mb_per_s": result["requests"] * size / result["seconds"] / 1e6,
    }


def start_static(kind, folder, port):
    if kind == "http.server":
        cmd = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(folder), str(port)]
    else:
        cmd = [sys.executable, "-c", STATIC_AIOHTTP, str(folder), str(port)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_for(url):
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def measure(args, work):
    print("building the fixture's package set and the wrapper ...", file=sys.stderr)
    if not available():
        raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
    fixture = fixture_in_store()
    pkgs = package_set(work / "pkgs", uuid.uuid4().hex, fixture)
    storage = work / "storage"
    env = server_environment(fixture)
    flags = ["--pkgs-path", pkgs, "--build-command", wrapper()]
    server = Server(storage, work / "registry.log", env, *flags)
    statics, others = [], []
    try:
        base = f"http://{server.host}"
        print("cold pull of hello ...", file=sys.stderr)
        ttfb, pull, manifest = await cold(base)
        layer = max(manifest["layers"], key=lambda l: l["size"])
        status, headers, body = server.request("GET", "/v2/hello/manifests/latest")
        manifest_digest = headers["docker-content-digest"]
        targets = {
            "manifest": ("/v2/hello/manifests/latest", len(body), manifest_digest,
                         f"/manifests/sha256/{manifest_digest[7:]}"),
            "blob": (f"/v2/hello/blobs/{layer['digest']}", layer["size"], layer["digest"],
                     f"/blobs/sha256/{layer['digest'][7:]}"),
        }
        replica = Server(storage, work / "replica.log", env, *flags)
        others.append(replica)
        peer = Registry().__enter__()
        others.append(peer)
        await upload(f"http://{peer.host}", storage, manifest, body)
        servers = {"registry": [base], "registry, 2 replicas": [base, f"http://{replica.host}"],
                   "docker-registry": [f"http://{peer.host}"]}
        for kind in ("http.server", "aiohttp static"):
            port = free_port()
            statics.append(start_static(kind, storage, port))
            servers[kind] = [f"http://127.0.0.1:{port}"]
            await wait_for(servers[kind][0] + "/")
        rows = []
        for what, (path, size, digest, static_path) in targets.items():
            for name, urls in servers.items():
                print(f"{what} from {name} ...", file=sys.stderr)
                served = path if name.startswith(("registry", "docker-registry")) else static_path
                result = await load([url + served for url in urls], size, args.clients, args.seconds,
                                    args.max_requests, digest, {"Accept": DOCKER})
                rows.append({"what": what, "server": name, "size": size, **summary(result, size)})
        return {"cold_ttfb_s": ttfb, "cold_pull_s": pull, "layers": len(manifest["layers"]),
                "clients": args.clients, "rows": rows}
    finally:
        for p in statics:
            p.terminate()
            p.wait()
        for other in others:
            other.stop() if isinstance(other, Server) else other.__exit__()
        server.stop()


def table(report, args):
    lines = [f"cold build of hello ({report['layers']} layers): first byte of the manifest after "
             f"{report['cold_ttfb_s']:.2f} s, whole image pulled after {report['cold_pull_s']:.2f} s",
             f"warm, {report['clients']} clients on loopback:", "",
             "| what | server | requests | req/s | p50 ms | p99 ms | MB/s | registry / this |",
             "|---|---|---|---|---|---|---|---|"]
    ours = {r["what"]: r for r in report["rows"] if r["server"] == "registry"}
    for r in report["rows"]:
        key = "mb_per_s" if r["what"] == "blob" else "req_per_s"
        ratio = ours[r["what"]][key] / r[key]
        lines.append(f"| {r['what']} ({r['size']:,} B) | {r['server']} | {r['requests']} | {r['req_per_s']:.0f} | "
                     f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['mb_per_s']:.1f} | {ratio:.2f} |")
    peer = next(r for r in report["rows"] if r["what"] == "blob" and r["server"] == "docker-registry")
    lines += ["", f"blob throughput: {ours['blob']['mb_per_s'] / peer['mb_per_s']:.2f} x docker-registry's "
                  "(target: at least 0.8)"]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0, help="time limit of each measurement")
    parser.add_argument("--max-requests", type=int, default=20000, help="request limit of each measurement")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    return run("registry_load", measure, table, parser.parse_args(argv))


def run(name, measure, table, args):
    """Run `measure(args, folder)` in a temporary folder and print
    `table(report, args)` (and the JSON to ``args.json``); the exit status,
    1 with one line on stderr if the measurement failed."""
    with tempfile.TemporaryDirectory() as work:
        try:
            report = asyncio.run(measure(args, Path(work)))
        except RuntimeError as e:
            print(f"{name}: {e}", file=sys.stderr)
            return 1
    print(table(report, args))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
