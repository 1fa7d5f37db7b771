# Tool packages that wrap the HOST's binaries: each is a derivation whose
# bin/ holds symlinks to /usr/bin (Debian).  Versions are bookworm's.
{ lib, final }:

let
  hostTool = { pname, version, bins, mainProgram ? null, description ? pname, optionalBins ? [ ], passthru ? { } }:
    final.stdenvNoCC.mkDerivation {
      inherit pname version passthru;
      buildCommand = ''
        mkdir -p "$out/bin"
        for b in ${lib.escapeShellArgs bins}; do
          if [ -e "/usr/bin/$b" ]; then ln -s "/usr/bin/$b" "$out/bin/$b"
          elif [ -e "/usr/sbin/$b" ]; then ln -s "/usr/sbin/$b" "$out/bin/$b"
          else echo "fixture: host tool '$b' (package ${pname}) is missing; install it with apt" >&2; exit 1
          fi
        done
        for b in ${lib.escapeShellArgs optionalBins}; do
          if [ -e "/usr/bin/$b" ]; then ln -s "/usr/bin/$b" "$out/bin/$b"; fi
        done
      '';
      meta = { description = "${description} (host binaries, group-layers fixture)"; }
        // lib.optionalAttrs (mainProgram != null) { inherit mainProgram; };
    };
in
{
  coreutils = hostTool {
    pname = "coreutils"; version = "9.1";
    description = "GNU Core Utilities";
    bins = [ "[" "basename" "cat" "chmod" "chown" "cp" "cut" "date" "dd" "df" "dirname"
      "du" "echo" "env" "expr" "false" "head" "id" "install" "ln" "ls" "md5sum" "mkdir"
      "mkfifo" "mktemp" "mv" "nproc" "od" "paste" "printf" "pwd" "readlink" "realpath" "rm"
      "rmdir" "seq" "sha1sum" "sha256sum" "sha512sum" "sleep" "sort" "split" "stat"
      "tail" "tee" "test" "touch" "tr" "true" "truncate" "uname" "uniq" "wc" "whoami"
      "yes" "base64" "comm" "csplit" "fold" "join" "ptx" "shuf" "stdbuf" "sync" "tac"
      "timeout" "tsort" "unlink" ];
  };
  gnutar = hostTool { pname = "gnutar"; version = "1.34"; bins = [ "tar" ]; mainProgram = "tar"; description = "GNU tar"; };
  gzip = hostTool { pname = "gzip"; version = "1.12"; bins = [ "gzip" "gunzip" "zcat" ]; mainProgram = "gzip"; };
  findutils = hostTool { pname = "findutils"; version = "4.9.0"; bins = [ "find" "xargs" ]; mainProgram = "find"; };
  gnused = hostTool { pname = "gnused"; version = "4.9"; bins = [ "sed" ]; mainProgram = "sed"; };
  gnugrep = hostTool { pname = "gnugrep"; version = "3.8"; bins = [ "grep" "egrep" "fgrep" ]; mainProgram = "grep"; };
  diffutils = hostTool { pname = "diffutils"; version = "3.8"; bins = [ "diff" "cmp" ]; optionalBins = [ "diff3" "sdiff" ]; mainProgram = "diff"; };
  which = hostTool { pname = "which"; version = "2.21"; bins = [ "which" ]; mainProgram = "which"; };
  xz = hostTool { pname = "xz"; version = "5.4.1"; bins = [ "xz" ]; optionalBins = [ "unxz" "xzcat" ]; mainProgram = "xz"; };
  zstd = hostTool { pname = "zstd"; version = "1.5.4"; bins = [ "zstd" ]; optionalBins = [ "unzstd" "zstdcat" ]; mainProgram = "zstd"; };
  jq = hostTool { pname = "jq"; version = "1.6"; bins = [ "jq" ]; mainProgram = "jq"; };
  openssl = hostTool { pname = "openssl"; version = "3.0"; bins = [ "openssl" ]; mainProgram = "openssl"; };
  fakeroot = hostTool { pname = "fakeroot"; version = "1.31"; bins = [ "fakeroot" ]; mainProgram = "fakeroot"; };
  git = hostTool { pname = "git"; version = "2.39.5"; bins = [ "git" ]; mainProgram = "git"; description = "Git"; };
  skopeo = hostTool { pname = "skopeo"; version = "1.9.3"; bins = [ "skopeo" ]; mainProgram = "skopeo"; };
  umoci = hostTool { pname = "umoci"; version = "0.4.7"; bins = [ "umoci" ]; mainProgram = "umoci"; };
  nix = hostTool {
    pname = "nix"; version = "2.8.0"; mainProgram = "nix";
    bins = [ "nix" "nix-build" "nix-store" "nix-instantiate" "nix-env" "nix-shell" "nix-hash" ];
    optionalBins = [ "nix-collect-garbage" "nix-copy-closure" "nix-prefetch-url" "nix-channel" "nix-daemon" ];
  };
}
