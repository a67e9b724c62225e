"""One root for user mistakes (`PnyxError`), kept apart from internal bugs.

A `SpecError` knows where it happened and renders as ``file:line:col: message``
followed by the offending source line and a caret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only a type: the client commands import this module and must not pay for the AST
    from .ast import Span


SHOWN_LINE = 120  # characters of the offending line an error shows around its column


class PnyxError(Exception):
    """A mistake in the user's input: the CLI prints it and exits 2."""


class SpecError(PnyxError):
    """An error located in a spec file (syntax, names, types)."""

    def __init__(self, message: str, filename: str, source: str, span: Span | None, hint: str = "") -> None:
        self.message = message
        self.filename = filename
        self.source = source
        self.span = span
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        if self.span is None or self.span.line == 0:
            head = f"{self.filename}: {self.message}"
            return head + (f"\n  hint: {self.hint}" if self.hint else "")
        line, col = self.span.line, self.span.col
        lines = self.source.split("\n")  # lines as the parser counts them: only \n ends one
        text = lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else ""
        width = 1
        if self.span.end_line == line and self.span.end_col > col:
            width = self.span.end_col - col
        start = 0
        if len(text) > SHOWN_LINE:  # a window around the column, not a 100 KB line
            start = max(0, col - 1 - SHOWN_LINE // 3)
            end = start + SHOWN_LINE
            text = ("..." if start else "") + text[start:end] + ("..." if end < len(text) else "")
            start -= 3 if start else 0
            width = max(1, min(width, end - (col - 1)))
        out = [f"{self.filename}:{line}:{col}: {self.message}", f"  {text}", "  " + " " * (col - 1 - start) + "^" * width]
        if self.hint:
            out.append(f"  hint: {self.hint}")
        return "\n".join(out)


class ArgumentError(PnyxError):
    """A bad command-line value (for example a `-D` override)."""


class ModelError(Exception):
    """A spec's handler failed while running (bound exceeded, index out of range...).

    Raised by compiled code; the checker turns it into a counterexample.
    """

    def __init__(self, message: str, line: int = 0) -> None:
        self.message = message
        self.line = line
        super().__init__(message if not line else f"{message} (spec line {line})")
