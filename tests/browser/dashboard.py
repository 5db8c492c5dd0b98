"""Drives the nexus dashboard in Chromium the way an operator's tenant would.

Reads a plan (JSON, the only argument): the server's address, a tenant's
name and token, a request, and where to put screenshots. Then: a wrong token
is refused; the right one signs in; the request is submitted; the project is
seen running and then done, from the live event stream; a generated file is
opened; the archive downloads as a gzip; the agents and host panels are
filled. Saves screenshots. Exits non-zero with the reason when a step fails.
"""

import json
import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from drive import FLAGS


def main():
    plan = json.loads(Path(sys.argv[1]).read_text())
    shots = Path(plan["screenshots"])
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=plan["chromium"], args=FLAGS)
        page = browser.new_page(viewport={"width": 1360, "height": 1100}, accept_downloads=True)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.goto(plan["url"])

        page.fill("#token", "nx_not-a-token")
        page.click("#sign-in")
        expect(page.locator("#login-error")).to_be_visible()
        expect(page.locator("#app")).to_be_hidden()
        errors.clear()  # the refused sign-in's 401 is logged by the browser

        page.fill("#token", plan["token"])
        page.click("#sign-in")
        expect(page.locator("#app")).to_be_visible()
        expect(page.locator("#tenant")).to_have_text(plan["tenant"])
        expect(page.locator("#no-projects")).to_be_visible()

        page.fill("#description", plan["description"])
        page.click("#generate")
        row = page.locator("#projects tbody tr").first
        badge = row.locator("[data-status]")
        expect(badge).to_have_attribute("data-status", "running", timeout=20_000)
        page.screenshot(path=str(shots / "running.png"), full_page=True)
        expect(badge).to_have_attribute("data-status", "done", timeout=240_000)
        expect(row.locator(".bar-fill.done")).to_be_visible()

        row.click()
        expect(page.locator("#detail-status")).to_have_text("done")
        model = page.locator('#files li[data-path="backend/models.py"]')
        expect(model).to_be_visible()
        model.click()
        expect(page.locator("#viewer-path")).to_have_text("backend/models.py")
        expect(page.locator("#viewer-text")).to_contain_text(plan["expect_in_file"])

        with page.expect_download() as download:
            page.click("#archive")
        saved = shots / "archive.tar.gz"
        download.value.save_as(str(saved))
        head = saved.read_bytes()[:2]
        if head != b"\x1f\x8b":
            raise SystemExit(f"the archive is not gzip: {head!r}")

        expect(page.locator("#agents li").first).to_be_visible()
        expect(page.locator("#agents")).to_contain_text("orchestrator")
        expect(page.locator("#host dd").first).to_be_visible()
        expect(page.locator(".stat").first).to_be_visible()
        page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
        if errors:
            raise SystemExit(f"the page logged errors: {errors}")
        browser.close()
    print("ok: signed in, generated, followed to done, opened a file, downloaded the archive")


if __name__ == "__main__":
    main()
