# What nixpkgs' stdenv checks of a package's meta before it lets it be
# evaluated (pkgs/stdenv/generic/check-meta.nix): an unfree license, a
# package marked broken or insecure (meta.knownVulnerabilities), or one not
# for this system (meta.platforms), unless the config (or the environment,
# outside pure evaluation) allows it. As there, the package's name, meta and
# other attributes stay readable and meta.available tells whether it may be
# used; only its drvPath and outPath throw, with nixpkgs' kind of message.
{ lib, config, system }:

let
  env = name: builtins.getEnv name == "1";
  isFree = license: if builtins.isList license then lib.all isFree license else license.free or true;
  nameWithVersion = attrs: attrs.name or "${attrs.pname}-${attrs.version}";
  problem = attrs:
    let
      meta = attrs.meta or { };
      allowUnfree = config.allowUnfree or false || env "NIXPKGS_ALLOW_UNFREE"
        || (config.allowUnfreePredicate or (_: false)) attrs;
      allowInsecure = env "NIXPKGS_ALLOW_INSECURE"
        || builtins.elem (nameWithVersion attrs) (config.permittedInsecurePackages or [ ])
        || (config.allowInsecurePredicate or (_: false)) attrs;
      allowBroken = config.allowBroken or false || env "NIXPKGS_ALLOW_BROKEN";
      allowUnsupported = config.allowUnsupportedSystem or false || env "NIXPKGS_ALLOW_UNSUPPORTED_SYSTEM";
    in
    if meta ? license && !isFree meta.license && !allowUnfree then {
      msg = "has an unfree license (‘${toString (map (l: l.shortName or "unknown") (lib.toList meta.license))}’), refusing to evaluate.";
      remedy = "set config.allowUnfree = true, or NIXPKGS_ALLOW_UNFREE=1 with --impure";
    } else if meta ? platforms && !builtins.elem system meta.platforms && !allowUnsupported then {
      msg = "is not available on the requested hostPlatform ${system}";
      remedy = "set config.allowUnsupportedSystem = true, or NIXPKGS_ALLOW_UNSUPPORTED_SYSTEM=1 with --impure";
    } else if (meta.knownVulnerabilities or [ ]) != [ ] && !allowInsecure then {
      msg = "is marked as insecure, refusing to evaluate.\n\nKnown issues:\n${lib.concatMapStrings (v: " - ${v}\n") meta.knownVulnerabilities}";
      remedy = "add \"${nameWithVersion attrs}\" to config.permittedInsecurePackages, or NIXPKGS_ALLOW_INSECURE=1 with --impure";
    } else if meta.broken or false && !allowBroken then {
      msg = "is marked as broken, refusing to evaluate.";
      remedy = "set config.allowBroken = true, or NIXPKGS_ALLOW_BROKEN=1 with --impure";
    } else null;
in
attrs:
let
  found = problem attrs;
  meta = attrs.meta or { };
in
{
  # meta as nixpkgs completes it.
  meta = meta // {
    available = found == null;
    unfree = meta ? license && !isFree meta.license;
    broken = meta.broken or false;
    insecure = (meta.knownVulnerabilities or [ ]) != [ ];
    unsupported = meta ? platforms && !builtins.elem system meta.platforms;
  };
  # The condition of the derivation's drvPath and outPath.
  handled =
    found == null
    || throw ''
      Package ‘${nameWithVersion attrs}’ in «unknown-file» ${found.msg}

      To allow it anyway: ${found.remedy}.
      (The offline package set's stand-in for nixpkgs' check-meta.nix.)'';
}
