"""The registry's parts without Nix: names, manifests, storage, metrics,
build error lines, and that the engine never imports the HTTP stack."""

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

from group_layers.registry import manifests, names
from group_layers.registry.builds import ImageRequest, last_error_line
from group_layers.registry.limits import Busy, NegativeCache, RateLimiter
from group_layers.registry.metrics import Metrics
from group_layers.registry.storage import DigestMismatch, FilesystemStorage
from registry_support import no_temp_files


def test_image_names_become_sorted_packages_with_shell_expanded():
    assert names.packages("git/htop") == names.packages("htop/git") == (("git", "htop"), frozenset())
    packages, optional = names.packages("shell/git/coreutils")
    assert packages == tuple(sorted({"git", *names.SHELL_PACKAGES}))
    assert "coreutils" not in optional and "bashinteractive" in optional  # asked for by name: required
    assert names.packages("python3packages.requests")[0] == ("python3packages.requests",)


@pytest.mark.parametrize("bad", ["", "Hello", "a//b", "../x", "a/..", ".a", "a-", "a" * 256, "a%2fb", "a b",
                                 "/a", "a/"])
def test_invalid_names_are_refused(bad):
    with pytest.raises(names.InvalidName):
        names.check_name(bad)


def test_digests_are_sha256_hex_only():
    assert names.parse_digest("sha256:" + "a" * 64) == "a" * 64
    for bad in ["sha256:" + "A" * 64, "sha256:" + "a" * 63, "sha512:" + "a" * 128, "sha256:../" + "a" * 61]:
        with pytest.raises(names.InvalidName):
            names.parse_digest(bad)


def test_accept_header_lines_and_q_values_choose_the_manifest():
    docker, oci, index = manifests.DOCKER_MANIFEST, manifests.OCI_MANIFEST, manifests.OCI_INDEX
    assert manifests.choose([]) == docker
    assert manifests.choose([oci]) == oci
    # Both accepted with the same q: Docker's, wherever each is listed.
    assert manifests.choose([f"{oci}, {docker}"]) == docker
    assert manifests.choose([index, oci, docker]) == docker  # skopeo's lines
    assert manifests.choose([index, oci]) == oci  # the conformance suite's lines
    assert manifests.choose([f"{oci}; q=1.0, application/json"]) == oci
    # q-values: the higher wins, q=0 refuses, the most specific range counts.
    assert manifests.choose([f"{docker};q=0.5", f"{oci}"]) == oci
    assert manifests.choose([f"{docker} ; Q=0.9", f"{oci};q=0.8"]) == docker
    assert manifests.choose([f"{docker};q=0", "application/*;q=0.2"]) == oci
    assert manifests.choose([f"*/*;q=0.1, {oci};q=0.3"]) == oci
    assert manifests.choose([f"{oci};q=bogus, {docker};q=0.1"]) == docker
    assert manifests.choose(["text/html"]) == docker  # neither: the client decides


def test_oci_manifest_keeps_blobs_and_maps_every_layer_type():
    docker = {"schemaVersion": 2, "mediaType": manifests.DOCKER_MANIFEST,
              "config": {"mediaType": manifests.DOCKER_CONFIG, "size": 3, "digest": "sha256:" + "c" * 64},
              "layers": [{"mediaType": t, "size": 1, "digest": "sha256:" + d * 64}
                         for t, d in ((t, "1") for t in manifests.OCI_LAYER)] +
                        [{"mediaType": "application/x-future", "size": 2, "digest": "sha256:" + "2" * 64}]}
    oci = manifests.to_oci(docker)
    assert [l["mediaType"] for l in oci["layers"]] == [*manifests.OCI_LAYER.values(), "application/x-future"]
    assert [(l["digest"], l["size"]) for l in oci["layers"]] == [(l["digest"], l["size"]) for l in docker["layers"]]
    assert manifests.media_type(manifests.encode(oci)) == manifests.OCI_MANIFEST


