"""Bad arguments of buildImage/image are refused at evaluation, with one error
that names the argument and the rule (build-image/check-args.nix), and
nothing is built or left behind; names with dots can be asked for.

Every case runs the real nix-build on the offline package set, from an empty
folder and without --no-out-link, so a `result` link would show."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nix_support import NIX_OPTIONS, REPO, nix_environment

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build is not installed")

HELLO = ["--argstr", "packages", '["hello"]']


def nix_build(cwd, *args):
    return subprocess.run(["nix-build", *NIX_OPTIONS, str(REPO), *args], cwd=cwd, env=nix_environment(),
                          capture_output=True, text=True)


# (case id, attribute, arguments, text the error must contain)
REFUSED = [
    ("packages-not-json", "buildImage", ["--argstr", "packages", "bash"],
     'group-layers: packages is not valid JSON: "bash"'),
    ("packages-trailing-comma", "buildImage", ["--argstr", "packages", '["bash",]'],
     "group-layers: packages is not valid JSON"),
    ("packages-unclosed", "buildImage", ["--argstr", "packages", '["bash"'],
     "group-layers: packages is not valid JSON"),
    ("packages-a-string", "buildImage", ["--argstr", "packages", '"hello"'],
     'group-layers: packages is "hello", it must be a JSON array of attribute names'),
    ("packages-numbers", "buildImage", ["--argstr", "packages", "[1]"],
     "group-layers: packages is [1], it must be a JSON array"),
    ("config-not-json", "buildImage", [*HELLO, "--argstr", "config", "{Cmd: 1}"],
     "group-layers: config is not valid JSON"),
    ("config-not-object", "buildImage", [*HELLO, "--argstr", "config", '["/bin/hello"]'],
     "group-layers: config is [\"/bin/hello\"], it must be an object"),
    ("config-cmd-string", "buildImage", [*HELLO, "--argstr", "config", '{"Cmd": "/bin/hello"}'],
     'group-layers: config.Cmd is "/bin/hello", it must be a list of strings'),
    ("config-entrypoint-number", "buildImage", [*HELLO, "--argstr", "config", '{"Entrypoint": [1]}'],
     "group-layers: config.Entrypoint is [1], it must be a list of strings"),
    ("config-env-no-equals", "buildImage", [*HELLO, "--argstr", "config", '{"Env": ["DEBUG"]}'],
     'group-layers: config.Env is ["DEBUG"], it must be a list of "KEY=value" strings'),
    ("config-ports-list", "buildImage", [*HELLO, "--argstr", "config", '{"ExposedPorts": ["80/tcp"]}'],
     "group-layers: config.ExposedPorts is [\"80/tcp\"], it must be an object"),
    ("config-ports-bad-key", "buildImage", [*HELLO, "--argstr", "config", '{"ExposedPorts": {"http": {}}}'],
     "group-layers: config.ExposedPorts"),
    ("config-labels-number", "buildImage", [*HELLO, "--argstr", "config", '{"Labels": {"a": 1}}'],
     "group-layers: config.Labels"),
    ("config-nix-attrs", "buildImage", [*HELLO, "--arg", "config", '{ WorkingDir = [ "/" ]; }'],
     'group-layers: config.WorkingDir is ["/"], it must be a string'),
    ("config-unknown-key", "buildImage", [*HELLO, "--argstr", "config", '{"cmd": ["/bin/hello"]}'],
     'group-layers: config has unknown key "cmd"; known keys: ArgsEscaped, Cmd, Entrypoint, Env, '
     "ExposedPorts, Healthcheck, Labels, OnBuild, Shell, StopSignal, User, Volumes, WorkingDir"),
    ("maxLayers-word", "buildImage", [*HELLO, "--argstr", "maxLayers", "many"],
     'group-layers: maxLayers is "many", it must be an integer from 2 to 125'),
    ("maxLayers-float", "buildImage", [*HELLO, "--arg", "maxLayers", "2.5"],
     "group-layers: maxLayers is 2.5, it must be an integer from 2 to 125"),
    ("maxLayers-1", "buildImage", [*HELLO, "--arg", "maxLayers", "1"],
     "group-layers: maxLayers is 1, it must be an integer from 2 to 125"),
    ("maxLayers-1000", "buildImage", [*HELLO, "--argstr", "maxLayers", "1000"],
     'group-layers: maxLayers is "1000", it must be an integer from 2 to 125'),
    ("name-upper", "buildImage", [*HELLO, "--argstr", "name", "UPPER"],
     'group-layers: name is "UPPER", it must be an image repository name'),
    ("name-space", "buildImage", [*HELLO, "--argstr", "name", "a b"],
     'group-layers: name is "a b", it must be an image repository name'),
    ("name-upper-first-component", "image", [*HELLO, "--argstr", "name", "Team/app"],
     'group-layers: name is "Team/app", it must be an image repository name'),
    ("name-colon", "image", [*HELLO, "--argstr", "name", "x:y"],
     'group-layers: name is "x:y", it must be an image repository name'),
    ("name-dotdot", "image", [*HELLO, "--argstr", "name", "../../etc"],
     'group-layers: name is "../../etc", it must be an image repository name'),
    ("name-too-long", "buildImage", [*HELLO, "--argstr", "name", "a" * 256],
     "group-layers: name is 256 characters long, at most 255 are allowed"),
    # (Found packages: unknown ones are not_found whatever the name would be.)
    ("name-from-packages", "buildImage", ["--arg", "pkgs", 'import <nixpkgs> { overlays = [ (final: prev: '
                                          '{ "-x" = prev.hello; }) ]; }', "--argstr", "packages", '["hello", "-x"]'],
     'group-layers: name (from packages; set `name`) is "-x/hello"'),
    # The manifest does not read the tag: it is checked all the same.
    ("tag-space", "buildImage", [*HELLO, "--argstr", "tag", "a b"],
     'group-layers: tag is "a b", it must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}'),
    ("tag-colon", "image", [*HELLO, "--argstr", "tag", "x:y"], 'group-layers: tag is "x:y"'),
    ("tag-dot-first", "image", [*HELLO, "--argstr", "tag", ".hidden"], 'group-layers: tag is ".hidden"'),
    ("tag-too-long", "image", [*HELLO, "--argstr", "tag", "t" * 129], "group-layers: tag is"),
    ("uid-negative", "image", [*HELLO, "--arg", "uid", "-1"],
     "group-layers: uid is -1, it must be an integer from 0 to 4294967294"),
    ("uid-word", "image", [*HELLO, "--argstr", "uid", "root"],
     'group-layers: uid is "root", it must be an integer from 0 to 4294967294'),
    ("gid-too-big", "image", [*HELLO, "--arg", "gid", "4294967295"],
     "group-layers: gid is 4294967295, it must be an integer from 0 to 4294967294"),
    ("pkgSource-relative", "buildImage", [*HELLO, "--argstr", "pkgSource", "path!tests/fixture-pkgs"],
     'group-layers: pkgSource is "path!tests/fixture-pkgs": the folder must be an absolute path'),
    ("pkgSource-no-default-nix", "buildImage", [*HELLO, "--argstr", "pkgSource", f"path!{REPO / 'tests'}"],
     f"group-layers: pkgSource is \"path!{REPO / 'tests'}\": {REPO / 'tests'} is not a folder holding a default.nix"),
    ("pkgSource-a-file", "buildImage", [*HELLO, "--argstr", "pkgSource", f"path!{REPO / 'README.md'}"],
     "is not a folder holding a default.nix"),
    ("pkgSource-unknown-kind", "buildImage", [*HELLO, "--argstr", "pkgSource", "svn!somewhere"],
     'group-layers: pkgSource is "svn!somewhere", it must be one of nixpkgs!<channel or commit>[!<sha256>], '
     "git!<url>!<rev or ref> or path!<dir>"),
]


@pytest.mark.parametrize("attr, args, error", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_bad_argument_is_refused_at_evaluation(tmp_path, attr, args, error):
    proc = nix_build(tmp_path, "-A", attr, *args)
    assert proc.returncode != 0
    assert error in proc.stderr, proc.stderr
    assert "building '" not in proc.stderr  # refused before any build
    assert list(tmp_path.iterdir()) == []  # no result link


# Packages nixpkgs has but its meta checks refuse (the offline set's toys
# for them), and how the error names each.
REFUSED_PACKAGES = {
    "unfree-tool": "it has an unfree license (nixpkgs allows it with config.allowUnfree = true)",
    "broken-tool": "it is marked as broken (nixpkgs allows it with config.allowBroken = true)",
    "insecure-tool": 'it is marked as insecure (nixpkgs allows it with config.permittedInsecurePackages = [ "insecure-tool-1.0" ])',
}
ALLOWING = {
    "unfree-tool": "{ allowUnfree = true; }",
    "broken-tool": "{ allowBroken = true; }",
    "insecure-tool": '{ permittedInsecurePackages = [ "insecure-tool-1.0" ]; }',
}


@pytest.mark.parametrize("package", REFUSED_PACKAGES)
def test_a_package_the_package_set_refuses_is_named_with_the_reason(tmp_path, package):
    """One line, before any build, instead of nixpkgs' long message from the
    first derivation that needs the package; buildImage answers Nixery-style."""
    proc = nix_build(tmp_path, "-A", "image", "--argstr", "packages", json.dumps(["hello", package]))
    assert proc.returncode != 0
    assert f"error: group-layers: packages the package set refuses: {package}: {REFUSED_PACKAGES[package]}\n" \
        in proc.stderr, proc.stderr
    assert "refusing to evaluate" not in proc.stderr  # not nixpkgs' message
    assert "building '" not in proc.stderr and list(tmp_path.iterdir()) == []
    assert built_manifest(tmp_path, "--argstr", "packages", json.dumps([package])) == {
        "error": "unavailable", "pkgs": [package], "reasons": {package: REFUSED_PACKAGES[package]}}


@pytest.mark.parametrize("package", REFUSED_PACKAGES)
def test_a_refused_package_is_built_when_the_config_allows_it(tmp_path, package):
    pkgs = f"import {REPO}/tests/fixture-pkgs {{ config = {ALLOWING[package]}; }}"
    output = built_manifest(tmp_path, "--arg", "pkgs", pkgs, "--argstr", "packages", json.dumps([package]))
    assert "manifest" in output and "error" not in output


def built_manifest(tmp_path, *args):
    proc = nix_build(tmp_path, "--no-out-link", "-A", "buildImage", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(Path(proc.stdout.strip()).read_text())


def test_good_arguments_as_strings_are_accepted(tmp_path):
    """What --argstr gives: integers as strings (leading zeros too), JSON."""
    output = built_manifest(tmp_path, *HELLO, "--argstr", "maxLayers", "03", "--argstr", "uid", "1000",
                            "--argstr", "config", '{"Cmd": ["hello"], "ExposedPorts": {"80/tcp": {}}, '
                            '"Labels": {"a": "b \\"quoted\\" \\u00e9"}, "Env": ["A=1=2"]}')
    assert len(output["manifest"]["layers"]) <= 3


def test_name_with_a_registry_host(tmp_path):
    proc = subprocess.run(["nix-instantiate", *NIX_OPTIONS, "--eval", str(REPO), "-A", "image.imageName", *HELLO,
                           "--argstr", "name", "registry.example.com:5000/team/app"],
                          env=nix_environment(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '"registry.example.com:5000/team/app"'
    proc = nix_build(tmp_path, "--no-out-link", "-A", "buildImage", "--argstr", "name", "x",
                     "--argstr", "packages", '["", "hello"]')
    assert proc.returncode == 0, proc.stderr  # "" is a name not found, not an error
    assert json.loads(Path(proc.stdout.strip()).read_text()) == {"error": "not_found", "pkgs": [""]}


@pytest.mark.parametrize("packages", [["$(touch x)"], ["hello", "No Such Package"], ["hello", "a:b"]])
def test_unknown_packages_are_not_found_whatever_their_name_would_be(tmp_path, packages):
    """With no `name`, the one derived from the packages (here no repository
    name) is judged only once they are all found: unknown ones give Nixery's
    not_found answer, from the wrapper as a Nixery server runs it."""
    wrapper = subprocess.run(["nix-build", "--no-out-link", *NIX_OPTIONS, str(REPO), "-A", "nixery-build-image"],
                             env=nix_environment(), capture_output=True, text=True, check=True).stdout.strip()
    proc = subprocess.run([f"{wrapper}/bin/nixery-build-image", *NIX_OPTIONS, "--argstr", "packages",
                           json.dumps(packages)], cwd=tmp_path, env=nix_environment(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(Path(proc.stdout.strip()).read_text()) == {"error": "not_found", "pkgs": packages[-1:]}
    assert list(tmp_path.iterdir()) == []
    # A name given is still judged first.
    proc = nix_build(tmp_path, "--no-out-link", "-A", "buildImage", "--argstr", "name", "Bad Name",
                     "--argstr", "packages", json.dumps(packages))
    assert proc.returncode == 1 and 'group-layers: name is "Bad Name"' in proc.stderr


def test_long_name_builds_with_a_safe_derivation_name(tmp_path):
    """A Nixery-style name of 250 characters: the derivation names are cut
    and end in a hash, so the store accepts them."""
    name = "/".join(["shell", "git", "htop"] * 21)[:250].rstrip("/")
    assert len(name) > 211  # longer than a store path name may be
    output = built_manifest(tmp_path, *HELLO, "--argstr", "name", name)
    config_path = Path(output["layerLocations"][output["manifest"]["config"]["digest"].removeprefix("sha256:")]["path"])
    drv_name = config_path.name[33:]  # without the hash part
    assert drv_name.startswith("shell-git-htop-") and len(drv_name) <= 100 + len("-config.json")
    assert re.fullmatch(r".*-[0-9a-f]{8}-config\.json", drv_name)


def fixture_out_path(attr):
    proc = subprocess.run(["nix-build", "--no-out-link", *NIX_OPTIONS, "<nixpkgs>", "-A", attr],
                          env=nix_environment(), capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def store_paths(output):
    import tarfile

    paths = set()
    for layer in output["manifest"]["layers"]:
        with tarfile.open(output["layerLocations"][layer["digest"].removeprefix("sha256:")]["path"]) as tar:
            paths |= {"/" + m for m in tar.getnames() if m.startswith("nix/store/") and m.count("/") == 2}
    return paths


@pytest.mark.parametrize("spelling", ["greeting-1.0", '"greeting-1.0"'])
def test_a_name_with_a_dot_can_be_asked_for(tmp_path, spelling):
    """The whole name is tried as one attribute first; quotes make it one."""
    output = built_manifest(tmp_path, "--argstr", "packages", json.dumps([spelling, "hello"]))
    assert "error" not in output
    assert fixture_out_path('"greeting-1.0"') in store_paths(output)


def test_quoted_names_and_dotted_paths_mix(tmp_path):
    output = built_manifest(tmp_path, "--argstr", "packages",
                            json.dumps(['python3Packages."requests"', '"hello"', "unpaired\"quote"]))
    assert output == {"error": "not_found", "pkgs": ['unpaired"quote']}
    output = built_manifest(tmp_path, "--argstr", "packages", json.dumps(['python3Packages."requests"']))
    assert fixture_out_path("python3Packages.requests") in store_paths(output)


def test_contents_may_be_a_single_file(tmp_path):
    """A derivation that is one file is in the store layers; it has no place
    in the symlink tree at / (where nixpkgs' symlinkJoin would refuse it, as
    the fixture's does: see the next test)."""
    note = ('[ ((import <nixpkgs> { }).writeText "note.txt" "a note") '
            '(import <nixpkgs> { }).hello ]')
    output = built_manifest(tmp_path, "--arg", "contents", note)
    paths = store_paths(output)
    assert any(p.endswith("-note.txt") for p in paths)
    assert fixture_out_path("hello") in paths


def test_fixture_symlink_join_refuses_a_file(tmp_path):
    proc = subprocess.run(
        ["nix-build", *NIX_OPTIONS, "-E",
         'with import <nixpkgs> { }; symlinkJoin { name = "j"; paths = [ hello (writeText "f" "x") ]; }'],
        cwd=tmp_path, env=nix_environment(), capture_output=True, text=True)
    assert proc.returncode != 0 and "Not a directory" in proc.stderr
