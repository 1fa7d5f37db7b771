"""A base image (``fromImage``) read once into the shape of the image's own
layers, so that every later step (config, manifest, stream, SBOM) takes its
layers like any other (layers.py):

  main.py base SOURCE OUT

SOURCE is a ``docker load`` archive (a file), an OCI image layout (a folder
with ``oci-layout``; its index must name one image) or a folder of skopeo's
``dir:`` transport (what ``pullImage`` fetches). OUT gets

  config.json       the base's image config, as it was
  count             its number of layers
  registry/NNN/     each layer's blob as it was (same digest, same media
                    type: a registry that has the base has these blobs)
  stream/NNN/       each layer uncompressed, for the ``docker load`` archive
  registry/layers, stream/layers   the folders, bottom first

with a layer.json in each layer folder (as ../layer.sh writes it, plus
``compression``, read from the blob's first bytes, and ``base``). Every layer's uncompressed digest is checked
against the config's diff_ids: a damaged or mislabelled base stops here.
"""

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile

CHUNK = 1 << 20

GZIP_MAGIC, ZSTD_MAGIC = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"


class BadBase(Exception):
    pass


def main(source, out):
    try:
        config, blobs = _read(source)
        _write(config, blobs, out)
    except (BadBase, OSError, ValueError, KeyError, tarfile.TarError) as error:
        print(f"group-layers: fromImage {source}: {error}", file=sys.stderr)
        return 2
    return 0


def _read(source):
    """(config bytes, [a function opening each layer's blob])."""
    if os.path.isfile(source):
        return _docker_archive(source)
    if os.path.exists(os.path.join(source, "oci-layout")):
        with open(os.path.join(source, "index.json"), encoding="utf-8") as f:
            index = json.load(f)
        if len(index.get("manifests", [])) != 1:
            raise BadBase(f"its index.json names {len(index.get('manifests', []))} images, it must name one")
        return _by_manifest(lambda d: os.path.join(source, "blobs", *d.split(":")),
                            index["manifests"][0]["digest"], None)
    if os.path.exists(os.path.join(source, "version")):
        return _by_manifest(lambda d: os.path.join(source, d.split(":")[1]), None,
                            os.path.join(source, "manifest.json"))
    raise BadBase("not a docker load archive, an OCI layout or a skopeo dir: folder")


def _by_manifest(blob_path, digest, manifest_file):
    with open(manifest_file or blob_path(digest), "rb") as f:
        manifest = json.load(f)
    if "layers" not in manifest:
        raise BadBase(f"its manifest is a {manifest.get('mediaType', 'list')}, not one image's "
                      f"(pull one platform's image)")
    with open(blob_path(manifest["config"]["digest"]), "rb") as f:
        config = f.read()
    return config, [lambda d=layer["digest"]: open(blob_path(d), "rb") for layer in manifest["layers"]]


def _docker_archive(source):
    archive = tarfile.open(source)
    manifest = json.load(archive.extractfile("manifest.json"))
    if len(manifest) != 1:
        raise BadBase(f"it holds {len(manifest)} images, it must hold one")
    config = archive.extractfile(manifest[0]["Config"]).read()
    return config, [lambda name=name: archive.extractfile(name) for name in manifest[0]["Layers"]]


def _write(config, blobs, out):
    diff_ids = json.loads(config)["rootfs"]["diff_ids"]
    if len(diff_ids) != len(blobs):
        raise BadBase(f"its config has {len(diff_ids)} diff_ids for {len(blobs)} layers")
    for kind in ("registry", "stream"):
        os.makedirs(os.path.join(out, kind))
    with open(os.path.join(out, "config.json"), "wb") as f:
        f.write(config)
    with open(os.path.join(out, "count"), "w") as f:
        f.write(f"{len(blobs)}\n")
    for number, (opener, diff_id) in enumerate(zip(blobs, diff_ids)):
        name = f"{number:03}"
        registry, stream = (os.path.join(out, kind, name) for kind in ("registry", "stream"))
        os.makedirs(registry)
        os.makedirs(stream)
        blob = os.path.join(registry, "blob")
        with opener() as source, open(blob, "wb") as target:
            shutil.copyfileobj(source, target, CHUNK)
        with open(blob, "rb") as f:
            magic = f.read(4)
        compression = "gzip" if magic[:2] == GZIP_MAGIC else "zstd" if magic == ZSTD_MAGIC else "none"
        blob_digest, blob_size, md5 = _digests(blob)
        tar = os.path.join(stream, "layer.tar")
        _decompress(blob, compression, tar)
        tar_digest, tar_size, _ = _digests(tar)
        if tar_digest != diff_id:
            raise BadBase(f"layer {number} unpacks to {tar_digest}, its config says {diff_id}")
        record = {"diffId": diff_id, "size": tar_size, "base": True}
        _record(registry, {**record, "blob": "blob", "blobDigest": blob_digest, "blobSize": blob_size,
                           "md5": md5, "compression": compression})
        _record(stream, {**record, "blob": "layer.tar", "blobDigest": diff_id, "blobSize": tar_size,
                         "md5": "", "compression": "none"})
        for kind, folder in (("registry", registry), ("stream", stream)):
            with open(os.path.join(out, kind, "layers"), "a") as f:
                f.write(folder + "\n")


def _record(folder, record):
    with open(os.path.join(folder, "layer.json"), "w") as f:
        json.dump(record, f, sort_keys=True)


def _digests(path):
    sha256, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return "sha256:" + sha256.hexdigest(), size, md5.hexdigest()


def _decompress(blob, compression, target):
    if compression == "zstd":
        with open(target, "wb") as out:
            subprocess.run(["zstd", "-q", "-d", "-c", blob], stdout=out, check=True)
        return
    with (gzip.open(blob) if compression == "gzip" else open(blob, "rb")) as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out, CHUNK)
