"""The Gradio Space in a real browser: headless Debian Chromium driven by playwright against the app on 127.0.0.1.

Each tab is exercised by clicking, its output read back from the page and a screenshot saved (under `tmp_path`, and
into `$EEG2IMG_SCREENSHOTS` when set): every generated image lies whole inside its gallery with its caption visible
below it (at a wide and a narrow window, 1280 and 640 px), the models' requirements and the simulated classes'
legend are on the page, controls that do not apply are hidden, the trial field starts at 0 for every file, the batch
grids keep legible labels (stacking on a narrow window), and invalid, corrupt and oversized uploads show a readable
error naming the file only, which stays beside the inputs until the next action while the app keeps serving. The
test installs nothing: `gradio` and `playwright` come with the `test` extra, Chromium from `make browser-deps`
(Debian's `chromium` package; `.ci/run` calls it). Without Chromium the test skips on a developer machine and fails
in CI (`CI` set), so a CI run never passes without the browser check.
Integration tier: `make test-integration`.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MAX_UPLOAD_BYTES = 32_000  # small, so the oversize check is cheap to exercise
TIMEOUT_MS = 90_000  # generous: the CI machine may be busy (2 shared cores)
WIDE, NARROW = 1280, 640  # window widths the page is checked at
TOAST_MS = 10_000  # how long Gradio shows an error toast: an error box must outlive it


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
    """The app as a new user starts it: no variables set, a quickstart output folder in the working directory."""
    from eeg2img_hf.quickstart import quickstart_layout
    from test_space_app import free_port, load_app, save_components

    app = load_app()
    root = tmp_path_factory.mktemp("space")
    components = save_components(root / "components")
    for name, target in quickstart_layout(root / "outputs" / "quickstart").items():
        if name in components:
            shutil.move(components[name], target)
    cwd = Path.cwd()
    os.chdir(root)
    try:
        demo = app.build_demo_from_env({}, search=[Path("outputs", "quickstart")], max_upload_bytes=MAX_UPLOAD_BYTES)
    finally:
        os.chdir(cwd)
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
        page = browser.new_page(viewport={"width": WIDE, "height": 1000})
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
    try:
        page.wait_for_function(script, arg=[elem_id, text], timeout=TIMEOUT_MS)
    except Exception as err:  # say what the page shows instead (an error box, another text)
        raise AssertionError(f"#{elem_id} never showed {text!r}; the page says: "
                             f"{page.locator('body').inner_text()[:3000]!r}") from err
    return page.locator(f"#{elem_id} textarea").input_value()


def set_number(page, selector: str, value: int) -> None:
    field = page.locator(selector)
    field.fill(str(value))
    field.press("Tab")


def image_sources(page, elem_id: str) -> list[str]:
    return [src for src in page.locator(f"#{elem_id} img").evaluate_all("els => els.map(e => e.src)") if src]


GALLERY_GEOMETRY = """(id) => {
  const box = document.querySelector('#' + id).getBoundingClientRect();
  const label = document.querySelector('#' + id + ' [data-testid="block-label"]').getBoundingClientRect();
  return [...document.querySelectorAll('#' + id + ' .thumbnail-item')].map(tile => {
    const img = tile.querySelector('img').getBoundingClientRect();
    const caption = tile.querySelector('.caption-label');
    const cap = caption ? caption.getBoundingClientRect() : null;
    return {gallery: [box.left, box.top, box.right, box.bottom], image: [img.left, img.top, img.right, img.bottom],
            label_bottom: label.bottom,
            natural: tile.querySelector('img').naturalWidth, caption: cap && [cap.left, cap.top, cap.right, cap.bottom],
            text: caption ? caption.innerText : null,
            clipped: caption ? caption.scrollWidth > caption.clientWidth + 1 : null};
  });
}"""


def assert_gallery_shows_everything(page, elem_id: str, count: int) -> list[dict]:
    """Every image of gallery `elem_id` lies whole inside the gallery (below its label), at a sensible size, with
    its caption visible (inside the gallery, below the image, not cut off)."""
    page.locator(f"#{elem_id} .thumbnail-item img").nth(count - 1).wait_for()
    page.wait_for_timeout(300)  # let the grid settle
    tiles = page.evaluate(GALLERY_GEOMETRY, elem_id)
    assert len(tiles) == count
    for tile in tiles:
        (gl, gt, gr, gb), (il, it, ir, ib) = tile["gallery"], tile["image"]
        assert gl <= il and gt <= it and ir <= gr and ib <= gb, tile  # the whole image inside the gallery
        assert it >= tile["label_bottom"], tile  # not under the gallery's label
        assert 96 <= ir - il <= 400 and abs((ib - it) - (ir - il)) <= 2, tile  # square, sensible size
        cl, ct, cr, cb = tile["caption"]
        assert tile["text"] and cb - ct > 5 and not tile["clipped"], tile  # caption visible, not cut
        assert gl <= cl and gt <= ct and cr <= gr and cb <= gb and ct >= ib - 1, tile  # below the image, inside
    return tiles


def wait_for_error(page, elem_id: str, text: str) -> str:
    """Waits until the error box `elem_id` shows `text`, then returns the box's text."""
    box = page.locator(f"#{elem_id}").filter(has_text=text)
    box.first.wait_for(state="visible", timeout=TIMEOUT_MS)
    return box.first.inner_text()


