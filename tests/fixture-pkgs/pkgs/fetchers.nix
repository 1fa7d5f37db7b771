# fetchurl with nixpkgs' argument shape (cf. nixpkgs
# pkgs/build-support/fetchurl/default.nix): a fixed-output derivation, the
# file downloaded at build time. Built here with Nix's own builtin:fetchurl
# (<nix/fetchurl.nix>, as nixpkgs' bootstrap does), which needs no curl
# package and reads file:// URLs offline.
{ lib }:

{
  fetchurl =
    { url ? ""
    , urls ? [ ]
    , name ? ""
    , pname ? ""
    , version ? ""
    , hash ? ""
    , sha1 ? ""
    , sha256 ? ""
    , sha512 ? ""
    , outputHash ? ""
    , outputHashAlgo ? ""
    , executable ? false
    , passthru ? { }
    , meta ? { }
    , ...
    }:
    let
      all = lib.optional (url != "") url ++ urls;
      first =
        if all == [ ] then throw "fetchurl requires either `url` or `urls` to be set"
        else builtins.head all;
      hashes = builtins.filter (h: h != "") [ hash sha1 sha256 sha512 outputHash ];
      hashArgs =
        if builtins.length hashes != 1 then
          throw "fetchurl (${first}): exactly one of hash, sha1, sha256, sha512 or outputHash must be given"
        else if hash != "" then { inherit hash; }
        else if sha1 != "" then { inherit sha1; }
        else if sha256 != "" then { inherit sha256; }
        else if sha512 != "" then { inherit sha512; }
        else { inherit outputHash outputHashAlgo; };
      fileName =
        if name != "" then name
        else if pname != "" then "${pname}-${version}"
        else baseNameOf (toString first);
    in
    (import <nix/fetchurl.nix> (hashArgs // {
      url = first;
      name = fileName;
      inherit executable;
    })) // passthru // { inherit meta; };
}
