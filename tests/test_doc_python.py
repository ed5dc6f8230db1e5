"""Python blocks of every page, as readers see them: collected by labdocs/doctests/python_blocks.py (the
pytest_pycollect_makemodule hook of the doc-test plugin, labdocs/doctests/plugin.py) and run by
pytest-markdown-docs."""