def test_requirements_are_on_the_page(page):
    requirements = page.locator("#requirements").inner_text()
    assert "input EEG 14 channels x 32 samples at 128 Hz (250 ms)" in requirements
    assert "found in outputs/quickstart" in requirements and "outputs/quickstart/gan/model" in requirements
    assert "/tmp" not in requirements  # model names, never the server's paths
    assert "EEGClip from outputs/quickstart/clip/model" in requirements
    assert "Card: same-class MRR 0.714, same-class mAP 0.52" in requirements  # retrieval: the same-class figures
    assert "repo ids" in requirements  # how to point the app at Hub models instead
    assert "Classes (3): Apple, Car, Dog" in requirements and "Card: fid (unknown features) 123" in requirements
    assert "(n_chans, n_times) = (14, 32)" in page.locator("#gen-requirements").inner_text()
    legend = page.locator("#legend")
    assert legend.is_visible() and legend.locator("svg").count() == 3
    assert "Dog: yellow triangle" in legend.inner_text()


def test_controls_that_do_not_apply_are_hidden(page, tmp_path):
    import mne

    np.save(tmp_path / "single.npy", np.random.default_rng(0).uniform(0.1, 1, (14, 32)).astype(np.float32))
    info = mne.create_info([f"EEG{i}" for i in range(14)], 128.0, "eeg")
    mne.EpochsArray(np.random.default_rng(0).normal(size=(1, 14, 32)) * 1e-5, info, verbose="error").save(
        tmp_path / "one-epo.fif", verbose="error")
    open_tab(page, "EEG → image")
    assert page.locator("#gen-split").is_visible() and not page.locator("#gen-upload").is_visible()
    assert not page.locator("#gen-pick").is_visible()
    assert not page.locator("#gen-truncation-center").is_visible()  # psi 1: no truncation, no centre
    set_number(page, "#gen-truncation input[type=number]", 0.5)
    page.locator("#gen-truncation-center").wait_for(state="visible")
    set_number(page, "#gen-truncation input[type=number]", 1)
    page.locator("#gen-truncation-center").wait_for(state="hidden")
    page.locator("#gen-source").get_by_label("Uploaded file").check()
    page.locator("#gen-upload").wait_for(state="visible")
    page.locator("#gen-split").wait_for(state="hidden")
    page.locator("#gen-shown").wait_for(state="hidden")  # an upload has no image shown with it
    assert not page.locator("#gen-pick").is_visible() and not page.locator("#gen-index").is_visible()  # no file yet
    upload_eeg(page, tmp_path / "one-epo.fif")
    page.locator("#gen-pick").wait_for(state="visible")  # a recording with channel names can be picked from
    assert not page.locator("#gen-index").is_visible()  # one epoch: no trial to choose
    upload_eeg(page, tmp_path / "single.npy", previous="one-epo.fif")
    page.locator("#gen-pick").wait_for(state="hidden")  # a numpy file has no channel names to pick by
    screenshot(page, tmp_path, "controls-upload")
    page.locator("#gen-upload").locator("button[aria-label=Clear]").first.click()  # leave the box empty
    page.locator("#gen-upload").get_by_text("single").first.wait_for(state="detached")
    assert not page.locator("#gen-pick").is_visible() and not page.locator("#gen-index").is_visible()
    page.locator("#gen-source").get_by_label("Dataset trial").check()
    page.locator("#gen-upload").wait_for(state="hidden")
    assert page.locator("#gen-split").is_visible() and page.locator("#gen-shown").is_visible()
    open_tab(page, "EEG → image retrieval")
    page.locator("#ret-source").get_by_label("Uploaded file").check()
    page.locator("#ret-true-image").wait_for(state="hidden")
    page.locator("#ret-source").get_by_label("Dataset trial").check()
    page.locator("#ret-true-image").wait_for(state="visible")
    open_tab(page, "Image → EEG → image")
    page.locator("#rec-source").get_by_label("Uploaded file").check()
    page.locator("#rec-index").wait_for(state="hidden")  # an uploaded image has no trial index
    assert page.locator("#rec-upload").is_visible() and not page.locator("#rec-split").is_visible()
    page.locator("#rec-source").get_by_label("Dataset image").check()
    page.locator("#rec-upload").wait_for(state="hidden")


