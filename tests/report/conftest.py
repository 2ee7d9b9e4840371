"""Shared by the report tests: a small converted network, its run folder, and the
checks on report.html (used on the file and on the DOM Chromium builds)."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

import ann2snn
from ann2snn.ir import Graph
from ann2snn.ir import nodes as n
from ann2snn.report.html import PLOTS

HEADINGS = ["Summary", "Layers", "Operations and energy", "Plots", "Configuration"]


def small_net():
    rng = np.random.default_rng(1)
    g = Graph([
        n.Input("x", shape=(1, 6, 6)),
        n.Conv("conv", ("x",), weight=rng.normal(0, 0.5, (4, 1, 3, 3)).astype(np.float32),
               bias=np.full(4, 0.05, np.float32), stride=(1, 1), padding=(1, 1),
               dilation=(1, 1)),
        n.ReLU("relu", ("conv",)),
        n.MaxPool("pool", ("relu",), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                  dilation=(1, 1)),
        n.Flatten("flat", ("pool",)),
        n.Dense("fc", ("flat",), weight=rng.normal(0, 0.3, (5, 36)).astype(np.float32),
                bias=np.zeros(5, np.float32)),
    ])
    calib = rng.uniform(0, 1, (64, 1, 6, 6)).astype(np.float32)
    x = rng.uniform(0, 1, (30, 1, 6, 6)).astype(np.float32)
    snn = ann2snn.convert(g, calib)
    y = snn.ann_forward(x).argmax(1)
    return snn, x, y


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory):
    snn, x, y = small_net()
    res = snn.simulate(x, y, timesteps=16)
    out = tmp_path_factory.mktemp("run")
    res.save(out)
    return out, res


class Page(HTMLParser):
    """Collects headings, images, and anything that could load an external resource."""

    def __init__(self):
        super().__init__()
        self.headings: list[tuple[str, str]] = []
        self.imgs: list[dict] = []
        self.refs: list[str] = []
        self.scripts = 0
        self._h: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("h1", "h2", "h3"):
            self._h, self._text = tag, ""
        if tag == "img":
            self.imgs.append(a)
        if tag in ("script", "link", "iframe", "object", "embed"):
            self.scripts += 1
        for k in ("src", "href"):
            if k in a and not str(a[k]).startswith("data:"):
                self.refs.append(f"{tag} {k}={a[k]}")

    def handle_data(self, data):
        if self._h:
            self._text += data

    def handle_endtag(self, tag):
        if tag == self._h:
            self.headings.append((tag, self._text.strip()))
            self._h = None


def parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    return p


def check_page(p: Page) -> None:
    """Headings, one embedded PNG per plot, nothing external (shared with the
    Chromium test, which runs it on the DOM the browser built)."""
    h2 = [t for tag, t in p.headings if tag == "h2"]
    assert h2 == HEADINGS
    assert ("h1", "ann2snn run report") in p.headings
    h3 = [t for tag, t in p.headings if tag == "h3"]
    assert [t for _, t, _ in PLOTS] == [t for t in h3 if t != "Energy estimate (not a "
                                        "measurement)"]
    assert len(p.imgs) == len(PLOTS)
    for img in p.imgs:
        src = img["src"]
        assert src.startswith("data:image/png;base64,")
        raw = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(io.BytesIO(raw)) as im:
            im.verify()
        assert img.get("alt")
    assert p.refs == [] and p.scripts == 0



@pytest.fixture
def check_report():
    """A callable: check_report(html_text) asserts headings, PNG images, nothing external."""
    return lambda text: check_page(parse(text))


@pytest.fixture
def parse_report():
    """A callable: parse_report(html_text) -> Page (headings, imgs, external refs)."""
    return parse


@pytest.fixture
def make_small_net():
    """A callable returning (snn, x, y): a fresh small converted network and its data."""
    return small_net
