"""Image delivery with real Nix, skopeo and umoci: the streamed image, the
stored archive, compressed layers, push to a registry, the mode without
import-from-derivation, layers that survive a toolchain bump, and builders
that are not killed under load (issues 11, 13 and 12).

The registry is Debian's docker-registry (tests/oci_test_registry.py),
started on 127.0.0.1 by the tests that use it.
"""

import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nix_support import NIX_OPTIONS, REPO
from benchmarks.delivery import path_infos
from oci_test_registry import Registry
from test_nix_build_image import nix_build, nix_env, packages, run  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build is not installed")

HELLO = [*packages("hello"), "--argstr", "tag", "delivery"]
# An overlay of the offline package set that changes coreutils' derivation
# (not its programs), as a nixpkgs update does.
BUMPED_PKGS = ("import <nixpkgs> { overlays = [ (final: prev: { coreutils = prev.coreutils.overrideAttrs "
               "(old: { toolchainBump = \"1\"; }); }) ]; }")


@pytest.fixture(scope="module")
def hello_stream(nix_build):
    return nix_build("-A", "stream", *HELLO)


@pytest.fixture(scope="module")
def hello_archive(nix_build):
    return nix_build("-A", "image", *HELLO)


def streamed(stream, **kwargs):
    return subprocess.run([stream], capture_output=True, **kwargs)


def json_file(path):
    return json.loads(Path(path).read_text())


def fresh_contents(count, prefix="delivery"):
    """A Nix list of `count` new small packages (new store paths each run)."""
    seed = uuid.uuid4().hex[:12]
    return ("let pkgs = import <nixpkgs> { }; in builtins.genList (i: pkgs.runCommand "
            f"\"{prefix}-{seed}-${{toString i}}\" {{ }} ''mkdir -p $out/share; "
            f"echo {seed} ${{toString i}} > $out/share/data'') {count}")


# The stream and the archive ----------------------------------------------------


def test_stream_and_archive_are_the_same_bytes_every_time(hello_stream, hello_archive):
    first, second = streamed(hello_stream, check=True), streamed(hello_stream, check=True)
    assert first.stdout == second.stdout == Path(hello_archive).read_bytes()
    assert first.stderr == b""


def test_skopeo_and_umoci_read_the_stream(hello_stream, tmp_path, run):
    archive = tmp_path / "hello.tar"
    archive.write_bytes(streamed(hello_stream, check=True).stdout)
    inspected = json.loads(subprocess.run(["skopeo", "inspect", f"docker-archive:{archive}"],
                                          capture_output=True, text=True, check=True).stdout)
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]
        config = json.load(tar.extractfile(manifest["Config"]))
        for name in manifest["Layers"]:
            digest = hashlib.sha256(tar.extractfile(name).read()).hexdigest()
            assert name == f"{digest}/layer.tar"
    assert manifest["RepoTags"] == ["hello:delivery"]
    assert inspected["Layers"] == config["rootfs"]["diff_ids"]
    layout = f"{tmp_path / 'oci'}:hello"
    subprocess.run(["skopeo", "copy", "--quiet", f"docker-archive:{archive}", f"oci:{layout}"], check=True)
    subprocess.run(["umoci", "unpack", "--rootless", "--image", layout, str(tmp_path / "bundle")],
                   check=True, capture_output=True)
    hello = run("nix-build", "--no-out-link", *NIX_OPTIONS, "<nixpkgs>", "-A", "hello")
    assert (tmp_path / "bundle" / "rootfs" / hello.lstrip("/") / "bin" / "hello").is_file()


