"""The pull side of group-layers-registry against the OCI distribution
spec's conformance suite (github.com/opencontainers/distribution-spec,
conformance/: run.go's pull, head, tag-list, referrers, missing-manifest and
invalid-digest-format cases; api.go's checks of each answer), written as
tests here: a real image built by Nix and served on 127.0.0.1, requests
sent as the suite sends them (Accept: the OCI index, then the OCI image
manifest, as two header lines).

The suite pushes its own test data first; this registry is pull-only and
makes its images from their names, so the data here is the image ``hello``
and its blobs.
"""

import hashlib
import json
import os
import shutil
import uuid

import pytest

from registry_fixtures import build_command, env, fixture  # noqa: F401 (fixtures)

from registry_support import Server, package_set

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build is not installed")

OCI_IMAGE = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SUITE_ACCEPT = [("Accept", OCI_INDEX), ("Accept", OCI_IMAGE)]
# The spec's error codes (code-1 .. code-14).
ERROR_CODES = {"BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
               "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID", "NAME_UNKNOWN",
               "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS"}


@pytest.fixture(scope="module")
def served(tmp_path_factory, fixture, env, build_command):
    """(server, the OCI manifest's bytes, its digest, {blob digest: bytes})."""
    work = tmp_path_factory.mktemp("conformance")
    pkgs = package_set(work / "pkgs", uuid.uuid4().hex, fixture)
    server = Server(work / "storage", work / "log", env, "--pkgs-path", pkgs, "--build-command", build_command)
    status, headers, body = server.request("GET", "/v2/hello/manifests/latest", SUITE_ACCEPT)
    assert status == 200, body
    manifest = json.loads(body)
    blobs = {}
    for d in [manifest["config"], *manifest["layers"]]:
        blobs[d["digest"]] = (work / "storage" / "blobs" / "sha256" / d["digest"][7:]).read_bytes()
    yield server, body, headers["docker-content-digest"], blobs
    assert server.stop() == 0


def random_digest():
    return "sha256:" + hashlib.sha256(os.urandom(1024)).hexdigest()


def check_digest_header(headers, digest):
    """api.go VerifyDigest: Docker-Content-Digest, when sent, is the digest."""
    assert headers.get("docker-content-digest", digest) == digest


def test_ping(served):
    server, *_ = served
    status, _, _ = server.request("GET", "/v2/")
    assert status == 200


@pytest.mark.parametrize("by", ["tag", "digest"])
def test_pull_manifest(served, by):
    """ManifestGetExists: 200, the body, Content-Type the manifest's own
    mediaType, Content-Length, the digest header."""
    server, body, digest, _ = served
    reference = "latest" if by == "tag" else digest
    status, headers, got = server.request("GET", f"/v2/hello/manifests/{reference}", SUITE_ACCEPT)
    assert status == 200 and got == body
    assert headers["content-type"] == json.loads(body)["mediaType"] == OCI_IMAGE
    assert int(headers["content-length"]) == len(body)
    assert "sha256:" + hashlib.sha256(got).hexdigest() == digest
    check_digest_header(headers, digest)


@pytest.mark.parametrize("by", ["tag", "digest"])
def test_head_manifest(served, by):
    """ManifestHeadExists: 200, an empty body, Content-Type, Content-Length
    of the manifest, the digest header."""
    server, body, digest, _ = served
    reference = "latest" if by == "tag" else digest
    status, headers, got = server.request("HEAD", f"/v2/hello/manifests/{reference}", SUITE_ACCEPT)
    assert (status, got) == (200, b"")
    assert headers["content-type"] == OCI_IMAGE and int(headers["content-length"]) == len(body)
    check_digest_header(headers, digest)


