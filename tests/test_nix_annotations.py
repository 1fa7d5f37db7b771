"""The `annotations` argument (build-image/annotations.nix): the standard
org.opencontainers.image.* labels, read back with skopeo; the OCI manifest's
annotations; `created` fixed unless given; bad ones refused by name."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from nix_support import build_repo, built_repo


pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None or shutil.which("skopeo") is None,
                                reason="nix-build or skopeo is not installed")

GIVEN = {"title": "hello", "version": "2.12.1", "source": "https://example.org/hello.git",
         "revision": "0123abcd", "description": "Says hello", "licenses": "GPL-3.0-or-later"}
LABELS = {f"org.opencontainers.image.{k}": v for k, v in GIVEN.items()}




def inspect(archive):
    return json.loads(subprocess.run(["skopeo", "inspect", f"docker-archive:{archive}"],
                                     capture_output=True, text=True, check=True).stdout)


def test_labels_and_fixed_created():
    inspected = inspect(built_repo("-A", "image", "--argstr", "annotations", json.dumps(GIVEN),
                              "--argstr", "config", '{"Labels": {"org.opencontainers.image.title": "mine", "x": "y"}}'))
    # config.Labels win, key by key.
    assert inspected["Labels"] == {**LABELS, "org.opencontainers.image.title": "mine", "x": "y"}
    assert inspected["Created"] == "1970-01-01T00:00:01Z"


def test_created_when_given_dates_the_image_and_is_a_label():
    inspected = inspect(built_repo("-A", "image", "--argstr", "annotations", '{"created": "2024-05-01T12:00:00Z"}'))
    assert inspected["Created"] == "2024-05-01T12:00:00Z"
    assert inspected["Labels"] == {"org.opencontainers.image.created": "2024-05-01T12:00:00Z"}


def test_oci_manifest_carries_them_as_annotations():
    output = json.loads(Path(built_repo("-A", "buildImage", "--argstr", "compression", "zstd",
                                   "--argstr", "annotations", json.dumps(GIVEN))).read_text())
    assert output["manifest"]["annotations"] == LABELS
    plain = json.loads(Path(built_repo("-A", "buildImage", "--argstr", "compression", "zstd")).read_text())
    assert "annotations" not in plain["manifest"]


REFUSED = [
    ("unknown", '{"name": "x"}', 'group-layers: annotations has unknown key "name"; known keys: title, version'),
    ("number", '{"version": 2}', "group-layers: annotations.version is 2, it must be a string"),
    ("created", '{"created": "yesterday"}', 'group-layers: annotations.created is "yesterday", it must be an RFC 3339'),
    ("list", '["title"]', 'group-layers: annotations is ["title"], it must be an object of strings'),
]


@pytest.mark.parametrize("value,message", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_bad_annotations_are_refused_naming_them(tmp_path, value, message):
    proc = build_repo("-A", "image", "--argstr", "annotations", value, cwd=tmp_path)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-2000:]
