"""What a strategy returns: a layer is a set of paths and the reason it exists."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    """``members`` are sorted indices into ``Graph.paths``; ``why`` is one short
    phrase for people (``--format table``), e.g. "popular", "big", "rest"."""

    members: tuple
    why: str

    def size(self, graph):
        return sum(graph.nar_size[i] for i in self.members)
