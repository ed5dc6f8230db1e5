"""labdocs: one data file -> system docs, compose files, STATUS and the site.

Packages by role, each importing only those below it (pyproject.toml: import-linter's layers):
docsite (mkdocs-macros entry and hooks), doctests, probe, lab, render, observed, model, engines, hf_cache, paths.
The site (`labdocs.docsite.site.define_env`) and the command line (`python -m labdocs.render`) both call
`labdocs.model.loader.load` and render through the same functions.
"""
