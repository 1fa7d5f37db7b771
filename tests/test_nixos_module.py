"""nixos/module.nix with nixpkgs' real module system (lib.evalModules from
nix_support.nixpkgs_lib(), read in place) and the offline package
set, through tests/nixos-module-eval.nix. Evaluation is restricted (only the
checkout, nixpkgs' lib and the store can be read; NIX_PATH is empty): the
module needs no <nixpkgs>."""

import json
import shutil
import subprocess

import pytest

from nix_support import NIX_OPTIONS, REPO, nix_environment, require_nixpkgs_lib

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build is not installed")


WEB = """
  virtualisation.group-layers.images.web = {
    tag = "v1";
    packages = [ "hello" ];
    maxLayers = 3;
    config.Cmd = [ "/bin/hello" ];
  };
"""


@pytest.fixture(scope="session")
def system():
    return json.loads(subprocess.run(["nix-instantiate", "--eval", "--json", "-E", "builtins.currentSystem"],
                                     env=nix_environment(), capture_output=True, text=True, check=True).stdout)


@pytest.fixture(scope="session")
def evaluate(system):
    """evaluate(configuration, imports="path") -> (returncode, summary or stderr)"""
    nixpkgs_lib = require_nixpkgs_lib()

    def evaluate(configuration, imports="path"):
        proc = subprocess.run(
            ["nix-instantiate", *NIX_OPTIONS, "--eval", "--strict", "--json", "--read-write-mode",
             "--option", "restrict-eval", "true", "-I", str(REPO), "-I", str(nixpkgs_lib),
             str(REPO / "tests" / "nixos-module-eval.nix"),
             "--arg", "nixpkgsLib", str(nixpkgs_lib), "--arg", "root", str(REPO),
             "--argstr", "system", system, "--argstr", "imports", imports,
             "--arg", "configuration", "{ ... }: {" + configuration + "}"],
            env=nix_environment(nix_path=""), capture_output=True, text=True)
        if proc.returncode == 0:
            return 0, json.loads(proc.stdout)
        return proc.returncode, proc.stderr

    return evaluate


def evaluated(evaluate, configuration, **kw):
    code, out = evaluate(configuration, **kw)
    assert code == 0, out[-4000:]
    return out


def refused(evaluate, configuration):
    code, out = evaluate(configuration)
    assert code != 0, "the configuration was accepted"
    return out


@pytest.fixture(scope="session")
def web(evaluate):
    return evaluated(evaluate, WEB + """
      programs.group-layers.enable = true;
      virtualisation.oci-containers.containers.web.ports = [ "8080:80" ];
      virtualisation.oci-containers.containers.other.image = "docker.io/library/redis:7";
    """)


def test_module_declares_its_options(web):
    assert web["optionNames"] == ["builtImages", "builtStreams", "images", "loadWith", "popularity",
                                  "wireOciContainers"]
    assert web["imageOptionNames"] == ["config", "contents", "maxLayers", "name", "packages", "popularity", "tag"]


def test_module_installs_the_cli(web):
    (package,) = web["systemPackages"]
    assert package.startswith("group-layers-")


def test_module_builds_each_declared_image(web):
    image = web["builtImages"]["web"]
    assert (image["imageName"], image["imageTag"]) == ("web", "v1")
    # nixpkgs' lib here is >= 24.11: containers load the stream, which is what
    # the system holds; the archive is built on demand.
    assert web["extraDependencies"] == [web["builtStreams"]["web"]]
    built = subprocess.run(["nix-store", *NIX_OPTIONS, "--realise", image["drvPath"]], env=nix_environment(),
                           capture_output=True, text=True, check=True).stdout.strip()
    inspected = json.loads(subprocess.run(["skopeo", "inspect", "--config", f"docker-archive:{built}"],
                                          capture_output=True, text=True, check=True).stdout)
    assert inspected["config"]["Cmd"] == ["/bin/hello"]
    assert 2 <= len(inspected["rootfs"]["diff_ids"]) <= 3  # maxLayers = 3


def test_module_wires_the_container_of_the_same_name(web):
    stream = web["builtStreams"]["web"]
    assert web["containers"]["web"] == {"image": "web:v1", "imageFile": None, "imageStream": stream}
    assert web["containers"]["other"] == {"image": "docker.io/library/redis:7", "imageFile": None,
                                          "imageStream": None}


def test_a_containers_own_image_wins_while_wiring_is_on(evaluate, web):
    own = evaluated(evaluate, WEB + """
      virtualisation.oci-containers.containers.web.image = "registry.example.com/web:pinned";
    """)
    assert own["containers"]["web"]["image"] == "registry.example.com/web:pinned"
    assert own["containers"]["web"]["imageStream"] == web["builtStreams"]["web"]


