"""Loaded by every Python subprocess the tests start (PYTHONPATH): no connection leaves 127.0.0.1."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from netguard_impl import install  # noqa: E402

install()
