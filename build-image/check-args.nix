# Checks the arguments of build-image.nix at evaluation time and gives them
# back in the shape the build uses. A bad argument is one error that names it
# and the rule it breaks, thrown before anything is built, e.g.
#
#   error: group-layers: maxLayers is 1000, it must be an integer from 2 to 125
#
# so that nothing fails later in container tools (skopeo refuses a
# `"Cmd": "/bin/hello"`, Docker's storage an image of more than 125 layers,
# registries a name in upper case).
#
#   let checks = import ./check-args.nix { inherit lib; };
#   in checks.check "group-layers" { inherit name tag packages ...; }
#
# `check where args` returns { packages, config, maxLayers, uid, gid, name,
# tag, drvName, pkgSource, valid, validBeforeLookup }; `where` starts every
# error message (the NixOS module passes
# "virtualisation.group-layers.images.<name>"). `valid` is true once every
# argument is checked: seq it before the result so that an argument the
# result does not read (a tag, for `buildImage`) is still checked.
# `validBeforeLookup` leaves out a name derived from the packages (no `name`
# given), for a caller that answers unknown packages before naming the image. The patterns are exported for the NixOS module's option types.
#
# JSON strings (`packages`, `config`) are checked before builtins.fromJSON,
# whose parse error cannot be caught and does not say which argument it was:
# the string is cut into JSON tokens with one regular expression, and a fold
# over the tokens with a stack of open brackets checks the grammar.
{ lib }:

