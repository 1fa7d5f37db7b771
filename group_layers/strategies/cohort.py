"""The default strategy, ``cohort``: layers that come back in every image.

Why layering at all
-------------------
A user pulls many images built from one package set.  A layer they already
have is not downloaded again, and two images share a layer only when it holds
exactly the same store paths (the same paths make the same reproducible tar,
hence the same digest).  With one layer per path everything that can be shared
is shared, but registries and runtimes cap the number of layers, so paths must
be merged, and every merged layer is a bet: it is reused only if some other
image needs exactly that set again.

What Nixery and the simple heuristics get wrong
-----------------------------------------------
Nixery cuts the image's dominator tree into subtrees, and buildLayeredImage
keeps the ``budget - 1`` best paths alone and merges the rest.  Both decide
from the image at hand: which subtree a library falls in, or which paths make
it into the top ``budget - 1``, changes with every other package in the image,
so their merged layers are different in nearly every image and are downloaded
again and again.

The idea: cohorts
-----------------
A merged layer comes back only if its paths *travel together*: whenever one of
them is in an image, the others are too, and nothing else joins them.  Nix
tells half of that for free: when ``p`` is in an image, its whole closure is.
Popularity tells the other half.  ``pop(q)`` counts the packages of the whole
package set whose closure holds ``q``, ``q`` itself included (Nixery's
convention, and ``popcount``'s); if ``q`` is referenced by ``p`` and ``pop(p)``
is close to ``pop(q)``, then nearly every package that needs ``q`` needs it
through ``p``: ``q`` is almost never present without ``p``.

So each path ``q`` with referrers looks at its most popular referrer ``p`` in
the image (ties by path) and joins ``p``'s cohort when

1. ``p`` and its users are at least half of ``q``'s users: ``2 pop(p) >=
   pop(q)``.  Another referrer ``r`` of ``q`` (not a user of ``p``) can then
   be as popular as ``p`` only if many packages need both: without shared
   users, those of ``r`` and of ``p`` are disjoint shares of the ``pop(q) - 1``
   users of ``q``, so ``pop(r) < pop(p)``.  So, but for shared users, ``q``
   picks ``p`` in every image that holds both, and ``p``'s cohort does not
   change with the rest of the image (the tests check that shared users are
   the only way it can).  Without this rule a small library would join a
   different big package in each image and make *its* layer differ.  (With
   counts that leave the path itself out, as in the benchmark's corpus, the
   rule is only a little stricter.)
2. the bytes the merge can cost are small: ``q`` is downloaded again in the
   images that have ``q`` without ``p``, a share of about
   ``(pop(q) - pop(p)) / (pop(q) + 1)`` of its uses, so the merge is taken
   when ``narSize(q) * share <= MERGE_SCALE / budget**2``.  A layer slot is
   worth more the fewer there are: the bound grows as the budget shrinks, and
   is the same for every image built with that budget.

Cohorts chain (``q`` joins ``p``, ``p`` joins ``r``), and each cohort is named
by its top path, its *head*.  Both rules depend only on the paths themselves,
their sizes and their popularity, never on what else the image holds, so the
same cohort is cut the same way in every image that contains its head (but
for the shared users of rule 1).

Finally the cohorts are ranked by size; the ``budget - 1`` biggest stand alone
and the others share the last layer.  Popularity has done its work in the
cohorts already: weighting the ranking by it as well only made sharing worse
(``python -m benchmarks.sharing --sensitivity``).

Without popularity data the image itself stands in for the package set:
``pop(q)`` is the number of the image's paths that need ``q``, plus one.  The rules then
see only part of the users, so cohorts vary more between images, but the
scheme still shares far better than Nixery's with popularity.

Worked example
--------------
Nixery's example, with sizes and popularity, at budget 3 (so the bound of
rule 2 is ``1e9 / 9``, about 111 MB)::

    root -> A, B          A -> C, D      B -> D, E      D -> F     E -> G
    pop:  A 1, B 1, C 2, D 3, E 2, F 4, G 3
    size: A 50M, B 40M, C 1M, D 30M, E 2M, F 80M, G 1M

* C (used by A alone) and E (by B alone) join A and B: rule 1 holds
  (``2*1 >= 2``) and they cost ``1M * 1/3`` and ``2M * 1/3``.
* G's only referrer E has pop 2, G has 3: ``2*2 >= 3``, cost ``1M * 1/4``:
  G joins E, hence B's cohort.
* D is referenced by A and B, pop 1 each, and has pop 3: neither is half of
  D's users (``2*1 < 3``), so D heads a cohort of its own.
* F's only referrer D has pop 3, F has 4: ``2*3 >= 4``, cost
  ``80M * 1/5 = 16M`` below 111M: F joins D.

Cohorts: {A, C}, {B, E, G}, {D, F}.  An image of A gets {A, C} and {D, F}, an
image of B gets {B, E, G} and {D, F}, an image of both gets all three: {D, F}
is downloaded once for all of them.  Nixery gives the image of A a single
layer {A, C, D, F}, which no other image shares.
"""

