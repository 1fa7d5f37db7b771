"""Multi-platform images (`-A index`, `systems`; imagetools/index.py): an OCI
image index of the image built for each system, pushed whole by `push`.

The foreign system is aarch64-linux, built through emulation: qemu-user's
binfmt handler (scripts/install-deps enables it) and Nix's
extra-platforms. The offline package set wraps the host's x86-64 tools for
any system, so its own busybox would be an x86-64 program in an arm64 image;
the package set here adds, for aarch64-linux only, a busybox that is one:
Debian's busybox-static for arm64, installed by its own aarch64 build (the
builder is that busybox, run by qemu). The images are then run in podman for
each platform: `uname -m` says which machine ran them."""

import hashlib
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from distribution_support import distribution
from nix_support import FIXTURE_PKGS, build_repo, built_repo
from podman_support import copied, needs_podman, run
from registry_fixtures import build_command, env, fixture  # noqa: F401 (fixtures)
from registry_support import Server

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None or shutil.which("skopeo") is None,
                                reason="nix-build or skopeo is not installed")

ARM64_BUSYBOX = Path("/var/lib/group-layers/busybox-arm64/bin/busybox")


def _emulation():
    """Whether this machine runs aarch64 programs (binfmt, qemu-user)."""
    try:
        return subprocess.run([ARM64_BUSYBOX, "true"], capture_output=True).returncode == 0
    except OSError:
        return False


EMULATION = _emulation()
needs_emulation = pytest.mark.skipif(
    not EMULATION, reason="no aarch64 emulation here (qemu-user-static's binfmt handler and "
                          f"{ARM64_BUSYBOX}: scripts/install-deps)")
FOREIGN = ["--option", "extra-platforms", "aarch64-linux"]
# ELF e_machine values.
MACHINES = {"amd64": 0x3E, "arm64": 0xB7}

PACKAGE_SET = """
{{ system ? builtins.currentSystem, ... }}@args:
let
  fixture = import {fixture} args;
  bin = builtins.path {{ path = {arm64_bin}; name = "busybox-arm64-bin"; }};
in
fixture // {{
  # Re-imported for each system by `index`.
  path = ./.;
  busybox =
    if system != "aarch64-linux" then fixture.busybox
    else derivation {{
      name = "busybox-1.35.0";
      inherit system;
      builder = "${{bin}}/busybox";
      args = [ "sh" "-c" ''
        ${{bin}}/busybox mkdir -p $out/bin
        ${{bin}}/busybox cp ${{bin}}/busybox $out/bin/busybox
        for applet in sh uname cat ls; do ${{bin}}/busybox ln -s busybox $out/bin/$applet; done
      '' ];
    }};
}}
"""




def blob(layout, digest):
    return layout / "blobs" / "sha256" / digest.removeprefix("sha256:")


def images(layout):
    """{architecture: (manifest, config)} of an index result."""
    top = json.loads((layout / "index.json").read_text())["manifests"][0]
    index = json.loads(blob(layout, top["digest"]).read_text())
    found = {}
    for entry in index["manifests"]:
        manifest = json.loads(blob(layout, entry["digest"]).read_text())
        config = json.loads(blob(layout, manifest["config"]["digest"]).read_text())
        found[entry["platform"]["architecture"]] = (manifest, config, entry["platform"])
    return found


def elf_machine(layout, manifest, member_suffix):
    """The ELF machine of the file ending in `member_suffix` in the image's
    layers."""
    for layer in manifest["layers"]:
        with tarfile.open(blob(layout, layer["digest"])) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.endswith(member_suffix):
                    header = tar.extractfile(member).read(20)
                    assert header[:4] == b"\x7fELF"
                    return int.from_bytes(header[18:20], "little")
    raise AssertionError(f"no {member_suffix} in the image")


