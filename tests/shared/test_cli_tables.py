"""The tables every command prints (:mod:`shared.cli_tables`): numbers are never cut,
at any terminal width, and piped output is plain lines with every value whole."""

from __future__ import annotations

import io
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from shared.cli_tables import OutputTable, label, number, print_tables, text

BOX = re.compile("[│┃━─┏┓┗┛┡┩└┘╇┳┻╋┼]")


def render(table: OutputTable, *, width: int, terminal: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=terminal, color_system=None,
                      legacy_windows=False)
    print_tables(table, console=console)
    return out.getvalue()


def stats_like() -> OutputTable:
    table = OutputTable([label("table"), number("rows"), number("min id"), number("max id"),
                         number("max id ever"), label("last (UTC)"), text("note")],
                        title="store /a/rather/long/path/to/the/agents/edge.db")
    table.add_row("book_snapshots", 115_000_000, 115_000_001, "10,002,345.678", None,
                  "2024-03-01 12:00:00", "a note long enough to need wrapping at eighty")
    return table


def test_piped_output_is_plain_aligned_lines_with_every_value_whole() -> None:
    """Tried: a table printed where the output is not a terminal, 40 columns wide.
    Kept: the title, then the header and the row as plain lines wider than 40, every
    value whole, numbers right-aligned under their header, no box."""
    shown = render(stats_like(), width=40, terminal=False)

    title, header, row = shown.splitlines()
    assert title == "store /a/rather/long/path/to/the/agents/edge.db"
    assert row.split("  ")[0] == "book_snapshots"
    for value in ("115000000", "115000001", "10,002,345.678", "2024-03-01 12:00:00",
                  "a note long enough to need wrapping at eighty"):
        assert value in row
    assert header.index("max id ever") + len("max id ever") == row.index(" -") + 2
    assert not BOX.search(shown)


def test_at_80_columns_numbers_stay_whole_and_the_text_column_wraps() -> None:
    """Tried: a table over 100 columns wide unwrapped, in an 80-column terminal.
    Kept: a boxed table no wider than 80 with every number whole; the note wrapped
    between words."""
    table = OutputTable([label("table"), number("rows"), number("min id"), number("max id"),
                         text("note")])
    table.add_row("book_snapshots", 115_000_000, 115_000_001, "10,002,345.678",
                  "a note long enough to need wrapping at eighty")

    shown = render(table, width=80, terminal=True)

    assert max(len(line) for line in shown.splitlines()) <= 80
    assert "┃ table " in shown
    for value in ("115000000", "115000001", "10,002,345.678"):
        assert value in shown, shown
    assert "…" not in shown
    assert "a note long enough to need wrapping at eighty" not in shown  # wrapped
    assert {"note", "long", "enough", "wrapping", "eighty"} <= set(shown.split())


def test_too_many_columns_for_the_width_print_one_record_per_row() -> None:
    """Tried: fifteen 9-digit columns at 80 columns. Kept: no table (it cannot fit
    whole) but `header  value` lines, every number whole on its header's line."""
    table = OutputTable([label("agent"), *(number(f"n{i}") for i in range(14))], title="fleet")
    table.add_row("pi-1", *(115_000_000 + i for i in range(14)))

    shown = render(table, width=80, terminal=True)

    lines = [line.rstrip() for line in shown.splitlines()]
    assert lines[0] == "fleet" and lines[1].split() == ["agent", "pi-1"]
    assert [line.split() for line in lines[2:]] == [
        [f"n{i}", str(115_000_000 + i)] for i in range(14)]


def test_cells_are_not_rich_markup_and_keep_given_styles() -> None:
    """Tried: a headline with brackets, and a Text styled red. Kept: the brackets
    printed as they are, the Text's words."""
    table = OutputTable([text("headline"), label("contents")])
    table.add_row("SEC [finally] approves [bold]ETFs[/bold]", Text("DIFFER", style="red"))

    for terminal in (True, False):
        shown = render(table, width=120, terminal=terminal)
        assert "SEC [finally] approves [bold]ETFs[/bold]" in shown and "DIFFER" in shown


cells = st.one_of(
    st.integers(min_value=0, max_value=10**15),
    st.decimals(min_value=-(10**9), max_value=10**9, places=3, allow_nan=False,
                allow_infinity=False).map(lambda d: f"{d:,}"),
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(cells, min_size=5, max_size=5), min_size=1, max_size=4),
    note=st.text(alphabet="abcdefgh ", min_size=0, max_size=60),
    width=st.integers(min_value=30, max_value=200),
)
def test_every_number_is_whole_at_any_width(
    rows: list[list[object]], note: str, width: int
) -> None:
    """Invariant: whatever the numbers and the terminal's width (30 to 200 columns),
    every number appears whole, nothing ends in `…`, no line is wider than the
    terminal; piped, every number is whole too."""
    table = OutputTable([*(number(f"figure {i}") for i in range(5)), text("note")],
                        title="figures")
    for row in rows:
        table.add_row(*row, note)  # type: ignore[arg-type]

    shown = render(table, width=width, terminal=True)
    piped = render(table, width=width, terminal=False)

    assert "…" not in shown
    assert max(len(line) for line in shown.splitlines()) <= width
    for row in rows:
        for value in row:
            assert str(value) in shown, (value, shown)
            assert str(value) in piped
