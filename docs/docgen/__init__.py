"""The renderers behind ``docs/generate.py``: one module per generated page, Markdown helpers apart."""
