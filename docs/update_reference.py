"""Regenerate the reference section of docs/format.md from the data dictionary.

Run after changing ``optimizer/instance/columns.py``: ``python docs/update_reference.py``.
"""

from pathlib import Path

from optimizer.instance.columns import markdown_reference

MARKER = "<!-- generated from optimizer/instance/columns.py: tests/test_docs.py checks it -->\n"

path = Path(__file__).with_name("format.md")
head = path.read_text().split(MARKER, 1)[0]
path.write_text(head + MARKER + markdown_reference())
