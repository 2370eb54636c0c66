"""Every config key described for the command line: type, default, help text and choices.

:func:`config_fields` reads the sections of :class:`~ecosim.config.Config`
(:data:`~ecosim.config.SECTIONS`, TOML order), each key's help from its section's docstring
(``Args:``, Sphinx roles shown as plain names) and its valid values from
:data:`~ecosim.config.CHOICES`; ``ecosim.cli`` makes one ``--name`` option per key from them, so
a new config key is a new option without further code. Reads the config module, never the
reverse.
"""

from __future__ import annotations

import inspect
import re
import typing
from dataclasses import dataclass, fields
from typing import Any

from ecosim.config import CHOICES, SECTIONS


@dataclass(frozen=True)
class ConfigField:
    """One config key, as the command line offers it (:func:`config_fields`).

    Attributes:
        key: ``"section.name"``, e.g. ``"ecosystem.offspring"``.
        type: ``int``, ``float``, ``str`` or ``bool``.
        default: the default value; ``None`` for a size derived from the others.
        help: the key's entry in its section's docstring (``Args:``), as plain text.
        choices: the valid values (:data:`~ecosim.config.CHOICES`), or ``None``.
    """

    key: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None = None

    @property
    def derived(self) -> bool:
        """Whether the default is derived from other values (see :class:`~ecosim.config.EcosystemConfig`)."""
        return self.default is None


def config_fields() -> list[ConfigField]:
    """Every config key with its type, default, help and choices, section by section (TOML order).

    >>> next(f for f in config_fields() if f.key == "run.mode").choices
    ('sync', 'async')
    """
    out = []
    for section, cls in SECTIONS.items():
        docs = _arg_docs(cls)
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            key = f"{section}.{f.name}"
            choices = CHOICES.get(key)
            text = docs.get(f.name, "")
            if choices:  # "one of OPTIMISERS" → the names
                text = re.sub(r"one of [\w.]*\b[A-Z_]+\b", "one of " + ", ".join(choices), text)
            out.append(ConfigField(key, hints[f.name], f.default, text, choices))
    return out


#: a Sphinx cross-reference, ``:func:`~a.b.c``` shown as ``c``, ``:func:`a.b.c``` as ``a.b.c``
_ROLE = re.compile(r":\w+:`(?:~[\w.]*\.)?([^`]+)`")


def _arg_docs(cls: type) -> dict[str, str]:
    """``name → text`` of the ``Args:`` section of a class docstring, in plain text."""
    doc = inspect.getdoc(cls) or ""
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    in_args = False
    for line in doc.splitlines():
        if line.strip() == "Args:":
            in_args = True
            continue
        if not in_args:
            continue
        if line and not line.startswith(" "):
            break  # end of the section
        m = re.match(r"^ {4}(\w+)(?: \([^)]*\))?:\s*(.*)$", line)
        if m:
            current = entries.setdefault(m.group(1), [])
            current.append(m.group(2))
        elif current is not None and line.strip():
            current.append(line.strip())
    return {k: _ROLE.sub(r"\1", " ".join(v)).replace("``", "") for k, v in entries.items()}


__all__ = ["ConfigField", "config_fields"]
