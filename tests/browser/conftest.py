"""Fixtures of the browser tests: a JupyterLab server of this Python and a page
of Debian's Chromium driven by Playwright.

Playwright never downloads a browser here: it starts ``/usr/bin/chromium``
(installed by ``.ci/run``). Without it the tests fail in CI (``CI`` set) and
are skipped elsewhere, saying why.

The server runs headless on loopback with a random token, in a folder of its
own, with its runtime files, IPython profile, Lab settings and workspaces in
temporary folders, so nothing is written to the user's home. Kernelspecs and
Lab extensions (widgets, Plotly) are found under ``sys.prefix`` as usual. It
is always stopped: its process group is terminated, then killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# JupyterLab scrolls inside a fixed-size page: a tall window shows the whole
# notebook (panel, board and charts) in a screenshot.
VIEWPORT = {"width": 1400, "height": 3200}
SERVER_READY_S = 60.0
SHOT_MS = 5_000
SERVER_STOP_S = 10.0
KERNELS_GONE_S = 20.0
# Lab settings: every cell attached to the page (a chart below the fold is
# drawn too), and no news or update checks (no request leaves the machine).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def wait_for(
    what: str, check: Callable[[], Any], timeout_s: float, every_s: float = 0.2
) -> Any:
    """``check()``'s first truthy result, polled until ``timeout_s``; else
    fail naming ``what`` and the last result."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:g} s (last: {last!r})")
        time.sleep(every_s)


def _missing(reason: str) -> NoReturn:
    """A missing browser fails CI and skips a developer's run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must have it: see .ci/run)", pytrace=False)
    pytest.skip(reason)


@dataclass
class LabServer:
    """A running ``jupyter lab``: where it serves and how to ask it."""

    root_dir: Path
    port: int
    token: str = field(repr=False)
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, path: str) -> str:
        """The browser's URL of ``path`` (``/lab/tree/x.ipynb``), token included."""
        return f"http://127.0.0.1:{self.port}{path}?token={self.token}"

    def api(self, method: str, path: str, timeout_s: float = 10.0) -> Any:
        """A REST call on ``/api/...``; its JSON reply (None when empty)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout_s) as reply:
            body = reply.read()
        return json.loads(body) if body else None

    def ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            pytest.fail(
                f"jupyter lab exited with {self.process.returncode}:\n{self.log_tail()}"
            )
        try:
            return bool(self.api("GET", "/api/status", timeout_s=2.0))
        except (OSError, ValueError):
            return False

    def shutdown_kernels(self) -> None:
        """End every session and its kernel, and wait until none is left."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}", timeout_s=30.0)
        wait_for(
            "every kernel shut down",
            lambda: self.api("GET", "/api/kernels") == [],
            KERNELS_GONE_S,
        )

    def stop(self) -> None:
        """Terminate the server's process group; kill it if it lingers."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=SERVER_STOP_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=SERVER_STOP_S)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _private_dirs(base: Path) -> dict[str, str]:
    """Environment variables sending Jupyter's and IPython's user files to
    ``base``, with Lab settings written there (see ``LAB_SETTINGS``)."""
    names = {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "IPYTHONDIR": "ipython",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
        "TMPDIR": "tmp",  # the kernel's temporary folders (a bot's store)
    }
    env = {}
    for name, sub in names.items():
        folder = base / sub
        folder.mkdir(parents=True, exist_ok=True)
        env[name] = str(folder)
    for plugin, values in LAB_SETTINGS.items():
        path = base / "lab-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    return env


@pytest.fixture
def lab_server(tmp_path: Path) -> Iterator[LabServer]:
    """A JupyterLab serving ``root_dir`` (empty: the test puts notebooks
    there), stopped after the test, kernels first."""
    root_dir = tmp_path / "lab"
    root_dir.mkdir()
    token = secrets.token_hex(24)
    server = LabServer(root_dir, _free_port(), token, tmp_path / "jupyter-lab.log")
    env = {**os.environ, **_private_dirs(tmp_path / "home"), "JUPYTER_TOKEN": token}
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ip=127.0.0.1", f"--port={server.port}", "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root_dir}",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class="
        "jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")

    with server.log_path.open("wb") as log:
        server.process = subprocess.Popen(
            command, cwd=root_dir, env=env, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(f"jupyter lab on port {server.port}", server.ready, SERVER_READY_S)
        yield server
        with contextlib.suppress(OSError):
            server.shutdown_kernels()
    finally:
        server.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            log = server.log_path.read_text(encoding="utf-8", errors="replace")
            (ARTIFACTS / "jupyter-lab.log").write_text(log.replace(token, "<token>"))


@dataclass
class BrowserPage:
    """A Chromium page and what its console said, one line a message."""

    page: Any  # playwright.sync_api.Page
    console: list[str] = field(default_factory=list)
    off_machine: list[str] = field(default_factory=list)  # URLs not on loopback

    def note_request(self, request: Any) -> None:
        url = str(request.url)
        if not url.startswith(("http://127.0.0.1:", "data:", "blob:")):
            self.off_machine.append(url)
            self.console.append(f"[request off the machine] {url}")

    def save_artifacts(self, name: str, **parts: Any) -> None:
        """A full-page screenshot ``<name>.png``, one ``<name>-<part>.png`` of
        each element ``parts`` locates (scrolled into view), and ``console.log``,
        in ``test-artifacts/browser``. A failed screenshot is logged, not
        raised: this runs in a ``finally``."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shots = {f"{name}.png": None} | {
            f"{name}-{p}.png": at for p, at in parts.items()
        }
        for file, locator in shots.items():
            path = str(ARTIFACTS / file)
            try:
                if locator is None:
                    self.page.screenshot(path=path, full_page=True)
                else:
                    locator.screenshot(path=path, timeout=SHOT_MS)
            except Exception as exc:
                self.console.append(f"[test] no screenshot {file}: {exc}")
        (ARTIFACTS / "console.log").write_text("\n".join(self.console) + "\n")


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium, with Playwright to drive it; asked for first, so a
    missing browser ends the test before any server starts."""
    if not CHROMIUM.exists():
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401, PLC0415
    except ImportError:
        _missing("the playwright package is not installed (pip install kit[test])")
    return CHROMIUM


@pytest.fixture
def browser_page(chromium: Path) -> Iterator[BrowserPage]:
    """A page of a headless Chromium (Debian's, never a downloaded one)."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport=VIEWPORT)
            shown = BrowserPage(page)
            page.on("console", lambda m: shown.console.append(f"[{m.type}] {m.text}"))
            page.on("pageerror", lambda e: shown.console.append(f"[pageerror] {e}"))
            page.on("request", shown.note_request)
            yield shown
        finally:
            browser.close()
