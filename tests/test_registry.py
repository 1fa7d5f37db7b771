"""group-layers-registry with real Nix builds and real clients (skopeo,
umoci, HTTP), servers started here on 127.0.0.1.

The package set is the offline fixture with a per-session nonce
(registry_support.package_set), so the first build of ``hello`` is cold
even in a shared Nix store, and the build counts below can fail.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from registry_fixtures import build_command, env, fixture  # noqa: F401 (fixtures)

from registry_support import Server, package_set, run

pytestmark = pytest.mark.skipif(
    shutil.which("nix-build") is None or shutil.which("skopeo") is None or shutil.which("umoci") is None,
    reason="nix-build, skopeo or umoci is not installed")

DOCKER = "application/vnd.docker.distribution.manifest.v2+json"
OCI = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def pkgs(tmp_path_factory, fixture):
    return package_set(tmp_path_factory.mktemp("pkgs"), uuid.uuid4().hex, fixture)


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    return tmp_path_factory.mktemp("storage")


@pytest.fixture(scope="module")
def server(storage, tmp_path_factory, env, pkgs, build_command):
    s = Server(storage, tmp_path_factory.mktemp("log") / "a.log", env, "--pkgs-path", pkgs,
               "--build-command", build_command, "--timeout", "300")
    yield s
    assert s.stop() == 0


def manifest(server, name, tag="latest", accept=DOCKER):
    status, headers, body = server.request("GET", f"/v2/{name}/manifests/{tag}", {"Accept": accept})
    assert status == 200, body
    return headers, body


def builds_of(server, packages):
    return [e for e in server.events("build") if e["packages"] == packages and e["result"] == "ok"]


def settled_log(server):
    """The server's log once it stopped growing (a request is logged just
    after its response is sent)."""
    text = server.log_path.read_text()
    while True:
        time.sleep(0.3)
        if (again := server.log_path.read_text()) == text:
            return text
        text = again


def skopeo(*args):
    return run(["skopeo", *args], None)


# In this order: the first pull of hello is the cold one.


def test_eight_concurrent_pulls_of_a_cold_image_start_one_build(server):
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: manifest(server, "hello"), range(8)))
    bodies = {body for _, body in answers}
    assert len(bodies) == 1
    headers, body = answers[0]
    assert headers["docker-content-digest"] == "sha256:" + hashlib.sha256(body).hexdigest()
    assert headers["content-type"] == DOCKER
    assert int(headers["content-length"]) == len(body)
    builds = builds_of(server, ["hello"])
    assert len(builds) == 1
    # It was cold: Nix built hello and its layers for this request.
    assert any("-hello-2.12.1.drv" in d for d in builds[0]["derivations_built"])
    metrics = server.metrics()
    assert metrics['registry_builds_total{result="ok"}'] == 1
    assert metrics["registry_builds_joined_total"] >= 1


def test_skopeo_copy_inspect_and_umoci_unpack(server, tmp_path):
    for name, files in (("hello", ["bin/hello"]), ("shell/hello", ["bin/hello", "bin/bash", "bin/ls"])):
        layout = tmp_path / name.replace("/", "-")
        skopeo("copy", "--src-tls-verify=false", f"docker://{server.host}/{name}:latest", f"oci:{layout}:latest")
        inspected = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{server.host}/{name}:latest"))
        assert len(inspected["Layers"]) >= 2
        bundle = tmp_path / f"{layout.name}-bundle"
        run(["umoci", "unpack", "--rootless", "--image", f"{layout}:latest", str(bundle)], None)
        for f in files:
            assert (bundle / "rootfs" / f).exists(), f
        # bin/hello links into the store, and the store path is in the image.
        target = os.readlink(bundle / "rootfs" / "bin" / "hello")
        assert target.startswith("/nix/store/")
        assert "libgreeting" in (bundle / "rootfs" / target.lstrip("/")).read_text()


def test_second_image_reuses_the_shared_layers(server):
    hello = json.loads(manifest(server, "hello")[1])
    shell = json.loads(manifest(server, "shell/hello")[1])
    shared = {l["digest"] for l in hello["layers"]} & {l["digest"] for l in shell["layers"]}
    assert shared, "hello and shell/hello share no layer"
    first, = builds_of(server, ["hello"])
    built_first = {d for d in first["derivations_built"] if "-layer-" in d}
    second = [e for e in server.events("build") if "hello" in e["packages"] and "coreutils" in e["packages"]]
    assert built_first and second
    for build in second:
        assert not built_first & set(build["derivations_built"]), "a layer was built twice"


def test_oci_only_client_gets_an_equivalent_oci_manifest(server):
    docker_headers, docker_body = manifest(server, "hello", accept=DOCKER)
    oci_headers, oci_body = manifest(server, "hello", accept=OCI)
    assert oci_headers["content-type"] == OCI
    assert oci_headers["docker-content-digest"] == "sha256:" + hashlib.sha256(oci_body).hexdigest()
    docker, oci = json.loads(docker_body), json.loads(oci_body)
    assert oci["mediaType"] == OCI and oci["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    strip = lambda ds: [(d["digest"], d["size"]) for d in ds]
    assert strip(oci["layers"]) == strip(docker["layers"])
    assert all(l["mediaType"].startswith("application/vnd.oci.image.layer.v1.tar") for l in oci["layers"])
    # Both are found by digest, with their own media types; HEAD says the same.
    for headers, body in ((docker_headers, docker_body), (oci_headers, oci_body)):
        status, by_digest, again = server.request("GET", f"/v2/hello/manifests/{headers['docker-content-digest']}")
        assert (status, again, by_digest["content-type"]) == (200, body, headers["content-type"])
        status, head, empty = server.request("HEAD", f"/v2/hello/manifests/{headers['docker-content-digest']}")
        assert status == 200 and empty == b"" and int(head["content-length"]) == len(body)


def test_blobs_match_their_digests_and_ranges_work(server):
    docker = json.loads(manifest(server, "hello")[1])
    for descriptor in [docker["config"], *docker["layers"]]:
        status, headers, body = server.request("GET", f"/v2/hello/blobs/{descriptor['digest']}")
        assert status == 200
        assert "sha256:" + hashlib.sha256(body).hexdigest() == descriptor["digest"]
        assert headers["docker-content-digest"] == descriptor["digest"]
        assert int(headers["content-length"]) == descriptor["size"] == len(body)
    layer = docker["layers"][0]["digest"]
    _, _, whole = server.request("GET", f"/v2/hello/blobs/{layer}")
    status, headers, part = server.request("GET", f"/v2/hello/blobs/{layer}", {"Range": "bytes=100-1123"})
    assert status == 206 and part == whole[100:1124]
    assert headers["content-range"] == f"bytes 100-1123/{len(whole)}"
    status, headers, empty = server.request("HEAD", f"/v2/hello/blobs/{layer}")
    assert status == 200 and empty == b"" and int(headers["content-length"]) == len(whole)
    # Layers are tarballs with the store paths in them.
    with tarfile.open(fileobj=__import__("io").BytesIO(whole)) as tar:
        assert any(n.startswith("nix/store/") for n in tar.getnames())


def test_unknown_package_is_manifest_unknown_with_the_list(server):
    status, _, body = server.request("GET", "/v2/hello/nosuchthing/manifests/latest")
    assert status == 404
    error, = json.loads(body)["errors"]
    assert error["code"] == "MANIFEST_UNKNOWN" and error["detail"]["not_found"] == ["nosuchthing"]
    proc = subprocess.run(["skopeo", "inspect", "--tls-verify=false",
                           f"docker://{server.host}/nosuchthing:latest"], capture_output=True, text=True)
    assert proc.returncode != 0 and "manifest unknown" in proc.stderr


def test_packages_the_package_set_refuses_are_denied_with_the_reason(server):
    """nixpkgs' meta checks (unfree, broken, insecure): 403 DENIED naming each
    package and why, not a failed build (500)."""
    status, _, body = server.request("GET", "/v2/hello/unfree-tool/broken-tool/insecure-tool/manifests/latest")
    error, = json.loads(body)["errors"]
    assert (status, error["code"]) == (403, "DENIED"), body
    reasons = error["detail"]["unavailable"]
    assert sorted(reasons) == ["broken-tool", "insecure-tool", "unfree-tool"]
    assert "unfree license" in reasons["unfree-tool"] and "config.allowUnfree" in reasons["unfree-tool"]
    assert "marked as broken" in reasons["broken-tool"]
    assert 'permittedInsecurePackages = [ "insecure-tool-1.0" ]' in reasons["insecure-tool"]
    assert "unfree-tool: it has an unfree license" in error["message"]
    proc = subprocess.run(["skopeo", "inspect", "--tls-verify=false",
                           f"docker://{server.host}/unfree-tool:latest"], capture_output=True, text=True)
    assert proc.returncode != 0 and "denied" in proc.stderr.lower()
    # Asked again: the same answer, from the negative cache (no evaluation).
    evaluations = len(server.events("build"))
    again = server.request("GET", "/v2/hello/unfree-tool/broken-tool/insecure-tool/manifests/latest")
    assert (again[0], again[2]) == (status, body)
    assert len(server.events("build")) == evaluations


def test_names_are_sorted_case_folded_and_dotted(server):
    _, a = manifest(server, "hello/shell")
    _, b = manifest(server, "shell/hello")
    assert a == b
    # python3Packages.requests (dotted); bashinteractive finds bashInteractive.
    _, body = manifest(server, "bashinteractive/python3packages.requests")
    assert len(json.loads(body)["layers"]) >= 2


def test_failed_build_is_500_with_its_last_error_line_and_not_cached(server):
    for _ in range(2):
        status, _, body = server.request("GET", "/v2/broken/manifests/latest")
        assert status == 500
        error, = json.loads(body)["errors"]
        assert "this package never builds" in error["message"]
    assert len([e for e in server.events("build") if e["packages"] == ["broken"]]) == 2


def test_second_server_on_the_same_storage_serves_without_building(server, storage, tmp_path, env, pkgs,
                                                                   build_command):
    _, body = manifest(server, "hello")
    other = Server(storage, tmp_path / "b.log", env, "--pkgs-path", pkgs, "--build-command", build_command)
    try:
        _, again = manifest(other, "hello")
        assert again == body
        for layer in json.loads(body)["layers"]:
            a = server.request("GET", f"/v2/hello/blobs/{layer['digest']}")[2]
            b = other.request("GET", f"/v2/hello/blobs/{layer['digest']}")[2]
            assert a == b
        assert other.events("build") == []
        assert other.metrics()["registry_cache_hits_total"] == 1
    finally:
        assert other.stop() == 0


def test_a_damaged_or_missing_blob_is_stored_again_by_the_next_pull(server, storage, tmp_path, env, pkgs,
                                                                     build_command):
    """A byte flipped in a layer, the config deleted, a server (re)started on
    the storage: its first pull builds the image again, which stores both
    again, and skopeo copies the image."""
    docker = json.loads(manifest(server, "hello")[1])
    blobs = Path(storage) / "blobs" / "sha256"
    layer = blobs / max(docker["layers"], key=lambda l: l["size"])["digest"].removeprefix("sha256:")
    config = blobs / docker["config"]["digest"].removeprefix("sha256:")
    damaged = bytearray(layer.read_bytes())
    damaged[len(damaged) // 2] ^= 0x20
    layer.write_bytes(bytes(damaged))
    config.unlink()
    other = Server(storage, tmp_path / "b.log", env, "--pkgs-path", pkgs, "--build-command", build_command)
    try:
        skopeo("copy", "--src-tls-verify=false", f"docker://{other.host}/hello:latest", f"oci:{tmp_path / 'oci'}:x")
        assert other.metrics()["registry_images_repaired_total"] == 1
        assert [e["result"] for e in other.events("build")] == ["ok"]
        for path in (layer, config):
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    finally:
        assert other.stop() == 0


def test_bad_requests_get_the_right_error_and_read_nothing_outside(server, storage):
    builds = len(server.events("build"))
    secret = Path(storage).parent / "secret"
    secret.write_text("do not serve me")
    zeros = "sha256:" + "0" * 64
    cases = [
        ("GET", "/v2/../../etc/passwd/manifests/latest", {400, 404}, {"NAME_INVALID", "UNSUPPORTED"}),
        ("GET", "/v2/%2e%2e/%2e%2e/secret/manifests/latest", {400}, {"NAME_INVALID"}),
        ("GET", "/v2/hello/blobs/sha256:..%2f..%2fsecret", {400}, {"DIGEST_INVALID"}),
        ("GET", "/v2/hello/blobs/sha256:../../secret", {400, 404}, {"DIGEST_INVALID", "UNSUPPORTED"}),
        ("GET", "/v2/hello/blobs/sha256:xyz", {400}, {"DIGEST_INVALID"}),
        ("GET", "/v2/hello/blobs/md5:" + "0" * 32, {400}, {"DIGEST_INVALID"}),
        ("GET", "/v2/hello/manifests/sha256:abc", {400}, {"DIGEST_INVALID"}),
        ("GET", "/v2/hello/manifests/bad!tag", {400}, {"TAG_INVALID"}),
        ("GET", "/v2/hello/manifests/" + "t" * 129, {400}, {"TAG_INVALID"}),
        ("GET", "/v2/" + "a" * 9000 + "/manifests/latest", {400}, {"UNSUPPORTED"}),
        ("GET", "/v2/hello/tags/list?n=-1", {400}, {"UNSUPPORTED"}),
        ("GET", "/v2/" + "a" * 300 + "/manifests/latest", {400}, {"NAME_INVALID"}),
        ("GET", "/v2/" + "a" * 6000 + "/manifests/latest", {400}, {"NAME_INVALID"}),
        ("GET", "/v2/" + "/".join(["abc"] * 200) + "/manifests/latest", {400}, {"NAME_INVALID"}),
        ("GET", "/v2/Hello/manifests/latest", {400}, {"NAME_INVALID"}),
        ("GET", "/v2/hello//x/manifests/latest", {400}, {"NAME_INVALID"}),
        ("GET", f"/v2/hello/blobs/{zeros}", {404}, {"BLOB_UNKNOWN"}),
        ("GET", f"/v2/hello/manifests/{zeros}", {404}, {"MANIFEST_UNKNOWN"}),
        ("PUT", "/v2/hello/manifests/latest", {405}, {"UNSUPPORTED"}),
        ("DELETE", f"/v2/hello/manifests/{zeros}", {405}, {"UNSUPPORTED"}),
        ("DELETE", f"/v2/hello/blobs/{zeros}", {405}, {"UNSUPPORTED"}),
        ("POST", "/v2/hello/blobs/uploads/", {405}, {"UNSUPPORTED"}),
        ("PATCH", "/v2/hello/blobs/uploads/x", {405}, {"UNSUPPORTED"}),
    ]
    for method, path, statuses, codes in cases:
        status, headers, body = server.request(method, path)
        assert status in statuses, (path, status, body)
        assert b"do not serve me" not in body
        assert json.loads(body)["errors"][0]["code"] in codes, (path, body)
        assert headers["content-type"].startswith("application/json")
    status, headers, body = server.request("HEAD", f"/v2/hello/blobs/{zeros}")
    assert (status, body) == (404, b"")
    assert len(server.events("build")) == builds  # none of them reached Nix


def test_accept_is_read_from_every_header_line_with_q_values(server):
    def media_type(*accept):
        status, headers, _ = server.request("GET", "/v2/hello/manifests/latest", [("Accept", a) for a in accept])
        assert status == 200
        return headers["content-type"]

    index = "application/vnd.oci.image.index.v1+json"
    assert media_type(index, OCI) == OCI
    assert media_type(index, OCI, DOCKER) == DOCKER
    assert media_type(f"{DOCKER};q=0.5", OCI) == OCI
    assert media_type(f"{OCI};q=0.5", DOCKER) == DOCKER
    # skopeo sends its list as several lines: it gets the Docker manifest.
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{server.host}/hello:latest"))
    assert raw["mediaType"] == DOCKER


def test_oversized_headers_and_tls_get_json_errors_and_one_log_line(server):
    status, headers, body = server.request("GET", "/v2/", {"X-Big": "a" * 9000})
    assert status == 400 and headers["content-type"].startswith("application/json")
    assert json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"
    before = settled_log(server)
    proc = subprocess.run(["curl", "-sk", "--max-time", "10", f"https://{server.host}/v2/"], capture_output=True)
    assert proc.returncode != 0
    status, _, _ = server.request("GET", "/healthz")  # the server still serves
    assert status == 200
    added = settled_log(server)[len(before):].splitlines()
    assert [json.loads(line)["status"] for line in added] == [400, 200], added


def test_health_and_readiness(server):
    for path, answer in (("/healthz", {"status": "ok"}), ("/readyz", {"status": "ready"})):
        status, _, body = server.request("GET", path)
        assert (status, json.loads(body)) == (200, answer)
