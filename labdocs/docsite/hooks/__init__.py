"""mkdocs hooks, listed in mkdocs.yml by path."""
