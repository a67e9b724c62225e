"""One root for user mistakes (`PnyxError`), kept apart from internal bugs.

A `SpecError` knows where it happened and renders as ``file:line:col: message``
followed by the offending source line and a caret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only a type: the client commands import this module and must not pay for the AST
    from .ast import Span


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
        lines = self.source.splitlines()
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        width = 1
        if self.span.end_line == line and self.span.end_col > col:
            width = self.span.end_col - col
        out = [f"{self.filename}:{line}:{col}: {self.message}", f"  {text}", "  " + " " * (col - 1) + "^" * width]
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
