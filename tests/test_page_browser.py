"""The HTML report in a real browser: headless Chromium driven by Playwright, the page opened from disk in
one tab (conftest's `tab`: a load per page, not a browser process per page).

Needs Debian's chromium (`apt-get install chromium`, or LINFIT_CHROMIUM=/path/to/chrome) and the
`playwright` package (the `test` extra). Without them this test fails and says so: it never skips.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from conftest import SAMPLE, VIEWPORT, parse_json


def open_page(tab, path: Path):
    """The page from its file URL in the one tab (conftest's `tab`), its console messages, script errors and
    requests recorded from this load on."""
    page, seen = tab
    page.mouse.move(0, 0)  # no hover left over from the page before
    for found in seen.values():
        found.clear()
    page.goto(path.as_uri())
    return page, seen


def slide(page, selector: str, value: int) -> None:
    """Move a range input as a person does: set the value, fire 'input'."""
    page.eval_on_selector(selector, "(e, v) => { e.value = String(v); e.dispatchEvent(new Event('input', {bubbles: true})); }", value)


def table_digits(value: float, digits: int = 10) -> str:
    """As the terminal table shows a or b (report.num)."""
    return "0" if value == 0 else f"{value:.{digits}g}"


def test_the_report_works_in_a_real_browser(tab, invoke, tmp_path):
    page_path = tmp_path / "run.html"
    result = invoke("train", SAMPLE, "--report", page_path, "-f", "json")
    assert result.exit_code == 0, result.stderr
    fit = parse_json(result.stdout)
    page, seen = open_page(tab, page_path)
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


def test_compared_runs_and_a_raw_x_run_draw_without_errors(tab, invoke, tmp_path):
    (tmp_path / "a.jsonl").write_text(invoke("train", SAMPLE, "-f", "jsonl").stdout)
    (tmp_path / "b.jsonl").write_text(invoke("train", SAMPLE, "-f", "jsonl", "--optimizer", "adam", "--lr", "0.3").stdout)
    assert invoke("report", tmp_path / "a.jsonl", tmp_path / "b.jsonl", "-o", tmp_path / "both.html").exit_code == 0
    raw = invoke("train", SAMPLE, "--no-standardize", "--lr", "0.01", "--optimizer", "momentum", "--report", tmp_path / "raw.html")
    assert raw.exit_code == 0, raw.stderr
    for name in ("both.html", "raw.html"):
        page, seen = open_page(tab, tmp_path / name)
        slide(page, "#step", int(page.get_attribute("#step", "max")))
        assert "step" in page.inner_text("#step-readout")
        assert page.locator("#surface-plot path.path-run").count() == (2 if name == "both.html" else 1)
        if name == "both.html":  # the steps axis reaches the longer run's end (Adam's), not the first run's
            ends = page.eval_on_selector_all(
                "#loss-plot path.loss-curve[data-run]",
                "ps => ps.map(p => [p.dataset.run, Math.max(...p.getAttribute('d').split(/[ML]/).filter(Boolean).map(q => Number(q.split(',')[0])))])",
            )
            ends = dict(ends)
            assert ends["1"] > 400 and ends["0"] < ends["1"], ends  # each run has its excess-loss curve
            styles = page.eval_on_selector_all(
                "#surface-plot path.path-run",
                "ps => ps.map(p => [p.dataset.run, p.getAttribute('stroke'), p.getAttribute('stroke-dasharray'), p.getAttribute('d').length])",
            )
            assert len({colour for _, colour, _, _ in styles}) == 2 and len({dash for _, _, dash, _ in styles}) == 2
            assert all(length > 20 for *_, length in styles)  # every run's path drawn, none hidden under another
            table = page.eval_on_selector_all("#compare-table tr", "rs => rs.map(r => [...r.children].map(c => c.textContent))")
            steps = [json.loads((tmp_path / f).read_text().splitlines()[-1])["steps"] for f in ("a.jsonl", "b.jsonl")]
            assert [row[1] for row in table[1:]] == [f"{s:,}" for s in steps] and all(row[4].endswith(" ms") for row in table[1:]), table
            page.select_option("#run", "1")  # the slider, line, numbers and graph follow run 2
            assert page.get_attribute("#step", "max") == str(
                page.evaluate("JSON.parse(document.getElementById('linfit-run').textContent).runs[1].history.length - 1")
            )
            slide(page, "#step", int(page.get_attribute("#step", "max")))
            assert f"step {steps[1]} of {steps[1]}" in page.inner_text("#step-readout") and "torch.optim.Adam" in page.inner_text(
                "#step-readout"
            )
            assert page.get_attribute("#loss-plot text.axis-label", "class") and "log scale" in page.text_content("#loss-plot")
        assert seen["errors"] == [] and seen["console"] == [] and len(seen["requests"]) == 1


def test_the_what_if_at_the_recorded_settings_retraces_autograds_path(tab, invoke, tmp_path):
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
        page, seen = open_page(tab, path)
        a, b = json.loads(page.get_attribute("#whatif-readout", "data-at-last-step"))
        if "mse" in options:  # the bound uses the loss's own curvature: λ_max = 2 for mean((a·x + b − y)²) standardised
            bound = page.inner_text("#whatif-readout")
            assert (
                "(in the coordinates autograd trains) = 2; plain gradient descent is stable for γ < 2/λ_max = 1, with momentum μ for γ < 2(1 + μ)/λ_max = 1.5."
                in bound
            )
        assert a == pytest.approx(last["a"], rel=1e-9) and b == pytest.approx(last["b"], rel=1e-9), options
        assert seen["errors"] == [] and seen["console"] == []


def test_adams_worked_step_lands_on_the_next_recorded_step(tab, invoke, tmp_path):
    """Adam's moments are torch's private state: the page replays them, and its update must reach autograd's next step."""
    path = tmp_path / "adam.html"
    result = invoke(
        "train", SAMPLE, "--optimizer", "adam", "--lr", "0.3", "--steps", "30", "--log-every", "1", "--report", path, "-f", "json"
    )
    history = parse_json(result.stdout)["history"]
    page, seen = open_page(tab, path)
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


def test_odd_data_still_reads_well(tab, invoke, tmp_path):
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
        "one-step.html": ["train", SAMPLE, "--steps", "1", "-q"],  # one record: one point on every axis
        "two-absolute.html": ["train", tmp_path / "two.csv", "--loss", "absolute", "-q"],  # a line through both rows: loss 0
        "flat-quantile.html": ["train", tmp_path / "flat.csv", "--loss", "quantile", "--quantile", "0.9", "-q"],  # y constant
    }
    (tmp_path / "flat.csv").write_text("x,y\n" + "".join(f"{i},3\n" for i in range(10)))
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
        page, seen = open_page(tab, tmp_path / page_name)
        for svg in ("#data-plot", "#surface-plot", "#standard-plot", "#loss-plot"):
            if not page.is_visible(svg):
                # no optimum (or a piecewise loss, drawn over (a, b) only): no standardised picture
                assert page_name in ("constant.html", "two-absolute.html", "flat-quantile.html") and svg == "#standard-plot"
                continue
            for axis in (".tick-x", ".tick-y"):  # the ticks under the x axis, left of the y axis
                labels = page.eval_on_selector_all(f"{svg} g.axis text{axis}", "ts => ts.map(t => t.textContent)")
                assert len(labels) >= 3 and len(set(labels)) == len(labels), (page_name, svg, labels)
                boxes = page.eval_on_selector_all(
                    f"{svg} g.axis text{axis}", "ts => ts.map(t => { const b = t.getBBox(); return [b.x, b.x + b.width]; })"
                )
                assert all(0 <= left and right <= 440 for left, right in boxes), (page_name, svg, labels, boxes)  # none cut at the edge
                assert all(boxes[i][1] < boxes[i + 1][0] for i in range(len(boxes) - 1)) or axis == ".tick-y", (page_name, labels)
        if page_name in ("two-absolute.html", "flat-quantile.html"):  # the true loss fills its panel, its minimum starred
            assert page.locator("#surface-plot g.heat rect").count() == 41 * 41 and page.locator("#surface-plot path.optimum").count() == 1
            heat = page.eval_on_selector("#surface-plot g.heat", "g => { const b = g.getBBox(); return [b.width, b.height]; }")
            assert heat[0] > 300 and heat[1] > 200, (page_name, heat)
        if page_name == "two-absolute.html":  # every loss 0: the log axis says why it is empty
            assert "every loss shown is 0" in page.text_content("#loss-plot")
        assert_no_missing_numbers(page.inner_text("body"), page_name)
        page.focus("#step")
        page.keyboard.press("End")  # the last step too: a diverged run's may hold inf and NaN
        assert_no_missing_numbers(page.inner_text("body"), page_name)
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


