"""Writes the image as a ``docker load`` archive to stdout, packing the store
layers from the store paths as it goes (nothing of the image is stored but
the layers' digests), as ``streamLayeredImage`` does.

The archive holds ``<config sha256>.json``, ``<diff_id>/layer.tar`` for each
layer and ``manifest.json``, in name order, with fixed owners, modes and
times, so that two runs and ``-A image`` (this stream, stored) are
byte-identical. Each store layer is packed by ``layer-tar.sh``, the script
its derivation ran at build time, and its bytes are counted and hashed on
the way: when they are not those the derivation recorded (a store path
changed on disk), the stream stops with an error before the archive's end,
so that no reader takes it for a whole image.
"""

import hashlib
import os
import subprocess
import sys
import tarfile

from layers import dumps

CHUNK = 1 << 20


class Mismatch(Exception):
    pass


def stream(config_file, repo_tag, layer_tar, layers, out):
    with open(config_file, "rb") as f:
        config = f.read()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = dumps([{"Config": config_name, "RepoTags": [repo_tag],
                       "Layers": [_hex(layer) + "/layer.tar" for layer in layers]}])
    entries = [(config_name, config), ("manifest.json", manifest)]
    entries += [(_hex(layer) + "/", None) for layer in layers]
    entries += [(_hex(layer) + "/layer.tar", layer) for layer in layers]
    written = 0
    for name, content in sorted(entries, key=lambda entry: entry[0]):
        info = tarfile.TarInfo(name.rstrip("/"))
        info.mtime, info.uid, info.gid, info.uname, info.gname = 1, 0, 0, "", ""
        if content is None:
            info.type, info.mode = tarfile.DIRTYPE, 0o555
        else:
            info.mode = 0o444
            info.size = len(content) if isinstance(content, bytes) else content.size
        header = info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
        out.write(header)
        if isinstance(content, bytes):
            out.write(content)
        elif content is not None:
            _write_layer(content, layer_tar, out)
        out.write(bytes(_padded(info.size) - info.size))
        written += len(header) + _padded(info.size)
    # The end of the archive: two empty blocks, then zeros to a whole record,
    # as tar writes it.
    end = 2 * tarfile.BLOCKSIZE
    out.write(bytes(end + (-(written + end)) % tarfile.RECORDSIZE))


def _padded(size):
    return size + (-size) % tarfile.BLOCKSIZE


def _hex(layer):
    return layer.diff_id.removeprefix("sha256:")


def _write_layer(layer, layer_tar, out):
    """Copies the layer's tar to out, checking its size and digest."""
    sha256, count = hashlib.sha256(), 0
    if layer.paths:
        # The paths file in the layer's folder is the list the derivation packed.
        command = ["bash", layer_tar, "store", os.path.join(layer.folder, "paths")]
        packer = subprocess.Popen(command, stdout=subprocess.PIPE)
        source = packer.stdout
    else:
        packer, source = None, open(layer.blob, "rb")
    with source:
        while chunk := source.read(CHUNK):
            if count + len(chunk) > layer.size:
                count += len(chunk)
                break
            count += len(chunk)
            sha256.update(chunk)
            out.write(chunk)
    too_long = count > layer.size
    if packer is not None and too_long:
        packer.kill()
    failed = packer is not None and packer.wait() != 0 and not too_long
    if failed or count != layer.size or "sha256:" + sha256.hexdigest() != layer.diff_id:
        what = "could not be packed" if failed else (
            f"now gives more than {layer.size} bytes" if too_long
            else f"now gives {count} bytes with sha256:{sha256.hexdigest()}")
        raise Mismatch(
            f"layer {layer.folder} {what}, its derivation recorded {layer.size} bytes "
            f"with {layer.diff_id}: a store path changed on disk "
            f"(see nix-store --verify --check-contents)")


def main(config_file, repo_tag, layer_tar, layers):
    if os.isatty(sys.stdout.fileno()):
        print("stream: the image is a tar archive; send it to a file or a program, "
              "e.g. ./result | docker load, ./result > image.tar", file=sys.stderr)
        return 2
    out = sys.stdout.buffer
    try:
        stream(config_file, repo_tag, layer_tar, layers, out)
    except Mismatch as error:
        out.flush()
        print(f"stream: {error}", file=sys.stderr)
        return 1
    out.flush()
    return 0
