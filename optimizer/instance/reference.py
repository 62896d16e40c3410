"""The data dictionary of the inputs as Markdown: the reference in docs/format.md."""

from __future__ import annotations

from optimizer.instance.columns import PARAMETERS, TABLES, Column


def markdown_reference() -> str:
    """Every table, column and parameter as Markdown tables (the reference in docs/format.md)."""
    lines: list[str] = []

    def describe(column: Column) -> str:
        if column.required:
            default = "required"
        elif column.default is None:
            default = "none"
        elif column.kind == "list":
            default = '`"*"`' if column.default == "*" else "empty"
        elif column.kind == "bool":
            default = str(column.default).lower()
        elif column.kind == "address":
            default = f"`{column.default}`"
        elif column.kind == "uint":
            default = f"{column.default:,}"
        else:
            default = f"{column.default:g}"
        legal = column.range_text()
        ref = f" (ids of `{column.ref}`)" if column.ref else ""
        return (f"| `{column.name}` | {column.kind}{ref} | {column.unit or '-'} | {default} "
                f"| {legal or '-'} | {column.doc} |")

    header = ["| column | type | unit | default | legal values | meaning |",
              "|---|---|---|---|---|---|"]
    lines += ["### `[parameters]`", "", *header]
    lines += [describe(c) for c in PARAMETERS]
    for table in TABLES.values():
        id_note = f" Row id: `{table.id_column}`." if table.id_column else ""
        lines += ["", f"### `{table.name}`", "", table.doc + id_note, "", *header]
        lines += [describe(c) for c in table.columns]
    return "\n".join(lines) + "\n"
