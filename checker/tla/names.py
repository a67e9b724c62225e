"""Identifiers for the exported TLA+ module: no keyword, no clash, no shadowing.

SANY rejects a bound name that is already defined in scope, so every name the
exporter writes is claimed here: global names once for the module, local names
once per operator definition.
"""

from __future__ import annotations

import re

# TLA+ keywords, and the operators of the standard modules the export extends.
RESERVED = frozenset("""
ACTION ASSUME ASSUMPTION AXIOM BOOLEAN BY CASE CHOOSE CONSTANT CONSTANTS COROLLARY DEF DEFINE DEFS DOMAIN
ELSE ENABLED EXCEPT EXTENDS HAVE HIDE IF IN INSTANCE LAMBDA LEMMA LET LOCAL MODULE NEW OBVIOUS OMITTED
ONLY OTHER PICK PROOF PROPOSITION PROVE QED RECURSIVE SF_ STATE STRING SUBSET SUCH SUFFICES TAKE TEMPORAL
THEN THEOREM TRUE FALSE UNCHANGED UNION USE VARIABLE VARIABLES WF_ WITH WITNESS
Nat Int Real Infinity Seq Len Append Head Tail SubSeq SelectSeq Cardinality IsFiniteSet
Print PrintT Assert JavaTime TLCGet TLCSet TLCEval Permutations SortSeq RandomElement Any ToString
""".split())

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def identifiers(text: str) -> set[str]:
    """Every identifier of a piece of TLA+, comments and strings aside (to reserve a prelude's names)."""
    code = re.sub(r'\\\*[^\n]*|"[^"]*"', " ", text)
    return set(_IDENT.findall(code))


class Names:
    """Allocates identifiers: `claim` keeps a wanted name when free, else adds a suffix."""

    def __init__(self, taken: set[str] | frozenset[str] = frozenset(), parent: Names | None = None) -> None:
        self.taken: set[str] = set(taken)
        self.parent = parent

    def used(self, name: str) -> bool:
        n: Names | None = self
        while n is not None:
            if name in n.taken or name in RESERVED:
                return True
            n = n.parent
        return False

    def claim(self, wanted: str) -> str:
        base = wanted if _IDENT.fullmatch(wanted) and any(c.isalpha() for c in wanted) else "x_" + wanted
        name, k = base, 1
        while self.used(name):
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def child(self) -> Names:
        """A fresh scope for one operator definition, avoiding every name claimed above it."""
        return Names(parent=self)
