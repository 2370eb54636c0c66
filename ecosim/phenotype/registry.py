"""The plug-in choices of the phenotype, each defined once: optimisers, activations, conv modes.

Paper §III-B (Adadelta by default), §III-E (mixed-shape convolution). This module imports no
torch: a registry maps each name to the dotted path of a torch callable and imports it on first
use, so :mod:`ecosim.config` validates ``training.optimiser``, ``training.activation`` and
``training.conv_mode`` against these names without loading torch, while
:mod:`ecosim.phenotype.training`, :mod:`ecosim.phenotype.network` and
:mod:`ecosim.phenotype.conv` resolve the same names to callables.

>>> "adadelta" in OPTIMISERS and "relu" in ACTIVATIONS and "grouped" in CONV_MODES
True
>>> ", ".join(ACTIVATIONS)
'relu, tanh, sigmoid, elu, leaky_relu, gelu'
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any


class Registry(Mapping[str, Any]):
    """Names of one plug-in kind, each bound to a ``"module:attribute"`` path resolved on first use.

    A read-only mapping: ``name in registry``, ``len``, iteration (the names, in registration
    order) and ``", ".join(registry)`` never import the target modules; ``registry[name]``
    imports the module once and caches the callable.

    Args:
        kind (str): what the names are, for error messages (e.g. ``"optimiser"``).
        entries (Mapping[str, str]): ``name → "package.module:attribute"``.

    Raises:
        ValueError: an entry path without ``":"``.

    >>> reg = Registry("activation", {"tanh": "torch:tanh"})
    >>> "tanh" in reg, list(reg)
    (True, ['tanh'])
    """

    def __init__(self, kind: str, entries: Mapping[str, str]) -> None:
        for name, path in entries.items():
            if ":" not in path:
                raise ValueError(f"registry {kind!r} entry {name!r} must be 'module:attribute', got {path!r}")
        self.kind = kind
        self._paths = dict(entries)
        self._cache: dict[str, Any] = {}

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __getitem__(self, name: str) -> Any:
        """The callable registered as ``name`` (imported on first use).

        Raises:
            KeyError: unknown ``name``.
        """
        if name not in self._cache:
            module, attr = self._paths[name].split(":", 1)
            self._cache[name] = getattr(importlib.import_module(module), attr)
        return self._cache[name]

    def get_valid(self, name: str) -> Any:
        """Like ``registry[name]``, but an unknown name is a :class:`ValueError` listing the valid ones.

        Raises:
            ValueError: ``name`` is not registered.

        >>> OPTIMISERS.get_valid("lbfgs2")
        Traceback (most recent call last):
        ...
        ValueError: optimiser must be one of 'adadelta', 'adam', 'adamw', 'sgd', 'rmsprop', 'adagrad', got 'lbfgs2'
        """
        if name not in self:
            raise ValueError(f"{self.kind} must be one of {', '.join(map(repr, self))}, got {name!r}")
        return self[name]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self)})"


#: Optimisers (§III-B: Adadelta by default): name → ``torch.optim`` class ``(params, lr=...)``.
OPTIMISERS = Registry(
    "optimiser",
    {
        "adadelta": "torch.optim:Adadelta",
        "adam": "torch.optim:Adam",
        "adamw": "torch.optim:AdamW",
        "sgd": "torch.optim:SGD",
        "rmsprop": "torch.optim:RMSprop",
        "adagrad": "torch.optim:Adagrad",
    },
)

#: Learning rate used when ``training.learning_rate`` is 0 and the optimiser has no default of its own.
DEFAULT_LEARNING_RATES: dict[str, float] = {"sgd": 0.01}

#: Activations applied after every conv and hidden FC layer: name → elementwise ``Tensor -> Tensor``.
ACTIVATIONS = Registry(
    "activation",
    {
        "relu": "torch.nn.functional:relu",
        "tanh": "torch:tanh",
        "sigmoid": "torch:sigmoid",
        "elu": "torch.nn.functional:elu",
        "leaky_relu": "torch.nn.functional:leaky_relu",
        "gelu": "torch.nn.functional:gelu",
    },
)

#: Evaluation strategies of a mixed-shape conv layer (:class:`ecosim.phenotype.conv.MixedConv2d`);
#: ``auto`` is measured per machine (:mod:`ecosim.phenotype.layout`).
CONV_MODES: tuple[str, ...] = ("auto", "dense", "grouped")

#: Memory formats of the batches (:mod:`ecosim.phenotype.layout`); ``auto`` is measured per machine.
MEMORY_FORMATS: tuple[str, ...] = ("auto", "channels_first", "channels_last")

#: Forward passes per evaluation chunk (:mod:`ecosim.phenotype.eval_split`); ``auto`` is measured per machine.
EVAL_SPLITS: tuple[str, ...] = ("auto", "whole", "halves")


__all__ = [
    "ACTIVATIONS",
    "CONV_MODES",
    "DEFAULT_LEARNING_RATES",
    "EVAL_SPLITS",
    "MEMORY_FORMATS",
    "OPTIMISERS",
    "Registry",
]
