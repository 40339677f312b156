"""The orchestrator's web page in headless Chromium (Debian's chromium, driven by Playwright)."""
import os
import shutil

import pytest

from tests.conftest import DATA

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream"])
        yield b
        b.close()


def test_upload_clone_play_and_save_voice(browser, urls, tmp_path):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(urls["orchestrator"] + "/")
    assert page.title() == "voxclone"
    page.set_input_files("#reference", str(DATA / "ref_slt.wav"))
    page.fill("#text", "Good morning to you.")
    page.select_option("#vocoder", "griffinlim")
    page.click("#clone")
    page.wait_for_selector("#result:not([hidden])", timeout=180_000)
    assert page.get_attribute("#player", "src").startswith("blob:")
    assert page.get_attribute("#download", "href").startswith("blob:")
    mel_width = page.eval_on_selector("#mel", "c => c.width")
    align_height = page.eval_on_selector("#alignment", "c => c.height")
    assert mel_width > 10 and align_height == len("good morning to you.") + 1
    # the drawn pixels are not all one colour
    distinct = page.eval_on_selector("#mel", """c => new Set(Array.from(
        c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 1))).size""")
    assert distinct > 5
    with page.expect_download() as dl:
        page.click("#download")
    assert os.path.getsize(dl.value.path()) > 1000
    page.fill("#voice-name", "browser-voice")
    page.click("#save-voice")
    page.wait_for_selector("#voices li:has-text('browser-voice')")
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert not errors


def test_record_with_microphone_and_error_message(browser, urls):
    page = browser.new_page()
    page.goto(urls["orchestrator"] + "/")
    page.click("#clone")
    assert "reference" in page.inner_text("#error")
    page.click("#record")
    page.wait_for_timeout(1500)
    page.click("#record")
    page.wait_for_function("document.getElementById('rec-status').textContent.startsWith('recorded')")
    assert page.get_attribute("#reference-player", "src").startswith("blob:")
    page.fill("#text", "")
    page.click("#clone")
    page.wait_for_function("!document.getElementById('error').hidden && "
                           "document.getElementById('error').textContent.length > 0", timeout=60_000)
    assert "text" in page.inner_text("#error").lower()
