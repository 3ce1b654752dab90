"""Answer generators behind :class:`ragkit.generators.base.Generator`: one module per backend."""

from ragkit.generators.base import Generation, Generator, TokenCallback
from ragkit.generators.factory import generator_name, make_generator

__all__ = ["Generation", "Generator", "TokenCallback", "generator_name", "make_generator"]
