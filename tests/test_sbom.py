"""The image's SBOM (build-image/sbom.nix, imagetools/sbom.py): CycloneDX 1.5
validated by cyclonedx-python-lib against the official schema, every store
path of the image once with its NAR hash, references and layer; pushed beside
the image as an artifact whose subject is the image (Debian's docker-registry,
distribution 2.8), and served by the registry server's referrers API."""

import hashlib
import json
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from distribution_support import distribution
from nix_support import NIX_OPTIONS, REPO, nix_environment
from registry_fixtures import build_command, env, fixture  # noqa: F401 (fixtures)
from registry_support import Server, package_set

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None or shutil.which("skopeo") is None,
                                reason="nix-build or skopeo is not installed")

SBOM_TYPE = "application/vnd.cyclonedx+json"


def run(*cmd):
    proc = subprocess.run(cmd, cwd=REPO, env=nix_environment(), capture_output=True, text=True)
    assert proc.returncode == 0, f"{cmd}: {proc.stderr[-3000:]}"
    return proc.stdout.strip()


def nix_build(*args):
    return run("nix-build", "--no-out-link", *NIX_OPTIONS, *args)


@pytest.fixture(scope="module")
def image():
    """manifest-output.json of hello and busybox, with its path."""
    path = nix_build("-A", "buildImage", "--argstr", "packages", '["hello","busybox"]', "--argstr", "tag", "v1")
    return {"path": path, **json.loads(Path(path).read_text())}


@pytest.fixture(scope="module")
def sbom(image):
    return json.loads(Path(image["sbom"]).read_text())


def validate(text):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    return JsonStrictValidator(SchemaVersion.V1_5).validate_str(text)


def test_the_sbom_validates_against_cyclonedx_1_5(image):
    text = Path(image["sbom"]).read_text()
    assert validate(text) is None
    # The validator does fail: a component without its name is refused.
    broken = json.loads(text)
    del broken["components"][0]["name"]
    assert validate(json.dumps(broken)) is not None


def test_every_store_path_once_with_its_nar_hash_references_and_layer(image, sbom):
    roots = [run("nix-build", "--no-out-link", *NIX_OPTIONS, "<nixpkgs>", "-A", a) for a in ("hello", "busybox")]
    closure = set(run("nix-store", "-qR", *roots).split())
    refs = [c["bom-ref"] for c in sbom["components"]]
    assert len(refs) == len(set(refs)) and set(refs) == closure
    holder = {}
    for layer in image["manifest"]["layers"]:
        blob = image["layerLocations"][layer["digest"].removeprefix("sha256:")]["path"]
        with tarfile.open(blob) as tar:
            for name in tar.getnames():
                if name.count("/") == 2:
                    holder["/" + name] = layer["digest"]
    dependencies = {d["ref"]: d["dependsOn"] for d in sbom["dependencies"]}
    assert sorted(dependencies["image"]) == sorted(roots)
    for component in sbom["components"]:
        path = component["bom-ref"]
        properties = {p["name"]: p["value"] for p in component["properties"]}
        nar_hash = run("nix-store", "-q", "--hash", path)
        assert properties["nix:nar-hash"] == nar_hash
        hex_hash = run("nix-hash", "--type", "sha256", "--to-base16", nar_hash.removeprefix("sha256:"))
        assert component["hashes"] == [{"alg": "SHA-256", "content": hex_hash}]
        assert properties["oci:layer-digest"] == holder[path]
        references = set(run("nix-store", "-q", "--references", path).split()) - {path}
        assert set(dependencies[path]) == references
    hello = next(c for c in sbom["components"] if c["bom-ref"] == roots[0])
    assert (hello["name"], hello["version"], hello["purl"]) == ("hello", "2.12.1", "pkg:nix/hello@2.12.1")
    assert sbom["metadata"]["component"] == {"type": "container", "bom-ref": "image", "name": "busybox/hello",
                                             "version": "v1"}


