"""Images of the offline set's busybox (Debian's static busybox in the
store) RUN, in podman, each made one of the four ways users make them:
`nix-build -A image` then `podman load`, `nix-build -A stream` piped to
`podman load`, `podman pull` from the project's registry server, and the
NixOS module's image. Each runs `/bin/sh -c 'echo ok'` and prints ok: the
image has /bin/sh where a program expects it, and what it points to is in
the image. And scripts/quickstart runs its example image so.

podman runs as on these machines (root; runc, since crun fails here; the
cgroupfs manager; explicit ulimits, which the sandbox forbids raising),
with a storage of the test session's own (vfs, in a temporary folder), so
that it neither sees nor leaves images in the machine's. Under Nix 2.26
(scripts/trixie-root) it is trixie's podman 5, with the images that Nix
built.
"""

import shutil
import subprocess

import pytest

from nix_support import NIX_OPTIONS, REPO, nix_environment
from registry_fixtures import build_command, env, fixture  # noqa: F401 (fixtures)
from registry_support import Server, run
from test_nixos_module import evaluate, system  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None or shutil.which("podman") is None,
                                reason="nix-build or podman is not installed")

RUN = ["--runtime", "runc", "--cgroup-manager", "cgroupfs"]
# No network: `echo ok` needs none, and where podman runs in the Debian
# trixie root (scripts/trixie-root, a mount namespace only) a container
# network would be set up in the host's own.
LIMITS = ["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"]
BUSYBOX = ["--argstr", "packages", '["busybox"]']


@pytest.fixture(scope="module")
def podman(tmp_path_factory):
    """podman(*args, input=None) -> stdout, with a storage of its own."""
    storage = tmp_path_factory.mktemp("podman")
    base = ["podman", "--root", str(storage / "root"), "--runroot", str(storage / "run"),
            "--storage-driver", "vfs", *RUN]

    def podman(*args, input=None):
        proc = subprocess.run([*base, *args], input=input, capture_output=True)
        assert proc.returncode == 0, f"podman {' '.join(args)}: {proc.stderr.decode()[-3000:]}"
        return proc.stdout.decode()

    yield podman
    subprocess.run([*base, "system", "reset", "--force"], capture_output=True)


def loaded(output):
    """The image `podman load` names in its output."""
    names = [line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("Loaded image")]
    assert len(names) == 1, output
    return names[0].split(", ")[0]


def says_ok(podman, image):
    assert podman("run", "--rm", *LIMITS, image, "/bin/sh", "-c", "echo ok") == "ok\n"


def nix_build(*args):
    return run(["nix-build", "--no-out-link", *NIX_OPTIONS, *args], nix_environment())


def test_image_via_podman_load(podman):
    archive = nix_build("-A", "image", *BUSYBOX)
    image = loaded(podman("load", "-i", archive))
    says_ok(podman, image)
    # /bin/sh links to the package's own bin/sh, as nixpkgs' buildEnv links.
    busybox = nix_build("<nixpkgs>", "-A", "busybox")
    assert podman("run", "--rm", *LIMITS, image, "/bin/readlink", "/bin/sh") == f"{busybox}/bin/sh\n"


def test_stream_piped_to_podman_load(podman):
    stream = nix_build("-A", "stream", *BUSYBOX)
    archive = subprocess.run([stream], capture_output=True, check=True).stdout
    says_ok(podman, loaded(podman("load", input=archive)))


def test_podman_pull_from_the_registry_server(podman, tmp_path, env, fixture, build_command):
    server = Server(tmp_path / "storage", tmp_path / "log", env, "--pkgs-path", fixture,
                    "--build-command", build_command, "--timeout", "300")
    try:
        image = f"{server.host}/busybox:latest"
        podman("pull", "--tls-verify=false", image)
        says_ok(podman, image)
    finally:
        assert server.stop() == 0


def test_the_nixos_modules_image(podman, evaluate):
    code, out = evaluate("""
      virtualisation.group-layers.images.box = { packages = [ "busybox" ]; tag = "t1"; };
      virtualisation.oci-containers.containers.box = { };
    """)
    assert code == 0, out[-4000:]
    box = out["builtImages"]["box"]
    archive = run(["nix-store", *NIX_OPTIONS, "--realise", box["drvPath"]], nix_environment())
    image = loaded(podman("load", "-i", archive))
    assert image == "localhost/box:t1" == f"localhost/{out['containers']['box']['image']}"
    says_ok(podman, image)


def test_the_quick_start_runs_its_image():
    """scripts/quickstart, with no nixpkgs (the offline set), ends by running
    its example image in podman (the machine's own storage, as a user's)."""
    proc = subprocess.run([REPO / "scripts" / "quickstart"], env=nix_environment(nix_path=""),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "\nRun in podman: podman --runtime runc" in proc.stdout
    assert "\n  it printed: ok\n" in proc.stdout
