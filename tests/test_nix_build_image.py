"""The Nix half (default.nix, build-image/), built with real nix-build.

Every build runs against the offline package set tests/fixture-pkgs
(NIX_PATH=nixpkgs=...), never with a binary cache. Images are built once per
session and shared by the tests that inspect them.
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from nix_support import FIXTURE_PKGS, NIX_OPTIONS, REPO, nix_environment

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build is not installed")

# Packages of the fixture used below: a nested one and a top-level one whose
# name has upper case (looked up here in lower case).
DOTTED = "python3Packages.requests"
CAMEL_CASE = "bashInteractive"


@pytest.fixture(scope="session")
def nix_env():
    return nix_environment()


@pytest.fixture(scope="session")
def run(nix_env):
    """run(cmd...) -> stdout; a failure shows the command's stderr."""

    def run(*cmd):
        proc = subprocess.run(cmd, cwd=REPO, env=nix_env, capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        return proc.stdout.strip()

    return run


@pytest.fixture(scope="session")
def nix_build(run):
    """nix_build(args...) -> the output path of a nix-build in the repository."""

    def nix_build(*args):
        return run("nix-build", "--no-out-link", *NIX_OPTIONS, *args)

    return nix_build


def packages(*names):
    return ["--argstr", "packages", json.dumps(list(names))]


def out_path(run, attr):
    """The store path of the fixture's package `attr` (built if needed)."""
    return run("nix-build", "--no-out-link", *NIX_OPTIONS, "<nixpkgs>", "-A", attr)


def layer_members(path):
    with tarfile.open(path) as tar:
        return tar.getnames()


def store_layers(output):
    """{frozenset of the store paths in a layer: the layer's blob path}"""
    layers = {}
    for layer in output["manifest"]["layers"][:-1]:
        path = output["layerLocations"][layer["digest"].removeprefix("sha256:")]["path"]
        layers[frozenset("/" + m for m in layer_members(path) if m.count("/") == 2)] = path
    return layers


# Shared builds -------------------------------------------------------------------


@pytest.fixture(scope="session")
def hello(run):
    return out_path(run, "hello")


@pytest.fixture(scope="session")
def hello_manifest(nix_build):
    """manifest-output.json of the image of hello, as a dict with its path."""
    path = nix_build("-A", "buildImage", *packages("hello"))
    return {"path": path, **json.loads(Path(path).read_text())}


@pytest.fixture(scope="session")
def mixed_manifest(nix_build):
    """manifest-output.json of hello, a nested package and a camelCase one
    asked for in lower case."""
    return json.loads(Path(nix_build("-A", "buildImage", *packages("hello", DOTTED, CAMEL_CASE.lower()))).read_text())


# The image of hello as a `docker load` archive, with every argument that
# shapes the image set.
HELLO_IMAGE_ARGS = [
    "--argstr", "name", "hello",
    "--argstr", "tag", "test",
    "--argstr", "config", json.dumps({"Cmd": ["hello"], "Env": ["GREETING=hi"], "WorkingDir": "/tmp"}),
    "--argstr", "extraCommands", "mkdir -p tmp && chmod 1777 tmp",
    "--arg", "uid", "1000",
    "--arg", "gid", "100",
]


@pytest.fixture(scope="session")
def hello_image(nix_build):
    return nix_build("-A", "image", *packages("hello"), *HELLO_IMAGE_ARGS)


@pytest.fixture(scope="session")
def hello_oci(hello_image, tmp_path_factory):
    """The image copied by skopeo into an OCI layout and unpacked by umoci."""
    work = tmp_path_factory.mktemp("oci")
    layout = f"{work / 'layout'}:hello"
    subprocess.run(["skopeo", "copy", "--quiet", f"docker-archive:{hello_image}", f"oci:{layout}"], check=True)
    subprocess.run(["umoci", "unpack", "--image", layout, str(work / "bundle")], check=True)
    return work / "bundle"


# The engine -------------------------------------------------------------------


def test_engine_builds_through_group_layers_and_runs(nix_build, run, hello, tmp_path):
    engine = nix_build("-A", "group-layers")
    graph = tmp_path / "graph.json"
    graph.write_text(run("nix", "--extra-experimental-features", "nix-command",
                         "path-info", "--json", "--recursive", hello))
    out = tmp_path / "layers.json"
    run(f"{engine}/bin/group-layers", "--graph", str(graph), "--budget", "2", "--out", str(out))
    layers = [layer["contents"] for layer in json.loads(out.read_text())]
    closure = run("nix-store", "--query", "--requisites", hello).split()
    assert len(closure) > 2 and len(layers) <= 2
    assert sorted(sum(layers, [])) == sorted(closure)  # each path in exactly one layer


def test_engine_source_is_the_listed_files_and_the_package(nix_build):
    """The engine's source (build-image/default.nix) takes the top-level files
    it lists, all of which exist, and group_layers/; nothing else."""
    source = Path(nix_build("-A", "group-layers.src"))
    assert sorted(p.name for p in source.iterdir()) == ["LICENSE", "README.md", "group_layers", "setup.py"]
    assert (source / "LICENSE").read_text() == (REPO / "LICENSE").read_text()


# buildImage: Nixery's manifest-output.json ---------------------------------------


def test_manifest_digests_and_sizes_match_the_blobs(hello_manifest):
    manifest, locations = hello_manifest["manifest"], hello_manifest["layerLocations"]
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    blobs = [manifest["config"], *manifest["layers"]]
    assert len(manifest["layers"]) >= 2  # the store paths, and the customisation layer
    assert set(locations) == {b["digest"].removeprefix("sha256:") for b in blobs}
    for blob in blobs:
        location = locations[blob["digest"].removeprefix("sha256:")]
        data = Path(location["path"]).read_bytes()
        assert blob["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
        assert blob["size"] == len(data)
        assert location["md5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    for layer in manifest["layers"]:
        assert layer["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar"


def test_manifest_layers_hold_the_closure_once(hello_manifest, hello, run):
    locations = hello_manifest["layerLocations"]
    *layers, custom = hello_manifest["manifest"]["layers"]
    seen = []
    for layer in layers:
        members = layer_members(locations[layer["digest"].removeprefix("sha256:")]["path"])
        assert members[:2] == ["nix", "nix/store"]
        seen += ["/" + m for m in members if m.count("/") == 2]
    closure = run("nix-store", "--query", "--requisites", hello).split()
    assert sorted(seen) == sorted(closure)
    assert "bin/hello" in layer_members(locations[custom["digest"].removeprefix("sha256:")]["path"])


def test_layer_tarballs_are_normalised(hello_manifest):
    for layer in hello_manifest["manifest"]["layers"]:
        path = hello_manifest["layerLocations"][layer["digest"].removeprefix("sha256:")]["path"]
        with tarfile.open(path) as tar:
            members = tar.getmembers()
        # Depth first, each folder's entries by name, as `tar --sort=name`.
        assert [m.name for m in members] == sorted((m.name for m in members), key=lambda n: n.split("/"))
        for m in members:
            assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (1, 0, 0, "", "")
            assert not m.islnk()


def test_max_layers_3_gives_at_most_3_layers(nix_build, mixed_manifest):
    names = ["hello", DOTTED, CAMEL_CASE.lower()]
    output = json.loads(Path(nix_build("-A", "buildImage", *packages(*names), "--arg", "maxLayers", "3")).read_text())
    assert 2 <= len(output["manifest"]["layers"]) <= 3
    assert len(mixed_manifest["manifest"]["layers"]) > 3  # the same image without the limit


def test_unknown_package_is_reported_as_not_found(nix_build):
    output = json.loads(Path(nix_build("-A", "buildImage", *packages("hello", "no-such-package"))).read_text())
    assert output == {"error": "not_found", "pkgs": ["no-such-package"]}


def test_unknown_package_fails_the_image_naming_it(nix_env):
    proc = subprocess.run(
        ["nix-build", "--no-out-link", *NIX_OPTIONS, "-A", "image", *packages("hello", "no-such-package")],
        cwd=REPO, env=nix_env, capture_output=True, text=True,
    )
    assert proc.returncode != 0
    assert "not found" in proc.stderr and "no-such-package" in proc.stderr


def test_dotted_and_case_insensitive_lookups(mixed_manifest, run):
    assert "error" not in mixed_manifest
    in_layers = set().union(*store_layers(mixed_manifest))
    for attr in [DOTTED, CAMEL_CASE]:
        assert out_path(run, attr) in in_layers


def test_same_paths_make_the_same_layer_in_any_image(hello_manifest, mixed_manifest):
    hello_layers, mixed_layers = store_layers(hello_manifest), store_layers(mixed_manifest)
    shared = hello_layers.keys() & mixed_layers.keys()
    assert shared
    for paths in shared:
        assert hello_layers[paths] == mixed_layers[paths]


def test_pkg_source_path_and_popularity(nix_build, hello_manifest, tmp_path):
    popularity = tmp_path / "popularity.json"
    popularity.write_text(json.dumps({"hello-2.12.1": 9, "libgreeting-1.0": 9}))
    path_source = nix_build("-A", "buildImage", *packages("hello"), "--argstr", "pkgSource", f"path!{FIXTURE_PKGS}")
    assert path_source == hello_manifest["path"]  # the same package set, so the same image
    with_popularity = json.loads(Path(nix_build("-A", "buildImage", *packages("hello"), "--argstr", "maxLayers", "20",
                                                "--argstr", "popularity", str(popularity))).read_text())

    def layer_of(output, name):
        (layer,) = [paths for paths in store_layers(output) if any(p.endswith("-" + name) for p in paths)]
        return {p[44:] for p in layer}  # package names, without /nix/store/<hash>-

    # Without data, nothing stable says hello's library travels with hello, so
    # it stands alone; when the data says hello accounts for all its uses, it
    # joins hello's layer once layers are scarce (at the default 96, a layer
    # of its own is worth more than the re-download when bash, outside its
    # closure, rebuilds hello: rule 2's rebuilt share).
    assert layer_of(hello_manifest, "libgreeting-1.0") == {"libgreeting-1.0"}
    assert layer_of(with_popularity, "libgreeting-1.0") == {"hello-2.12.1", "libgreeting-1.0"}


def test_bad_pkg_source_is_named(nix_env):
    proc = subprocess.run(
        ["nix-build", "--no-out-link", *NIX_OPTIONS, "-A", "buildImage", *packages("hello"),
         "--argstr", "pkgSource", "svn!somewhere"],
        cwd=REPO, env=nix_env, capture_output=True, text=True,
    )
    assert proc.returncode != 0 and "svn!somewhere" in proc.stderr


def test_packages_that_are_not_a_json_array_are_named(nix_env):
    proc = subprocess.run(
        ["nix-build", "--no-out-link", *NIX_OPTIONS, "-A", "buildImage", "--argstr", "packages", '"hello"'],
        cwd=REPO, env=nix_env, capture_output=True, text=True,
    )
    assert proc.returncode != 0 and "must be a JSON array" in proc.stderr


def test_contents_are_the_roots_found(nix_build, hello):
    assert nix_build("-A", "buildImage.contents", *packages("HELLO")).split() == [hello]


# image: the `docker load` archive ------------------------------------------------


def test_image_is_a_docker_archive_of_the_same_layers(hello_image, hello_manifest):
    with tarfile.open(hello_image) as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))
        config = json.load(tar.extractfile(entry["Config"]))
        digests = ["sha256:" + hashlib.sha256(tar.extractfile(name).read()).hexdigest() for name in entry["Layers"]]
    assert entry["RepoTags"] == ["hello:test"]
    assert config["rootfs"]["diff_ids"] == digests
    assert len(config["history"]) == len(digests)
    # The store layers are those of the manifest; only the customisation
    # layer differs (this image has extraCommands, uid and gid).
    assert digests[:-1] == [layer["digest"] for layer in hello_manifest["manifest"]["layers"][:-1]]


def test_skopeo_inspects_the_image(hello_image):
    info = json.loads(subprocess.run(["skopeo", "inspect", f"docker-archive:{hello_image}"],
                                     check=True, capture_output=True, text=True).stdout)
    assert info["Os"] == "linux"
    assert info["Architecture"] in {"amd64", "arm64"}
    assert info["Env"] == ["PATH=/bin", "GREETING=hi"]
    assert len(info["Layers"]) >= 2


def test_umoci_unpacks_hello_into_the_rootfs(hello_oci, hello):
    rootfs = hello_oci / "rootfs"
    assert (rootfs / hello.lstrip("/") / "bin" / "hello").is_file()
    assert os.readlink(rootfs / "bin" / "hello").startswith(hello + "/")
    assert (rootfs / "tmp").is_dir()  # extraCommands ran
    config = json.loads((hello_oci / "config.json").read_text())
    assert config["process"]["args"] == ["hello"]
    assert config["process"]["cwd"] == "/tmp"


def test_customisation_layer_belongs_to_uid_and_gid(hello_image):
    with tarfile.open(hello_image) as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))
        custom = tarfile.open(fileobj=tar.extractfile(entry["Layers"][-1]))
        owners = {(m.uid, m.gid) for m in custom.getmembers()}
    assert owners == {(1000, 100)}


# Reproducibility and the server's command -----------------------------------------


def test_layer_and_image_rebuild_bit_for_bit(hello_manifest, hello_image, run, nix_build):
    layer = hello_manifest["layerLocations"][hello_manifest["manifest"]["layers"][0]["digest"].removeprefix("sha256:")]
    for output in [str(Path(layer["path"]).parent), hello_image]:
        derivation = run("nix-store", "--query", "--deriver", output)
        assert nix_build("--check", derivation) == output


def test_nixery_build_image_builds_as_a_server_calls_it(nix_build, run, hello_manifest):
    wrapper = nix_build("-A", "nixery-build-image")
    output = run(f"{wrapper}/bin/nixery-build-image", *NIX_OPTIONS, "--argstr", "name", "hello", *packages("hello"))
    # The same derivation as from the checkout: the engine built from the
    # wrapper's copy of the source is the same.
    assert output == hello_manifest["path"]
