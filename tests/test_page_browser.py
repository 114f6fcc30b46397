"""The HTML report in a real browser: headless Chromium driven by Playwright, the page opened from disk.

Needs Debian's chromium (`apt-get install chromium`, or LINFIT_CHROMIUM=/path/to/chrome) and the
`playwright` package (the `test` extra). Without them this test fails and says so: it never skips.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import SAMPLE, parse_json

INSTALL = (
    "The browser test needs Chromium and Playwright for Python: as root on Debian, "
    "`apt-get update && apt-get install -y chromium`, then `pip install -e '.[test]'` "
    "(or set LINFIT_CHROMIUM to a Chrome/Chromium executable). Never `playwright install`: no download is needed."
)
VIEWPORT = {"width": 1280, "height": 900}


def chromium_path() -> str:
    found = os.environ.get("LINFIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if os.environ.get("LINFIT_CHROMIUM") and not Path(found).exists():
        pytest.fail(f"LINFIT_CHROMIUM={found} does not exist. {INSTALL}")
    if not found or not Path(found).exists():
        pytest.fail(f"no Chromium found. {INSTALL}")
    return found


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"playwright is not installed. {INSTALL}")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=executable, args=["--headless=new", "--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


def open_page(browser, path: Path):
    """The page from its file URL, with every console message, script error and request recorded."""
    page = browser.new_page(viewport=VIEWPORT)
    seen = {"console": [], "errors": [], "requests": []}
    page.on(
        "console",
        lambda message: seen["console"].append(f"{message.type}: {message.text}") if message.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.goto(path.as_uri())
    return page, seen


def slide(page, selector: str, value: int) -> None:
    """Move a range input as a person does: set the value, fire 'input'."""
    page.eval_on_selector(selector, "(e, v) => { e.value = String(v); e.dispatchEvent(new Event('input', {bubbles: true})); }", value)


def table_digits(value: float, digits: int = 10) -> str:
    """As the terminal table shows a or b (report.num)."""
    return "0" if value == 0 else f"{value:.{digits}g}"


def test_the_report_works_in_a_real_browser(browser, invoke, tmp_path):
    page_path = tmp_path / "run.html"
    result = invoke("train", SAMPLE, "--report", page_path, "-f", "json")
    assert result.exit_code == 0, result.stderr
    fit = parse_json(result.stdout)
    page, seen = open_page(browser, page_path)
    history = fit["history"]

    assert page.eval_on_selector("#step", "e => [e.type, e.min, e.max]") == ["range", "0", str(len(history) - 1)]
    slide(page, "#step", len(history) - 1)
    last = history[-1]
    readout = page.inner_text("#step-readout")
    assert f"step {last['step']} of {fit['steps']}" in readout
    assert f"a = {table_digits(last['a'])}   b = {table_digits(last['b'])}" in readout
    assert last["a"] == fit["a"] and f"step {fit['steps']}" in page.inner_text("#step-label")

    slide(page, "#step", 0)
    readout = page.inner_text("#step-readout")
    assert "step 1 of" in readout and "a = 1   b = 0.5" in readout
    first = history[0]
    assert f"dL/da   {table_digits(first['grad_a'])}" in readout  # autograd's gradient, ten digits

    page.keyboard.press("ArrowRight")  # the keys move the step too
    assert "step 2 of" in page.inner_text("#step-readout")
    slide(page, "#step", 0)
    page.click("#play")
    page.wait_for_function("Number(document.getElementById('step').value) >= 2")
    page.click("#play")  # pause
    slide(page, "#step", 0)

    # the graph: the nodes autograd records for the loss at one point, with its values at step 1
    from linfit.gradient import point_gradient
    from linfit.graph import names

    x, y = float(page.input_value("#point-x")), float(page.input_value("#point-y"))
    torch_graph = point_gradient([x], [y], a=first["a"], b=first["b"], with_graph=True).graph
    drawn = page.eval_on_selector_all(
        "#graph g.node", "nodes => nodes.map(n => [n.dataset.name, Number(n.dataset.value), Number(n.dataset.grad)])"
    )
    assert [name for name, _, _ in drawn] == names(torch_graph)
    expected = []
    stack = [torch_graph]
    while stack:
        node = stack.pop(0)
        expected.append((node.value, node.grad))
        stack[:0] = node.inputs
    for (name, value, grad), (torch_value, torch_grad) in zip(drawn, expected):
        assert value == pytest.approx(torch_value, rel=1e-12, abs=1e-12), name
        assert grad == pytest.approx(torch_grad, rel=1e-12, abs=1e-12), name

    # the what-if sliders redraw the page's own path, and past 2/λ_max it diverges
    path_before = page.get_attribute("#whatif-path", "d")
    slide(page, "#whatif-momentum", 60)
    path_momentum = page.get_attribute("#whatif-path", "d")
    assert path_momentum != path_before
    slide(page, "#whatif-momentum", 0)
    slide(page, "#whatif-lr", 1000)  # 2.2 × 2/λ_max
    assert "diverges" in page.inner_text("#whatif-readout")
    assert page.get_attribute("#whatif-path", "d") != path_before
    page.click("#whatif-reset")
    assert "diverges" not in page.inner_text("#whatif-readout")

    shot = page.screenshot()  # the fixed viewport
    assert_not_blank(shot)
    assert seen["errors"] == [] and seen["console"] == []
    assert seen["requests"] == [page_path.as_uri()], "the page asked the network for something"
    page.close()


def test_compared_runs_and_a_raw_x_run_draw_without_errors(browser, invoke, tmp_path):
    (tmp_path / "a.jsonl").write_text(invoke("train", SAMPLE, "-f", "jsonl").stdout)
    (tmp_path / "b.jsonl").write_text(invoke("train", SAMPLE, "-f", "jsonl", "--optimizer", "adam", "--lr", "0.3").stdout)
    assert invoke("report", tmp_path / "a.jsonl", tmp_path / "b.jsonl", "-o", tmp_path / "both.html").exit_code == 0
    raw = invoke("train", SAMPLE, "--no-standardize", "--lr", "0.01", "--optimizer", "momentum", "--report", tmp_path / "raw.html")
    assert raw.exit_code == 0, raw.stderr
    for name in ("both.html", "raw.html"):
        page, seen = open_page(browser, tmp_path / name)
        slide(page, "#step", int(page.get_attribute("#step", "max")))
        assert "step" in page.inner_text("#step-readout")
        assert page.locator("#surface-plot path.path-run").count() == (2 if name == "both.html" else 1)
        if name == "both.html":  # the steps axis reaches the longer run's end (Adam's 450 steps), not the first run's 11
            ends = page.eval_on_selector_all(
                "#loss-plot path.loss-curve[data-run]",
                "ps => ps.map(p => [p.dataset.run, Math.max(...p.getAttribute('d').split(/[ML]/).filter(Boolean).map(q => Number(q.split(',')[0])))])",
            )
            ends = dict(ends)
            assert ends["1"] > 400 and ends["0"] < ends["1"], ends
        assert seen["errors"] == [] and seen["console"] == [] and len(seen["requests"]) == 1
        page.close()


def test_the_what_if_at_the_recorded_settings_retraces_autograds_path(browser, invoke, tmp_path):
    """The page's own descent (from the moments) and torch's optimizer reach the same point."""
    for options in (
        ["--lr", "0.5"],
        ["--optimizer", "momentum", "--lr", "0.2", "--momentum", "0.7"],
        ["--no-standardize", "--lr", "0.015", "--steps", "40"],
        ["--loss", "mse", "--optimizer", "momentum", "--lr", "0.2", "--momentum", "0.5", "--steps", "25"],  # c = 2
        ["--optimizer", "adam", "--lr", "0.05", "--steps", "40"],  # stopped mid-way: the path, not the optimum
        ["--optimizer", "adam", "--lr", "0.2", "--betas", "0.8", "0.99", "--no-standardize", "--loss", "half_sse", "--steps", "60"],
    ):
        path = tmp_path / "run.html"
        result = invoke("train", SAMPLE, "--report", path, "-f", "json", *options)
        assert result.exit_code == 0, result.stderr
        last = parse_json(result.stdout)["history"][-1]
        page, seen = open_page(browser, path)
        a, b = json.loads(page.get_attribute("#whatif-readout", "data-at-last-step"))
        if "mse" in options:  # the bound uses the loss's own curvature: λ_max = 2 for mean((a·x + b − y)²) standardised
            bound = page.inner_text("#whatif-readout")
            assert (
                "(in the coordinates autograd trains) = 2; plain gradient descent is stable for γ < 2/λ_max = 1, with momentum μ for γ < 2(1 + μ)/λ_max = 1.5."
                in bound
            )
        assert a == pytest.approx(last["a"], rel=1e-9) and b == pytest.approx(last["b"], rel=1e-9), options
        assert seen["errors"] == [] and seen["console"] == []
        page.close()


def test_adams_worked_step_lands_on_the_next_recorded_step(browser, invoke, tmp_path):
    """Adam's moments are torch's private state: the page replays them, and its update must reach autograd's next step."""
    path = tmp_path / "adam.html"
    result = invoke(
        "train", SAMPLE, "--optimizer", "adam", "--lr", "0.3", "--steps", "30", "--log-every", "1", "--report", path, "-f", "json"
    )
    history = parse_json(result.stdout)["history"]
    page, seen = open_page(browser, path)
    for index in (0, 1, 12, 28):
        slide(page, "#step", index)
        readout, following = page.inner_text("#step-readout"), history[index + 1]
        assert (
            f"back in the data's units: a = α/σ = {table_digits(following['a'])}   b = ȳ + β − α·x̄/σ = {table_digits(following['b'])}"
            in readout
        ), readout
    assert page.eval_on_selector("#whatif-optimizer", "e => e.value") == "adam"
    page.focus("#whatif-optimizer")
    page.keyboard.press("ArrowRight")  # a key meant for the menu does not move the step
    assert page.input_value("#step") == "28"
    page.select_option("#whatif-optimizer", "momentum")
    assert "2/λ_max = 2" in page.inner_text("#whatif-readout")
    page.click("#whatif-reset")
    assert page.eval_on_selector("#whatif-optimizer", "e => e.value") == "adam" and "no 2/λ_max bound" in page.inner_text("#whatif-readout")
    assert seen["errors"] == [] and seen["console"] == []
    page.close()


