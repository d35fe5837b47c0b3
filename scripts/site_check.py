"""Load every page of the built documentation site in headless Chromium, from file://, and check it.

A page fails on: math that MathJax did not render (a math element without its rendering, a MathJax
error node, raw ``$$``, ``\\(`` or ``\\[`` left in the text outside code), a console error or an
uncaught exception, a request for anything but a local file (the site works offline), a link to a
local file that does not exist or to an anchor that its page lacks, or an image that did not load.
The search page must find a word that the pages contain.

The browser is driven over the Chrome DevTools protocol on a pipe (``--remote-debugging-pipe``:
messages are JSON, each ended by a NUL byte), so nothing listens on a port and nothing but the
standard library and Debian's ``chromium`` is needed.

    python scripts/site_check.py [SITE] [--screenshots DIR]

exits 1 and lists every problem when one is found.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "docs" / "_build" / "html"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)
#: The pages photographed by ``--screenshots``: the start, pages of equations, the path explorer,
#: the API reference.
MAIN_PAGES = (
    "index.html",
    "kronecker.html",
    "conventions.html",
    "explorer.html",
    "api/tensoralgebra.html",
)
SEARCH_WORD = "Kronecker"
PAGE_TIMEOUT = 60.0
LOCAL_SCHEMES = {"file", "data", "blob", "about"}

# Runs in the page once it has loaded and MathJax has finished: what the checks need, as JSON.
INSPECT = r"""
(() => {
  const skip = "pre, code, script, style, textarea, mjx-container, mjx-assistive-mml";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest(skip)) continue;
    const m = n.textContent.match(/\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{/);
    if (m) raw.push(n.textContent.trim().slice(0, 80));
  }
  const math = [...document.querySelectorAll(".math")];
  return {
    math: math.length,
    unrendered: math.filter(e => !e.querySelector("mjx-container"))
                    .map(e => e.textContent.trim().slice(0, 80)),
    errors: [...document.querySelectorAll("mjx-merror, [data-mjx-error]")]
              .map(e => (e.getAttribute("data-mjx-error") || e.textContent).slice(0, 80)),
    raw: raw,
    links: [...document.querySelectorAll("a[href]")].map(a => a.href),
    images: [...document.images].map(i => [i.src, i.complete && i.naturalWidth > 0]),
    ids: [...document.querySelectorAll("[id], a[name]")].map(e => e.id || e.name),
  };
})()
"""
MATHJAX_DONE = "window.MathJax && MathJax.startup ? MathJax.startup.promise.then(() => 1) : 0"
SEARCH_RESULTS = "document.querySelectorAll('#search-results li').length"


def find_chromium() -> str | None:
    """The path of Debian's chromium (or another Chromium or Chrome on PATH), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _above_4(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5)
    os.close(fd)
    return moved


class BrowserError(RuntimeError):
    """The browser did not start, answer or load a page in time."""


class Browser:
    """Headless Chromium with one page, driven over the DevTools protocol on a pipe."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900):
        # Chromium's helper processes can outlive the browser for a moment and still write to
        # the profile: the profile's removal tolerates that (close() ends them first).
        self._profile = tempfile.TemporaryDirectory(
            prefix="site-check-", ignore_cleanup_errors=True
        )
        # The ends the browser keeps are moved above 4 first, so that wiring them to 3 and 4 in
        # the child cannot overwrite one with the other.
        to_browser, self._write = (_above_4(fd) for fd in os.pipe())
        self._read, from_browser = (_above_4(fd) for fd in os.pipe())

        def wire() -> None:  # in the child: the protocol's fds 3 (commands in) and 4 (out)
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        args = [executable, *FLAGS, f"--user-data-dir={self._profile.name}"]
        self._process = subprocess.Popen(
            [*args, f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire,
            start_new_session=True,  # its own process group: close() ends the helpers too
            pass_fds=(3, 4),  # kept open by the child after wire() (other fds are closed)
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self._session = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        # Nothing leaves the machine: a request for a remote URL is reported, then refused.
        self.call(
            "Network.setBlockedURLs", urls=[f"{s}://*" for s in ("http", "https", "ws", "wss")]
        )
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """End the browser and remove its profile."""
        for fd in (self._write, self._read):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)  # helpers left in the group
        for _ in range(20):  # a helper just killed may still be closing files in the profile
            shutil.rmtree(self._profile.name, ignore_errors=True)
            if not os.path.exists(self._profile.name):
                break
            time.sleep(0.1)
        self._profile.cleanup()

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise BrowserError("the browser did not answer in time")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise BrowserError("the browser closed its pipe (did it start?)")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, timeout: float = PAGE_TIMEOUT, **params) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply["result"]
            if "method" in reply:
                self.events.append(reply)

    def evaluate(self, expression: str, timeout: float = PAGE_TIMEOUT):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call(
            "Runtime.evaluate",
            timeout=timeout,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def load(self, url: str, timeout: float = PAGE_TIMEOUT) -> None:
        """Open ``url`` and wait for its load event."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not any(e["method"] == "Page.loadEventFired" for e in self.events):
            reply = self._receive(deadline)
            if "method" in reply:
                self.events.append(reply)

    def screenshot(self, path: Path) -> None:
        """The viewport as a PNG file."""
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot")["data"]))


def console_errors(events: list[dict]) -> list[str]:
    """Console errors, uncaught exceptions and failed local requests among ``events``."""
    out = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            out.append(f"console error: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            out.append(f"uncaught exception: {text}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            out.append(f"console error: {entry.get('text')} {entry.get('url', '')}".rstrip())
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if urlsplit(url).scheme not in LOCAL_SCHEMES:
                out.append(f"requests {url} (the site must work offline)")
    return out


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)


