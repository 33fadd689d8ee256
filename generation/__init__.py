"""Generation: prompt styles, the OpenAI-compatible LLM client, citations, and the answer pipeline
(retrieve → prompt → stream → citations). Above retrieval, below eval and app."""
