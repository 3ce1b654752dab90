"""Stage one of ragkit: files -> chunks -> vectors + BM25 in the store.

``loaders`` turn a file into text sections with page and section metadata, ``split`` cuts them
into token-sized chunks with exact offsets, ``manifest`` remembers what was stored for each file,
and ``pipeline`` runs the incremental batch over folders.
"""
