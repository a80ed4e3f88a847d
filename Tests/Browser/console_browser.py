#!/usr/bin/env python3
"""Drives headless Chromium over the DevTools protocol (--remote-debugging-pipe: no
network port, no extra packages) for the console tests.

Reads commands from stdin, one per line, answers each with one JSON line on stdout:
  goto URL                 navigate and wait for the load event -> {"ok": true, "url": ...}
  eval EXPRESSION          evaluate JavaScript -> {"ok": true, "value": ...}
  wait SECONDS EXPRESSION  evaluate until truthy or the time is up -> {"ok": bool, "value": ...}
  shot PATH                PNG screenshot of the whole page -> {"ok": true, "bytes": N}
  quit
"""
import base64, fcntl, json, os, subprocess, sys, tempfile, time

class Chromium:
    def __init__(self, executable):
        self.profile = tempfile.mkdtemp(prefix="mbox-chromium-")
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        # The pipe protocol wants the browser's fd 3 to read and fd 4 to write: the ends are
        # moved above 10 first, so wiring one cannot overwrite the other.
        high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        def wire():
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)
        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--remote-debugging-pipe",
             "--ignore-certificate-errors", "--no-first-run", "--no-default-browser-check",
             "--user-data-dir=" + self.profile, "--window-size=1400,900", "about:blank"],
            preexec_fn=wire, pass_fds=(3, 4),
            stdout=subprocess.DEVNULL, stderr=open(os.environ.get("MBOX_CHROMIUM_LOG", os.devnull), "w"))
        for fd in (to_browser_r, from_browser_w, high_r, high_w):
            os.close(fd)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Runtime.enable", session=True)

    def send(self, method, params, session):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        return self.next_id

    def read(self, deadline):
        while b"\0" not in self.buffer:
            if time.time() > deadline:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise EOFError("Chromium exited")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, params=None, session=False, seconds=30):
        wanted = self.send(method, params, session)
        deadline = time.time() + seconds
        while True:
            message = self.read(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_event(self, name, seconds=30):
        deadline = time.time() + seconds
        while True:
            for index, event in enumerate(self.events):
                if event["method"] == name:
                    del self.events[index]
                    return event
            message = self.read(deadline)
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"].get("text", "exception") + ": " +
                               json.dumps(result["exceptionDetails"].get("exception", {}).get("description", "")))
        return result["result"].get("value")

    def close(self):
        try:
            self.call("Browser.close", seconds=5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        subprocess.run(["rm", "-rf", self.profile])

def main():
    browser = Chromium(sys.argv[1] if len(sys.argv) > 1 else "chromium")
    try:
        for line in sys.stdin:
            command, _, rest = line.strip().partition(" ")
            try:
                if command == "goto":
                    browser.events = []
                    browser.call("Page.navigate", {"url": rest}, session=True)
                    browser.wait_event("Page.loadEventFired")
                    answer = {"ok": True, "url": browser.evaluate("location.href")}
                elif command == "eval":
                    answer = {"ok": True, "value": browser.evaluate(rest)}
                elif command == "wait":
                    seconds, _, expression = rest.partition(" ")
                    deadline = time.time() + float(seconds)
                    value = browser.evaluate(expression)
                    while not value and time.time() < deadline:
                        time.sleep(0.2)
                        value = browser.evaluate(expression)
                    answer = {"ok": bool(value), "value": value}
                elif command == "shot":
                    size = browser.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
                    browser.call("Emulation.setDeviceMetricsOverride",
                                 {"width": max(1400, size[0]), "height": min(max(600, size[1]), 4000), "deviceScaleFactor": 1, "mobile": False},
                                 session=True)
                    data = base64.b64decode(browser.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"])
                    with open(rest, "wb") as out:
                        out.write(data)
                    browser.call("Emulation.clearDeviceMetricsOverride", session=True)
                    answer = {"ok": True, "bytes": len(data)}
                elif command == "quit":
                    break
                else:
                    answer = {"ok": False, "error": f"unknown command {command}"}
            except Exception as error:  # reported to the test, which fails with it
                answer = {"ok": False, "error": str(error)}
            print(json.dumps(answer), flush=True)
    finally:
        browser.close()

if __name__ == "__main__":
    main()
