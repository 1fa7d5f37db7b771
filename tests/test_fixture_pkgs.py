"""The offline nixpkgs stand-in (tests/fixture-pkgs) really evaluates and builds.

Runs real `nix-build` / `nix eval` against the fixture; skipped when Nix is
not installed.  Every Nix call gets its own NIX_PATH pointing at the fixture
(the caller's NIX_PATH is never used).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from nix_support import FIXTURE_PKGS as FIXTURE, FLAKE_OPTIONS, NIX_OPTIONS as NIX_OPTS, REPO, nix_environment


pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build not installed")


@pytest.fixture(scope="session")
def nix_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return nix_environment(home=tmp_path_factory.mktemp("nix-home"))


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
    (src / "tests").mkdir()
    (src / "tests" / "test_old.py").write_text(
        "import oldstyle\n"
        "def test_ok():\n    assert callable(oldstyle.main)\n"
        "def test_broken():\n    assert False\n")
    app = nix_build(nix_env, f"""
      let pkgs = import <nixpkgs> {{}}; ps = pkgs.python3Packages; in
      ps.buildPythonApplication {{
        pname = "oldstyle"; version = "1"; src = {src}; format = "setuptools";
        nativeBuildInputs = [ ps.wheel ]; propagatedBuildInputs = [ ps.jsonschema ];
        nativeCheckInputs = [ ps.pytestCheckHook ];
        disabledTests = [ "test_broken" ];
        postCheck = "touch $out/checked";
      }}
    """)
    run = subprocess.run([app / "bin" / "oldstyle"], capture_output=True, text=True, check=True)
    assert run.stdout == "old ok\n"
    assert (app / "checked").exists()  # pytestCheckHook ran (and skipped test_broken)


def nix_build_fails(env: dict[str, str], expr: str) -> str:
    out = subprocess.run(["nix-build", *NIX_OPTS, "--no-out-link", "-E", expr],
                         env=env, capture_output=True, text=True, check=False)
    assert out.returncode != 0, f"built, but should have failed: {out.stdout}"
    return out.stderr


@pytest.fixture(scope="module")
def toy_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose distribution is `toy-dist` 1.0 and which needs idna."""
    src = tmp_path_factory.mktemp("toy")
    (src / "toy").mkdir()
    (src / "toy" / "__init__.py").write_text("")
    (src / "setup.py").write_text(
        "from setuptools import setup\n"
        "setup(name='toy-dist', version='1.0', packages=['toy'], install_requires=['idna>=3'])\n")
    return src


def toy(src: Path, **attrs: str) -> str:
    """A buildPythonPackage of `src`, with nixpkgs' usual arguments unless `attrs` replace them."""
    args = {"pname": '"toy-dist"', "version": '"1.0"', "pyproject": "true",
            "build-system": "[ ps.setuptools ]", "dependencies": "[ ps.idna ]",
            "pythonImportsCheck": '[ "toy" ]', **attrs}
    body = " ".join(f"{name} = {value};" for name, value in args.items() if value is not None)
    return (f"let pkgs = import <nixpkgs> {{}}; ps = pkgs.python3Packages; in "
            f"ps.buildPythonPackage {{ src = {src}; {body} }}")


def test_python_packages_are_built_and_installed_by_pypa_build_and_installer(nix_env, toy_source):
    out = nix_build(nix_env, toy(toy_source))
    site = out / "lib" / "python3.11" / "site-packages"
    assert (site / "toy" / "__init__.py").is_file()
    metadata = (site / "toy_dist-1.0.dist-info" / "METADATA").read_text()
    assert "Name: toy-dist" in metadata and "Requires-Dist: idna" in metadata
    # installer's RECORD, not pip's INSTALLER file
    assert not (site / "toy_dist-1.0.dist-info" / "INSTALLER").exists()
    assert not (out / "local").exists()


@pytest.mark.parametrize("attrs, message", [
    # pythonMetadataCheckHook: the pname names no installed distribution.
    ({"pname": '"toy-unwrapped"'}, "No package metadata was found for toy-unwrapped"),
    # ... or the versions differ.
    ({"version": '"1.1"'}, "The 'toy-dist' derivation has version '1.1' but .dist-info/METADATA specifies version '1.0'."),
    # pythonRuntimeDepsCheckHook: a Requires-Dist that no dependency gives ...
    ({"dependencies": "[ ]"}, "  - idna not installed"),
    # ... also when the host's interpreter has it (Debian's python3-idna).
    ({"dependencies": "[ ps.certifi ]"}, "  - idna not installed"),
    # pythonImportsCheckHook.
    ({"pythonImportsCheck": '[ "toy.nosuchmodule" ]'}, "No module named 'toy.nosuchmodule'"),
], ids=["pname", "version", "no-dependency", "wrong-dependency", "imports"])
def test_python_builds_fail_as_in_nixpkgs(nix_env, toy_source, attrs, message):
    assert message in nix_build_fails(nix_env, toy(toy_source, **attrs))


