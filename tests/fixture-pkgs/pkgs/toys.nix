# Toy packages with real store references, for closure/layering tests.
#   hello -> libgreeting, bash          (hello's bin/hello is a bash script)
#   libgreeting: a shell "library" plus ~256 KiB of data
#   "greeting-1.0": an attribute whose name has a dot, as overlays and
#     nixpkgs have (a version-pinned data package)
#   unfree-tool, broken-tool, insecure-tool: refused by the meta checks
{ lib, final }:

let
  toyRefused = pname: meta: final.stdenv.mkDerivation {
    inherit pname;
    version = "1.0";
    buildCommand = ''
      mkdir -p "$out/share/${pname}"
      echo "${pname} (group-layers fixture)" > "$out/share/${pname}/README"
    '';
    meta = meta // { description = "Toy package nixpkgs' meta checks refuse (group-layers fixture)"; };
  };
in
{
  libgreeting = final.stdenv.mkDerivation {
    pname = "libgreeting";
    version = "1.0";
    buildCommand = ''
      mkdir -p "$out/lib" "$out/share/libgreeting"
      cat > "$out/lib/libgreeting.sh" <<'EOF_LIB'
      # libgreeting: toy shell library (group-layers fixture)
      greeting() {
          local who="''${1:-world}"
          printf 'Hello, %s!\n' "$who"
      }
      EOF_LIB
      # deterministic filler data (~256 KiB): a "locale database"
      seq -w 1 37449 > "$out/share/libgreeting/locale.db"
    '';
    meta.description = "Toy greeting library (group-layers fixture)";
  };

  "greeting-1.0" = final.writeTextDir "share/greeting/greeting.txt" "Hello from greeting 1.0\n";

  hello = final.stdenv.mkDerivation (finalAttrs: {
    pname = "hello";
    version = "2.12.1";
    buildCommand = ''
      mkdir -p "$out/bin" "$out/share/doc/hello"
      cat > "$out/bin/hello" <<EOF_HELLO
      #!${final.bash}/bin/bash
      # toy GNU hello (group-layers fixture)
      source ${final.libgreeting}/lib/libgreeting.sh
      case "\''${1:-}" in
        --version) echo "hello (GNU Hello) ${finalAttrs.version}" ;;
        -g|--greeting) shift; echo "\$*" ;;
        *) greeting "\$@" ;;
      esac
      EOF_HELLO
      chmod +x "$out/bin/hello"
      echo "Toy GNU Hello for the group-layers test fixture." > "$out/share/doc/hello/README"
    '';
    meta = {
      description = "Toy GNU Hello (group-layers fixture)";
      mainProgram = "hello";
      platforms = lib.systems.flakeExposed;
    };
  });

  # Packages nixpkgs' meta checks refuse by default (./check-meta.nix): an
  # unfree one, a broken one and an insecure one, each a small text file.
  unfree-tool = toyRefused "unfree-tool" { license = { shortName = "unfree"; fullName = "Unfree"; free = false; }; };
  broken-tool = toyRefused "broken-tool" { broken = true; };
  insecure-tool = toyRefused "insecure-tool" { knownVulnerabilities = [ "CVE-2026-00001: toy vulnerability" ]; };
}