def test_the_notebook_view_runs_its_script_inside_the_iframe(tab, tmp_path):
    import linfit

    result = linfit.fit([0.0, 1.0, 2.0, 3.0], [1.0, 2.9, 5.2, 7.0])
    cell = tmp_path / "cell.html"
    cell.write_text(f"<!DOCTYPE html><html><body>{result._repr_html_()}</body></html>", encoding="utf-8")
    page, seen = open_page(tab, cell)
    frame = page.frame_locator("iframe")
    assert "step 1 of" in frame.locator("#step-readout").inner_text()
    assert frame.locator("#graph g.node").count() == 8
    # the frame is as tall as the page inside it (the page posts its height; the cell's script sets it)
    inner = page.frames[1].evaluate("document.documentElement.scrollHeight")
    page.wait_for_function(f"Math.abs(document.querySelector('iframe').getBoundingClientRect().height - {inner}) <= 6")
    assert inner > 1400
    assert seen["errors"] == [] and seen["console"] == []


def assert_not_blank(png: bytes) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (VIEWPORT["width"], VIEWPORT["height"])
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the screenshot is nearly one colour"
    white = max(count for count, colour in colours if colour == (255, 255, 255)) if any(c == (255, 255, 255) for _, c in colours) else 0
    assert white < 0.95 * image.size[0] * image.size[1], "the screenshot is blank"


