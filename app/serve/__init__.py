"""`deeprag serve`: start vLLM's OpenAI-compatible server from its own venv, with presets and a memory planner.

Modules, one job each: `presets` (named vLLM argument sets and the exact command), `venv` (where vLLM lives),
`models` (provisioning the offline CPU models), `launcher` (the child process: start, wait for health, stop),
`plan` (GPU memory budget from a model's config.json).
"""
