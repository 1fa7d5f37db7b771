# Fixture `lib`: a small, hand-written subset of nixpkgs' `lib` with the same
# names, argument shapes and semantics for what it implements.  See
# ./default.nix for what this fixture is.  Built with makeExtensible so that
# `lib.extend (final: prev: { ... })` works as in nixpkgs.
let
  b = builtins;

  # ---------------------------------------------------------------- fixpoints
  fix = f: let x = f x; in x;
  fix' = f: let x = f x // { __unfix__ = f; }; in x;
  extends = overlay: f: final: let prev = f final; in prev // overlay final prev;
  composeExtensions = f: g: final: prev:
    let fApplied = f final prev; prev' = prev // fApplied; in fApplied // g final prev';
  composeManyExtensions = b.foldl' (acc: o: composeExtensions acc o) (final: prev: { });
  makeExtensible = makeExtensibleWithCustomName "extend";
  makeExtensibleWithCustomName = extenderName: rattrs:
    fix' (self: (rattrs self) // {
      ${extenderName} = f: makeExtensibleWithCustomName extenderName (extends f rattrs);
    });

  libFn = self: let lib = self; in rec {
    inherit fix fix' extends composeExtensions composeManyExtensions
      makeExtensible makeExtensibleWithCustomName;

    version = "25.05pre-fixture";
    release = "25.05";
    inNixShell = b.getEnv "IN_NIX_SHELL" != "";

    # --------------------------------------------------------------- trivial
    id = x: x;
    const = x: _: x;
    flip = f: a: c: f c a;
    pipe = b.foldl' (x: f: f x);
    boolToString = x: if x then "true" else "false";
    mergeAttrs = x: y: x // y;
    isFunction = b.isFunction;
    inherit (b) isAttrs isList isString isBool isInt isFloat isPath
      trace seq deepSeq throw abort toJSON fromJSON toString typeOf
      readFile pathExists baseNameOf dirOf match split tryEval;
    warn = msg: v: b.trace "evaluation warning: ${msg}" v;
    warnIf = cond: msg: if cond then lib.warn msg else x: x;
    throwIf = cond: msg: if cond then b.throw msg else x: x;
    throwIfNot = cond: msg: if cond then x: x else b.throw msg;
    assertMsg = pred: msg: pred || b.throw msg;
    importJSON = path: b.fromJSON (b.readFile path);
    importTOML = path: b.fromTOML (b.readFile path);
    min = x: y: if x < y then x else y;
    max = x: y: if x > y then x else y;
    mod = base: int: base - (int * (b.div base int));
    trivial = { inherit (lib) id const flip pipe boolToString mergeAttrs
      importJSON importTOML warn warnIf throwIf throwIfNot min max mod
      version release inNixShell fix; isFunction = b.isFunction; };

    # ----------------------------------------------------------------- lists
    inherit (b) head tail length elem elemAt filter map genList concatLists
      all any foldl' sort partition groupBy;
    concatMap = f: list: b.concatLists (b.map f list);
    singleton = x: [ x ];
    toList = x: if b.isList x then x else [ x ];
    optional = cond: elem: if cond then [ elem ] else [ ];
    optionals = cond: elems: if cond then elems else [ ];
    foldr = op: nul: list:
      let len = b.length list;
          fold' = n: if n == len then nul else op (b.elemAt list n) (fold' (n + 1));
      in fold' 0;
    foldl = op: nul: list: b.foldl' op nul list;
    fold = lib.foldr;
    imap0 = f: list: b.genList (n: f n (b.elemAt list n)) (b.length list);
    imap1 = f: list: b.genList (n: f (n + 1) (b.elemAt list n)) (b.length list);
    last = list: assert list != [ ]; b.elemAt list (b.length list - 1);
    init = list: assert list != [ ]; lib.take (b.length list - 1) list;
    take = count: lib.sublist 0 count;
    drop = count: list: lib.sublist count (b.length list) list;
    sublist = start: count: list:
      let len = b.length list; in
      b.genList (n: b.elemAt list (n + start))
        (if start >= len then 0 else if start + count > len then len - start else count);
    range = first: last: if first > last then [ ] else b.genList (n: first + n) (last - first + 1);
    reverseList = xs: let l = b.length xs; in b.genList (n: b.elemAt xs (l - n - 1)) l;
    flatten = x: if b.isList x then b.concatMap (y: lib.flatten y) x else [ x ];
    remove = e: b.filter (x: x != e);
    count = pred: b.foldl' (c: x: if pred x then c + 1 else c) 0;
    unique = b.foldl' (acc: e: if b.elem e acc then acc else acc ++ [ e ]) [ ];
    subtractLists = e: b.filter (x: !(b.elem x e));
    intersectLists = e: b.filter (x: b.elem x e);
    zipListsWith = f: fst: snd:
      b.genList (n: f (b.elemAt fst n) (b.elemAt snd n)) (lib.min (b.length fst) (b.length snd));
    zipLists = lib.zipListsWith (fst: snd: { inherit fst snd; });
    intersperse = separator: list:
      if list == [ ] || b.length list == 1 then list
      else b.tail (b.concatMap (x: [ separator x ]) list);
    findFirst = pred: default: list:
      let found = b.filter pred list; in if found == [ ] then default else b.head found;
    lists = { inherit (lib) head tail length elem elemAt filter map genList
      concatLists concatMap all any foldl' foldl foldr fold sort partition groupBy
      singleton toList optional optionals imap0 imap1 last init take drop sublist
      range reverseList flatten remove count unique subtractLists intersectLists
      zipListsWith zipLists intersperse findFirst; };

    # --------------------------------------------------------------- strings
    inherit (b) stringLength substring replaceStrings concatStringsSep;
    concatStrings = b.concatStringsSep "";
    concatMapStrings = f: list: lib.concatStrings (b.map f list);
    concatMapStringsSep = sep: f: list: b.concatStringsSep sep (b.map f list);
    concatImapStringsSep = sep: f: list: b.concatStringsSep sep (lib.imap1 f list);
    concatLines = list: lib.concatMapStrings (s: s + "\n") list;
    optionalString = cond: string: if cond then string else "";
    hasPrefix = pref: str: b.substring 0 (b.stringLength pref) str == pref;
    hasSuffix = suffix: content:
      let lenContent = b.stringLength content; lenSuffix = b.stringLength suffix; in
      lenContent >= lenSuffix
      && b.substring (lenContent - lenSuffix) lenContent content == suffix;
    hasInfix = infix: content: b.match ".*${lib.escapeRegex infix}.*" "${content}" != null;
    removePrefix = prefix: str:
      let preLen = b.stringLength prefix; in
      if lib.hasPrefix prefix str then b.substring preLen (b.stringLength str - preLen) str else str;
    removeSuffix = suffix: str:
      let sufLen = b.stringLength suffix; sLen = b.stringLength str; in
      if sufLen <= sLen && suffix == b.substring (sLen - sufLen) sufLen str
      then b.substring 0 (sLen - sufLen) str else str;
    stringToCharacters = s: b.genList (p: b.substring p 1 s) (b.stringLength s);
    lowerChars = lib.stringToCharacters "abcdefghijklmnopqrstuvwxyz";
    upperChars = lib.stringToCharacters "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    toLower = b.replaceStrings lib.upperChars lib.lowerChars;
    toUpper = b.replaceStrings lib.lowerChars lib.upperChars;
    escape = list: b.replaceStrings list (b.map (c: "\\${c}") list);
    escapeRegex = lib.escape (lib.stringToCharacters "\\[{()^$?*+|.");
    escapeShellArg = arg:
      let string = b.toString arg; in
      if b.match "[[:alnum:],._+:@%/-]+" string == null
      then "'${b.replaceStrings [ "'" ] [ "'\\''" ] string}'"
      else string;
    escapeShellArgs = lib.concatMapStringsSep " " lib.escapeShellArg;
    # Same semantics as nixpkgs: splits on the literal separator, keeps empties.
    splitString = sep: s:
      let splits = b.filter b.isString (b.split (lib.escapeRegex (b.toString sep)) (b.toString s));
      in b.map (lib.addContextFrom s) splits;
    addContextFrom = src: target: b.substring 0 0 src + target;
    trim = s:
      let m = b.match "[[:space:]]*(.*[^[:space:]])[[:space:]]*" s; in
      if m == null then "" else b.head m;
    fileContents = file: lib.removeSuffix "\n" (b.readFile file);
    toInt = str:
      let m = b.match "[[:space:]]*(-?[0-9]+)[[:space:]]*" str; in
      if m == null then b.throw "toInt: could not convert ${b.toJSON str} to int"
      else b.fromJSON (b.head m);
    makeSearchPath = subDir: paths:
      b.concatStringsSep ":" (b.map (path: path + "/" + subDir) (b.filter (x: x != null) paths));
    makeSearchPathOutput = output: subDir: pkgs: lib.makeSearchPath subDir (b.map (lib.getOutput output) pkgs);
    makeBinPath = lib.makeSearchPathOutput "bin" "bin";
    makeLibraryPath = lib.makeSearchPathOutput "lib" "lib";
    sanitizeDerivationName = s:
      let clean = b.replaceStrings [ "/" " " ] [ "-" "-" ] s; in
      if b.stringLength clean > 207 then b.substring 0 207 clean else clean;
    getName = x: let parse = drv: (b.parseDrvName drv).name; in
      if b.isString x then parse x else x.pname or (parse x.name);
    getVersion = x: let parse = drv: (b.parseDrvName drv).version; in
      if b.isString x then parse x else x.version or (parse x.name);
    versions = {
      splitVersion = b.splitVersion;
      major = v: b.elemAt (b.splitVersion v) 0;
      minor = v: b.elemAt (b.splitVersion v) 1;
      majorMinor = v: "${lib.versions.major v}.${lib.versions.minor v}";
    };
    versionOlder = v1: v2: b.compareVersions v2 v1 == 1;
    versionAtLeast = v1: v2: !(lib.versionOlder v1 v2);
    strings = { inherit (lib) stringLength substring replaceStrings
      concatStringsSep concatStrings concatMapStrings concatMapStringsSep
      concatImapStringsSep concatLines optionalString hasPrefix hasSuffix hasInfix
      removePrefix removeSuffix stringToCharacters toLower toUpper escape
      escapeRegex escapeShellArg escapeShellArgs splitString trim fileContents
      toInt makeSearchPath makeSearchPathOutput makeBinPath makeLibraryPath
      sanitizeDerivationName getName getVersion versionOlder versionAtLeast; };

    # ------------------------------------------------------------- attrsets
    inherit (b) attrNames attrValues hasAttr getAttr removeAttrs listToAttrs
      mapAttrs catAttrs intersectAttrs zipAttrsWith;
    nameValuePair = name: value: { inherit name value; };
    attrByPath = attrPath: default: set:
      let go = path: s:
        if path == [ ] then s
        else let n = b.head path; in
          if b.isAttrs s && s ? ${n} then go (b.tail path) s.${n} else default;
      in go attrPath set;
    hasAttrByPath = attrPath: e:
      let go = path: s:
        if path == [ ] then true
        else let n = b.head path; in b.isAttrs s && s ? ${n} && go (b.tail path) s.${n};
      in go attrPath e;
    getAttrFromPath = attrPath: set:
      lib.attrByPath attrPath (b.throw "cannot find attribute `${b.concatStringsSep "." attrPath}'") set;
    setAttrByPath = attrPath: value:
      if attrPath == [ ] then value
      else { ${b.head attrPath} = lib.setAttrByPath (b.tail attrPath) value; };
    attrVals = nameList: set: b.map (x: set.${x}) nameList;
    getAttrs = names: attrs: lib.genAttrs names (name: attrs.${name});
    filterAttrs = pred: set:
      b.removeAttrs set (b.filter (name: !pred name set.${name}) (b.attrNames set));
    mapAttrs' = f: set: b.listToAttrs (b.map (attr: f attr set.${attr}) (b.attrNames set));
    mapAttrsToList = f: attrs: b.map (name: f name attrs.${name}) (b.attrNames attrs);
    attrsToList = lib.mapAttrsToList lib.nameValuePair;
    concatMapAttrs = f: v: b.foldl' (acc: x: acc // x) { } (lib.mapAttrsToList f v);
    mapAttrsRecursiveCond = cond: f: set:
      let recurse = path: b.mapAttrs (name: value:
        if b.isAttrs value && cond value then recurse (path ++ [ name ]) value
        else f (path ++ [ name ]) value);
      in recurse [ ] set;
    mapAttrsRecursive = lib.mapAttrsRecursiveCond (as: true);
    genAttrs = names: f: b.listToAttrs (b.map (n: lib.nameValuePair n (f n)) names);
    optionalAttrs = cond: as: if cond then as else { };
    foldlAttrs = f: init: set: b.foldl' (acc: name: f acc name set.${name}) init (b.attrNames set);
    zipAttrs = b.zipAttrsWith (name: values: values);
    recursiveUpdateUntil = pred: lhs: rhs:
      let f = attrPath: b.zipAttrsWith (n: values:
        let here = attrPath ++ [ n ]; in
        if b.length values == 1
          || pred here (b.elemAt values 1) (b.head values)
        then b.head values
        else f here values);
      in f [ ] [ rhs lhs ];
    recursiveUpdate = lib.recursiveUpdateUntil
      (path: lhs: rhs: !(b.isAttrs lhs && b.isAttrs rhs));
    isDerivation = value: value.type or null == "derivation";
    getOutput = output: pkg:
      if !pkg ? outputSpecified || !pkg.outputSpecified then pkg.${output} or pkg.out or pkg else pkg;
    getBin = lib.getOutput "bin";
    getLib = lib.getOutput "lib";
    getDev = lib.getOutput "dev";
    getMan = lib.getOutput "man";
    getExe = x: lib.getExe' x (x.meta.mainProgram or
      (lib.warn "getExe: Package ${b.toJSON (x.name or "«name-missing»")} does not have the meta.mainProgram attribute." (lib.getName x)));
    getExe' = x: y: "${lib.getBin x}/bin/${y}";
    recurseIntoAttrs = attrs: attrs // { recurseForDerivations = true; };
    dontRecurseIntoAttrs = attrs: attrs // { recurseForDerivations = false; };
    attrsets = { inherit (lib) attrNames attrValues hasAttr getAttr removeAttrs
      listToAttrs mapAttrs catAttrs intersectAttrs zipAttrsWith nameValuePair
      attrByPath hasAttrByPath getAttrFromPath setAttrByPath attrVals getAttrs
      filterAttrs mapAttrs' mapAttrsToList attrsToList concatMapAttrs
      mapAttrsRecursive mapAttrsRecursiveCond genAttrs optionalAttrs foldlAttrs
      zipAttrs recursiveUpdate recursiveUpdateUntil isDerivation getOutput
      getBin getLib getDev getMan recurseIntoAttrs dontRecurseIntoAttrs; };

    # ------------------------------------------------------ derivation utils
    # Same shape as nixpkgs' lib.extendDerivation: adds `passthru` to the
    # derivation and to each of its outputs; `condition` is asserted when
    # drvPath or outPath is read (so a package nixpkgs refuses still has a
    # name, a meta and a type).
    extendDerivation = condition: passthru: drv:
      let
        outputs = drv.outputs or [ "out" ];
        commonAttrs = drv // (b.listToAttrs outputsList)
          // { all = b.map (x: x.value) outputsList; } // passthru;
        outputToAttrListElement = outputName: {
          name = outputName;
          value = commonAttrs // {
            inherit (drv.${outputName}) type outputName;
            outputSpecified = true;
            drvPath = assert condition; drv.${outputName}.drvPath;
            outPath = assert condition; drv.${outputName}.outPath;
          };
        };
        outputsList = b.map outputToAttrListElement outputs;
      in commonAttrs // {
        outputUnspecified = true;
        drvPath = assert condition; drv.drvPath;
        outPath = assert condition; drv.outPath;
      };

    # ---------------------------------------------------------- sources
    cleanSourceFilter = name: type:
      let baseName = b.baseNameOf (b.toString name); in
      !((type == "directory" && (baseName == ".git" || baseName == ".svn" || baseName == "CVS"))
        || lib.hasSuffix "~" baseName || b.match "^\\.sw[a-z]$" baseName != null
        || b.match "^\\..*\\.sw[a-z]$" baseName != null || lib.hasSuffix ".o" baseName
        || lib.hasSuffix ".so" baseName
        || (type == "symlink" && lib.hasPrefix "result" baseName)
        || (type == "unknown"));
    # Same result shape as nixpkgs: an attrset with outPath, usable as `src`
    # and chainable (filters compose, the original source is kept).
    cleanSourceWith = { src, filter ? _path: _type: true, name ? null }:
      let
        origSrc = src.origSrc or src;
        filter' = path: type: filter path type && (src.filter or (_: _: true)) path type;
        name' = if name != null then name else src.name or "source";
      in {
        _isLibCleanSourceWith = true;
        inherit origSrc;
        filter = filter';
        name = name';
        outPath = b.path { path = origSrc; name = name'; filter = filter'; };
      };
    cleanSource = src: lib.cleanSourceWith { filter = lib.cleanSourceFilter; inherit src; };
    sources = { inherit (lib) cleanSource cleanSourceWith cleanSourceFilter; };

    # ------------------------------------------------------------- systems
    # Only the two systems the toolkit targets (nixpkgs exposes more).
    systems = {
      flakeExposed = [ "x86_64-linux" "aarch64-linux" ];
      doubles.linux = [ "x86_64-linux" "aarch64-linux" ];
      doubles.all = [ "x86_64-linux" "aarch64-linux" ];
      elaborate = system: let parts = lib.splitString "-" system; in {
        inherit system;
        config = "${b.head parts}-unknown-linux-gnu";
        isLinux = true; isDarwin = false;
        isx86_64 = b.head parts == "x86_64";
        isAarch64 = b.head parts == "aarch64";
        parsed.cpu.name = b.head parts;
        parsed.kernel.name = "linux";
        linuxArch = if b.head parts == "x86_64" then "x86_64" else "arm64";
        uname = { system = "Linux"; processor = b.head parts; };
        is64bit = true;
        # OCI `architecture` as nixpkgs' dockerTools computes it.
        go.GOARCH = if b.head parts == "x86_64" then "amd64" else "arm64";
        go.GOOS = "linux";
      };
    };

    # ----------------------------------------------------- module vocabulary
    # SIMPLE REPRESENTATIONS, NOT nixpkgs' module system: there is no
    # evalModules here.  mkIf/mkMerge/mkOverride return tagged attrsets with
    # the same `_type` names nixpkgs uses ("if", "merge", "override"), so a
    # test calling a module as a plain function can inspect them:
    #   mkIf c x   -> { _type = "if";       condition = c; content = x; }
    #   mkMerge xs -> { _type = "merge";    contents = xs; }
    #   mkDefault x-> { _type = "override"; priority = 1000; content = x; }
    # An option is `{ _type = "option"; type, default?, description?, ... }`;
    # a type is `{ _type = "option-type"; name; description; check; ... }`.
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    mkOverride = priority: content: { _type = "override"; inherit priority content; };
    mkOptionDefault = lib.mkOverride 1500;
    mkDefault = lib.mkOverride 1000;
    mkImageMediaOverride = lib.mkOverride 60;
    mkForce = lib.mkOverride 50;
    mkVMOverride = lib.mkOverride 10;
    mkOrder = priority: content: { _type = "order"; inherit priority content; };
    mkBefore = lib.mkOrder 500;
    mkAfter = lib.mkOrder 1500;
    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption = name: lib.mkOption {
      default = false; example = true;
      description = "Whether to enable ${name}.";
      type = lib.types.bool;
    };
    mkPackageOption = pkgs: name:
      { nullable ? false, default ? name, example ? null, extraDescription ? "", pkgsText ? "pkgs" }:
      let
        name' = if b.isList name then b.concatStringsSep "." name else name;
        default' = if b.isList default then default else [ default ];
        defaultText = b.concatStringsSep "." default';
        defaultValue = lib.attrByPath default'
          (b.throw "${defaultText} cannot be found in ${pkgsText}") pkgs;
      in lib.mkOption ({
        type = if nullable then lib.types.nullOr lib.types.package else lib.types.package;
        description = "The ${name'} package to use." + (if extraDescription == "" then "" else " " + extraDescription);
      } // (if default == null then { } else {
        default = defaultValue;
        defaultText = lib.literalExpression "${pkgsText}.${defaultText}";
      }) // lib.optionalAttrs (example != null) {
        example = if b.isString example then lib.literalExpression "${pkgsText}.${example}" else example;
      });
    mkRemovedOptionModule = optionName: replacementInstructions: { ... }: { };
    mkRenamedOptionModule = from: to: { ... }: { };
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    literalExample = lib.literalExpression;
    literalMD = text: { _type = "literalMD"; inherit text; };
    mdDoc = x: x;
    modules = { inherit (lib) mkIf mkMerge mkOverride mkOptionDefault mkDefault
      mkForce mkOrder mkBefore mkAfter mkRemovedOptionModule mkRenamedOptionModule; };
    options = { inherit (lib) mkOption mkEnableOption mkPackageOption
      literalExpression literalExample literalMD mdDoc; };

    types = let
      mkOptionType = { name, description ? name, check ? (_: true), ... }@attrs:
        { _type = "option-type"; descriptionClass = null; } // attrs // { inherit name description check; };
      t = lib.types;
    in {
      inherit mkOptionType;
      isType = type: x: (x._type or "") == type;
      anything = mkOptionType { name = "anything"; description = "anything"; };
      unspecified = mkOptionType { name = "unspecified"; };
      raw = mkOptionType { name = "raw"; description = "raw value"; };
      bool = mkOptionType { name = "bool"; description = "boolean"; check = b.isBool; };
      int = mkOptionType { name = "int"; description = "signed integer"; check = b.isInt; };
      ints = {
        positive = mkOptionType { name = "positiveInt"; description = "positive integer, meaning >0"; check = x: b.isInt x && x > 0; };
        unsigned = mkOptionType { name = "unsignedInt"; description = "unsigned integer, meaning >=0"; check = x: b.isInt x && x >= 0; };
        between = lo: hi: mkOptionType { name = "intBetween"; description = "integer between ${b.toString lo} and ${b.toString hi} (both inclusive)"; check = x: b.isInt x && x >= lo && x <= hi; };
      };
      float = mkOptionType { name = "float"; check = b.isFloat; };
      number = mkOptionType { name = "number"; check = x: b.isInt x || b.isFloat x; };
      str = mkOptionType { name = "str"; description = "string"; check = b.isString; };
      nonEmptyStr = mkOptionType { name = "nonEmptyStr"; description = "non-empty string"; check = x: b.isString x && x != ""; };
      singleLineStr = mkOptionType { name = "singleLineStr"; description = "(optionally newline-terminated) single-line string"; check = b.isString; };
      lines = mkOptionType { name = "lines"; description = "strings concatenated with \"\\n\""; check = b.isString; };
      commas = mkOptionType { name = "commas"; description = "strings concatenated with \",\""; check = b.isString; };
      envVar = mkOptionType { name = "envVar"; check = b.isString; };
      path = mkOptionType { name = "path"; description = "path"; check = x: b.isPath x || (b.isString x && b.substring 0 1 x == "/") || (lib.isDerivation x); };
      pathInStore = t.path;
      package = mkOptionType { name = "package"; description = "package"; check = x: lib.isDerivation x || b.isPath x; };
      attrs = mkOptionType { name = "attrs"; description = "attribute set"; check = b.isAttrs; };
      listOf = elemType: mkOptionType { name = "listOf"; description = "list of ${elemType.description}"; check = x: b.isList x && b.all elemType.check x; nestedTypes.elemType = elemType; };
      nonEmptyListOf = elemType: (t.listOf elemType) // { check = x: b.isList x && x != [ ] && b.all elemType.check x; };
      attrsOf = elemType: mkOptionType { name = "attrsOf"; description = "attribute set of ${elemType.description}"; check = x: b.isAttrs x && b.all elemType.check (b.attrValues x); nestedTypes.elemType = elemType; };
      lazyAttrsOf = elemType: (t.attrsOf elemType) // { name = "lazyAttrsOf"; };
      nullOr = elemType: mkOptionType { name = "nullOr"; description = "null or ${elemType.description}"; check = x: x == null || elemType.check x; nestedTypes.elemType = elemType; };
      either = t1: t2: mkOptionType { name = "either"; description = "${t1.description} or ${t2.description}"; check = x: t1.check x || t2.check x; nestedTypes = { left = t1; right = t2; }; };
      oneOf = ts: b.foldl' t.either (b.head ts) (b.tail ts);
      enum = values: mkOptionType { name = "enum"; description = "one of ${b.concatStringsSep ", " (b.map b.toJSON values)}"; check = x: b.elem x values; functor.payload = values; };
      submodule = modules: mkOptionType {
        name = "submodule"; description = "submodule"; check = x: b.isAttrs x || b.isFunction x;
        modules = lib.toList modules;
      };
      submoduleWith = { modules, ... }: t.submodule modules;
      functionTo = elemType: mkOptionType { name = "functionTo"; description = "function that evaluates to a(n) ${elemType.description}"; check = b.isFunction; };
      uniq = elemType: elemType;
      unique = { message }: elemType: elemType;
      coercedTo = from: f: to: mkOptionType { name = "coercedTo"; description = "${to.description} or ${from.description}"; check = x: from.check x || to.check x; };
    };
  };
in
makeExtensible libFn