def test_storage_checks_digests_in_and_out(tmp_path):
    storage = FilesystemStorage(tmp_path / "s")
    data = b"layer bytes" * 1000
    source = tmp_path / "blob"
    source.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    with pytest.raises(DigestMismatch):
        storage.put_blob("0" * 64, source)
    assert storage.blob("0" * 64) is None and no_temp_files(tmp_path / "s")
    assert storage.put_blob(digest, source) is True
    assert storage.put_blob(digest, source) is False
    assert storage.blob(digest).path.read_bytes() == data
    # Damaged in the shared folder: another server refuses to serve it.
    path = storage.blob(digest).path
    path.chmod(0o644)
    path.write_bytes(b"damaged")
    assert FilesystemStorage(tmp_path / "s").blob(digest) is None
    manifest = b'{"mediaType": "x"}'
    assert storage.manifest(storage.put_manifest(manifest)) == manifest
    storage.put_image("a" * 64, {"docker": "b" * 64})
    assert storage.image("a" * 64) == {"docker": "b" * 64}
    assert storage.image("c" * 64) is None
    with pytest.raises(ValueError):
        storage.manifest("../../etc/passwd")


def test_cache_key_covers_packages_source_budget_and_popularity():
    base = ImageRequest(("a", "b"), "path!/nix/store/x", True, 96, None)
    keys = {base.key(), ImageRequest(("a",), "path!/nix/store/x", True, 96, None).key(),
            ImageRequest(("a", "b"), "path!/nix/store/y", True, 96, None).key(),
            ImageRequest(("a", "b"), "path!/nix/store/x", True, 40, None).key(),
            ImageRequest(("a", "b"), "path!/nix/store/x", True, 96, "/s/files/p/popularity.json").key()}
    assert len(keys) == 5


def test_metrics_render_prometheus_text():
    m = Metrics()
    m.count("registry_requests_total", method="GET", code="200")
    m.count("registry_bytes_served_total", 12345678901)
    m.observe("registry_build_seconds", 1.5)
    text = m.render()
    assert 'registry_requests_total{code="200",method="GET"} 1\n' in text
    assert "registry_bytes_served_total 12345678901\n" in text
    assert "registry_build_seconds_sum 1.500000\nregistry_build_seconds_count 1\n" in text
    assert "# TYPE registry_build_seconds summary" in text


def test_last_error_line_names_the_failed_builder_and_its_last_words():
    nix28 = ["building '/nix/store/x-broken.drv'...", "compiling", "broken.c:1: syntax error",
             "error: builder for '/nix/store/x-broken.drv' failed with exit code 1",
             "error: 1 dependencies of derivation '/nix/store/y.drv' failed to build"]
    assert last_error_line(nix28) == \
        "error: builder for '/nix/store/x-broken.drv' failed with exit code 1: broken.c:1: syntax error"
    newer = ["error: builder for '/nix/store/x.drv' failed with exit code 2;", "last 10 log lines:",
             "> one", "> two", "For full logs, run 'nix log /nix/store/x.drv'."]
    assert last_error_line(newer) == "error: builder for '/nix/store/x.drv' failed with exit code 2;: two"
    assert last_error_line(["warning", "error: attribute 'x' missing", "(use '--show-trace')"]) == \
        "error: attribute 'x' missing"


def test_the_engine_does_not_import_the_http_stack():
    code = ("import json, sys, group_layers.cli, group_layers.graph, group_layers.strategies; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('aiohttp'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def _stored_image(storage, tmp_path, layers=(b"layer one" * 100, b"layer two" * 100)):
    """An image record with a config and `layers` in `storage`; (key, record, digests)."""
    digests = []
    for i, data in enumerate([json.dumps({"layers": len(layers[0])}).encode(), *layers]):
        source = tmp_path / f"blob{i}"
        source.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        storage.put_blob(digest, source)
        digests.append(digest)
    docker = {"schemaVersion": 2, "mediaType": manifests.DOCKER_MANIFEST,
              "config": {"mediaType": manifests.DOCKER_CONFIG, "size": 1, "digest": f"sha256:{digests[0]}"},
              "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar", "size": len(l),
                          "digest": f"sha256:{d}"} for l, d in zip(layers, digests[1:])]}
    record = {"docker": storage.put_manifest(manifests.encode(docker)),
              "oci": storage.put_manifest(manifests.encode(manifests.to_oci(docker)))}
    key = hashlib.sha256(repr(digests).encode()).hexdigest()
    storage.put_image(key, record)
    return key, record, digests


