"""Headless Chromium for tests, driven over the DevTools protocol on a pipe (no extra package).

``Browser()`` starts Debian's ``chromium`` (no download: ``scripts/test-deps.sh`` installs it)
with ``--remote-debugging-pipe``: commands go in on its fd 3 and replies and events come out
of its fd 4, as NUL-terminated JSON. The browser gets a fresh profile and no network: every
request that is not ``file:`` or ``data:`` is recorded (and blocked), so a test can assert
that a page needs nothing from outside. ``close()`` ends it by its process id.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

INSTALL_HINT = (
    "headless Chromium is needed for the report tests: run scripts/test-deps.sh "
    "(apt-get install chromium on Debian/Ubuntu) or set CHROMIUM=/path/to/chromium"
)

# Every image in the viewport has loaded (lazy ones further down may not have started).
IMAGES_IN_VIEW_LOADED = (
    "Array.from(document.images).every(i => i.complete || "
    "i.getBoundingClientRect().top > window.innerHeight)"
)


def find_chromium():
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium process and one page (tab) in it."""

    def __init__(self, width=1280, height=900, timeout=30.0):
        executable = find_chromium()
        if executable is None:
            raise BrowserError(INSTALL_HINT)
        self.timeout = timeout
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="tfzoo-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [
            executable,
            "--headless",
            "--no-sandbox",  # root in containers; pages are the test's own files
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-features=Translate,MediaRouter,OptimizationHints",
            "--mute-audio",
            # no network: anything not file:/data: goes to a closed local port
            "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>",
            f"--user-data-dir={self.profile}",
            f"--window-size={width},{height}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # The child must see the pipe ends as fds 3 (commands in) and 4 (replies out).
        shell = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}'
        self.process = subprocess.Popen(
            ["bash", "-c", shell, *args],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events = []
        self.session = None
        try:
            targets = self.send("Target.getTargets")["targetInfos"]
            page = next((t for t in targets if t["type"] == "page"), None)
            target = (
                page["targetId"]
                if page
                else self.send("Target.createTarget", url="about:blank")["targetId"]
            )
            self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)[
                "sessionId"
            ]
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.send(f"{domain}.enable")
            self.send(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
        except Exception:
            self.close()
            raise

    # -- protocol -------------------------------------------------------------------------
    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium exited (return code {self.process.poll()})")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method, session=True, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def _pump(self, seconds):
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read_message(deadline))
        except BrowserError as exc:
            if "in time" not in str(exc):
                raise

    # -- pages ----------------------------------------------------------------------------
    def open(self, url, ready="document.body && document.body.getAttribute('data-ready') === '1'"):
        """Load ``url``, wait for ``ready`` to hold; returns the problems seen while loading."""
        self.events = []
        self.send("Page.navigate", url=url)
        self.wait_for(ready)
        self.wait_for(IMAGES_IN_VIEW_LOADED)
        self._pump(0.1)
        return self.problems()

    def wait_for(self, expression, seconds=None):
        deadline = time.monotonic() + (seconds or self.timeout)
        while time.monotonic() < deadline:
            try:
                if self.evaluate(f"!!({expression})"):
                    return
            except BrowserError:
                pass
            self._pump(0.05)
        raise BrowserError(f"timed out waiting for {expression!r}")

    def evaluate(self, expression):
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def problems(self):
        """Console errors, uncaught exceptions, failed loads and requests leaving the machine."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(f"exception: {details.get('exception', {}).get('description')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(
                    "console.error: " + " ".join(str(a.get("value")) for a in params["args"])
                )
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                entry = params["entry"]
                found.append(f"log error: {entry.get('text')} {entry.get('url', '')}")
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith(("file:", "data:", "about:")):
                    found.append(f"network request: {url}")
            elif method == "Network.loadingFailed":
                found.append(f"failed load: {params.get('errorText')}")
        return found

    def screenshot(self, path, full_page=True):
        """Save a PNG of the page (the whole page by default)."""
        if full_page:
            height = int(self.evaluate("document.documentElement.scrollHeight"))
            self.send(
                "Emulation.setDeviceMetricsOverride",
                width=self.width,
                height=min(max(height, self.height), 8000),
                deviceScaleFactor=1,
                mobile=False,
            )
            self._pump(0.15)  # lazy images and canvases below the fold come in view
            self.wait_for(IMAGES_IN_VIEW_LOADED)
        data = self.send("Page.captureScreenshot", format="png")["data"]
        if full_page:
            self.send(
                "Emulation.setDeviceMetricsOverride",
                width=self.width,
                height=self.height,
                deviceScaleFactor=1,
                mobile=False,
            )
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        if self.process.poll() is None:
            try:
                self.send("Browser.close", session=False)
            except (BrowserError, OSError):
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the group this test started
                self.process.wait(timeout=10)
        try:  # helpers (renderer, zygote) left in the group the browser was started in
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