def test_streamed_image_adds_almost_nothing_to_the_store(hello_stream, run):
    """Store overhead: what the stream's closure holds beyond the image's
    contents and the tools (bash, coreutils, tar, python3) is the layers'
    records, the config, the customisation layer and the script."""
    contents = set(run("nix-store", "--query", "--requisites",
                       run("nix-build", "--no-out-link", *NIX_OPTIONS, "<nixpkgs>", "-A", "hello")).split())
    closure = run("nix-store", "--query", "--requisites", hello_stream).split()
    built = [p for p in closure if p not in contents and any(
        mark in p for mark in ("-layer-", "-config.json", "-stream-", "customisation-layer"))]
    assert any("-layer-hello" in p for p in built)
    size = {path: entry["narSize"] for path, entry in path_infos(run, [*built, *contents]).items()}
    overhead = sum(size[p] for p in built)
    closure_bytes = sum(size[p] for p in contents)
    assert overhead <= 0.05 * closure_bytes, (overhead, closure_bytes)


def test_stream_stops_when_the_store_does_not_give_the_recorded_bytes(hello_stream, tmp_path):
    script = Path(hello_stream).read_text()
    layer = next(word for word in script.split() if "-layer-hello" in word)
    forged = tmp_path / "layer"
    shutil.copytree(layer, forged)
    record = json_file(forged / "layer.json")
    record["diffId"] = "sha256:" + "0" * 64
    (forged / "layer.json").write_text(json.dumps(record))
    # The stream's own script, reading the forged record instead.
    (tmp_path / "stream").write_text(script.replace(layer, str(forged)))
    (tmp_path / "stream").chmod(0o755)
    result = streamed(str(tmp_path / "stream"))
    assert result.returncode == 1
    assert b"changed on disk" in result.stderr and b"Traceback" not in result.stderr
    assert b"manifest.json" not in result.stdout  # stopped before the archive's end


