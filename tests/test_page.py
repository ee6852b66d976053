"""The web page in a real browser: headless Chromium driven by Playwright, the real server on loopback.

Screenshots of each state go to tests/artifacts/page/ (not committed).
"""

import base64
import csv
import io
import os
import shutil

import numpy as np
import pytest
from bad_inputs import captcha_png
from helpers import ROOT
from helpers import SHIPPED
from helpers import Server
from PIL import Image

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = os.path.join(ROOT, "tests", "artifacts", "page")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "really_simple_captcha", "images")
# Three really-simple-captcha fixtures to label, under names that carry no label.
TO_LABEL = ["2R4L.png", "7CXB.png", "8V8X.png"]

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e .[test])")
if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"no Chromium at {CHROMIUM}: bash scripts/setup.sh installs Debian's chromium package "
        "(or set CHROMIUM to a browser's path)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def label_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("label") / "unlabelled"
    folder.mkdir()
    for i, name in enumerate(TO_LABEL):
        shutil.copy(os.path.join(FIXTURES, name), folder / f"capture_{i}.png")
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory, label_dir):
    models = tmp_path_factory.mktemp("page") / "models"
    models.mkdir()
    for name in ("ctc_default", "really_simple_captcha", "arithmetic"):
        os.symlink(os.path.join(SHIPPED, name), models / name)
    running = Server(models, "--label-dir", str(label_dir), "--label-model", "really_simple_captcha")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        except Exception as error:  # a browser that cannot start here is a reason to skip, not a failure
            pytest.skip(f"Chromium at {CHROMIUM} did not start: {error}")
        yield launched
        launched.close()


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    opened = context.new_page()
    opened.errors = []
    opened.on("pageerror", lambda error: opened.errors.append(str(error)))
    opened.on("dialog", lambda dialog: (opened.errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    opened.goto(f"http://127.0.0.1:{server.port}/")
    opened.wait_for_selector("#model option", state="attached")
    yield opened
    assert opened.errors == []
    context.close()


def shot(page, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, f"{name}.png"), full_page=True)


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def encoded_png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def card_of(page, name):
    return page.locator(f'#results .card[data-file="{name}"]').first


def card_text(page, name):
    """The reading a card shows, once it is there: each character's own text, without its tip."""
    card = card_of(page, name)
    card.wait_for()
    return card.locator(".char").evaluate_all("(spans) => spans.map((span) => span.firstChild.textContent).join('')")


def test_upload_by_file_input_shows_the_text_and_its_confidence(page, server, tmp_path):
    page.set_input_files("#files", [write(tmp_path, "k7qx.png", captcha_png("K7QX", seed=3))])
    assert card_text(page, "k7qx.png") == "K7QX"
    card = card_of(page, "k7qx.png")
    expected = server.post_files([("k7qx.png", captcha_png("K7QX", seed=3))])[1]["results"][0]["confidence"]
    assert card.locator(".conf").inner_text() == f"confidence {100 * expected:.1f}%"
    # Per-character confidence on focus, from the keyboard.
    first = card.locator(".char").first
    first.focus()
    tip = first.locator(".tip")
    assert tip.is_visible() and tip.inner_text().startswith("K: ")
    shot(page, "1-read-file-input")


def test_drag_and_drop_and_paste(page, server):
    png = captcha_png("W2AB", seed=4)
    encoded = base64.b64encode(png).decode()
    # What the service reads in this image: each card must show that, whichever way the file came.
    status, body = server.post_files([("w2ab.png", png)])
    reading = body["results"][0]["text"]
    assert status == 200 and reading
    make_transfer = """(encoded) => {
        const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "dropped.png", {type: "image/png"}));
        return transfer;
    }"""
    transfer = page.evaluate_handle(make_transfer, encoded)
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    assert card_text(page, "dropped.png") == reading
    page.evaluate(
        """(encoded) => {
        const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "pasted.png", {type: "image/png"}));
        document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: transfer}));
    }""",
        encoded,
    )
    assert card_text(page, "pasted.png") == reading
    shot(page, "2-read-drop-and-paste")


def test_switching_model_shows_its_size_and_reads_with_it(page, tmp_path):
    page.select_option("#model", "really_simple_captcha")
    info = page.locator("#model-info").inner_text()
    assert "96x32" in info and "23456789ABCDEFGHJKLMNPQRSTUVWXYZ" in info and "shipped accuracy 100.0%" in info
    page.set_input_files("#files", [os.path.join(FIXTURES, "2R4L.png")])
    assert card_text(page, "2R4L.png") == "2R4L"
    shot(page, "3-read-other-model")
    # The choice is remembered across a reload.
    page.reload()
    page.wait_for_selector("#model option", state="attached")
    assert page.locator("#model").input_value() == "really_simple_captcha"


def test_history_survives_a_reload_and_clears(page, tmp_path):
    page.set_input_files("#files", [write(tmp_path, "h1.png", captcha_png("M9PL", seed=5))])
    card_of(page, "h1.png").wait_for()
    page.reload()
    page.wait_for_selector("#history .card")
    assert "h1.png" in page.locator("#history").inner_text()
    shot(page, "4-history-after-reload")
    page.click("#clear-history")
    assert page.locator("#history .card").count() == 0
    page.reload()
    page.wait_for_selector("#model option", state="attached")
    assert page.locator("#history .card").count() == 0


def test_a_bad_file_shows_an_error_and_the_page_keeps_working(page, tmp_path):
    page.set_input_files("#files", [write(tmp_path, "notes.png", b"<html>not an image</html>")])
    error = page.locator("#read-error")
    error.wait_for()
    assert "could not be read" in error.inner_text()
    assert "not an image" in card_of(page, "notes.png").locator(".card-error").inner_text()
    shot(page, "5-bad-file")
    page.set_input_files("#files", [write(tmp_path, "after.png", captcha_png("Z3RT", seed=6))])
    assert card_text(page, "after.png") == "Z3RT"


def test_a_reading_below_min_confidence_shows_as_abstained_with_the_reason(page, server, tmp_path):
    png = captcha_png("K7QX", seed=3)
    confidence = server.post_files([("k7qx.png", png)])[1]["results"][0]["confidence"]
    assert confidence < 0.9999
    # A percent above this reading's confidence, as a person would type it.
    percent = round((100 * confidence + 100) / 2, 3)
    assert percent > 100 * confidence
    expected = server.post_files([("k7qx.png", png)], min_confidence=repr(percent / 100))[1]["results"][0]
    assert expected["abstained"]
    page.fill("#min-confidence", str(percent))
    page.set_input_files("#files", [write(tmp_path, "unsure.png", png)])
    card = card_of(page, "unsure.png")
    card.wait_for()
    assert "abstained" in card.get_attribute("class").split()
    assert card.locator(".verdict").inner_text() == "Abstained"
    assert card.locator(".reason").inner_text() == expected["reason"]
    assert card.locator(".char").count() == 0 and card.locator(".text").count() == 0
    assert card.locator(".conf").inner_text() == f"confidence {100 * confidence:.1f}%"
    shot(page, "9-read-abstained")
    # The history keeps it as an abstention, not as a text.
    assert page.locator("#history .card.abstained .reason").first.inner_text() == expected["reason"]
    # Not a percent: said on the page, and nothing is sent.
    page.fill("#min-confidence", "150")
    page.set_input_files("#files", [write(tmp_path, "refused.png", png)])
    assert "percent from 0 to 100" in page.locator("#read-error").inner_text()
    assert card_of(page, "refused.png").count() == 0
    # Empty again: every reading shows its text.
    page.fill("#min-confidence", "")
    page.set_input_files("#files", [write(tmp_path, "sure.png", png)])
    assert card_text(page, "sure.png") == "K7QX"


def test_names_and_texts_are_inserted_as_text_never_as_html(page, tmp_path):
    name = "<img src=x onerror=alert(1)>.png"
    page.evaluate(
        """(name) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array([1, 2, 3])], name, {type: "image/png"}));
        document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: transfer}));
    }""",
        name,
    )
    page.wait_for_function("(name) => document.body.innerText.includes(name)", arg=name)
    assert page.locator('img[src="x"]').count() == 0
    # The page's own policy forbids inline script anyway.
    assert "default-src 'self'" in page.evaluate("() => fetch('/').then(r => r.headers.get('content-security-policy'))")


def test_label_three_images_with_the_keyboard(page, label_dir):
    page.keyboard.press("Tab")  # keyboard only, from the top of the page
    page.focus("#tab-read")
    page.keyboard.press("ArrowRight")
    assert page.locator("#tab-label").get_attribute("aria-selected") == "true"
    page.wait_for_selector("#label-image[src]")
    field = page.locator("#label-text")
    assert field.evaluate("(node) => node === document.activeElement")
    progress = page.locator("#label-progress")
    assert progress.inner_text().startswith("0 of 3 labelled")
    shot(page, "6-label-first")
    done = {}

    def current():
        return page.locator("#label-caption").inner_text().split(": ", 1)[1].split(";")[0]

    # 1. Accept the model's reading with Enter (it is selected, so typing would replace it).
    first, reading = current(), field.input_value()
    page.keyboard.press("Enter")
    page.wait_for_function("(old) => !document.getElementById('label-caption').innerText.includes(old)", arg=first)
    done[first] = reading
    # 2. Correct one: type over the selected reading; a character outside the charset is refused as typed.
    second = current()
    page.keyboard.type("AB1C")  # '1' is not a really-simple-captcha character
    assert field.input_value() == "ABC"
    assert "not a character of this model" in page.locator("#label-message").inner_text()
    page.keyboard.type("d")  # lower case is taken in the case the charset has
    assert field.input_value() == "ABCD"
    shot(page, "7-label-correcting")
    page.keyboard.press("Enter")
    page.wait_for_function("(old) => !document.getElementById('label-caption').innerText.includes(old)", arg=second)
    done[second] = "ABCD"
    # 3. Skip the third, then go back to it and skip again.
    third = current()
    page.keyboard.press("PageDown")
    assert page.locator("#label-caption").inner_text().startswith("Every image")
    # Let a frame render: a disabled field loses the focus then, and PageUp must still work.
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    assert page.evaluate("() => document.getElementById('panel-label').contains(document.activeElement)")
    page.keyboard.press("PageUp")
    assert current() == third
    page.keyboard.press("PageDown")
    assert progress.inner_text().startswith("2 of 3 labelled")
    shot(page, "8-label-done")
    with open(label_dir / "labels.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["file", "label"] and dict(rows[1:]) == done
    assert third not in dict(rows[1:])
    # No image was renamed, moved or deleted.
    assert sorted(os.listdir(label_dir)) == ["capture_0.png", "capture_1.png", "capture_2.png", "labels.csv"]
    # A reload continues where it stopped: only the skipped image is left to do.
    page.reload()
    page.click("#tab-label")
    page.wait_for_selector("#label-image[src]")
    assert current() == third and page.locator("#label-caption").inner_text().startswith("1 of 1 to do")


def test_accept_every_reading_above_a_confidence_and_train_now_on_the_label_tab(page, server, label_dir):
    page.click("#tab-label")
    preview = page.locator("#accept-preview")
    page.wait_for_function("() => document.getElementById('accept-preview').innerText.includes('queued readings')")
    queue = server.request("GET", "/label/queue")[1]["queue"]
    assert queue, "the folder has images left to label"
    # Train now with fewer labels than it needs: refused, saying how many.
    page.click("#train-button")
    progress = page.locator("#train-progress")
    page.wait_for_function("() => document.getElementById('train-progress').innerText.includes('at least 10 labels')")
    assert "failed" in progress.get_attribute("class")
    # Every reading at or above 0%: all of the queue, with the mistakes the calibration expects.
    page.fill("#accept-threshold", "0")
    expected = sum(1 - item["confidence"] for item in queue)
    text = (
        f"{len(queue)} of {len(queue)} queued readings are at or above 0%; the calibration expects about {expected:.2f}"
    )
    page.wait_for_function("(text) => document.getElementById('accept-preview').innerText.startsWith(text)", arg=text)
    button = page.locator("#accept-button")
    assert button.is_enabled() and button.inner_text() == f"Accept {len(queue)} reading{'' if len(queue) == 1 else 's'}"
    shot(page, "10-label-accept-preview")
    page.click("#accept-button")
    page.wait_for_function("() => document.getElementById('label-message').innerText.startsWith('Accepted')")
    with open(label_dir / "labels.csv", newline="") as f:
        rows = dict(list(csv.reader(f))[1:])
    assert all(rows[item["file"]] == item["text"] for item in queue)
    page.wait_for_function("() => document.getElementById('accept-preview').innerText.startsWith('0 of 0 queued')")
    assert button.is_disabled()
    assert page.locator("#label-caption").inner_text().startswith("Every image")
    assert preview.inner_text().startswith("0 of 0")


def test_an_arithmetic_model_shows_the_answer_or_why_there_is_none(page, server, tmp_path):
    from captcha_keras.data.synthetic import render_captcha
    from captcha_keras.runs import RunConfig

    config = RunConfig.load(os.path.join(SHIPPED, "arithmetic"))
    question = render_captcha("12-5=?", seed=11, width=config.width, height=config.height, style="arith")
    blank = np.full((config.height, config.width, 3), 255, np.uint8)
    files = {"question.png": encoded_png(question), "blank.png": encoded_png(blank)}
    served = {
        name: server.post_files([(name, data)], model="arithmetic")[1]["results"][0] for name, data in files.items()
    }
    assert served["question.png"]["text"] == "12-5=?" and served["question.png"]["answer"] == 7
    assert served["blank.png"]["answer"] is None and served["blank.png"]["answer_reason"]
    page.select_option("#model", "arithmetic")
    page.set_input_files("#files", [write(tmp_path, name, data) for name, data in files.items()])
    assert card_text(page, "question.png") == "12-5=?"
    assert card_of(page, "question.png").locator(".answer").inner_text() == "= 7"
    card_of(page, "blank.png").wait_for()
    assert (
        card_of(page, "blank.png").locator(".answer").inner_text()
        == f"no answer: {served['blank.png']['answer_reason']}"
    )
    shot(page, "10-read-arithmetic")
    # The history keeps each answer, and each reason.
    history = page.locator("#history")
    assert history.locator('.card[data-file="question.png"] .answer').first.inner_text() == "= 7"
    assert history.locator('.card[data-file="blank.png"] .answer').first.inner_text().startswith("no answer: ")
    # A text model's cards say nothing of answers.
    page.select_option("#model", "ctc_default")
    page.set_input_files("#files", [write(tmp_path, "k7qx.png", captcha_png("K7QX", seed=3))])
    assert card_text(page, "k7qx.png") == "K7QX" and card_of(page, "k7qx.png").locator(".answer").count() == 0
