"""What a strategy returns: a layer is a set of paths and the reason it exists.

A layer is named after its *head*, the member whose closure is the largest:
the top of the layer's part of the dependency tree (glibc for glibc's
cohort, not whichever member sorts first by hash). The output's ``name``
field is the head's package name, and build-image names the layer's
derivation after it."""

from collections import namedtuple


class Layer(namedtuple("Layer", "members why changed", defaults=((),))):
    """``members`` are sorted indices into ``Graph.paths``; ``why`` is one short
    phrase for people (``--format table``), e.g. "popular", "big", "rest";
    ``changed``, the members that changed while others did not, for the
    layer lock (``lock.py``) to split off next time."""

    def size(self, graph):
        return sum(map(graph.nar_size.__getitem__, self.members))

    def head(self, graph):
        """The member with the largest closure (the first such path on a tie)."""
        closure = list(map(graph.closure_size.__getitem__, self.members))
        return self.members[closure.index(max(closure))]
