"""Models deeprag ships, installed as the package ``deeprag_models`` (see pyproject.toml): one folder each,
loadable by its folder name (``retrieval.reranker_model = "deeprag-reranker-minilm-l6"``)."""
