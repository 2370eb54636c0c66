"""The ``ecosim`` command's options, generated from the config fields, and its parser class.

One ``--name`` per config key (:func:`ecosim.config_fields.config_fields`), with its type, help,
default and choices, grouped by section (:func:`add_config_options`); ``--set section.key=value``
reaches any key; :func:`config_overrides` turns the parsed options into ``{"section.key": value}``
for :func:`ecosim.config.load_config`. :class:`Parser` makes every error one line naming the option.
No config is built and nothing runs here (:mod:`ecosim.cli` does that).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any, NoReturn

from ecosim.config_fields import ConfigField, config_fields

SECTION_TITLES = {
    "run": "[run] options",
    "data": "[data] options",
    "ecosystem": "[ecosystem] options (sizes left unset are derived from those set, by the rules below)",
    "mutation": "[mutation] options",
    "training": "[training] options",
    "resources": "[resources] options",
}


def option_names(fields: Sequence[ConfigField]) -> dict[str, str]:
    """config key → ``--option`` (the field name; ``--section-name`` where two sections share it)."""
    names = [f.key.split(".", 1)[1] for f in fields]
    return {
        f.key: "--" + (f.key.replace(".", "-") if names.count(n) > 1 else n).replace("_", "-")
        for f, n in zip(fields, names)
    }


def _parsed(text: str, cast: Any, expected: str) -> Any:
    """``cast(text)``, or the one-line argparse error naming what was expected."""
    try:
        return cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected {expected}") from None


def parse_int_or_auto(text: str) -> int | str:
    """An ecosystem size that may be derived: an integer, or ``"auto"`` (any case).

    Raises:
        argparse.ArgumentTypeError: neither (argparse names the option).
    """
    if text.strip().lower() == "auto":
        return "auto"
    return int(_parsed(text, int, "an integer or 'auto'"))


def parse_int(text: str) -> int:
    """An integer option's value.

    Raises:
        argparse.ArgumentTypeError: not an integer (argparse names the option).
    """
    return int(_parsed(text, int, "an integer"))


def parse_index(text: str) -> int:
    """A generation or network id: an integer ≥ 0 (0-based, as logged).

    Raises:
        argparse.ArgumentTypeError: not an integer, or negative.
    """
    value = parse_int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected an integer ≥ 0 (0-based, as logged)")
    return value


def parse_float(text: str) -> float:
    """A number option's value (the config checks its range, naming the key).

    Raises:
        argparse.ArgumentTypeError: not a number.
    """
    return float(_parsed(text, float, "a number"))


def default_text(f: ConfigField) -> str:
    """The ``(default: …)`` of a config field's help: its value, ``on``/``off``, ``none`` or derived."""
    if f.derived:
        return "derived from the other sizes"
    if f.type is bool:
        return "on" if f.default else "off"
    if f.default == "":
        return "none"
    return str(f.default)


def add_config_options(parser: argparse.ArgumentParser, keys: frozenset[str] | None, stored: bool) -> None:
    """Add one option per config key (all keys, or only ``keys``), grouped by section, and ``--set``.

    Each option's ``dest`` is its key (``"training.learning_rate"``) and its default ``None``
    (not given), so :func:`config_overrides` sees only what the user set.

    Args:
        parser: the ``run`` or ``resume`` sub-parser.
        keys: the keys to offer (``resume``: :data:`ecosim.config.RESUMABLE_KEYS`); ``None``: all.
        stored: the defaults are the run directory's (``ecosim resume``), not the config's.
    """
    fields = config_fields()
    flags = option_names(fields)
    groups: dict[str, Any] = {}
    for f in fields:
        if keys is not None and f.key not in keys:
            continue
        section = f.key.split(".", 1)[0]
        if section not in groups:
            groups[section] = parser.add_argument_group(SECTION_TITLES.get(section, f"[{section}] options"))
        default = "as stored in RUN_DIR/config.toml" if stored else default_text(f)
        text = re.sub(r"\s*\(default [^,()]*\)", "", f.help)  # the docstring's own "(default x)"
        if stored and f.key == "run.generations":
            text = RESUME_GENERATIONS_HELP
        text = f"{text} (default: {default})".replace("%", "%%")
        kwargs: dict[str, Any] = {"dest": f.key, "default": None, "help": text}
        if f.type is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif f.choices:
            kwargs["choices"] = f.choices
        elif f.derived:
            kwargs.update(type=parse_int_or_auto, metavar="N|auto")
        elif f.type is int:
            kwargs.update(type=parse_int, metavar="N")
        elif f.type is float:
            kwargs.update(type=parse_float, metavar="X")
        else:
            kwargs["metavar"] = f.key.split(".", 1)[1].upper()
        groups[section].add_argument(flags[f.key], **kwargs)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help='set any config key (value read as TOML: 5, 0.1, true, "x"); repeatable (the same key twice: '
        "the last wins, as for any option given twice); a key with its own option is an error when both are given",
    )


RESUME_GENERATIONS_HELP = (
    "the new TOTAL number of generations, not additional ones: at least the generations already "
    "complete (e.g. --generations 30 on a run of 20 runs 10 more)"
)


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``{"section.key": value}`` from the config options and ``--set``.

    Raises:
        ConfigError: a key given both by its option and by ``--set`` (one line naming both).
    """
    from ecosim.config import current_key, parse_overrides
    from ecosim.errors import ConfigError

    options = {k: v for k, v in vars(args).items() if "." in k and v is not None}
    flags = option_names(config_fields())
    out = dict(options)
    for item in args.set:
        ((key, value),) = parse_overrides([item]).items()
        key = current_key(key)  # an old key name counts as today's key
        if key in options:
            given = options[key]
            flag = flags[key]
            option = (flag if given else "--no-" + flag[2:]) if isinstance(given, bool) else f"{flag} {given}"
            raise ConfigError(f"{option} and --set {item.strip()} both set config '{key}': give only one of them")
        out[key] = value
    return out


#: what argparse takes as a negative number rather than an option: any float Python reads
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|inf(inity)?|nan)$", re.IGNORECASE)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (not the whole usage) naming the option.

    Options are never abbreviated: ``--generation 9`` on ``resume`` would otherwise set the total
    ``--generations``, while ``report``/``show`` take ``--generation G`` as a generation index.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        # a negative value in any float form is a value, not an option: `--learning-rate -1e-3`,
        # `--max-macs-doubling -inf` reach the config check that names the parameter (argparse
        # knows only -5 and -.5; no ecosim option looks like a number)
        self._negative_number_matcher = NEGATIVE_NUMBER

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