def _ids_in(path: Path) -> set[str]:
    parser = _Ids()
    parser.feed(path.read_text(errors="replace"))
    return parser.ids


def broken_links(links: dict[str, list[str]], ids: dict[Path, set[str]], site: Path) -> list[str]:
    """``page: problem`` for every local link whose file or anchor is missing."""
    out = []
    for page, hrefs in links.items():
        for href in sorted(set(hrefs)):
            parts = urlsplit(href)
            if parts.scheme != "file":
                continue
            target = Path(unquote(parts.path))
            if not target.is_relative_to(site):
                out.append(f"{page}: links {href}, outside the site")
            elif not target.exists():
                out.append(f"{page}: links {href}, which does not exist")
            elif parts.fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = _ids_in(target)
                if unquote(parts.fragment) not in ids[target]:
                    out.append(f"{page}: links {href}, whose page has no such anchor")
    return out


# A script, style sheet, font or image fetched from another host: the site must work offline.
_REMOTE_IN_HTML = re.compile(
    r"<(?:script|img|iframe|source)\b[^>]*\bsrc=[\"']?(?:https?:)?//|"
    r"<link\b(?=[^>]*\brel=[\"']?(?:stylesheet|preload|icon|modulepreload))[^>]*\bhref=[\"']?(?:https?:)?//",
    re.IGNORECASE,
)
_REMOTE_IN_CSS = re.compile(r"(?:@import\s+|url\(\s*)[\"']?(?:https?:)?//", re.IGNORECASE)


def remote_resources(site: Path) -> list[str]:
    """``file: excerpt`` for every script, style, font or image the site would fetch remotely."""
    out = []
    files = [*site.rglob("*.html"), *site.rglob("*.css")]
    for path in sorted(files):
        pattern = _REMOTE_IN_CSS if path.suffix == ".css" else _REMOTE_IN_HTML
        for match in pattern.finditer(path.read_text(errors="replace")):
            out.append(f"{path.relative_to(site)}: loads from the network: {match.group(0)!r}")
    return out


def page_problems(report: dict) -> list[str]:
    """What is wrong with one page's INSPECT report (links aside)."""
    out = [f"unrendered math: {text!r}" for text in report["unrendered"]]
    out += [f"MathJax error: {text!r}" for text in report["errors"]]
    out += [f"raw TeX in the text: {text!r}" for text in report["raw"]]
    out += [f"image did not load: {src}" for src, ok in report["images"] if not ok]
    return out


def pages_of(site: Path) -> list[Path]:
    """Every HTML page of the site (not the copied sources or static files)."""
    skip = {"_static", "_sources", "_downloads", "_images", "vendor"}
    return sorted(
        p for p in site.rglob("*.html") if not skip.intersection(p.relative_to(site).parts)
    )


def check_site(
    site: Path = SITE, screenshots: Path | None = None, search: bool = True
) -> list[str]:
    """Every problem found on the pages of ``site`` (empty when all is well).

    ``search``: also check that the site's search page finds SEARCH_WORD.
    """
    site = site.resolve()
    executable = find_chromium()
    if executable is None:
        return ["chromium is not installed (scripts/install-chromium installs it)"]
    pages = pages_of(site)
    if not (site / "index.html").is_file():
        return [f"{site} holds no built site (scripts/build-docs builds it)"]
    problems = remote_resources(site)
    links: dict[str, list[str]] = {}
    ids: dict[Path, set[str]] = {}
    with Browser(executable) as browser:
        for page in pages:
            name = page.relative_to(site).as_posix()
            browser.load(page.as_uri())
            typeset = browser.evaluate(MATHJAX_DONE)  # Sphinx loads MathJax where there is math
            report = browser.evaluate(INSPECT)
            if report["math"] and not typeset:
                problems.append(f"{name}: MathJax did not load")
            problems += [f"{name}: {p}" for p in page_problems(report)]
            problems += [f"{name}: {p}" for p in console_errors(browser.events)]
            links[name] = report["links"]
            ids[page] = set(report["ids"])
            if screenshots is not None and name in MAIN_PAGES:
                screenshots.mkdir(parents=True, exist_ok=True)
                browser.screenshot(screenshots / name.replace("/", "-").replace(".html", ".png"))
        if search:
            problems += search_problems(browser, site, screenshots)
    return problems + broken_links(links, ids, site)


def search_problems(browser: Browser, site: Path, screenshots: Path | None) -> list[str]:
    """The built-in search, from file://, finds SEARCH_WORD."""
    browser.load((site / "search.html").as_uri() + f"?q={SEARCH_WORD}")
    deadline = time.monotonic() + PAGE_TIMEOUT
    while not browser.evaluate(SEARCH_RESULTS) and time.monotonic() < deadline:
        time.sleep(0.2)
    found = browser.evaluate(SEARCH_RESULTS)
    if screenshots is not None:
        browser.screenshot(screenshots / "search.png")
    problems = [f"search.html?q={SEARCH_WORD}: {p}" for p in console_errors(browser.events)]
    if not found:
        problems.append(f"search.html?q={SEARCH_WORD}: the search found nothing")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?", type=Path, default=SITE, help="the built site")
    parser.add_argument("--screenshots", type=Path, help="write PNGs of the main pages here")
    args = parser.parse_args(argv)
    started = time.monotonic()
    problems = check_site(args.site, args.screenshots)
    elapsed = time.monotonic() - started
    for problem in problems:
        print(problem, file=sys.stderr)
    pages = len(pages_of(args.site.resolve()))
    verdict = f"{len(problems)} problems" if problems else "no problems"
    print(f"check-site: {pages} pages loaded in Chromium in {elapsed:.0f} s: {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
