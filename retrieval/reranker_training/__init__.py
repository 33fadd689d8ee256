"""Train deeprag's own cross-encoder reranker (issue 6): pack training data with mined negatives and
inverse-cloze statements, train, and score evaluation candidates.

The stages are separate so each runs where it is cheapest (mining on the CPU, training and scoring on a GPU,
the tables and the latency on the CPU), and a tiny sample runs the very same code on the CPU in the tests.
Run ``python -m retrieval.reranker_training --help``.
"""
