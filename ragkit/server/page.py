"""The web page served at ``/``: sign in with a key, upload, ask, open citations, rate answers.

Plain HTML, CSS and JavaScript shipped inside the package (no build step, no CDN), talking to
the same OpenAI-compatible endpoints the SDK uses.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
