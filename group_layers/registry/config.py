"""The server's settings: command-line flags, each defaulting to the
environment variable Nixery reads for it (so that a Nixery deployment can
switch by changing the binary), then to a built-in default.

Bad settings are a ``BadConfig`` (one line on stderr, exit status 2).
"""

import argparse
import os
import re
import shlex
import shutil
from dataclasses import dataclass

from .. import __version__
from .sources import Source

# A Nix system: <cpu>-<os>.
SYSTEM = re.compile(r"[a-z0-9_]+-[a-z0-9]+")


class BadConfig(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise BadConfig(message)


@dataclass
class Config:
    host: str
    port: int
    storage: str
    source: Source
    build_command: list
    nix_build_args: list
    timeout: float
    max_builds: int
    max_layers: int
    popularity: str | None
    popularity_url: str | None
    shutdown_timeout: float
    drain_delay: float
    max_queue: int
    max_packages: int
    client_builds_per_minute: float
    client_max_builds: int
    negative_cache_seconds: float
    systems: tuple = ()
    layer_lock: bool = True


def _parser(env):
    p = _Parser(prog="group-layers-registry", allow_abbrev=False,
                description="A pull-only container registry that builds images of Nix packages on "
                            "demand: `docker pull HOST:PORT/shell/git` (Nixery's rules, group-layers' layers).")
    o = p.add_argument
    o("--version", action="version", version=f"group-layers-registry {__version__}")
    o("--host", default="0.0.0.0", help="address to listen on (default: %(default)s)")
    o("--port", type=int, default=env.get("PORT", "8080"), help="port; 0 picks a free one (env PORT; default 8080)")
    o("--storage", metavar="DIR", default=env.get("STORAGE_PATH"),
      help="storage folder for blobs and manifests (env STORAGE_PATH; required)")
    o("--channel", default=env.get("NIXERY_CHANNEL"),
      help="packages from this nixpkgs channel or commit (env NIXERY_CHANNEL)")
    o("--pkgs-repo", metavar="URL", default=env.get("NIXERY_PKGS_REPO"),
      help="packages from this nixpkgs git repository, revision from the tag (env NIXERY_PKGS_REPO)")
    o("--pkgs-path", metavar="DIR", default=env.get("NIXERY_PKGS_PATH"),
      help="packages from this nixpkgs folder (env NIXERY_PKGS_PATH)")
    o("--timeout", type=float, default=env.get("NIX_TIMEOUT", "600"), metavar="SECONDS",
      help="a build's time limit (env NIX_TIMEOUT; default 600)")
    o("--popularity", metavar="FILE", default=env.get("GROUP_LAYERS_POPULARITY"),
      help="popularity data for the layering (env GROUP_LAYERS_POPULARITY)")
    o("--popularity-url", metavar="URL", default=env.get("NIX_POPULARITY_URL"),
      help="popularity data to download at start (env NIX_POPULARITY_URL)")
    o("--max-layers", type=int, default=env.get("GROUP_LAYERS_MAX_LAYERS", "96"), metavar="N",
      help="most layers in an image (default: 96)")
    o("--max-builds", type=int, default=env.get("GROUP_LAYERS_MAX_BUILDS", "2"), metavar="N",
      help="builds of different images running at once (default: 2)")
    o("--max-queue", type=int, default=env.get("GROUP_LAYERS_MAX_QUEUE", "16"), metavar="N",
      help="builds that may wait for a slot; more is 429 TOOMANYREQUESTS (default: 16)")
    o("--max-packages", type=int, default=env.get("GROUP_LAYERS_MAX_PACKAGES", "32"), metavar="N",
      help="most packages named in one image name (default: 32)")
    o("--client-builds-per-minute", type=float, default=env.get("GROUP_LAYERS_CLIENT_BUILDS_PER_MINUTE", "20"),
      metavar="N", help="builds one client address may start a minute, 0 for no limit (default: 20)")
    o("--client-max-builds", type=int, default=env.get("GROUP_LAYERS_CLIENT_MAX_BUILDS", "4"), metavar="N",
      help="builds one client address may have running or queued at once (default: 4)")
    o("--negative-cache-seconds", type=float, default=env.get("GROUP_LAYERS_NEGATIVE_CACHE_SECONDS", "600"),
      metavar="SECONDS", help="how long an image of unknown packages is answered from memory (default: 600)")
    o("--build-command", default=env.get("GROUP_LAYERS_BUILD_COMMAND", "nixery-build-image"),
      help="the wrapper that builds an image (default: %(default)s)")
    o("--nix-build-args", default=env.get("GROUP_LAYERS_NIX_BUILD_ARGS", ""), metavar="ARGS",
      help="extra nix-build arguments, shell-quoted (e.g. \"--option substituters ''\")")
    o("--no-layer-lock", dest="layer_lock", action="store_false",
      default=env.get("GROUP_LAYERS_LAYER_LOCK", "1") not in ("0", "false", "no"),
      help="plan each build from scratch, not from the last plan of the same image name "
           "(env GROUP_LAYERS_LAYER_LOCK=0; docs/layer-lock.md)")
    o("--systems", default=env.get("GROUP_LAYERS_SYSTEMS", ""), metavar="SYSTEM,...",
      help="build every image for these Nix systems and serve an image index of them "
           "(e.g. x86_64-linux,aarch64-linux; env GROUP_LAYERS_SYSTEMS; default: the wrapper's system only)")
    o("--shutdown-timeout", type=float, default=30.0, metavar="SECONDS",
      help="how long in-flight responses may take to finish at shutdown (default: 30)")
    o("--drain-delay", type=float, default=0.0, metavar="SECONDS",
      help="at SIGTERM, how long to go on serving with /readyz at 503 before closing (default: 0)")
    return p


def parse(argv, env=None):
    env = os.environ if env is None else env
    a = _parser(env).parse_args(argv)
    backend = env.get("NIXERY_STORAGE_BACKEND", "filesystem")
    if backend != "filesystem":
        raise BadConfig(f"NIXERY_STORAGE_BACKEND={backend}: only 'filesystem' is supported")
    if not a.storage:
        raise BadConfig("no storage folder: give --storage DIR or STORAGE_PATH")
    given = [(k, v) for k, v in (("channel", a.channel), ("git", a.pkgs_repo), ("path", a.pkgs_path)) if v]
    if len(given) > 1:
        raise BadConfig("give at most one of --channel/NIXERY_CHANNEL, --pkgs-repo/NIXERY_PKGS_REPO, "
                        "--pkgs-path/NIXERY_PKGS_PATH")
    source = Source(*given[0]) if given else Source("default")
    if source.kind == "git" and os.path.isdir(source.location):  # git runs in /, not here
        source = Source("git", os.path.abspath(source.location))
    if source.kind == "path" and not os.path.isdir(source.location):
        raise BadConfig(f"package folder {source.location}: not a folder")
    if a.popularity and a.popularity_url:
        raise BadConfig("give one of --popularity and --popularity-url")
    if a.popularity and not os.path.isfile(a.popularity):
        raise BadConfig(f"popularity file {a.popularity}: not a file")
    for flag, value, low in (("--port", a.port, 0), ("--max-layers", a.max_layers, 2),
                             ("--max-builds", a.max_builds, 1), ("--max-queue", a.max_queue, 0),
                             ("--max-packages", a.max_packages, 1),
                             ("--client-builds-per-minute", a.client_builds_per_minute, 0),
                             ("--client-max-builds", a.client_max_builds, 1),
                             ("--negative-cache-seconds", a.negative_cache_seconds, 0),
                             ("--drain-delay", a.drain_delay, 0)):
        if value < low:
            raise BadConfig(f"{flag} {value}: must be at least {low}")
    if a.timeout <= 0:
        raise BadConfig(f"--timeout {a.timeout:g}: must be positive")
    try:
        build_command = shlex.split(a.build_command)
        nix_build_args = shlex.split(a.nix_build_args)
    except ValueError as e:
        raise BadConfig(f"--build-command/--nix-build-args: {e}") from None
    if not build_command:
        raise BadConfig("--build-command is empty")
    if shutil.which(build_command[0], path=env.get("PATH", os.defpath)) is None:
        raise BadConfig(f"build command {build_command[0]!r} not found: install the toolkit's wrapper "
                        "(nix-build -A nixery-build-image, or the flake's registry package, which has it) "
                        "or give --build-command")
    systems = tuple(s.strip() for s in a.systems.split(",") if s.strip())
    if any(SYSTEM.fullmatch(s) is None for s in systems) or len(set(systems)) != len(systems):
        raise BadConfig(f"--systems {a.systems}: must be distinct Nix systems such as x86_64-linux,aarch64-linux")
    return Config(host=a.host, port=a.port, storage=a.storage, source=source,
                  build_command=build_command, nix_build_args=nix_build_args, timeout=a.timeout,
                  max_builds=a.max_builds, max_layers=a.max_layers, popularity=a.popularity,
                  popularity_url=a.popularity_url, shutdown_timeout=a.shutdown_timeout,
                  drain_delay=a.drain_delay, max_queue=a.max_queue,
                  max_packages=a.max_packages, client_builds_per_minute=a.client_builds_per_minute,
                  client_max_builds=a.client_max_builds,
                  negative_cache_seconds=a.negative_cache_seconds, systems=systems,
                  layer_lock=a.layer_lock)
