"""Keep the navigation of large sections bounded, so the site's build cost grows linearly.

mkdocs-material renders the whole navigation tree into every page. With one section per system,
a lab of N systems has about 3N pages, each carrying about 3N navigation entries: the build grows
with N squared (measured: 200 systems 68 s, see docs/benchmarks.md). For a section listed under
`extra.nav_scope` in mkdocs.yml that has more than `max_children` entries:

- on a page inside it, the section shows only the entry that holds the page (the system with its
  Overview, Quickstart and Compose pages) and a link to the page that lists them all;
- on any other page, the section is that one link.

Smaller sections (the bundled lab) keep the full navigation. Pages, URLs, search, breadcrumbs and
previous/next links are untouched: only what the sidebar renders changes.
"""

from __future__ import annotations

import copy
import logging

from mkdocs.exceptions import PluginError
from mkdocs.structure.nav import Link, Navigation, Section

log = logging.getLogger("mkdocs.hooks.nav_scope")

_scoped: dict[int, tuple[Section, Link, int]] = {}   # id(section) -> (section, listing link, position)


def max_children(extra: dict, title: str) -> int | None:
    """The most entries section `title` lists in full, from mkdocs.yml's extra.nav_scope (the one place
    the number is written); None when the section is not scoped, so it always lists every entry."""
    opts = (extra.get("nav_scope") or {}).get(title)
    if opts is None:
        return None
    if "max_children" not in opts:
        raise PluginError(f"extra.nav_scope.{title}: missing max_children (the entries above which the "
                          "section shows only the current one and a link to the listing)")
    return int(opts["max_children"])


def on_nav(nav, config, files):
    _scoped.clear()
    settings = (config.extra or {}).get("nav_scope") or {}
    for title, opts in settings.items():
        pos, section = next(((i, s) for i, s in enumerate(nav.items)
                             if isinstance(s, Section) and s.title == title), (None, None))
        if section is None:
            raise PluginError(f"extra.nav_scope: no top-level navigation section titled {title!r}")
        listing = files.get_file_from_path(opts["listing"])
        if listing is None or listing.page is None:
            raise PluginError(f"extra.nav_scope.{title}.listing: {opts['listing']!r} is not a page")
        entries = [c for c in section.children if c is not listing.page]   # the listing may be the index page
        if len(entries) <= max_children(config.extra or {}, title):
            continue
        label = opts.get("listing_title", "All {n}").format(n=len(entries), title=title)
        _scoped[id(section)] = (section, Link(label, listing.page.url), pos)
        log.info("navigation section %r (%d entries) is scoped to the current entry", title, len(entries))
    return nav


def _scoped_view(section: Section, link: Link, page) -> object:
    inside = page                     # walk up from the page: O(depth), not O(entries)
    while inside is not None and inside.parent is not section:
        inside = inside.parent
    if inside is None or getattr(inside, "url", None) == link.url:   # elsewhere, or on the listing itself
        return Link(section.title, link.url)
    view = copy.copy(section)         # same title and parent; active state is per build, set by mkdocs
    view.children = [inside, link]
    return view


def on_page_context(context, page, config, nav):
    if not _scoped:
        return context
    items = list(nav.items)
    for section, link, pos in _scoped.values():
        items[pos] = _scoped_view(section, link, page)
    view = object.__new__(Navigation)     # Navigation.__init__ would scan every page for the homepage
    view.__dict__.update(nav.__dict__)
    view.items = items
    context["nav"] = view
    return context