@pytest.fixture(scope="module")
def two_platforms(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pkgs")
    (folder / "default.nix").write_text(PACKAGE_SET.format(fixture=FIXTURE_PKGS, arm64_bin=ARM64_BUSYBOX.parent))
    return Path(built_repo("-A", "index", "--arg", "pkgs", f"import {folder} {{ }}", "--argstr", "packages",
                      '["busybox"]', "--argstr", "systems", '["x86_64-linux","aarch64-linux"]',
                      "--argstr", "tag", "multi", options=FOREIGN))


def test_host_only_index_is_the_host_image():
    layout = Path(built_repo("-A", "index", "--argstr", "packages", '["busybox"]', options=FOREIGN))
    found = images(layout)
    assert list(found) == ["amd64"]
    manifest, config, platform = found["amd64"]
    assert platform == {"architecture": "amd64", "os": "linux"}
    plain = json.loads(Path(built_repo("-A", "buildImage", "--argstr", "packages", '["busybox"]')).read_text())
    assert [l["digest"] for l in manifest["layers"]] == [l["digest"] for l in plain["manifest"]["layers"]]
    assert manifest["config"]["digest"] == plain["manifest"]["config"]["digest"]
    # skopeo reads it as an OCI layout.
    subprocess.run(["skopeo", "inspect", f"oci:{layout}:latest"], check=True, capture_output=True)


@needs_emulation
def test_each_platform_holds_programs_for_it(two_platforms):
    found = images(two_platforms)
    assert sorted(found) == ["amd64", "arm64"]
    for architecture, (manifest, config, platform) in found.items():
        # The label is the config's, which is the system the image was built for...
        assert platform == {"architecture": architecture, "os": "linux"} == \
            {"architecture": config["architecture"], "os": config["os"]}
        # ...and its program is one for that machine.
        assert elf_machine(two_platforms, manifest, "/bin/busybox") == MACHINES[architecture]


@needs_emulation
@needs_podman
def test_push_sends_the_index_and_each_platform_runs(two_platforms, tmp_path):
    push = built_repo("-A", "push") + "/bin/push"
    with distribution(tmp_path / "registry") as registry:
        subprocess.run([push, str(two_platforms), f"docker://{registry}/multi:1", "--dest-tls-verify=false"],
                       check=True, capture_output=True)
        raw = json.loads(subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                                         f"docker://{registry}/multi:1"], check=True, capture_output=True).stdout)
        assert raw["mediaType"] == "application/vnd.oci.image.index.v1+json"
        assert sorted(m["platform"]["architecture"] for m in raw["manifests"]) == ["amd64", "arm64"]
        for architecture, machine in (("amd64", "x86_64"), ("arm64", "aarch64")):
            with copied(f"docker://{registry}/multi:1", ["--override-arch", architecture],
                        ["--src-tls-verify=false"]) as image:
                status, out, err = run(image, "uname -m", "--platform", f"linux/{architecture}")
                assert (status, out.strip()) == (0, machine), err


REFUSED = [
    ("twice", '["x86_64-linux","x86_64-linux"]', 'group-layers: systems ["x86_64-linux","x86_64-linux"] names a system twice'),
    ("empty", "[]", "group-layers: systems is [], it must be a non-empty list of Nix systems"),
    ("unknown", '["mips-linux"]', "group-layers: no container architecture known for system mips-linux"),
]


@pytest.mark.parametrize("systems,message", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_bad_systems_are_refused(tmp_path, systems, message):
    proc = build_repo("-A", "index", "--argstr", "packages", '["busybox"]', "--argstr", "systems", systems,
                     cwd=tmp_path, options=FOREIGN)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-2000:]


# The registry server with --systems ---------------------------------------------------


@pytest.fixture(scope="module")
def multi_server(tmp_path_factory, env, fixture, build_command):  # noqa: F811 (fixtures)
    folder = tmp_path_factory.mktemp("pkgs")
    (folder / "default.nix").write_text(PACKAGE_SET.format(fixture=fixture, arm64_bin=ARM64_BUSYBOX.parent))
    s = Server(tmp_path_factory.mktemp("storage"), tmp_path_factory.mktemp("log") / "a.log", env,
               "--pkgs-path", folder, "--build-command", build_command, "--timeout", "600",
               "--systems", "x86_64-linux,aarch64-linux", "--nix-build-args", " ".join(FOREIGN))
    yield s
    assert s.stop() == 0


@needs_emulation
@needs_podman
def test_registry_serves_an_index_of_its_systems(multi_server):
    status, headers, body = multi_server.request(
        "GET", "/v2/busybox/manifests/latest", {"Accept": "application/vnd.oci.image.index.v1+json"})
    assert status == 200, body
    index = json.loads(body)
    assert headers["content-type"] == index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [m["platform"] for m in index["manifests"]] == [{"architecture": "amd64", "os": "linux"},
                                                            {"architecture": "arm64", "os": "linux"}]
    # A client that takes only image manifests gets the first system's image.
    status, _, single = multi_server.request(
        "GET", "/v2/busybox/manifests/latest", {"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert status == 200 and "sha256:" + hashlib.sha256(single).hexdigest() == index["manifests"][0]["digest"]
    for architecture, machine in (("amd64", "x86_64"), ("arm64", "aarch64")):
        with copied(f"docker://{multi_server.host}/busybox:latest", ["--override-arch", architecture],
                    ["--src-tls-verify=false"]) as image:
            status, out, err = run(image, "uname -m", "--platform", f"linux/{architecture}")
            assert (status, out.strip()) == (0, machine), err


@pytest.mark.parametrize("systems", ["x86_64", "x86_64-linux,x86_64-linux", "X86_64-Linux"])
def test_registry_refuses_bad_systems(tmp_path, systems):
    from group_layers.registry import config
    with pytest.raises(config.BadConfig, match="--systems .*: must be distinct Nix systems"):
        config.parse(["--storage", str(tmp_path), "--build-command", "true", "--systems", systems])
    assert config.parse(["--storage", str(tmp_path), "--build-command", "true",
                         "--systems", "x86_64-linux, aarch64-linux"]).systems == \
        ("x86_64-linux", "aarch64-linux")
