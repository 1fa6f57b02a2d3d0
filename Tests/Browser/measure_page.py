#!/usr/bin/env python3
"""Loads a page in headless Chromium at a given window width and measures its layout.

Drives Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe: commands on
fd 3, answers on fd 4, each a JSON text ended by a NUL byte), so nothing beyond Python and
Chromium is needed. Prints one JSON object: the viewport's width, the document's scroll width,
and for every table its own width, the width of the box that holds it and that box's
overflow-x; writes a full-page PNG screenshot.

usage: measure_page.py BROWSER URL WIDTH SCREENSHOT [USER PASSWORD]
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self, path, width):
        to_child_read, self.to_child = os.pipe()
        self.from_child, from_child_write = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="stockgate-cdp-")

        def plumb():
            # Moved out of the way first: a pipe may already be fd 3 or 4, and dup2 onto
            # itself would keep its close-on-exec flag.
            reading, writing = os.dup(to_child_read), os.dup(from_child_write)
            os.dup2(reading, 3)
            os.dup2(writing, 4)

        self.process = subprocess.Popen(
            [path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--remote-debugging-pipe", f"--user-data-dir={self.profile}", f"--window-size={width},900",
             "about:blank"],
            preexec_fn=plumb, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_read)
        os.close(from_child_write)
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def send(self, method, params=None, session=None, timeout=30):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_child, json.dumps(message).encode() + b"\0")
        deadline = time.time() + timeout
        while time.time() < deadline:
            for answer in self.read():
                if answer.get("id") == self.next_id:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer.get("result", {})
                self.events.append(answer)
        raise TimeoutError(method)

    def wait_event(self, name, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for event in self.events:
                if event.get("method") == name:
                    self.events.remove(event)
                    return event
            self.events.extend(self.read())
        raise TimeoutError(name)

    def read(self):
        while b"\0" not in self.buffer:
            chunk = os.read(self.from_child, 1 << 16)
            if not chunk:
                raise RuntimeError("the browser closed its pipe")
            self.buffer += chunk
        *messages, self.buffer = self.buffer.split(b"\0")
        return [json.loads(m) for m in messages if m]

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


MEASURE = """JSON.stringify({
  viewport: window.innerWidth,
  document: document.documentElement.scrollWidth,
  tables: Array.from(document.querySelectorAll('table')).map(t => ({
    width: t.scrollWidth,
    box: t.parentElement.clientWidth,
    overflow: getComputedStyle(t.parentElement).overflowX,
  })),
})"""


def main():
    browser_path, url, width, screenshot = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    credentials = sys.argv[5:7]
    browser = Browser(browser_path, width)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}, session)
        if credentials:
            token = base64.b64encode(":".join(credentials).encode()).decode()
            browser.send("Network.enable", session=session)
            browser.send("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}, session)
        browser.send("Page.enable", session=session)
        browser.send("Page.navigate", {"url": url}, session)
        browser.wait_event("Page.loadEventFired")
        result = browser.send("Runtime.evaluate", {"expression": MEASURE, "returnByValue": True}, session)
        measured = json.loads(result["result"]["value"])
        shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
        with open(screenshot, "wb") as file:
            file.write(base64.b64decode(shot["data"]))
        print(json.dumps(measured))
    finally:
        browser.close()


if __name__ == "__main__":
    main()
