"""labdocs: one data file -> system docs, compose files, STATUS and the site.

`define_env` is the mkdocs-macros entry point; the command line is `python -m macros`. Both call
`loader.load`, and both render through the same functions.
"""

from __future__ import annotations


def define_env(env) -> None:
    from . import site

    site.define_env(env)


def on_pre_page_macros(env) -> None:
    from . import site

    site.trim_blocks(env)