def test_generate_tab(page, tmp_path):
    open_tab(page, "EEG → image")
    set_number(page, "#gen-index input", 1)
    set_number(page, "#gen-seed input", 11)
    set_number(page, "#gen-num-images input[type=number]", 3)
    page.locator("#gen-button").click()
    info = wait_for_text(page, "gen-info", "seed 11")
    assert info.startswith("3 image(s) from test[1]") and "true class:" in info
    assert "images 16x16 px, shown enlarged 8x without smoothing" in info and "EEG embedding decodes to" in info
    tiles = assert_gallery_shows_everything(page, "gen-gallery", 3)
    assert all("true class:" in tile["text"] and "judge:" in tile["text"] for tile in tiles)
    assert image_sources(page, "gen-eeg-plot") and image_sources(page, "gen-shown")
    screenshot(page, tmp_path, "tab-eeg-to-image")


@pytest.mark.parametrize("width,count", [(WIDE, 2), (WIDE, 8), (NARROW, 2), (NARROW, 8)])
def test_generated_images_are_whole_at_any_width(page, width, count):
    open_tab(page, "EEG → image")
    page.set_viewport_size({"width": width, "height": 900})
    try:
        seed = 100 + count * 10 + width % 7  # a new seed per case: the info below is this run's
        set_number(page, "#gen-seed input", seed)
        set_number(page, "#gen-num-images input[type=number]", count)
        page.locator("#gen-button").click()
        assert wait_for_text(page, "gen-info", f"seed {seed},").startswith(f"{count} image(s) from test[1]")
        assert_gallery_shows_everything(page, "gen-gallery", count)
    finally:
        page.set_viewport_size({"width": WIDE, "height": 1000})