# ---------- issue 21: the pure parts against Python and torch, in one page.evaluate ----------

FORMAT_CASES = [
    0.125,
    2.5,
    0.5,
    1.5,
    -2.5,
    1e16,
    1e-5,
    0.0001,
    123456789.0,
    -0.0,
    0.0,
    3.14159265358979,
    1e300,
    5e-324,
    2.675,
    99999.5,
    1 / 3,
]


def test_the_pages_pure_parts_agree_with_python_format_and_torch_optim(tab, invoke, tmp_path):
    import numpy as np
    import torch

    page_path = tmp_path / "run.html"
    assert invoke("train", SAMPLE, "--report", page_path, "-q").exit_code == 0
    page, seen = open_page(tab, page_path)
    x, y = np.loadtxt(SAMPLE, delimiter=",", skiprows=1, unpack=True)
    xt, yc = (x - x.mean()) / x.std(), y - y.mean()
    settings = [
        {"kind": "momentum", "lr": 0.3, "momentum": 0.0},
        {"kind": "momentum", "lr": 0.2, "momentum": 0.8},
        {"kind": "adam", "lr": 0.05, "betas": [0.9, 0.999], "eps": 1e-8},
        {"kind": "adam", "lr": 0.4, "betas": [0.3, 0.99], "eps": 1e-6},
    ]
    got = page.evaluate(
        """([cases, settings]) => {
          const L = window.LINFIT, run = JSON.parse(document.getElementById('linfit-run').textContent).runs[0], m = L.model(run);
          return {
            fmt: cases.map(([v, d]) => L.fmt(v, d)), special: [L.fmt(NaN), L.fmt(Infinity), L.fmt(-Infinity), L.fmt(null), L.fmt(undefined)],
            count: [0, 999, 1000, 20000, 1234567].map(L.count),
            paths: settings.map(h => L.descend(m, 1, 0.5, h, 25, 25, null).train),
            optimum: m.optimum, loss: m.loss(2, 1), lambdaMax: m.lambdaMax,
          };
        }""",
        [[[v, d] for v in FORMAT_CASES for d in (1, 2, 3, 8, 12)], settings],
    )
    assert got["fmt"] == [format(v, f".{d}g") for v in FORMAT_CASES for d in (1, 2, 3, 8, 12)]
    assert got["special"] == ["nan", "inf", "-inf", "not recorded", "not recorded"]
    assert got["count"] == [f"{n:,}" for n in (0, 999, 1000, 20000, 1234567)]
    slope, intercept = np.polyfit(x, y, 1)
    assert got["optimum"] == pytest.approx([slope, intercept], rel=1e-12)
    assert got["loss"] == pytest.approx(0.5 * np.mean((2 * x + 1 - y) ** 2), rel=1e-12)
    assert got["lambdaMax"] == 1.0  # ½·mean over standardised x: the Hessian is I
    for how, path in zip(settings, got["paths"]):  # torch's optimizers on the rows themselves
        w = torch.tensor([1.0 * x.std(), 0.5 + 1.0 * x.mean() - y.mean()], dtype=torch.float64, requires_grad=True)
        if how["kind"] == "adam":
            optimizer = torch.optim.Adam([w], lr=how["lr"], betas=tuple(how["betas"]), eps=how["eps"])
        else:
            optimizer = torch.optim.SGD([w], lr=how["lr"], momentum=how["momentum"])
        xs, ys = torch.tensor(xt), torch.tensor(yc)
        for position in path:
            assert w.detach().tolist() == pytest.approx(position, rel=1e-9, abs=1e-12), how
            optimizer.zero_grad()
            (0.5 * ((w[0] * xs + w[1] - ys) ** 2).mean()).backward()
            optimizer.step()
    assert seen["errors"] == [] and seen["console"] == []


