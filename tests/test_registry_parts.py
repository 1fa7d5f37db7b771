"""The registry's parts without Nix: names, manifests, storage, metrics,
build error lines, and that the engine never imports the HTTP stack."""

import hashlib
import json
import subprocess
import sys

import pytest

from group_layers.registry import manifests, names
from group_layers.registry.builds import ImageRequest, last_error_line
from group_layers.registry.metrics import Metrics
from group_layers.registry.storage import DigestMismatch, FilesystemStorage


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


def test_accept_header_chooses_the_manifest():
    assert manifests.choose(None) == manifests.DOCKER_MANIFEST
    assert manifests.choose(manifests.OCI_MANIFEST) == manifests.OCI_MANIFEST
    assert manifests.choose(f"{manifests.OCI_MANIFEST}, {manifests.DOCKER_MANIFEST};q=0.5") == manifests.DOCKER_MANIFEST
    assert manifests.choose(f"{manifests.OCI_MANIFEST}; q=1.0, application/json") == manifests.OCI_MANIFEST


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
    assert storage.blob("0" * 64) is None and not any((tmp_path / "s" / "tmp").iterdir())
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