def test_retrieval_tab(page, tmp_path):
    open_tab(page, "EEG → image retrieval")
    set_number(page, "#ret-index input", 2)
    set_number(page, "#ret-top-k input[type=number]", 6)
    page.locator("#ret-button").click()
    info = wait_for_text(page, "ret-info", "Top-6 of 6")
    assert "for test[2]" in info and "is ranked" in info
    tiles = assert_gallery_shows_everything(page, "ret-gallery", 6)
    assert sum("TRUE IMAGE" in tile["text"] for tile in tiles) == 1  # all 6 shown: the true one is marked
    assert "true image" in page.locator("#ret-table").inner_text()
    assert image_sources(page, "ret-true-image")  # the truth beside the prediction
    note = page.locator("#ret-gallery-note").inner_text()
    assert re.search(r"its own split \(train \d+, validation \d+, test 6 images\)", note), note  # sizes explained
    assert "an uploaded trial against the test split (6 images)" in note
    screenshot(page, tmp_path, "tab-eeg-image-retrieval")


def test_reconstruct_tab_with_uploaded_image(page, tmp_path):
    from PIL import Image

    image_path = tmp_path / "picture.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(image_path)
    open_tab(page, "Image → EEG → image")
    page.locator("#rec-source").get_by_label("Uploaded file").check()
    page.locator("#rec-upload input[type=file]").set_input_files(str(image_path))
    page.locator("#rec-upload").get_by_text("picture").first.wait_for()
    set_number(page, "#rec-seed input", 5)
    page.locator("#rec-button").click()
    info = wait_for_text(page, "rec-info", "uploaded image 'picture.png'")
    assert info.startswith("2 reconstruction(s)") and "true class: unknown" in info
    assert "EEG embedding decodes to" in info and "judge on the input image" in info
    tiles = assert_gallery_shows_everything(page, "rec-gallery", 2)
    assert all("judge:" in tile["text"] for tile in tiles) and image_sources(page, "rec-input-image")
    assert "cosine" in page.locator("#rec-decoded").inner_text()
    screenshot(page, tmp_path, "tab-image-to-eeg-to-image")
    page.locator("#rec-source").get_by_label("Dataset image").check()


GRID_GEOMETRY = """(id) => {
  const img = document.querySelector('#' + id + ' img');
  const box = img.getBoundingClientRect();
  const title = document.querySelector('#' + id + ' [data-testid="block-label"]');
  return {box: [box.left, box.top, box.right, box.bottom], natural: img.naturalWidth,
          title_cut: title ? title.scrollWidth > title.clientWidth + 1 : null};
}"""


@pytest.mark.parametrize("width", [WIDE, NARROW])
def test_batch_view(page, tmp_path, width):
    """Both grids at (nearly) their own size, so the class labels drawn beside the rows stay legible: side by side
    on a wide window, stacked on a narrow one; the panel titles are not cut."""
    open_tab(page, "Batch view")
    page.set_viewport_size({"width": width, "height": 1000})
    try:
        seed = width  # a new seed per case: the info below is this run's
        set_number(page, "#batch-seed input", seed)
        dog = page.locator("#batch-classes").get_by_label("Dog")
        if dog.is_checked():
            dog.uncheck()
        set_number(page, "#batch-trials input[type=number]", 4)  # every test trial of the class
        page.locator("#batch-button").click()
        info = wait_for_text(page, "batch-info", f"seed {seed},")
        assert "2 classes x 4 trials of the test split" in info and "judge:" in info and "cells 16x16 px" in info
        assert image_sources(page, "batch-generated") and image_sources(page, "batch-stimuli")
        page.wait_for_timeout(300)  # let the layout settle
        generated, stimuli = (page.evaluate(GRID_GEOMETRY, elem_id) for elem_id in ("batch-generated", "batch-stimuli"))
        for grid in (generated, stimuli):
            left, _, right, _ = grid["box"]
            assert right - left >= 0.85 * grid["natural"], grid  # hardly scaled down: labels legible
            assert right <= width and not grid["title_cut"], grid
        if width == NARROW:
            assert stimuli["box"][1] >= generated["box"][3], (generated, stimuli)  # stacked
        else:
            assert stimuli["box"][0] >= generated["box"][2], (generated, stimuli)  # side by side
        screenshot(page, tmp_path, f"tab-batch-view-{width}")
    finally:
        page.set_viewport_size({"width": WIDE, "height": 1000})


