"""Drives a generated app in Chromium the way a person would.

Reads a plan (JSON, the only argument): the app's address, its spec, where to
put screenshots, which entity is a parent and which its child, and which
field has a range. Then: logs in when the spec has auth, checks the nav
links are separate visible elements, creates a parent and a child through
the forms (choosing the parent in its select), edits the child, deletes it
through the confirmation dialog (cancelling once first), and enters
an out-of-range value to see the message next to the field. Saves
screenshots of the list and form pages. Exits non-zero with the reason when
a step fails.
"""

import json
import re
import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def entity(spec, plural):
    return next(e for e in spec["entities"] if e["plural"] == plural)


def label(name):
    """What the UI calls a field or reference (`check_in_date` → "Check in date")."""
    words = re.sub(r"_id$", "", name).replace("_", " ")
    return words[:1].upper() + words[1:]


def sample(field, n):
    """A value the field accepts, as typed into its control."""
    kind = field["type"]
    lo, hi = field.get("min"), field.get("max")
    if kind in ("integer", "number", "decimal"):
        value = lo if lo is not None else 1
        if hi is not None and value > hi:
            value = hi
        if kind == "integer" or value == int(value):
            return str(int(value) + (1 if hi is None or value + 1 <= hi else 0))
        return str(value)
    if kind == "date":
        return f"2026-12-{n + 1:02d}"
    if kind == "datetime":
        return f"2026-12-{n + 1:02d}T10:30"
    if kind == "email":
        return f"person{n}@example.com"
    if kind == "url":
        return f"https://example.com/page/{n}"
    if kind == "text":
        return f"Some words about row {n}."
    return f"{label(field['name'])} {n}"


def fill(form, meta, n):
    """Fills every field of `meta` in `form`; returns the value of the field
    that names a row."""
    named = None
    for f in meta["fields"]:
        control = form.locator(f'[name="{f["name"]}"]')
        if f["type"] == "boolean":
            control.check()
            continue
        if f["type"] == "enum":
            control.select_option(f["choices"][0])
            continue
        value = sample(f, n)
        control.fill(value)
        if f["name"] == meta.get("display"):
            named = value
    return named


def main():
    plan = json.loads(Path(sys.argv[1]).read_text())
    spec, base, out = plan["spec"], plan["base"].rstrip("/"), Path(plan["out"])
    out.mkdir(parents=True, exist_ok=True)
    parent, child = entity(spec, plan["parent"]), entity(spec, plan["child"])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=plan["chromium"], args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base)

        if spec["auth"]:
            page.get_by_label("Email").fill("ada@example.com")
            page.get_by_label("Password").fill("correct horse battery")
            page.get_by_role("button", name="Register").click()
            expect(page.get_by_role("button", name="Log out")).to_be_visible()

        # The nav: one visible link per entity, none overlapping another.
        links = page.locator("nav a")
        expect(links).to_have_count(len(spec["entities"]))
        boxes = []
        for i in range(links.count()):
            link = links.nth(i)
            expect(link).to_be_visible()
            boxes.append(link.bounding_box())
        for a, b in zip(boxes, boxes[1:]):
            separate = a["x"] + a["width"] <= b["x"] + 0.5 or b["y"] >= a["y"] + a["height"] - 0.5
            assert separate, f"nav links overlap: {a} {b}"

        # A row of the parent, and of anything else the child refers to,
        # through their forms.
        names = {}
        targets = [parent["plural"]] + [
            r["target"] for r in child["references"] if r["target"] != parent["plural"]
        ]
        for n, plural in enumerate(targets, start=1):
            meta = entity(spec, plural)
            page.get_by_role("link", name=meta["label"], exact=True).click()
            form = page.locator("form.form")
            names[plural] = fill(form, meta, n)
            form.get_by_role("button", name=re.compile("^Create")).click()
            expect(page.get_by_text("Saved")).to_be_visible()
            expect(page.locator("table")).to_contain_text(names[plural])
            page.screenshot(path=str(out / f"{plural}-list.png"), full_page=True)
        parent_name = names[parent["plural"]]


        # A child row, choosing the parent in its select by name.
        page.get_by_role("link", name=child["label"], exact=True).click()
        form = page.locator("form.form")
        child_name = fill(form, child, 2)
        for reference in child["references"]:
            select = form.locator(f'select[name="{reference["field"]}"]')
            select.select_option(label=names[reference["target"]])
        page.screenshot(path=str(out / f"{child['plural']}-form.png"), full_page=True)
        form.get_by_role("button", name=re.compile("^Create")).click()
        expect(page.get_by_text("Saved")).to_be_visible()
        table = page.locator("table")
        expect(table).to_contain_text(parent_name)
        page.screenshot(path=str(out / f"{child['plural']}-list.png"), full_page=True)

        # Edit the child: its name changes in the list.
        row = table.locator("tr", has_text=child_name or parent_name).first
        row.get_by_role("button", name="Edit").click()
        form = page.locator("form.form")
        renamed = None
        if child.get("display"):
            renamed = f"{child_name} (edited)"
            form.locator(f'[name="{child["display"]}"]').fill(renamed)
        form.get_by_role("button", name="Save changes").click()
        expect(page.get_by_text("Saved")).to_be_visible()
        if renamed:
            expect(page.locator("table")).to_contain_text(renamed)

        # Delete the child: the dialog asks first; Cancel keeps the row,
        # Delete removes it.
        before = page.locator("table tbody tr").count()
        row = page.locator("table tbody tr", has_text=renamed or parent_name).first
        row.get_by_role("button", name=re.compile("^Delete")).click()
        dialog = page.get_by_role("alertdialog")
        expect(dialog).to_be_visible()
        page.screenshot(path=str(out / f"{child['plural']}-delete.png"), full_page=True)
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("table tbody tr")).to_have_count(before)
        row.get_by_role("button", name=re.compile("^Delete")).click()
        page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
        if before > 1:
            expect(page.locator("table tbody tr")).to_have_count(before - 1)
        else:
            expect(page.locator(".state-empty")).to_be_visible()

        # A value out of range: refused with a message next to the field.
        ranged = entity(spec, plan["ranged"]["plural"])
        field = next(f for f in ranged["fields"] if f["name"] == plan["ranged"]["field"])
        page.get_by_role("link", name=ranged["label"], exact=True).click()
        form = page.locator("form.form")
        fill(form, ranged, 3)
        bad = field["max"] + 1 if field.get("max") is not None else field["min"] - 1
        form.locator(f'[name="{field["name"]}"]').fill(str(bad))
        form.get_by_role("button", name=re.compile("^Create")).click()
        message = page.locator(f'#{ranged["plural"]}-{field["name"]}-error')
        expect(message).to_be_visible()
        page.screenshot(path=str(out / f"{ranged['plural']}-invalid.png"), full_page=True)

        # The same page at a phone's width.
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(out / f"{ranged['plural']}-phone.png"), full_page=True)

        assert not errors, f"errors in the page: {errors}"
        browser.close()
    print(f"ok: {len(list(out.glob('*.png')))} screenshots in {out}")


if __name__ == "__main__":
    main()
