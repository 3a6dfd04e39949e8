"""The Gradio Space in a real browser: headless Debian Chromium driven by playwright against the app on 127.0.0.1.

Each tab is exercised by clicking, its output read back from the page and a screenshot saved (under `tmp_path`,
and into `$EEG2IMG_SCREENSHOTS` when set); an invalid and an oversized upload show a readable error while the app
keeps serving. The test installs nothing: `gradio` and `playwright` come with the `test` extra, Chromium from
`make browser-deps` (Debian's `chromium` package; `.ci/run` calls it). Without Chromium the test skips on a
developer machine and fails in CI (`CI` set), so a CI run never passes without the browser check.
Integration tier: `make test-integration`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
MAX_UPLOAD_BYTES = 32_000  # small, so the oversize check is cheap to exercise
TIMEOUT_MS = 90_000  # generous: the CI machine may be busy (2 shared cores)


def find_chromium() -> str | None:
    """The Chromium executable: `$CHROMIUM_PATH`, else `chromium` / `chromium-browser` on PATH."""
    if os.environ.get("CHROMIUM_PATH") and os.access(os.environ["CHROMIUM_PATH"], os.X_OK):
        return os.environ["CHROMIUM_PATH"]
    return next((path for path in map(shutil.which, CHROMIUM_CANDIDATES) if path), None)


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = find_chromium()
    if path:
        return path
    message = "Chromium is not installed: run `make browser-deps` (Debian's chromium) or set CHROMIUM_PATH"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def server(chromium_path, tmp_path_factory):
    from test_space_app import free_port, load_app, save_components

    app = load_app()
    demo = app.build_demo(**save_components(tmp_path_factory.mktemp("space")), max_upload_bytes=MAX_UPLOAD_BYTES)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield demo.local_url
    finally:
        demo.close()


@pytest.fixture(scope="module")
def page(server, chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.requested_urls = []
        page.on("request", lambda request: page.requested_urls.append(request.url))
        page.goto(server, wait_until="networkidle")
        try:
            yield page
        finally:
            browser.close()


def screenshot(page, tmp_path: Path, name: str) -> Path:
    """Saves a full-page screenshot under `tmp_path` (and into `$EEG2IMG_SCREENSHOTS` when set)."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("EEG2IMG_SCREENSHOTS"):
        folder = Path(os.environ["EEG2IMG_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / path.name)
    assert path.stat().st_size > 10_000
    return path


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def wait_for_text(page, elem_id: str, text: str) -> str:
    """Waits until textbox `elem_id` contains `text`, then returns its value."""
    script = ("([id, text]) => { const box = document.querySelector(`#${id} textarea`);"
              " return box && box.value.includes(text); }")
    page.wait_for_function(script, arg=[elem_id, text], timeout=TIMEOUT_MS)
    return page.locator(f"#{elem_id} textarea").input_value()


def set_number(page, selector: str, value: int) -> None:
    field = page.locator(selector)
    field.fill(str(value))
    field.press("Tab")


def image_sources(page, elem_id: str) -> list[str]:
    return [src for src in page.locator(f"#{elem_id} img").evaluate_all("els => els.map(e => e.src)") if src]


def wait_for_error(page, text: str) -> str:
    toast = page.locator("[data-testid=toast-text]").filter(has_text=text)
    toast.first.wait_for(state="visible", timeout=TIMEOUT_MS)
    page.wait_for_timeout(400)  # let the toast finish fading in before a screenshot
    return toast.first.inner_text()


def test_generate_tab(page, tmp_path):
    open_tab(page, "EEG → image")
    set_number(page, "#gen-index input", 1)
    set_number(page, "#gen-seed input", 11)
    set_number(page, "#gen-num-images input[type=number]", 3)
    page.locator("#gen-button").click()
    info = wait_for_text(page, "gen-info", "seed 11")
    assert info.startswith("3 image(s) from test[1]") and "true class:" in info
    page.locator("#gen-gallery img").nth(2).wait_for()
    assert len(image_sources(page, "gen-gallery")) >= 3
    assert image_sources(page, "gen-eeg-plot") and image_sources(page, "gen-shown")
    assert "true class:" in page.locator("#gen-gallery").inner_text()
    screenshot(page, tmp_path, "tab-eeg-to-image")


def test_retrieval_tab(page, tmp_path):
    open_tab(page, "EEG → image retrieval")
    set_number(page, "#ret-index input", 2)
    set_number(page, "#ret-top-k input[type=number]", 6)
    page.locator("#ret-button").click()
    info = wait_for_text(page, "ret-info", "Top-6 of 6")
    assert "for test[2]" in info and "is ranked" in info
    page.locator("#ret-gallery img").nth(5).wait_for()
    assert len(image_sources(page, "ret-gallery")) >= 6
    assert "TRUE IMAGE" in page.locator("#ret-gallery").inner_text()  # all 6 shown: the true one is marked
    assert "true image" in page.locator("#ret-table").inner_text()
    screenshot(page, tmp_path, "tab-eeg-image-retrieval")


def test_reconstruct_tab_with_uploaded_image(page, tmp_path):
    from PIL import Image

    image_path = tmp_path / "picture.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(image_path)
    open_tab(page, "Image → EEG → image")
    page.locator("#rec-source").get_by_label("Uploaded file").check()
    page.locator("#rec-upload input[type=file]").set_input_files(str(image_path))
    page.locator("#rec-upload").get_by_text("picture.png").first.wait_for()
    set_number(page, "#rec-seed input", 5)
    page.locator("#rec-button").click()
    info = wait_for_text(page, "rec-info", "uploaded image 'picture.png'")
    assert info.startswith("2 reconstruction(s)") and "true class: unknown" in info
    page.locator("#rec-gallery img").nth(1).wait_for()
    assert len(image_sources(page, "rec-gallery")) >= 2 and image_sources(page, "rec-input-image")
    screenshot(page, tmp_path, "tab-image-to-eeg-to-image")


def test_bad_uploads_show_errors_and_the_app_keeps_serving(page, tmp_path):
    np.save(tmp_path / "pickled.npy", np.array([{"eeg": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "huge.npy", np.zeros((2, 14, 400), np.float32))  # 44.9 kB > MAX_UPLOAD_BYTES
    np.save(tmp_path / "valid.npy", np.random.default_rng(1).uniform(0.1, 1, (2, 14, 32)).astype(np.float32))
    open_tab(page, "EEG → image")
    page.locator("#gen-source").get_by_label("Uploaded file").check()
    upload = page.locator("#gen-upload input[type=file]")
    upload.set_input_files(str(tmp_path / "pickled.npy"))
    page.locator("#gen-upload").get_by_text("pickled.npy").first.wait_for()
    page.locator("#gen-button").click()
    assert "never loaded" in wait_for_error(page, "pickle")
    screenshot(page, tmp_path, "error-pickle-upload")
    page.locator("#gen-upload button[aria-label=Clear]").first.click()
    upload.set_input_files(str(tmp_path / "huge.npy"))
    page.locator("#gen-upload").get_by_text("huge.npy").first.wait_for()
    page.locator("#gen-button").click()
    assert "the limit is" in wait_for_error(page, "huge.npy")
    page.locator("#gen-upload button[aria-label=Clear]").first.click()
    upload.set_input_files(str(tmp_path / "valid.npy"))
    page.locator("#gen-upload").get_by_text("valid.npy").first.wait_for()
    set_number(page, "#gen-index input", 1)
    set_number(page, "#gen-num-images input[type=number]", 1)
    page.locator("#gen-button").click()
    info = wait_for_text(page, "gen-info", "uploaded file 'valid.npy', trial 1")
    assert "true class: unknown" in info
    assert image_sources(page, "gen-gallery")
    screenshot(page, tmp_path, "after-errors")


def test_page_made_no_outside_requests(page, server):
    outside = [url for url in page.requested_urls if not url.startswith((server.rstrip("/"), "data:", "blob:"))]
    assert page.requested_urls and not outside, outside
