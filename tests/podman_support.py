"""Running images in podman, as this machine needs it: runc (crun fails
here), cgroupfs and bounded ulimits. Each image is loaded under its own name
and removed afterwards, so tests running in parallel never see each other's."""

import contextlib
import shutil
import subprocess
import uuid

import pytest

PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
RUN = [*PODMAN, "run", "--rm", "--network", "none",
       "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"]

needs_podman = pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")


def loaded(archive):
    """The `docker load` archive loaded into podman, as a fresh reference."""
    return copied(f"docker-archive:{archive}")


@contextlib.contextmanager
def copied(source, skopeo_options=(), copy_options=()):
    """The image at skopeo's `source` (transport:reference) copied into
    podman's storage, as a fresh reference."""
    reference = f"localhost/group-layers-test-{uuid.uuid4().hex[:12]}:latest"
    subprocess.run(["skopeo", *skopeo_options, "copy", "--quiet", *copy_options, source,
                    f"containers-storage:{reference}"], check=True)
    try:
        yield reference
    finally:
        subprocess.run([*PODMAN, "rmi", "--force", reference], capture_output=True)


def run(reference, script, *options):
    """`sh -c SCRIPT` in the image: (exit status, stdout, stderr)."""
    proc = subprocess.run([*RUN, *options, reference, "/bin/sh", "-c", script],
                          capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr
