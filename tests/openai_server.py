"""An OpenAI-compatible server for tests: chat completions (plain and streamed), embeddings, rerank.

Its answers are computed deterministically from the sources in the prompt, so tests can check
that citations map back to the right file and page. Asked for structured output
(``response_format``), it answers with the JSON the format describes, filled in from that answer,
or refuses in the ``refusal`` field when the sources hold nothing. It records every request it
receives (so a test sees the format and the passages that reached it) and can inject faults
(HTTP 429/500/401, slow responses) to exercise retries and fallbacks. It runs in a background
thread on 127.0.0.1 with uvicorn and is driven through the real ``openai`` SDK.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

SOURCE = re.compile(r'<source id="(\d+)" file="([^"]*)"(?: page="(\d+)")?>\n(.*?)\n</source>', re.S)
WORD = re.compile(r"[a-z0-9]+")
STOP = {"the", "a", "an", "of", "is", "what", "how", "which", "does", "do", "in", "on", "to", "and", "for", "be"}


@dataclass
class ServerState:
    requests: list[dict] = field(default_factory=list)
    faults: deque = field(default_factory=deque)
    api_key: str | None = None  # when set, other keys get 401
    #: scripted chat replies, used in order before the deterministic answer: each is a dict with
    #: "content" and/or "tool_calls" ([{"name", "arguments"}]) or "refusal" (as OpenAI's structured
    #: outputs refuse), or a callable(body) -> such a dict;
    #: a dict with "repeat": True is never used up (a model that never stops calling tools); tool
    #: calls and callables are only served to requests that offer tools, a dict with "when" only to
    #: requests whose messages hold that text (the others get the deterministic answer meanwhile)
    tool_script: deque = field(default_factory=deque)
    #: answer HTTP 400 to requests that offer tools, like a server without tool support
    reject_tools: bool = False

    def reset(self) -> None:
        self.requests.clear()
        self.faults.clear()
        self.api_key = None
        self.tool_script.clear()
        self.reject_tools = False


def _words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if w not in STOP}


def deterministic_answer(messages: list[dict]) -> str:
    """The three sentences sharing most words with the question, each cited to its source."""
    user = next(m["content"] for m in messages if m["role"] == "user")
    question = user.split("Question:", 1)[1].split("\n", 1)[0].strip()
    scored = []
    for number, _file, _page, text in SOURCE.findall(user):
        for position, sentence in enumerate(re.split(r"(?<=[.!?])\s+|\n+", text)):
            score = len(_words(question) & _words(sentence))
            if score:
                scored.append((-score, int(number), position, sentence.strip()))
    if not scored:
        return "I could not find the answer in the documents."
    scored.sort()
    answer = " ".join(f"{sentence} [{number}]" for _, number, _, sentence in scored[:3])
    if "cite-invalid" in question:
        answer += " This is also supported elsewhere [42]."
    if "cite-none" in question:
        answer = re.sub(r"\s*\[\d+\]", "", answer)
    return answer


def _filled(schema: dict, answer: str, sources: int, defs: dict):
    """A value of ``schema``: strings say the answer, integers count the sources in the prompt."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: _filled(sub, answer, sources, defs) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [_filled(schema["items"], answer, sources, defs)] if schema.get("items") else []
    return {"integer": sources, "number": float(sources), "boolean": True, "null": None}.get(kind, answer)


def structured_reply(body: dict, answer: str) -> tuple[str | None, str | None]:
    """(content, refusal) for a request with a ``response_format``: the JSON its schema describes
    (``{"answer": ...}`` for ``json_object``), or a refusal when the answer is one."""
    if "could not find the answer" in answer:
        return None, answer
    sources = len(SOURCE.findall(next(m["content"] for m in body["messages"] if m["role"] == "user")))
    spec = body["response_format"].get("json_schema") or {}
    schema = spec.get("schema") or {"type": "object", "properties": {"answer": {"type": "string"}}}
    return json.dumps(_filled(schema, answer, sources, schema.get("$defs", {}))), None


def _calls_tools(step) -> bool:
    """A scripted tool call is only given to a request that offers tools (others get the
    deterministic answer), as a real model cannot call a tool it was not offered."""
    return callable(step) or bool(step.get("tool_calls"))


def _serves(step, body: dict) -> bool:
    """Whether the next scripted step answers this request (see ``ServerState.tool_script``)."""
    if isinstance(step, dict) and step.get("when") and step["when"] not in json.dumps(body["messages"]):
        return False
    return bool(body.get("tools")) or not _calls_tools(step)


