# Writes one layer's tarball to stdout; the one place that says how a layer
# is packed, run by the layer's derivation (to take its digests, see
# layer.sh) and again by the streamed image at run time (stream.py), so that
# both give the same bytes.
#
#   bash layer-tar.sh store PATHS-FILE    the store paths listed (one a line),
#                                         below the folders of the store (/nix,
#                                         /nix/store), owned by root
#   bash layer-tar.sh dir DIR UID GID [OWNERS]
#                                         the contents of DIR at /, owned by
#                                         UID:GID (the customisation layer);
#                                         OWNERS, a file of "UID GID PATH"
#                                         lines, gives PATH (relative to DIR)
#                                         and all below it to another owner
#                                         (users' homes): those are left out
#                                         and appended after, one tar run each
#
# Reproducible: names sorted, mtime 1 (1970-01-01T00:00:01Z), numeric owner
# and group, hard links stored as files, the GNU format. Needs bash, coreutils
# and GNU tar on PATH.
set -eu -o pipefail
export LC_ALL=C
flags=(--create --format=gnu --sort=name --mtime=@1 --numeric-owner --hard-dereference)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

case "$1" in
store)
  # The store's folders, as relative names: nix, nix/store.
  read -r first < "$2"
  storeDir=${first%/*}
  parents=()
  parent=""
  IFS=/ read -r -a parts <<< "${storeDir#/}"
  for part in "${parts[@]}"; do
    parent=${parent:+$parent/}$part
    parents+=("$parent")
  done
  mkdir -p "$work/skeleton/${storeDir#/}"
  (cd "$work/skeleton" && chmod 0755 "${parents[@]}")
  while IFS= read -r path; do printf '%s\n' "${path#/}"; done < "$2" > "$work/members"
  tar "${flags[@]}" --owner=0 --group=0 \
    --directory "$work/skeleton" --no-recursion "${parents[@]}" \
    --directory / --recursion --verbatim-files-from --files-from "$work/members"
  ;;
dir)
  (cd "$2" && shopt -s dotglob nullglob && for e in *; do printf '%s\n' "$e"; done) > "$work/members"
  if [ -z "${5:-}" ]; then
    tar "${flags[@]}" --owner="$3" --group="$4" \
      --directory "$2" --verbatim-files-from --files-from "$work/members"
  else
    owned=()
    while read -r uid gid path; do owned+=("--exclude=$path"); done < "$5"
    tar "${flags[@]}" --file "$work/layer.tar" --owner="$3" --group="$4" \
      --anchored --no-wildcards "${owned[@]}" \
      --directory "$2" --verbatim-files-from --files-from "$work/members"
    while read -r uid gid path; do
      tar "${flags[@]/--create/--append}" --file "$work/layer.tar" --owner="$uid" --group="$gid" \
        --directory "$2" -- "$path"
    done < "$5"
    cat "$work/layer.tar"
  fi
  ;;
*)
  echo "layer-tar.sh: unknown source '$1' (store or dir)" >&2
  exit 2
  ;;
esac
# Returning from the script rather than letting bash exec tar as its last
# command: see layer.sh.
exit 0
