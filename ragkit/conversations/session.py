"""A conversation with a knowledge base: follow-ups rewritten, answers stored, threads resumable.

``ChatSession(kb).ask("and how do I return it?")`` rewrites the follow-up into a standalone query
(with the chat model when one is configured, else offline, see :mod:`.rewrite`), answers that
query with ``kb.ask`` (or, in agent mode, with the model calling the retrieval tools), and
stores the question and the answer -- citations, sources and the standalone query -- in the
thread. The result is a :class:`Turn`: the :class:`~ragkit.models.Answer` plus what was asked and
how it was rewritten; ``turn.answer.question`` is the standalone query that was searched.

The session takes the knowledge base as an argument and never imports :mod:`ragkit.api`, so the
API can build sessions (``KnowledgeBase.ask(question, thread=...)``) without an import cycle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ragkit.conversations.condense import CONDENSE_PROMPT_VERSION, Exchange, condense
from ragkit.conversations.rewrite import Context, Rewrite, Similarity, lexical_similarity, rewrite
from ragkit.conversations.store import Message, Thread, ThreadStore
from ragkit.errors import UsageError
from ragkit.models import Answer
from ragkit.state.conversation_model import Item

log = logging.getLogger("ragkit.conversations")

#: earlier turns the chat model sees when it condenses a follow-up or answers as an agent
HISTORY_TURNS = 4


@dataclass
class Turn:
    """One answered question. ``method`` says how ``standalone`` was made: ``unchanged``,
    ``pronoun``, ``swap``, ``question-word``, ``other-one``, ``carry``, ``clause``, ``repeat``
    (offline rules) or ``model`` (the chat model, prompt ``condense_v1``)."""

    thread_id: str
    question: str
    standalone: str
    method: str
    answer: Answer
    notices: list[str] = field(default_factory=list)


def embedding_similarity(embedder: Any) -> Similarity:
    """Cosine similarity of phrases under the collection's embedder (vectors are L2-normalised)."""
    def similarity(phrase: str, candidates: Sequence[str]) -> list[float]:
        vectors = embedder.embed([phrase, *candidates])
        return [float(vectors[0] @ vector) for vector in vectors[1:]]

    return similarity


class ChatSession:
    """Questions and answers in one thread of one collection.

    ``store`` defaults to the threads in ``<kb.home>/ragkit.sqlite``; pass another one for a read-only
    knowledge base or for tests. ``agent=True`` lets a chat model search the documents itself
    (:func:`ragkit.conversations.tools.run_agent`). ``owner`` is recorded on threads it creates.
    """

    def __init__(self, kb: Any, thread_id: str | None = None, *, store: ThreadStore | None = None,
                 owner: str | None = None, agent: bool = False, max_tool_rounds: int = 4,
                 similarity: Similarity | None = None) -> None:
        self.kb = kb
        self._own_store = store is None
        self.store = store if store is not None else ThreadStore.for_home(kb.home)
        self.owner = owner
        self.agent = agent
        self.max_tool_rounds = max_tool_rounds
        self._similarity = similarity
        self._client: Any = None
        self.thread: Thread | None = None
        if thread_id is not None:
            self.open(thread_id)

    # -- threads -------------------------------------------------------------------------
    @property
    def collection(self) -> str:
        return self.kb.settings.collection

    @property
    def thread_id(self) -> str | None:
        return self.thread.id if self.thread else None

    def open(self, reference: str) -> Thread:
        """Continue an existing thread (by id or unique id prefix) of this collection."""
        thread = self.store.find_thread(reference, self.collection)
        if thread.collection != self.collection:
            raise UsageError(f"thread {thread.id} belongs to collection {thread.collection!r}, "
                             f"not {self.collection!r}: open it with --collection {thread.collection}")
        self.thread = thread
        return thread

    def new(self) -> None:
        """Start a new thread; it is created with the next question (empty threads are never stored)."""
        self.thread = None

    def threads(self) -> list[Thread]:
        return self.store.list_threads(self.collection, self.owner)

    def messages(self) -> list[Message]:
        return self.store.messages(self.thread.id) if self.thread else []

    def close(self) -> None:
        if self._own_store:
            self.store.close()

    def __enter__(self) -> "ChatSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- asking --------------------------------------------------------------------------
    def ask(self, text: str, on_token: Callable[[str], None] | None = None, **options: Any) -> Turn:
        """Rewrite, answer, store. Nothing is stored when answering fails.

        ``options`` (k, mode, filters, generator) go to ``kb.ask`` unchanged; the agent chooses
        its own searches and ignores them."""
        question = " ".join(text.split())
        if not question:
            raise UsageError("the question is empty")
        history = self._history()
        made, notices = self.rewrite(question, history)
        if self.agent:
            answer, agent_notices = self._agent_answer(made.query, history, on_token)
            notices.extend(agent_notices)
        else:
            answer = self.kb.ask(made.query, on_token=on_token, **options)
        thread = self.thread or self.store.create_thread(question, self.collection, self.owner)
        self.thread = thread
        self.store.append_message(thread.id, "user", question, standalone=made.query)
        self.store.append_message(thread.id, "assistant", answer.text,
                                  citations=[c.to_dict() for c in answer.citations],
                                  sources=[h.to_dict() for h in answer.sources], standalone=made.query)
        return Turn(thread.id, question, made.query, made.method, answer, notices)

    def rewrite(self, question: str, history: Sequence[tuple[Message, Message]] | None = None
                ) -> tuple[Rewrite, list[str]]:
        """The standalone query for ``question`` given the thread so far, and any notices."""
        history = self._history() if history is None else history
        return standalone_question(question, history, self.kb.settings, self._chat_client, self._phrase_similarity)

    # -- internals -----------------------------------------------------------------------
    def _history(self) -> list[tuple[Message, Message]]:
        """(question, answer) pairs of the thread, oldest first."""
        if self.thread is None:
            return []
        return history_pairs(self.store.items(self.thread.id, limit=2 * HISTORY_TURNS + 2))

    def _phrase_similarity(self) -> Similarity:
        if self._similarity is None:
            self._similarity = phrase_similarity(lambda: self.kb.embedder)
        return self._similarity

    def _chat_client(self) -> Any:
        if self._client is None:
            from ragkit.llm import make_client

            self._client = make_client(self.kb.settings)
        return self._client

    def _agent_answer(self, query: str, history: Sequence[tuple[Message, Message]],
                      on_token: Callable[[str], None] | None) -> tuple[Answer, list[str]]:
        if not self.kb.settings.uses_chat_model:
            answer = self.kb.ask(query, on_token=on_token)
            return answer, ["agent mode needs a chat model (an API key or base_url); answered from retrieval"]
        from ragkit.conversations.tools import run_agent

        messages = []
        for user, assistant in history[-HISTORY_TURNS:]:
            messages.append({"role": "user", "content": user.content})
            messages.append({"role": "assistant", "content": assistant.content})
        result = run_agent(self.kb, query, history=messages, max_tool_rounds=self.max_tool_rounds,
                           on_token=on_token, client=self._chat_client_or_none())
        return result.answer, list(result.notices)

    def _chat_client_or_none(self) -> Any:
        try:
            return self._chat_client()
        except Exception:  # noqa: BLE001 - run_agent reports the missing client itself
            return None


