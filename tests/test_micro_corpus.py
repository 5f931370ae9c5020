"""HTML documentation -> text, and the cloze tasks built from held-out documents."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from taskladder.errors import ConfigError, DataError
from taskladder.train.cloze import build_cloze_items, prose_paragraphs, write_cloze_jsonl
from taskladder.train.corpus import html_documents, html_files, html_to_text

SPHINX_PAGE = """<!DOCTYPE html><html><head><title>t</title><style>p {color: red}</style>
<script>var x = "<p>not text</p>";</script></head><body>
<div class="related" role="navigation"><ul><li><a href="x.html">next</a></li></ul></div>
<div class="body" role="main">
<h1>Sorting HOW TO<a class="headerlink" href="#s">\u00b6</a></h1>
<p>Python lists have a built-in <code>list.sort()</code> method &amp; a
   <em>sorted()</em> function.</p>
<ul><li>First item<li>Second item</ul>
<pre>&gt;&gt;&gt; sorted([5, 2])
[2, 5]
</pre>
<dl><dt>key</dt><dd>A function of one argument.</dd></dl>
</div>
<div class="sphinxsidebar"><p>Table of contents</p></div>
<div class="footer">&copy; Copyright</div>
</body></html>"""


def test_html_to_text_keeps_the_readable_blocks_and_drops_page_furniture():
    text = html_to_text(SPHINX_PAGE)
    assert text.split("\n\n") == [
        "Sorting HOW TO",
        "Python lists have a built-in list.sort() method & a sorted() function.",
        "First item",
        "Second item",
        ">>> sorted([5, 2])\n[2, 5]",
        "key",
        "A function of one argument.",
    ]


def test_html_documents_one_per_page_and_short_pages_dropped(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "page.html").write_text(SPHINX_PAGE, encoding="utf-8")
    (tmp_path / "index.html").write_text("<p>Index</p>", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not html", encoding="utf-8")
    files = html_files([tmp_path])
    assert [f.name for f in files] == ["page.html", "index.html"]
    assert html_documents(files, min_chars=50) == [html_to_text(SPHINX_PAGE)]
    with pytest.raises(DataError, match="does not exist"):
        html_files([tmp_path / "missing"])
    with pytest.raises(DataError, match=r"no \*\.en\.html files"):
        html_files([tmp_path], pattern="*.en.html")


def _letters(n: int) -> str:
    return "".join("abcdefghij"[int(c)] for c in str(n))


def _documents(n_docs: int = 6, paragraphs: int = 4) -> list[str]:
    """Documents whose words name their document and paragraph ("docbparcwd"), so every span's origin shows."""
    docs = []
    for d in range(n_docs):
        paras = [" ".join(f"doc{_letters(d)}par{_letters(p)}w{_letters(w)}" for w in range(30)) + "."
                 for p in range(paragraphs)]
        docs.append("\n\n".join(["Heading", "x = compute(1, 2)\nprint(x)", *paras]))
    return docs


def test_prose_paragraphs_skip_code_headings_and_short_text():
    doc = _documents(1)[0]
    paragraphs = prose_paragraphs(doc, min_words=18)
    assert len(paragraphs) == 4 and all(len(p) == 30 for p in paragraphs)
    assert prose_paragraphs("a b c.", min_words=18) == []
    assert prose_paragraphs("if (x) { y = f(z); } return w; // " * 5 + ".", min_words=5) == []


@pytest.mark.parametrize("kind", ["other_documents", "adjacent_swaps"])
def test_cloze_items_gold_is_the_true_continuation(kind):
    docs = _documents()
    items = build_cloze_items(docs, n_items=20, context_words=12, continuation_words=6, distractors=kind, seed=3)
    assert len(items) == 20
    for item in items:
        words = item.context.split() + item.choices[item.gold].split()
        source = docs[item.document]
        # context + gold is a contiguous run of one paragraph of its document
        assert " ".join(words) in source and len(item.context.split()) >= 12
        assert len(set(item.choices)) == 4 and all(len(c.split()) == 6 for c in item.choices)
        wrong = [c for i, c in enumerate(item.choices) if i != item.gold]
        if kind == "other_documents":
            own = item.choices[item.gold].split()[0].split("par")[0]
            assert all(c.split()[0].split("par")[0] != own for c in wrong)  # from other documents
        else:
            gold = item.choices[item.gold].split()
            for c in wrong:  # the same words with exactly one pair of neighbours swapped
                diff = [i for i, (a, b) in enumerate(zip(gold, c.split())) if a != b]
                assert sorted(c.split()) == sorted(gold) and len(diff) == 2 and diff[1] == diff[0] + 1


def test_cloze_items_are_deterministic_and_gold_positions_spread():
    docs = _documents(8, 6)
    a = build_cloze_items(docs, n_items=40, seed=0)
    assert a == build_cloze_items(docs, n_items=40, seed=0)
    assert a != build_cloze_items(docs, n_items=40, seed=1)
    positions = Counter(item.gold for item in a)
    assert set(positions) == {0, 1, 2, 3} and max(positions.values()) <= 20


def test_excluded_paragraphs_give_tasks_of_their_own():
    docs = _documents(8, 6)
    first = build_cloze_items(docs, n_items=15, distractors="adjacent_swaps", seed=0)
    second = build_cloze_items(docs, n_items=15, continuation_words=1, seed=1,
                               exclude={item.paragraph for item in first})
    assert len(second) == 15 and all(len(item.choices[item.gold].split()) == 1 for item in second)
    assert not {item.paragraph for item in first} & {item.paragraph for item in second}
    assert not {item.context for item in first} & {item.context for item in second}
    # without the exclusion, the same seed draws from the same paragraphs
    again = build_cloze_items(docs, n_items=15, continuation_words=1, seed=1)
    assert {item.paragraph for item in again} & {item.paragraph for item in first}


def test_cloze_errors_and_jsonl(tmp_path):
    with pytest.raises(DataError, match="at least two documents"):
        build_cloze_items(_documents(1), n_items=5)
    with pytest.raises(ConfigError, match="distractors must be one of"):
        build_cloze_items(_documents(), n_items=5, distractors="random")
    with pytest.raises(ConfigError, match="adjacent swaps"):
        build_cloze_items(_documents(), n_items=5, continuation_words=3, distractors="adjacent_swaps")
    items = build_cloze_items(_documents(), n_items=3)
    path = write_cloze_jsonl(items, tmp_path / "t.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records == [{"context": i.context, "choices": list(i.choices), "gold": i.gold} for i in items]
    from taskladder.eval import load_jsonl_task

    component = load_jsonl_task(path)
    assert [d.gold for d in component.documents] == [i.gold for i in items]
