"""OpenAI endpoints ragkit does not serve: fine-tuning, audio, images, legacy completions, stored chat
completions and response compaction.

A client pointed at ragkit with ``base_url`` may call any of OpenAI's endpoints. For these the
answer is OpenAI's error shape with a message that says ragkit does not serve them and what it
does serve, instead of a bare "unknown URL": the SDK raises ``NotFoundError`` with that message.
A request with any method under these paths gets it, before its body is read or checked.

``/v1/completions`` (the legacy completion of a prompt) is where a client sends a prompt for a
model it does not know to be a chat model (LiteLLM's ``text_completion`` for ``openai/<model>``);
ragkit's models are chat models, so the message says to send the prompt as a user message to chat
completions, as OpenAI tells a caller of a chat model there.

Chat completions are answered, not kept (``store: true`` is a 400 naming ``store``), so listing,
retrieving, updating or deleting stored ones (``GET /v1/chat/completions``, ``/v1/chat/completions/
{id}`` and its ``/messages``) says so and points at the Responses API, which keeps its responses.

``POST /v1/responses/compact`` (OpenAI's opaque compaction of a long input, which the Agents SDK's
``OpenAIResponsesCompactionSession`` calls) would otherwise be a bare 405 from the route that
retrieves a stored response: it says that ragkit does not compact and what to use instead.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ragkit.server.errors import ApiError
from ragkit.server.json_body import JsonRoute

router = APIRouter(route_class=JsonRoute, include_in_schema=False)

#: path prefix -> what the family is called in the message
FAMILIES = {"fine_tuning": "fine-tuning", "audio": "audio (speech, transcriptions, translations)",
            "images": "image generation and editing"}
SERVED = ("ragkit serves answers from documents: /v1/chat/completions and /v1/responses over vector stores, "
          "Assistants, files, vector stores, search and embeddings")
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _refuse(family: str):
    async def refuse(request: Request, rest: str = "") -> None:
        raise ApiError(404, f"ragkit does not serve {FAMILIES[family]} ({request.method} {request.url.path}): "
                            f"{SERVED}.", code="unsupported_endpoint")

    return refuse


for _prefix in FAMILIES:
    router.add_api_route(f"/v1/{_prefix}", _refuse(_prefix), methods=METHODS)
    router.add_api_route(f"/v1/{_prefix}/{{rest:path}}", _refuse(_prefix), methods=METHODS)


LEGACY = ("ragkit does not serve legacy completions ({method} {path}): its models are chat models. Send the "
          "prompt as a user message to POST /v1/chat/completions (with vector_store_ids), or as the input of "
          "POST /v1/responses with a file_search tool.")


async def _no_legacy_completions(request: Request, rest: str = "") -> None:
    raise ApiError(404, LEGACY.format(method=request.method, path=request.url.path), code="unsupported_endpoint")


router.add_api_route("/v1/completions", _no_legacy_completions, methods=METHODS)
router.add_api_route("/v1/completions/{rest:path}", _no_legacy_completions, methods=METHODS)


#: what a client asking for stored chat completions is told
NOT_STORED = ("ragkit does not store chat completions ({method} {path}): a completion is answered and not kept, "
              "so there is nothing to list, retrieve, update or delete. Use the Responses API to keep answers "
              "(POST /v1/responses with store: true, then GET /v1/responses/{{id}}).")


async def _not_stored(request: Request, rest: str = "") -> None:
    raise ApiError(404, NOT_STORED.format(method=request.method, path=request.url.path), code="unsupported_endpoint")


router.add_api_route("/v1/chat/completions", _not_stored, methods=["GET"])
router.add_api_route("/v1/chat/completions/{rest:path}", _not_stored, methods=METHODS)


COMPACT = ("ragkit does not serve response compaction ({method} {path}): it keeps no opaque compacted state. "
           "Send the conversation as it is (ragkit condenses a follow-up from the earlier turns), or continue it "
           "with previous_response_id or conversation.")


async def _no_compaction(request: Request) -> None:
    raise ApiError(404, COMPACT.format(method=request.method, path=request.url.path), code="unsupported_endpoint")


router.add_api_route("/v1/responses/compact", _no_compaction, methods=["POST"])
