"""The one error type for bad input anywhere in MeterBench.

Every plan, bench file, barcode, instrument reply or CLI argument that is wrong raises
:class:`InputError`, naming *where* (file or source), *which field*, *what was found* and *what is
allowed*, so a technician can fix it without reading code. The CLI prints ``str(err)`` and exits 2.
"""

from __future__ import annotations

from collections.abc import Iterable


class InputError(ValueError):
    """Bad input, with the field named and what is allowed.

    ``source`` is a file path or a description ("--kh", "manifest.csv line 4"); ``field`` is a dotted
    path to the offending key ("plans.ansi-c12.20-2s.points[2].current"); ``allowed`` says what would
    have been accepted.
    """

    def __init__(
        self,
        field: str,
        problem: str,
        *,
        allowed: str | Iterable[str] | None = None,
        source: str | None = None,
        found: object = None,
    ) -> None:
        self.field = field
        self.problem = problem
        if allowed is not None and not isinstance(allowed, str):
            allowed = ", ".join(str(a) for a in allowed)
        self.allowed = allowed
        self.source = source
        self.found = found
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.source}: " if self.source else ""
        text = f"{where}{self.field}: {self.problem}"
        if self.found is not None:
            text += f" (found {self.found!r})"
        if self.allowed:
            text += f"; allowed: {self.allowed}"
        return text

    def within(self, source: str) -> InputError:
        """The same error, said of a file or source the caller knows and the raiser did not."""
        if self.source:
            return self
        return InputError(self.field, self.problem, allowed=self.allowed, source=source, found=self.found)
