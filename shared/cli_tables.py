"""The tables the commands print: every number whole, at any width and when piped.

Every command that prints a table builds an :class:`OutputTable` from declared
columns and prints it with :func:`print_tables`; its ``--json`` prints the same rows
as JSON objects. A column is one of three kinds:

- ``number`` (right-aligned) and ``label`` (left-aligned: ids, symbols, times,
  states): never wrapped, never cut;
- ``text`` (left-aligned: headlines, paths, reasons): wraps at spaces and folds a
  word longer than its width.

Where the output goes decides how it looks:

- not a terminal (a pipe, a file, a test's runner): plain lines, columns aligned
  with spaces, every value whole, no box and no colour, so ``grep`` and ``cut``
  see full values;
- a terminal: rich's boxed table when every number and label fits whole at the
  terminal's width, headers wrapped between words and text columns wrapped to no
  fewer than :data:`TEXT_MIN` columns each; else the same without the box (its
  borders and padding take three columns per column, against two); else, too many
  columns for the width, one record per row, a ``header  value`` line per column.

Why not rich's own fitting: rich shrinks every column evenly when a table is too
wide, ``no_wrap`` numbers included, and crops what still does not fit, which is how
``115…`` and ``10,002.…`` came out at 80 columns. Here the widths are computed
first and given to rich as fixed widths.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

Kind = Literal["number", "label", "text"]
Cell = str | int | float | Text | None
"""What a row holds: text as given (no rich markup), a number shown with ``str``, a
``Text`` for colour, or None shown as ``-``."""

TEXT_MIN = 10
"""The narrowest a text column is wrapped to before the table changes layout."""
GAP = "  "
"""Between the columns of the plain layout and of the records layout."""


@dataclass(frozen=True)
class Column:
    """A column: its header and its :data:`Kind`."""

    header: str
    kind: Kind = "text"

    @property
    def whole(self) -> bool:
        """Never wrapped nor cut (numbers and labels)."""
        return self.kind != "text"

    @property
    def justify(self) -> Literal["left", "right"]:
        return "right" if self.kind == "number" else "left"


def number(header: str) -> Column:
    """A right-aligned column whose values are never wrapped nor cut."""
    return Column(header, "number")


def label(header: str) -> Column:
    """A left-aligned column whose values are never wrapped nor cut (ids, times)."""
    return Column(header, "label")


def text(header: str) -> Column:
    """A left-aligned column that wraps at spaces and folds long words."""
    return Column(header, "text")


def _cell(value: Cell) -> Text:
    if value is None:
        return Text("-")
    if isinstance(value, Text):
        return value.copy()
    return Text(str(value))


def _width(value: Text | str) -> int:
    plain = value.plain if isinstance(value, Text) else value
    return max((cell_len(line) for line in plain.split("\n")), default=0)


class OutputTable:
    """A titled table of declared columns; a rich renderable that picks its layout
    from the console it is printed on (see the module's docstring)."""

    def __init__(self, columns: Sequence[Column], *, title: str | None = None) -> None:
        if not columns:
            raise ValueError("a table needs at least one column")
        self.columns = tuple(columns)
        self.title = title
        self.rows: list[tuple[Text, ...]] = []

    def add_row(self, *cells: Cell) -> None:
        """One row, a cell per column."""
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(tuple(_cell(c) for c in cells))

    def add_rows(self, rows: Iterable[Sequence[Cell]]) -> None:
        for row in rows:
            self.add_row(*row)

    # -- widths ----------------------------------------------------------------------

    def _cells_width(self, index: int) -> int:
        return max((_width(row[index]) for row in self.rows), default=0)

    def natural_widths(self) -> list[int]:
        """Each column's width with nothing wrapped: its header or widest value."""
        return [
            max(_width(column.header), self._cells_width(i))
            for i, column in enumerate(self.columns)
        ]

    def floor_widths(self) -> list[int]:
        """The narrowest each column may be: a number's or a label's widest value or its
        header's longest word (a header wraps between words, never inside one), a text
        column's :data:`TEXT_MIN` (less when its values are narrower)."""
        natural = self.natural_widths()
        return [
            max(1, self._cells_width(i), *(cell_len(word) for word in column.header.split()))
            if column.whole else max(1, min(natural[i], TEXT_MIN))
            for i, column in enumerate(self.columns)
        ]

    def fit(self, available: int) -> list[int] | None:
        """Column widths summing to at most ``available``, the widest column narrowed
        first and none below its floor; None when the floors alone do not fit."""
        floors = self.floor_widths()
        widths = [max(w, f) for w, f in zip(self.natural_widths(), floors, strict=True)]
        if sum(floors) > available:
            return None
        excess = sum(widths) - available
        while excess > 0:
            i = max(
                (i for i, (w, f) in enumerate(zip(widths, floors, strict=True)) if w > f),
                key=lambda i: widths[i],
            )
            widths[i] -= 1
            excess -= 1
        return widths

    # -- layouts ---------------------------------------------------------------------

    def plain_lines(self) -> list[str]:
        """The plain layout: the title, the header, a line per row, every value whole."""
        def flat(value: Text | str, width: int, right: bool) -> str:
            plain = (value.plain if isinstance(value, Text) else value).replace("\n", " ")
            pad = " " * (width - cell_len(plain))
            return pad + plain if right else plain + pad

        widths = self.natural_widths()
        lines = [self.title] if self.title else []
        header: list[Text | str] = [c.header for c in self.columns]
        for cells in (header, *self.rows):
            parts = [
                flat(cell, width, column.kind == "number")
                for cell, column, width in zip(cells, self.columns, widths, strict=True)
            ]
            lines.append(GAP.join(parts).rstrip())
        return lines

    def _rich_table(self, widths: list[int], *, boxed: bool) -> Table:
        # Without the box: a rule under the header, two spaces between columns (a
        # separator and one space of padding), nothing outside.
        table = Table(
            title=self.title,
            box=box.HEAVY_HEAD if boxed else box.SIMPLE_HEAD,
            show_edge=boxed,
            pad_edge=boxed,
            collapse_padding=not boxed,
        )
        for column, width in zip(self.columns, widths, strict=True):
            # A fixed width: rich does no fitting of its own. Numbers and labels fit
            # it whole, headers between words; text wraps, folding a longer word.
            table.add_column(column.header, justify=column.justify, width=width,
                             overflow="fold")
        for row in self.rows:
            table.add_row(*row)
        return table

    def _records(self, max_width: int) -> RenderResult:
        if self.title:
            yield Text(self.title, style="italic")
        key_width = min(max(_width(c.header) for c in self.columns), max(8, max_width // 3))
        grid = Table.grid(padding=(0, len(GAP), 0, 0))
        grid.add_column(width=key_width, overflow="fold", style="bold")
        grid.add_column(width=max(1, max_width - key_width - len(GAP)), overflow="fold")
        for n, row in enumerate(self.rows):
            if n:
                grid.add_row("", "")
            for column, cell in zip(self.columns, row, strict=True):
                grid.add_row(Text(column.header), cell)
        yield grid

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not console.is_terminal:
            for line in self.plain_lines():
                yield Text(line, no_wrap=True, overflow="ignore", end="\n")
            return
        n = len(self.columns)
        width = options.max_width
        # Boxed: an edge on each side, a border between columns, one space each side
        # of every value. Without the box: two spaces between columns, none outside.
        for boxed, overhead in ((True, 3 * n + 1), (False, 2 * (n - 1))):
            widths = self.fit(width - overhead)
            if widths is not None:
                yield self._rich_table(widths, boxed=boxed)
                return
        yield from self._records(width)


def print_tables(*tables: OutputTable, console: Console | None = None) -> None:
    """Print ``tables`` on ``console`` (default: stdout), a blank line between them.

    Not cropped at the console's width: the plain layout is as wide as its widest
    value, and the terminal layouts fit the width by themselves.
    """
    out = console if console is not None else Console()
    for n, table in enumerate(tables):
        if n:
            out.line()
        out.print(table, crop=False)
