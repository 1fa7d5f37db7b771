# NixOS module of group-layers (the flake's nixosModules.default).
#
#   programs.group-layers.enable = true;   # the `group-layers` command
#
#   virtualisation.group-layers.images.web = {
#     packages = [ "bash" "curl" ];        # by attribute name in pkgs
#     contents = [ myApp ];                # and/or derivations
#     config.Cmd = [ "/bin/my-app" ];
#   };
#   virtualisation.oci-containers.containers.web = { ... };  # no image needed
#   virtualisation.group-layers.popularity = ./popularity.json;  # every image's
#                                          # default; images.<name>.popularity overrides
#
# Every image is built with the system (system.extraDependencies). With
# wireOciContainers (the default), a container of virtualisation.oci-containers
# with the same name as an image gets image = "<imageName>:<tag>" and
# imageStream = the image's stream (an executable writing the `docker load`
# archive; the system's closure then holds no image tarball, only the store
# paths and the layers' digests), or imageFile = the archive on a NixOS whose
# oci-containers has no imageStream option, or when loadWith = "imageFile".
# builtStreams.<name> and builtImages.<name> are the streams and archives.
#
# An image's name defaults to its attribute name in lower case (registries
# and `docker load` refuse upper case); a name or tag that is no valid image
# reference is refused by the option's type. Other errors start with the
# image's option path, e.g.
#   virtualisation.group-layers.images.web: packages not found: nosuch
# The module has a `key`, so importing it twice (from two flakes, or as a
# path and as a function) declares its options once.
#
# Pure: the engine is built from this source tree with the system's `pkgs`;
# nothing reads <nixpkgs> or NIX_PATH, nothing is downloaded at evaluation.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib) mkOption types;
  cfg = config.virtualisation.group-layers;

  toolkit = import ../build-image {
    inherit pkgs;
    self = ../.;
  };
  checks = import ../build-image/check-args.nix { inherit lib; };

  # A path, a derivation (both are `path` here), or { url; hash; } to fetch.
  popularityType = types.nullOr (types.either types.path (types.attrsOf types.str));

  imageOptions =
    { name, ... }:
    {
      options = {
        name = mkOption {
          type = types.strMatching checks.namePattern // {
            description = "image repository name (lower-case letters and digits, components separated by /, no more than 255 characters)";
          };
          default = lib.toLower name;
          defaultText = lib.literalExpression "lib.toLower <name>";
          description = "The image's name (repository, lower case); default: the attribute name in lower case.";
        };
        tag = mkOption {
          type = types.nullOr (
            types.strMatching checks.tagPattern // {
              description = "image tag (letters, digits, _, . and -, not starting with . or -, at most 128)";
            }
          );
          default = null;
          description = "The image's tag; null: a hash of the image's config, so that it changes with the image.";
        };
        packages = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [ "bash" "curl" ];
          description = "Packages by attribute name in pkgs (dotted names select nested attributes).";
        };
        contents = mkOption {
          type = types.listOf types.package;
          default = [ ];
          description = "Further contents, as derivations.";
        };
        maxLayers = mkOption {
          type = types.ints.between 2 125;
          default = 96;
          description = "Most layers in the image, the customisation layer included.";
        };
        popularity = mkOption {
          type = popularityType;
          default = cfg.popularity;
          defaultText = lib.literalExpression "config.virtualisation.group-layers.popularity";
          description = "This image's popularity data; null: none.";
        };
        config = mkOption {
          type = types.attrsOf types.anything;
          default = { };
          example = { Cmd = [ "/bin/bash" ]; };
          description = "The image's runtime configuration (Cmd, Entrypoint, Env, ...).";
        };
      };
    };

  # The image (buildImage's result: .image, .stream), or an error that starts
  # with the image's option path.
  build =
    attrName: img:
    let
      where = "virtualisation.group-layers.images.${attrName}";
      args = {
        inherit (img)
          name
          tag
          packages
          maxLayers
          config
          ;
      };
      result = toolkit.buildImageWith (args // { inherit (img) contents popularity; });
    in
    builtins.seq (checks.check where args).valid (
      if result.notFound != [ ] then
        throw "${where}: packages not found: ${lib.concatStringsSep ", " result.notFound}"
      else if result.refused != { } then
        throw "${where}: packages refused: ${
          lib.concatStringsSep "; " (lib.mapAttrsToList (n: why: "${n}: ${why}") result.refused)
        }"
      else
        result
    );

  built = lib.mapAttrs build cfg.images;
  # What a container loads its image with: the stream, or the archive.
  loaded = lib.mapAttrs (_: image: image.${if cfg.loadWith == "imageStream" then "stream" else "image"}) built;

  # Whether this NixOS' oci-containers has imageStream: NixOS 24.11 and later
  # (nixpkgs pull request 335430). Told by the release, not by looking at the
  # containers' options, which include this module's own definitions.
  hasImageStream = lib.versionAtLeast lib.trivial.release "24.11";
