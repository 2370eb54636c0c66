"""The version of ecosim: the only place it is written (``pyproject.toml`` and ``ecosim.__version__`` read it)."""

__version__ = "0.9.13"
