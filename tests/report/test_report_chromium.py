"""report.html in a real browser: headless Chromium (Debian package ``chromium``).

Three runs: a control page with a deliberate console error and a broken image proves the
detectors work with this Chromium; report.html as written must log nothing to the
console; and a copy with a small probe script (errors and image decoding written into
the DOM) must show every image decoded and no error.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not found (install it with "
                             "'apt-get install -y chromium'); the report is not rendered")

PROBE = ("<script>window.__errors=[];window.addEventListener('error',function(e){"
         "window.__errors.push(String(e.message||e.type));},true);"
         "window.addEventListener('load',function(){var r=[];"
         "document.querySelectorAll('img').forEach(function(i){"
         "r.push(i.complete&&i.naturalWidth>0?'ok':'broken');});"
         "document.body.setAttribute('data-imgs',r.join(','));"
         "document.body.setAttribute('data-errors',window.__errors.join('|'));});</script>")
CONSOLE = re.compile(r":CONSOLE[^\]]*\]|Uncaught|Refused to")


def render(page: Path, profile: Path) -> tuple[str, list[str]]:
    """(DOM after load, console lines from Chromium's log)."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--dump-dom",
           page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, [ln for ln in proc.stderr.splitlines() if CONSOLE.search(ln)]


def with_probe(html: str) -> str:
    return html.replace("<head>", "<head>" + PROBE, 1)


def attr(dom: str, name: str) -> str:
    m = re.search(rf'<body[^>]*\s{name}="([^"]*)"', dom)
    assert m, f"{name} not set: the probe script did not run"
    return m.group(1)


def test_detectors_catch_a_broken_control_page(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text(with_probe("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
                              "<img src='missing.png'><script>console.error('boom');"
                              "undefinedFunction();</script></body></html>"))
    dom, console = render(bad, tmp_path / "profile")
    assert any("boom" in ln for ln in console) and any("Uncaught" in ln for ln in console)
    assert attr(dom, "data-imgs") == "broken"
    assert "undefinedFunction" in attr(dom, "data-errors")


def test_report_renders_with_headings_images_and_no_console_errors(run_folder, check_report,
                                                                   tmp_path):
    out, _ = run_folder
    dom, console = render(out / "report.html", tmp_path / "profile")
    assert console == []
    check_report(dom)  # headings and data: PNGs as the browser built the DOM
    probe = tmp_path / "probe.html"
    probe.write_text(with_probe((out / "report.html").read_text("utf-8")), "utf-8")
    dom, console = render(probe, tmp_path / "profile2")
    assert console == []
    imgs = attr(dom, "data-imgs").split(",")
    assert len(imgs) == 8 and set(imgs) == {"ok"}
    assert attr(dom, "data-errors") == ""
