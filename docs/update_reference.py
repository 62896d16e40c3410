"""Regenerate the generated sections of the docs from the code that declares them.

- docs/format.md's reference, from the data dictionaries of the inputs and outputs
  (``optimizer/instance/columns.py``, ``optimizer/instance/outputs.py``);
- docs/architecture.md's family tables, from the family records
  (``optimizer/model/families.py``).

Run after changing either: ``python docs/update_reference.py``; tests/test_docs.py checks
that both are up to date.
"""

from pathlib import Path

from optimizer.instance.outputs import markdown_outputs
from optimizer.instance.reference import markdown_reference
from optimizer.model.families import markdown_table

MARKER = "<!-- generated from optimizer/instance/columns.py: tests/test_docs.py checks it -->\n"
FAMILY_MARKER = ("<!-- generated from the family records (optimizer/model/families.py): "
                 "tests/test_docs.py checks it -->\n")

for name, marker, text in (("format.md", MARKER, markdown_reference() + "\n" + markdown_outputs()),
                           ("architecture.md", FAMILY_MARKER, markdown_table())):
    path = Path(__file__).with_name(name)
    head = path.read_text().split(marker, 1)[0]
    path.write_text(head + marker + text)
