"""group-layers-registry as a service: build limits and timeouts, graceful
shutdown, git package sources (the tag picks the revision), popularity
data from a URL. Real Nix builds on the offline fixture, each test with a
package set of its own (a fresh nonce: cold builds), servers on 127.0.0.1.
"""

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from registry_fixtures import build_command, env, fixture  # noqa: F401 (fixtures)

from registry_support import Server, hang_seconds, no_temp_files, package_set, run, write_package_set

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build is not installed")


@pytest.fixture
def start(tmp_path, fixture, env, build_command):
    """start(*flags, pkgs=None) -> a Server on a new storage; a fresh package
    set unless another source is given."""
    servers = []

    def start(*flags, source=None):
        if source is None:
            nonce = uuid.uuid4().hex
            source = ["--pkgs-path", package_set(tmp_path / f"pkgs-{nonce}", nonce, fixture)]
            start.nonce = nonce
        n = len(servers)
        server = Server(tmp_path / f"storage{n}", tmp_path / f"server{n}.log", env, *source,
                        "--build-command", build_command, *flags)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def get(server, name, tag="latest"):
    status, headers, body = server.request("GET", f"/v2/{name}/manifests/{tag}")
    return status, headers, json.loads(body)


def intervals(server):
    """{packages: (start, end)} of the server's builds."""
    return {" ".join(e["packages"]): (e["time"] - e["seconds"], e["time"]) for e in server.events("build")}


@pytest.mark.parametrize("max_builds", [1, 2])
def test_different_images_build_in_parallel_up_to_the_limit(start, max_builds):
    server = start("--max-builds", str(max_builds))
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda name: get(server, name)[0], ["slowa", "slowb"]))
    assert answers == [200, 200]
    (a0, a1), (b0, b1) = intervals(server)["slowa"], intervals(server)["slowb"]
    overlap = min(a1, b1) - max(a0, b0)
    if max_builds == 2:
        assert overlap > 2, (a0, a1, b0, b1)
    else:
        assert overlap <= 0, (a0, a1, b0, b1)


def test_unknown_names_are_evaluated_once_then_answered_from_memory(start):
    server = start()
    for _ in range(3):
        status, _, body = get(server, "nosuchthing/hello")
        assert status == 404 and body["errors"][0]["detail"]["not_found"] == ["nosuchthing"]
    assert [e["packages"] for e in server.events("build")] == [["hello", "nosuchthing"]]
    assert server.metrics()["registry_negative_cache_hits_total"] == 2