@pytest.mark.parametrize("attrs", [
    # nixpkgs runs the metadata check for pyproject builds with a pname whose
    # version is no "unstable-" one, unless dontCheckPythonMetadata ...
    {"pname": '"toy-unwrapped"', "dontCheckPythonMetadata": "true"},
    {"pname": '"toy-unwrapped"', "version": '"1.0-unstable-2026-01-01"'},
    {"pname": None, "version": None, "name": '"toy-1.0"'},
    # ... and the runtime-dependency check for pyproject builds only.
    {"pname": '"toy-unwrapped"', "pyproject": None, "format": '"setuptools"', "dependencies": "[ ]"},
    {"dependencies": "[ ]", "dontCheckRuntimeDeps": "true"},
], ids=["dontCheckPythonMetadata", "unstable-version", "no-pname", "format-setuptools", "dontCheckRuntimeDeps"])
def test_python_checks_run_where_nixpkgs_runs_them(nix_env, toy_source, attrs):
    nix_build(nix_env, toy(toy_source, **attrs))


def test_the_project_s_python_packages_pass_nixpkgs_checks(nix_env):
    """The engine and the registry server: the checks are on for them, and they build."""
    phases = nix_eval(nix_env, f"""
      let t = import {REPO}/build-image {{ pkgs = import <nixpkgs> {{}}; }}; in
      map (d: {{ inherit (d.drvAttrs) pname preDistPhases preInstallPhases pythonImportsCheck; }})
        [ t.groupLayers t.groupLayersWithCache t.registry.server ]
    """)
    for drv in phases:
        assert drv["pname"] == "group-layers"
        assert drv["preDistPhases"] == ["pythonImportsCheckPhase", "pythonMetadataCheckPhase"]
        assert drv["preInstallPhases"] == ["pythonRuntimeDepsCheckPhase"]
        assert "group_layers.cli" in drv["pythonImportsCheck"]
    assert "group_layers.registry.server" in phases[2]["pythonImportsCheck"]
    out = subprocess.run(["nix-build", *NIX_OPTS, "--no-out-link", str(REPO), "-A", "group-layers", "-A", "registry"],
                         env=nix_env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-4000:]


