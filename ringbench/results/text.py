"""Text that came from a host (names, reasons, warnings, evidence), made safe to show.

Whatever a results directory holds was written, in part, by the hosts; a
host name, an ``unsupported`` reason or a probe's evidence may hold markup,
control characters or a megabyte of output. These functions are pure and
bounded, and each says for what it makes the text safe:

- :func:`printable`: control characters (and other characters a terminal,
  an XML 1.0 document or a browser would act on or refuse) as ``\\x1b``
  escapes, so that they show instead of acting;
- :func:`one_line`: printable, whitespace runs as one space, cut to a length:
  a warning line naming a file or a run;
- :func:`markdown_text`: for Markdown (a GitHub job summary, a notebook's
  Markdown output), every character Markdown or HTML would read as syntax
  escaped, newlines as spaces;
- :func:`markdown_code`: a short identifier (a run id) as a code span when it
  can be one, else as escaped text.

HTML is escaped where it is written (``html.escape`` over :func:`printable`
text, :mod:`reports.dashboard`), XML by the XML library
(:mod:`analysis.gate_report`).
"""

from __future__ import annotations

import re

LINE_LIMIT = 300  # characters of one warning line about a file or a run
CUT = " …"

# C0 and C1 controls but tab, newline and carriage return (which XML 1.0 carries), DEL,
# the surrogates and the two non-characters XML 1.0 cannot carry either.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SPACE = re.compile(r"\s+")
# Markdown's inline syntax (CommonMark's escapable punctuation that matters in a table
# cell or a paragraph) and HTML's; '&' too, so that an entity a host wrote shows as text.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|#!~&])")
_CODE_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]*$")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``text`` as a string whose control characters show as ``\\x..`` escapes (tab,
    newline and carriage return are kept: :func:`one_line` folds them)."""
    return _UNPRINTABLE.sub(_escape, str(text))


def cut(text: str, limit: int) -> str:
    """``text`` of at most ``limit`` characters, `` …`` marking a cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(CUT))] + CUT


def one_line(text: object, limit: int = LINE_LIMIT) -> str:
    """Printable, on one line, at most ``limit`` characters."""
    # cut before the work, so that a megabyte costs what ``limit`` characters cost
    raw = str(text)[: 4 * limit + 16]
    return cut(_SPACE.sub(" ", printable(raw)).strip(), limit)


def markdown_text(text: object) -> str:
    """``text`` for Markdown: printable, on one line, every syntax character escaped
    (``|`` too, so it stays in its table cell; ``<`` and ``>`` too, so no HTML passes)."""
    flat = _SPACE.sub(" ", printable(text)).strip()
    return _MARKDOWN.sub(r"\\\1", flat)


def markdown_code(text: object) -> str:
    """A short identifier as a code span when it holds nothing a code span would show
    wrong (a run id, a benchmark name), else as :func:`markdown_text`."""
    value = str(text)
    if _CODE_SAFE.match(value) and len(value) <= LINE_LIMIT:
        return f"`{value}`"
    return markdown_text(value)
