"""The running application: configuration, CLI, LLM client, answer pipeline, UI."""
