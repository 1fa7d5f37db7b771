"""The layer lock: a new plan that keeps what it can of the last one.

Why
---
A strategy decides from the image at hand (and the popularity data), so a
small change can regroup paths that did not change: adding one package to an
image makes cohorts that stood alone miss the budget, and an update that
rebuilds a cohort's head pulls its unchanged members again, update after
update.  ``group-layers --previous FILE`` reads the plan of the last build
(its JSON output, or a lock holding several images' plans: ``--image``
names one) and changes only what the new graph forces.

How paths are matched
---------------------
A store path in the old plan and in the new graph is *unchanged*.  Any other
path of the new graph is *changed* or *new*; it is matched to an old path of
the same package name and output (``cohort.output_of``: ``openssl``'s
``bin`` for ``openssl-3.0.9-bin``; hash and version may differ) to tell
where its layer goes, and whether it changed before (below).

The plan
--------
1. An old layer whose paths are all in the new graph is *kept*, in its old
   place: the same paths make the same tar, so the same blob, already on
   every client.  Old layers keep their order and what is new follows, so
   after an edit the whole old image is a prefix of the new one and Docker's
   classic storage reuses it by ChainID too.
2. Every other path (new, changed, or unchanged but in an old layer that
   cannot be kept) is grouped by the usual rules: the strategy's layers of
   the whole new graph, each cut down to these paths.  So the layers that
   replace a changed cohort are cut as a plan from scratch cuts them, the
   same in every image that holds the cohort.  They go where the old layers
   of their paths' packages were (new packages last).
3. A path that changed while its layer-mates did not is recorded in the
   plan (``changed`` in its layer's row; the lock carries it).  When one of
   those changes again, its layer is split: the unchanged mates in one
   layer, the changed paths in another.  Both are downloaded now anyway;
   from then on, when the same package changes again (security libraries
   and Python packages do, update after update), only the changed paths'
   layer is new.  Splitting at the first change instead costs sharing: one
   image splits a cohort another image has whole, and a random update rarely
   hits the same package twice.  A split is made only where the mates weigh
   at least ``1 / SPLIT`` of the changed paths (below that, the slot is worth
   more than what the mates save; measured on the public workload, 1 to 30).

The budget, and the compaction rule
-----------------------------------
The budget always holds; a split takes a slot only when the image has one
or can make one.  When the layers do not fit:

* with splits to make, the cheapest kept layers merge into one, once, so
  that the splits stay (later updates are cheap again);
* otherwise, the new layers fit the slots the kept ones leave, as a
  strategy fits its cohorts: the biggest alone, the others in one layer;
* when the kept layers leave no slot (an image at its budget gains a
  package), the cheapest kept layers join that last layer.  The cheapest
  counts a digest cache and a ChainID cache alike: its own bytes in both,
  and in a ChainID cache every kept layer after it, so it is mostly the last
  (the old rest layer) unless that is big.

This bounds the number of layers, not their drift: after many locked
updates the layers the lock made (unchanged mates cut from a cohort as the
image's own old plan had cut it, kept layers merged to fit) differ between
images, and a fresh pull of a workload shares less than plans from scratch
(``benchmarks/layer_lock.py``; docs/layer-lock.md has the figures and the
rules tried).

Without ``--previous`` none of this runs and the output is the strategy's.
"""

from .graph import package_name
from .layer import Layer
from .strategies.cohort import output_of

#: A layer's changed paths are split from its unchanged mates when the mates
#: weigh at least ``1 / SPLIT`` of them (see the module's docstring).
SPLIT = 4

#: Where each kind of new layer goes, after the kept ones.
_ORDER = {"unchanged mates": 0, "changed": 1, "new": 2}