def test_pull_and_head_every_blob(served):
    """BlobGetExistsFull and BlobHeadExists, for each blob."""
    server, _, _, blobs = served
    for digest, data in blobs.items():
        status, headers, got = server.request("GET", f"/v2/hello/blobs/{digest}")
        assert status == 200 and got == data and int(headers["content-length"]) == len(data)
        check_digest_header(headers, digest)
        status, headers, got = server.request("HEAD", f"/v2/hello/blobs/{digest}")
        assert (status, got) == (200, b"") and int(headers["content-length"]) == len(data)
        check_digest_header(headers, digest)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_missing_blob_and_manifest_by_digest_are_404(served, method):
    server, *_ = served
    for path in (f"/v2/hello/blobs/{random_digest()}", f"/v2/hello/manifests/{random_digest()}"):
        status, _, body = server.request(method, path, SUITE_ACCEPT)
        assert status == 404, path
        if method == "GET":
            assert json.loads(body)["errors"][0]["code"] in ERROR_CODES


def test_missing_manifest_by_tag_is_404(served):
    """missing-manifest/by-tag: for this registry a tag names a package
    set revision, and a name of packages that do not exist has no image."""
    server, *_ = served
    status, _, body = server.request("GET", f"/v2/missing{uuid.uuid4().hex[:12]}/manifests/latest", SUITE_ACCEPT)
    assert status == 404 and json.loads(body)["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_invalid_digest_format_is_400_or_404_with_a_spec_error_code(served):
    """invalid-digest-format/manifest-get and the old suite's "400 response
    body should contain OCI-conforming JSON message"."""
    server, *_ = served
    for reference in ("sha256:baddigeststring", "sha256:totallywrong"):
        status, _, body = server.request("GET", f"/v2/hello/manifests/{reference}", SUITE_ACCEPT)
        assert status in (400, 404)
        if status == 400:
            assert json.loads(body)["errors"][0]["code"] in ERROR_CODES


def test_tag_list_with_n_and_last(served):
    """tag-list: the tags pulled are listed, in order; n=0 is empty; last
    starts after the tag given."""
    server, *_ = served
    def tags(query=""):
        status, _, body = server.request("GET", f"/v2/hello/tags/list{query}")
        assert status == 200
        listing = json.loads(body)
        assert listing["name"] == "hello"
        return listing["tags"]

    assert "latest" in tags() and tags() == sorted(tags())
    assert tags("?n=0") == []
    assert tags("?n=1") == ["latest"]
    assert tags("?last=latest") == []
    assert tags("?n=5&last=a") == ["latest"]


def test_referrers_are_an_oci_index(served):
    """end-12a: 200 (never 404 where the API is supported), an OCI index:
    of the image's SBOM artifact, whose subject is the image; empty for a
    digest nothing refers to; an invalid digest is 400."""
    server, _, digest, _ = served
    status, headers, body = server.request("GET", f"/v2/hello/referrers/{digest}")
    assert status == 200 and headers["content-type"].startswith(OCI_INDEX)
    index = json.loads(body)
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    assert [m["artifactType"] for m in index["manifests"]] == ["application/vnd.cyclonedx+json"]
    nothing = "sha256:" + "0" * 64
    status, _, body = server.request("GET", f"/v2/hello/referrers/{nothing}")
    assert status == 200 and json.loads(body)["manifests"] == []
    status, _, body = server.request("GET", "/v2/hello/referrers/sha256:nothex")
    assert status == 400 and json.loads(body)["errors"][0]["code"] == "DIGEST_INVALID"


@pytest.mark.parametrize("method, path", [
    ("POST", "/v2/hello/blobs/uploads/"), ("PUT", "/v2/hello/manifests/latest"),
    ("DELETE", "/v2/hello/manifests/latest"), ("PATCH", "/v2/hello/blobs/uploads/x"),
])
def test_push_and_delete_are_refused_with_a_spec_error(served, method, path):
    """The suite's push and delete cases accept 405 for a registry that does
    not delete; this one is pull-only, and says so in the spec's format."""
    server, *_ = served
    status, _, body = server.request(method, path)
    assert status == 405 and json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"
