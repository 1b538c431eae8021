"""The reports in a real browser: Debian's chromium, headless, at laptop and phone sizes.

Each page must load with no console message at all (the pages hold no
script, so any message is a problem: a refused network request, a broken
image) and give a screenshot. Run by ``make test-all``; skipped where
chromium is not installed.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reports import render_audit_report, render_tune_report

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SIZES = {"laptop": (1280, 2000), "phone": (390, 844)}
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="chromium is not installed (Debian: apt-get install chromium); the browser check "
    "needs it",
)


def _chromium(
    page: Path, size: tuple[int, int], out: Path, *extra: str
) -> subprocess.CompletedProcess:
    profile = out.parent / f"profile-{out.stem}"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--hide-scrollbars",
        f"--window-size={size[0]},{size[1]}",
        *extra,
        page.resolve().as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _console(stderr: str) -> list[str]:
    """The page's console messages, as chromium logs them (``...:CONSOLE:N] "text", source``)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def _screenshot(page: Path, size: tuple[int, int], shot: Path) -> list[str]:
    done = _chromium(page, size, shot, f"--screenshot={shot}")
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == size
    return _console(done.stderr)


@needs_chromium
def test_console_messages_are_seen(tmp_path: Path) -> None:
    """Control: a page that breaks our policy is caught, so a clean run means something."""
    from reports.html import CSP

    page = tmp_path / "control.html"
    page.write_text(
        f'<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '</head><body><img src="https://example.invalid/x.png" alt=""></body></html>'
    )
    lines = _screenshot(page, (400, 300), tmp_path / "control.png")
    assert any("Content Security Policy" in line for line in lines), lines


@pytest.fixture(scope="module")
def pages(
    tmp_path_factory: pytest.TempPathFactory,
    synthetic_run: dict[str, Any],
    shared_model_audit: dict[str, Any],
    reproduction: Path,
) -> dict[str, Path]:
    """Every kind of report, full and redacted, written once."""
    out = tmp_path_factory.mktemp("pages")
    written: dict[str, Path] = {}
    for redact in (False, True):
        suffix = "-redacted" if redact else ""
        written[f"tune{suffix}"] = render_tune_report(
            synthetic_run["run"],
            synthetic_run["key"],
            out=out / f"tune{suffix}.html",
            redact=redact,
        ).html
        written[f"model-audit{suffix}"] = render_audit_report(
            shared_model_audit["folder"],
            shared_model_audit["key"],
            out=out / f"model-audit{suffix}.html",
            redact=redact,
        ).html
        written[f"reproduce{suffix}"] = render_audit_report(
            reproduction, out=out / f"reproduce{suffix}.html", redact=redact
        ).html
    return written


@needs_chromium
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "kind", ["tune", "tune-redacted", "model-audit", "model-audit-redacted", "reproduce"]
)
def test_report_loads_cleanly(pages: dict[str, Path], kind: str, size: str) -> None:
    page = pages[kind]
    shot = page.with_name(f"{kind}-{size}.png")
    assert _screenshot(page, SIZES[size], shot) == []
    assert shot.stat().st_size > 20_000  # a page was drawn, not a blank


@needs_chromium
def test_the_dom_is_whole(pages: dict[str, Path]) -> None:
    """The parsed page holds every section and every image."""
    from reports.tune_report import SECTIONS

    page = pages["tune"]
    done = _chromium(page, SIZES["laptop"], page.with_name("dom.txt"), "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _console(done.stderr) == []
    dom = done.stdout
    assert all(f'<section id="{s}">' in dom for s in SECTIONS)
    assert dom.count("<img ") == page.read_text().count("<img ") >= 10
    assert dom.rstrip().endswith("</html>")
