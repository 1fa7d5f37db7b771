"""flake.nix, with real Nix (the NixOS module: tests/test_nixos_module.py).

The flake is copied to a temporary folder (so that nothing is written into
the repository, and untracked files are seen) and used as `path:<copy>`,
with its nixpkgs input pointed at the offline package set tests/fixture-pkgs
(--override-input, --no-write-lock-file). No binary cache is used. Builds
are shared: the Nix store keeps them, and the flake's copy is made once per
session.
"""

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from nix_support import FLAKE_OPTIONS, REPO, nix_environment

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build is not installed")

# What the flake and its engine need from the checkout.
FLAKE_FILES = ["flake.nix", "default.nix", "setup.py", "README.md", "LICENSE"]
FLAKE_DIRS = ["group_layers", "build-image", "nixos", "tests"]

# A two-path graph in `nix path-info --json --recursive` form.
TINY_GRAPH = [
    {
        "path": "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app-1.0",
        "narSize": 1000,
        "references": [
            "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app-1.0",
            "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-lib-2.0",
        ],
    },
    {"path": "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-lib-2.0", "narSize": 5000, "references": []},
]


@pytest.fixture(scope="session")
def env():
    # NIX_CONFIG there also reaches the nix-build that `nix run . -- PKG` starts.
    return nix_environment(nix_path="")


def _run(cmd, env, cwd=None):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout.strip()


@pytest.fixture(scope="session")
def flake(tmp_path_factory):
    """The flake's copy (a folder without .git)."""
    root = tmp_path_factory.mktemp("flake") / "group-layers"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "result", "result-*")
    for name in FLAKE_FILES:
        shutil.copy2(REPO / name, root / name)
    for name in FLAKE_DIRS:
        shutil.copytree(REPO / name, root / name, ignore=ignore)
    return root


@pytest.fixture(scope="session")
def nix(flake, env):
    """nix(subcommand, installable-suffix, *args) -> stdout, on the flake's copy."""

    def nix(subcommand, attr="", *args):
        cmd = ["nix", *FLAKE_OPTIONS, *subcommand.split(), f"path:{flake}{attr}",
               "--override-input", "nixpkgs", f"path:{flake}/tests/fixture-pkgs",
               "--no-write-lock-file", *args]
        return _run(cmd, env)

    return nix


@pytest.fixture(scope="session")
def system(env):
    return json.loads(_run(["nix-instantiate", "--eval", "--json", "-E", "builtins.currentSystem"], env))


def _skopeo_inspect(archive, env):
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    return json.loads(_run(["skopeo", "inspect", f"docker-archive:{archive}"], env))


def _skopeo_config(archive, env):
    return json.loads(_run(["skopeo", "inspect", "--config", f"docker-archive:{archive}"], env))


# flake.nix ---------------------------------------------------------------------


def test_flake_show_lists_the_outputs(nix, flake):
    shown = json.loads(nix("flake show --json"))
    for system in ("x86_64-linux", "aarch64-linux"):
        assert set(shown["packages"][system]) == {"group-layers", "nixery-build-image", "push", "registry",
                                                  "default"}
        assert set(shown["apps"][system]) == {"group-layers", "build-image", "push", "registry", "default"}
        assert set(shown["checks"][system]) >= {"engine", "engine-tests", "arguments"}
    assert "image-hello" in shown["checks"]["x86_64-linux"]
    assert set(shown["overlays"]) == {"default"}
    assert set(shown["nixosModules"]) == {"default", "registry"}
    assert not (flake / "flake.lock").exists()


# What `nix flake check` may warn about here: the lock file a test can't
# write, the other system's checks, (Nix < 2.13) the `lib` output, and a
# store database another Nix holds for a moment (Nix waits and retries).
EXPECTED_WARNINGS = ("not writing modified lock file", "The check omitted these incompatible systems",
                     "unknown flake output 'lib'", "SQLite database")