def test_odd_data_still_reads_well(browser, invoke, tmp_path):
    """x near 1e9, markup in a header, two rows, x constant and raw, one step, a diverging run, a saved mini-batch run:
    every panel keeps readable, distinct labels."""
    import numpy as np

    rng = np.random.default_rng(5)
    x = 1e9 + 3 * rng.normal(size=40)
    name = "x</script><img src=q onerror=window.pwned=1>"
    data = tmp_path / 'far "<b>.csv'
    data.write_text(f"{name},y\n" + "".join(f"{float(a)!r},{float(2 * (a - 1e9) + 5 + e)!r}\n" for a, e in zip(x, rng.normal(size=40))))
    pages = {
        "far.html": ["train", data, "--x-col", name, "-f", "json"],
        "two.html": ["train", tmp_path / "two.csv", "-f", "json"],
        "diverged.html": ["train", SAMPLE, "--lr", "2.5", "--log-every", "1"],
        "overflowed.html": ["train", SAMPLE, "--lr", "1e300", "--log-every", "1"],  # its last step is inf and NaN
        "constant.html": [
            "train",
            tmp_path / "constant.csv",
            "--no-standardize",
            "--lr",
            "0.1",
            "-q",
        ],  # no unique line, under a decade of loss
        "one-step.html": ["train", SAMPLE, "--steps", "1", "-q"],
    }  # one record: one point on every axis
    (tmp_path / "two.csv").write_text("x,y\n1,2\n2,3.5\n")
    (tmp_path / "constant.csv").write_text("x,y\n2,1\n2,3\n2,4\n")
    (tmp_path / "batches.jsonl").write_text(invoke("train", SAMPLE, "--batch-size", "8", "--steps", "30", "-f", "jsonl").stdout)
    assert (
        invoke("report", tmp_path / "batches.jsonl", "-o", tmp_path / "batches.html").exit_code == 0
    )  # a saved stream: no batch size in it
    for page_name, args in [*pages.items(), ("batches.html", None)]:
        if args is not None:
            result = invoke(*args, "--report", tmp_path / page_name)
            assert result.exit_code == (4 if page_name in ("diverged.html", "overflowed.html") else 0), result.stderr
        if page_name == "far.html":
            history = parse_json(result.stdout)["history"]
        page, seen = open_page(browser, tmp_path / page_name)
        for svg in ("#data-plot", "#surface-plot", "#standard-plot", "#loss-plot"):
            if not page.is_visible(svg):
                assert page_name == "constant.html" and svg == "#standard-plot"  # no optimum, no standardised picture
                continue
            for axis in (".tick-x", ".tick-y"):  # the ticks under the x axis, left of the y axis
                labels = page.eval_on_selector_all(f"{svg} g.axis text{axis}", "ts => ts.map(t => t.textContent)")
                assert len(labels) >= 3 and len(set(labels)) == len(labels), (page_name, svg, labels)
        text = page.inner_text("body")
        assert "NaN" not in text and "undefined" not in text and "Infinity" not in text, page_name
        page.focus("#step")
        page.keyboard.press("End")  # the last step too: a diverged run's may hold inf and NaN
        text = page.inner_text("body")
        assert "NaN" not in text and "undefined" not in text and "Infinity" not in text, page_name
        assert page.evaluate("window.pwned") is None and len(seen["requests"]) == 1
        assert seen["errors"] == [] and seen["console"] == [], (page_name, seen)
        if page_name == "batches.html":  # a saved SVRG run: its records are snapshots over every row, said so
            assert "a recorded step is a snapshot" in page.inner_text("#step-readout")
        if page_name == "far.html":
            plot_text = page.text_content("#data-plot")
            assert "offset from 1000000000" in plot_text and name in plot_text
            assert len(set(page.eval_on_selector_all("#scatter circle", "cs => cs.map(c => c.getAttribute('cx'))"))) > 30
            for index in (0, 3, 6, len(history) - 1):  # the numbers of a step are the CLI's, to ten digits
                slide(page, "#step", index)
                readout, record = page.inner_text("#step-readout"), history[index]
                assert f"a = {table_digits(record['a'])}   b = {table_digits(record['b'])}" in readout
                assert f"dL/da   {table_digits(record['grad_a'])}" in readout and f"dL/db   {table_digits(record['grad_b'])}" in readout
                assert f" = {table_digits(record['loss'])}      from the moments" in readout
            slide(page, "#step", 0)
            assert "x is far from 0 for its spread" in page.inner_text("#step-readout")  # the lost digits are said, not hidden
        page.close()


def test_the_notebook_view_runs_its_script_inside_the_iframe(browser, tmp_path):
    import linfit

    result = linfit.fit([0.0, 1.0, 2.0, 3.0], [1.0, 2.9, 5.2, 7.0])
    cell = tmp_path / "cell.html"
    cell.write_text(f"<!DOCTYPE html><html><body>{result._repr_html_()}</body></html>", encoding="utf-8")
    page, seen = open_page(browser, cell)
    frame = page.frame_locator("iframe")
    assert "step 1 of" in frame.locator("#step-readout").inner_text()
    assert frame.locator("#graph g.node").count() == 8
    assert seen["errors"] == [] and seen["console"] == []
    page.close()


def assert_not_blank(png: bytes) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (VIEWPORT["width"], VIEWPORT["height"])
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the screenshot is nearly one colour"
    white = max(count for count, colour in colours if colour == (255, 255, 255)) if any(c == (255, 255, 255) for _, c in colours) else 0
    assert white < 0.95 * image.size[0] * image.size[1], "the screenshot is blank"