def test_a_record_is_intact_only_with_every_blob_and_manifest_undamaged(tmp_path):
    storage = FilesystemStorage(tmp_path / "s")
    key, record, (config, layer, _) = _stored_image(storage, tmp_path)
    assert storage.intact(record)
    blob = tmp_path / "s" / "blobs" / "sha256" / layer
    data = bytearray(blob.read_bytes())
    data[5] ^= 1
    blob.write_bytes(bytes(data))
    # The same server notices (the file changed since it was verified).
    assert not storage.intact(record) and not blob.exists()
    (tmp_path / "blob1").write_bytes(b"layer one" * 100)
    assert storage.put_blob(layer, tmp_path / "blob1") is True
    assert storage.intact(record)
    (tmp_path / "s" / "blobs" / "sha256" / config).unlink()
    assert not FilesystemStorage(tmp_path / "s").intact(record)
    (tmp_path / "s" / "manifests" / "sha256" / record["oci"]).unlink()
    assert not storage.intact(record)
    # A damaged manifest is neither served nor kept: storing it again mends it.
    docker = tmp_path / "s" / "manifests" / "sha256" / record["docker"]
    good = docker.read_bytes()
    docker.write_bytes(good.replace(b"schemaVersion", b"schemaVersioN"))
    assert storage.manifest(record["docker"]) is None and not docker.exists()
    assert storage.put_manifest(good) == record["docker"] and docker.read_bytes() == good


def test_scrub_drops_the_records_whose_blobs_are_gone_and_keeps_the_others(tmp_path):
    storage = FilesystemStorage(tmp_path / "s")
    damaged_key, _, (_, damaged, _) = _stored_image(storage, tmp_path)
    kept_key, _, _ = _stored_image(storage, tmp_path, layers=(b"other layer" * 50,))
    blob = tmp_path / "s" / "blobs" / "sha256" / damaged
    blob.write_bytes(b"bit rot" + blob.read_bytes()[7:])
    summary = FilesystemStorage(tmp_path / "s").scrub()
    assert summary == {"blobs": 5, "damaged": 1, "images": 2, "dropped": 1}
    assert storage.image(damaged_key) is None and storage.image(kept_key) is not None
    assert FilesystemStorage(tmp_path / "s").scrub() == {"blobs": 4, "damaged": 0, "images": 1, "dropped": 0}


def test_gc_removes_only_unreferenced_files_older_than_the_grace_period(tmp_path):
    storage = FilesystemStorage(tmp_path / "s")
    key, record, digests = _stored_image(storage, tmp_path)
    storage.drop_image(key)  # now nothing references them
    kept_key, kept_record, kept_digests = _stored_image(storage, tmp_path, layers=(b"kept" * 10,))
    assert storage.collect_garbage(3600) == {"blobs_removed": 0, "manifests_removed": 0, "bytes_freed": 0}
    old = time.time() - 7200
    for path in (tmp_path / "s").glob("*/sha256/*"):
        os.utime(path, (old, old))
    # Storing a blob that is there (a build reusing it) protects it again.
    (tmp_path / "again").write_bytes(b"layer two" * 100)
    storage.put_blob(digests[2], tmp_path / "again")
    removed = storage.collect_garbage(3600)
    assert removed["blobs_removed"] == 2 and removed["manifests_removed"] == 2
    left = {p.name for p in (tmp_path / "s" / "blobs" / "sha256").iterdir()}
    assert left == {digests[2], *kept_digests}
    assert storage.intact(kept_record)