# Compressed layers, registry, push -----------------------------------------------


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_compressed_layers_push_pull_and_unpack(compression, nix_build, run, tmp_path):
    output_path = nix_build("-A", "buildImage", *HELLO, "--argstr", "compression", compression)
    output = json_file(output_path)
    manifest, locations = output["manifest"], output["layerLocations"]
    config = json_file(locations[manifest["config"]["digest"].removeprefix("sha256:")]["path"])
    media = {"gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
             "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}[compression]
    assert manifest["mediaType"].endswith("oci.image.manifest.v1+json" if compression == "zstd"
                                          else "docker.distribution.manifest.v2+json")
    for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"], strict=True):
        assert layer["mediaType"] == media
        location = locations[layer["digest"].removeprefix("sha256:")]
        blob = Path(location["path"]).read_bytes()
        assert location["path"].endswith({"gzip": ".tar.gz", "zstd": ".tar.zst"}[compression])
        assert (len(blob), "sha256:" + hashlib.sha256(blob).hexdigest()) == (layer["size"], layer["digest"])
        assert location["md5"] == base64.b64encode(hashlib.md5(blob).digest()).decode()
        raw = gzip.decompress(blob) if compression == "gzip" else subprocess.run(
            ["zstd", "-d", "-c"], input=blob, capture_output=True, check=True).stdout
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == diff_id
    # Deterministic: the layer derivation rebuilds to the same blob.
    first = str(Path(locations[manifest["layers"][0]["digest"].removeprefix("sha256:")]["path"]).parent)
    assert nix_build("--check", run("nix-store", "--query", "--deriver", first)) == first

    push = nix_build("-A", "push") + "/bin/push"
    with Registry() as registry:
        destination = f"{registry.host}/hello:{compression}"
        run(push, output_path, f"docker://{destination}", "--dest-tls-verify=false")
        layout = f"{tmp_path / 'oci'}:pulled"
        # umoci 0.4 reads no zstd: skopeo recompresses on the way for it.
        recompress = ["--dest-compress-format", "gzip"] if compression == "zstd" else []
        run("skopeo", "copy", "--quiet", "--src-tls-verify=false", *recompress, f"docker://{destination}",
            f"oci:{layout}")
        run("umoci", "unpack", "--rootless", "--image", layout, str(tmp_path / "bundle"))
    assert (tmp_path / "bundle" / "rootfs" / "bin" / "hello").exists()


def test_push_uploads_only_the_blobs_the_registry_lacks(nix_build, run):
    """Against Debian's docker-registry: a push uploads the image's blobs and
    its SBOM's; a second push of the image (another tag) uploads nothing; a
    push to another repository mounts the layers from the first (skopeo
    uploads the small configs again); a third image uploads only its own
    layers."""
    def build(*names):
        return nix_build("-A", "buildImage", *packages(*names), "--argstr", "compression", "gzip")

    hello, mixed = build("hello"), build("hello", "python3Packages.requests")
    manifests = {path: json_file(path)["manifest"] for path in (hello, mixed)}
    blobs = {path: {m["digest"] for m in manifests[path]["layers"]} for path in (hello, mixed)}
    shared = blobs[hello] & blobs[mixed]
    assert shared, "the two images share no layer"
    push = nix_build("-A", "push") + "/bin/push"
    with Registry() as registry:
        run(push, hello, f"docker://{registry.host}/hello:1", "--dest-tls-verify=false")
        after_first = registry.uploads.copy()
        run(push, hello, f"docker://{registry.host}/hello:2", "--dest-tls-verify=false")
        assert registry.uploads == after_first
        run(push, hello, f"docker://{registry.host}/hello-again:1", "--dest-tls-verify=false")
        # the configs again (the image's and its SBOM artifact's, {}); the layers and the SBOM mounted
        config = manifests[hello]["config"]["digest"]
        empty = "sha256:" + hashlib.sha256(b"{}").hexdigest()
        assert registry.uploads - after_first == Counter([config, empty])
        run(push, mixed, f"docker://{registry.host}/hello:mixed", "--dest-tls-verify=false")
    # its layers and its config, and its SBOM's artifact: the SBOM and the empty config
    sbom = "sha256:" + hashlib.sha256(Path(json_file(hello)["sbom"]).read_bytes()).hexdigest()
    assert set(after_first) == blobs[hello] | {config, sbom, empty}
    assert all(registry.uploads[digest] == 1 for digest in blobs[hello] | blobs[mixed])


def test_push_refuses_what_is_not_a_manifest_output(nix_build, tmp_path, nix_env):
    push = nix_build("-A", "push") + "/bin/push"
    (tmp_path / "x.json").write_text("[]")
    result = subprocess.run([push, str(tmp_path / "x.json"), "docker://127.0.0.1:1/x:y"],
                            capture_output=True, text=True, env=nix_env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not a manifest-output.json" in result.stderr


# Without import-from-derivation --------------------------------------------------


def test_group_at_build_time_needs_no_ifd_and_gives_the_same_layers(nix_build, hello_archive, nix_env):
    no_ifd = ["--option", "allow-import-from-derivation", "false"]
    refused = subprocess.run(["nix-instantiate", *NIX_OPTIONS, *no_ifd, "-A", "stream", *HELLO, "--argstr", "tag",
                              "other"], cwd=REPO, env=nix_env, capture_output=True, text=True)
    assert refused.returncode != 0  # the default mode does use IFD
    at_build_time = [*no_ifd, "--arg", "groupAtBuildTime", "true"]
    stream = nix_build("-A", "stream", *HELLO, *at_build_time)
    archive = nix_build("-A", "image", *HELLO, *at_build_time)
    with tarfile.open(hello_archive) as ifd, tarfile.open(archive) as built:
        assert sorted(ifd.getnames()) == sorted(built.getnames())
        for name in ifd.getnames():
            if name.endswith(".tar") or name.endswith(".json") and name != "manifest.json":
                assert ifd.extractfile(name).read() == built.extractfile(name).read(), name
    assert streamed(stream, check=True).stdout == Path(archive).read_bytes()
    registry = json_file(nix_build("-A", "buildImage", *HELLO, *at_build_time, "--argstr", "compression", "gzip"))
    ifd_registry = json_file(nix_build("-A", "buildImage", *HELLO, "--argstr", "compression", "gzip"))
    assert registry["manifest"]["layers"] == ifd_registry["manifest"]["layers"]


# A toolchain bump ---------------------------------------------------------------


def test_a_toolchain_bump_keeps_the_layers(nix_build, run):
    def layers(*args):
        paths = nix_build("-A", "buildImage.layers", *packages("hello"), *args).split()
        store_layers = [p for p in paths if "customisation" not in p]
        return ([run("nix-store", "--query", "--deriver", p) for p in store_layers],
                [json_file(f"{p}/layer.json")["diffId"] for p in store_layers])

    before_drvs, before_digests = layers()
    bumped_drvs, bumped_digests = layers("--arg", "pkgs", BUMPED_PKGS)
    pinned_drvs, pinned_digests = layers("--arg", "pkgs", BUMPED_PKGS, "--arg", "tools", "import <nixpkgs> { }")
    # Tools from the bumped set: new derivations, the same bytes.
    assert set(bumped_drvs).isdisjoint(before_drvs)
    assert bumped_digests == before_digests
    # Tools pinned: not even a new derivation.
    assert pinned_drvs == before_drvs and pinned_digests == before_digests


# Builders under load ------------------------------------------------------------


def test_concurrent_identical_image_builds_all_succeed(nix_env):
    command = ["nix-build", "--no-out-link", *NIX_OPTIONS, "-A", "image", "--arg", "contents", fresh_contents(3),
               "--argstr", "tag", "concurrent"]
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: subprocess.run(command, cwd=REPO, env=nix_env, capture_output=True,
                                                         text=True), range(10)))
    failures = [r.stderr[-2000:] for r in results if r.returncode != 0]
    assert not failures, failures[0]
    assert len({r.stdout for r in results}) == 1


