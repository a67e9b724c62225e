"""Export a checked spec to TLA+: a module and TLC configurations with Pnyx's state graph."""

from .handlers import ExportError
from .module import TlaExport, export

__all__ = ["ExportError", "TlaExport", "export"]
