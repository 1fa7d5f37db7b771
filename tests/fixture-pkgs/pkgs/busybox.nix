# busybox: Debian's busybox-static (a statically linked binary, so it runs
# in a container image with nothing else), copied into the store, with its
# applets as links beside it laid out as nixpkgs' busybox has them (its
# CONFIG_INSTALL_NO_USR: bin/ and sbin/, no usr/): bin/sh, bin/ls, ...,
# sbin/ifconfig, ... The only program of the offline set that runs in an
# image; the others wrap the host's tools.
{ lib, final }:

{
  busybox = final.stdenvNoCC.mkDerivation {
    pname = "busybox";
    version = "1.35.0";
    buildCommand = ''
      # Debian's busybox-static; its busybox package has a dynamically linked
      # one at the same place, which needs the host's libc in the image.
      bin=/usr/bin/busybox
      linked=$(ldd "$bin" 2>&1 || true)   # ldd fails on a static binary
      case $linked in
        *"not a dynamic executable"*|*"statically linked"*) ;;
        *) echo "fixture: no statically linked /usr/bin/busybox; apt-get install busybox-static" >&2; exit 1 ;;
      esac
      mkdir -p "$out/bin" "$out/sbin"
      cp "$bin" "$out/bin/busybox"
      # --list-full names each applet where Debian installs it (bin/sh,
      # usr/bin/awk, sbin/ifconfig, usr/sbin/...): without usr/, as in nixpkgs.
      "$out/bin/busybox" --list-full | while read -r applet; do
        applet=''${applet#usr/}
        case $applet in
          bin/busybox) ;;
          bin/*) ln -s busybox "$out/$applet" ;;
          sbin/*) ln -s ../bin/busybox "$out/$applet" ;;
        esac
      done
    '';
    meta = {
      description = "Tiny versions of common UNIX utilities in a single small executable (Debian's busybox-static, group-layers fixture)";
      mainProgram = "busybox";
      platforms = lib.systems.flakeExposed;
    };
  };
}
