"""Per-thread SQLite connections now come from the state layer: see :mod:`ragkit.state.connections`.

Kept so that ``from ragkit.stores.sqlite import ThreadConnections`` goes on working; new code
imports it from :mod:`ragkit.state`.
"""

from __future__ import annotations

from ragkit.state.connections import ThreadConnections

__all__ = ["ThreadConnections"]
