"""Generated files: views, the renderer, the generator and its command line (python -m labdocs.render)."""
