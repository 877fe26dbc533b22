"""The annotation page: one static HTML+JS file shipped as package data.

It works from ``file://`` with no server and no external assets. Its Content-Security-Policy
allows only the page's own inline script, by hash; after editing the script run
``python -m realignbench.bench.human.page --rehash`` (a test fails until the hash matches).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import re
import shutil
from pathlib import Path

PAGE = Path(__file__).with_name("annotate.html")
_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_CSP_HASH = re.compile(r"script-src 'sha256-([^']*)'")


def page_path() -> Path:
    return PAGE


def script_hash(html: str) -> str:
    """The CSP hash of the page's single inline script (base64 SHA-256 of its exact text)."""
    scripts = _SCRIPT.findall(html)
    if len(scripts) != 1:
        raise ValueError(f"{PAGE}: expected exactly one inline <script>, found {len(scripts)}")
    return base64.b64encode(hashlib.sha256(scripts[0].encode("utf-8")).digest()).decode()


def declared_hash(html: str) -> str:
    m = _CSP_HASH.search(html)
    if not m:
        raise ValueError(f"{PAGE}: no script-src 'sha256-…' in the Content-Security-Policy")
    return m.group(1)


def copy_page(dest: Path | str) -> Path:
    """Copy the page next to a study (annotators open it straight from disk)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PAGE, dest)
    return dest


def rehash() -> str:
    html = PAGE.read_text(encoding="utf-8")
    digest = script_hash(html)
    PAGE.write_text(_CSP_HASH.sub(f"script-src 'sha256-{digest}'", html, count=1),
                    encoding="utf-8")
    return digest


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rehash", action="store_true", help="update the CSP script hash")
    if parser.parse_args().rehash:
        print(f"{PAGE}: script-src sha256-{rehash()}")