def test_meta_checks_refuse_packages_as_nixpkgs_does(nix_env):
    """Unfree, broken and insecure packages: still derivations with a name and
    a meta saying they are unavailable; their drvPath and outPath throw,
    unless the config allows them."""
    summary = nix_eval(nix_env, """
      let
        look = pkgs: n: let p = pkgs.${n}; ok = x: (builtins.tryEval x).success; in {
          inherit (p) name; inherit (p.meta) available unfree broken insecure;
          isDerivation = pkgs.lib.isDerivation p; drvPathOk = ok p.drvPath; outPathOk = ok p.outPath;
        };
        names = [ "unfree-tool" "broken-tool" "insecure-tool" "hello" ];
        refusing = import <nixpkgs> { };
        allowing = import <nixpkgs> { config = { allowUnfree = true; allowBroken = true;
          permittedInsecurePackages = [ "insecure-tool-1.0" ]; }; };
      in { refusing = map (look refusing) names; allowing = map (look allowing) names; }
    """)
    for entry in summary["refusing"][:3]:
        assert entry["isDerivation"] and not entry["available"], entry
        assert not entry["drvPathOk"] and not entry["outPathOk"], entry
    assert [e["unfree"] for e in summary["refusing"]] == [True, False, False, False]
    assert [e["broken"] for e in summary["refusing"]] == [False, True, False, False]
    assert [e["insecure"] for e in summary["refusing"]] == [False, False, True, False]
    assert all(e["available"] and e["drvPathOk"] and e["outPathOk"] for e in summary["allowing"])
    assert summary["refusing"][3]["available"] and summary["refusing"][3]["drvPathOk"]
    for name, message in [("unfree-tool", "has an unfree license (‘unfree’), refusing to evaluate."),
                          ("broken-tool", "is marked as broken, refusing to evaluate."),
                          ("insecure-tool", "is marked as insecure, refusing to evaluate.")]:
        proc = subprocess.run(["nix-instantiate", *NIX_OPTS, "-E", f"(import <nixpkgs> {{}}).{name}"],
                              env=nix_env, capture_output=True, text=True)
        assert proc.returncode != 0 and f"Package ‘{name}-1.0’ in «unknown-file» {message}" in proc.stderr


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
          (final: prev: { pythonPackagesExtensions = prev.pythonPackagesExtensions ++ [
            (pfinal: pprev: { requests = pprev.requests.overrideAttrs { version = "9.9"; }; })
          ]; })
        ];
      }; in [ pkgs.greeting pkgs.libgreeting.name pkgs.pkgs.greeting (pkgs.extend (f: p: { x = 1; })).x
              (pkgs.extend (f: p: { x = 1; })).greeting pkgs.python3.pkgs.requests.version ]
    """
    out = subprocess.run(["nix-instantiate", *NIX_OPTS, "--eval", "--strict", "--json", "-E", expr],
                         env=nix_env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["hi!", "libgreeting-2.0", "hi!", 1, "hi!", "9.9"]


def test_flake_evaluates(nix_env):
    out = subprocess.run(
        ["nix", *FLAKE_OPTIONS, "eval", "--json",
         f"path:{FIXTURE}#legacyPackages.aarch64-linux.hello.name"],
        env=nix_env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == "hello-2.12.1"


def nix_eval(env: dict[str, str], expr: str):
    out = subprocess.run(["nix-instantiate", *NIX_OPTS, "--eval", "--strict", "--json", "-E", expr],
                         env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_lib_semantics(nix_env):
    got = nix_eval(nix_env, """
      let lib = (import <nixpkgs> {}).lib; in {
        split = lib.splitString "." "a.b..c";
        splitSub = lib.strings.splitString ", " "x, y";
        esc = lib.escapeShellArg "it's";
        escs = lib.escapeShellArgs [ "a b" "c" ];
        lower = lib.toLower "MiXeD";
        pre = [ (lib.hasPrefix "ab" "abc") (lib.hasSuffix "bc" "abc") (lib.removePrefix "a" "abc") (lib.removeSuffix "c" "abc") ];
        path = [ (lib.attrByPath [ "a" "b" ] 0 { a.b = 1; }) (lib.attrByPath [ "a" "x" ] 0 { a.b = 1; })
                 (lib.hasAttrByPath [ "a" "b" ] { a.b = null; }) (lib.getAttrFromPath [ "a" ] { a = 2; }) ];
        maps = [ (lib.mapAttrsToList (n: v: n + v) { x = "1"; y = "2"; })
                 (lib.mapAttrs' (n: v: lib.nameValuePair "k${n}" v) { a = 1; })
                 (lib.filterAttrs (n: v: v > 1) { a = 1; b = 2; })
                 (lib.genAttrs [ "p" "q" ] (n: n + n)) ];
        lists = [ (lib.unique [ 3 1 3 2 1 ]) (lib.sort (a: b: a < b) [ 3 1 2 ]) (lib.concatMap (x: [ x x ]) [ 1 2 ])
                  (lib.optional false 1) (lib.optionals true [ 1 2 ]) (lib.lists.foldl' (a: b: a + b) 0 [ 1 2 3 ]) ];
        strs = [ (lib.concatMapStringsSep "," toString [ 1 2 ]) (lib.optionalString false "x")
                 (lib.makeBinPath [ "/a" "/b" ]) (lib.makeSearchPath "lib" [ "/a" ]) ];
        attrsSub = lib.attrsets.attrNames { b = 1; a = 2; };
        fix = lib.fix (self: { a = 1; b = self.a + 1; });
        ext = (lib.fix (lib.extends (lib.composeManyExtensions [ (f: p: { x = p.x + 1; }) (f: p: { x = p.x * 10; }) ]) (self: { x = 1; }))).x;
        systems = lib.attrNames (lib.genAttrs lib.systems.flakeExposed (s: s));
        libExtend = (lib.extend (f: p: { answer = 42; })).answer;
      }
    """)
    assert got["split"] == ["a", "b", "", "c"]
    assert got["splitSub"] == ["x", "y"]
    assert got["esc"] == "'it'\\''s'"
    assert got["escs"] == "'a b' c"
    assert got["lower"] == "mixed"
    assert got["pre"] == [True, True, "bc", "ab"]
    assert got["path"] == [1, 0, True, 2]
    assert got["maps"] == [["x1", "y2"], {"ka": 1}, {"b": 2}, {"p": "pp", "q": "qq"}]
    assert got["lists"] == [[3, 1, 2], [1, 2, 3], [1, 1, 2, 2], [], [1, 2], 6]
    assert got["strs"] == ["1,2", "", "/a/bin:/b/bin", "/a/lib"]
    assert got["attrsSub"] == ["a", "b"]
    assert got["fix"] == {"a": 1, "b": 2}
    assert got["ext"] == 20
    assert got["systems"] == ["aarch64-linux", "x86_64-linux"]
    assert got["libExtend"] == 42


def test_module_vocabulary_is_callable(nix_env):
    """A NixOS-style module can be called as a plain function with the fixture's lib."""
    got = nix_eval(nix_env, """
      let
        pkgs = import <nixpkgs> {};
        inherit (pkgs) lib;
        module = { config, lib, pkgs, ... }: with lib; {
          options.demo = {
            enable = mkEnableOption "demo";
            package = mkPackageOption pkgs "hello" { };
            port = mkOption { type = types.ints.positive; default = 80; description = "port"; };
            items = mkOption { type = types.attrsOf (types.submodule ({ name, ... }: { options.x = mkOption { type = types.nullOr types.str; }; })); default = { }; };
            mode = mkOption { type = types.enum [ "a" "b" ]; default = "a"; example = literalExpression "\\"b\\""; };
          };
          config = mkIf config.demo.enable (mkMerge [ { environment.etc.x.text = mkDefault "hi"; } ]);
        };
        m = module { config.demo.enable = true; inherit lib pkgs; };
        o = m.options.demo;
      in {
        enableType = o.enable.type.name;
        enableDefault = o.enable.default;
        pkgName = o.package.default.name;
        portOk = [ (o.port.type.check 3) (o.port.type.check 0) ];
        itemsType = o.items.type.name;
        modeOk = [ (o.mode.type.check "b") (o.mode.type.check "c") ];
        example = o.mode.example._type;
        cfgType = m.config._type;
        cond = m.config.condition;
        inner = (builtins.head m.config.content.contents).environment.etc.x.text;
      }
    """)
    assert got == {
        "enableType": "bool", "enableDefault": False, "pkgName": "hello-2.12.1",
        "portOk": [True, False], "itemsType": "attrsOf", "modeOk": [True, False],
        "example": "literalExpression", "cfgType": "if", "cond": True,
        "inner": {"_type": "override", "priority": 1000, "content": "hi"},
    }


def test_more_builders(nix_env):
    out = nix_build(nix_env, """
      let pkgs = import <nixpkgs> {}; in
      pkgs.symlinkJoin {
        name = "joined";
        paths = [
          pkgs.hello
          (pkgs.writeShellApplication { name = "app"; runtimeInputs = [ pkgs.hello pkgs.jq ];
                                        text = ''hello | jq -R .''; })
          (pkgs.writeTextFile { name = "conf"; text = "k=v\\n"; destination = "/etc/demo.conf"; })
          (pkgs.python3.withPackages (ps: [ ps.requests ]))
        ];
        postBuild = "echo joined > $out/marker";
      }
    """)
    assert (out / "marker").read_text() == "joined\n"
    assert (out / "etc" / "demo.conf").read_text() == "k=v\n"
    run = subprocess.run([out / "bin" / "app"], capture_output=True, text=True, check=True)
    assert run.stdout == '"Hello, world!"\n'
    run = subprocess.run([out / "bin" / "python3", "-c", "import requests; print(requests.__version__)"],
                         capture_output=True, text=True, check=True)
    assert run.stdout == "2.31.0\n"
    names = {p.split("-", 1)[1] for p in closure(nix_env, out)}
    assert {"hello-2.12.1", "app", "conf", "python3-3.11.2-env"} <= names


def test_flake_input_override(nix_env, tmp_path):
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "flake.nix").write_text(textwrap.dedent("""
        {
          inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
          outputs = { self, nixpkgs }: let system = "x86_64-linux"; in {
            names = [
              nixpkgs.legacyPackages.${system}.hello.name
              (import nixpkgs { inherit system; overlays = [ (f: p: { hello = p.hello.overrideAttrs { pname = "hi"; }; }) ]; }).hello.name
              (nixpkgs.lib.concatStringsSep "+" (builtins.attrNames nixpkgs.legacyPackages))
              nixpkgs.legacyPackages.aarch64-linux.stdenv.hostPlatform.system
            ];
          };
        }
    """))
    out = subprocess.run(
        ["nix", *FLAKE_OPTIONS, "eval", "--json", "--no-write-lock-file",
         "--override-input", "nixpkgs", f"path:{FIXTURE}", f"path:{consumer}#names"],
        env=nix_env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["hello-2.12.1", "hi-2.12.1", "aarch64-linux+x86_64-linux", "aarch64-linux"]
