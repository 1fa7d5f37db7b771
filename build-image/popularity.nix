# Popularity data for the engine, on the Nix side:
#
#   file VALUE    the `popularity` argument of build-image.nix (and of every
#                 entry point that passes it on) as a store file, or null:
#                   null                     no popularity data;
#                   a derivation, or a string with its context ("${drv}")
#                                            its output, used as it is;
#                   { url; hash; } or { url; sha256; }
#                                            fetched at build time with
#                                            pkgs.fetchurl;
#                   a path (./popularity.json), or an absolute file name as a
#                   string ("/srv/popularity.json", as --argstr gives it)
#                                            read at evaluation time and
#                                            written to the store.
#                 A string must name what the caller could give as a path:
#                 absolute, existing, a regular file (or a link to one), and
#                 it must look like popularity data (a JSON object) before
#                 anything is written to the store, so that a mistaken
#                 "/etc/shadow" is an error and is not copied, world-readable,
#                 into the store. A relative string is an error: Nix would
#                 read it relative to /, not to where the caller is.
#
#   count ROOTS   the popularity file of the closures of ROOTS (derivations),
#                 computed by the engine (`group-layers popcount`) from the
#                 graph that exportReferencesGraph exports: each package name
#                 counted once for every root whose closure holds it. This is
#                 `nix-build -A popularity` and the flake's lib popularity.
{ pkgs, groupLayers }:

let
  inherit (pkgs) lib;
  fail = message: throw "group-layers: popularity: ${message}";

  # A file given as a path (or an absolute file name made one), checked and
  # read at evaluation time; `name` is how the caller gave it.
  fromPath =
    path: name:
    let
      # builtins.readFileType is Nix >= 2.14; before it, the parent's listing.
      type =
        if !builtins.pathExists path then
          null
        else if builtins ? readFileType then
          builtins.readFileType path
        else
          (builtins.readDir (dirOf path)).${baseNameOf path};
      text = builtins.readFile path;
      # The first character that is not white space.
      start = builtins.match "[[:space:]]*(.?).*" (builtins.substring 0 256 text);
    in
    # Pure evaluation (flakes) reads no file by an absolute name: to it,
    # such a file does not exist.
    if type == null && (import ./check-args.nix { inherit lib; }).pureEval then
      fail "${name} cannot be read in pure evaluation (a flake, nixos-rebuild --flake); give a file in the flake (./popularity.json), a derivation, or { url; hash; }"
    else if type == null then
      fail "${name} does not exist"
    else if type == "directory" then
      fail "${name} is a directory, not a popularity file"
    else if type != "regular" && type != "symlink" then
      fail "${name} is not a regular file"
    else if start != [ "{" ] then
      fail "${name} is not popularity data (a JSON object of package name: count)"
    else
      builtins.toFile "popularity.json" text;

  fromFileName =
    name:
    if lib.hasPrefix "/" name then
      fromPath (/. + name) name
    else
      fail "\"${name}\" is a relative file name; give an absolute one (\"$PWD/${name}\") or a path (--arg popularity ./${name})";

  isUrl = v: builtins.isAttrs v && !lib.isDerivation v && v ? url;
in
{
  file =
    popularity:
    if popularity == null then
      null
    else if lib.isDerivation popularity then
      popularity
    else if isUrl popularity then
      let
        extra = builtins.attrNames (removeAttrs popularity [ "url" "hash" "sha256" ]);
        hashes = builtins.filter (h: popularity ? ${h}) [ "hash" "sha256" ];
      in
      if extra != [ ] then
        fail "{ url, ... } has ${lib.concatStringsSep ", " extra}; only url and hash (or sha256) are read"
      else if builtins.length hashes != 1 then
        fail "{ url = \"${popularity.url}\"; } needs exactly one of hash (\"sha256-...\") or sha256, so that it is fetched reproducibly"
      else
        pkgs.fetchurl (popularity // { name = "popularity.json"; })
    else if builtins.isPath popularity then
      fromPath popularity (toString popularity)
    else if builtins.isString popularity && builtins.hasContext popularity then
      popularity
    else if builtins.isString popularity then
      fromFileName popularity
    else
      fail "a value of type ${builtins.typeOf popularity} is none of a path, a derivation, { url, hash } or a file name";

  count =
    roots:
    if roots == [ ] then
      fail "no packages to count: give packages (or contents)"
    else
      pkgs.runCommand "popularity.json"
        {
          __structuredAttrs = true;
          exportReferencesGraph.graph = roots;
        }
        ''
          # Nix 2.8 writes .attrs.json in the build folder, current Nix
          # names it in $NIX_ATTRS_JSON_FILE.
          ${groupLayers}/bin/group-layers popcount \
            "''${NIX_ATTRS_JSON_FILE:-$NIX_BUILD_TOP/.attrs.json}" --out popularity.json
          cp popularity.json "$out"
        '';
}
