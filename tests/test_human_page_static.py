"""Static checks of the annotation page (the browser test drives it for real)."""
import re

from realignbench.bench.human.page import declared_hash, page_path, script_hash


def _html():
    return page_path().read_text(encoding="utf-8")


def test_csp_hash_matches_the_inline_script():
    html = _html()
    assert declared_hash(html) == script_hash(html), (
        "the page's script changed: run `python -m realignbench.bench.human.page --rehash`")


def test_page_is_self_contained_and_never_parses_data_as_html():
    html = _html()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)   # no external assets
    assert "@import" not in html and "url(" not in html
    script = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "fetch(", "XMLHttpRequest"):
        assert sink not in script, sink
    assert "default-src 'none'" in html and "img-src 'none'" in html