def test_layer_builds_under_parallel_load_are_not_killed(nix_env):
    """LAYER_BUILDS (default 100; 500 for the issue's figure) layers of new
    paths, built by several nix-build processes at once, each with -j 8."""
    total = int(os.environ.get("LAYER_BUILDS", "100"))
    images = max(1, total // 100)

    def build(image):
        expression = (f"(import {REPO}/build-image {{ pkgs = import <nixpkgs> {{ }}; "
                      f"contents = {fresh_contents(total // images, f'load{image}')}; "
                      f"maxLayers = {total // images + 1}; }}).stream")
        return subprocess.run(["nix-build", "--no-out-link", *NIX_OPTIONS, "-j", "8", "-E", expression],
                              cwd=REPO, env=nix_env, capture_output=True, text=True)

    with ThreadPoolExecutor(images) as pool:
        results = list(pool.map(build, range(images)))
    log = "".join(r.stderr for r in results)
    assert "signal 9" not in log and all(r.returncode == 0 for r in results), log[-3000:]
    assert log.count("building '/nix/store/") >= total and log.count("-layer-load") >= total


# The benchmark --------------------------------------------------------------------


def test_delivery_benchmark_measures_every_mode(nix_env):
    """A tiny run of benchmarks/delivery.py: every mode and the bump get a
    row, and the stream adds far less to the store than the archive."""
    process = subprocess.run(["python3", "-m", "benchmarks.delivery", "--size", "2", "--packages", "4"],
                             cwd=REPO, env=nix_env, capture_output=True, text=True)
    assert process.returncode == 0, process.stderr[-3000:]
    rows = {tuple(cell.strip() for cell in line.split("|")[1:3]): line for line in process.stdout.splitlines()
            if line.startswith("| ") and "---" not in line}
    added = {mode: float(line.split("|")[4].split("(")[1].rstrip("x) ")) for (mode, _), line in rows.items()
             if line.count("|") == 6 and mode != "mode"}
    assert set(added) == {"stream", "image (archive)", "registry, none", "registry, gzip", "registry, zstd",
                          "stream, groupAtBuildTime"}
    assert added["stream"] < 0.05 < added["image (archive)"]
    bump = [key for key in rows if key[0] in ("stream", "registry, none") and "bumped" in key[1] or "pinned" in key[1]]
    assert len(bump) == 4