def upload_eeg(page, path: Path, previous: str | None = None) -> None:
    """Puts `path` into the EEG upload box, clearing the `previous` file first (and waiting until it is gone, so a
    slow re-render cannot drop the new file)."""
    box = page.locator("#gen-upload")  # the box shows a file's stem and extension apart: wait for the stem
    if previous is not None:
        box.locator("button[aria-label=Clear]").first.click()
        box.get_by_text(Path(previous).stem).first.wait_for(state="detached")
    box.locator("input[type=file]").set_input_files(str(path))
    box.get_by_text(path.stem).first.wait_for()


def test_bad_uploads_show_errors_and_the_app_keeps_serving(page, tmp_path):
    np.save(tmp_path / "pickled.npy", np.array([{"eeg": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "huge.npy", np.zeros((2, 14, 400), np.float32))  # 44.9 kB > MAX_UPLOAD_BYTES
    np.save(tmp_path / "wide.npy", np.random.default_rng(1).uniform(0.1, 1, (20, 32)).astype(np.float32))
    np.save(tmp_path / "valid.npy", np.random.default_rng(1).uniform(0.1, 1, (2, 14, 32)).astype(np.float32))
    (tmp_path / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    open_tab(page, "EEG → image")
    set_number(page, "#gen-index input", 8)  # a dataset row: an upload must not inherit it
    page.locator("#gen-source").get_by_label("Uploaded file").check()
    page.locator("#gen-upload").wait_for(state="visible")
    upload_eeg(page, tmp_path / "pickled.npy")
    page.locator("#gen-button").click()
    assert "never unpickled" in wait_for_error(page, "gen-error", "pickle")
    page.wait_for_timeout(TOAST_MS + 1_000)  # longer than a toast lasts: the error is still there
    assert "never unpickled" in page.locator("#gen-error").inner_text()
    screenshot(page, tmp_path, "error-pickle-upload")
    upload_eeg(page, tmp_path / "corrupt.npy", previous="pickled.npy")
    page.locator("#gen-error").wait_for(state="hidden")  # the next action clears it
    page.locator("#gen-button").click()
    message = wait_for_error(page, "gen-error", "'corrupt.npy' is corrupt")  # the reader's message, not a pickle
    assert "pickle" not in message and "/tmp" not in message and str(tmp_path) not in message
    upload_eeg(page, tmp_path / "huge.npy", previous="corrupt.npy")
    page.locator("#gen-button").click()
    assert "the limit is" in wait_for_error(page, "gen-error", "huge.npy")
    upload_eeg(page, tmp_path / "wide.npy", previous="huge.npy")
    page.locator("#gen-button").click()
    message = wait_for_error(page, "gen-error", "stores no channel names")  # what works for a numpy file
    assert "model's 14 channels" in message and "Pick" not in message
    screenshot(page, tmp_path, "error-wrong-shape-npy")
    upload_eeg(page, tmp_path / "valid.npy", previous="wide.npy")
    page.locator("#gen-index").wait_for(state="visible")  # two trials: the field is back, at 0
    assert page.locator("#gen-index input").input_value() == "0"
    set_number(page, "#gen-index input", 1)
    set_number(page, "#gen-num-images input[type=number]", 1)
    page.locator("#gen-button").click()
    info = wait_for_text(page, "gen-info", "uploaded file 'valid.npy', trial 1 of 2")
    assert "true class: unknown" in info and not page.locator("#gen-error").is_visible()
    assert image_sources(page, "gen-gallery")
    screenshot(page, tmp_path, "after-errors")


def test_page_made_no_outside_requests(page, server):
    outside = [url for url in page.requested_urls if not url.startswith((server.rstrip("/"), "data:", "blob:"))]
    assert page.requested_urls and not outside, outside
