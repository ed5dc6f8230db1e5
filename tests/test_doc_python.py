"""Python blocks of every page, as readers see them: collected by labdocs/doctests/python_blocks.py (see the
pytest_pycollect_makemodule hook in conftest.py) and run by pytest-markdown-docs."""
