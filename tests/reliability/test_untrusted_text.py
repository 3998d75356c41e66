"""Study text, schedule and optimizer names carrying HTML end up escaped in every rendered page."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from harness import write_toml

from annealbench.cli import main as train_main
from annealbench_report.cli import main as report_main

PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(2)>',
            "<svg onload=alert(3)>", "</title><script>alert(4)</script>", "<b onmouseover=alert(5)>x</b>"]

STUDY = f"""
spec_version = 1

[study]
name = "xss"
description = {json.dumps(PAYLOADS[0] + " and " + PAYLOADS[1])}
notes = {json.dumps(PAYLOADS[3] + PAYLOADS[2])}
primary_metric = "accuracy"
epochs = 1
batch_size = 32
seeds = [0]

[model]
name = "airbench-cnn"
widths = [8]

[dataset]
name = "synthetic-images"
n_train = 64
n_val = 32
n_test = 32
image_size = 8

[optimizers.{json.dumps(PAYLOADS[4])}]
type = "sgd"
lrs = [0.05]

[schedules.{json.dumps(PAYLOADS[0])}]
type = "constant"

[schedules.{json.dumps(PAYLOADS[1])}]
type = "step"
step_size = 1
gamma = 0.5
"""


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.handlers, self.scripts, self._in_script = [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.handlers += [(tag, k, v) for k, v in attrs if k.startswith("on")]
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def test_html_in_names_and_notes_is_escaped(tmp_path, capsys):
    out = tmp_path / "out"
    study = write_toml(tmp_path / "xss.toml", text=STUDY)
    assert train_main(["run", str(study), "--out", str(out), "--device", "cpu", "--no-progress"]) == 0
    assert report_main(["build", "--out", str(out)]) == 0, capsys.readouterr().err
    pages = [out / "index.html", out / "xss" / "index.html"]
    for page in pages:
        raw = page.read_text()
        for bad in ("<script>alert", "<img", "<svg onload", "<b onmouseover"):  # as text they are &lt;…
            assert bad not in raw, f"{page}: live {bad!r} from study data"
        parsed = _Tags()
        parsed.feed(raw)
        assert "img" not in parsed.tags
        assert parsed.handlers == [], parsed.handlers
        assert not any("alert(" in s for s in parsed.scripts)
    # the text is still there, shown as text
    study_page = (out / "xss" / "index.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in study_page
