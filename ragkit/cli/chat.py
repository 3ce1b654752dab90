"""``ragkit chat``: a conversation in the terminal, with follow-ups, citations and saved threads.

Each question is rewritten into a standalone query when it is a follow-up (shown as "searched:"),
answered with citations listed under the answer, and stored in ``<home>/ragkit.sqlite``,
so ``--thread ID`` (or ``--thread last``) continues a conversation in a later run. Commands:
``/sources``, ``/open N``, ``/new``, ``/threads``, ``/help``, ``/quit``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.text import Text

from ragkit.cli.app import CollectionOpt, HomeOpt, _fail, _kb, app, console, err
from ragkit.errors import RagkitError, UsageError

HELP = """Commands:
  /sources   every passage the last answer was given (cited ones marked *)
  /open N    the passage behind citation [N] of the last answer, its quote highlighted
  /new       start a new thread
  /threads   the threads of this collection
  /help      this list
  /quit      leave (Ctrl-D too); the thread is kept"""
#: turns shown when a thread is resumed
RESUME_TURNS = 3


class ChatScreen:
    """The terminal side of a :class:`~ragkit.conversations.ChatSession`: input, commands, output."""

    def __init__(self, session: Any, *, streaming: bool) -> None:
        self.session = session
        self.streaming = streaming
        #: citations and sources of the last answer, as stored (dicts), so a resumed thread works too
        self.citations: list[dict[str, Any]] = []
        self.sources: list[dict[str, Any]] = []

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            try:
                line = console.input("[bold cyan]you>[/] ")
            except (EOFError, KeyboardInterrupt):
                console.print()
                break
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if self.command(line) == "quit":
                    break
                continue
            self.ask(line)
        if self.session.thread_id:
            console.print(f"[dim]thread {self.session.thread_id} saved; continue with --thread "
                          f"{self.session.thread_id}[/]", highlight=False)

    def command(self, line: str) -> str | None:
        name, _, argument = line.partition(" ")
        name = name.lower()
        if name in ("/quit", "/exit", "/q"):
            return "quit"
        if name == "/help":
            console.print(HELP, markup=False, highlight=False)
        elif name == "/new":
            self.session.new()
            self.citations, self.sources = [], []
            console.print("[dim]new thread: it is saved with your next question[/]")
        elif name == "/threads":
            self.show_threads()
        elif name == "/sources":
            self.show_sources()
        elif name == "/open":
            self.open_citation(argument.strip())
        else:
            console.print(f"unknown command {escape(name)}; /help lists them", highlight=False)
        return None

    def ask(self, question: str) -> None:
        on_token = (lambda token: console.print(token, end="", markup=False, highlight=False)) \
            if self.streaming else None
        if self.streaming:
            console.print("[bold green]ragkit>[/] ", end="")
        try:
            turn = self.session.ask(question, on_token=on_token)
        except RagkitError as exc:
            if self.streaming:
                console.print()
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            return
        answer = turn.answer
        if self.streaming:
            console.print()
            if answer.invalid_citations:
                console.print(f"[dim](corrected)[/] {escape(answer.text)}", highlight=False)
        else:
            console.print(Text("ragkit> ", style="bold green") + Text(answer.text))
        if turn.standalone != turn.question:
            console.print(f"[dim]searched: {escape(turn.standalone)}[/]", highlight=False)
        for notice in dict.fromkeys([*turn.notices, *answer.warnings]):  # an agent fallback's is in both
            err.print(f"[yellow]note:[/] {escape(notice)}", highlight=False)
        self.citations = [c.to_dict() for c in answer.citations]
        self.sources = [h.to_dict() for h in answer.sources]
        self.show_citations(refused=answer.refused)

    # -- output --------------------------------------------------------------------------
    def show_citations(self, *, refused: bool = False) -> None:
        if refused:
            nearest = self.sources[:3]
            if nearest:
                console.print("[bold]Nearest sources[/]")
                for n, source in enumerate(nearest, start=1):
                    console.print(f"  [{n}] {_where(source)}", markup=False, highlight=False)
            return
        for citation in self.citations:
            quote = " ".join(citation["quote"].split())[:200]
            console.print(f"  [{citation['n']}] {_where(citation)}: “{quote}”", markup=False, highlight=False,
                          soft_wrap=True)

    def show_sources(self) -> None:
        if not self.sources:
            console.print("no answer yet")
            return
        cited = {c["n"] for c in self.citations}
        for n, source in enumerate(self.sources, start=1):
            mark = "*" if n in cited else " "
            snippet = " ".join(source["text"].split())[:120]
            console.print(f"{mark}[{n}] {_where(source)}: {snippet}", markup=False, highlight=False, soft_wrap=True)

    def open_citation(self, argument: str) -> None:
        try:
            n = int(argument.strip("[]"))
        except ValueError:
            console.print("usage: /open N  (N is a citation number, e.g. /open 1)")
            return
        citation = next((c for c in self.citations if c["n"] == n), None)
        if citation is None or not 1 <= n <= len(self.sources):
            shown = ", ".join(f"[{c['n']}]" for c in self.citations) or "none"
            console.print(f"the last answer has no citation [{n}] (citations: {shown})", highlight=False)
            return
        source = self.sources[n - 1]
        console.print(f"[bold][{n}] {escape(_where(source))}[/]"
                      + (f" [dim]— {escape(source['section'])}[/]" if source.get("section") else ""), highlight=False)
        text = Text(source["text"])
        start, end = citation.get("quote_start"), citation.get("quote_end")
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(source["text"]):
            text.stylize("bold reverse", start, end)
        console.print(text)

    def show_threads(self) -> None:
        threads = self.session.threads()
        if not threads:
            console.print("no threads yet")
            return
        for thread in threads:
            current = "→" if thread.id == self.session.thread_id else " "
            when = dt.datetime.fromtimestamp(thread.updated_at).strftime("%Y-%m-%d %H:%M")
            turns = thread.messages // 2
            console.print(f"{current} {thread.id}  {when}  {turns:>3} turn{'' if turns == 1 else 's'}  {thread.title}",
                          markup=False, highlight=False, soft_wrap=True)

    def show_history(self, turns: int = RESUME_TURNS) -> None:
        """The end of a resumed thread, and its last answer's sources for /sources and /open."""
        messages = self.session.messages()
        for message in messages[-2 * turns:]:
            who = "you> " if message.role == "user" else "ragkit> "
            console.print(Text(who, style="dim bold") + Text(message.content, style="dim"))
        last = next((m for m in reversed(messages) if m.role == "assistant"), None)
        if last is not None:
            self.citations, self.sources = last.citations, last.sources


