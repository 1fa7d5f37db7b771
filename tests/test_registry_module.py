"""nixos/registry.nix (services.group-layers-registry) with nixpkgs' real
module system: lib.evalModules from nixpkgs' lib (nix_support's
require_nixpkgs_lib), with stand-ins for the NixOS options it sets. The generated
unit is checked, and its ExecStart is run: the server it starts answers.
ExecStart is read as systemd reads it (tests/systemd_exec.py, and
systemd-analyze verify where systemd is installed).
"""

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

import systemd_exec
from nix_support import NIX_OPTIONS, REPO, nix_environment, require_nixpkgs_lib
from registry_support import Server, run

pytestmark = pytest.mark.skipif(shutil.which("nix-build") is None, reason="nix-build is not installed")



def evaluate(settings):
    return json.loads(run(["nix-instantiate", *NIX_OPTIONS, "--eval", "--strict", "--json",
                           str(REPO / "tests" / "registry-module-eval.nix"), "--arg", "root", str(REPO),
                           "--arg", "nixpkgsLib", str(require_nixpkgs_lib()), "--arg", "settings", settings],
                          nix_environment()))


def exec_start(service):
    """The server's argv as systemd starts it, with the unit's environment."""
    return systemd_exec.argv(service["serviceConfig"]["ExecStart"], service["environment"])


@pytest.fixture(scope="module")
def enabled():
    return evaluate("{ enable = true; port = 5000; openFirewall = true; maxLayers = 40; "
                    "extraNixBuildFlags = [ \"--option\" \"max-jobs\" \"2\" ]; }")


def test_the_unit_runs_the_server_as_a_dynamic_user_with_state_under_var_lib(enabled):
    service = enabled["service"]
    config = service["serviceConfig"]
    assert config["DynamicUser"] is True
    assert config["StateDirectory"] == "group-layers-registry"
    argv = exec_start(service)
    assert argv[0].endswith("/bin/group-layers-registry")
    flags = dict(zip(argv[1::2], argv[2::2]))
    assert flags["--storage"] == "/var/lib/group-layers-registry"
    assert flags["--port"] == "5000" and flags["--max-layers"] == "40"
    assert flags["--pkgs-path"] == enabled["pkgsPath"]
    assert shlex.split(flags["--nix-build-args"]) == ["--option", "max-jobs", "2"]
    assert "--no-layer-lock" not in argv  # the layer lock is on by default
    assert "--no-layer-lock" in exec_start(evaluate("{ enable = true; layerLock = false; }")["service"])
    # The Nix daemon: used, started first, its socket writable in the sandbox.
    assert service["environment"]["NIX_REMOTE"] == "daemon"
    assert "nix-daemon.socket" in service["requires"] and "nix-daemon.socket" in service["after"]
    assert "/nix/var/nix/daemon-socket" in config["ReadWritePaths"]
    assert service["environment"]["HOME"] == "/var/lib/group-layers-registry"
    assert "multi-user.target" in service["wantedBy"]
    assert enabled["ports"] == [5000]
    assert enabled["failedAssertions"] == []
    # Started once it is ready; its storage collected daily.
    probe = systemd_exec.argv(config["ExecStartPost"], service["environment"])
    assert probe[0] == argv[0] and probe[1] == "probe" and probe[-1] == "http://127.0.0.1:5000/readyz"
    assert exec_start(enabled["gcService"] | {"environment": {}})[1:] == \
        ["gc", "--storage", "/var/lib/group-layers-registry"]
    assert enabled["gcTimer"]["timerConfig"]["OnCalendar"] == "daily"
    assert evaluate("{ enable = true; gcInterval = null; }")["gcTimer"] is None


def test_disabled_by_default_and_sources_and_conflicts():
    off = evaluate("{ }")
    assert off["service"] is None and off["ports"] == []
    git = evaluate('{ enable = true; packageSource = { type = "git"; location = "https://example.org/nixpkgs"; }; '
                   'popularityUrl = "https://example.org/pop.json"; }')
    argv = exec_start(git["service"])
    assert argv[argv.index("--pkgs-repo") + 1] == "https://example.org/nixpkgs"
    assert argv[argv.index("--popularity-url") + 1] == "https://example.org/pop.json"
    both = evaluate('{ enable = true; popularity = ./.; popularityUrl = "https://example.org/p.json"; }')
    assert both["failedAssertions"]
    bad = subprocess.run(["nix-instantiate", *NIX_OPTIONS, "--eval", "--strict", "--json",
                          str(REPO / "tests" / "registry-module-eval.nix"), "--arg", "root", str(REPO),
                          "--arg", "nixpkgsLib", str(require_nixpkgs_lib()), "--arg", "settings",
                          "{ enable = true; port = 70000; }"], env=nix_environment(), capture_output=True, text=True)
    assert bad.returncode != 0 and "port" in bad.stderr


