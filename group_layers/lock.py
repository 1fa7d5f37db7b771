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
   every client.  Old layers keep their order and new packages follow, so
   after an edit the whole old image is a prefix of the new one and Docker's
   classic storage reuses it by ChainID too.
2. Every other path (new, changed, or unchanged but in an old layer that
   cannot be kept) is grouped by the usual rules: the strategy's layers of
   the whole new graph, each cut down to these paths.  So the layers that
   replace a changed cohort are cut as a plan from scratch cuts them, the
   same in every image that holds the cohort.  They go in the place of the
   old layers of their paths' packages (new packages last, layers merged to
   fit the budget after them).  After an update, images that had the same
   order before have it again, and share the new chain under ChainID as
   plans from scratch do (0.175 against 0.180 from scratch at budget 40,
   where putting them last gave 0.133).
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
  that the splits stay (later updates are cheap again), if those layers
  weigh no more than what the splits save at the next change (the mates
  not pulled again); else the split that saves least is given up, and so
  on (zlib1g, which changes nearly everything above it, cost more than
  plans from scratch at budget 20 without this: 0.587 against 0.616; 0.655
  with it);
* otherwise, the new layers fit the slots the kept ones leave, as a
  strategy fits its cohorts: the biggest alone, the others in one layer;
* when the kept layers leave no slot (an image at its budget gains a
  package), the cheapest kept layers join that last layer.  The cheapest
  weighs a digest cache (containerd, podman, registry mirrors) in full and
  Docker's classic ChainID cache at half: its own bytes, plus half of them
  and of every kept layer after it (in a ChainID cache those are new too).
  Measured on the public workload at budget 20, adding one package: both
  caches in full gave 0.941 of the ideal without popularity data; the digest
  cache alone 0.975, but the ChainID figure fell to 0.62 of 0.98 with it;
  this weighing gives 0.959, and a ChainID figure still 0.91x the digest
  figure with popularity data.

This bounds the number of layers, not their drift.  Drift is what makes
images share less over many locked changes: a cohort that the strategy
keeps whole in one layer ends up cut in pieces, part kept in an old layer,
part regrouped with what changed, and each image cuts it its own way.  A
fresh pull of a workload then downloads the pieces once per image.  So:

4. After the plan is made, it is measured against the strategy's layers of
   the same graph (made anyway, step 2).  A strategy layer is *drifted*
   when it holds a path this change touches (regrouped because a layer-mate
   changed, or the new version of a path that is gone) and the plan has its
   paths in more than one layer, not counting paths that changed before
   (``changed``: a split the lock made on purpose, cut the same way in
   every image).  If any layer is drifted, the plan is made afresh: the
   strategy's layers, with the paths that changed before still recorded,
   so that the splits come back when they change again.  This costs one
   larger download now, against smaller ones at every later change and a
   workload that shares like plans from scratch.  A new package touches
   nothing, nor does a removal (what it leaves of a layer is regrouped, but
   nothing changed), so an edit keeps its old layers.  Measured on the
   public workload, mean fresh-pull sharing over changes 11 to 20 at
   budgets 40 / 20: 0.97 / 0.98x a fresh plan's; allowing 3 % of the image
   to drift gave 0.92 / 0.94x, and no rule 0.69x at budget 20 after 20
   changes.  The named packages' repeated updates and an added package pull
   the same either way (``benchmarks/layer_lock.py``; docs/layer-lock.md
   has the figures).

