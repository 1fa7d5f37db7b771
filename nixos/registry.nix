# NixOS module: services.group-layers-registry, the registry server that
# builds images on demand (group_layers/registry; README, "Registry").
#
#   services.group-layers-registry = {
#     enable = true;
#     port = 8080;
#     openFirewall = true;
#   };
#   # docker pull HOST:8080/shell/git
#
# The server runs as a systemd service under a DynamicUser, keeps its
# storage in /var/lib/<stateDirectory> (StateDirectory) and builds through
# the Nix daemon (NIX_REMOTE=daemon; the daemon's allowed-users must let it
# in, as the default "*" does). Packages come from the system's nixpkgs
# (pkgs.path, a store path: pinned, so built images are cached) unless
# `packageSource` says otherwise.
#
# The module has a `key`, so importing it more than once (by path, as the
# imported function, from nixosModules.default and nixosModules.registry, or
# from two flakes) declares its options once.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib) mkOption types;
  cfg = config.services.group-layers-registry;
  storage = "/var/lib/${cfg.stateDirectory}";
  registry = "${cfg.package}/bin/group-layers-registry";
  # Where the server answers on this machine (its readiness endpoint).
  localAddress =
    {
      "0.0.0.0" = "127.0.0.1";
      "::" = "[::1]";
    }
    .${cfg.listenAddress} or (if lib.hasInfix ":" cfg.listenAddress then "[${cfg.listenAddress}]" else cfg.listenAddress);

  sourceFlags =
    {
      path = [ "--pkgs-path" ];
      channel = [ "--channel" ];
      git = [ "--pkgs-repo" ];
    }
    .${cfg.packageSource.type}
    ++ [ cfg.packageSource.location ];

  flags =
    [
      "--host"
      cfg.listenAddress
      "--port"
      (toString cfg.port)
      "--storage"
      storage
      "--max-layers"
      (toString cfg.maxLayers)
      "--max-builds"
      (toString cfg.maxBuilds)
      "--timeout"
      (toString cfg.timeout)
    ]
    ++ sourceFlags
    ++ lib.optionals (cfg.popularity != null) [
      "--popularity"
      "${cfg.popularity}"
    ]
    ++ lib.optionals (cfg.popularityUrl != null) [
      "--popularity-url"
      cfg.popularityUrl
    ]
    ++ lib.optionals (cfg.extraNixBuildFlags != [ ]) [
      "--nix-build-args"
      (lib.escapeShellArgs cfg.extraNixBuildFlags)
    ]
    ++ lib.optional (!cfg.layerLock) "--no-layer-lock";

  # ExecStart is no shell command: systemd unquotes it ("..." with C
  # escapes), then expands %-specifiers and $VARIABLES in it. So each
  # argument is JSON-quoted (a subset of systemd's quoting) with % and $
  # doubled, as NixOS' utils.escapeSystemdExecArgs does (nixos/lib/utils.nix).
  # Written here because `utils` is NixOS' and the module also evaluates with
  # nixpkgs' lib alone; a `%2F` in a URL or a `$` in a nix-build flag then
  # reaches the server as written.
  escapeSystemdExecArgs = lib.concatMapStringsSep " " (
    arg: lib.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON arg)
  );