def plan(graph, previous, layers, budget):
    """At most ``budget`` layers for ``graph`` from ``previous``, the old plan
    (its rows in image order: ``contents``, the store paths, and perhaps
    ``why`` and ``changed``), and ``layers``, the strategy's layers of the
    whole graph."""
    index = dict(zip(graph.paths, range(len(graph))))
    kept, place, volatile = [], {}, set()  # place: the key of a path of a layer not kept -> that layer
    regrouped = [False] * len(graph)
    for j, row in enumerate(previous):
        old = row["contents"]
        present = [index[p] for p in old if p in index]
        volatile.update(map(_key, row.get("changed", ())))
        if len(present) == len(old):
            changed = tuple(sorted(index[p] for p in row.get("changed", ())))
            kept.append(Layer(tuple(sorted(present)), row.get("why") or "kept", changed))
        else:
            for i in present:
                regrouped[i] = True
            for p in old:
                place.setdefault(_key(p), j)
    old_paths = {p for row in previous for p in row["contents"]}
    groups = []
    for layer in layers:
        members = [i for i in layer.members if regrouped[i] or graph.paths[i] not in old_paths]
        if members:
            keys = [_key(graph.paths[i]) for i in members]
            mates = [i for i in members if regrouped[i]]
            changed = [i for i in members if not regrouped[i]]
            again = any(key in volatile for i, key in zip(members, keys) if not regrouped[i])
            after = min(place.get(key, len(previous)) for key in keys)
            groups.append((after, mates, changed, again, layer.why))
    groups.sort(key=lambda g: g[0])  # stable: successors where their old layers were, new paths last
    return _fit(graph, kept, [g[1:] for g in groups], budget)


def _key(path):
    """What matches a store path across versions: its package name and output."""
    return output_of(package_name(path))


def _fit(graph, kept, groups, budget):
    """``kept`` (Layers), then ``groups`` (``(unchanged mates, changed and
    new, whether a changed one changed before, why)``: split in two where
    that is so) under ``budget``, by the compaction rule."""
    def size(members):
        return sum(map(graph.nar_size.__getitem__, members))

    split = [bool(m and c and again) and size(m) * SPLIT >= size(c) for m, c, again, _ in groups]
    over = len(kept) + len(groups) + sum(split) - budget
    merged, rest = [], []
    if over > 0 and any(split) and over < len(kept):
        # the splits stay: the cheapest kept layers merge into one, once
        for _ in range(over + 1):
            merged.extend(kept.pop(_cheapest(kept, size)).members)
    elif over > 0:
        split = [False] * len(groups)
        slots = budget - len(kept)
        while slots < 1:  # no slot left: the cheapest kept layers join what is new
            rest.extend(kept.pop(_cheapest(kept, size)).members)
            slots += 1
        if rest or len(groups) > slots:  # the biggest groups alone, the others in one
            ranked = sorted(range(len(groups)), key=lambda k: (-size(groups[k][0] + groups[k][1]), k))
            for k in ranked[0 if rest else slots - 1 :]:
                rest.extend(groups[k][0] + groups[k][1])
                split[k] = None
    layers = kept + ([Layer(tuple(sorted(merged)), "kept layers merged to fit the budget")] if merged else [])
    for (mates, changed, again, why), s in zip(groups, split):
        if s:
            layers += [Layer(tuple(mates), "unchanged mates"), Layer(tuple(changed), "changed", tuple(changed))]
        elif s is False:
            # changed paths beside unchanged ones: recorded, to be split off next time
            record = tuple(changed) if mates or again else ()
            layers.append(Layer(tuple(sorted(mates + changed)), "changed" if mates else why, record))
    if rest:
        layers.append(Layer(tuple(sorted(rest)), "rest: merged to fit the budget"))
    return layers


def _cheapest(kept, size):
    """Which of the ``kept`` layers to merge with what is new when they leave
    no slot: the one whose merge costs least, counting a digest cache and a
    ChainID cache alike.  It costs its own bytes in both (it becomes a new
    blob) and, in a ChainID cache, every layer after it."""
    cost, after = [0] * len(kept), 0
    for p in range(len(kept) - 1, -1, -1):
        own = size(kept[p].members)
        cost[p], after = 2 * own + after, after + own
    return min(range(len(kept)), key=lambda p: (cost[p], -p))
