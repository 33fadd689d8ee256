"""Train deeprag's own cross-encoder reranker (issue 6): mine hard negatives, pack, train, score, report.

The stages are separate modules so each can run where it is cheapest (mining and training on a GPU, the
metrics and the latency on the CPU), and a tiny sample runs the very same code on the CPU in the tests.
Run ``python -m retrieval.reranker_training --help``.
"""