in
{
  key = "group-layers/nixos/module.nix";

  options = {
    programs.group-layers = {
      enable = lib.mkEnableOption "the group-layers command (container image layer grouping)";
      package = mkOption {
        type = types.package;
        default = toolkit.groupLayersWithCache;
        defaultText = lib.literalExpression ''(import "''${group-layers}/build-image" { inherit pkgs; }).groupLayersWithCache'';
        description = "The group-layers package.";
      };
    };

    virtualisation.group-layers = {
      popularity = mkOption {
        type = popularityType;
        default = null;
        example = lib.literalExpression ''{ url = "https://example.org/popularity.json"; hash = "sha256-..."; }'';
        description = ''
          Popularity data (package name -> count, as `group-layers popcount`
          or the flake's lib.<system>.popularity make it) for every image, the
          default of images.<name>.popularity: a path, a derivation, or
          { url; hash; } fetched at build time. Null: none. Layers shared
          between images depend on it: with the popularity of the whole
          package set, a path gets the same layer in every image.
        '';
      };
      images = mkOption {
        type = types.attrsOf (types.submodule imageOptions);
        default = { };
        description = "Container images to build with group-layers.";
      };
      wireOciContainers = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Whether a container of virtualisation.oci-containers.containers with
          the name of an image here uses it (imageFile and image are set).
          When false, set the container's image (and imageFile, e.g. to
          builtImages.<name>) yourself: NixOS gives image no default.
        '';
      };
      loadWith = mkOption {
        type = types.enum [
          "imageStream"
          "imageFile"
        ];
        default = if hasImageStream then "imageStream" else "imageFile";
        defaultText = lib.literalExpression ''"imageStream" if oci-containers has that option, else "imageFile"'';
        description = ''
          How a wired container gets its image: "imageStream", a script that
          streams the archive when the container starts (no image tarball in
          the store or the system closure), or "imageFile", the archive.
        '';
      };
      builtImages = mkOption {
        type = types.attrsOf types.package;
        readOnly = true;
        description = "The images as `docker load` archives, by name (built when used).";
      };
      builtStreams = mkOption {
        type = types.attrsOf types.package;
        readOnly = true;
        description = "The images' streams (executables writing the archive to stdout), by name.";
      };
    };

    # Adds to each oci-containers container (a submodule, so this merges with
    # NixOS' own declaration): the container named like an image uses it.
    # Looking at the containers' names from here, not from a definition of
    # `containers`, is what keeps this free of infinite recursion.
    virtualisation.oci-containers.containers = mkOption {
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            # imageStream is named only where it is declared; attribute names
            # that depend on loadWith's value would recurse infinitely.
            config = lib.mkIf (cfg.wireOciContainers && cfg.images ? ${name}) (
              {
                image = lib.mkDefault "${loaded.${name}.imageName}:${loaded.${name}.imageTag}";
                imageFile = lib.mkIf (cfg.loadWith == "imageFile") (lib.mkDefault loaded.${name});
              }
              // lib.optionalAttrs hasImageStream {
                imageStream = lib.mkIf (cfg.loadWith == "imageStream") (lib.mkDefault loaded.${name});
              }
            );
          }
        )
      );
    };
  };

  config = lib.mkMerge [
    {
      virtualisation.group-layers.builtImages = lib.mapAttrs (_: image: image.image) built;
      virtualisation.group-layers.builtStreams = lib.mapAttrs (_: image: image.stream) built;
    }
    (lib.mkIf (cfg.images != { }) {
      system.extraDependencies = lib.attrValues loaded;
    })
    (lib.mkIf config.programs.group-layers.enable {
      environment.systemPackages = [ config.programs.group-layers.package ];
    })
  ];
}
