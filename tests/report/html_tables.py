"""A small stdlib HTML table reader for the report tests (pandas.read_html needs lxml)."""

from __future__ import annotations

from html.parser import HTMLParser


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self._cell, self._in_caption = [], None, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append({"cls": a.get("class") or "", "caption": "", "header": [],
                                "rows": []})
        elif not self.tables:
            return
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = {"tag": tag, "text": "", "value": a.get("data-value"),
                          "cls": a.get("class") or ""}
        elif tag == "br" and self._cell is not None:
            self._cell["text"] += " "

    def handle_endtag(self, tag):
        if tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None and self.tables:
            self._cell["text"] = " ".join(self._cell["text"].split())
            self.tables[-1]["rows"][-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._in_caption and self.tables:
            self.tables[-1]["caption"] += data
        elif self._cell is not None:
            self._cell["text"] += data


def read_tables(html: str) -> list[dict]:
    """Every <table>: class, caption, header (texts of the first row of th) and body rows
    (lists of cells: tag, text, data-value, class)."""
    p = _Tables()
    p.feed(html)
    for t in p.tables:
        if t["rows"] and all(c["tag"] == "th" for c in t["rows"][0]):
            t["header"] = [c["text"] for c in t["rows"].pop(0)]
    return p.tables


def num(text: str) -> float:
    """A number as the page shows it (unicode minus, explicit plus)."""
    return float(text.split()[0].replace("−", "-").replace("+", ""))
