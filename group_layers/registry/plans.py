"""The last plan of each image name, kept in the storage for the next build
of that name: the server's layer lock (docs/layer-lock.md).

A build of image ``name`` is given the plan of the last build of that name
as its ``layerLock`` and asked for its own plan too (the ``buildImage.lock``
attribute, built beside the image); the new plan then replaces the old one.
So when the package set moves on, the next build of the name keeps every
layer of the last one that still fits, and clients download only what
changed.  Plans live in the storage folder, ``plans/<sha256 of the
name>.lock``, written to ``tmp/`` and renamed into place like everything
there: replicas on one storage share them, and the last build of a name
wins.  ``--no-layer-lock`` turns this off.
"""

import hashlib
import os
import shutil
import uuid


class Plans:
    def __init__(self, storage):
        self.folder = storage.root / "plans"
        self.tmp = storage.tmp
        self.folder.mkdir(parents=True, exist_ok=True)

    def _file(self, name):
        return self.folder / f"{hashlib.sha256(name.encode()).hexdigest()}.lock"

    def build_args(self, name):
        """The wrapper's arguments for a build of image ``name``: the last
        plan, if there is one, and the attribute of the new one (its path is
        printed before manifest-output.json's)."""
        last = self._file(name)
        return (["--argstr", "layerLock", str(last)] if last.is_file() else []) + ["-A", "buildImage.lock"]

    def keep(self, name, lock_file):
        """Make ``lock_file`` (the build's plan) the plan of ``name``."""
        temp = self.tmp / f"{os.getpid()}-{uuid.uuid4().hex}"
        try:
            shutil.copyfile(lock_file, temp)
            os.chmod(temp, 0o644)
            os.replace(temp, self._file(name))
        finally:
            temp.unlink(missing_ok=True)
