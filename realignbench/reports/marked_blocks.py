"""Generated blocks inside hand-written Markdown.

A block is the text between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``, each
marker on a line of its own. :func:`replace_blocks` swaps every block's body for freshly
generated text and leaves everything else byte for byte, so prose stays hand-written while the
facts inside the markers come from code.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Mapping

MARKER = re.compile(r"^<!-- (/?)generated:([A-Za-z0-9_.-]+) -->$")


class BlockError(ValueError):
    """A document or marker is missing, unknown, nested or unbalanced; the message names the
    file and, for a marker, the line."""


def find_blocks(text: str, where: Path | str) -> dict[str, tuple[int, int]]:
    """``{name: (first body line, end marker line)}`` (0-based line numbers)."""
    blocks: dict[str, tuple[int, int]] = {}
    open_name, open_line = None, -1
    for i, line in enumerate(text.splitlines()):
        match = MARKER.match(line.strip())
        if not match:
            continue
        closing, name = match.group(1) == "/", match.group(2)
        if not closing:
            if open_name is not None:
                raise BlockError(f"{where}:{i + 1}: block {name!r} opens inside block "
                                 f"{open_name!r} (opened on line {open_line + 1})")
            if name in blocks:
                raise BlockError(f"{where}:{i + 1}: block {name!r} appears twice")
            open_name, open_line = name, i
        elif name != open_name:
            raise BlockError(f"{where}:{i + 1}: closing marker for {name!r} without its opening "
                             "marker")
        else:
            blocks[name] = (open_line + 1, i)
            open_name = None
    if open_name is not None:
        raise BlockError(f"{where}:{open_line + 1}: block {open_name!r} is never closed "
                         f"(<!-- /generated:{open_name} -->)")
    return blocks


def replace_blocks(text: str, generators: Mapping[str, Callable[[], str]],
                   where: Path | str) -> str:
    """``text`` with each block's body replaced by its generator's output.

    Every block in the text needs a generator and every generator a block, so a renamed or
    deleted marker is an error rather than a silently stale paragraph.
    """
    blocks = find_blocks(text, where)
    unknown = sorted(set(blocks) - set(generators))
    missing = sorted(set(generators) - set(blocks))
    if unknown or missing:
        raise BlockError(f"{where}: blocks without a generator {unknown}; generators without "
                         f"a block {missing} (markers: <!-- generated:NAME -->)")
    lines = text.splitlines(keepends=True)
    for name, (start, end) in sorted(blocks.items(), key=lambda kv: -kv[1][0]):
        body = generators[name]().rstrip("\n") + "\n"
        lines[start:end] = [body]
    return "".join(lines)