def test_the_generated_exec_start_starts_a_working_server(enabled, tmp_path):
    built = run(["nix-build", "--no-out-link", *NIX_OPTIONS, str(REPO / "tests" / "registry-module-eval.nix"),
                 "--arg", "root", str(REPO), "--arg", "nixpkgsLib", str(require_nixpkgs_lib()),
                 "--arg", "settings", "{ enable = true; }", "-A", "package"], nix_environment())
    argv = exec_start(enabled["service"])
    assert argv[0] == f"{built}/bin/group-layers-registry" == f"{enabled['package']}/bin/group-layers-registry"
    env = {**nix_environment(nix_path=enabled["service"]["environment"]["NIX_PATH"])}
    # The unit's command, with a storage and a port of the test's own:
    # Server adds --host 127.0.0.1 --port 0 --storage last, and the last wins.
    server = Server(tmp_path / "storage", tmp_path / "log", env, *argv[1:], command=argv[:1])
    try:
        assert server.events("start")[0]["storage"] == str(tmp_path / "storage")
        assert server.events("start")[0]["host"] == "127.0.0.1"
        status, headers, body = server.request("GET", "/v2/")
        assert status == 200 and headers["docker-distribution-api-version"] == "registry/2.0"
        status, _, body = server.request("GET", "/v2/nosuchpackage/manifests/latest")
        assert status == 404 and json.loads(body)["errors"][0]["detail"]["not_found"] == ["nosuchpackage"]
        # The unit's ExecStartPost, pointed at this server: it is ready.
        probe = systemd_exec.argv(enabled["service"]["serviceConfig"]["ExecStartPost"], {})
        probe[-1] = f"http://{server.host}/readyz"
        assert subprocess.run(probe, env=env, timeout=120).returncode == 0
    finally:
        assert server.stop() == 0


def test_nix_build_registry_gives_the_server_with_the_wrapper_baked_in(tmp_path):
    built = run(["nix-build", "--no-out-link", *NIX_OPTIONS, "-A", "registry"], nix_environment())
    script = Path(built, "bin", "group-layers-registry")
    assert run([str(script), "--version"], nix_environment()).startswith("group-layers-registry ")
    assert "/bin/nixery-build-image" in script.read_text()
    proc = subprocess.run([str(script), "--storage", str(tmp_path), "--pkgs-path", str(tmp_path / "none")],
                          env=nix_environment(), capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not a folder" in proc.stderr


def test_exec_start_gives_the_server_percent_signs_and_dollars_as_written(tmp_path):
    """systemd expands %-specifiers and $VARIABLES in ExecStart: the module
    escapes them, so a URL's %2F and a flag's $ arrive unchanged."""
    url = "https://example.org/pop%2Fularity.json?sig=a%41%%b&x=$HOME"
    flags = ["--option", "extra-x", "$HOME ${HOME} $$ 100% %n", "--arg", "q", "\"d\" \\ 'sq'\nline"]
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"enable": True, "popularityUrl": url, "extraNixBuildFlags": flags}))
    service = evaluate(f'builtins.fromJSON (builtins.readFile "{settings}")')["service"]
    line = service["serviceConfig"]["ExecStart"]
    argv = exec_start(service)
    assert argv[argv.index("--popularity-url") + 1] == url
    assert shlex.split(argv[argv.index("--nix-build-args") + 1]) == flags
    assert argv[0].endswith("/bin/group-layers-registry")
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: systemd): the real parser's check is left out")
    # systemd's own parser loads the unit (the program replaced by one that
    # exists, as verify checks that it does).
    unit = tmp_path / "group-layers-registry.service"
    unit.write_text("[Service]\nExecStart=" + line.replace(json.dumps(argv[0]), "/bin/true", 1) + "\n")
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", "--generators=no", str(unit)],
                          capture_output=True, text=True, timeout=60)
    assert "specifier" not in proc.stderr and "group-layers-registry.service" not in proc.stderr, proc.stderr
