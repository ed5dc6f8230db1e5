"""One module per serving engine (vLLM today)."""