let
  inherit (builtins)
    all
    attrNames
    concatStringsSep
    foldl'
    isAttrs
    isBool
    isInt
    isList
    isString
    match
    split
    stringLength
    substring
    ;

  # JSON -----------------------------------------------------------------------

  # A string, a number, a literal or a punctuation mark. POSIX bracket
  # expressions take `\` literally: [^"\[:cntrl:]] is any character but the
  # quote, the backslash and control characters.
  jsonToken = ''("([^"\[:cntrl:]]|\\["\/bfnrt]|\\u[0-9a-fA-F]{4})*"|-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?|true|false|null|[][{}:,])'';

  # Whether `text` is one JSON value. The grammar state is what may come next:
  # "value", "valueOrClose" (after `[`), "keyOrClose" (after `{`), "key",
  # "colon", "next" (after a value: `,`, or the innermost bracket's closing
  # one, or the end when none is open), "bad".
  isJSON =
    text:
    let
      pieces = split jsonToken text;
      between = builtins.filter isString pieces;
      tokens = map builtins.head (builtins.filter isList pieces);
      kind =
        t:
        let
          c = substring 0 1 t;
        in
        if c == "\"" then "string" else if lib.elem t [ "[" "]" "{" "}" ":" "," ] then t else "scalar";
      value =
        s: k:
        if k == "[" then
          { stack = [ "]" ] ++ s.stack; expect = "valueOrClose"; }
        else if k == "{" then
          { stack = [ "}" ] ++ s.stack; expect = "keyOrClose"; }
        else if k == "string" || k == "scalar" then
          s // { expect = "next"; }
        else
          bad;
      bad = { stack = [ ]; expect = "bad"; };
      step =
        s: t:
        let
          k = kind t;
          top = if s.stack == [ ] then null else builtins.head s.stack;
          close = { stack = builtins.tail s.stack; expect = "next"; };
        in
        if s.expect == "value" then
          value s k
        else if s.expect == "valueOrClose" then
          (if k == "]" then close else value s k)
        else if s.expect == "keyOrClose" then
          (if k == "}" then close else if k == "string" then s // { expect = "colon"; } else bad)
        else if s.expect == "key" then
          (if k == "string" then s // { expect = "colon"; } else bad)
        else if s.expect == "colon" then
          (if k == ":" then s // { expect = "value"; } else bad)
        else if s.expect == "next" && top != null then
          (
            if k == top then
              close
            else if k == "," then
              s // { expect = if top == "}" then "key" else "value"; }
            else
              bad
          )
        else
          bad;
      end = foldl' step { stack = [ ]; expect = "value"; } tokens;
    in
    all (b: match "[ \t\n\r]*" b != null) between && end == { stack = [ ]; expect = "next"; };

  # A Nix value, or a JSON string of one (as --argstr gives it).
  fromJSONArg =
    fail: argName: example: v:
    if !isString v then
      v
    else if isJSON v then
      builtins.fromJSON v
    else
      fail "${argName} is not valid JSON: ${builtins.toJSON (shorten v)}; expected e.g. ${example}";

  shorten = s: if stringLength s > 80 then substring 0 77 s + "..." else s;
  show =
    v:
    if isString v then
      builtins.toJSON (shorten v)
    else if builtins.isPath v then
      toString v # toJSON would copy the file to the store
    else
      shorten (builtins.toJSON v);

  # Integers, also as strings of digits (from --argstr).
  intArg =
    fail: argName: low: high: v:
    let
      i =
        if isInt v then
          v
        else if isString v && match "-?[0-9]{1,18}" v != null then
          # fromJSON takes no leading zeros
          builtins.fromJSON (lib.concatStrings (match "(-?)0*([0-9]+)" v))
        else
          null;
    in
    if i != null && i >= low && i <= high then
      i
    else
      fail "${argName} is ${show v}, it must be an integer from ${toString low} to ${toString high}";

  # Image references (the OCI distribution spec) -----------------------------

  # A repository path component, lower case.
  component = "[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*";
  # A registry host ([host[:port]/]), as in docker.io/library/bash: as for
  # Docker, a first component is a host only if it has a dot or a port, or
  # is localhost (so "Foo/bar" is a path with an upper-case component).
  domainComponent = "([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
  domain = "(localhost(:[0-9]+)?|${domainComponent}(\\.${domainComponent})+(:[0-9]+)?|${domainComponent}:[0-9]+)";

  # Image config keys and their rules (OCI image spec, and Docker's additions).
  isStringList = v: isList v && all isString v;
  isStringAttrs = v: isAttrs v && all isString (builtins.attrValues v);
  isEmptyObjects = v: isAttrs v && all (x: x == { }) (builtins.attrValues v);
  configRules = {
    User = { check = isString; rule = "a string (user, uid, user:group or uid:gid)"; };
    ExposedPorts = {
      check = v: isEmptyObjects v && all (p: match "[0-9]+(/(tcp|udp|sctp))?" p != null) (attrNames v);
      rule = "an object of \"<port>/<tcp|udp|sctp>\": {}";
    };
    Env = {
      check = v: isStringList v && all (e: match "[^=]+=.*" e != null) v;
      rule = "a list of \"KEY=value\" strings";
    };
    Entrypoint = { check = isStringList; rule = "a list of strings"; };
    Cmd = { check = isStringList; rule = "a list of strings"; };
    Volumes = { check = isEmptyObjects; rule = "an object of \"<path>\": {}"; };
    WorkingDir = { check = isString; rule = "a string"; };
    Labels = { check = isStringAttrs; rule = "an object of strings"; };
    StopSignal = { check = isString; rule = "a string"; };
    ArgsEscaped = { check = isBool; rule = "a boolean"; };
    Healthcheck = { check = isAttrs; rule = "an object"; };
    OnBuild = { check = isStringList; rule = "a list of strings"; };
    Shell = { check = isStringList; rule = "a list of strings"; };
  };

  # Longest derivation name part kept before the hash suffix: store path
  # names may be 211 characters, and the longest suffix added to a drvName
  # ("-customisation-layer") is 20.
  drvNameMax = 100;
in
rec {
  # The patterns, for option types (lib.types.strMatching).
  namePattern = "(${domain}/)?${component}(/${component})*";

  tagPattern = "[A-Za-z0-9_][A-Za-z0-9._-]{0,127}";
  # Docker's limit on a whole repository name.
  nameMaxLength = 255;

  # Whether this is pure evaluation (flakes): builtins.currentSystem is not
  # there then (nixpkgs' lib.inPureEvalMode tells it so too).
  pureEval = !(builtins ? currentSystem);
  isCommit = rev: match "[0-9a-f]{40}" rev != null;

  # A store-path-safe derivation name for an image name: "/" and ":" become
  # "-"; past drvNameMax characters it is cut and ends in a hash of the whole
  # name, so that different long names stay different.
  drvNameOf =
    imageName:
    let
      safe = builtins.replaceStrings [ "/" ":" ] [ "-" "-" ] imageName;
    in
    if stringLength safe <= drvNameMax then
      safe
    else
      substring 0 (drvNameMax - 9) safe + "-" + substring 0 8 (builtins.hashString "sha256" imageName);

  # The default image name: the requested package names, sorted, lower-cased
  # and joined by "/", as Nixery names its images (quotes of quoted names
  # dropped); "image" if none.
  defaultName =
    pkgNames:
    if pkgNames == [ ] then
      "image"
    else
      lib.toLower (concatStringsSep "/" (builtins.sort builtins.lessThan (map (builtins.replaceStrings [ "\"" ] [ "" ]) pkgNames)));

  check =
    where:
    {
      name ? null,
      tag ? null,
      packages ? [ ],
      maxLayers ? 96,
      config ? { },
      uid ? 0,
      gid ? 0,
      pkgSource ? null,
    }:
    let
      fail = msg: throw "${where}: ${msg}";

      pkgNames =
        let
          names = fromJSONArg fail "packages" "'[\"bash\",\"curl\"]'" packages;
        in
        if isList names && all isString names then
          names
        else
          fail "packages is ${show names}, it must be a JSON array of attribute names, such as '[\"bash\",\"curl\"]'";

      runtimeConfig =
        let
          given = fromJSONArg fail "config" "'{\"Cmd\":[\"/bin/hello\"]}'" config;
          unknown = builtins.filter (k: !(configRules ? ${k})) (attrNames given);
          wrong = builtins.filter (k: !(configRules.${k}.check given.${k})) (attrNames given);
          firstWrong = builtins.head wrong;
        in
        if !isAttrs given then
          fail "config is ${show given}, it must be an object (an attribute set or a JSON object)"
        else if unknown != [ ] then
          fail "config has unknown key ${builtins.toJSON (builtins.head unknown)}; known keys: ${concatStringsSep ", " (attrNames configRules)}"
        else if wrong != [ ] then
          fail "config.${firstWrong} is ${show given.${firstWrong}}, it must be ${configRules.${firstWrong}.rule}"
        else
          given;

      imageName =
        let
          n = if name != null then name else defaultName pkgNames;
          given = if name != null then "name" else "name (from packages; set `name`)";
        in
        if !isString n then
          fail "name is ${show n}, it must be a string"
        else if stringLength n > nameMaxLength then
          fail "${given} is ${toString (stringLength n)} characters long, at most ${toString nameMaxLength} are allowed"
        else if match namePattern n == null then
          fail "${given} is ${show n}, it must be an image repository name: lower-case components of letters and digits separated by /, optionally separated inside by ., _, __ or dashes, after an optional registry host[:port]/"
        else
          n;

      imageTag =
        if tag == null then
          null
        else if isString tag && match tagPattern tag != null then
          tag
        else
          fail "tag is ${show tag}, it must match ${tagPattern} (letters, digits, _, . and -, at most 128, not starting with . or -)";

      # In pure evaluation (a flake, nixos-rebuild --flake) Nix fetches only
      # what is pinned and reads no file by its name: the forms that would be
      # refused there with Nix's own message are refused here, naming the
      # pinned form instead.
      sourceSpec =
        let
          spec = lib.splitString "!" pkgSource;
          kind = builtins.head spec;
          dir = builtins.elemAt spec 1;
          forms = "nixpkgs!<channel or commit>[!<sha256>], git!<url>!<rev or ref> or path!<dir>";
          pinned = "nixpkgs!<commit>!<sha256 of its unpacked tarball> or git!<url>!<40-hex commit>";
          inPure = "pure evaluation (a flake, nixos-rebuild --flake)";
        in
        if pkgSource == null then
          null
        else if !isString pkgSource then
          fail "pkgSource is ${show pkgSource}, it must be a string: ${forms}"
        else if kind == "nixpkgs" && builtins.length spec == 2 && pureEval then
          fail "pkgSource is ${show pkgSource}: a download without a hash, which ${inPure} refuses; pin it: ${pinned}"
        else if kind == "git" && builtins.length spec == 3 && pureEval && !isCommit (builtins.elemAt spec 2) then
          fail "pkgSource is ${show pkgSource}: a branch or tag moves, which ${inPure} refuses; pin it: ${pinned}"
        else if kind == "nixpkgs" && (builtins.length spec == 2 || builtins.length spec == 3) || kind == "git" && builtins.length spec == 3 then
          spec
        else if kind == "path" && builtins.length spec == 2 then
          (
            if pureEval then
              fail "pkgSource is ${show pkgSource}: ${inPure} reads no folder by its name; give the package set as `pkgs`, or ${pinned}"
            else if !lib.hasPrefix "/" dir then
              fail "pkgSource is ${show pkgSource}: the folder must be an absolute path"
            else if !builtins.pathExists (/. + "${dir}/default.nix") then
              fail "pkgSource is ${show pkgSource}: ${dir} is not a folder holding a default.nix"
            else
              spec
          )
        else
          fail "pkgSource is ${show pkgSource}, it must be one of ${forms}";

      result = {
        packages = pkgNames;
        config = runtimeConfig;
        maxLayers = intArg fail "maxLayers" 2 125 maxLayers;
        # uid_t is 32 bits and its largest value, -1, means "no one".
        uid = intArg fail "uid" 0 4294967294 uid;
        gid = intArg fail "gid" 0 4294967294 gid;
        name = imageName;
        tag = imageTag;
        drvName = drvNameOf imageName;
        pkgSource = sourceSpec;
      };
    in
    result
    // {
      valid = lib.deepSeq result true;
      # Every argument but a name derived from the packages, which a caller
      # judges only once the packages are found: unknown ones get their
      # not_found answer whatever that name would be, as from Nixery.
      validBeforeLookup = lib.deepSeq (removeAttrs result (lib.optionals (name == null) [ "name" "drvName" ])) true;
    };
}
