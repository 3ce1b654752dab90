"""Assistants v2 over the user's documents: assistants, threads, messages, runs and run steps.

The routers of the threads API are gathered here so the application mounts one router.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
