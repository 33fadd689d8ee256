"""Adapting retrieval to one index's own corpus with no labels (`deeprag adapt`, issue 15).

Synthetic queries written for the corpus's chunks (inverse-cloze statements here; LLM questions and claims in
``generation.query_writer``) are kept only if the current first stage finds their chunk (``roundtrip``), get
negatives from the same index (``negatives``), train the configured reranker (``training``), and choose the
stage shares on held-out synthetic queries (``tuning``). ``store`` keeps the result inside the index
directory, where ``retrieval.searcher`` picks it up. Nothing here reads a benchmark's queries or labels.
"""
