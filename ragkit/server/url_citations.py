"""Chat completions' ``annotations``: each checked ``[n]`` of an answer as a ``url_citation``.

``url_citation`` is the one annotation chat completions define (OpenAI's web search fills it).
Clients that show a completion's sources read it: the Vercel AI SDK makes each a ``source``
part, Agno and Pydantic AI keep them with the message (LangChain 1.x drops them on chat
completions). ragkit's own ``citations`` list (file, page, exact quote) is an extra field those
clients drop, so each marker is also given as a
``url_citation``: its span in the text, the file name and page as the title, the file's content
address (``#page=N`` for a PDF, which browsers open at that page) as the url, and the exact quote
as ``content`` (the excerpt field OpenRouter adds, which Pydantic AI shows as the source's
excerpt).
"""

from __future__ import annotations

import re
from typing import Any

from ragkit.citations import MARKER


def url_citations(text: str, cited: list[dict[str, Any]], files_url: str) -> list[dict[str, Any]]:
    """One ``url_citation`` per checked source number of each ``[n]`` in ``text``, in order.

    ``cited`` is :meth:`ragkit.library.answering.Grounded.cited`; ``files_url`` the server's
    ``/v1/files`` address as the client reached it. A source without a file id (a collection
    ingested from the command line) has no address, and no annotation."""
    by_number = {c["n"]: c for c in cited if c.get("file_id")}
    notes: list[dict[str, Any]] = []
    for match in MARKER.finditer(text):
        for number in re.split(r"\s*[,;]\s*", match.group(1)):
            source = by_number.get(int(number))
            if source is None:
                continue
            page = source.get("page")
            title = f"{source['filename']}, page {page}" if page else source["filename"]
            url = f"{files_url}/{source['file_id']}/content" + (f"#page={page}" if page else "")
            notes.append({"type": "url_citation", "url_citation": {
                "start_index": match.start(), "end_index": match.end(), "title": title, "url": url,
                "content": source.get("quote") or ""}})
    return notes