def test_temp_files_of_a_dead_server_are_swept_at_start_and_a_live_ones_kept(tmp_path):
    live = FilesystemStorage(tmp_path / "s")
    (live.tmp / "half-written").write_bytes(b"x")
    dead = subprocess.run([sys.executable, "-c",
                           "import sys, os; from group_layers.registry.storage import FilesystemStorage; "
                           "s = FilesystemStorage(sys.argv[1]); (s.tmp / 'partial').write_bytes(b'y'); "
                           "os.kill(os.getpid(), 9)", str(tmp_path / "s")])
    assert dead.returncode == -9
    assert len(list((tmp_path / "s" / "tmp").iterdir())) == 2
    again = FilesystemStorage(tmp_path / "s")
    assert again.swept == 1
    assert (live.tmp / "half-written").exists()
    assert {p.name for p in (tmp_path / "s" / "tmp").iterdir()} == {live.tmp.name, again.tmp.name}
    again.close()
    assert not again.tmp.exists()


def test_one_build_lock_per_image_across_servers(tmp_path):
    a, b = FilesystemStorage(tmp_path / "s"), FilesystemStorage(tmp_path / "s")
    held = a.build_lock("a" * 64)
    assert held is not None
    assert b.build_lock("a" * 64) is None
    other = b.build_lock("b" * 64)
    assert other is not None
    held.close()
    assert b.build_lock("a" * 64) is not None


def test_scrub_and_gc_commands_print_a_summary_and_refuse_bad_arguments(tmp_path):
    storage = FilesystemStorage(tmp_path / "s")
    key, _, (config, _, _) = _stored_image(storage, tmp_path)
    (tmp_path / "s" / "blobs" / "sha256" / config).unlink()
    command = [sys.executable, "-m", "group_layers.registry"]
    scrub = subprocess.run([*command, "scrub", "--storage", str(tmp_path / "s")], capture_output=True, text=True)
    assert scrub.returncode == 0, scrub.stderr
    assert json.loads(scrub.stdout) == {"blobs": 2, "damaged": 0, "images": 1, "dropped": 1}
    assert "2/2 blobs hashed" in scrub.stderr
    gc = subprocess.run([*command, "gc", "--storage", str(tmp_path / "s"), "--grace", "0"],
                        capture_output=True, text=True)
    assert gc.returncode == 0, gc.stderr
    assert json.loads(gc.stdout)["blobs_removed"] == 2
    assert not any((tmp_path / "s" / "blobs" / "sha256").iterdir())
    for args, message in ((["gc", "--storage", str(tmp_path / "s"), "--grace", "-1"], "must not be negative"),
                          (["scrub", "--storage", str(tmp_path / "none")], "not a folder"),
                          (["scrub"], "no storage folder"), (["gc", "--frobnicate"], "unrecognized")):
        proc = subprocess.run([*command, *args], capture_output=True, text=True,
                              env={k: v for k, v in os.environ.items() if k != "STORAGE_PATH"})
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_negative_cache_answers_until_its_time_and_stays_bounded():
    clock = Clock()
    cache = NegativeCache(60, size=3, clock=clock)
    cache.put("a", ["nosuch"])
    assert cache.get("a") == ["nosuch"]
    clock.now += 61
    assert cache.get("a") is None
    for key in "bcde":
        cache.put(key, [key])
    assert len(cache.entries) == 3 and cache.get("b") is None and cache.get("e") == ["e"]
    off = NegativeCache(0)
    off.put("a", ["x"])
    assert off.get("a") is None


def test_rate_limiter_allows_a_minutes_worth_then_refills_per_client():
    clock = Clock()
    limiter = RateLimiter(6, size=2, clock=clock)
    for _ in range(6):
        limiter.take("10.0.0.1")
    with pytest.raises(Busy) as refused:
        limiter.take("10.0.0.1")
    assert refused.value.retry_after == 10  # one token every 10 s
    limiter.take("10.0.0.2")  # another client has its own bucket
    clock.now += 10
    limiter.take("10.0.0.1")
    with pytest.raises(Busy):
        limiter.take("10.0.0.1")
    limiter.take("10.0.0.3")
    assert len(limiter.buckets) == 2  # bounded: the least recent client went
    RateLimiter(0).take("anyone")  # 0: no limit
