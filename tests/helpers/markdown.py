"""Reading the project's Markdown as GitHub shows it: headings, their anchors, links, code.

Enough Markdown for the documentation tests: fenced code blocks (```), ATX headings
(``#`` to ``######``), inline links and images. Headings and links inside code blocks
do not count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^\s*```")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(([^()\s]+)\)")


@dataclass(frozen=True)
class Heading:
    level: int
    title: str
    line: int


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line outside fenced code blocks."""
    out: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.splitlines()):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, line))
    return out


def headings(text: str) -> list[Heading]:
    found = []
    for number, line in _prose_lines(text):
        match = _HEADING.match(line)
        if match:
            found.append(Heading(len(match.group(1)), match.group(2), number))
    return found


def slug(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to ``-``."""
    text = title.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor (a repeated one gets ``-1``, ``-2``, ... as on GitHub)."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for heading in headings(text):
        base = slug(heading.title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def links(text: str) -> list[str]:
    """The target of every inline link and image outside code blocks."""
    prose = "\n".join(line for _, line in _prose_lines(text))
    prose = re.sub(r"`[^`\n]*`", "", prose)  # inline code: `[web]` and the like
    return _LINK.findall(prose)


def section(text: str, title: str) -> str:
    """The lines under the heading ``title``, up to the next heading of its level or above."""
    lines = text.splitlines()
    found = headings(text)
    for index, heading in enumerate(found):
        if heading.title == title:
            end = next((h.line for h in found[index + 1 :] if h.level <= heading.level), len(lines))
            return "\n".join(lines[heading.line + 1 : end])
    raise AssertionError(f"no heading {title!r}")


def code_blocks(text: str) -> list[str]:
    """The contents of every fenced code block, in order."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if _FENCE.match(line):
            if current is None:
                current = []
            else:
                blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks
