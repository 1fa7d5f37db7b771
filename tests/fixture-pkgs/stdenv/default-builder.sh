# Fixture stand-in for nixpkgs' pkgs/stdenv/generic/default-builder.sh.
if [ -e "${NIX_ATTRS_SH_FILE:-}" ]; then . "$NIX_ATTRS_SH_FILE"; elif [ -f .attrs.sh ]; then . .attrs.sh; fi
source "$stdenv/setup"
genericBuild
