# The project's entry point for nix-build, from the repository root:
#
#   nix-build -A buildImage --argstr packages '["bash","curl"]'
#       Nixery's manifest-output.json for an image of bash and curl;
#   nix-build -A image --argstr packages '["hello"]'
#       the same kind of image as a `docker load` archive;
#   nix-build -A stream --argstr packages '["hello"]' && ./result | docker load
#       an executable writing that archive to stdout (no tarball in the store);
#   cp "$(nix-build --no-out-link -A lock --arg layerLock ./layers.lock ...)" layers.lock
#       the layer lock of the image's plan, for the next build's layerLock
#       (docs/layer-lock.md);
#   nix-build -A push && ./result/bin/push MANIFEST-OUTPUT docker://HOST/NAME:TAG
#       pushes a buildImage result with skopeo;
#   nix-build -A index --argstr packages '["hello"]' --argstr systems '["x86_64-linux","aarch64-linux"]'
#       an OCI image index of the image for each system (an OCI layout);
#   (import ./. { }).pullImage { imageName; imageDigest; hash; }
#       a registry image by its digest, for fromImage (docs/images.md);
#   nix-build -A popularity --argstr packages '["hello","python3"]'
#       popularity data (for `popularity`) of those packages' closures;
#   nix-build -A group-layers
#       the layering engine's command;
#   nix-build -A nixery-build-image
#       the command a Nixery-style server runs to build images;
#   nix-build -A registry
#       that server: group-layers-registry (README, "Registry").
#
# All arguments (pkgs, and those of build-image/build-image.nix: name,
# packages, contents, maxLayers, config, ...) are those of
# build-image/default.nix and are passed on to it unchanged; a misspelt one
# is an error there.
{ ... }@args:

let
  toolkit = import ./build-image args;
in
{
  inherit (toolkit) buildImage image stream lock push popularity pullImage index;
  group-layers = toolkit.groupLayersWithCache;
  nixery-build-image = toolkit.wrapper;
  inherit (toolkit) registry;
}
