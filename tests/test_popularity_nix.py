"""Popularity on the Nix side, with real Nix: `nix-build -A popularity`, the
`popularity` argument in each of its forms and its checks, and that it
reaches the engine from every entry point (default.nix, the wrapper, the
flake's lib, the overlay, the NixOS module).

"Reaches the engine" is tested by what it changes: the image of hello
(hello, libgreeting, bash) with 3 layers at most has its store paths cut as
`group-layers --budget 2` cuts hello's graph with POPULARITY (which makes
libgreeting popular and bash hello's alone, so that bash joins hello) and,
without popularity (each path alone, the biggest, bash, in a layer of its
own), as the same command without --pop; the two cuts differ.
"""

import functools
import glob
import http.server
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from pathlib import Path

import pytest

from nix_support import FIXTURE_PKGS, FLAKE_OPTIONS, NIX_OPTIONS, REPO, nix_environment, require_nixpkgs_lib

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build is not installed")

NIX = ["nix", "--extra-experimental-features", "nix-command", *NIX_OPTIONS]
POPULARITY = {"bash-5.2.15": 2, "hello-2.12.1": 1, "libgreeting-1.0": 100}
HELLO = ["--argstr", "packages", '["hello"]', "--argstr", "maxLayers", "3"]


def run(*cmd, ok=True):
    proc = subprocess.run(cmd, cwd=REPO, env=nix_environment(), capture_output=True, text=True)
    if ok and proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc if not ok else proc.stdout.strip()


def nix_build(*args):
    return run("nix-build", "--no-out-link", *NIX_OPTIONS, *args)


def archive_layers(archive):
    """The store paths of each layer of a `docker load` archive but the last
    (the customisation layer), as a list of sorted lists."""
    layers = []
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))[0]
        for name in manifest["Layers"][:-1]:
            with tarfile.open(fileobj=outer.extractfile(name), mode="r:*") as layer:
                layers.append(sorted("/" + m for m in layer.getnames() if m.count("/") == 2))
    return sorted(layers)


@pytest.fixture(scope="module")
def popularity_file():
    """POPULARITY in a file that Nix's builders may read too (file:// URLs
    are fetched as a build user; pytest's folders are for root only)."""
    with tempfile.TemporaryDirectory(prefix="group-layers-popularity-") as folder:
        os.chmod(folder, 0o755)
        file = Path(folder) / "popularity.json"
        file.write_text(json.dumps(POPULARITY))
        yield file


