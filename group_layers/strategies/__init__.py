"""The layering strategies, by name.

Each is a function ``group(graph, popularity, budget) -> list[Layer]``:
``graph`` a :class:`~group_layers.graph.Graph`, ``popularity`` a dict from
package name to count (empty when no data was given), ``budget`` >= 1.
It must put every path in exactly one layer, return at most ``budget``
layers, and depend only on its arguments (never on dict or set order).
"""

from . import cohort, nixery

STRATEGIES = {"cohort": cohort.group, "nixery": nixery.group}
DEFAULT = "cohort"
