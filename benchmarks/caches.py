"""What a client keeps between pulls, in two models, and what a pull costs.

Both see an image as its ordered layers, each a set of store paths (the same
paths make the same reproducible tar, hence the same digest) and a size.

* ``DigestCache``, content-addressed storage (containerd, podman, skopeo, a
  registry mirror): a layer is downloaded unless a layer with the same digest
  is already there, wherever it stood in whichever image.
* ``ChainCache``, Docker's classic graphdriver storage: a layer is identified
  by its ChainID, the digest of its own content *and of every layer below it*,
  so an image reuses only the longest prefix of its layer list that some image
  pulled before shares; from the first new layer on, everything is pulled.
  Here the order of the layers counts.
"""


class DigestCache:
    def __init__(self):
        self.seen = set()

    def pull(self, layers):
        """Bytes downloaded for ``layers``, ``[(frozenset of paths, size)]`` in
        image order; they are kept."""
        pulled = 0
        for key, size, *_ in layers:
            if key not in self.seen:
                self.seen.add(key)
                pulled += size
        return pulled


class ChainCache:
    def __init__(self):
        self.chains = {}  # (parent chain id, layer key) -> chain id

    def pull(self, layers):
        pulled, chain = 0, None
        for key, size, *_ in layers:
            link = (chain, key)
            if link not in self.chains:
                self.chains[link] = len(self.chains)
                pulled += size
            chain = self.chains[link]
        return pulled


MODELS = {"digest": DigestCache, "ChainID": ChainCache}
