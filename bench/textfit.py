"""Tables that fit the terminal: cells fold instead of ending in an ellipsis, columns that matter least go
first, and as a last resort each row is printed as ``column: value`` lines, so a serial or an error is
always printed whole (an 80-column terminal included)."""

from __future__ import annotations

import re
import sys


def make_console():
    """A console as wide as the terminal (``COLUMNS`` wins, as rich reads it); piped output gets 100 columns.

    Nothing printed depends on the width being large: cells fold (never an ellipsis), so a serial or an
    error is always printed whole.
    """
    import os

    from rich.console import Console

    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 100
    return Console(file=sys.stdout, width=width, highlight=False)


def make_table(
    *columns: str,
    title: str | None = None,
    right: tuple[str, ...] = (),
    keep: dict | None = None,
    whole: dict | None = None,
    squeeze: dict | None = None,
    caps: dict[str, int] | None = None,
):
    """A table whose cells fold rather than end in an ellipsis; ``keep`` maps a column to the cells whose
    words it must not split (its width at least their longest word), e.g. serials; ``whole`` to cells that
    must stay on one line, e.g. an error ± U; ``squeeze`` to cells a column wraps to their longest word;
    ``caps`` a column to its widest (a long point label wraps between its words)."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        padding=(0, 1, 0, 0),
        title_justify="left",
        title_style="bold",
    )
    for col in columns:
        words = [w for c in (keep or {}).get(col, []) for w in c.split()]
        words += (whole or {}).get(col, [])
        widest = max(map(len, words), default=None)
        narrow = None
        if squeeze and col in squeeze:
            narrow = max((len(w) for c in [*squeeze[col], col] for w in c.split()), default=None)
        if caps and col in caps:
            narrow = max(caps[col], widest or 0)
        table.add_column(
            col,
            overflow="fold",
            justify="right" if col in right else "left",
            min_width=widest,
            max_width=narrow,
        )
    return table


def fit(
    console,
    columns: tuple[str, ...],
    rows: list[tuple],
    *,
    keep: tuple[str, ...] = (),
    drop: tuple[str, ...] = (),
    title: str | None = None,
    right: tuple[str, ...] = (),
    styles=None,
    lists: tuple[str, ...] = (),
    whole: dict[str, list[str]] | None = None,
) -> None:
    """Print ``rows`` as a table no wider than the console with every word of the ``keep`` columns whole.

    ``whole`` maps a column to texts that must stay on one line (an error ± U, a meter's line). When the words do not fit, the ``drop`` columns go first (in that order); when even then they do not,
    each row is printed as ``column: value`` lines (a ``lists`` column one item a line). Nothing is cut off
    either way.
    """
    import io

    from rich.console import Console

    cols = list(columns)

    def cells(c: str) -> list[str]:
        return [str(r[columns.index(c)]) for r in rows]

    must = {w for c in keep for v in cells(c) for w in v.split()}
    whole = whole or {}
    # each number of dropped columns is tried plain, with the free columns wrapped to their longest word,
    # then with the kept ones wrapped between words too (at most 20, then 12 wide)
    for n, squeezed in ((n, sq) for n in range(len(drop) + 1) for sq in (None, 0, 20, 12)):
        cols = [c for c in columns if c not in drop[:n]]
        free = (
            {c: cells(c) for c in cols if c not in keep and c not in whole} if squeezed is not None else None
        )
        caps = {c: max(squeezed, len(c)) for c in keep if c in cols} if squeezed else None
        table = make_table(
            *cols,
            title=title,
            right=right,
            keep={c: cells(c) for c in keep if c in cols},
            whole={c: texts for c, texts in whole.items() if c in cols},
            squeeze=free,
            caps=caps,
        )
        for i, row in enumerate(rows):
            table.add_row(*(row[columns.index(c)] for c in cols), style=(styles or {}).get(i))
        trial = Console(width=console.width, file=io.StringIO(), highlight=False, color_system=None)
        trial.print(table)
        text = trial.file.getvalue()
        heads = {w for c in cols for w in c.split()}
        if (
            must | heads <= set(text.split())
            and all(line in text for c, texts in whole.items() if c in cols for line in texts)
            and max(map(len, text.splitlines()), default=0) <= console.width
        ):
            console.print(table)
            return
    if title:
        console.print(f"[bold]{title}[/bold]")
    for row in rows:
        for i, (c, v) in enumerate(zip(columns, row, strict=True)):
            first, *more = str(v).splitlines() if c in lists else [" ".join(str(v).split())]
            say(console, f"{c}: {first}", 0 if i == 0 else 2)
            for line in more:
                say(console, line, 4)


#: a number and a unit after it ("230 V", "0.215 s/day", "±0.5 %"): kept on one line when a line is wrapped
_NUMBER = re.compile(r"[(]?±?[+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?")
_UNIT = re.compile(r"(?:%|s/day|kWh|Wh|varh|VAh|kW|V|A|s|Hz)[,;:.)]*")
_K = re.compile(r"\(k ?=? ?\d+(?:\.\d+)?\)[,;:.]*")


def _words(text: str) -> list[str]:
    """The words of ``text``; a value with its expanded uncertainty, unit and k ("-2.638 ± 0.215 s/day",
    "+0.0133 ± 0.0236 % (k=1.97)") and a number with its unit are one word each, so a "±" never ends a line
    apart from its number."""
    words, out, i = text.split(), [], 0
    while i < len(words):
        word, i = words[i], i + 1
        while i < len(words):
            nxt, last = words[i], word.rsplit(" ", 1)[-1]
            if nxt == "±" and i + 1 < len(words) and _NUMBER.fullmatch(last):
                word, i = f"{word} ± {words[i + 1]}", i + 2
            elif (_UNIT.fullmatch(nxt) and _NUMBER.fullmatch(last)) or (_K.fullmatch(nxt) and " ± " in word):
                word, i = f"{word} {nxt}", i + 1
            else:
                break
        out.append(word)
    return out


def wrap(text: str, width: int, indent: int = 0, hang: int | None = None) -> list[str]:
    """``text`` as lines at most ``width`` wide: the first indented by ``indent``, the rest by ``hang``
    (default ``indent``). A word is never split: a value ± U stays on one line, and a word longer than the
    line (a certificate's path) gets a line of its own and runs past the width rather than being broken."""
    hang = indent if hang is None else hang
    lines: list[str] = []
    line = ""
    for word in _words(text):
        if not line:
            line = " " * (hang if lines else indent) + word
        elif len(line) + 1 + len(word) <= width:
            line += " " + word
        else:
            lines.append(line)
            line = " " * hang + word
    return [*lines, line] if line else lines or [" " * indent]


def say(console, text: str, indent: int = 2, hang: int | None = None) -> None:
    """A line of the report, wrapped at the console's width with a hanging indent so a wrapped line stays
    under its heading; a value ± U and a path are never split (:func:`wrap`). Printed as plain text (a
    message's brackets are not markup)."""
    from rich.text import Text

    for line in wrap(text, console.width, indent, hang):
        console.print(Text(line), soft_wrap=True)  # wrapped already: rich must neither wrap nor crop it


def say_path(console, label: str, path, indent: int = 2) -> None:
    """``label path`` on a line of its own, never wrapped: a path too long for the terminal runs past its
    width (the terminal folds it on screen; a copy and paste gets it whole) rather than being cut."""
    from rich.text import Text

    console.print(Text(f"{' ' * indent}{label} {path}".rstrip()), soft_wrap=True)
