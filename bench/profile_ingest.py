"""Where a first ingest spends its time: a pyinstrument profile of ``KnowledgeBase.ingest``.

Run with:  .venv/bin/python bench/profile_ingest.py CORPUS [--workers N] [--html OUT.html]
(pyinstrument comes with the ``bench`` extra that ``make bench`` installs).

``--workers 0`` parses inline, which shows each stage's own CPU cost; the default shows the real
schedule, parse workers beside the embedder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401 - the loopback-only network guard

from ragkit import KnowledgeBase


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--html", type=Path)
    args = parser.parse_args()
    from pyinstrument import Profiler

    overrides = {} if args.workers is None else {"parse_workers": args.workers}
    with tempfile.TemporaryDirectory() as home:
        kb = KnowledgeBase(home, chunk_size=200, chunk_overlap=40, **overrides)
        profiler = Profiler(interval=0.005)
        started = time.perf_counter()
        with profiler:
            report = kb.ingest([args.corpus])
        print(f"{report.chunks_added} chunks in {time.perf_counter() - started:.1f} s "
              f"(embedding {report.embed_seconds:.1f} s)", file=sys.stderr)
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    if args.html:
        args.html.write_text(profiler.output_html())


if __name__ == "__main__":
    main()