def test_flake_check_passes_without_warnings(flake, env):
    proc = subprocess.run(["nix", *FLAKE_OPTIONS, "flake", "check", f"path:{flake}", "--override-input",
                           "nixpkgs", f"path:{flake}/tests/fixture-pkgs", "--no-write-lock-file"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert [w for w in warnings if not any(e in w for e in EXPECTED_WARNINGS)] == []
    assert not (flake / "flake.lock").exists()


def test_flake_check_runs_the_engines_unit_tests(nix, system, tmp_path):
    link = tmp_path / "result"
    nix("build", f"#checks.{system}.engine-tests", "--out-link", str(link))
    summary = link.read_text()  # pytest's last line: "N passed, 1 deselected in ...s"
    assert int(summary.split(" passed")[0]) >= 100 and "failed" not in summary and "error" not in summary, summary


def test_build_group_layers_and_run_it(nix, tmp_path):
    link = tmp_path / "result"
    nix("build", "#group-layers", "--out-link", str(link))
    (tmp_path / "graph.json").write_text(json.dumps(TINY_GRAPH))
    proc = subprocess.run([link / "bin" / "group-layers", "--graph", tmp_path / "graph.json",
                           "--budget", "2", "--out", "-"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    layers = json.loads(proc.stdout)
    assert sorted(p for layer in layers for p in layer["contents"]) == sorted(n["path"] for n in TINY_GRAPH)
    # default is the engine too.
    assert nix("eval --raw", "#default.outPath") == nix("eval --raw", "#group-layers.outPath")


def test_build_nixery_build_image_and_run_it_without_nix_path(nix, tmp_path):
    """The wrapper builds with the package set it was built with: no
    <nixpkgs> is needed at run time."""
    link = tmp_path / "result"
    nix("build", "#nixery-build-image", "--out-link", str(link))
    assert os.access(link / "bin" / "nixery-build-image", os.X_OK)
    env = nix_environment(nix_path=None)
    assert "NIX_PATH" not in env
    output = _run([link / "bin" / "nixery-build-image", "--argstr", "packages", '["hello"]'], env, cwd=tmp_path)
    manifest = json.loads(Path(output).read_text())
    assert len(manifest["manifest"]["layers"]) >= 2
    # Asked for, <nixpkgs> is used: here there is none.
    proc = subprocess.run([link / "bin" / "nixery-build-image", "--arg", "pkgs", "import <nixpkgs> { }",
                           "--argstr", "packages", '["hello"]'], env=env, cwd=tmp_path, capture_output=True,
                          text=True)
    assert proc.returncode != 0 and "nixpkgs" in proc.stderr and "search path" in proc.stderr


def test_run_group_layers_on_a_tiny_graph(nix, tmp_path):
    assert "usage: group-layers" in nix("run", "#group-layers", "--", "--help")
    (tmp_path / "graph.json").write_text(json.dumps(TINY_GRAPH))
    out = nix("run", "#group-layers", "--", "--graph", str(tmp_path / "graph.json"), "--budget", "2", "--out", "-")
    assert {p for layer in json.loads(out) for p in layer["contents"]} == {n["path"] for n in TINY_GRAPH}


@pytest.fixture(scope="session")
def hello_image(nix):
    """`nix run . -- hello`: the image's path (the last line it prints)."""
    return nix("run", "", "--", "hello").splitlines()[-1]


def test_nix_run_builds_an_image_skopeo_accepts(hello_image, env):
    assert hello_image.startswith("/nix/store/") and hello_image.endswith("-hello.tar")
    inspected = _skopeo_inspect(hello_image, env)
    assert len(inspected["Layers"]) >= 2
    config = _skopeo_config(hello_image, env)
    assert "PATH=/bin" in config["config"]["Env"]


def test_nix_run_with_two_packages_names_the_image_after_both(nix, env):
    image = nix("run", "", "--", "bash", "hello").splitlines()[-1]
    with tarfile.open(image) as tar:
        tags = json.load(tar.extractfile("manifest.json"))[0]["RepoTags"]
    assert tags[0].startswith("bash/hello:")
    assert _skopeo_inspect(image, env)["Layers"]


def test_nix_run_registry_is_the_registry_server(nix):
    assert nix("run", "#registry", "--", "--version").startswith("group-layers-registry ")
    assert "--pkgs-repo" in nix("run", "#registry", "--", "--help")


def test_nix_run_without_packages_shows_usage(flake, env):
    proc = subprocess.run(
        ["nix", *FLAKE_OPTIONS, "run", f"path:{flake}", "--override-input", "nixpkgs",
         f"path:{flake}/tests/fixture-pkgs", "--no-write-lock-file"],
        env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "usage: build-image PACKAGE..." in proc.stderr


def test_lib_image_is_the_check_and_the_run_image(nix, system, hello_image):
    """lib.<system>.image { packages = [ "hello" ]; } is what `nix run . -- hello` built."""
    if system != "x86_64-linux":
        pytest.skip("checks.<system>.image-hello exists for x86_64-linux only")
    lib_image = nix("eval --raw", f"#checks.{system}.image-hello.outPath")
    assert lib_image == hello_image


def test_overlay_adds_the_engine_and_the_image_function(flake, env, system):
    expr = f"""
      let
        outputs = (import {flake}/flake.nix).outputs {{ self = outputs; nixpkgs = null; }};
        pkgs = import {flake}/tests/fixture-pkgs {{
          system = "{system}";
          overlays = [ outputs.overlays.default ];
        }};
      in {{
        engine = pkgs.group-layers;
        image = pkgs.buildGroupLayeredImage {{ packages = [ "hello" ]; name = "overlaid"; tag = "t1"; }};
        manifest = (pkgs.buildGroupLayeredImage {{ packages = [ "hello" ]; }}).manifestOutput;
        stream = pkgs.streamGroupLayeredImage {{ packages = [ "hello" ]; name = "overlaid"; tag = "t1"; }};
      }}
    """
    out = _run(["nix-build", "--no-out-link", "--option", "substituters", "", "-E", expr], env).splitlines()
    engine, image, manifest, stream = out
    assert subprocess.run([stream], capture_output=True, check=True).stdout == Path(image).read_bytes()
    assert (Path(engine) / "bin" / "group-layers").exists()
    assert _skopeo_inspect(image, env)["Layers"]
    with tarfile.open(image) as tar:
        names = json.load(tar.extractfile("manifest.json"))[0]["RepoTags"]
    assert names == ["overlaid:t1"]
    assert "manifest" in json.loads(Path(manifest).read_text())


# Pure evaluation ----------------------------------------------------------------

PINNED = "nixpkgs!<commit>!<sha256 of its unpacked tarball> or git!<url>!<40-hex commit>"
PURE = "pure evaluation (a flake, nixos-rebuild --flake)"


def _lib_eval(flake, env, system, arguments, result="drvPath"):
    """buildImage's `result` for hello and `arguments`, evaluated through the
    flake (pure); the drvPath needs every argument (the build would come after)."""
    return subprocess.run(
        ["nix", *FLAKE_OPTIONS, "eval", "--json", f"path:{flake}#lib.{system}.buildImage",
         "--override-input", "nixpkgs", f"path:{flake}/tests/fixture-pkgs", "--no-write-lock-file",
         "--apply", f'f: (f {{ packages = [ "hello" ]; {arguments} }}).{result}'],
        env=env, capture_output=True, text=True)


@pytest.mark.parametrize("arguments, error", [
    ('pkgSource = "nixpkgs!nixos-unstable";',
     f'pkgSource is "nixpkgs!nixos-unstable": a download without a hash, which {PURE} refuses; pin it: {PINNED}'),
    ('pkgSource = "git!https://example.org/nixpkgs!main";',
     f'pkgSource is "git!https://example.org/nixpkgs!main": a branch or tag moves, which {PURE} refuses; pin it: {PINNED}'),
    ('pkgSource = "path!/srv/nixpkgs";',
     f'pkgSource is "path!/srv/nixpkgs": {PURE} reads no folder by its name; give the package set as `pkgs`, or {PINNED}'),
    ('popularity = "/srv/popularity.json";',
     f"group-layers: popularity: /srv/popularity.json cannot be read in {PURE}; give a file in the flake "
     "(./popularity.json), a derivation, or { url; hash; }"),
], ids=["channel", "git-branch", "path", "popularity-file"])
def test_pure_evaluation_names_the_argument_and_the_pinned_form(flake, env, system, arguments, error):
    proc = _lib_eval(flake, env, system, arguments)
    assert proc.returncode != 0 and error in proc.stderr, proc.stderr[-3000:]
    assert "in pure evaluation mode" not in proc.stderr  # not Nix's own message


def test_pure_evaluation_takes_the_pinned_forms(flake, env, system, tmp_path):
    """git!<url>!<commit> and nixpkgs!<commit>!<sha256> (the tarball's store
    path made here beforehand: Nix finds it by its hash and downloads nothing)."""
    repo = tmp_path / "nixpkgs-git"
    shutil.copytree(REPO / "tests" / "fixture-pkgs", repo)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "fixture"]):
        _run([*git, *cmd], env)
    commit = _run([*git, "rev-parse", "HEAD"], env)
    source = tmp_path / "tarball" / "source"
    shutil.copytree(REPO / "tests" / "fixture-pkgs", source)
    sha256 = _run(["nix-hash", "--type", "sha256", "--base32", str(source)], env)
    _run(["nix-store", "--add-fixed", "--recursive", "sha256", str(source)], env)
    for pkg_source in [f"git!file://{repo}!{commit}", f"nixpkgs!{'0' * 40}!{sha256}"]:
        proc = _lib_eval(flake, env, system, f'pkgSource = "{pkg_source}";', "contents")
        assert proc.returncode == 0, proc.stderr[-3000:]
        hello, = json.loads(proc.stdout)
        assert hello.endswith("-hello-2.12.1")
