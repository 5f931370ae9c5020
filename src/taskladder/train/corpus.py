"""HTML documentation → plain-text documents, for corpora built from installed documentation.

The micro-ladder's corpus is the HTML documentation that Debian ships in packages such as
``python3.11-doc`` (Sphinx) and ``postgresql-doc-15`` (DocBook). :func:`html_to_text` keeps the
readable text of a page (paragraphs, list items, definitions, table cells, headings and code
blocks) and drops navigation, sidebars, scripts and styles; :func:`html_documents` turns a
folder of pages into one document per page, paragraphs separated by blank lines.

Only the standard library's HTML parser is used, so the result depends on the input bytes alone.

Examples
--------
>>> html_to_text("<div class='related'>next</div><p>Hello <b>world</b>.</p><pre>x = 1\\n</pre>")
'Hello world.\\n\\nx = 1'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

from ..errors import DataError

__all__ = ["html_to_text", "html_documents", "html_files"]

#: Elements whose text is one paragraph of the output.
_BLOCKS = frozenset({"p", "pre", "li", "dd", "dt", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
                     "blockquote", "caption", "figcaption"})
#: Elements whose whole content is dropped.
_SKIP_TAGS = frozenset({"script", "style", "head", "nav", "noscript", "svg", "button", "form"})
#: Class names (Sphinx, DocBook) of navigation and page furniture, dropped with their content.
_SKIP_CLASSES = frozenset({"sphinxsidebar", "related", "footer", "navheader", "navfooter", "headerlink",
                           "toc", "mobile-nav", "breadcrumbs", "copyright", "highlight-none"})
#: Elements with no end tag.
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                   "track", "wbr"})
#: Glyphs that documentation generators put after headings as anchors.
_ANCHORS = re.compile("[\u00b6\u2693]")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._buffer: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, skipped) of open non-void elements
        self._skip_depth = 0
        self._pre_depth = 0

    def _flush(self) -> None:
        text = "".join(self._buffer)
        self._buffer = []
        if self._pre_depth:
            text = text.strip("\n").rstrip()
        else:
            text = " ".join(text.split())
        text = _ANCHORS.sub("", text).strip()
        if text:
            self.paragraphs.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            if tag == "br" and not self._skip_depth:
                self._buffer.append("\n" if self._pre_depth else " ")
            return
        classes = set((dict(attrs).get("class") or "").split())
        skipped = tag in _SKIP_TAGS or bool(classes & _SKIP_CLASSES)
        if tag in _BLOCKS and not self._skip_depth:
            self._flush()
        self._stack.append((tag, skipped))
        self._skip_depth += skipped
        self._pre_depth += tag == "pre"

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID or not any(open_tag == tag for open_tag, _ in self._stack):
            return  # a stray end tag: ignore it rather than unbalance the stack
        while self._stack:  # close implicitly ended elements (e.g. an unclosed <li>) too
            open_tag, skipped = self._stack.pop()
            if open_tag in _BLOCKS and not self._skip_depth:
                self._flush()
            self._skip_depth -= skipped
            self._pre_depth -= open_tag == "pre"
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def html_to_text(html: str) -> str:
    """The readable text of an HTML page: one paragraph per block element, blank lines between.

    Text outside block elements (e.g. directly inside a ``div``) joins the next paragraph
    boundary. Whitespace inside paragraphs is collapsed except in ``pre`` blocks.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return "\n\n".join(parser.paragraphs)


def html_files(roots: Sequence[str | Path], *, pattern: str = "*.html") -> list[Path]:
    """HTML files under ``roots`` (files or folders, searched recursively), sorted by path.

    Raises
    ------
    DataError
        If a root does not exist or no file matches.
    """
    files: list[Path] = []
    for raw in roots:
        root = Path(raw)
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files += sorted(p for p in root.rglob(pattern) if p.is_file())
        else:
            raise DataError(f"documentation folder {root} does not exist")
    if not files:
        raise DataError(f"no {pattern} files under {', '.join(str(r) for r in roots)}")
    return sorted(set(files))


def html_documents(files: Sequence[Path], *, min_chars: int = 200) -> list[str]:
    """One plain-text document per HTML page; pages with fewer than ``min_chars`` characters are dropped.

    Raises
    ------
    DataError
        If a file is not UTF-8.
    """
    documents = []
    for path in files:
        try:
            html = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path} is not UTF-8 ({exc.reason} at byte {exc.start})") from None
        text = html_to_text(html)
        if len(text) >= min_chars:
            documents.append(text)
    return documents
