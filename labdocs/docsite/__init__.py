"""The mkdocs side: the mkdocs-macros entry point (site.py) and every mkdocs hook (hooks/)."""
