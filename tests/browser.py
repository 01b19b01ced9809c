"""Support for the browser tests: Playwright driving the system's Chromium against the
service as `skm serve` runs it, in a child process on a port of its own.

Without Chromium the browser tests are skipped, and the summary says so; with
SKM_TEST_REQUIRE_CHROMIUM=1 (as in CI, which installs Debian's `chromium`) a missing browser
fails the run instead. SKM_TEST_CHROMIUM names another executable.

The service runs in a process of its own (not a TestClient) because a browser needs a real
socket, and because the offline tests stop it and start it again on the same port: the
browser's offline switch does not cover a service worker's fetches.

Screenshots go to SKM_TEST_ARTIFACTS (default `test-artifacts/`), one PNG per screen, named
by test and screen: CI keeps them as the run's artifacts.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

REQUIRE_CHROMIUM = os.environ.get("SKM_TEST_REQUIRE_CHROMIUM") == "1"
ARTIFACTS = Path(os.environ.get("SKM_TEST_ARTIFACTS", "test-artifacts"))
UNLIMITED = "1000000/minute"
# axe-core (its VERSION and LICENSE beside it), injected into a page by the accessibility
# checks; a page under the service's CSP needs a context made with bypass_csp=True.
AXE = Path(__file__).parent / "assets" / "axe-core" / "axe.min.js"


def chromium_path() -> str:
    """The Chromium executable the tests drive; skips (or fails, when required) without."""
    named = os.environ.get("SKM_TEST_CHROMIUM")
    found = named or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None or not Path(found).exists():
        message = "browser tests not run: no Chromium (Debian: chromium)"
        if REQUIRE_CHROMIUM:
            pytest.fail(message + " and SKM_TEST_REQUIRE_CHROMIUM=1")
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """`skm serve` on 127.0.0.1 in a child process; `stop()` and `start()` again keep the
    port, so that a page sees the service go away and come back."""

    def __init__(self, database_url: str, log: Path, **settings: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {
            **os.environ,
            "SKM_DATABASE_URL": database_url,
            "SKM_RATE_LIMIT_KEY": UNLIMITED,
            "SKM_RATE_LIMIT_PUBLIC": UNLIMITED,
            **{f"SKM_{name.upper()}": value for name, value in settings.items()},
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)], env=self.env, stdout=out, stderr=out
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"skm serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx2.get(f"{self.base_url}/health/live", timeout=1).status_code == 200:
                    return
            except httpx2.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"skm serve did not answer in {timeout:g} s")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def url(self, path: str) -> str:
        return self.base_url + path


def screenshot(page: Any, test: str, screen: str) -> Path:
    """A PNG of what the page shows now, kept as a test artifact."""
    target = ARTIFACTS / "screenshots" / f"{test}--{screen}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    return target


def measured(line: str) -> None:
    """A figure a browser test measured (sizes, times): printed (seen with `pytest -s`) and
    appended to SKM_TEST_ARTIFACTS/measures.txt. Times are never asserted in tests."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (ARTIFACTS / "measures.txt").open("a") as out:
        out.write(line + "\n")
    print(line)  # noqa: T201  (the figures are the point: the closing note quotes them)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA and best-practice violations on the page: id, impact,
    how many nodes."""
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}}))
            .violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))"""
    )
    return found
