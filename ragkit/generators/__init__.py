"""Answer generators behind :class:`ragkit.generators.base.Generator`: one module per backend."""

from ragkit.generators.base import Generation, Generator

__all__ = ["Generation", "Generator"]