def scripted_reply(state: ServerState, body: dict):
    """The next scripted reply (see ``ServerState.tool_script``) as a chat completion: tool calls
    with ``finish_reason: tool_calls``, or content (streamed when asked)."""
    step = state.tool_script[0]
    if not (isinstance(step, dict) and step.get("repeat")):
        state.tool_script.popleft()
    if callable(step):
        step = step(body)
    content = step.get("content")
    message: dict = {"role": "assistant", "content": content, "refusal": step.get("refusal")}
    finish = "stop"
    if step.get("tool_calls"):
        turn = len(state.requests)
        message["tool_calls"] = [
            {"id": f"call_{turn}_{i}", "type": "function",
             "function": {"name": call["name"], "arguments": call["arguments"] if isinstance(call["arguments"], str)
                          else json.dumps(call["arguments"])}}
            for i, call in enumerate(step["tool_calls"])]
        finish = "tool_calls"
    usage = {"prompt_tokens": sum(len(str(m.get("content") or "").split()) for m in body["messages"]),
             "completion_tokens": len(str(content or "").split())}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    created = int(time.time())
    if not body.get("stream"):
        return {"id": "chatcmpl-script", "object": "chat.completion", "created": created, "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}

    def events():
        deltas = [{"content": piece} for piece in re.findall(r"\S+\s*", content or "")]
        for delta in deltas + ([{"refusal": step["refusal"]}] if step.get("refusal") else []):
            chunk = {"id": "chatcmpl-script", "object": "chat.completion.chunk", "created": created,
                     "model": body["model"], "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            yield f"data: {json.dumps(chunk)}\n\n"
        final = {"id": "chatcmpl-script", "object": "chat.completion.chunk", "created": created, "model": body["model"],
                 "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        yield f"data: {json.dumps(final)}\n\n"
        if (body.get("stream_options") or {}).get("include_usage"):
            yield f"data: {json.dumps({**final, 'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def fake_embedding(text: str, dim: int = 64) -> list[float]:
    vector = np.zeros(dim)
    for word in WORD.findall(text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % dim] += 1.0
    norm = np.linalg.norm(vector) or 1.0
    return (vector / norm).tolist()


def create_app(state: ServerState) -> FastAPI:
    app = FastAPI()

    async def _fault(request: Request):
        if state.api_key is not None and request.headers.get("authorization") != f"Bearer {state.api_key}":
            return JSONResponse({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                           "code": "invalid_api_key"}}, status_code=401)
        if state.faults:
            kind, value = state.faults.popleft()
            if kind == "status":
                return JSONResponse({"error": {"message": f"injected {value}", "type": "server_error"}},
                                    status_code=value, headers={"retry-after-ms": "20"})
            if kind == "delay":
                await asyncio.sleep(value)
        return None

    async def _receive(request: Request):
        """Record the request, then return its body and the fault to answer with (if any)."""
        body = await request.json()
        state.requests.append({"path": request.url.path, "body": body, "headers": dict(request.headers)})
        return body, await _fault(request)

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body, fault = await _receive(request)
        if fault is not None:
            return fault
        if body["model"] == "no-such-model":
            return JSONResponse({"error": {"message": "The model does not exist", "type": "invalid_request_error",
                                           "code": "model_not_found"}}, status_code=404)
        if state.reject_tools and body.get("tools"):
            return JSONResponse({"error": {"message": f"{body['model']} does not support tools",
                                           "type": "invalid_request_error", "param": "tools"}}, status_code=400)
        if state.tool_script and _serves(state.tool_script[0], body):
            return scripted_reply(state, body)
        answer = deterministic_answer(body["messages"])
        content, refusal = structured_reply(body, answer) if body.get("response_format") else (answer, None)
        usage = {"prompt_tokens": sum(len(m["content"].split()) for m in body["messages"]),
                 "completion_tokens": len((content or refusal or "").split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        created = int(time.time())
        if not body.get("stream"):
            return {"id": "chatcmpl-test", "object": "chat.completion", "created": created, "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": refusal},
                                 "finish_reason": "stop"}],
                    "usage": usage}

        def events():
            deltas = [{"content": piece} for piece in re.findall(r"\S+\s*", content or "")]
            for delta in deltas + ([{"refusal": refusal}] if refusal else []):
                chunk = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": created,
                         "model": body["model"], "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk)}\n\n"
            final = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": created,
                     "model": body["model"], "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            yield f"data: {json.dumps(final)}\n\n"
            if (body.get("stream_options") or {}).get("include_usage"):
                yield f"data: {json.dumps({**final, 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/embeddings")
    async def embeddings(request: Request):
        body, fault = await _receive(request)
        if fault is not None:
            return fault
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": fake_embedding(t)} for i, t in enumerate(inputs)]
        return {"object": "list", "data": data, "model": body["model"],
                "usage": {"prompt_tokens": 0, "total_tokens": 0}}

    @app.post("/v1/rerank")
    async def rerank(request: Request):
        """The /rerank shape of TEI, Infinity, vLLM and Jina/Cohere: score = words shared with the query."""
        body, fault = await _receive(request)
        if fault is not None:
            return fault
        query = _words(body["query"])
        scored = [{"index": i, "relevance_score": float(len(query & _words(d)))} for i, d in enumerate(body["documents"])]
        scored.sort(key=lambda row: -row["relevance_score"])
        return {"results": scored[: body.get("top_n") or len(scored)]}

    return app


class OpenAITestServer:
    def __init__(self) -> None:
        self.state = ServerState()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(create_app(self.state), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "OpenAITestServer":
        self._thread.start()
        deadline = time.time() + 15
        while not self._server.started:
            if time.time() > deadline:
                raise RuntimeError("test OpenAI server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def chat_requests(self) -> list[dict]:
        return [r for r in self.state.requests if r["path"] == "/v1/chat/completions"]