def test_a_client_over_its_build_rate_gets_429_and_others_do_not(start):
    server = start("--client-builds-per-minute", "2")
    assert [get(server, f"nosuch{i}")[0] for i in range(2)] == [404, 404]
    status, headers, body = server.request("GET", "/v2/nosuch2/manifests/latest")
    assert status == 429 and json.loads(body)["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert 1 <= int(headers["retry-after"]) <= 30
    # What costs no build is still served to it: a name found unknown before.
    assert get(server, "nosuch0")[0] == 404
    # Another client is not limited by this one.
    status, _, _ = server.request("GET", "/v2/nosuch2/manifests/latest", source="127.0.0.2")
    assert status == 404
    assert len(server.events("build")) == 3


def test_a_full_build_queue_is_429_with_retry_after(start):
    server = start("--max-builds", "1", "--max-queue", "1")
    with ThreadPoolExecutor(2) as pool:
        slow = list(pool.map(lambda name: pool.submit(get, server, name), ["slowa", "slowb"]))
        # Both asked for (one building, one queued) before the third comes.
        deadline = time.monotonic() + 60
        while server.metrics().get("registry_cache_misses_total", 0) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        status, headers, body = server.request("GET", "/v2/hello/manifests/latest")
        assert status == 429 and json.loads(body)["errors"][0]["code"] == "TOOMANYREQUESTS"
        assert int(headers["retry-after"]) >= 1
        # Joining a build in the queue costs nothing: it is not refused.
        assert get(server, "slowb")[0] == 200
        assert [f.result()[0] for f in slow] == [200, 200]
    assert server.metrics()['registry_requests_refused_total{reason="build queue full"}'] == 1


def test_too_many_packages_in_a_name_is_400_before_any_build(start):
    server = start("--max-packages", "3")
    status, _, body = get(server, "a/b/c/d")
    assert status == 400 and body["errors"][0]["code"] == "NAME_INVALID"
    assert get(server, "shell/hello")[0] == 200  # shell's packages do not count
    assert server.events("build") and all("hello" in e["packages"] for e in server.events("build"))


def _hanging_builders(nonce):
    """Processes running the `hang` package's builder (found by its unique
    sleep time)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if hang_seconds(nonce).encode() in cmdline:
            found.append(int(pid))
    return found


def test_build_timeout_is_a_500_and_not_cached(start):
    server = start("--timeout", "3")
    try:
        for _ in range(2):
            status, _, body = get(server, "hang")
            assert status == 500
            assert "timed out after 3 s" in body["errors"][0]["message"]
        assert [e["result"] for e in server.events("build")] == ["timeout", "timeout"]
        deadline = time.monotonic() + 20
        while _hanging_builders(start.nonce) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _hanging_builders(start.nonce), "the timed-out build is still running"
    finally:
        for pid in _hanging_builders(start.nonce):  # started by this test's builds
            os.kill(pid, signal.SIGKILL)


def _alive(pid):
    """Whether process `pid` runs (a zombie does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _descendants(pid):
    children = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_builds_die_with_a_server_killed_with_sigkill(start):
    server = start()
    def pull():
        with pytest.raises(OSError):  # the server dies under it
            server.request("GET", "/v2/hang/manifests/latest", timeout=120)

    threading.Thread(target=pull, daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while not _hanging_builders(start.nonce):
            assert time.monotonic() < deadline, "the hang package's builder did not start"
            time.sleep(0.2)
        build = _descendants(server.proc.pid)
        assert build
        server.proc.kill()
        server.proc.wait()
        deadline = time.monotonic() + 30
        while (left := [p for p in build + _hanging_builders(start.nonce) if _alive(p)]):
            assert time.monotonic() < deadline, f"still running after the server was killed: {left}"
            time.sleep(0.2)
    finally:
        for pid in _hanging_builders(start.nonce):
            os.kill(pid, signal.SIGKILL)


def test_sigterm_lets_the_in_flight_response_finish(start):
    server = start()
    result = {}
    thread = threading.Thread(target=lambda: result.update(answer=get(server, "slowa")))
    thread.start()
    deadline = time.monotonic() + 30
    while server.metrics().get("registry_builds_running", 0) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    server.proc.send_signal(signal.SIGTERM)
    thread.join(120)
    status, headers, manifest = result["answer"]
    assert status == 200 and manifest["layers"]
    assert server.proc.wait(60) == 0
    storage = Path(server.log_path.parent / "storage0")
    assert no_temp_files(storage)
    for layer in manifest["layers"]:
        assert (storage / "blobs" / "sha256" / layer["digest"].removeprefix("sha256:")).is_file()


def test_sigterm_with_a_drain_delay_turns_readiness_off_and_still_serves(start):
    server = start("--drain-delay", "4")
    server.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 3
    while not server.events("draining"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    status, _, body = server.request("GET", "/readyz")
    assert (status, json.loads(body)) == (503, {"status": "draining"})
    assert server.request("GET", "/healthz")[0] == 200
    assert get(server, "hello")[0] == 200  # still serving during the delay
    assert server.proc.wait(60) == 0


def _git(repo, *args):
    return run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], None)


def test_git_source_the_tag_picks_the_revision(start, tmp_path, fixture):
    repo = write_package_set(tmp_path / "repo", uuid.uuid4().hex, fixture)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "default.nix")
    _git(repo, "commit", "-q", "-m", "one")
    first = _git(repo, "rev-parse", "HEAD")
    server = start(source=["--pkgs-repo", str(repo)])
    status, headers, latest = get(server, "hello", "latest")
    assert status == 200
    # The same revision by commit and by branch: served from the cache.
    assert get(server, "hello", first)[1]["docker-content-digest"] == headers["docker-content-digest"]
    assert get(server, "hello", "main")[1]["docker-content-digest"] == headers["docker-content-digest"]
    assert len(server.events("build")) == 1
    assert server.metrics()["registry_cache_hits_total"] == 2
    status, _, body = get(server, "hello", "nosuchbranch")
    assert status == 404 and body["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    # A new commit: latest moves, the old commit still gives the old image.
    write_package_set(repo, uuid.uuid4().hex, fixture)
    _git(repo, "commit", "-q", "-am", "two")
    assert get(server, "hello", "latest")[1]["docker-content-digest"] != headers["docker-content-digest"]
    assert get(server, "hello", first)[1]["docker-content-digest"] == headers["docker-content-digest"]
    assert len(server.events("build")) == 2


def test_popularity_from_a_url_is_used_and_kept_in_the_storage(start, tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    popularity = json.dumps({"bash-5.2.15": 100, "libgreeting-1.0": 5}).encode()
    (served / "popularity.json").write_bytes(popularity)
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(served))
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        server = start("--popularity-url", f"http://127.0.0.1:{web.server_port}/popularity.json")
    finally:
        web.shutdown()
    kept = Path(server.events("start")[0]["popularity"])
    assert kept.read_bytes() == popularity and str(kept).startswith(str(tmp_path / "storage0"))
    assert get(server, "hello")[0] == 200


def test_nixery_environment_variables_configure_it(tmp_path, fixture, env, build_command):
    pkgs = package_set(tmp_path / "pkgs", uuid.uuid4().hex, fixture)
    nixery = {**env, "NIXERY_PKGS_PATH": pkgs, "NIX_TIMEOUT": "123", "NIXERY_STORAGE_BACKEND": "filesystem",
              "STORAGE_PATH": str(tmp_path / "ignored"), "GROUP_LAYERS_BUILD_COMMAND": build_command}
    server = Server(tmp_path / "storage", tmp_path / "log", nixery)
    try:
        started, = server.events("start")
        assert started["source"] == f"path {pkgs}" and started["timeout"] == 123
        assert started["storage"] == str(tmp_path / "storage")  # the flag wins over STORAGE_PATH
        assert get(server, "hello")[0] == 200
    finally:
        assert server.stop() == 0


def test_bad_settings_exit_2_with_one_line(tmp_path):
    cases = [
        ({"NIXERY_STORAGE_BACKEND": "gcs", "STORAGE_PATH": str(tmp_path)}, [], "only 'filesystem'"),
        ({}, [], "no storage folder"),
        ({"STORAGE_PATH": str(tmp_path), "NIXERY_CHANNEL": "nixos-unstable"}, ["--pkgs-path", str(tmp_path)],
         "at most one"),
        ({"STORAGE_PATH": str(tmp_path), "PORT": "eighty"}, [], "--port"),
        ({"STORAGE_PATH": str(tmp_path)}, ["--popularity", str(tmp_path / "none.json")], "not a file"),
        ({"STORAGE_PATH": str(tmp_path)}, ["--popularity-url", "http://127.0.0.1:9/p.json",
                                           "--build-command", sys.executable], "popularity URL"),
        # Installed with pip, without the toolkit's wrapper on PATH.
        ({"STORAGE_PATH": str(tmp_path), "PATH": os.path.dirname(sys.executable)}, [],
         "'nixery-build-image' not found"),
        ({"STORAGE_PATH": str(tmp_path)}, ["--build-command", str(tmp_path / "nothing-here")], "not found"),
    ]
    for variables, args, message in cases:
        clean = {k: v for k, v in os.environ.items()
                 if k not in ("PORT", "STORAGE_PATH") and not k.startswith("NIXERY_")}
        proc = subprocess.run([sys.executable, "-m", "group_layers.registry", "--host", "127.0.0.1", *args],
                              env={**clean, **variables}, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, (variables, args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr


def test_a_blob_that_is_not_what_the_manifest_says_is_never_stored(tmp_path, env):
    """A build whose output lies (a layer file with another digest than its
    manifest's): 500, and neither the blob nor a temporary file is left."""
    layer = tmp_path / "layer.tar"
    layer.write_bytes(b"not the layer the manifest names")
    claimed = "ab" * 32
    output = tmp_path / "manifest-output.json"
    output.write_text(json.dumps({
        "manifest": {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                     "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 32,
                                "digest": f"sha256:{claimed}"},
                     "layers": []},
        "layerLocations": {claimed: {"path": str(layer), "md5": ""}}}))
    lying_build = tmp_path / "lying-build"
    lying_build.write_text(f"#!/bin/sh\necho {output}\n")
    lying_build.chmod(0o755)
    server = Server(tmp_path / "storage", tmp_path / "log", env, "--build-command", str(lying_build))
    try:
        status, _, body = get(server, "hello")
        assert status == 500 and "could not be stored" in body["errors"][0]["message"]
        assert not (tmp_path / "storage" / "blobs" / "sha256" / claimed).exists()
        assert no_temp_files(tmp_path / "storage")
    finally:
        assert server.stop() == 0


def test_two_servers_on_one_storage_build_a_cold_image_once(tmp_path, fixture, env, build_command):
    """The storage's build lock: two replicas asked for one cold image at
    once build it once; the other waits for the lock, then serves the stored
    image."""
    pkgs = package_set(tmp_path / "pkgs", uuid.uuid4().hex, fixture)
    servers = [Server(tmp_path / "storage", tmp_path / f"{n}.log", env, "--pkgs-path", pkgs,
                      "--build-command", build_command) for n in "ab"]
    try:
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda s: get(s, "slowa"), servers))
        assert [status for status, _, _ in answers] == [200, 200]
        assert len({headers["docker-content-digest"] for _, headers, _ in answers}) == 1
        builds = [e for s in servers for e in s.events("build")]
        assert [e["packages"] for e in builds] == [["slowa"]]
        assert sum(s.metrics().get("registry_builds_waited_total", 0) for s in servers) == 1
    finally:
        for s in servers:
            assert s.stop() == 0


def _gc(storage, *flags):
    proc = subprocess.run([sys.executable, "-m", "group_layers.registry", "gc", "--storage", str(storage), *flags],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_gc_on_a_shared_storage_spares_what_images_use_and_what_is_young(tmp_path, fixture, env, build_command):
    """Replica a builds from a pinned source (its images are recorded);
    replica b from an unpinned one (its blobs have no record, as a build in
    flight's have not yet). gc keeps b's young blobs; with no grace period it
    removes them and keeps a's, which a still serves whole; b builds its
    image again when asked, storing the blobs again."""
    storage = tmp_path / "storage"
    pinned = package_set(tmp_path / "pinned", uuid.uuid4().hex, fixture)
    unpinned = write_package_set(tmp_path / "unpinned", uuid.uuid4().hex, fixture)
    a = Server(storage, tmp_path / "a.log", env, "--pkgs-path", pinned, "--build-command", build_command)
    b = Server(storage, tmp_path / "b.log", env, "--pkgs-path", str(unpinned), "--build-command", build_command)
    try:
        status, _, mine = get(a, "hello")
        assert status == 200
        status, _, theirs = get(b, "hello")
        assert status == 200
        only_b = {l["digest"] for l in theirs["layers"]} - {l["digest"] for l in mine["layers"]}
        assert only_b, "the two package sets' images share every layer"
        assert _gc(storage)["blobs_removed"] == 0
        removed = _gc(storage, "--grace", "0")
        assert removed["blobs_removed"] >= len(only_b)
        blobs = storage / "blobs" / "sha256"
        assert not any((blobs / d[7:]).exists() for d in only_b)
        assert all((blobs / d["digest"][7:]).exists() for d in [mine["config"], *mine["layers"]])
        # a's image keeps its SBOM: the artifact that refers to it, and the artifact's blobs
        status, headers, _ = a.request("GET", "/v2/hello/manifests/latest")
        status, _, body = a.request("GET", f"/v2/hello/referrers/{headers['docker-content-digest']}")
        [artifact] = json.loads(body)["manifests"]
        status, _, body = a.request("GET", f"/v2/hello/manifests/{artifact['digest']}")
        assert status == 200
        sbom = json.loads(body)
        assert all((blobs / d["digest"][7:]).exists() for d in [sbom["config"], *sbom["layers"]])
        run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{a.host}/hello:latest",
             f"oci:{tmp_path / 'oci'}:a"], None)
        assert a.metrics().get("registry_images_repaired_total", 0) == 0
        assert get(b, "hello")[0] == 200
        assert all((blobs / d[7:]).exists() for d in only_b)
    finally:
        for s in (a, b):
            assert s.stop() == 0