in
{
  key = "group-layers/nixos/registry.nix";

  options.services.group-layers-registry = {
    enable = lib.mkEnableOption "group-layers-registry, a registry that builds images of Nix packages on demand";
    package = mkOption {
      type = types.package;
      default =
        (import ../build-image {
          inherit pkgs;
          self = ../.;
        }).registry;
      defaultText = lib.literalExpression ''(import "''${group-layers}/build-image" { inherit pkgs; }).registry'';
      description = "The group-layers-registry package.";
    };
    listenAddress = mkOption {
      type = types.str;
      default = "0.0.0.0";
      description = "Address to listen on.";
    };
    port = mkOption {
      type = types.port;
      default = 8080;
      description = "Port to listen on.";
    };
    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the port in the firewall.";
    };
    packageSource = {
      type = mkOption {
        type = types.enum [
          "path"
          "channel"
          "git"
        ];
        default = "path";
        description = ''
          Where packages come from: a nixpkgs folder ("path"), a nixpkgs
          channel or commit downloaded from GitHub ("channel"), or a nixpkgs
          git repository whose revision the image's tag picks ("git").
        '';
      };
      location = mkOption {
        type = types.str;
        default = "${pkgs.path}";
        defaultText = lib.literalExpression "\"\${pkgs.path}\"";
        example = "https://github.com/NixOS/nixpkgs";
        description = "The folder, channel name (or commit) or repository URL.";
      };
    };
    stateDirectory = mkOption {
      type = types.strMatching "[A-Za-z0-9_.-]+";
      default = "group-layers-registry";
      description = "The storage folder's name under /var/lib (blobs and manifests).";
    };
    popularity = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "Popularity data for the layering (Nixery's format), a file.";
    };
    popularityUrl = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Popularity data to download when the service starts.";
    };
    maxLayers = mkOption {
      type = types.ints.between 2 125;
      default = 96;
      description = "Most layers in an image, the customisation layer included.";
    };
    layerLock = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Plan each build of an image name from the last plan of that name, kept
        in the storage (docs/layer-lock.md): after a package-set update,
        clients download only what changed. false: every plan from scratch.
      '';
    };
    maxBuilds = mkOption {
      type = types.ints.positive;
      default = 2;
      description = "Builds of different images running at once.";
    };
    timeout = mkOption {
      type = types.ints.positive;
      default = 600;
      description = "A build's time limit, in seconds.";
    };
    gcInterval = mkOption {
      type = types.nullOr types.str;
      default = "daily";
      example = "weekly";
      description = ''
        How often `group-layers-registry gc` removes the blobs and manifests
        no built image refers to (a systemd calendar expression; null: never).
        Files younger than a day are kept, which covers builds in flight.
      '';
    };
    extraNixBuildFlags = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [
        "--option"
        "max-jobs"
        "4"
      ];
      description = "Extra arguments of every nix-build (options the daemon lets untrusted users set).";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.popularity == null || cfg.popularityUrl == null;
        message = "services.group-layers-registry: set popularity or popularityUrl, not both";
      }
    ];

    systemd.services.group-layers-registry = {
      description = "group-layers registry: container images of Nix packages, built on demand";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [
        "network-online.target"
        "nix-daemon.socket"
      ];
      requires = [ "nix-daemon.socket" ];
      environment = {
        # Builds go through the daemon; <nixpkgs> is the system's (for the
        # wrapper's tools); caches of fetched sources go to CacheDirectory.
        NIX_REMOTE = "daemon";
        NIX_PATH = "nixpkgs=${pkgs.path}";
        HOME = storage;
        XDG_CACHE_HOME = "/var/cache/${cfg.stateDirectory}";
      };
      serviceConfig = {
        ExecStart = escapeSystemdExecArgs ([ "${cfg.package}/bin/group-layers-registry" ] ++ flags);
        DynamicUser = true;
        StateDirectory = cfg.stateDirectory;
        CacheDirectory = cfg.stateDirectory;
        Restart = "on-failure";
        # SIGTERM: in-flight responses finish, then the server exits.
        KillSignal = "SIGTERM";
        TimeoutStopSec = 60;
        # Started once it serves: its readiness endpoint answers 200.
        ExecStartPost = escapeSystemdExecArgs [
          registry
          "probe"
          "--timeout"
          "60"
          "http://${localAddress}:${toString cfg.port}/readyz"
        ];
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        NoNewPrivileges = true;
        # The Nix daemon's socket (connecting needs write access to it).
        ReadWritePaths = [ "/nix/var/nix/daemon-socket" ];
      };
    };

    systemd.services.group-layers-registry-gc = lib.mkIf (cfg.gcInterval != null) {
      description = "group-layers registry: remove blobs no image refers to";
      serviceConfig = {
        Type = "oneshot";
        ExecStart = escapeSystemdExecArgs [
          registry
          "gc"
          "--storage"
          storage
        ];
        DynamicUser = true;
        StateDirectory = cfg.stateDirectory;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        NoNewPrivileges = true;
      };
    };
    systemd.timers.group-layers-registry-gc = lib.mkIf (cfg.gcInterval != null) {
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = cfg.gcInterval;
        Persistent = true;
      };
    };

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [ cfg.port ];
  };
}