def test_sbom_is_an_attribute_of_image_and_stream(image):
    for attr in ("image.sbom", "stream.sbom", "buildImage.sbom"):
        assert nix_build("-A", attr, "--argstr", "packages", '["hello","busybox"]', "--argstr", "tag", "v1") \
            == image["sbom"]


# push: Debian's docker-registry ------------------------------------------------------


@pytest.fixture(scope="module")
def docker_registry(tmp_path_factory):
    with distribution(tmp_path_factory.mktemp("distribution")) as host:
        yield host


def test_push_sends_the_sbom_as_an_artifact_of_the_image(image, docker_registry):
    push = nix_build("-A", "push") + "/bin/push"
    run(push, image["path"], f"docker://{docker_registry}/app:v1", "--dest-tls-verify=false")
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{docker_registry}/app:v1"],
                         capture_output=True, check=True).stdout
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    artifact_ref = f"docker://{docker_registry}/app:{digest.replace(':', '-')}.sbom"
    artifact = json.loads(run("skopeo", "inspect", "--raw", "--tls-verify=false", artifact_ref))
    assert artifact["artifactType"] == SBOM_TYPE
    assert artifact["subject"] == {"mediaType": json.loads(raw)["mediaType"], "digest": digest, "size": len(raw)}
    layer, = artifact["layers"]
    sbom_bytes = Path(image["sbom"]).read_bytes()
    assert (layer["mediaType"], layer["digest"]) == (SBOM_TYPE, "sha256:" + hashlib.sha256(sbom_bytes).hexdigest())


# The registry server's referrers API ----------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory, env, fixture, build_command):  # noqa: F811 (fixtures)
    pkgs = package_set(tmp_path_factory.mktemp("pkgs"), uuid.uuid4().hex, fixture)
    s = Server(tmp_path_factory.mktemp("storage"), tmp_path_factory.mktemp("log") / "a.log", env,
               "--pkgs-path", pkgs, "--build-command", build_command, "--timeout", "300")
    yield s
    assert s.stop() == 0


@pytest.mark.parametrize("accept", ["application/vnd.docker.distribution.manifest.v2+json",
                                    "application/vnd.oci.image.manifest.v1+json"])
def test_registry_serves_the_sbom_through_the_referrers_api(server, accept):
    status, headers, body = server.request("GET", "/v2/hello/manifests/latest", {"Accept": accept})
    assert status == 200
    digest = headers["docker-content-digest"]
    status, headers, body = server.request("GET", f"/v2/hello/referrers/{digest}")
    assert status == 200 and headers["content-type"] == "application/vnd.oci.image.index.v1+json"
    descriptor, = json.loads(body)["manifests"]
    assert descriptor["artifactType"] == SBOM_TYPE
    status, _, artifact = server.request("GET", f"/v2/hello/manifests/{descriptor['digest']}")
    assert status == 200 and "sha256:" + hashlib.sha256(artifact).hexdigest() == descriptor["digest"]
    artifact = json.loads(artifact)
    assert artifact["subject"]["digest"] == digest
    status, _, sbom = server.request("GET", f"/v2/hello/blobs/{artifact['layers'][0]['digest']}")
    assert status == 200 and validate(sbom.decode()) is None
    assert any(c["name"] == "hello" for c in json.loads(sbom)["components"])
    # Filtered by artifactType, as the spec says, and saying so.
    status, headers, body = server.request("GET", f"/v2/hello/referrers/{digest}?artifactType=text/plain")
    assert json.loads(body)["manifests"] == [] and headers["oci-filters-applied"] == "artifactType"


def test_referrers_of_an_unknown_digest_is_an_empty_index_and_a_bad_one_400(server):
    status, _, body = server.request("GET", "/v2/hello/referrers/sha256:" + "0" * 64)
    assert status == 200 and json.loads(body)["manifests"] == []
    status, _, body = server.request("GET", "/v2/hello/referrers/sha256:xyz")
    assert status == 400 and json.loads(body)["errors"][0]["code"] == "DIGEST_INVALID"