# ---------- issue 21: the what-if tells the truth ----------

BARE_DASH = r"(=|:)\s*–(\s|,|\)|$)"


def assert_no_missing_numbers(text: str, where: str) -> None:
    import re

    for word in ("NaN", "undefined", "null", "Infinity"):
        assert word not in text, (where, word)
    assert not re.search(BARE_DASH, text, re.M), (where, re.search(BARE_DASH, text, re.M))


def gd_steps(lr: float, start: list[float], optimum: list[float], target: float, cap: int) -> int:
    """Plain gradient descent on ½·mean over standardised x (Hessian I): the positions to reach `target`."""
    import numpy as np

    e = np.array(start) - np.array(optimum)
    for position in range(1, cap + 1):
        if 0.5 * float(e @ e) <= target:
            return position
        e = e - lr * e
    return cap


def test_the_what_if_says_true_things(tab, invoke, tmp_path):
    import numpy as np

    # a run that kept the default lr: the page shows the lr it used, never a dash
    default = tmp_path / "default.html"
    assert invoke("train", SAMPLE, "--report", default, "-q").exit_code == 0
    page, seen = open_page(tab, default)
    assert page.inner_text("#whatif-lr-value").startswith("γ = 0.9 (the optimizer's default")
    assert "update w ← w − γ·∇L, γ = 0.9 (the optimizer's default):" in page.inner_text("#step-readout")
    assert "0.9 (the optimizer's default)" in page.inner_text("#summary")
    readout = page.inner_text("#step-readout")
    assert "x̄ = 4.9467" in readout and "μ" not in readout  # μ is the momentum's, never x's mean
    assert_no_missing_numbers(page.inner_text("body"), "default.html")

    # a diverged run that kept the default lr: as recorded diverges; a stable γ converges and the view re-zooms
    diverged = tmp_path / "diverged.html"
    assert invoke("train", SAMPLE, "--no-standardize", "--report", diverged, "-q").exit_code == 4
    page, seen = open_page(tab, diverged)
    assert float(page.get_attribute("#whatif-readout", "data-lr")) == 0.9
    assert "diverges" in page.inner_text("#whatif-verdict")
    wide = page.eval_on_selector_all("#surface-plot text.tick-x", "ts => ts.map(t => t.textContent)")
    slide(page, "#whatif-lr", 500)  # about 0.04: under 2/λ_max = 0.0594
    assert page.get_attribute("#whatif-readout", "data-steps").isdigit()
    assert page.inner_text("#whatif-verdict").startswith("Converged at step")
    narrow = page.eval_on_selector_all("#surface-plot text.tick-x", "ts => ts.map(t => t.textContent)")
    assert max(abs(float(t.replace("−", "-"))) for t in narrow) < 0.01 * max(abs(float(t.replace("−", "-"))) for t in wide), (wide, narrow)
    page.focus("#step")
    page.keyboard.press("End")
    text = page.inner_text("body")
    assert_no_missing_numbers(text, "diverged.html")
    assert "not this run's: it diverged" in page.inner_text("#summary")  # least-squares statistics say whose they are

    # an Adam page: plain descent's step count is its own, not floored by Adam's 600-odd steps
    adam = tmp_path / "adam.html"
    result = invoke("train", SAMPLE, "--optimizer", "adam", "--lr", "0.3", "--report", adam, "-f", "json")
    fit = parse_json(result.stdout)
    page, seen = open_page(tab, adam)
    assert page.inner_text("#whatif-momentum-label") == "β₁ (Adam's momentum)"
    page.select_option("#whatif-optimizer", "momentum")
    assert page.inner_text("#whatif-momentum-label") == "momentum μ"
    slide(page, "#whatif-momentum", 0)
    slide(page, "#whatif-lr", 799)  # γ ≈ 1.1
    lr, target = float(page.get_attribute("#whatif-readout", "data-lr")), float(page.get_attribute("#whatif-readout", "data-target"))
    assert 1.0 < lr < 1.2
    x, y = np.loadtxt(SAMPLE, delimiter=",", skiprows=1, unpack=True)
    slope, intercept = np.polyfit(x, y, 1)
    start = [1.0 * x.std(), 0.5 + x.mean() - y.mean()]
    optimum = [slope * x.std(), intercept + slope * x.mean() - y.mean()]
    steps = int(page.get_attribute("#whatif-readout", "data-steps"))
    assert abs(steps - gd_steps(lr, start, optimum, target, 20000)) <= 1 and steps < fit["steps"] / 10, (steps, fit["steps"])
    # the loss panel holds one quantity, labelled: the loss above the least-squares loss, for run and what-if
    assert page.text_content("#loss-plot .axis-label:last-of-type") == "loss − least-squares loss (log)"
    first = page.eval_on_selector("#loss-plot path.loss-curve[data-run='0']", "p => p.getAttribute('d')")
    assert first.startswith("M")
    assert seen["errors"] == [] and seen["console"] == []


