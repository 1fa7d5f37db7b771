# Packages of given sizes and references, for benchmarks: works on any
# package set with nixpkgs' runCommand, coreutils and openssl (the offline
# tests/fixture-pkgs or real nixpkgs).
#
#   import ./sized-packages.nix { pkgs; seed = "run-1"; spec = [
#     { name = "libfoo-1.0"; size = 5000000; references = [ ]; }
#     { name = "app-2.0"; size = 300000; references = [ "libfoo-1.0" ]; }
#   ]; }
#   -> { "libfoo-1.0" = <drv>; "app-2.0" = <drv>; }
#
# Each package holds share/data, `size` bytes that depend only on the seed
# and the name: the hex dump (od) of an AES-CTR key stream, so not zeros and
# compressible about as much as binaries are (gzip: about 2.3x); and
# nix-support/references, naming its references so that Nix records them. A
# package's size is that of share/data; its NAR is a little larger.
{
  pkgs,
  spec,
  seed ? "group-layers",
}:

let
  inherit (pkgs) lib;
  byName = lib.listToAttrs (map (p: lib.nameValuePair p.name p) spec);
  build =
    name:
    let
      p = byName.${name};
      key = builtins.substring 0 32 (builtins.hashString "sha256" "${seed}/${name}");
    in
    pkgs.runCommand name
      {
        nativeBuildInputs = [
          pkgs.coreutils
          pkgs.openssl
        ];
        references = map (r: packages.${r}) p.references;
      }
      ''
        mkdir -p "$out/share" "$out/nix-support"
        # od writes 49 characters for 16 bytes; a little more than needed,
        # then cut to size (no `head` closing a pipe early).
        head -c ${toString (p.size * 16 / 49 + 16)} /dev/zero \
          | openssl enc -aes-128-ctr -nosalt -K ${key} -iv 00000000000000000000000000000000 \
          | od -An -tx1 -v > "$out/share/data"
        truncate -s ${toString p.size} "$out/share/data"
        for r in $references; do echo "$r"; done > "$out/nix-support/references"
      '';
  packages = lib.genAttrs (map (p: p.name) spec) build;
in
packages
