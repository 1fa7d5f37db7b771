"""The offline nixpkgs stand-in (tests/fixture-pkgs) really evaluates and builds.

Runs real `nix-build` / `nix eval` against the fixture; skipped when Nix is
not installed.  Every Nix call gets its own NIX_PATH pointing at the fixture
(the caller's NIX_PATH is never used).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parent / "fixture-pkgs"
NIX_OPTS = ["--option", "substituters", ""]
FLAKE_OPTS = ["--extra-experimental-features", "nix-command flakes"]

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build not installed")


@pytest.fixture(scope="session")
def nix_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("nix-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIX_")}
    env.update(NIX_PATH=f"nixpkgs={FIXTURE}", HOME=str(home), XDG_CACHE_HOME=str(home / "cache"))
    return env


def nix_build(env: dict[str, str], expr: str, *extra: str) -> Path:
    out = subprocess.run(
        ["nix-build", *NIX_OPTS, "--no-out-link", *extra, "-E", expr],
        env=env, capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return Path(out.stdout.strip().splitlines()[-1])


def closure(env: dict[str, str], path: Path) -> list[str]:
    out = subprocess.run(["nix-store", "-qR", str(path)], env=env,
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_hello_closure_has_library_and_shell(nix_env):
    hello = nix_build(nix_env, "(import <nixpkgs> {}).hello")
    run = subprocess.run([hello / "bin" / "hello"], capture_output=True, text=True, check=True)
    assert run.stdout == "Hello, world!\n"
    names = [p.split("-", 1)[1] for p in closure(nix_env, hello)]
    assert "libgreeting-1.0" in names
    assert "bash-5.2.15" in names
    assert "hello-2.12.1" in names


def test_write_shell_script_bin_runs(nix_env):
    drv = nix_build(nix_env, """
      let pkgs = import <nixpkgs> {}; in
      pkgs.writeShellScriptBin "greet-twice" ''
        ${pkgs.lib.getExe pkgs.hello}
        echo "args: $*"
      ''
    """)
    run = subprocess.run([drv / "bin" / "greet-twice", "a", "b"], capture_output=True, text=True, check=True)
    assert run.stdout == "Hello, world!\nargs: a b\n"
    # the script's shebang is the fixture bash, a real reference
    assert any(p.endswith("-bash-5.2.15") for p in closure(nix_env, drv))


def test_build_python_application(nix_env, tmp_path):
    src = tmp_path / "tinyapp"
    (src / "tinyapp").mkdir(parents=True)
    (src / "setup.py").write_text(textwrap.dedent("""
        from setuptools import setup
        setup(
            name="tinyapp", version="0.3", packages=["tinyapp"],
            package_data={"tinyapp": ["banner.txt"]},
            entry_points={"console_scripts": ["tinyapp=tinyapp.cli:main"]},
        )
    """))
    (src / "tinyapp" / "__init__.py").write_text("")
    (src / "tinyapp" / "banner.txt").write_text("tiny banner\n")
    (src / "tinyapp" / "cli.py").write_text(textwrap.dedent("""
        import importlib.resources, sys
        import networkx, requests
        def main():
            banner = importlib.resources.files("tinyapp").joinpath("banner.txt").read_text().strip()
            print(banner, networkx.__name__, requests.__version__, sys.argv[1:])
    """))
    app = nix_build(nix_env, f"""
      let pkgs = import <nixpkgs> {{}}; ps = pkgs.python3Packages; in
      ps.buildPythonApplication {{
        pname = "tinyapp"; version = "0.3";
        src = {src};
        pyproject = true;
        build-system = [ ps.setuptools ];
        dependencies = [ ps.networkx ps.requests ];
        pythonImportsCheck = [ "tinyapp" "tinyapp.cli" ];
        meta.mainProgram = "tinyapp";
      }}
    """)
    run = subprocess.run([app / "bin" / "tinyapp", "x"], capture_output=True, text=True, check=True)
    assert run.stdout == "tiny banner networkx 2.31.0 ['x']\n"
    names = {p.split("-", 1)[1] for p in closure(nix_env, app)}
    assert {"python3.11-requests-2.31.0", "python3.11-networkx-2.8.8", "python3-3.11.2"} <= names


def test_build_python_application_older_arguments(nix_env, tmp_path):
    src = tmp_path / "oldstyle"
    (src / "oldstyle").mkdir(parents=True)
    (src / "setup.py").write_text(
        "from setuptools import setup\n"
        "setup(name='oldstyle', version='1', packages=['oldstyle'],"
        " entry_points={'console_scripts': ['oldstyle=oldstyle:main']})\n")
    (src / "oldstyle" / "__init__.py").write_text("def main():\n    print('old ok')\n")
    app = nix_build(nix_env, f"""
      let pkgs = import <nixpkgs> {{}}; ps = pkgs.python3Packages; in
      ps.buildPythonApplication {{
        pname = "oldstyle"; version = "1"; src = {src}; format = "setuptools";
        nativeBuildInputs = [ ps.wheel ]; propagatedBuildInputs = [ ps.jsonschema ];
        doCheck = false;
      }}
    """)
    run = subprocess.run([app / "bin" / "oldstyle"], capture_output=True, text=True, check=True)
    assert run.stdout == "old ok\n"


def test_structured_attrs_reference_graph(nix_env):
    out = nix_build(nix_env, """
      let pkgs = import <nixpkgs> {}; in
      pkgs.runCommand "graph-json" {
        __structuredAttrs = true;
        exportReferencesGraph.graph = [ pkgs.hello ];
        nativeBuildInputs = [ pkgs.jq ];
      } ''
        mkdir -p "$out"
        cp "$NIX_ATTRS_JSON_FILE" "$out/attrs.json"
        echo "$out" > "$out/out-var"
      ''
    """)
    attrs = json.loads((out / "attrs.json").read_text())
    assert (out / "out-var").read_text().strip() == str(out)
    graph = attrs["graph"]
    assert len(graph) == 3
    for entry in graph:
        assert {"path", "narSize", "closureSize", "references"} <= entry.keys()
    by_name = {e["path"].split("-", 1)[1]: e for e in graph}
    hello = by_name["hello-2.12.1"]
    assert sorted(r.split("-", 1)[1] for r in hello["references"]) == ["bash-5.2.15", "libgreeting-1.0"]
    assert hello["closureSize"] == sum(e["narSize"] for e in graph)


def test_closure_info(nix_env):
    out = nix_build(nix_env, "let p = import <nixpkgs> {}; in p.closureInfo { rootPaths = [ p.hello ]; }")
    paths = (out / "store-paths").read_text().split()
    assert len(paths) == 3 and int((out / "total-nar-size").read_text()) > 1_000_000


def test_overlays_apply(nix_env):
    expr = """
      let pkgs = import <nixpkgs> {
        overlays = [
          (final: prev: { greeting = "hi"; libgreeting = prev.libgreeting.overrideAttrs (_: { version = "2.0"; }); })
          (final: prev: { greeting = prev.greeting + "!"; })
        ];
      }; in [ pkgs.greeting pkgs.libgreeting.name pkgs.pkgs.greeting (pkgs.extend (f: p: { x = 1; })).x
              (pkgs.extend (f: p: { x = 1; })).greeting ]
    """
    out = subprocess.run(["nix-instantiate", *NIX_OPTS, "--eval", "--strict", "--json", "-E", expr],
                         env=nix_env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["hi!", "libgreeting-2.0", "hi!", 1, "hi!"]


def test_flake_evaluates(nix_env):
    out = subprocess.run(
        ["nix", *FLAKE_OPTS, *NIX_OPTS, "eval", "--json",
         f"path:{FIXTURE}#legacyPackages.aarch64-linux.hello.name"],
        env=nix_env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == "hello-2.12.1"
