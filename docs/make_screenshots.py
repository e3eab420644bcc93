"""Make the explorer's screenshots in docs/ (explore-*.png) with Debian's
chromium, driven by Playwright, as the browser tests do:

    .venv/bin/python docs/make_screenshots.py

The server runs in this process on 127.0.0.1 and a free port.
"""
import sys
import tempfile
import threading
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from synack.explore.command import bind, make_server

DOCS = Path(__file__).parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main() -> int:
    sock = bind(0)
    srv = make_server(sock)
    th = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path="/usr/bin/chromium", headless=True, args=ARGS,
                viewport={"width": 1500, "height": 900}, device_scale_factor=1)
            page = ctx.new_page()

            def shot(query: str, name: str, before=None) -> None:
                page.goto(url + "/" + query)
                page.wait_for_selector("body[data-ready='1']")
                if before:
                    before()
                page.wait_for_timeout(800)
                page.screenshot(path=str(DOCS / name))
                print("wrote", DOCS / name)

            # the main view: the retransmitted FIN answered from TIME_WAIT
            shot("?s=lost-final-ack&r=13", "explore-main.png")

            # breaking it: the menu on lifecycle's final ACK
            def menu() -> None:
                acks = page.locator("#ladder-a .row[data-kind='segment'][data-side='left']"
                                    "[data-flags='ACK']")
                acks.nth(acks.count() - 1).locator(".seg-hit").click()
                page.locator("#menu").wait_for(state="visible")
            shot("?s=lifecycle&r=11", "explore-edit.png", menu)

            # two runs side by side: the same SYN flood without and with SYN cookies
            page.set_viewport_size({"width": 1900, "height": 950})
            shot("?s=syn-flood&b=syn-cookies&r=17", "explore-compare.png")
            ctx.close()
    finally:
        srv.should_exit = True
        th.join(timeout=30)
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