def question_answer_pairs(messages: Sequence[Message]) -> list[tuple[Message, Message]]:
    """(question, answer) pairs of messages in order: each user message with the answer after it."""
    pairs: list[tuple[Message, Message]] = []
    pending: Message | None = None
    for message in messages:
        if message.role == "user":
            pending = message
        elif pending is not None:
            pairs.append((pending, message))
            pending = None
    return pairs


def history_pairs(items: Sequence[Item], turns: int = HISTORY_TURNS) -> list[tuple[Message, Message]]:
    """The (question, answer) pairs a follow-up continues, from any conversation's items, oldest
    first: chat threads, Assistants threads and Responses conversations alike. Only finished user
    and assistant messages are turns (a tool call and its output are how an answer was made, an
    answer still being written is not one yet); the last ``turns`` pairs are kept."""
    return question_answer_pairs([Message.of(item) for item in items if item.is_turn])[-turns:]


def phrase_similarity(embedder: Callable[[], Any]) -> Similarity:
    """Embedding similarity of phrases, falling back to word overlap when the embedder cannot be
    loaded or fails on a call: a follow-up must never be lost to a similarity error."""
    try:
        similarity = embedding_similarity(embedder())
    except Exception as exc:  # noqa: BLE001 - without the embedder, words still compare
        log.info("phrase similarity falls back to word overlap: %s", exc)
        return lexical_similarity

    def guarded(phrase: str, candidates: Sequence[str]) -> Sequence[float]:
        try:
            return similarity(phrase, candidates)
        except Exception:  # noqa: BLE001 - an embedder failure must not lose the question
            return lexical_similarity(phrase, candidates)

    return guarded


def standalone_question(question: str, history: Sequence[tuple[Message, Message]], settings: Any,
                        chat_client: Callable[[], Any], similarity: Callable[[], Similarity]
                        ) -> tuple[Rewrite, list[str]]:
    """The follow-up ``question`` as a standalone query, given earlier (question, answer) pairs.

    With a chat model (``settings.uses_chat_model``) the model condenses it, and any failure falls
    back to the offline rewrite of the last turn. Shared by chat sessions and the server's
    threads and responses, so a follow-up is rewritten the same way on every surface."""
    if not history:
        return Rewrite(question, "unchanged"), []
    user, assistant = history[-1]
    context = Context(user.standalone or user.content,
                      (assistant.content, *(s.get("text", "") for s in assistant.sources)))
    notices: list[str] = []
    if settings.uses_chat_model:
        try:
            exchanges = [Exchange(u.standalone or u.content, a.content) for u, a in history[-HISTORY_TURNS:]]
            query = condense(chat_client(), settings.model, exchanges, question)
            return Rewrite(query, "model" if query != question else "unchanged"), notices
        except Exception as exc:  # noqa: BLE001 - any failure means: use the offline rewrite
            log.info("condense (%s) failed: %s", CONDENSE_PROMPT_VERSION, exc)
            notices.append(f"the chat model could not rewrite the follow-up ({_short(exc)}); "
                           "used the offline rewrite")
    return rewrite(question, context, similarity()), notices


def _short(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:160]