def _where(item: dict[str, Any]) -> str:
    page = item.get("page")
    return item["source"] + (f", page {page}" if page is not None else "")


@app.command()
def chat(
    thread: Annotated[Optional[str], typer.Option("--thread", "-t", help="Continue a thread: its id (or a prefix), or 'last'.", show_default=False)] = None,
    home: HomeOpt = None,
    collection: CollectionOpt = None,
    agent: Annotated[bool, typer.Option("--agent", help="Let the chat model search and read the documents itself (tool calls).")] = False,
    max_tool_rounds: Annotated[int, typer.Option("--max-tool-rounds", min=1, max=10, help="Tool-call rounds per answer in --agent mode.")] = 4,
    generator: Annotated[Optional[str], typer.Option("--generator", help="Who answers: extractive or openai (default: the chat model when a key or base URL is set).", show_default=False)] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Chat model name.", show_default=False)] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="OpenAI-compatible server URL.", show_default=False)] = None,
    stream: Annotated[Optional[bool], typer.Option("--stream/--no-stream", help="Stream the answer as it is written (default: on a terminal).", show_default=False)] = None,
) -> None:
    """Talk with your documents: follow-up questions understood, every answer cited, threads kept."""
    from ragkit.conversations import ChatSession, ThreadStore

    overrides: dict[str, Any] = {"model": model, "base_url": base_url}
    if generator:
        overrides["generator"] = generator
    try:
        with _kb(home, collection, **overrides) as kb, ThreadStore.for_home(kb.home) as store:
            session = ChatSession(kb, store=store, agent=agent, max_tool_rounds=max_tool_rounds)
            screen = ChatScreen(session, streaming=console.is_terminal if stream is None else stream)
            if thread is not None:
                _resume(session, thread)
            title = session.thread.title if session.thread else "new thread"
            mode = " · agent" if agent else ""
            console.print(f"[bold]ragkit chat[/] · collection {escape(kb.settings.collection)}{mode} · "
                          f"{escape(title)}  [dim](/help for commands)[/]", highlight=False)
            if session.thread is not None:
                screen.show_history()
            screen.run()
    except RagkitError as exc:
        raise _fail(exc) from None


def _resume(session: Any, reference: str) -> None:
    if reference == "last":
        threads = session.threads()
        if not threads:
            raise UsageError(f"no threads in collection {session.collection!r} to resume")
        reference = threads[0].id
    session.open(reference)