from ..layer import Layer

#: Bytes of expected re-download a merge may cost at a budget of 1; divided by
#: ``budget ** 2``: about 108 kB at 96 layers, 625 kB at 40, 2.5 MB at 20.
MERGE_SCALE = 10**9


def group(graph, popularity, budget, merge_scale=MERGE_SCALE):
    """Cut ``graph`` into at most ``budget`` layers of cohorts (``merge_scale``
    is there to measure how much the results depend on it)."""
    pop = _popularity(graph, popularity)

    def rank(item):
        top, members = item
        return (-sum(graph.nar_size[i] for i in members), top)

    ranked = sorted(_cohorts(graph, pop, merge_scale / budget**2).items(), key=rank)
    alone = len(ranked) if len(ranked) <= budget else budget - 1
    layers = [Layer(tuple(m), _why(pop, top, m)) for top, m in ranked[:alone]]
    if alone < len(ranked):
        rest = sorted(i for _, m in ranked[alone:] for i in m)
        layers.append(Layer(tuple(rest), f"rest: {len(ranked) - alone} cohorts"))
    return layers


def cohorts(graph, popularity, budget, merge_scale=MERGE_SCALE):
    """``{head: [members]}`` (path indices) before any are merged to fit the
    budget: what the benchmark checks for stability between images."""
    return _cohorts(graph, _popularity(graph, popularity), merge_scale / budget**2)


def _cohorts(graph, pop, limit):
    n = len(graph)
    referrers = [[] for _ in range(n)]
    for i, refs in enumerate(graph.refs):
        for r in refs:
            referrers[r].append(i)
    head = list(range(n))
    for q in range(n):
        if not referrers[q]:
            continue
        p = max(referrers[q], key=lambda r: (pop[r], r))
        share = (pop[q] - pop[p]) / (pop[q] + 1)
        if 2 * pop[p] >= pop[q] and graph.nar_size[q] * share <= limit:
            head[q] = p
    found = {}
    for i in range(n):
        found.setdefault(_find(head, i), []).append(i)
    return found


def _popularity(graph, popularity):
    """Popularity per path index, counting the path itself as Nixery's data and
    ``popcount`` do.  A missing entry reads as 1, as in Nixery (counts of 1 are
    not kept).  With no data at all, the image is taken for the package set."""
    if not popularity:
        return [users + 1 for users in graph.user_counts()]
    return [popularity.get(name, 1) for name in graph.names]


def _find(head, i):
    """The cohort head of ``i``, compressing the chain on the way."""
    top = i
    while head[top] != top:
        top = head[top]
    while head[i] != top:
        head[i], i = top, head[i]
    return top


def _why(pop, top, members):
    """"shared" when more than one other package needs the cohort's head."""
    kind = "shared" if pop[top] > 2 else "private"
    return f"{kind} cohort of {len(members)}" if len(members) > 1 else kind

