"""Base images (`fromImage`, `pullImage`; build-image/base-image.nix,
imagetools/base.py, the merge in imagetools/config.py): a base built by this
project (a `docker load` archive), one made by umoci (an OCI layout, gzip
layers) and one pulled from a registry by digest. Its layers come first with
the same digests, its config merges by the documented rule, its layers count
against maxLayers, the images run in podman, and a registry that has the
base gets none of its blobs again."""

import hashlib
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from distribution_support import distribution
from nix_support import NIX_OPTIONS, REPO, build_repo, built_repo, nix_environment
from podman_support import loaded, needs_podman, run

pytestmark = pytest.mark.skipif(
    shutil.which("nix-build") is None or shutil.which("skopeo") is None or shutil.which("umoci") is None,
    reason="nix-build, skopeo or umoci is not installed")

BASE_CONFIG = {"Cmd": ["/bin/sh"], "Env": ["FOO=base", "PATH=/bin:/sbin"], "WorkingDir": "/srv",
               "User": "0:0", "Labels": {"from": "base", "kept": "yes"}}
GREETING = ["--argstr", "packages", '["greeting-1.0"]']




def sh(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def archive_config(path):
    with tarfile.open(path) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))[0]
        return json.load(archive.extractfile(manifest["Config"]))


@pytest.fixture(scope="module")
def project_base():
    """An image of busybox built here, as a docker load archive."""
    return built_repo("-A", "image", "--argstr", "packages", '["busybox"]', "--argstr", "name", "base",
                 "--argstr", "config", json.dumps(BASE_CONFIG))


@pytest.fixture(scope="module")
def umoci_base(tmp_path_factory):
    """An OCI layout made by umoci: a static busybox at /bin, gzip layers."""
    folder = tmp_path_factory.mktemp("umoci")
    layout, bundle = folder / "layout", folder / "bundle"
    sh("umoci", "init", "--layout", str(layout))
    sh("umoci", "new", "--image", f"{layout}:base")
    sh("umoci", "unpack", "--rootless", "--image", f"{layout}:base", str(bundle))
    binaries = bundle / "rootfs" / "bin"
    binaries.mkdir()
    # Debian's busybox-static, the one self-contained program at hand.
    shutil.copy("/usr/bin/busybox", binaries / "busybox")
    for applet in ("sh", "cat", "ls", "id", "pwd"):
        (binaries / applet).symlink_to("busybox")
    sh("umoci", "repack", "--image", f"{layout}:base", str(bundle))
    sh("umoci", "config", "--image", f"{layout}:base", "--config.env", "FOO=umoci",
       "--config.entrypoint", "/bin/sh", "--config.cmd", "-c", "--config.label", "from=umoci")
    # One image in the index, as fromImage asks.
    sh("umoci", "gc", "--layout", str(layout))
    index = json.loads((layout / "index.json").read_text())
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "base"]
    (layout / "index.json").write_text(json.dumps(index))
    return layout


