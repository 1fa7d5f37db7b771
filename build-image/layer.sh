# Builds one layer: the builder of a layer's derivation (a plain `derivation`,
# no stdenv, see build-image.nix), also run for each layer by the single
# derivation of `groupAtBuildTime`. It packs the layer once (layer-tar.sh) and
# takes, in that one pass, everything later steps need:
#
#   $layerOut/layer.json  {"diffId": "sha256:<tar's sha256>", "size": <tar's bytes>,
#                          "blob": <file name or null>, "blobDigest": "sha256:...",
#                          "blobSize": N, "md5": "<blob's md5, hex>"}
#   $layerOut/paths       the store paths, one a line (store layers only)
#   $layerOut/<blob>      with keepBlob=1: layer.tar, layer.tar.gz or layer.tar.zst
#
# Without keepBlob the tarball is not kept: a streamed image packs the paths
# again at run time and checks the bytes against diffId and size.
#
# Environment: layerOut (default $out), layerSource (store or dir), layerPaths
# (file of store paths; layerPathsPath when Nix passes it as a file) or layerDir/layerUid/layerGid (and layerOwners, see layer-tar.sh), compression
# (none, gzip or zstd), keepBlob (1 or empty), toolPath (PATH), layerTar
# (layer-tar.sh).
#
# Why the script ends with `exit 0` (so do all builders here): when bash
# execs a builder's last command, a coreutils program closes stdout and
# stderr just before it exits; Nix 2.8 sees the log pipe reach EOF while the
# builder process is still alive, kills it and fails the build with "signal 9
# (Killed)". Rare per build, frequent over the hundreds of builds of a cold
# image under load.
set -eu -o pipefail
if [ -n "${toolPath:-}" ]; then export PATH=$toolPath; fi
out=${layerOut:-$out}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "$layerSource" = store ]; then
  source=(store "$out/paths")
  cp "${layerPathsPath:-$layerPaths}" "$out/paths"
else
  source=(dir "$layerDir" "${layerUid:-0}" "${layerGid:-0}" ${layerOwners:+"$layerOwners"})
fi

mkfifo "$work/tar-size" "$work/tar-sha256"
wc -c < "$work/tar-size" > "$work/size" &
sizeReader=$!

blob=null
if [ -z "${keepBlob:-}" ]; then
  bash "$layerTar" "${source[@]}" | tee "$work/tar-size" | sha256sum > "$work/diff-id"
  wait "$sizeReader"
  cp "$work/diff-id" "$work/blob-digest"
  echo > "$work/md5"
  cp "$work/size" "$work/blob-size"
else
  case "$compression" in
  none) name=layer.tar; compress=(cat) ;;
  gzip) name=layer.tar.gz; compress=(gzip -n -6 -c) ;;
  zstd) name=layer.tar.zst; compress=(zstd -q -c -3 -T1) ;;
  *) echo "layer.sh: unknown compression '$compression'" >&2; exit 2 ;;
  esac
  blob="\"$name\""
  sha256sum < "$work/tar-sha256" > "$work/diff-id" &
  shaReader=$!
  mkfifo "$work/blob-md5"
  md5sum < "$work/blob-md5" > "$work/md5" &
  md5Reader=$!
  bash "$layerTar" "${source[@]}" | tee "$work/tar-size" "$work/tar-sha256" \
    | "${compress[@]}" | tee "$out/$name" "$work/blob-md5" | sha256sum > "$work/blob-digest"
  wait "$sizeReader" "$shaReader" "$md5Reader"
  stat -c %s "$out/$name" > "$work/blob-size"
fi

field() { cut -d ' ' -f 1 < "$work/$1"; }
printf '{"diffId":"sha256:%s","size":%s,"blob":%s,"blobDigest":"sha256:%s","blobSize":%s,"md5":"%s"}\n' \
  "$(field diff-id)" "$(field size)" "$blob" "$(field blob-digest)" "$(field blob-size)" "$(field md5)" \
  > "$out/layer.json"
exit 0
