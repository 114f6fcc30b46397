"""Output in any encoding: what a stream cannot encode is shown as its nearest ASCII, never an error.

linfit's tables and notes use '·', '½', 'γ', '∂', '²', '−' and box-drawing lines. On a stream whose
encoding cannot show them (PYTHONIOENCODING=ascii, a latin-1 or cp437 terminal) `fit_streams` makes
the stream write the nearest ASCII instead ('·' → '*', '½' → '1/2', '─' → '-'), and '?' for the rest.
JSON written to such a stream escapes every non-ASCII character instead (see `ascii_only`).
"""

from __future__ import annotations

import codecs
import sys

HANDLER = "linfit-ascii"

NEAREST = {
    "·": "*",
    "×": "x",
    "½": "1/2",
    "²": "^2",
    "³": "^3",
    "−": "-",
    "–": "-",
    "—": "-",
    "…": "...",
    "≤": "<=",
    "≥": ">=",
    "≈": "~",
    "≠": "!=",
    "←": "<-",
    "→": "->",
    "∇": "grad ",
    "∂": "d",
    "Σ": "sum",
    "α": "alpha",
    "β": "beta",
    "γ": "gamma",
    "μ": "mu",
    "σ": "sigma",
    "Δ": "delta",
    "δ": "delta",
    "ε": "eps",
    "λ": "lambda",
    "τ": "tau",
    "Τ": "T",
    "ψ": "psi",
    "ρ": "rho",
    "ℓ": "l",
    "ᵢ": "_i",
    "÷": "/",
    "ŷ": "y^",
    "√": "sqrt",
    "±": "+/-",
    "✓": "ok",
    "✗": "x",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "•": "*",
    "°": " deg",
    "─": "-",
    "━": "-",
    "═": "=",
    "│": "|",
    "┃": "|",
    "║": "|",
    "├": "|",
    "└": "`",
    "┌": "+",
    "┐": "+",
    "┘": "+",
    "┬": "+",
    "┴": "+",
    "┼": "+",
    "┤": "|",
    "╭": "+",
    "╮": "+",
    "╰": "+",
    "╯": "+",
    "▁": "_",
    "▂": "_",
    "▃": "-",
    "▄": "-",
    "▅": "=",
    "▆": "=",
    "▇": "#",
    "█": "#",
}


def nearest(character: str) -> str:
    """The ASCII shown for a character: from the table, else its letter without accents, else '?'."""
    if character in NEAREST:
        return NEAREST[character]
    import unicodedata

    plain = unicodedata.normalize("NFKD", character).encode("ascii", "ignore").decode("ascii")
    return plain or "?"


def _replace(error: UnicodeError):
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "".join(nearest(c) for c in error.object[error.start : error.end]), error.end


codecs.register_error(HANDLER, _replace)

CODEC = "linfit-ascii"  # ASCII with the nearest characters: a codec of its own, so that click takes the stream as it is


class _NearestEncoder(codecs.IncrementalEncoder):
    def encode(self, text: str, final: bool = False) -> bytes:
        return text.encode("ascii", HANDLER)


def _codec(name: str):
    if name.replace("_", "-") != CODEC:
        return None
    return codecs.CodecInfo(
        name=CODEC,
        encode=lambda text, errors="strict": (text.encode("ascii", HANDLER), len(text)),
        decode=codecs.ascii_decode,
        incrementalencoder=_NearestEncoder,
        incrementaldecoder=codecs.getincrementaldecoder("ascii"),
    )


codecs.register(_codec)


def can_encode_unicode(stream) -> bool:
    encoding = (getattr(stream, "encoding", None) or "ascii").lower().replace("-", "").replace("_", "")
    return encoding.startswith(("utf", "ucs"))


def ascii_only() -> bool:
    """Should text for stdout escape non-ASCII characters (JSON: ensure_ascii)?"""
    return not can_encode_unicode(sys.stdout)


def fit_streams() -> None:
    """Let stdout and stderr fall back to ASCII for the characters their encoding cannot show.

    A stream in plain ASCII is given the codec of the same name (click would otherwise take an ASCII
    stream for a misconfigured one and write its help in UTF-8 around it); the others keep their encoding."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and not can_encode_unicode(stream) and hasattr(stream, "reconfigure"):
            try:
                if codecs.lookup(stream.encoding or "ascii").name == "ascii":
                    stream.reconfigure(encoding=CODEC, errors="strict")
                else:
                    stream.reconfigure(errors=HANDLER)
            except (ValueError, OSError, LookupError):
                pass