def test_without_wiring_the_container_is_the_users(evaluate):
    off = evaluated(evaluate, WEB + """
      virtualisation.group-layers.wireOciContainers = false;
      virtualisation.oci-containers.containers.web.ports = [ "8080:80" ];
    """)
    assert off["containers"]["web"] == {"image": None, "imageFile": None, "imageStream": None}
    assert off["systemPackages"] == []  # programs.group-layers.enable is off


@pytest.mark.parametrize("imports", ["path,path", "function,function", "path,function"])
def test_module_imported_twice_declares_its_options_once(evaluate, web, imports):
    twice = evaluated(evaluate, WEB, imports=imports)
    assert twice["builtImages"] == web["builtImages"]


MODULES = ["path", "function", "registry-path", "registry-function", "flake-default", "flake-registry"]
HAS_MODULE = {"path", "function", "flake-default"}
HAS_REGISTRY = {"registry-path", "registry-function", "flake-default", "flake-registry"}


def test_the_modules_import_together_in_any_combination(system):
    """Every pair of the modules (each also with itself), in both orders, and
    all of them twice: one evaluation, each combination under tryEval."""
    combinations = [[a, b] for a in MODULES for b in MODULES] + [MODULES + MODULES]
    configurations = []
    for imports in combinations:
        settings = ""
        if HAS_MODULE & set(imports):
            settings += WEB + "programs.group-layers.enable = true;"
        if HAS_REGISTRY & set(imports):
            settings += "services.group-layers-registry.enable = true;"
        configurations.append(f'{{ imports = "{",".join(imports)}"; configuration = {{ ... }}: {{ {settings} }}; }}')
    expression = f"""
      map (c:
        let
          r = import {REPO}/tests/nixos-module-eval.nix {{
            nixpkgsLib = {require_nixpkgs_lib()}; root = {REPO}; system = "{system}";
            inherit (c) imports configuration;
          }};
          summary = {{
            inherit (r) optionNames systemPackages;
            images = builtins.attrNames r.builtImages;
            registry = r.registryExecStart != null;
          }};
          tried = builtins.tryEval (builtins.deepSeq summary summary);
        in {{ inherit (c) imports; inherit (tried) success value; }})
      [ {" ".join(configurations)} ]
    """
    proc = subprocess.run(["nix-instantiate", *NIX_OPTIONS, "--eval", "--strict", "--json", "-E", expression],
                          env=nix_environment(nix_path=""), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(proc.stdout)
    assert [r["imports"] for r in results if not r["success"]] == []
    for imports, result in zip(combinations, results):
        value = result["value"]
        assert bool(value["optionNames"]) == bool(HAS_MODULE & set(imports)), imports
        assert value["images"] == (["web"] if HAS_MODULE & set(imports) else []), imports
        assert value["registry"] == bool(HAS_REGISTRY & set(imports)), imports


def test_the_packages_defaults_are_documented_without_building_them(evaluate):
    """The NixOS manual shows a package option's defaultText, not its value."""
    documented = evaluated(evaluate, WEB, imports="flake-default")["documentedDefaults"]
    for name in ["programs.group-layers.package", "services.group-layers-registry.package"]:
        default = documented[name]
        # without one, it would be the value printed: "<derivation group-layers-0.1.0>"
        assert default["_type"] == "literalExpression" and "/build-image\"" in default["text"], (name, default)


def test_image_name_defaults_to_the_attribute_name_in_lower_case(evaluate):
    out = evaluated(evaluate, """
      virtualisation.group-layers.images.myApp = { packages = [ "hello" ]; tag = "t"; };
      virtualisation.oci-containers.containers.myApp = { };
    """)
    assert out["builtImages"]["myApp"]["imageName"] == "myapp"
    assert out["containers"]["myApp"]["image"] == "myapp:t"


@pytest.mark.parametrize("setting, error", [
    ('name = "MyApp";', "virtualisation.group-layers.images.web.name"),
    ('tag = "a b";', "virtualisation.group-layers.images.web.tag"),
    ("maxLayers = 200;", "virtualisation.group-layers.images.web.maxLayers"),
    ('packages = [ "nosuch" ];', "virtualisation.group-layers.images.web: packages not found: nosuch"),
    ('packages = [ "unfree-tool" ];', "virtualisation.group-layers.images.web: packages refused: unfree-tool: "
     "it has an unfree license (nixpkgs allows it with config.allowUnfree = true)"),
    ('config.Cmd = "/bin/hello";',
     'virtualisation.group-layers.images.web: config.Cmd is "/bin/hello", it must be a list of strings'),
    ('config.cmd = [ "/bin/hello" ];', 'virtualisation.group-layers.images.web: config has unknown key "cmd"'),
    (f'name = "{"a" * 256}";', "virtualisation.group-layers.images.web: name is 256 characters long"),
])
def test_errors_name_the_image(evaluate, setting, error):
    stderr = refused(evaluate, """
      imports = [
        { virtualisation.group-layers.images.web.packages = [ "hello" ]; }
        { virtualisation.group-layers.images.web.%s }
      ];
    """ % setting)
    assert error in stderr
