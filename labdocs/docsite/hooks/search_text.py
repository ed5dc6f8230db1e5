"""Let material's search plugin read each page without its syntax-highlighting markup.

The search plugin parses every page's HTML with Python's html.parser, one callback per tag, and
Pygments wraps each token of a code block in a <span> (plus an anchor per line): at 200 systems those
tags were most of what it parsed, about a quarter of the build. It keeps only their text, so the
index is the same without them (tests/test_site_speed.py builds the site both ways and compares the
index and every page byte for byte). Before the plugin runs, the page's HTML loses those tags; right
after, the page gets its full HTML back, so what readers see is unchanged.
"""

from __future__ import annotations

import re

from mkdocs.plugins import CombinedEvent, event_priority

# Pygments' token spans, and the empty per-line anchors of pymdownx.highlight's anchor_linenums.
_HIGHLIGHT = re.compile(r'</?span\b[^>]*>|<a id="__codelineno-[^"]*"[^>]*></a>')
# What the search plugin strips from the page after indexing it (material/plugins/search/plugin.py).
_SEARCH_ATTRS = re.compile(r'\s?data-search-\w+="[^"]+"')

_full: dict[str, str] = {}


@event_priority(50)           # before the search plugin (priority 0)
def _strip(context, page, config, nav):
    _full[page.file.src_uri] = page.content
    page.content = _HIGHLIGHT.sub("", page.content)
    return context


@event_priority(-50)          # after it: the full HTML back, with the plugin's own clean-up applied
def _restore(context, page, config, nav):
    full = _full.pop(page.file.src_uri, None)
    if full is not None:
        page.content = _SEARCH_ATTRS.sub("", full)
    return context


on_page_context = CombinedEvent(_strip, _restore)
