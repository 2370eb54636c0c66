"""The settings of the mutation operators: the ``[mutation]`` config section (§III-D/E, §IV).

:class:`MutationParams` checks its own values when built (a :class:`~ecosim.errors.ConfigError`
naming the ``mutation.*`` key), so a bad value stops a run before any work. The two settings
given as text are parsed here: ``family_weights`` (:func:`parse_family_weights`, read by
:func:`~ecosim.genome.mutation_choice.mutation_weights`) and ``new_kernel_shape``
(:func:`parse_kernel_shape`, read by :mod:`ecosim.genome.new_structure`).

Pure Python and numpy: no torch, no Ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ecosim.errors import ConfigError
from ecosim.genome.genome import Shape2
from ecosim.genome.mutation_kinds import FAMILIES, MutationKind

#: ``mutation.resize_dimension``: how a kernel or stride resize picks its dimension (§III-E)
RESIZE_DIMENSIONS = ("uniform", "eq1")


#: the most nodes one node mutation may add or remove (``mutation.nodes_per_mutation``): a bound
#: far above any layer's useful width, so a typo is an error, not a run that hangs drawing nodes
MAX_NODES_PER_MUTATION = 1024

#: the most nodes (kernels or neurons) of a layer a setting gives (``ecosystem.initial_layers``,
#: ``mutation.new_layer_max_nodes``): far above a useful width, so a typo is an error at once
MAX_LAYER_NODES = 4096


def _invalid(key: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(f"config 'mutation.{key}' = {value!r} is invalid: must be {allowed}")


def parse_family_weights(spec: str) -> dict[MutationKind, float] | None:
    """``"layer=1,node=1,kernel=2,stride=0.5"`` → a weight per mutation kind; ``""`` → ``None`` (eqs. 3–6).

    A name is a family of :data:`~ecosim.genome.mutation_kinds.FAMILIES` (its weight is shared
    by its two directions; a direction without a feasible target passes its share to the other)
    or a single kind such as ``add_layer`` (that kind alone). Kinds not named weigh 0;
    whitespace is ignored. Each kind is weighed once: a name repeated, or a kind named beside
    its family (``layer=1,add_layer=2``), is an error rather than a silent override.

    Raises:
        ConfigError: bad syntax, an unknown name, a kind weighed twice, a negative or non-finite
            weight, or all zero; the message names ``mutation.family_weights``.

    >>> w = parse_family_weights("layer=1, shrink_kernel=0.5")
    >>> w[MutationKind.ADD_LAYER], w[MutationKind.SHRINK_KERNEL], w[MutationKind.GROW_KERNEL]
    (0.5, 0.5, 0.0)
    """
    if not spec.strip():
        return None
    names = [*FAMILIES, *(k.value for k in MutationKind)]
    allowed = "'' (eqs. 3-6) or 'name=weight,...' with names " + ", ".join(names) + ", weights ≥ 0, not all 0"
    out = dict.fromkeys(MutationKind, 0.0)
    named_by: dict[MutationKind, str] = {}

    def bad(reason: str) -> ConfigError:
        return ConfigError(f"config 'mutation.family_weights' = {spec!r} is invalid ({reason}): must be {allowed}")

    for part in spec.split(","):
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or name not in names:
            raise bad(f"{part.strip()!r} is not name=weight" if not eq else f"unknown name {name!r}")
        try:
            w = float(value)
        except ValueError:
            raise bad(f"{value.strip()!r} is not a number") from None
        if not np.isfinite(w) or w < 0:
            raise bad(f"{name}={value.strip()} is not a weight ≥ 0")
        if name in named_by.values():
            raise ConfigError(
                f"config 'mutation.family_weights' = {spec!r} is invalid: {name!r} is named twice; name each kind "
                "or family once"
            )
        kinds = FAMILIES[name] if name in FAMILIES else (MutationKind(name),)
        for kind in kinds:
            if kind in named_by:
                raise ConfigError(
                    f"config 'mutation.family_weights' = {spec!r} is invalid: {kind.value} is weighed twice "
                    f"(by {named_by[kind]!r} and {name!r}); name each kind or family once"
                )
            named_by[kind] = name
            out[kind] = w / len(kinds)
    if sum(out.values()) <= 0:
        raise bad("every weight is 0")
    return out


def canonical_family_weights(spec: str) -> str:
    """``spec`` as ``mutation.family_weights`` is stored: one spelling per setting, so that two spellings
    of it are one experiment in ``ecosim report``. Names in the order of the kinds they weigh
    (:class:`~ecosim.genome.mutation_kinds.MutationKind`: layer, node, kernel, stride), weights as the
    shortest number that reads back exactly (``1.0`` → ``1``), no whitespace. ``""`` stays ``""``.

    Raises:
        ConfigError: ``spec`` is invalid (:func:`parse_family_weights`).

    >>> canonical_family_weights(" node = 1.0 , layer=1e0 ")
    'layer=1,node=1'
    >>> canonical_family_weights("add_layer=1,remove_layer=0.5,node=1,kernel=1,stride=1")
    'add_layer=1,remove_layer=0.5,node=1,kernel=1,stride=1'
    """
    if parse_family_weights(spec) is None:
        return ""
    kinds = list(MutationKind)
    entries = []
    for part in spec.split(","):
        name, _, value = (x.strip() for x in part.partition("="))
        first = FAMILIES[name][0] if name in FAMILIES else MutationKind(name)
        entries.append((kinds.index(first), name, repr(float(value)).removesuffix(".0")))
    return ",".join(f"{name}={value}" for _, name, value in sorted(entries))


def named_families(spec: str) -> set[str]:
    """The family names of :data:`~ecosim.genome.mutation_kinds.FAMILIES` (not single kinds) in a
    ``family_weights`` spec.

    >>> sorted(named_families("layer=1, add_node=2, kernel=1"))
    ['kernel', 'layer']
    """
    return {part.partition("=")[0].strip() for part in spec.split(",")} & set(FAMILIES)


def parse_kernel_shape(spec: str) -> Shape2 | None:
    """``"3x3"`` → ``(3, 3)``; ``""`` → ``None`` (shapes by eq. 1).

    Raises:
        ConfigError: not ``<h>x<w>`` with odd ``h, w ≥ 1``; names ``mutation.new_kernel_shape``.

    >>> parse_kernel_shape("3x5")
    (3, 5)
    """
    if not spec.strip():
        return None
    h, x, w = spec.strip().partition("x")
    if not x or not h.isdigit() or not w.isdigit() or int(h) % 2 == 0 or int(w) % 2 == 0:
        raise _invalid("new_kernel_shape", spec, "'' (eq. 1) or '<h>x<w>' with odd h, w ≥ 1, e.g. '3x3'")
    return int(h), int(w)


@dataclass(frozen=True)
class MutationParams:
    """Settings of the mutation operators; the ``[mutation]`` config section (§III-D, §III-E, §IV).

    Args:
        init_std (float, default 0.1): standard deviation of new connections (paper §IV).
        function_preserving (bool, default False): initialise new structure so that the offspring
            computes exactly what its parent did, for every mutation where that is possible: a new
            node's outgoing weights and a grown kernel's new tiles are zero; a new conv layer is an
            identity of 1×1 kernels (a ± pair per channel on the signed input image, since
            ReLU(x) − ReLU(−x) = x); a new FC layer is the narrower of an identity on its inputs
            and a ± copy of the next layer (width 2 × the next layer's nodes). Exact with the ReLU
            activation (the default); off by default: the paper draws everything new from N(0, 0.1).
        new_layer_min_nodes (int, default 8): fewest nodes of a new conv or FC layer.
        new_layer_max_nodes (int, default 64, at most 4096): most nodes of a new conv or FC layer (exact
            growth may need more; see :func:`~ecosim.genome.mutation.add_layer`).
        resize_dimension (str, default ``"uniform"``): the dimension a kernel or stride resize
            changes: ``"uniform"`` over the feasible dimensions (§III-E, "a randomly selected
            dimension"), or ``"eq1"``, by eq. 1 on the resulting shape (ecosim ≤ 0.2; it favours
            elongating the longer side).
        family_weights (str, default ``""``): ``""`` draws the mutation kind by eqs. 3–6 (paper);
            ``"layer=w,node=w,kernel=w,stride=w"`` gives each family a fixed share (names left
            out weigh 0), split equally over its feasible directions, so the complexification rate
            does not vanish as networks grow (§V's future work; see
            :func:`~ecosim.genome.mutation_choice.mutation_weights`); a single kind may be named
            too, e.g. ``"add_layer=2,remove_layer=0.5"``.
        new_kernel_shape (str, default ``""``): ``""`` draws new kernel shapes by eq. 1 (paper:
            mostly 1×1); ``"3x3"`` (any odd ``<h>x<w>``) starts every new kernel (new layers, new
            nodes, initial layers without shapes) at that shape, clipped to half the input. With
            ``function_preserving`` an inserted layer's identity uses the centre tap, the other
            tiles starting at 0 and learning from there.
        new_layer_conv_share (float, default 0.5): probability that an ``add_layer`` mutation
            inserts a conv layer rather than a hidden FC layer (the paper does not say; 0.5: a
            fair coin, as before this option). Above 0.5, depth goes to the feature extractor
            instead of a stack of narrow FC layers (issue 17: the levers' champions grew 5–7
            FC layers of ~20 nodes).
        max_macs (float, default 0): a cap on an offspring's cost, in forward multiply-accumulates
            per image (as the networks log's ``macs``); ``0``: no cap (paper). A drawn mutation
            whose offspring would cost more than the cap and more than its parent is discarded
            and another drawn, 16 draws in all; then the mutation fails (counted in
            ``failed_cost_cap`` only, ``docs/logs.md``) and the parent is cloned. Mutations that keep or
            lower the cost always pass; crossover is capped only with ``cap_crossover``. Issue 17:
            at equal training compute, a network that costs 2.7× the baseline's per image gets
            2.7× fewer generations.
        max_macs_doubling (float, default 0): generations over which the cost cap doubles: the
            cap at generation ``g`` is ``max_macs · 2^(g / max_macs_doubling)``
            (:meth:`MutationParams.cap`); ``0``: the cap stays ``max_macs``. Needs ``max_macs``.
            Issue 17: under a fixed cap, networks stay cheap and lead early at equal compute, then
            stall for capacity; a rising cap lets them grow as the run goes on.
        cap_crossover (bool, default False): the cost cap applies to crossover offspring too: a
            crossover offspring that would cost more than the cap and more than both its parents
            is discarded (one ``cap_redraws``) and its first parent is mutated instead, under the
            cap. Needs ``max_macs``. Issue 17: without it, crossover (a third of the offspring)
            lifts the population above the cap, and most mutations that pass the cap are then
            removals (``levers-grow``: 24% of crossover offspring over the cap and both parents).
        nodes_per_mutation (int, default 1, at most 1024): nodes an ``add_node`` mutation appends to its layer,
            and a ``remove_node`` mutation removes from it (at most all but one); 1: the paper's
            one node. Issue 17: on CIFAR-10 (``levers-settle``) width never grew past the initial
            10 kernels per layer in 71 search generations (16 add_node offspring, one kernel each),
            where the best fixed baseline's second layer has 20.

    A new layer of either type gets ``clip(floor(mean nodes per layer), new_layer_min_nodes,
    new_layer_max_nodes)`` nodes (:func:`~ecosim.genome.new_structure.new_layer_nodes`; the
    reference implementation's rule with bounds). On MNIST the minimal genome ``F10`` gives a
    new layer 10 nodes: ``C10`` or ``F10``, like the reference's predefined conv layer of 10
    kernels.

    Raises:
        ConfigError: a value out of range, naming the ``mutation.*`` key.
    """

    init_std: float = 0.1
    function_preserving: bool = False
    new_layer_min_nodes: int = 8
    new_layer_max_nodes: int = 64
    resize_dimension: str = "uniform"
    family_weights: str = ""
    new_kernel_shape: str = ""
    new_layer_conv_share: float = 0.5
    max_macs: float = 0.0
    max_macs_doubling: float = 0.0
    cap_crossover: bool = False
    nodes_per_mutation: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.init_std < np.inf:
            raise _invalid("init_std", self.init_std, "a finite number > 0")
        if self.new_layer_min_nodes < 1:
            raise _invalid("new_layer_min_nodes", self.new_layer_min_nodes, "≥ 1")
        if not self.new_layer_min_nodes <= self.new_layer_max_nodes <= MAX_LAYER_NODES:
            raise _invalid(
                "new_layer_max_nodes",
                self.new_layer_max_nodes,
                f"≥ mutation.new_layer_min_nodes ({self.new_layer_min_nodes}) and ≤ {MAX_LAYER_NODES}",
            )
        if self.resize_dimension not in RESIZE_DIMENSIONS:
            raise _invalid("resize_dimension", self.resize_dimension, "one of " + ", ".join(RESIZE_DIMENSIONS))
        object.__setattr__(self, "family_weights", canonical_family_weights(self.family_weights))
        parse_kernel_shape(self.new_kernel_shape)
        if not 0.0 <= self.new_layer_conv_share <= 1.0:
            raise _invalid("new_layer_conv_share", self.new_layer_conv_share, "in [0, 1]")
        if not (np.isfinite(self.max_macs) and self.max_macs >= 0):
            raise _invalid("max_macs", self.max_macs, "a finite number ≥ 0 (multiply-accumulates per image; 0: no cap)")
        object.__setattr__(self, "max_macs", float(self.max_macs) + 0.0)  # -0.0 → 0.0
        doubling = self.max_macs_doubling
        if not (np.isfinite(doubling) and doubling >= 0):
            raise _invalid("max_macs_doubling", doubling, "a finite number ≥ 0 (generations; 0: a fixed cap)")
        if doubling and not self.max_macs:
            raise _invalid("max_macs_doubling", doubling, "0 unless mutation.max_macs > 0 (it doubles that cap)")
        object.__setattr__(self, "max_macs_doubling", float(self.max_macs_doubling) + 0.0)
        if self.cap_crossover and not self.max_macs:
            raise _invalid("cap_crossover", True, "false unless mutation.max_macs > 0 (it applies that cap)")
        if not 1 <= self.nodes_per_mutation <= MAX_NODES_PER_MUTATION:
            raise _invalid("nodes_per_mutation", self.nodes_per_mutation, f"in [1, {MAX_NODES_PER_MUTATION}]")

    def cap(self, generation: int) -> float:
        """The cost cap at ``generation``, in forward multiply-accumulates per image; ``0``: none.

        ``max_macs · 2^(generation / max_macs_doubling)``, or ``max_macs`` when ``max_macs_doubling``
        is 0 (issue 17, beyond the paper); ``inf`` past 1000 doublings.

        >>> MutationParams(max_macs=5e5, max_macs_doubling=80).cap(160)
        2000000.0
        >>> MutationParams(max_macs=5e5).cap(160)
        500000.0
        """
        if not self.max_macs_doubling:
            return self.max_macs
        doublings = max(generation, 0) / self.max_macs_doubling
        if doublings > 1000:  # 2^1000 MACs bind nothing: no cap (2^1024 would overflow a float)
            return math.inf
        return float(self.max_macs * 2.0**doublings)


__all__ = [
    "MAX_LAYER_NODES",
    "MAX_NODES_PER_MUTATION",
    "RESIZE_DIMENSIONS",
    "MutationParams",
    "named_families",
    "canonical_family_weights",
    "parse_family_weights",
    "parse_kernel_shape",
]