# ---------- issue 21: fast (structure, not time), any screen, colour, hands on the surface ----------


def contrast(rgb: str) -> float:
    import re

    def channel(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (float(v) for v in re.findall(r"[\d.]+", rgb)[:3])
    lum = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (lum + 0.05)


def test_paths_are_clipped_and_thinned_and_a_step_moves_marks_only(tab, invoke, tmp_path):
    page_path = tmp_path / "run.html"
    fit = parse_json(invoke("train", SAMPLE, "--report", page_path, "-f", "json").stdout)
    page, seen = open_page(tab, page_path)
    for lr in (0, 1000):  # 20,000 steps creeping; then diverging far off the plot
        slide(page, "#whatif-lr", lr)
        d = page.get_attribute("#whatif-path", "d")
        numbers = [float(v) for v in d.replace("M", " ").replace("L", " ").replace(",", " ").split()]
        assert numbers and all(-30 <= v <= 470 for v in numbers), (lr, max(numbers, key=abs))
        assert d.count("L") <= 2000 and page.get_attribute("#whatif-path", "stroke-dasharray") in (None, "5 3")
    kept = page.evaluate(
        """() => { const dot = document.querySelector('#scatter circle'), grid = document.querySelector('#data-plot g.grid');
                   const s = document.getElementById('step'); s.value = '3'; s.dispatchEvent(new Event('input'));
                   return [dot.isConnected, grid.isConnected, document.getElementById('step').getAttribute('aria-valuetext')]; }"""
    )
    assert kept[:2] == [True, True], "a step rebuilt the scatter"
    last = page.get_attribute("#step", "max")
    slide(page, "#step", int(last))
    assert (
        page.get_attribute("#step", "aria-valuetext") == f"step {fit['steps']} of {fit['steps']}" and kept[2] == f"step 4 of {fit['steps']}"
    )
    assert page.get_attribute("#whatif-verdict", "aria-live") == "polite"
    assert f"at step {fit['steps']} the run is at a = {format(fit['a'], '.6g')}" in page.get_attribute("#surface-plot", "aria-label")
    assert fit["history"][-2]["step"] == 10 < fit["steps"] - 1  # logged by decades: 1–10, then the last
    assert page.locator("#surface-plot path.path-gap").count() == 1  # the unlogged stretch is a gap, not a straight line
    page.click("#whatif-reset")
    texts = page.eval_on_selector_all("#surface-plot text.step-number", "ts => ts.map(t => t.textContent)")
    assert texts[:2] == ["1", "2"], texts
    colours = page.evaluate(
        """() => ['#surface-plot path.contour', '#ols-line', '#scatter circle', '#whatif-path', '#surface-plot path.path-run']
                 .map(s => { const e = document.querySelector(s), c = getComputedStyle(e); return [s, s === '#scatter circle' ? c.fill : c.stroke, c.opacity, c.fillOpacity]; })"""
    )
    for selector, colour, opacity, fill_opacity in colours:
        assert float(opacity) == 1 and float(fill_opacity) == 1 and contrast(colour) >= 3, (selector, colour)
    # legends sit outside the plots: nothing drawn over the data or the optimum
    assert page.locator("svg .legend").count() == 0 and page.locator("#surface-legend .key").count() >= 3
    assert seen["errors"] == [] and seen["console"] == []


def test_a_phone_gets_the_whole_page_readable(tab, invoke, tmp_path):
    page_path = tmp_path / "run.html"
    assert invoke("train", SAMPLE, "--report", page_path, "-q").exit_code == 0
    tab[0].set_viewport_size({"width": 390, "height": 844})  # loaded at a phone's width, as a phone loads it
    try:
        page, _ = open_page(tab, page_path)
        phone_checks(page)
    finally:
        tab[0].set_viewport_size(VIEWPORT)


def phone_checks(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), page.evaluate("document.documentElement.scrollWidth")
    smallest = page.evaluate(
        """() => Math.min(...[...document.querySelectorAll('main svg text')].filter(t => t.getClientRects().length).map(t => {
              const svg = t.ownerSVGElement, scale = svg.getScreenCTM().a; return parseFloat(getComputedStyle(t).fontSize) * scale; }))"""
    )
    assert smallest >= 10, smallest
    html_text = page.evaluate(
        "() => Math.min(...[...document.querySelectorAll('main p, main th, main td, .legend span, figcaption, label')].map(e => parseFloat(getComputedStyle(e).fontSize)))"
    )
    assert html_text >= 10
    sha = page.locator("#summary td", has_text="not recorded").count() + page.locator("#summary td").count()
    assert sha > 0 and page.evaluate("document.getElementById('summary').getBoundingClientRect().right <= innerWidth")


def test_hands_on_the_surface_drag_hover_and_the_map(tab, invoke, tmp_path):
    import numpy as np

    page_path = tmp_path / "raw.html"
    assert invoke("train", SAMPLE, "--no-standardize", "--lr", "0.02", "--steps", "400", "--report", page_path, "-q").exit_code == 0
    page, seen = open_page(tab, page_path)
    # drag the start: the what-if path follows, from where it was dropped
    handle = page.locator("#surface-plot-start").bounding_box()
    before = page.get_attribute("#whatif-path", "d")
    page.mouse.move(handle["x"] + 6, handle["y"] + 6)
    page.mouse.down()
    page.mouse.move(handle["x"] + 60, handle["y"] - 40, steps=4)
    moving = page.get_attribute("#whatif-path", "d")
    box = page.locator("#surface-plot").bounding_box()
    x0, y0 = (float(v) for v in moving[1:].split("L")[0].split(","))  # (the view holds still under the hand)
    page.mouse.up()
    assert moving != before and "It starts where you put it" in page.inner_text("#whatif-explain")
    assert (
        abs(box["x"] + x0 * box["width"] / 440 - (handle["x"] + 60)) < 2
        and abs(box["y"] + y0 * box["height"] / 320 - (handle["y"] - 40)) < 2
    )
    page.click("#whatif-reset")
    assert "It starts where you put it" not in page.inner_text("#whatif-explain")
    page.focus("#standard-plot-start") if page.is_visible("#standard-plot") else page.focus("#surface-plot-start")
    page.keyboard.press("ArrowRight")  # the keys move the start too, and leave the step alone
    assert "It starts where you put it" in page.inner_text("#whatif-explain") and page.input_value("#step") == "0"
    page.click("#whatif-reset")

    # hover a step on the loss curve: the same step lights up on the surfaces and in the data
    page.locator("#loss-plot").scroll_into_view_if_needed()
    loss = page.locator("#loss-hover").bounding_box()
    page.mouse.move(loss["x"] + loss["width"] * 0.5, loss["y"] + loss["height"] / 2)
    step = page.get_attribute("#surface-plot circle.hover", "data-step")
    assert step is not None and page.get_attribute("#surface-plot circle.hover", "visibility") == "visible"
    assert page.get_attribute("#hover-line", "data-step") == step and page.get_attribute("#hover-line", "visibility") == "visible"
    assert f"step {step} (hovered)" in page.inner_text("#hover-note")

    # the map: diverging cells lie past 2(1 + μ)/λ_max, converging ones before it; a click sets the what-if
    page.locator("#map-plot").scroll_into_view_if_needed()  # worked out once seen
    page.wait_for_selector("#map-plot[data-complete]")
    cells = page.eval_on_selector_all(
        "#map-plot rect.cell", "cs => cs.map(c => [Number(c.dataset.lr), Number(c.dataset.momentum), c.dataset.steps])"
    )
    x, _ = np.loadtxt(SAMPLE, delimiter=",", skiprows=1, unpack=True)
    lam = float(np.linalg.eigvalsh(np.array([[np.mean(x * x), x.mean()], [x.mean(), 1.0]]))[-1])
    assert len(cells) == 720 and page.locator("#map-boundary").count() == 1
    for lr, mu, steps in cells:
        if lr > 1.05 * 2 * (1 + mu) / lam:
            assert steps == "diverges", (lr, mu, steps)
        elif lr < 0.95 * 2 * (1 + mu) / lam:
            assert steps != "diverges", (lr, mu, steps)
    fast = min((c for c in cells if c[2].isdigit()), key=lambda c: int(c[2]))
    page.click(f"#map-plot rect.cell[data-lr='{fast[0]!r}'][data-momentum='{fast[1]!r}']")
    assert float(page.get_attribute("#whatif-readout", "data-lr")) == fast[0]
    assert page.get_attribute("#whatif-readout", "data-steps") == fast[2]  # the map and the what-if agree

    # the error along the Hessian's eigenvectors shrinks by |1 − γλ| per step (plain descent)
    lr = float(page.get_attribute("#whatif-readout", "data-lr"))
    slide(page, "#whatif-momentum", 0)
    lr = float(page.get_attribute("#whatif-readout", "data-lr"))
    values = np.linalg.eigvalsh(np.array([[np.mean(x * x), x.mean()], [x.mean(), 1.0]]))[::-1]
    legend = page.inner_text("#eigen-legend")
    for value in values:
        assert f"×{format(abs(1 - lr * value), '.4g')} per step" in legend, legend
    assert "standardising x makes them equal" in page.inner_text("#eigen-note")
    assert seen["errors"] == [] and seen["console"] == []


def test_payload_extras_draw_when_present(tab, tmp_path):
    """Other losses (the what-if then runs on the rows the page holds) and residual diagnostics, when a payload carries them."""
    import numpy as np

    from linfit.page import render, run_payload
    from linfit.reference import moments
    from linfit.sample import scatter_sample

    rng = np.random.default_rng(3)
    x = rng.uniform(0, 10, 60)
    y = 2 * x + 1 + rng.standard_t(2, 60)
    history = [{"step": k, "loss": 1.0 / k, "grad_a": 0.1, "grad_b": 0.1, "a": 2 - 1 / k, "b": 1.0} for k in range(1, 11)]
    fit = {
        "a": 1.9,
        "b": 1.0,
        "loss": 0.1,
        "steps": 10,
        "converged": True,
        "stop_reason": "converged",
        "loss_name": "half_mse",
        "history": history,
        "config": {"optimizer": "sgd", "lr": 0.5, "standardize": True},
        "data": {"source": "t.csv", "rows": 60},
    }
    run = run_payload(fit, moments(x, y), scatter_sample(x, y))
    run["loss"] = {**run["loss"], "name": "huber", "delta": 1.0}
    a_grid, b_grid = np.linspace(0, 4, 9), np.linspace(-2, 4, 7)
    run["surface_grid"] = {
        "a": a_grid.tolist(),
        "b": b_grid.tolist(),
        "loss": [[float(np.mean(np.abs(y - a * x - b))) for a in a_grid] for b in b_grid],
    }
    fitted = (2 * x + 1).tolist()
    residuals = (y - 2 * x - 1).tolist()
    run["diagnostics"] = {
        "fitted": fitted,
        "residuals": residuals,
        "qq": {"theoretical": sorted(rng.normal(size=60).tolist()), "sample": sorted(residuals)},
        "durbin_watson": 1.93,
        "influential": [{"line": 7, "leverage": 0.2, "cooks_distance": 0.9}],
    }
    page_path = tmp_path / "extras.html"
    page_path.write_text(render([run]), encoding="utf-8")
    page, seen = open_page(tab, page_path)
    assert "huber loss is not quadratic" in page.inner_text("#whatif-explain") and "60 rows this page holds" in page.inner_text(
        "#whatif-explain"
    )
    assert page.locator("#resid-plot circle.dot").count() == 60 and page.locator("#qq-plot circle.dot").count() == 60
    assert "Durbin–Watson 1.93" in page.inner_text("#resid-note") and "line 7" in page.inner_text("#resid-note")
    assert page.locator("#surface-plot g.heat rect").count() == 63
    # no map for a piecewise loss: the note says why at once, unscrolled, and no empty plot stands over it
    assert "needs the quadratic loss" in page.inner_text("#map-note") and page.locator("#map-plot").is_hidden()
    assert_no_missing_numbers(page.inner_text("body"), "extras.html")
    assert seen["errors"] == [] and seen["console"] == []


def test_a_held_out_run_draws_its_held_out_loss_and_its_diagnostics(tab, invoke, tmp_path):
    """train --holdout --report: the held-out panel's curve passes through each logged step's held-out loss,
    and the residual panels hold the rows trained on, the influential ones named by their line in the file."""
    report = tmp_path / "held.html"
    fit = parse_json(invoke("train", SAMPLE, "--holdout", "0.2", "--steps", "8", "--report", report, "-f", "json", "-q").stdout)
    page, seen = open_page(tab, report)
    held = [entry["valid_loss"] for entry in fit["history"]]
    assert all(isinstance(value, float) for value in held)
    # its own panel and axis: a loss, never drawn on the loss panel's axis of excess over the optimum
    assert page.locator("#loss-plot path.held-out").count() == 0 and page.is_visible("#held-panel")
    assert page.locator("#held-plot path.held-out").count() == 1 and "held-out loss" in page.inner_text("#held-legend")
    points = page.eval_on_selector(
        "#held-plot path.held-out", "p => p.getAttribute('d').split(/[ML]/).filter(Boolean).map(q => q.split(',').map(Number))"
    )
    assert len(points) == len(held)
    heights = [y for _, y in points]  # SVG y grows downwards: a smaller loss is drawn lower on the page, higher y
    assert all((h1 - h0) * (l0 - l1) >= 0 for h0, h1, l0, l1 in zip(heights, heights[1:], held, held[1:]))
    kept = fit["data"]["rows"]
    assert page.locator("#resid-plot circle.dot").count() == kept and page.locator("#qq-plot circle.dot").count() == kept
    first = fit["stats"]["influential"][0]
    assert f"line {first['line']} (leverage" in page.inner_text("#resid-note")
    assert seen["errors"] == [] and seen["console"] == []


def test_a_huber_report_draws_its_true_surface_and_runs_the_what_if_on_it(tab, invoke, tmp_path):
    """train --loss huber --weight-col --report: the surface is the grid of the true loss Python computed over
    every row (41 × 41 cells), the what-if runs on the true loss of the rows the page holds, and nothing breaks."""
    import numpy as np

    from conftest import write_csv

    rng = np.random.default_rng(8)
    x = rng.uniform(0, 10, 80)
    y = 2 * x + 1 + rng.standard_t(2, 80)
    data = write_csv(tmp_path / "robust.csv", {"x": x, "y": y, "w": np.tile([1.0, 2.0], 40)})
    report = tmp_path / "huber.html"
    result = invoke("train", data, "--loss", "huber", "--weight-col", "w", "--report", report, "-f", "json", "-q")
    assert result.exit_code == 0, result.output
    page, seen = open_page(tab, report)
    assert page.locator("#surface-plot g.heat rect").count() == 41 * 41
    assert "huber loss is not quadratic" in page.inner_text("#whatif-explain") and "80 rows this page holds" in page.inner_text(
        "#whatif-explain"
    )
    # what is shown is the huber loss's, not least squares': the weighted formula, the exact huber line and its star,
    # the loss's own figures, and no worked w − γ·∇L step (the huber trainer takes Newton steps on its pieces)
    fit = parse_json(result.stdout)
    assert "Σ w·huber_δ(a·x + b − y) / Σ w" in page.inner_text("#subtitle") and "column 'w'" in page.inner_text("#subtitle")
    legend = page.inner_text("#data-legend")
    assert "least squares" not in legend and "exact huber" in legend, legend
    assert f"{fit['reference']['a']:.5g}" in legend
    assert page.locator("#surface-plot path.optimum").count() == 1
    summary = page.inner_text("#summary")
    assert "exact huber" in summary and "least-squares fit" not in summary and "fit figures (huber)" in summary
    assert "trainer's own step" in page.inner_text("#step-readout") and "− 1·(" not in page.inner_text("#step-readout")
    assert page.locator("#map-plot").is_hidden() and "map needs" in page.inner_text("#map-note")
    assert page.inner_text("#loss-plot + .legend").strip() and "above the best" not in page.inner_text("figure:has(#loss-plot) figcaption")
    assert_no_missing_numbers(page.inner_text("body"), "huber.html")
    assert seen["errors"] == [] and seen["console"] == []
    # the graph at one point: the page evaluates huber_δ, |r| and the pinball's max itself, and agrees with autograd's record
    for name, flags in (("huber", ()), ("absolute", ()), ("quantile", ("--quantile", "0.9"))):
        if name != "huber":
            assert invoke("train", data, "--loss", name, *flags, "--report", report, "-q").exit_code == 0
            page, seen = open_page(tab, report)
        note = page.inner_text("#graph-note")
        assert "cannot evaluate" not in note and "agree with it to" in note, note
        assert float(note.split("agree with it to ")[1].split(" ")[0]) < 1e-12, note
        grads = page.eval_on_selector_all("#graph g.node.leaf", "gs => gs.map(g => Number(g.getAttribute('data-grad')))")
        assert all(g == g for g in grads) and any(g != 0 for g in grads), (name, grads)  # numbers, not 0 from a node left out
        assert seen["errors"] == [] and seen["console"] == []