@pytest.fixture(scope="module")
def popularity_url(popularity_file):
    """The file's URL on a server on 127.0.0.1 that this fixture starts: a
    fixed-output build reaches the host's network from the sandbox, not its
    files (Nix 2.26 fetches a file:// URL inside the sandbox)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(popularity_file.parent))
    handler.log_message = lambda *args: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}/{popularity_file.name}"
        server.shutdown()


@pytest.fixture(scope="module")
def cuts(popularity_file, tmp_path_factory):
    """{"with": layers, "without": layers}: the engine's cut of hello's graph."""
    hello = nix_build("<nixpkgs>", "-A", "hello")
    graph = tmp_path_factory.mktemp("graph") / "graph.json"
    graph.write_text(run(*NIX, "path-info", "--json", "--recursive", hello))
    result = {}
    for key, pop in (("with", ["--pop", str(popularity_file)]), ("without", [])):
        out = run(sys.executable, "-m", "group_layers", "--graph", str(graph), "--budget", "2",
                  *pop, "--out", "-")
        result[key] = sorted(sorted(layer["contents"]) for layer in json.loads(out))
    assert result["with"] != result["without"]
    assert [p.split("-", 1)[1] for p in min(result["with"], key=len)] == ["libgreeting-1.0"]
    return result


def sri(file):
    return run(*NIX, "hash", "file", str(file))


# nix-build -A popularity -------------------------------------------------------


def test_nix_build_popularity_counts_as_popcount_does(tmp_path):
    attrs = ["hello", "bash", "python3Packages.requests", "python3Packages.urllib3"]
    built = nix_build("-A", "popularity", "--argstr", "packages", json.dumps(attrs))
    graphs = []
    for attr in attrs:
        root = nix_build("<nixpkgs>", "-A", attr)
        graphs.append(tmp_path / f"{attr}.json")
        graphs[-1].write_text(run(*NIX, "path-info", "--json", "--recursive", root))
    expected = run(sys.executable, "-m", "group_layers", "popcount", *map(str, graphs))
    assert open(built).read().strip() == expected
    assert json.loads(expected)["bash-5.2.15"] == 2 and json.loads(expected)["python3-3.11.2"] == 2


def test_nix_build_popularity_without_packages_is_an_error():
    proc = run("nix-build", "--no-out-link", *NIX_OPTIONS, "-A", "popularity", ok=False)
    assert proc.returncode != 0 and "group-layers: popularity: no packages to count" in proc.stderr


# The popularity argument ------------------------------------------------------------


def test_every_form_of_popularity_reaches_the_engine(popularity_file, popularity_url, cuts):
    hash_ = sri(popularity_file)
    base32 = run(*NIX, "hash", "file", "--base32", str(popularity_file))
    url = popularity_url
    forms = {
        "file name": ["--argstr", "popularity", str(popularity_file)],
        "path": ["--arg", "popularity", str(popularity_file)],
        "url and hash": ["--arg", "popularity", f'{{ url = "{url}"; hash = "{hash_}"; }}'],
        "url and sha256": ["--arg", "popularity", f'{{ url = "{url}"; sha256 = "{base32}"; }}'],
        "derivation": ["--arg", "popularity",
                       f'(import <nixpkgs> {{ }}).writeText "pop.json" (builtins.readFile {popularity_file})'],
    }
    for form, args in forms.items():
        assert archive_layers(nix_build("-A", "image", *HELLO, *args)) == cuts["with"], form
    assert archive_layers(nix_build("-A", "image", *HELLO)) == cuts["without"]


def test_bad_popularity_is_an_error_naming_it_and_copies_nothing(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("root:$6$not-json-and-not-for-the-store\n")
    (tmp_path / "dir").mkdir()
    cases = {
        "pop.json": '"pop.json" is a relative file name',
        str(secret): f"{secret} is not popularity data",
        str(tmp_path / "dir"): f"{tmp_path / 'dir'} is a directory",
        "/dev/null": "/dev/null is not a regular file",
        str(tmp_path / "missing.json"): f"{tmp_path / 'missing.json'} does not exist",
    }
    if os.path.exists("/etc/shadow"):
        cases["/etc/shadow"] = "/etc/shadow is not popularity data"
    for value, message in cases.items():
        proc = run("nix-instantiate", *NIX_OPTIONS, "-A", "buildImage", *HELLO,
                   "--argstr", "popularity", value, ok=False)
        assert proc.returncode != 0, value
        assert f"group-layers: popularity: {message}" in proc.stderr, (value, proc.stderr[-800:])
    proc = run("nix-instantiate", *NIX_OPTIONS, "-A", "buildImage", *HELLO,
               "--arg", "popularity", '{ url = "file:///x"; }', ok=False)
    assert "needs exactly one of hash" in proc.stderr
    # Nothing with the secret's text reached the store.
    for stored in glob.glob("/nix/store/*-popularity.json"):
        assert "not-json-and-not-for-the-store" not in open(stored, errors="replace").read()


# The wrapper ------------------------------------------------------------------------


def test_the_wrappers_popularity_is_a_default_the_caller_can_override(popularity_file, cuts):
    wrapper = nix_build("-A", "nixery-build-image", "--arg", "popularity", str(popularity_file))
    manifest = {}
    for key, extra in (("with", []), ("without", ["--arg", "popularity", "null"])):
        output = json.loads(open(run(f"{wrapper}/bin/nixery-build-image", *HELLO, *extra)).read())
        layers = []
        for layer in output["manifest"]["layers"][:-1]:
            blob = output["layerLocations"][layer["digest"].removeprefix("sha256:")]["path"]
            with tarfile.open(blob, mode="r:*") as tar:
                layers.append(sorted("/" + m for m in tar.getnames() if m.count("/") == 2))
        manifest[key] = sorted(layers)
    assert manifest == cuts


# Flake lib, overlay, NixOS module ------------------------------------------------------


@pytest.fixture(scope="module")
def system():
    return json.loads(run("nix-instantiate", "--eval", "--json", "-E", "builtins.currentSystem"))


def test_flake_lib_popularity_and_image(popularity_file, popularity_url, cuts, system):
    flake = ["--override-input", "nixpkgs", f"path:{FIXTURE_PKGS}", "--no-write-lock-file"]
    installable = f"path:{REPO}#lib.{system}"

    def drv(apply):
        return run("nix", *FLAKE_OPTIONS, "eval", "--raw", installable, *flake, "--apply", apply)

    popularity = drv('lib: (lib.popularity { packages = [ "hello" "bash" ]; }).drvPath')
    counted = json.loads(open(run("nix-store", *NIX_OPTIONS, "--realise", popularity)).read())
    assert counted == {"bash-5.2.15": 2, "hello-2.12.1": 1, "libgreeting-1.0": 1}
    # Pure evaluation: the file comes as { url; hash; }.
    pop = f'{{ url = "{popularity_url}"; hash = "{sri(popularity_file)}"; }}'
    for key, arg in (("with", f"popularity = {pop};"), ("without", "")):
        image = drv(f'lib: (lib.image {{ packages = [ "hello" ]; maxLayers = 3; {arg} }}).drvPath')
        assert archive_layers(run("nix-store", *NIX_OPTIONS, "--realise", image)) == cuts[key]


def test_overlay_image_and_popularity(popularity_file, cuts, system):
    expr = f"""
      let
        outputs = (import {REPO}/flake.nix).outputs {{ self = outputs; nixpkgs = null; }};
        pkgs = import {FIXTURE_PKGS} {{
          system = "{system}";
          overlays = [ outputs.overlays.default ];
        }};
        image = args: pkgs.buildGroupLayeredImage ({{ packages = [ "hello" ]; maxLayers = 3; }} // args);
      in [
        (image {{ popularity = {popularity_file}; }})
        (image {{ }})
        (pkgs.groupLayersPopularity {{ contents = [ pkgs.hello ]; }})
      ]
    """
    with_, without, counted = nix_build("-E", expr).splitlines()
    assert archive_layers(with_) == cuts["with"] and archive_layers(without) == cuts["without"]
    assert json.loads(open(counted).read()) == {"bash-5.2.15": 1, "hello-2.12.1": 1, "libgreeting-1.0": 1}


def test_module_popularity_is_every_images_default_and_overridable(popularity_file, cuts, system):
    images = json.loads(run(
        "nix-instantiate", "--read-write-mode", "--eval", "--strict", "--json", *NIX_OPTIONS,
        str(REPO / "tests" / "popularity-module-eval.nix"),
        "--arg", "nixpkgsLib", str(require_nixpkgs_lib() / "lib"), "--arg", "root", str(REPO),
        "--argstr", "system", system, "--arg", "popularity", str(popularity_file)))
    layers = {name: archive_layers(run("nix-store", *NIX_OPTIONS, "--realise", drv))
              for name, drv in images.items()}
    assert layers == {"default": cuts["with"], "none": cuts["without"], "own": cuts["with"]}
