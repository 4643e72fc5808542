"""Screenshot a course widget in a real JupyterLab, driven by a real (headless) Chromium.

NOT part of the project's dependencies: it needs Debian's chromium (`apt-get install -y chromium`) and
Playwright in a separate venv (`python3 -m venv /tmp/shotvenv && /tmp/shotvenv/bin/pip install playwright`;
no browser download, it uses /usr/bin/chromium). Start JupyterLab first (see docs/README.md), then e.g.

    /tmp/shotvenv/bin/python docs/screenshot.py notebooks/01_attention.ipynb head \
        docs/screenshots/01_attention_explorer.png

It opens the notebook, runs Run > Run All Cells from the menu bar, waits until every code cell has run and
the kernel is idle, scrolls to the widget (the output holding a slider whose description is CONTROL),
presses --key (default ArrowRight) on that slider, as a user would, checks that the widget's images changed,
and saves a viewport screenshot. It never saves the notebook (turn autosave off in the lab settings).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time

from playwright.sync_api import sync_playwright

STATE_JS = """() => {
  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim());
  const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
  return {prompts, status: indicator ? indicator.getAttribute('data-status') : null};
}"""


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def widget_box(page, control: str):
    """The outermost widget view in the output that holds a slider labelled `control`."""
    label = page.locator(".jp-OutputArea-output .widget-slider .widget-label", has_text=control).first
    label.wait_for(timeout=60_000)
    return label.locator("xpath=ancestor::div[contains(@class,'jp-OutputArea-output')][1]")


def image_digest(box) -> str:
    """Hash of the pixels of every image in the widget (blob URLs change even for equal PNGs)."""
    digest = hashlib.sha256()
    for image in box.locator("img").all():
        digest.update(image.screenshot())
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("notebook", help="path relative to the lab root, e.g. notebooks/01_attention.ipynb")
    parser.add_argument("control", help="description of the slider to move, e.g. head or checkpoint")
    parser.add_argument("output", help="PNG to write")
    parser.add_argument("--url", default="http://localhost:8899")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=1500, help="seconds to wait for Run All")
    parser.add_argument("--key", default="ArrowRight", help="key pressed on the slider handle")
    args = parser.parse_args()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda error: log("page error:", error))
        page.goto(f"{args.url}/lab/tree/{args.notebook}?reset")  # ?reset: reopen no tabs from earlier runs
        page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
        page.wait_for_function("() => document.querySelector('.jp-Notebook-ExecutionIndicator')"
                               "?.getAttribute('data-status') === 'idle'", timeout=180_000)
        page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for(timeout=180_000)
        time.sleep(5)  # a click before the session is fully connected can be dropped
        log("notebook open, kernel idle")

        for _ in range(5):
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            log("Run > Run All Cells clicked")
            try:
                page.wait_for_function("() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
                                       ".some(p => p.textContent.trim() === '[*]:')", timeout=15_000)
                break
            except Exception:
                log("no cell started; clicking again")
                time.sleep(5)
        else:
            return 1

        deadline, last, idle_polls = time.time() + args.timeout, None, 0
        while time.time() < deadline:
            state = page.evaluate(STATE_JS)
            done = all(prompt not in ("[ ]:", "[*]:") for prompt in state["prompts"])
            summary = (sum(prompt == "[*]:" for prompt in state["prompts"]), state["status"])
            if summary != last:
                log("running:", summary[0], "queued/busy cells, kernel", summary[1])
                last = summary
            idle_polls = idle_polls + 1 if state["status"] == "idle" and summary[0] == 0 else 0
            if done and state["status"] == "idle":
                break
            if idle_polls >= 5:  # idle, nothing queued, cells left unrun: Run All stopped at an error
                break
            time.sleep(2)
        else:
            log("timed out waiting for Run All")
            return 1
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                              has_text="Traceback")
        if errors.count() or not done:
            if errors.count():
                errors.first.scroll_into_view_if_needed()
                log("a cell raised:\n", errors.first.inner_text()[-3000:])
            page.screenshot(path=args.output.replace(".png", ".error.png"))
            log("Run All did not finish; screenshot of the failure next to", args.output)
            return 1
        log("all cells ran")

        box = widget_box(page, args.control)
        box.scroll_into_view_if_needed()
        text = box.inner_text()
        if "Loading widget" in text or "children=" in text or "Error displaying widget" in text:
            log("widget did not render:", text[:500])
            return 1
        page.wait_for_function("b => [...b.querySelectorAll('img')].every(i => i.complete && i.naturalWidth > 0)",
                               arg=box.element_handle(), timeout=30_000)
        before = image_digest(box)
        sizes = box.evaluate("b => [...b.querySelectorAll('img')].map(i => "
                             "`${i.naturalWidth}x${i.naturalHeight} shown ${i.clientWidth}x${i.clientHeight}`)")
        log("images (PNG pixels, shown at CSS pixels):", sizes)

        slider = box.locator(".widget-slider", has=page.locator(".widget-label", has_text=args.control)).first
        readout = slider.locator(".widget-readout")
        old_value = readout.inner_text()
        slider.locator(".noUi-handle").first.focus()
        page.keyboard.press(args.key)
        page.wait_for_function("([r, old]) => r.textContent.trim() !== old",
                               arg=[readout.element_handle(), old_value.strip()], timeout=10_000)
        new_value = readout.inner_text()
        log(f"{args.control}: {old_value} -> {new_value}")
        for _ in range(60):  # the kernel redraws, the front end swaps the images
            time.sleep(1)
            after = image_digest(box)
            if after != before:
                break
        else:
            log("the images did not change after moving the slider")
            return 1
        log("widget images changed")
        time.sleep(1)
        box.evaluate("b => b.scrollIntoView({block: 'start'})")
        page.mouse.move(5, 995)  # no hover tooltips in the picture
        time.sleep(0.5)
        page.screenshot(path=args.output)
        log("saved", args.output)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