def oci_manifest(layout):
    index = json.loads((layout / "index.json").read_text())
    return json.loads((layout / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_text())


def test_project_base_layers_come_first_unchanged(project_base):
    result = built_repo("-A", "image", *GREETING, "--argstr", "fromImage", project_base)
    base_ids = archive_config(project_base)["rootfs"]["diff_ids"]
    config = archive_config(result)
    assert config["rootfs"]["diff_ids"][:len(base_ids)] == base_ids
    assert len(config["rootfs"]["diff_ids"]) > len(base_ids)
    assert config["history"][:len(base_ids)] == archive_config(project_base)["history"]


def test_umoci_base_blobs_keep_their_digests_and_media_types(umoci_base):
    base = oci_manifest(umoci_base)
    for compression, gzip_type in (("gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip"),
                                   ("zstd", "application/vnd.oci.image.layer.v1.tar+gzip")):
        output = json.loads(Path(built_repo("-A", "buildImage", *GREETING, "--argstr", "fromImage", str(umoci_base),
                                       "--argstr", "compression", compression)).read_text())
        layers = output["manifest"]["layers"]
        assert [l["digest"] for l in layers[:len(base["layers"])]] == [l["digest"] for l in base["layers"]]
        assert all(l["mediaType"] == gzip_type for l in layers[:len(base["layers"])])
        for layer in layers:
            blob = output["layerLocations"][layer["digest"][7:]]["path"]
            assert "sha256:" + hashlib.sha256(Path(blob).read_bytes()).hexdigest() == layer["digest"]


def test_config_merges_by_the_rule(project_base, umoci_base):
    ours = {"Env": ["FOO=ours", "BAR=1"], "Labels": {"from": "ours"}, "User": "1:1"}
    config = archive_config(built_repo("-A", "image", *GREETING, "--argstr", "fromImage", project_base,
                                  "--argstr", "config", json.dumps(ours)))["config"]
    assert config == {"Env": ["PATH=/bin:/sbin", "FOO=ours", "BAR=1"], "Cmd": ["/bin/sh"], "WorkingDir": "/srv",
                      "User": "1:1", "Labels": {"from": "ours", "kept": "yes"}}
    # An Entrypoint of ours without a Cmd drops the base's Cmd, as Docker does.
    config = archive_config(built_repo("-A", "image", *GREETING, "--argstr", "fromImage", str(umoci_base),
                                  "--argstr", "config", '{"Entrypoint": ["/bin/cat"]}'))["config"]
    assert config["Entrypoint"] == ["/bin/cat"] and "Cmd" not in config
    assert "FOO=umoci" in config["Env"] and config["Labels"] == {"from": "umoci"}


def test_base_layers_count_against_max_layers(project_base):
    count = len(archive_config(project_base)["rootfs"]["diff_ids"])
    config = archive_config(built_repo("-A", "image", "--argstr", "packages", '["hello"]', "--argstr", "fromImage",
                                  project_base, "--arg", "maxLayers", str(count + 2)))
    assert len(config["rootfs"]["diff_ids"]) == count + 2
    proc = build_repo("-A", "image", *GREETING, "--argstr", "fromImage", project_base,
                     "--arg", "maxLayers", str(count + 1))
    assert proc.returncode != 0
    assert (f"group-layers: fromImage has {count} layers: maxLayers = {count + 1} leaves none for the contents"
            in proc.stderr), proc.stderr[-2000:]


def test_a_base_for_another_platform_is_refused(umoci_base, tmp_path):
    foreign = tmp_path / "arm64"
    shutil.copytree(umoci_base, foreign)
    sh("umoci", "config", "--image", f"{foreign}:base", "--architecture", "arm64", "--tag", "arm")
    index = json.loads((foreign / "index.json").read_text())
    index["manifests"] = [m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "arm"]
    (foreign / "index.json").write_text(json.dumps(index))
    proc = build_repo("-A", "image", *GREETING, "--argstr", "fromImage", str(foreign))
    assert proc.returncode != 0
    assert "group-layers: fromImage is for linux/arm64, this image is for linux/amd64" in proc.stderr, \
        proc.stderr[-2000:]


def test_what_is_no_image_is_refused(tmp_path):
    (tmp_path / "not-an-image").write_text("hello")
    proc = build_repo("-A", "image", *GREETING, "--argstr", "fromImage", str(tmp_path / "not-an-image"))
    assert proc.returncode != 0 and "group-layers: fromImage /nix/store/" in proc.stderr, proc.stderr[-2000:]
    proc = build_repo("-A", "image", *GREETING, "--argstr", "fromImage", "base.tar")
    assert proc.returncode != 0 and 'group-layers: fromImage is "base.tar", it must be' in proc.stderr


@needs_podman
@pytest.mark.parametrize("which", ["project", "umoci"])
def test_images_on_a_base_run_in_podman(which, project_base, umoci_base):
    source = project_base if which == "project" else str(umoci_base)
    result = built_repo("-A", "image", *GREETING, "--argstr", "fromImage", source, "--argstr", "user", "app")
    with loaded(result) as image:
        status, out, err = run(image, 'id -u; echo "$FOO"; cat /share/greeting/greeting.txt', "--entrypoint", "")
        assert status == 0, err
        assert out.split("\n")[:3] == ["1000", "base" if which == "project" else "umoci", "Hello from greeting 1.0"]


# A base from a registry: pullImage, and blobs the registry already has --------------


@pytest.fixture(scope="module")
def docker_registry(tmp_path_factory):
    with distribution(tmp_path_factory.mktemp("distribution")) as host:
        yield host


def remote_manifest(registry, reference):
    return json.loads(sh("skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{registry}/{reference}"))


def test_pull_image_by_digest_and_pushing_reuses_the_base_blobs(project_base, docker_registry, tmp_path):
    sh("skopeo", "copy", "--dest-tls-verify=false", f"docker-archive:{project_base}",
       f"docker://{docker_registry}/base:1")
    digest = "sha256:" + hashlib.sha256(sh("skopeo", "inspect", "--raw", "--tls-verify=false",
                                           f"docker://{docker_registry}/base:1").encode()).hexdigest()
    pull = (f'(import {REPO} {{ }}).pullImage {{ imageName = "{docker_registry}/base"; '
            f'imageDigest = "{digest}"; tlsVerify = false; hash = "HASH"; }}')
    proc = subprocess.run(["nix-build", "--no-out-link", *NIX_OPTIONS, "-E", pull.replace("HASH", "")],
                          env=nix_environment(), capture_output=True, text=True)
    got = re.search(r"got: *(sha256-[A-Za-z0-9+/=]+)", proc.stderr)
    assert got, proc.stderr[-2000:]
    pulled = subprocess.run(["nix-build", "--no-out-link", *NIX_OPTIONS, "-E", pull.replace("HASH", got[1])],
                            env=nix_environment(), capture_output=True, text=True)
    assert pulled.returncode == 0, pulled.stderr[-2000:]
    base_layers = remote_manifest(docker_registry, "base:1")["layers"]
    output = built_repo("-A", "buildImage", *GREETING, "--argstr", "fromImage", pulled.stdout.strip(),
                   "--argstr", "compression", "gzip")
    layers = json.loads(Path(output).read_text())["manifest"]["layers"]
    # The pulled blobs as the registry has them (skopeo compressed them on the first push).
    assert [l["digest"] for l in layers[:len(base_layers)]] == [l["digest"] for l in base_layers]
    push = built_repo("-A", "push") + "/bin/push"
    log = subprocess.run([push, output, f"docker://{docker_registry}/onbase:1", "--dest-tls-verify=false"],
                         env=nix_environment(), capture_output=True, text=True)
    assert log.returncode == 0, log.stderr
    pushed = remote_manifest(docker_registry, "onbase:1")["layers"]
    assert [l["digest"] for l in pushed[:len(base_layers)]] == [l["digest"] for l in base_layers]
    # A client that pulled the base fetches none of its blobs again: pulled
    # into the same layout, the result leaves the base's blob files as they were.
    layout = tmp_path / "pulled"
    sh("skopeo", "copy", "--src-tls-verify=false", f"docker://{docker_registry}/base:1", f"oci:{layout}:base")
    blob_files = [layout / "blobs" / "sha256" / l["digest"][7:] for l in base_layers]
    before = [(f.stat().st_ino, f.stat().st_mtime_ns) for f in blob_files]
    sh("skopeo", "copy", "--src-tls-verify=false", f"docker://{docker_registry}/onbase:1", f"oci:{layout}:onbase")
    assert [(f.stat().st_ino, f.stat().st_mtime_ns) for f in blob_files] == before