Without ``--previous`` none of this runs and the output is the strategy's.
"""

from .graph import package_name
from .layer import Layer
from .strategies.cohort import output_of

#: A layer's changed paths are split from its unchanged mates when the mates
#: weigh at least ``1 / SPLIT`` of them (see the module's docstring).
SPLIT = 4


def plan(graph, previous, layers, budget):
    """At most ``budget`` layers for ``graph`` from ``previous``, the old plan
    (its rows in image order: ``contents``, the store paths, and perhaps
    ``why`` and ``changed``), and ``layers``, the strategy's layers of the
    whole graph."""
    index = dict(zip(graph.paths, range(len(graph))))
    old_paths = {p for row in previous for p in row["contents"]}
    renewed = {_key(p) for p in graph.paths if p not in old_paths}  # the keys of new and changed paths
    kept, place, volatile = [], {}, set()  # place: the key of a path of a layer not kept -> that layer
    regrouped = [False] * len(graph)
    touched = [False] * len(graph)  # regrouped because a layer-mate changed, or changed itself
    for j, row in enumerate(previous):
        old = row["contents"]
        present = [index[p] for p in old if p in index]
        volatile.update(map(_key, row.get("changed", ())))
        if len(present) == len(old):
            changed = tuple(sorted(index[p] for p in row.get("changed", ())))
            kept.append((j, Layer(tuple(sorted(present)), row.get("why") or "kept", changed)))
        else:
            updated = any(p not in index and _key(p) in renewed for p in old)
            for i in present:
                regrouped[i] = True
                touched[i] = updated
            for p in old:
                place.setdefault(_key(p), j)
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
    new = _fit(graph, kept, groups, budget)
    gone = {_key(p) for p in old_paths if p not in index}
    for i, p in enumerate(graph.paths):
        if p not in old_paths and _key(p) in gone:
            touched[i] = True
    if _drifted(graph, new, layers, touched, volatile):
        return _afresh(graph, layers, volatile)
    return new


def _drifted(graph, new, layers, touched, volatile):
    """Whether the ``new`` plan cuts in pieces one of the strategy's
    ``layers`` that holds a ``touched`` path (regrouped because a layer-mate
    changed, or the new version of a path that is gone), other than its paths
    that changed before apart from the others."""
    where = [0] * len(graph)
    for n, layer in enumerate(new):
        for i in layer.members:
            where[i] = n
    for layer in layers:
        if any(map(touched.__getitem__, layer.members)):
            pieces = {where[i] for i in layer.members}
            if len(pieces) > 1:
                pieces = {where[i] for i in layer.members if _key(graph.paths[i]) not in volatile}
            if len(pieces) > 1:
                return True
    return False


def _afresh(graph, layers, volatile):
    """The strategy's ``layers``, with the paths that changed before still
    recorded where they share a layer (so the next change splits them)."""
    def record(layer):
        changed = tuple(i for i in layer.members if _key(graph.paths[i]) in volatile)
        return changed if len(changed) < len(layer.members) else ()

    return [Layer(layer.members, layer.why, record(layer)) for layer in layers]


def _key(path):
    """What matches a store path across versions: its package name and output."""
    return output_of(package_name(path))


def _fit(graph, kept, groups, budget):
    """``kept`` (``(old place, Layer)``) and ``groups`` (``(old place,
    unchanged mates, changed and new, whether a changed one changed before,
    why)``: split in two where that is so) under ``budget``, by the
    compaction rule, in the order of their old places; what is merged last."""
    def size(members):
        return sum(map(graph.nar_size.__getitem__, members))

    split = [bool(m and c and again) and size(m) * SPLIT >= size(c) for _, m, c, again, _ in groups]
    merged, rest = [], []
    while any(split) and len(kept) + len(groups) + sum(split) > budget:
        # the splits stay if the kept layers merged to make room for them
        # cost no more than the splits save at the next change; else the
        # split that saves least is given up
        over = len(kept) + len(groups) + sum(split) - budget
        if over < len(kept):
            trial = list(kept)
            taken = [trial.pop(_cheapest(trial, size))[1] for _ in range(over + 1)]
            if sum(layer.size(graph) for layer in taken) <= sum(size(g[1]) for g, s in zip(groups, split) if s):
                kept, merged = trial, [i for layer in taken for i in layer.members]
                break
        split[min((k for k, s in enumerate(split) if s), key=lambda k: (size(groups[k][1]), k))] = False
    over = len(kept) + len(groups) + sum(split) + bool(merged) - budget
    if over > 0:
        split = [False] * len(groups)
        slots = budget - len(kept)
        while slots < 1:  # no slot left: the cheapest kept layers join what is new
            rest.extend(kept.pop(_cheapest(kept, size))[1].members)
            slots += 1
        if rest or len(groups) > slots:  # the biggest groups alone, the others in one
            ranked = sorted(range(len(groups)), key=lambda k: (-size(groups[k][1] + groups[k][2]), k))
            for k in ranked[0 if rest else slots - 1 :]:
                rest.extend(groups[k][1] + groups[k][2])
                split[k] = None
    layers = list(kept)
    for (after, mates, changed, again, why), s in zip(groups, split):
        if s:
            layers += [(after, Layer(tuple(mates), "unchanged mates")),
                       (after, Layer(tuple(changed), "changed", tuple(changed)))]
        elif s is False:
            # changed paths beside unchanged ones: recorded, to be split off next time
            record = tuple(changed) if mates or again else ()
            layers.append((after, Layer(tuple(sorted(mates + changed)), "changed" if mates and changed else why, record)))
    layers.sort(key=lambda entry: entry[0])  # stable
    layers = [layer for _, layer in layers]
    if merged:
        layers.append(Layer(tuple(sorted(merged)), "kept layers merged to fit the budget"))
    if rest:
        layers.append(Layer(tuple(sorted(rest)), "rest: merged to fit the budget"))
    return layers


def _cheapest(kept, size):
    """Which of the ``kept`` layers to merge with what is new when they leave
    no slot: the one whose merge costs least, a digest cache in full and a
    ChainID cache at half.  It costs its own bytes in both (it becomes a new
    blob) and, in a ChainID cache, every layer after it."""
    cost, after = [0] * len(kept), 0
    for p in range(len(kept) - 1, -1, -1):
        own = size(kept[p][1].members)
        cost[p], after = own + (own + after) / 2, after + own
    return min(range(len(kept)), key=lambda p: (cost[p], -p))
