"""``/v1/conversations`` and stored responses (``previous_response_id``)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["conversations"])
