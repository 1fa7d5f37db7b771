# group-layers as a flake.
#
#   nix run . -- bash curl           an image of bash and curl (docker load archive)
#   nix run .#group-layers -- --help the layering engine
#   nix build .#nixery-build-image   the command a Nixery-style server runs
#   nix run .#push -- ./result docker://host/name:tag
#                                    push a buildImage result with skopeo
#   nix run .#registry -- --storage DIR   a registry that builds images on demand
#
# Outputs, for x86_64-linux and aarch64-linux:
#   packages.<system>.{group-layers, nixery-build-image, push, registry, default}
#   apps.<system>.{group-layers, build-image, push, registry, default = build-image}
#   lib.<system>.{buildImage, image, stream, lock, index, pullImage}   build-image/build-image.nix's arguments
#   lib.<system>.popularity            popularity data of packages' closures
#   overlays.default                   pkgs.group-layers, pkgs.buildGroupLayeredImage,
#                                      pkgs.streamGroupLayeredImage, pkgs.groupLayersPopularity
#   nixosModules.default               ./nixos/module.nix and ./nixos/registry.nix
#   nixosModules.registry              ./nixos/registry.nix (services.group-layers-registry)
#   checks.<system>                    the engine's unit tests; the engine on hello's
#                                      graph; bad arguments refused and unknown
#                                      packages not_found; an image of hello
#                                      (x86_64-linux only, see below)
#
# No flake.lock is committed: it cannot be made offline. The first use with
# network access locks nixpkgs (nixos-unstable). Offline, point the input at
# another package set: --override-input nixpkgs path:/some/nixpkgs
{
  description = "Container images from Nix packages, with layers grouped by the group-layers engine";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);

      # The toolkit (build-image/default.nix) for one package set. `self` is
      # left to its default there, this flake's source.
      toolkitFor = pkgs: args: import ./build-image (args // { inherit pkgs; });
      # build-image.nix's result for the overlay's package set.
      buildWith =
        final: args:
        import ./build-image/build-image.nix (
          args
          // {
            pkgs = final;
            inherit (toolkitFor final { }) groupLayers;
          }
        );
      pkgsFor = system: nixpkgs.legacyPackages.${system};

      # `nix run . -- PKG...`: nix-build of this flake's build-image/ against
      # this flake's nixpkgs; prints the archive's store path.
      buildImageApp =
        system:
        let
          pkgs = pkgsFor system;
          pkgsExpr = "import ${nixpkgs} { system = \"${system}\"; config = { }; overlays = [ ]; }";
        in
        pkgs.writeShellScriptBin "build-image" ''
          set -eu
          if [ "$#" -eq 0 ] || [ "$1" = --help ] || [ "$1" = -h ]; then
            echo "usage: build-image PACKAGE..." >&2
            echo "Builds a container image (a 'docker load' archive) of the packages," >&2
            echo "named by their attribute in nixpkgs (${nixpkgs}), and prints its path." >&2
            [ "$#" -ne 0 ]; exit
          fi
          packages=$(printf '%s\n' "$@" | ${pkgs.jq}/bin/jq --raw-input . | ${pkgs.jq}/bin/jq --slurp --compact-output .)
          image=$(${pkgs.nix}/bin/nix-build --no-out-link \
            --arg pkgs ${pkgs.lib.escapeShellArg pkgsExpr} \
            --argstr packages "$packages" \
            -A image ${self}/build-image)
          echo "$image"
          echo "load it with: docker load < $image   (or: skopeo inspect docker-archive:$image)" >&2
        '';
    in
    {
      packages = forAllSystems (
        system:
        let
          toolkit = toolkitFor (pkgsFor system) { };
        in
        rec {
          group-layers = toolkit.groupLayersWithCache;
          nixery-build-image = toolkit.wrapper;
          inherit (toolkit) push registry;
          default = group-layers;
        }
      );

      apps = forAllSystems (system: rec {
        group-layers = {
          type = "app";
          program = "${self.packages.${system}.group-layers}/bin/group-layers";
          meta.description = "Decide which Nix store paths go into which container image layer";
        };
        build-image = {
          type = "app";
          program = "${buildImageApp system}/bin/build-image";
          meta.description = "Build a container image (docker load archive) of nixpkgs packages";
        };
        push = {
          type = "app";
          program = "${self.packages.${system}.push}/bin/push";
          meta.description = "Push an image built by group-layers to a registry (skopeo)";
        };
        registry = {
          type = "app";
          program = "${self.packages.${system}.registry}/bin/group-layers-registry";
          meta.description = "A container registry that builds images of nixpkgs packages on demand";
        };
        default = build-image;
      });

      # buildImage: Nixery's manifest-output.json (with .image, .stream and
      # .layers); image: the `docker load` archive; stream: the executable
      # writing it to stdout. Arguments: those of build-image/build-image.nix
      # (packages, contents, maxLayers, config, compression, tools, ...).
      # popularity: the popularity file of the packages' closures (arguments
      # packages and contents), for the `popularity` argument of the others.
      lib = forAllSystems (system: rec {
        buildImage = args: (toolkitFor (pkgsFor system) args).buildImage;
        image = args: (buildImage args).image;
        stream = args: (buildImage args).stream;
        # the layer lock of the image's plan, for the next build's layerLock
        lock = args: (buildImage args).lock;
        popularity = args: (toolkitFor (pkgsFor system) args).popularity;
        # index: the image for each of args.systems as an OCI image index;
        # pullImage: a registry image by digest, for fromImage (docs/images.md).
        index = args: (toolkitFor (pkgsFor system) args).index;
        pullImage = (toolkitFor (pkgsFor system) { }).pullImage;
      });

      overlays.default = final: prev: {
        group-layers = (toolkitFor final { }).groupLayersWithCache;
        # Like dockerTools.buildLayeredImage, a `docker load` archive, but the
        # layers are grouped by group-layers; build-image.nix's arguments
        # (packages by name, contents as derivations, maxLayers, config, ...).
        # The Nixery manifest is its `manifestOutput` attribute.
        buildGroupLayeredImage = args: (buildWith final args).image // { manifestOutput = buildWith final args; };
        # Like dockerTools.streamLayeredImage: an executable that writes the
        # archive to stdout (`./result | docker load`); no tarball in the store.
        streamGroupLayeredImage = args: (buildWith final args).stream // { manifestOutput = buildWith final args; };
        # Popularity data of packages' closures for `popularity` above:
        # groupLayersPopularity { packages = [ "bash" ... ]; contents = [ ... ]; }
        groupLayersPopularity = args: (toolkitFor final args).popularity;
      };

      # The files by path, and every module (these two and the files) has a
      # key, so that the module system knows one imported more than once, in
      # any combination: both of these, each twice, or from two flakes.
      # (Attribute sets, not bare paths: Nix 2.8's `nix flake check` refuses
      # a path as a NixOS module.)
      nixosModules.default = {
        key = "group-layers/nixosModules.default";
        imports = [
          ./nixos/module.nix
          ./nixos/registry.nix
        ];
      };
      nixosModules.registry = {
        key = "group-layers/nixosModules.registry";
        imports = [ ./nixos/registry.nix ];
      };

      checks = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
          engine = self.packages.${system}.group-layers;
          # The unit tests that need no Nix: the engine's, the cohort
          # strategy's, the registry's parts', with what they import.
          unitTests = builtins.path {
            name = "group-layers-unit-tests";
            path = ./tests;
            filter =
              path: type:
              type == "regular"
              && builtins.match "(test_engine_.*|test_cohort|test_registry_parts|conftest|engine_support|nix_support|registry_support)[.]py" (
                baseNameOf path
              ) != null;
          };
          source = builtins.path {
            name = "group-layers-source";
            path = ./group_layers;
            filter = path: type: baseNameOf path != "__pycache__";
          };
          refused = args: !(builtins.tryEval (self.lib.${system}.buildImage args).drvPath).success;
        in
        {
          # The engine's unit tests, with pytest and hypothesis from the
          # package set (`nix flake check` as scripts/test's first run).
          engine-tests =
            pkgs.runCommand "group-layers-engine-tests"
              {
                nativeBuildInputs = [
                  (pkgs.python3.withPackages (ps: [
                    ps.networkx
                    ps.jsonschema
                    ps.aiohttp
                    ps.pytest
                    ps.hypothesis
                  ]))
                ];
              }
              ''
                cp -R ${source} group_layers
                cp -R ${unitTests} tests
                chmod -R u+w .
                export HOME=$PWD
                # The one test that runs the installed `nix`: no Nix in a build.
                python3 -m pytest -q -p no:cacheprovider tests \
                  --deselect tests/test_engine_pathinfo.py::test_the_installed_nix_on_a_path_not_in_the_store \
                  > pytest.log || { cat pytest.log >&2; exit 1; }
                tail -n 1 pytest.log > "$out"
              '';
          # Bad arguments are refused at evaluation; unknown packages get
          # Nixery's not_found answer, whatever the name derived from them.
          arguments =
            assert refused { packages = [ "hello" ]; maxLayers = 1; };
            assert refused { packages = [ "hello" ]; tag = "a b"; };
            assert refused { packages = "hello"; };
            pkgs.runCommand "group-layers-check-arguments"
              {
                notFound = self.lib.${system}.buildImage { packages = [ "no-such-package" "$(touch x)" ]; };
                nativeBuildInputs = [ pkgs.jq ];
              }
              ''
                jq -e '. == {"error": "not_found", "pkgs": ["no-such-package", "$(touch x)"]}' "$notFound"
                touch "$out"
              '';
          # The engine builds and groups hello's closure into at most 2 layers.
          engine =
            pkgs.runCommand "group-layers-check-engine"
              {
                __structuredAttrs = true;
                exportReferencesGraph.graph = [ pkgs.hello ];
                nativeBuildInputs = [ pkgs.jq ];
              }
              ''
                ${engine}/bin/group-layers --help > /dev/null
                ${engine}/bin/group-layers \
                  --graph "''${NIX_ATTRS_JSON_FILE:-$NIX_BUILD_TOP/.attrs.json}" \
                  --budget 2 --out groups.json
                jq -e 'length >= 1 and length <= 2' groups.json
                jq -e '[.[].contents[]] | any(test("-hello-"))' groups.json
                cp groups.json "$out"
              '';
        }
        # An image of hello builds. The layer grouping is import-from-derivation,
        # which `nix flake check` before Nix 2.13 evaluates for every system and
        # so would have to build on a foreign one: only the x86_64-linux checks
        # have it.
        // pkgs.lib.optionalAttrs (system == "x86_64-linux") {
          image-hello = self.lib.${system}.image { packages = [ "hello" ]; };
        }
      );
    };
}
