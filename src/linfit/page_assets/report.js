/* linfit report: move through a gradient-descent run step by step. No library, no network.
   The pure parts live in format.js (numbers), surface.js (the loss's maths) and optim.js (the optimizers);
   this file draws and wires. Each panel has a layer drawn when the picture changes (a what-if setting, the
   start, the run) and a few marks moved on each step, so scrubbing the slider touches a handful of attributes. */
(function () {
  "use strict";

  var LF = window.LINFIT, fmt = LF.fmt, count = LF.count, equation = LF.equation;
  var PAYLOAD = JSON.parse(document.getElementById("linfit-run").textContent);
  var RUNS = PAYLOAD.runs;
  // a value that overflowed travels as "Infinity", "-Infinity" or "NaN" (JSON has no such numbers)
  function back(v) { return typeof v === "string" && /^(-?Infinity|NaN)$/.test(v) ? Number(v) : v; }
  RUNS.forEach(function (run) {
    run.history.forEach(function (r) { for (var i = 0; i < r.length; i++) { r[i] = back(r[i]); } });
    ["a", "b", "loss", "wall_time_s"].forEach(function (k) { run.result[k] = back(run.result[k]); });
  });
  // Okabe–Ito: told apart under every common colour-vision deficiency; each ≥ 3:1 against white
  var RUN_COLOURS = ["#D55E00", "#009E73", "#CC79A7", "#000000", "#8A6500"];
  var RUN_DASHES = ["", "8 4", "2 3", "10 3 2 3", "5 2 1 2"];
  var WHATIF = "#0072B2", OLS = "#000000";
  var SVGNS = "http://www.w3.org/2000/svg";
  var W = 440, H = 320, MARGIN = { l: 64, r: 12, t: 12, b: 40 }, PW = W - MARGIN.l - MARGIN.r, PH = H - MARGIN.t - MARGIN.b;
  var WHATIF_CAP = 20000, ADAM_CAP = 5000, MAP_CAP = 1000;  // Adam's steps cost more (square roots): fewer of them

  function $(id) { return document.getElementById(id); }
  function paren(s) { return s.charAt(0) === "-" ? "(" + s + ")" : s; }
  function pad(s, width) { while (s.length < width) { s += " "; } return s; }
  function colourOf(k) { return RUN_COLOURS[k % RUN_COLOURS.length]; }
  function dashOf(k) { return RUN_DASHES[k % RUN_DASHES.length]; }

  // ---------- SVG ----------
  function el(tag, attrs, parent, text) {
    var node = document.createElementNS(SVGNS, tag);
    for (var key in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, key) && attrs[key] !== null && attrs[key] !== undefined) { node.setAttribute(key, attrs[key]); } }
    if (text !== undefined) { node.textContent = text; }
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function ticks(lo, hi, wanted) {
    var span = hi - lo;
    if (!(span > 0)) { return [lo]; }
    var step = Math.pow(10, Math.floor(Math.log10(span / wanted))), err = span / wanted / step;
    step *= err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) { out.push(Math.abs(t) < step * 1e-9 ? 0 : t); }
    return out;
  }
  // tick labels that tell neighbours apart in a few characters: ticks at 1e9 + 2, 1e9 + 4 are written
  // as offsets (+2, +4) from a base named beside the axis's label
  function tickOffset(list) {
    var plain = { label: function (t) { return fmt(t, 4); }, note: "" };
    if (list.length < 2) { return plain; }
    var top = Math.max(Math.abs(list[0]), Math.abs(list[list.length - 1])), step = Math.abs(list[1] - list[0]);
    var digits = Math.ceil(Math.log10(top / step) + 1e-9) + 1;
    if (digits <= 4) { return plain; }
    if (digits <= 6) { return { label: function (t) { return fmt(t, digits); }, note: "" }; }
    var base = list[Math.floor(list.length / 2)];
    return { label: function (t) { var d = t - base; return d === 0 ? "0" : (d > 0 ? "+" : "−") + fmt(Math.abs(d), 4); }, note: " (ticks: offset from " + fmt(base, 15) + ")" };
  }
  function distinct(values) {
    var labels = values.map(function (v) { return fmt(v, 3); });
    for (var d = 3; d < 17; d++) {
      labels = values.map(function (v) { return fmt(v, d); });
      if (labels.every(function (l, i) { return labels.indexOf(l) === i; })) { return labels; }
    }
    return labels;
  }
  function padded(lo, hi, fraction) {
    var span = hi - lo;
    if (!(span > 0)) { span = lo !== 0 && isFinite(lo) ? 0.2 * Math.abs(lo) : 1; }
    return [lo - fraction * span, hi + fraction * span];
  }
  function extent(values) {
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < values.length; i++) { var v = values[i]; if (isFinite(v)) { if (v < lo) { lo = v; } if (v > hi) { hi = v; } } }
    return [lo, hi];
  }
  // Axes and a clip region. A log axis takes its range in log10 units. Returns the scales, their inverses
  // and the layers: `body` (clipped: the static picture), `marks` (clipped: what each step moves), `top`.
  function axes(svg, xr, yr, xlabel, ylabel, logX, logY, id) {
    clear(svg);
    var fx = logX ? Math.log10 : function (v) { return v; }, fy = logY ? Math.log10 : function (v) { return v; };
    var sx = function (v) { return MARGIN.l + (fx(v) - xr[0]) / (xr[1] - xr[0]) * PW; };
    var sy = function (v) { return MARGIN.t + PH - (fy(v) - yr[0]) / (yr[1] - yr[0]) * PH; };
    var ix = function (px) { var u = xr[0] + (px - MARGIN.l) / PW * (xr[1] - xr[0]); return logX ? Math.pow(10, u) : u; };
    var iy = function (py) { var u = yr[0] + (MARGIN.t + PH - py) / PH * (yr[1] - yr[0]); return logY ? Math.pow(10, u) : u; };
    var defs = el("defs", {}, svg), clip = el("clipPath", { id: id + "-clip" }, defs);
    el("rect", { x: MARGIN.l, y: MARGIN.t, width: PW, height: PH }, clip);
    var grid = el("g", { "class": "grid" }, svg), axis = el("g", { "class": "axis" }, svg);
    function tickSet(range, isLog, wanted) {
      if (!isLog) {
        var list = ticks(range[0], range[1], wanted), o = tickOffset(list), labels = list.map(o.label);
        if (!o.note && labels.some(function (l, i) { return labels.indexOf(l) !== i; })) { labels = distinct(list); }  // never two ticks read alike
        return { at: list, labels: labels, note: o.note, value: function (t) { return t; } };
      }
      var dec = ticks(Math.floor(range[0]), Math.ceil(range[1]), wanted).filter(function (t) { return t === Math.round(t) && t >= range[0] - 1e-9 && t <= range[1] + 1e-9; });
      if (dec.length >= 2) { return { at: dec, labels: dec.map(function (t) { return "1e" + t; }), note: "", value: function (t) { return Math.pow(10, t); } }; }
      var within = ticks(range[0], range[1], 4);
      return { at: within, labels: distinct(within.map(function (t) { return Math.pow(10, t); })), note: "", value: function (t) { return Math.pow(10, t); } };
    }
    var xt = tickSet(xr, logX, 6), yt = tickSet(yr, logY, 6);
    var wide = Math.max.apply(null, xt.labels.map(function (l) { return String(l).length; })) * 7.2;
    if (xt.at.length > 3 && wide > 0.8 * PW / xt.at.length) { xt = tickSet(xr, logX, 3); }  // long labels: fewer of them, none touching
    xt.at.forEach(function (t, i) {
      var x = sx(xt.value(t));
      el("line", { x1: x, x2: x, y1: MARGIN.t, y2: MARGIN.t + PH }, grid);
      var half = 3.6 * String(xt.labels[i]).length;  // about half the label's width: one at the picture's edge is kept whole
      el("text", { x: x, y: H - MARGIN.b + 15, "text-anchor": x + half > W ? "end" : "middle", "class": "tick-x" }, axis, xt.labels[i]);
    });
    // long labels (0.5008, 1.5e-12) in a smaller size: they would run into the axis's rotated label
    var longest = Math.max.apply(null, yt.labels.map(function (l) { return String(l).length; })), small = longest >= 6 ? { "font-size": longest >= 7 ? "9.5px" : "10.5px" } : {};
    yt.at.forEach(function (t, i) {
      var y = sy(yt.value(t));
      el("line", { x1: MARGIN.l, x2: MARGIN.l + PW, y1: y, y2: y }, grid);
      el("text", Object.assign({ x: MARGIN.l - 5, y: y + 4, "text-anchor": "end", "class": "tick-y" }, small), axis, yt.labels[i]);
    });
    el("rect", { x: MARGIN.l, y: MARGIN.t, width: PW, height: PH, fill: "none", stroke: "#6b7280" }, axis);
    el("text", { x: MARGIN.l + PW / 2, y: H - 5, "text-anchor": "middle", "class": "axis-label" }, axis, xlabel + xt.note);
    el("text", { x: 13, y: MARGIN.t + PH / 2, "text-anchor": "middle", "class": "axis-label", transform: "rotate(-90 13 " + (MARGIN.t + PH / 2) + ")" }, axis, ylabel + yt.note);
    var body = el("g", { "clip-path": "url(#" + id + "-clip)" }, svg), marks = el("g", { "clip-path": "url(#" + id + "-clip)" }, svg);
    return { x: sx, y: sy, ix: ix, iy: iy, xr: xr, yr: yr, body: body, marks: marks, top: el("g", {}, svg) };
  }

  // A path as SVG path data, clipped to the plot (with a margin) and thinned to what the eye can tell apart:
  // consecutive points under half a pixel apart are one point. A path leaving the plot is cut where it
  // leaves, so no point lies 100,000 px away and a 20,000-step path is a few hundred segments.
  var BOX = { x0: MARGIN.l - 20, x1: W - MARGIN.r + 20, y0: MARGIN.t - 20, y1: H - MARGIN.b + 20 };
  function clipSegment(p, q) {  // Liang–Barsky: the part of p→q inside BOX, or null
    var t0 = 0, t1 = 1, dx = q[0] - p[0], dy = q[1] - p[1];
    var checks = [[-dx, p[0] - BOX.x0], [dx, BOX.x1 - p[0]], [-dy, p[1] - BOX.y0], [dy, BOX.y1 - p[1]]];
    for (var i = 0; i < 4; i++) {
      var pp = checks[i][0], qq = checks[i][1];
      if (pp === 0) { if (qq < 0) { return null; } continue; }
      var r = qq / pp;
      if (pp < 0) { if (r > t1) { return null; } if (r > t0) { t0 = r; } } else { if (r < t0) { return null; } if (r < t1) { t1 = r; } }
    }
    return [[p[0] + t0 * dx, p[1] + t0 * dy], [p[0] + t1 * dx, p[1] + t1 * dy], t0 > 0, t1 < 1];
  }
  // `joined(i)`: whether point i − 1 and point i are joined (false leaves a gap)
  function pathData(sc, pts, joined) {
    var d = [], last = null, open = false, kept = 0;
    for (var i = 0; i < pts.length; i++) {
      var q = [sc.x(pts[i][0]), sc.y(pts[i][1])];
      if (!isFinite(q[0]) || !isFinite(q[1])) { last = null; open = false; continue; }
      if (last && (!joined || joined(i))) {
        if (Math.abs(q[0] - last[0]) < 0.5 && Math.abs(q[1] - last[1]) < 0.5 && i < pts.length - 1) { continue; }
        var seg = clipSegment(last, q);
        if (seg) {
          if (!open || seg[2]) { d.push("M" + seg[0][0].toFixed(1) + "," + seg[0][1].toFixed(1)); }
          d.push("L" + seg[1][0].toFixed(1) + "," + seg[1][1].toFixed(1));
          kept++;
          open = !seg[3];
        } else { open = false; }
      } else { open = false; }
      last = q;
    }
    return { d: d.join(""), segments: kept };
  }
  function inside(sc, p) { var x = sc.x(p[0]), y = sc.y(p[1]); return isFinite(x) && isFinite(y) && x >= BOX.x0 && x <= BOX.x1 && y >= BOX.y0 && y <= BOX.y1; }
  function at(node, p, sc) {
    var ok = p && inside(sc, p);
    node.setAttribute("visibility", ok ? "visible" : "hidden");
    if (ok) { node.setAttribute("cx", sc.x(p[0]).toFixed(1)); node.setAttribute("cy", sc.y(p[1]).toFixed(1)); }
  }
  // a legend below the plot, in HTML: it never covers data, and it wraps on a phone
  function legend(id, entries) {
    var box = $(id);
    clear(box);
    return entries.map(function (entry) {
      var item = document.createElement("span"), sw = document.createElementNS(SVGNS, "svg");
      item.className = "key";
      sw.setAttribute("viewBox", "0 0 22 10"); sw.setAttribute("width", "22"); sw.setAttribute("height", "10"); sw.setAttribute("aria-hidden", "true");
      if (entry.mark === "dot") { el("circle", { cx: 11, cy: 5, r: 3.2, fill: entry.colour }, sw); }
      else if (entry.mark === "cell") { el("rect", { x: 4, y: 0.5, width: 14, height: 9, fill: entry.colour, stroke: "#6b7280", "stroke-width": 1 }, sw); }
      else if (entry.mark === "star") { el("path", { d: star(11, 5, 5), fill: entry.colour }, sw); }
      else { el("line", { x1: 1, x2: 21, y1: 5, y2: 5, stroke: entry.colour, "stroke-width": 2.2, "stroke-dasharray": entry.dash || null }, sw); }
      var text = document.createElement("span");
      text.textContent = entry.text;
      item.appendChild(sw); item.appendChild(text); box.appendChild(item);
      return text;
    });
  }
  function star(cx, cy, r) {
    var d = "";
    for (var i = 0; i < 10; i++) {
      var rr = i % 2 ? r * 0.45 : r, t = Math.PI / 2 + i * Math.PI / 5;
      d += (i ? "L" : "M") + (cx + rr * Math.cos(t)).toFixed(1) + "," + (cy - rr * Math.sin(t)).toFixed(1);
    }
    return d + "Z";
  }

  // ---------- state ----------
  var models = RUNS.map(LF.model);
  var current = 0, RUN, MODEL, HISTORY, LAST_STEP, CFG, BETAS, EPS, STEP_INDEX;
  var stepInput = $("step"), lrInput = $("whatif-lr"), momentumInput = $("whatif-momentum"), optimizerInput = $("whatif-optimizer");
  var point = null, whatif = null, start = null, exactLr = null, exactMomentum = null, hoverStep = null, dragging = false;
  var panels = {};  // per svg id: its scales and the marks each step moves
  var views = {};

  function selectRun(k) {
    current = k; RUN = RUNS[k]; MODEL = models[k]; HISTORY = RUN.history; LAST_STEP = HISTORY[HISTORY.length - 1][0]; CFG = RUN.config || {};
    BETAS = CFG.betas && CFG.betas.length === 2 ? CFG.betas : [0.9, 0.999];
    EPS = typeof CFG.adam_eps === "number" && CFG.adam_eps > 0 ? CFG.adam_eps : 1e-8;
    STEP_INDEX = {};
    HISTORY.forEach(function (r, i) { STEP_INDEX[r[0]] = i; });
    point = { x: RUN.graph.x, y: RUN.graph.y };
    ADAM_REPLAY = null;
    stepInput.max = String(HISTORY.length - 1);
    stepInput.value = "0";
    $("standard-panel").style.display = MODEL.standard && MODEL.optimum ? "" : "none";
    $("eigen-panel").style.display = MODEL.optimum && MODEL.eigenvectors ? "" : "none";
  }
  function recordedLr() { return typeof CFG.lr === "number" && CFG.lr > 0 ? CFG.lr : null; }
  function recordedMomentum() { return CFG.optimizer === "momentum" ? (CFG.momentum || 0) : CFG.optimizer === "adam" ? BETAS[0] : 0; }
  function isAdam() { return optimizerInput.value === "adam"; }
  // the learning-rate slider's top: 2.2 × 2/λ_max for gradient descent; for Adam, whose step is about γ
  // whatever the curvature, ten times the distance from the start to the optimum (in training coordinates)
  function lrTop(adam) {
    if (!adam) { return MODEL.lambdaMax > 0 ? 4.4 / MODEL.lambdaMax : 1; }
    var first = HISTORY[0], w = MODEL.toTrain(first[4], first[5]), o = MODEL.optimumTrain || [0, 0];
    var top = 10 * Math.max(Math.abs(w[0] - o[0]), Math.abs(w[1] - o[1]), 1e-12);
    return CFG.optimizer === "adam" && recordedLr() ? Math.max(top, 2 * recordedLr()) : top;
  }
  function lrFromSlider() { return exactLr !== null ? exactLr : lrTop(isAdam()) * Math.pow(10, -3 + 3 * lrInput.value / 1000); }
  function sliderFromLr(lr) { return Math.max(0, Math.min(1000, Math.round(1000 * (1 + Math.log10(lr / lrTop(isAdam())) / 3)))); }
  function momentumFromSlider() { return exactMomentum !== null ? exactMomentum : momentumInput.value / 100; }
  function startPoint() { return start || [HISTORY[0][4], HISTORY[0][5]]; }
  function stepIndexAtOrBefore(run, step) {
    var h = run.history, lo = 0, hi = h.length - 1;
    if (step < h[0][0]) { return -1; }
    while (lo < hi) { var mid = (lo + hi + 1) >> 1; if (h[mid][0] <= step) { lo = mid; } else { hi = mid - 1; } }
    return lo;
  }
  // logging by decades (1–10, 20, 30 … 100, 200 …) or over a long run: the step axis is logarithmic
  function logSteps() {
    var last = Math.max.apply(null, RUNS.map(function (r) { return r.history[r.history.length - 1][0]; }));
    if (whatif) { last = Math.max(last, whatif.positions); }
    return last > 50 && RUNS.some(function (r) { return (r.config || {}).log_every === 0 || r.history.some(function (rec, i) { return i > 0 && rec[0] - r.history[i - 1][0] > 1; }); });
  }

  // ---------- what if ----------
  function whatIfTarget() {
    // as close to the least-squares loss as the recorded run ended, when it converged; else the run's
    // own tolerance would be unknown, so a relative 1e-12 of the start's excess (or a hair past rounding)
    if (MODEL.lstar === null) { return null; }
    var r = RUN.result, first = HISTORY[0], s0 = MODEL.excess(first[4], first[5]);
    var end = r.converged && isFinite(r.a) && isFinite(r.b) ? MODEL.excess(r.a, r.b) : 1e-12 * s0;
    return Math.max(end, 1e-30 * s0, 1e-300);
  }
  function howNow() {
    var lr = lrFromSlider(), momentum = momentumFromSlider();
    return isAdam() ? { kind: "adam", lr: lr, betas: [momentum, BETAS[1]], eps: EPS } : { kind: "momentum", lr: lr, momentum: momentum };
  }
  function computeWhatIf(keepView) {
    if (MODEL.robust && MODEL.rows === 0) {  // a saved stream of a piecewise loss, read without --data: no rows to descend over
      whatif = null;
      $("whatif-explain").textContent = RUN.without_rows || "This page holds no rows: the what-if needs them.";
      $("whatif-verdict").textContent = "";
      if (!keepView) { views = {}; }
      drawStatic();
      drawMapMarker();
      return;
    }
    var how = howNow(), s = startPoint(), adam = how.kind === "adam";
    // a loss that is not quadratic costs a pass over the rows per step: as many steps as 2e6 row-visits allow
    var cap = MODEL.robust ? Math.max(100, Math.min(WHATIF_CAP, Math.floor(2e6 / Math.max(1, MODEL.rows)))) : adam ? ADAM_CAP : WHATIF_CAP;
    whatif = LF.descend(MODEL, s[0], s[1], how, 1, cap, whatIfTarget());
    whatif.shown = shownIndices(whatif.path.length);
    $("whatif-lr-value").textContent = "γ = " + fmt(how.lr, 6) + (exactLr !== null && exactLr === recordedLr() && RUN.lr_source === "default" ? " (the optimizer's default, as the run used it)" : "");
    $("whatif-momentum-label").textContent = adam ? "β₁ (Adam's momentum)" : "momentum μ";
    $("whatif-momentum-value").textContent = (adam ? "β₁ = " : "μ = ") + fmt(adam ? how.betas[0] : how.momentum, 3) + (adam ? ", β₂ = " + fmt(BETAS[1], 6) : "");
    var replay = LF.descend(MODEL, HISTORY[0][4], HISTORY[0][5], how, LAST_STEP, LAST_STEP, null);  // where these settings stand at the recorded last step
    var box = $("whatif-readout");
    box.setAttribute("data-at-last-step", JSON.stringify(replay.path[replay.path.length - 1]));
    box.setAttribute("data-lr", String(how.lr));
    box.setAttribute("data-momentum", String(adam ? how.betas[0] : how.momentum));
    box.setAttribute("data-steps", whatif.diverged ? "diverges" : whatif.converged ? String(whatif.positions) : "not converged");
    box.setAttribute("data-target", String(whatIfTarget()));
    explain(how);
    if (!keepView) { views = {}; }
    drawStatic();
    drawMapMarker();
  }
  // the positions a long what-if path is drawn through: every one of the first 600, then 1,400 evenly
  // spaced, and the last; a plot 364 px wide shows no more, and a repaint stays well under 100 ms
  function shownIndices(n) {
    var out = [];
    if (n <= 2000) { for (var i = 0; i < n; i++) { out.push(i); } return out; }
    for (var k = 0; k < 600; k++) { out.push(k); }
    for (var j = 1; j <= 1400; j++) { out.push(Math.round(599 + j * (n - 600) / 1400)); }
    return out;
  }
  function explain(how) {
    var adam = how.kind === "adam", lines = [], lmax = MODEL.lambdaMax;
    if (MODEL.robust) {
      lines.push("The " + RUN.loss.name + " loss is not quadratic: the what-if runs the optimizer on that loss itself over the " + count(MODEL.rows) +
        " rows this page holds" + (RUN.samples && RUN.samples.of > MODEL.rows ? " (of " + count(RUN.samples.of) + "), not over the whole data." : ": every row of the data.") +
        ((CFG.optimizer || "sgd") === "sgd" ? " The recorded run took the " + RUN.loss.name + " trainer's own steps (Newton steps on its pieces, see the numbers of a step); the what-if takes plain (sub)gradient steps, as linfit train --optimizer momentum does." : ""));
    } else {
      lines.push("λ_max of the loss's Hessian (in the coordinates autograd trains) = " + fmt(lmax, 6) + "; ");
      if (adam) {
        lines[0] += "Adam divides each coordinate's step by the root mean square of its recent gradients, so a step moves about γ whatever the curvature: " +
          "there is no 2/λ_max bound, and a large γ leaves it wandering about the optimum at a distance of the order of γ rather than diverging.";
      } else {
        lines[0] += "plain gradient descent is stable for γ < 2/λ_max = " + fmt(2 / lmax, 6) +
          (how.momentum > 0 ? ", with momentum μ for γ < 2(1 + μ)/λ_max = " + fmt(LF.bound(how.momentum, lmax), 6) : "") + ".";
      }
    }
    if (RUN.minibatch) { lines.push("The recorded run took mini-batches" + (RUN.batch_size ? " of " + RUN.batch_size + " rows" : "") + "; the what-if uses every row at each step."); }
    if (start) { lines.push("It starts where you put it: a = " + fmt(start[0], 6) + ", b = " + fmt(start[1], 6) + " (as recorded puts it back)."); }
    $("whatif-explain").textContent = lines.join(" ");
    var verdict = $("whatif-verdict"), text;
    verdict.className = "";
    if (whatif.diverged || (!adam && !MODEL.robust && how.lr >= LF.bound(how.momentum, lmax))) {
      verdict.className = "unstable";
      text = "γ = " + fmt(how.lr, 6) + (adam ? "" : " is past the bound") + ": the what-if path diverges, each step overshooting the optimum by more than the last" +
        (whatif.diverged ? " (it leaves the picture for good at step " + count(whatif.diverged) + ")." : ".");
    } else {
      var end = whatif.path[whatif.path.length - 1], steps = whatif.positions;
      var gap = MODEL.lstar !== null ? " (loss above least squares " + fmt(MODEL.excess(end[0], end[1]), 4) + ")" : " (loss " + fmt(MODEL.loss(end[0], end[1]), 6) + ")";
      if (whatif.converged) {
        text = "Converged at step " + count(steps) + ": a = " + fmt(end[0], 8) + ", b = " + fmt(end[1], 8) + gap + ", as close as the recorded run ended" +
          (RUN.result.converged ? "" : " would have to be (1e-12 of the start's excess: the recorded run did not converge)") + ".";
      } else {
        text = "Not converged in " + count(steps) + " steps: a = " + fmt(end[0], 8) + ", b = " + fmt(end[1], 8) + gap + ".";
      }
    }
    verdict.textContent = text;
  }

  // ---------- the static layers ----------
  function drawStatic() {
    if (!panels["data-plot"] || panels["data-plot"].run !== current) { drawData(); }
    drawSurface("surface-plot", false);
    if (MODEL.standard && MODEL.optimum) { drawSurface("standard-plot", true); }
    drawLoss();
    drawHeld();
    drawEigen();
    update();
  }

  // the line the run is held against: a piecewise loss's exact minimiser (reference.py), else least squares
  function bestLine(run) {
    run = run || RUN;
    if (run.reference) { return { a: run.reference.a, b: run.reference.b, label: run.reference.label, objective: run.reference.objective }; }
    return run.ols ? { a: run.ols.a, b: run.ols.b, label: "least squares", objective: null } : null;
  }
  function dataRange() {
    var s = RUN.samples, xs, ys;
    if (s && s.x.length) { xs = extent(s.x); ys = extent(s.y); return [padded(xs[0], xs[1], 0.05), padded(ys[0], ys[1], 0.08)]; }
    var sd = Math.sqrt(MODEL.sxx) || 1;
    xs = [MODEL.xm - 2.5 * sd, MODEL.xm + 2.5 * sd];
    var lines = [[HISTORY[0][4], HISTORY[0][5]], [RUN.result.a, RUN.result.b]];
    if (bestLine()) { lines.push([bestLine().a, bestLine().b]); }
    var ends = [];
    lines.forEach(function (l) { if (isFinite(l[0]) && isFinite(l[1])) { ends.push(l[0] * xs[0] + l[1], l[0] * xs[1] + l[1]); } });
    ys = extent(ends);
    if (!isFinite(ys[0])) { ys = [MODEL.ym - 1, MODEL.ym + 1]; }
    return [padded(xs[0], xs[1], 0.05), padded(ys[0], ys[1], 0.08)];
  }
  function lineAcross(node, sc, a, b) {
    var x0 = sc.xr[0], x1 = sc.xr[1], p = [[x0, a * x0 + b], [x1, a * x1 + b]];
    var seg = isFinite(a) && isFinite(b) ? clipSegment([sc.x(p[0][0]), sc.y(p[0][1])], [sc.x(p[1][0]), sc.y(p[1][1])]) : null;
    node.setAttribute("visibility", seg ? "visible" : "hidden");
    if (seg) { node.setAttribute("x1", seg[0][0].toFixed(1)); node.setAttribute("y1", seg[0][1].toFixed(1)); node.setAttribute("x2", seg[1][0].toFixed(1)); node.setAttribute("y2", seg[1][1].toFixed(1)); }
  }
  function drawData() {
    var svg = $("data-plot"), s = RUN.samples, range = dataRange();
    var sc = axes(svg, range[0], range[1], "x" + (RUN.data.x && RUN.data.x !== "x" ? ": " + RUN.data.x : ""), "y" + (RUN.data.y && RUN.data.y !== "y" ? ": " + RUN.data.y : ""), false, false, "data");
    if (s && s.x.length) {
      var dots = el("g", { id: "scatter" }, sc.body);
      for (var i = 0; i < s.x.length; i++) { el("circle", { cx: sc.x(s.x[i]).toFixed(1), cy: sc.y(s.y[i]).toFixed(1), r: 2.2, "class": "dot", "data-i": i }, dots); }
    }
    var p = { sc: sc };
    var best = bestLine();
    if (best) { lineAcross(el("line", { "class": "line-ols", id: "ols-line" }, sc.body), sc, best.a, best.b); }
    p.hover = el("line", { "class": "line-hover", id: "hover-line", visibility: "hidden" }, sc.marks);
    p.fit = el("line", { "class": "line-fit", id: "fit-line", stroke: colourOf(current) }, sc.marks);
    p.chosen = el("circle", { r: 5, "class": "chosen", id: "chosen-point" }, sc.top);
    var entries = [{ colour: colourOf(current), text: "" }];
    if (best) { entries.push({ colour: OLS, dash: "6 4", text: best.label + ": " + equation(best.a, best.b) }); }
    if (s && s.x.length) { entries.push({ colour: "#6b7480", mark: "dot", text: "data" }); }
    p.texts = legend("data-legend", entries);
    p.run = current;
    panels["data-plot"] = p;
  }

  function viewFor(standard) {
    var grid = RUN.surface_grid;
    if (!standard && grid && grid.a && grid.a.length > 1 && grid.b && grid.b.length > 1) {
      // the true loss is known on its grid only (made to hold the path, the fit and the exact line): show the grid, no blank around it
      return [[grid.a[0], grid.a[grid.a.length - 1]], [grid.b[0], grid.b[grid.b.length - 1]]];
    }
    var map = standard ? function (p) { return MODEL.toTrain(p[0], p[1]); } : function (p) { return p; };
    var pts = [], s = startPoint();
    pts.push(map(s));
    if (MODEL.optimum) { pts.push(map(MODEL.optimum)); }
    var stable = whatif && !whatif.diverged;
    RUNS.forEach(function (run) {  // a diverged run's path widens the view only when the what-if diverges too
      if (run.result.stop_reason === "diverged" && stable) { return; }
      run.history.forEach(function (r) { pts.push(map([r[4], r[5]])); });
    });
    if (whatif) { whatif.shown.forEach(function (i) { pts.push(map(whatif.path[i])); }); }
    var e = [extent(pts.map(function (p) { return p[0]; })), extent(pts.map(function (p) { return p[1]; }))];
    var reach = MODEL.reach(s[0], s[1], standard);
    if (reach && reach[0] > 0 && reach[1] > 0 && isFinite(reach[0]) && isFinite(reach[1])) {
      var spans = e.map(function (r) { return r[1] - r[0]; });
      var still = e.map(function (r, i) { return !(spans[i] > 1e-9 * Math.max(Math.abs(r[0]), Math.abs(r[1]))); });
      e = e.map(function (r, i) {
        if (!still[i]) { return r; }
        var other = 1 - i, wanted = still[other] ? reach[i] : 0.5 * spans[other] * reach[i] / reach[other], mid = (r[0] + r[1]) / 2;
        return [mid - wanted / 2, mid + wanted / 2];
      });
    }
    var view = [padded(e[0][0], e[0][1], 0.15), padded(e[1][0], e[1][1], 0.15)];
    if (standard) {  // one unit as long on both axes: the bowl looks round
      var per = Math.max((view[0][1] - view[0][0]) / PW, (view[1][1] - view[1][0]) / PH), ca = (view[0][0] + view[0][1]) / 2, cb = (view[1][0] + view[1][1]) / 2;
      view = [[ca - per * PW / 2, ca + per * PW / 2], [cb - per * PH / 2, cb + per * PH / 2]];
    }
    return view;
  }
  function drawSurface(svgId, standard) {
    var svg = $(svgId), mdl = MODEL;
    var map = standard ? function (p) { return mdl.toTrain(p[0], p[1]); } : function (p) { return p; };
    var view = views[svgId] || (views[svgId] = viewFor(standard));
    var sc = axes(svg, view[0], view[1], standard ? "α = a·σ" : "a (slope)", standard ? "β = b + a·x̄ − ȳ" : "b (intercept)", false, false, svgId);
    var p = { sc: sc, map: map, nows: [] };
    var grid = RUN.surface_grid;
    if (!standard && grid && grid.a && grid.b && grid.loss) { heat(sc, grid); }
    else if (mdl.optimum) {
      var corners = [[view[0][0], view[1][0]], [view[0][0], view[1][1]], [view[0][1], view[1][0]], [view[0][1], view[1][1]]], top = 0;
      corners.forEach(function (c) { var d = standard ? mdl.toData(c[0], c[1]) : c; top = Math.max(top, mdl.excess(d[0], d[1])); });
      LF.levels(top).forEach(function (delta) { el("path", { d: pathData(sc, LF.ellipse(mdl, delta, standard)).d, "class": "contour" }, sc.body); });
    }
    RUNS.forEach(function (run, k) {  // every run's path, its own colour and dashes; unlogged stretches left as gaps
      var path = run.history.map(function (r) { return map([r[4], r[5]]); }), h = run.history, colour = colourOf(k);
      var whole = pathData(sc, path, function (i) { return h[i][0] === h[i - 1][0] + 1; });
      var gaps = pathData(sc, path, function (i) { return h[i][0] !== h[i - 1][0] + 1; });
      if (gaps.d) { el("path", { d: gaps.d, "class": "path-gap", stroke: colour }, sc.body); }
      el("path", { d: whole.d, "class": "path-run", stroke: colour, "stroke-dasharray": whole.segments < 400 ? dashOf(k) || null : null, id: k === current ? svgId + "-path" : null, "data-run": k }, sc.body);
      var shown = 0, lastLabel = null;
      path.forEach(function (q, i) {
        if (shown > 300 || !inside(sc, q)) { return; }
        var x = sc.x(q[0]), y = sc.y(q[1]);
        el("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 1.9, fill: colour }, sc.body);
        shown++;
        if (k === current && (!lastLabel || Math.abs(x - lastLabel[0]) + Math.abs(y - lastLabel[1]) > 26)) {  // step numbers, spaced to be read
          el("text", { x: (x + 4).toFixed(1), y: (y - 4).toFixed(1), "class": "step-number" }, sc.body, String(h[i][0]));
          lastLabel = [x, y];
        }
      });
      var s0 = path[0];
      if (inside(sc, s0) && k !== current) { el("rect", { x: sc.x(s0[0]) - 4, y: sc.y(s0[1]) - 4, width: 8, height: 8, fill: colour }, sc.body); }
      p.nows.push(el("circle", { r: 5.5, fill: colour, "class": "now", id: k === current ? svgId + "-now" : null }, sc.top));
    });
    if (whatif) {
      var wpath = whatif.shown.map(function (i) { return map(whatif.path[i]); }), wd = pathData(sc, wpath);
      el("path", { d: wd.d, "class": "path-whatif", "stroke-dasharray": wd.segments < 300 ? "5 3" : null, id: standard ? "whatif-path-standard" : "whatif-path", "data-segments": wd.segments }, sc.body);
      p.whatNow = el("circle", { r: 4, fill: WHATIF, "class": "now" }, sc.top);
    }
    var exact = mdl.optimum || (RUN.reference ? [RUN.reference.a, RUN.reference.b] : null);
    if (exact) {
      var o = map(exact);
      if (inside(sc, o)) { el("path", { d: star(sc.x(o[0]), sc.y(o[1]), 9), fill: OLS, stroke: "#fff", "stroke-width": 1, "class": "optimum" }, sc.top); }
    }
    p.hover = el("circle", { r: 8, "class": "hover", visibility: "hidden" }, sc.top);
    var st = map(startPoint());
    p.handle = el("rect", { x: sc.x(st[0]) - 6, y: sc.y(st[1]) - 6, width: 12, height: 12, "class": "start-handle", fill: colourOf(current), id: svgId + "-start", tabindex: 0, role: "button", "aria-label": "the start: drag it to start the what-if elsewhere" }, sc.top);
    el("title", {}, p.handle, "drag the start: the what-if path follows");
    p.handle.addEventListener("pointerdown", function (event) { beginDrag(event, svgId, standard); });
    p.handle.addEventListener("keydown", function (event) {  // the arrows move the start a fortieth of the view
      var moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] }, m = moves[event.key];
      if (!m) { return; }
      event.preventDefault();
      event.stopPropagation();
      var u = map(startPoint());
      u = [u[0] + m[0] * (view[0][1] - view[0][0]) / 40, u[1] + m[1] * (view[1][1] - view[1][0]) / 40];
      start = standard ? mdl.toData(u[0], u[1]) : u;
      MAP.key = null;
      computeWhatIf(true);
      $(svgId + "-start").focus();
    });
    var entries = RUNS.map(function (run, k) { return { colour: colourOf(k), dash: dashOf(k), text: RUNS.length > 1 ? run.label : "recorded (autograd)" }; });
    entries.push({ colour: WHATIF, dash: "5 3", text: "what-if (computed in the page)" });
    if (exact) { entries.push({ colour: OLS, mark: "star", text: mdl.optimum ? "least-squares optimum" : RUN.reference.label + " (the exact minimum)" }); }
    legend(standard ? "standard-legend" : "surface-legend", entries);
    panels[svgId] = p;
  }
  // a loss surface given as a grid (losses that are not quadratic): cells shaded by the loss's rank
  function heat(sc, grid) {
    var values = [];
    grid.loss.forEach(function (row) { row.forEach(function (v) { if (isFinite(v)) { values.push(v); } }); });
    values.sort(function (u, v) { return u - v; });
    var g = el("g", { "class": "heat" }, sc.body), na = grid.a.length, nb = grid.b.length;
    for (var i = 0; i < na; i++) {
      for (var j = 0; j < nb; j++) {
        var v = grid.loss[j] && grid.loss[j][i];
        if (!isFinite(v)) { continue; }
        var a0 = i ? (grid.a[i - 1] + grid.a[i]) / 2 : grid.a[0], a1 = i < na - 1 ? (grid.a[i] + grid.a[i + 1]) / 2 : grid.a[i];
        var b0 = j ? (grid.b[j - 1] + grid.b[j]) / 2 : grid.b[0], b1 = j < nb - 1 ? (grid.b[j] + grid.b[j + 1]) / 2 : grid.b[j];
        var rank = values.indexOf(v) / Math.max(1, values.length - 1), shade = Math.round(255 - 120 * Math.sqrt(rank));
        el("rect", { x: Math.min(sc.x(a0), sc.x(a1)), y: Math.min(sc.y(b0), sc.y(b1)), width: Math.abs(sc.x(a1) - sc.x(a0)) + 0.5, height: Math.abs(sc.y(b1) - sc.y(b0)) + 0.5, fill: "rgb(" + shade + "," + shade + "," + shade + ")" }, g);
      }
    }
  }

  // the loss panel: one quantity on its axis, the loss above the least-squares loss (from the moments, at
  // each step's (a, b)), for every run and the what-if; or the loss itself where there is no optimum
  function lossSeries() {
    var series = [], gap = MODEL.lstar !== null;
    RUNS.forEach(function (run, k) {
      var m = models[k];
      series.push({ pts: run.history.map(function (r) { return [r[0], gap ? m.excess(r[4], r[5]) : MODEL.robust && MODEL.rows ? MODEL.loss(r[4], r[5]) : r[1]]; }), colour: colourOf(k), dash: dashOf(k), label: RUNS.length > 1 ? run.label : "recorded run", run: k });
    });
    if (whatif) {
      if (!whatif.lossPts) { whatif.lossPts = whatif.shown.map(function (i) { var p = whatif.path[i]; return [i + 1, gap ? MODEL.excess(p[0], p[1]) : MODEL.loss(p[0], p[1])]; }); }
      series.push({ pts: whatif.lossPts, colour: WHATIF, dash: "5 3", label: "what-if" });
    }
    return series;
  }
  function drawLoss() {
    var svg = $("loss-plot"), series = lossSeries(), values = [], gap = MODEL.lstar !== null, logX = logSteps();
    svg.parentNode.querySelector("figcaption").textContent = gap ? "how far above the best loss, per step (hover a step)" : "the loss per step (hover a step)";
    series.forEach(function (s) { s.pts.forEach(function (p) { if (p[1] > 0 && isFinite(p[1])) { values.push(Math.log10(p[1])); } }); });
    var ev = extent(values);
    if (!isFinite(ev[0])) { ev = [-1, 1]; }
    var last = 2;
    series.forEach(function (s) { last = Math.max(last, s.pts[s.pts.length - 1][0]); });
    var xr = logX ? [0, Math.log10(last) + 0.05] : [0, last + 0.5];
    var ylabel = gap ? "loss − least-squares loss (log)" : MODEL.robust && MODEL.rows ? "loss over the rows shown (log)" : "loss (log)";
    var sc = axes(svg, xr, padded(ev[0], ev[1], 0.05), "step" + (logX ? " (log scale)" : ""), ylabel, logX, true, "loss");
    series.forEach(function (s) {
      var joinable = s.pts.filter(function (p) { return p[1] > 0 && isFinite(p[1]); });
      var d = pathData(sc, joinable);
      el("path", { d: d.d, fill: "none", stroke: s.colour, "stroke-width": 1.8, "stroke-dasharray": d.segments < 300 || s.held ? s.dash || null : null, "class": s.held ? "loss-curve held-out" : "loss-curve", "data-run": s.held ? "held-out" : s.run === undefined ? "whatif" : s.run }, sc.body);
    });
    if (!values.length) {  // every loss 0 (a line through every row) or none finite: a log axis draws nothing, and says why
      el("text", { x: MARGIN.l + PW / 2, y: MARGIN.t + PH / 2, "text-anchor": "middle", "class": "empty-note", id: "loss-empty" }, sc.body,
        series.some(function (s) { return s.pts.some(function (q) { return q[1] === 0; }); }) ? "every loss shown is 0: nothing on a log axis" : "no finite loss to draw");
    }
    var p = { sc: sc, logX: logX };
    p.marker = el("line", { y1: MARGIN.t, y2: H - MARGIN.b, stroke: colourOf(current), "stroke-width": 1, id: "loss-marker" }, sc.marks);
    p.dot = el("circle", { r: 5, fill: colourOf(current), "class": "now" }, sc.marks);
    p.hoverLine = el("line", { y1: MARGIN.t, y2: H - MARGIN.b, "class": "hover-step", visibility: "hidden" }, sc.marks);
    p.catcher = el("rect", { x: MARGIN.l, y: MARGIN.t, width: PW, height: PH, fill: "transparent", id: "loss-hover" }, sc.top);
    legend("loss-legend", series.map(function (s) { return { colour: s.colour, dash: s.dash, text: s.label }; }));
    panels["loss-plot"] = p;
  }
  // --holdout/--valid: the loss on the held-out rows at each logged step, on a panel of its own (a loss, not
  // the excess the loss panel shows: one quantity per axis)
  function heldSeries() {
    var series = [];
    RUNS.forEach(function (run, k) {
      if (!run.valid_loss) { return; }
      var held = [];
      run.history.forEach(function (r, i) { var v = run.valid_loss[i]; if (typeof v === "number" && isFinite(v)) { held.push([r[0], v]); } });
      if (held.length) { series.push({ pts: held, colour: colourOf(k), dash: dashOf(k), label: (RUNS.length > 1 ? run.label + ": " : "") + "held-out loss" }); }
    });
    return series;
  }
  function drawHeld() {
    var series = heldSeries(), panel = $("held-panel");
    panel.hidden = !series.length;
    if (!series.length) { return; }
    var values = [], last = 2, logX = logSteps();
    series.forEach(function (s) { s.pts.forEach(function (p) { last = Math.max(last, p[0]); if (p[1] > 0) { values.push(Math.log10(p[1])); } }); });
    var ev = extent(values);
    if (!isFinite(ev[0])) { ev = [-1, 1]; }
    var xr = logX ? [0, Math.log10(last) + 0.05] : [0, last + 0.5];
    var sc = axes($("held-plot"), xr, padded(ev[0], ev[1], 0.05), "step" + (logX ? " (log scale)" : ""), "held-out loss (log)", logX, true, "held");
    series.forEach(function (s) {
      var d = pathData(sc, s.pts.filter(function (p) { return p[1] > 0; }));
      el("path", { d: d.d, fill: "none", stroke: s.colour, "stroke-width": 1.8, "stroke-dasharray": s.dash || null, "class": "loss-curve held-out" }, sc.body);
    });
    legend("held-legend", series.map(function (s) { return { colour: s.colour, dash: s.dash, text: s.label }; }));
  }
  function xFor(p, step) { return p.sc.x(p.logX ? Math.max(step, 1) : step); }

  // the error w − w* along the Hessian's eigenvectors, step by step: each direction shrinks at its own rate
  function drawEigen() {
    var svg = $("eigen-plot");
    if (!(whatif && MODEL.optimum && MODEL.eigenvectors)) { clear(svg); return; }
    var o = MODEL.optimumTrain, V = MODEL.eigenvectors, lam = MODEL.eigenvalues, how = whatif.how;
    var comps = [0, 1].map(function (j) {
      return whatif.shown.map(function (i) { var w = whatif.train[i]; return [i + 1, Math.abs((w[0] - o[0]) * V[j][0] + (w[1] - o[1]) * V[j][1])]; });
    });
    var values = [];
    comps.forEach(function (c) { c.forEach(function (p) { if (p[1] > 0 && isFinite(p[1])) { values.push(Math.log10(p[1])); } }); });
    var ev = extent(values);
    if (!isFinite(ev[0])) { ev = [-1, 1]; }
    var last = Math.max(2, whatif.positions), logX = last > 200;
    var sc = axes(svg, logX ? [0, Math.log10(last) + 0.05] : [0, last + 0.5], padded(ev[0], ev[1], 0.05), "step of the what-if" + (logX ? " (log scale)" : ""), "|error along v| (log)", logX, true, "eigen");
    var styles = [{ colour: WHATIF, dash: "" }, { colour: "#009E73", dash: "6 3" }];
    comps.forEach(function (c, j) {
      var d = pathData(sc, c.filter(function (p) { return p[1] > 0; }));
      el("path", { d: d.d, fill: "none", stroke: styles[j].colour, "stroke-width": 1.8, "stroke-dasharray": d.segments < 300 ? styles[j].dash || null : null, "class": "eigen-curve" }, sc.body);
    });
    var rates = [0, 1].map(function (j) {
      if (how.kind !== "adam" && !MODEL.robust) { return LF.rate(how.lr, how.momentum, lam[j]); }
      var c = comps[j], n = Math.min(c.length, 60);  // Adam: measured, the geometric mean over its first steps
      return n > 1 && c[0][1] > 0 && c[n - 1][1] > 0 ? Math.pow(c[n - 1][1] / c[0][1], 1 / (n - 1)) : NaN;
    });
    legend("eigen-legend", [0, 1].map(function (j) {
      return { colour: styles[j].colour, dash: styles[j].dash, text: "along v" + (j ? "₂" : "₁") + " = (" + fmt(V[j][0], 3) + ", " + fmt(V[j][1], 3) + "), λ" + (j ? "₂" : "₁") + " = " + fmt(lam[j], 4) + (isFinite(rates[j]) ? ": ×" + fmt(rates[j], 4) + " per step" + (how.kind === "adam" ? " (measured)" : "") : ": no rate to measure (it starts on the optimum's line)") };
    }));
    var kappa = lam[1] > 0 ? lam[0] / lam[1] : Infinity;
    $("eigen-note").textContent = "The error splits along the Hessian's eigenvectors (in the coordinates autograd trains); " +
      (how.kind === "adam" ? "Adam rescales each coordinate, so its rates are measured from the path. " : "gradient descent shrinks the part along each by |1 − γλ| per step (with momentum, the largest root of z² − (1 + μ − γλ)z + μ). ") +
      (kappa < 1.0001 ? "Standardised, both curvatures are equal: one γ suits both directions, and both shrink alike." :
        "The curvatures differ " + fmt(kappa, 3) + "-fold: γ must stay under 2(1 + μ)/λ₁ for the steep direction, so the shallow one crawls — standardising x makes them equal.") +
      " A part that stops falling near 1e-15 of the optimum's size has reached float64's rounding.";
  }

  // ---------- the map over (learning rate, momentum) ----------
  var MAP = { cols: 36, rows: 20, sc: null, marker: null, key: null };
  function mapLrs(adam) { var top = lrTop(adam), out = []; for (var i = 0; i < MAP.cols; i++) { out.push(top * Math.pow(10, -3 + 3 * (i + 0.5) / MAP.cols)); } return out; }
  function mapMomenta() { var out = []; for (var j = 0; j < MAP.rows; j++) { out.push(0.99 * (j + 0.5) / MAP.rows); } return out; }
  function shade(steps) {  // viridis stops: dark (slow) to yellow (fast), readable in every colour vision
    var stops = [[253, 231, 37], [94, 201, 98], [33, 145, 140], [59, 82, 139], [68, 1, 84]];
    var t = Math.min(1, Math.log10(Math.max(1, steps)) / Math.log10(MAP_CAP)), u = t * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(u)), f = u - i;
    return "rgb(" + [0, 1, 2].map(function (c) { return Math.round(stops[i][c] + f * (stops[i + 1][c] - stops[i][c])); }).join(",") + ")";
  }
  function drawMap() {
    var svg = $("map-plot"), adam = isAdam(), key = [current, adam, startPoint().join()].join("|");
    if (MAP.key === key) { return; }
    MAP.key = key;
    if (MODEL.robust || MODEL.lstar === null) {  // each cell would be a descent over every row, or has no optimum to reach
      clear(svg);
      svg.style.display = "none";  // no empty plot: the note says why
      MAP.sc = null;
      clear($("map-legend"));
      $("map-note").textContent = MODEL.robust ? "The map needs the quadratic loss's moments: for the " + RUN.loss.name + " loss each cell would be a descent over every row." :
        "The data determine no unique line: there is no optimum to converge to, so no map.";
      return;
    }
    svg.style.display = "";
    var top = lrTop(adam), lrs = mapLrs(adam), mus = mapMomenta(), s = startPoint(), target = whatIfTarget();
    var sc = axes(svg, [Math.log10(top) - 3, Math.log10(top)], [0, 0.99], "learning rate γ (log scale)", adam ? "β₁" : "momentum μ", true, false, "map");
    var g = el("g", { "class": "cells" }, sc.body), cw = PW / MAP.cols, ch = PH / MAP.rows, row = 0;
    // the cells are worked out a few rows at a time, between frames: a setting repaints at once, the map fills in
    function fill() {
      if (MAP.key !== key) { return; }  // another setting took over: this map is stale
      var began = performance.now();
      for (; row < mus.length && performance.now() - began < 12; row++) {
        var mu = mus[row], j = row;
        lrs.forEach(function (lr, i) {
          var how = adam ? { kind: "adam", lr: lr, betas: [mu, BETAS[1]], eps: EPS } : { kind: "momentum", lr: lr, momentum: mu };
          var r = target === null ? null : LF.descend(MODEL, s[0], s[1], how, 1, MAP_CAP, target, false);
          var colour = !r ? "#eeeeee" : r.diverged ? "#ffffff" : r.converged ? shade(r.positions) : "#c4c4c4";
          el("rect", { x: (MARGIN.l + i * cw).toFixed(2), y: (MARGIN.t + PH - (j + 1) * ch).toFixed(2), width: (cw + 0.3).toFixed(2), height: (ch + 0.3).toFixed(2), fill: colour,
            "class": r && r.diverged ? "cell diverges" : "cell", "data-lr": lr, "data-momentum": mu, "data-steps": r ? (r.diverged ? "diverges" : r.converged ? r.positions : "not converged") : "" }, g);
        });
      }
      if (row < mus.length) { setTimeout(fill, 0); } else { svg.setAttribute("data-complete", "true"); }
    }
    svg.removeAttribute("data-complete");
    setTimeout(fill, 0);
    if (!adam && MODEL.lambdaMax > 0) {  // the stability boundary γ = 2(1 + μ)/λ_max
      var pts = [];
      for (var k = 0; k <= 50; k++) { var mu = 0.99 * k / 50; pts.push([LF.bound(mu, MODEL.lambdaMax), mu]); }
      el("path", { d: pathData(sc, pts).d, "class": "boundary", id: "map-boundary" }, sc.top);
    }
    MAP.sc = sc;
    MAP.marker = el("circle", { r: 6, "class": "map-marker", id: "map-marker" }, sc.top);
    legend("map-legend", [
      { colour: shade(1), mark: "cell", text: "converges in a few steps" }, { colour: shade(MAP_CAP / 10), mark: "cell", text: "in ~" + count(MAP_CAP / 10) },
      { colour: shade(MAP_CAP * 0.9), mark: "cell", text: "in ~" + count(MAP_CAP) }, { colour: "#c4c4c4", mark: "cell", text: "not in " + count(MAP_CAP) },
      { colour: "#ffffff", mark: "cell", text: "diverges" }
    ].concat(adam ? [] : [{ colour: "#000", dash: "4 2", text: "γ = 2(1 + μ)/λ_max" }]));
    $("map-note").textContent = "Each cell runs the what-if's optimizer from the start at that (γ, " + (adam ? "β₁" : "μ") + ") for up to " + count(MAP_CAP) +
      " steps; its colour is how many it needs to get as close as the what-if's target. Click a cell to try it." + (adam ? " Adam has no 2(1 + μ)/λ_max bound." : "");
  }
  // the map is worked out once it comes into view (each cell is a descent of its own): a page opens fast
  var mapSeen = !window.IntersectionObserver;
  if (!mapSeen) {
    new IntersectionObserver(function (entries, observer) {
      if (entries.some(function (e) { return e.isIntersecting; })) { mapSeen = true; observer.disconnect(); drawMapMarker(); }
    }).observe($("map-plot"));
  }
  function drawMapMarker() {
    var none = MODEL.robust || MODEL.lstar === null;  // no map to work out: its note says why at once, seen or not
    if ((!mapSeen && !none) || dragging) { return; }  // (a drag works the map out again once the start is let go)
    drawMap();
    if (!MAP.sc || !whatif) { return; }
    var how = whatif.how, mu = how.kind === "adam" ? how.betas[0] : how.momentum;
    at(MAP.marker, [how.lr, Math.min(mu, 0.99)], MAP.sc);
  }
  $("map-plot").addEventListener("click", function (event) {
    var t = event.target;
    if (!t || !t.getAttribute || t.getAttribute("data-lr") === null) { return; }
    exactLr = Number(t.getAttribute("data-lr"));
    exactMomentum = Number(t.getAttribute("data-momentum"));
    lrInput.value = String(sliderFromLr(exactLr));
    momentumInput.value = String(Math.round(exactMomentum * 100));
    computeWhatIf();
  });

  // ---------- the marks each step moves ----------
  function update() {
    var index = Number(stepInput.value), rec = HISTORY[index], step = rec[0];
    var label = "step " + step + " of " + LAST_STEP;
    $("step-label").textContent = label + "  (" + (index + 1) + "/" + HISTORY.length + " recorded)";
    stepInput.setAttribute("aria-valuetext", label);
    var d = panels["data-plot"];
    if (d) {
      lineAcross(d.fit, d.sc, rec[4], rec[5]);
      d.texts[0].textContent = "step " + step + ": " + equation(rec[4], rec[5]);
      var chosen = RUN.samples && point ? [point.x, point.y] : null;
      at(d.chosen, chosen, d.sc);
    }
    ["surface-plot", "standard-plot"].forEach(function (id) {
      var p = panels[id];
      if (!p || (id === "standard-plot" && !(MODEL.standard && MODEL.optimum))) { return; }
      RUNS.forEach(function (run, k) {  // each run at its own last record up to this step
        var i = stepIndexAtOrBefore(run, step);
        at(p.nows[k], i < 0 ? null : p.map([run.history[i][4], run.history[i][5]]), p.sc);
      });
      if (p.whatNow && whatif) { at(p.whatNow, p.map(whatif.path[Math.min(whatif.path.length - 1, step - 1)]), p.sc); }
    });
    var l = panels["loss-plot"];
    if (l) {
      var x = xFor(l, step).toFixed(1), y = MODEL.lstar !== null ? MODEL.excess(rec[4], rec[5]) : MODEL.robust && MODEL.rows ? MODEL.loss(rec[4], rec[5]) : rec[1];
      l.marker.setAttribute("x1", x); l.marker.setAttribute("x2", x);
      at(l.dot, y > 0 ? [l.logX ? Math.max(step, 1) : step, y] : null, l.sc);
    }
    // the plots' names for a screen reader say what they show now, not only what they are
    var where = "a = " + fmt(rec[4], 6) + ", b = " + fmt(rec[5], 6), above = MODEL.lstar !== null ? fmt(MODEL.excess(rec[4], rec[5]), 4) : null;
    $("data-plot").setAttribute("aria-label", "data and the line of step " + step + ": y = " + equation(rec[4], rec[5]) + (bestLine() ? "; " + bestLine().label + " y = " + equation(bestLine().a, bestLine().b) : ""));
    $("surface-plot").setAttribute("aria-label", "loss surface over a and b; at step " + step + " the run is at " + where + (MODEL.optimum ? "; the optimum at a = " + fmt(MODEL.optimum[0], 6) + ", b = " + fmt(MODEL.optimum[1], 6) : ""));
    $("loss-plot").setAttribute("aria-label", "loss above the least-squares loss per step" + (above !== null ? "; at step " + step + ": " + above : ""));
    readout(index);
    drawGraph(rec);
    $("loss-note").textContent = MODEL.lstar === null ? (MODEL.robust ? (MODEL.rows ? "The loss over the " + count(MODEL.rows) + " rows this page holds." : "The loss each step recorded (the page holds no rows to compute it again).") : "The data determine no unique line: the loss itself is drawn.") :
      "least-squares loss " + fmt(MODEL.lstar, 8) + "; at step " + step + " the loss over every row exceeds it by " + fmt(MODEL.excess(rec[4], rec[5]), 6) + " (from the moments; the recorded loss is in the numbers below).";
  }
  function go(index) { stepInput.value = String(Math.max(0, Math.min(HISTORY.length - 1, index))); update(); }

  // ---------- hover: a step on the loss curve lights up on the surfaces and in the data ----------
  function showHover(step) {
    hoverStep = step;
    var i = step === null ? -1 : stepIndexAtOrBefore(RUN, step), rec = i >= 0 ? HISTORY[i] : null;
    var l = panels["loss-plot"], d = panels["data-plot"];
    if (l) { l.hoverLine.setAttribute("visibility", rec ? "visible" : "hidden"); if (rec) { var x = xFor(l, rec[0]).toFixed(1); l.hoverLine.setAttribute("x1", x); l.hoverLine.setAttribute("x2", x); } }
    ["surface-plot", "standard-plot"].forEach(function (id) { var p = panels[id]; if (p) { at(p.hover, rec ? p.map([rec[4], rec[5]]) : null, p.sc); if (rec) { p.hover.setAttribute("data-step", rec[0]); } } });
    if (d) { if (rec) { lineAcross(d.hover, d.sc, rec[4], rec[5]); d.hover.setAttribute("data-step", rec[0]); } else { d.hover.setAttribute("visibility", "hidden"); } }
    $("hover-note").textContent = rec ? "step " + rec[0] + " (hovered): a = " + fmt(rec[4], 8) + ", b = " + fmt(rec[5], 8) + ", loss above least squares " + (MODEL.lstar !== null ? fmt(MODEL.excess(rec[4], rec[5]), 4) : "unknown") : "";
  }
  function stepUnder(event) {
    var l = panels["loss-plot"], svg = $("loss-plot"), box = svg.getBoundingClientRect();
    var px = (event.clientX - box.left) * W / box.width, v = l.sc.ix(px);
    return Math.max(HISTORY[0][0], Math.round(v));
  }
  $("loss-plot").addEventListener("pointermove", function (event) { if (event.target && event.target.id === "loss-hover") { showHover(stepUnder(event)); } });
  $("loss-plot").addEventListener("pointerdown", function (event) { if (event.target && event.target.id === "loss-hover") { showHover(stepUnder(event)); } });
  $("loss-plot").addEventListener("pointerleave", function () { showHover(null); });

  // ---------- drag the start on either surface: the what-if follows ----------
  function beginDrag(event, svgId, standard) {
    event.preventDefault();
    var svg = $(svgId), p = panels[svgId];
    dragging = true;
    try { svg.setPointerCapture(event.pointerId); } catch (e) { /* a synthetic pointer */ }
    function move(ev) {
      var box = svg.getBoundingClientRect(), px = (ev.clientX - box.left) * W / box.width, py = (ev.clientY - box.top) * H / box.height;
      var u = [p.sc.ix(px), p.sc.iy(py)];
      start = standard ? MODEL.toData(u[0], u[1]) : u;
      computeWhatIf(true);  // the view holds still under the hand
    }
    function end() {
      dragging = false;
      svg.removeEventListener("pointermove", move);
      svg.removeEventListener("pointerup", end);
      svg.removeEventListener("pointercancel", end);
      MAP.key = null;
      computeWhatIf();
    }
    svg.addEventListener("pointermove", move);
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
  }

  // ---------- the step's numbers ----------
  function readout(index) {
    var rec = HISTORY[index], next = index + 1 < HISTORY.length ? HISTORY[index + 1] : null, m = MODEL;
    var lines = [];
    lines.push("step " + rec[0] + " of " + LAST_STEP + "   (recorded: the loss and gradient autograd computed at (a, b), before this step's update)");
    lines.push("a = " + fmt(rec[4], 10) + "   b = " + fmt(rec[5], 10));
    if (m.robust && !m.rows) { lines.push("loss L = " + RUN.loss.formula + " = " + fmt(rec[1], 10) + "      (recorded; the page holds no rows)"); }
    else if (m.robust) { lines.push("loss L = " + fmt(rec[1], 10) + "      over the " + count(m.rows) + " rows this page holds: " + fmt(m.loss(rec[4], rec[5]), 10)); }
    else { lines.push("loss L = " + RUN.loss.formula + " = " + fmt(rec[1], 10) + "      from the moments: " + fmt(m.loss(rec[4], rec[5]), 10)); }
    if (!m.robust) {
      var hand = m.grad(rec[4], rec[5]);
      lines.push("");
      lines.push("                autograd              by hand (from the data's moments)");
      lines.push("dL/da   " + pad(fmt(rec[2], 10), 22) + pad(fmt(hand[0], 10), 18) + "= " + RUN.loss.grad_a_text);
      lines.push("dL/db   " + pad(fmt(rec[3], 10), 22) + pad(fmt(hand[1], 10), 18) + "= " + RUN.loss.grad_b_text);
      if (RUN.minibatch) {
        lines.push("(mini-batch SGD with variance reduction, SVRG: a recorded step is a snapshot, where autograd's loss and gradient are over all " +
          m.n + " rows, as the hand formula's; between snapshots the run stepped on shuffled batches" + (RUN.batch_size ? " of " + RUN.batch_size + " rows" : "") + ")");
      } else if (Math.abs(rec[1] - m.loss(rec[4], rec[5])) > 1e-4 * Math.abs(rec[1]) + 1e-300) {
        lines.push("(autograd's loss is not the loss over every row: this run's steps saw mini-batches, so its gradient is a batch's)");
      }
    } else { lines.push("dL/da = " + fmt(rec[2], 10) + "   dL/db = " + fmt(rec[3], 10) + "   (autograd)"); }
    lines.push("");
    var lr = recordedLr(), optimizer = CFG.optimizer || "sgd";
    if (lr === null) { lines.push("(the learning rate this run used was not recorded: the default of a mini-batch run depends on the largest x², which this page does not hold)"); }
    else if (m.standard) {
      var w = m.toTrain(rec[4], rec[5]), ga = (rec[2] - m.mean * rec[3]) / m.sigma, gb = rec[3];
      lines.push("autograd trains the standardised (α, β): x̄ = " + fmt(m.mean, 8) + ", σ = " + fmt(m.sigma, 8) + ", ȳ = " + fmt(m.shift, 8));
      lines.push("α = a·σ = " + fmt(w[0], 10) + "   β = b + a·x̄ − ȳ = " + fmt(w[1], 10) + blur(w[1], [rec[5], rec[4] * m.mean, m.shift]));
      lines.push("dL/dα = (dL/da − x̄·dL/db)/σ = " + fmt(ga, 10) + blur(ga, [rec[2] / m.sigma, m.mean * rec[3] / m.sigma]) + "   dL/dβ = dL/db = " + fmt(gb, 10));
      updateText(lines, optimizer, lr, CFG.momentum, ["α", "β"], w, [ga, gb], next, rec, function (v) { return m.toData(v[0], v[1]); }, next ? m.toTrain(next[4], next[5]) : null);
    } else {
      updateText(lines, optimizer, lr, CFG.momentum, ["a", "b"], [rec[4], rec[5]], [rec[2], rec[3]], next, rec, null, next ? [next[4], next[5]] : null);
    }
    $("step-readout").textContent = lines.join("\n");
  }
  function blur(value, terms) {
    var spread = 0;
    terms.forEach(function (t) { spread += Math.abs(t); });
    var err = 4 * 2.220446049250313e-16 * spread;
    return err > 1e-6 * Math.abs(value) ? "  (± " + fmt(err, 2) + ": x is far from 0 for its spread, and these digits are lost going back from a, b)" : "";
  }
  // Adam's moments are torch's private state: the page replays them from the moments at the recorded
  // settings (full-batch runs only, where each step's gradient is the one the moments give)
  var ADAM_REPLAY = null;
  function adamState(step) {
    if (CFG.optimizer !== "adam" || RUN.minibatch || MODEL.robust) { return null; }
    if (!ADAM_REPLAY) { ADAM_REPLAY = LF.descend(MODEL, HISTORY[0][4], HISTORY[0][5], { kind: "adam", lr: recordedLr(), betas: BETAS, eps: EPS }, LAST_STEP + 1, LAST_STEP + 1, null, "states"); }
    var st = step < ADAM_REPLAY.states.length ? ADAM_REPLAY.states[step] : null;
    return st ? { t: st.t, g: st.g, m: st.v, s: st.s } : null;
  }
  function updateText(lines, optimizer, lr, momentum, names, w, g, next, rec, back, wNext) {
    var consecutive = next && next[0] === rec[0] + 1, dflt = RUN.lr_source === "default" ? " (the optimizer's default)" : "";
    if (optimizer === "sgd" && MODEL.robust) {  // piecewise.py's step: not w − γ·∇L, so no such arithmetic is shown
      lines.push(RUN.loss.name === "huber" ?
        "update: the " + RUN.loss.name + " trainer's own step, not w − γ·∇L: the gradient scaled by the inverse curvature of the rows inside ±δ (a Newton step on the quadratic piece), halved when the loss rises" :
        "update: the " + RUN.loss.name + " trainer's own step, not w − γ·∇L: a Newton step on the loss with its kink rounded over ±μ (μ shrinking tenfold per stage), halved when the loss rises, then a snap to an exact two-point line once it is optimal");
      lines.push("(the what-if above takes plain (sub)gradient steps w ← w − γ·∇L instead, as linfit train --optimizer momentum does)");
    } else if (optimizer === "sgd") {
      var w1 = [w[0] - lr * g[0], w[1] - lr * g[1]];
      lines.push("update w ← w − γ·∇L, γ = " + fmt(lr, 8) + dflt + ":");
      lines.push(names[0] + " ← " + fmt(w[0], 10) + " − " + fmt(lr, 8) + "·" + paren(fmt(g[0], 10)) + " = " + fmt(w1[0], 10));
      lines.push(names[1] + " ← " + fmt(w[1], 10) + " − " + fmt(lr, 8) + "·" + paren(fmt(g[1], 10)) + " = " + fmt(w1[1], 10));
      if (back) { var ab = back(w1); lines.push("back in the data's units: a = α/σ = " + fmt(ab[0], 10) + "   b = ȳ + β − α·x̄/σ = " + fmt(ab[1], 10)); }
    } else if (optimizer === "momentum") {
      lines.push("update (torch.optim.SGD, momentum μ = " + fmt(momentum, 6) + "): v ← μ·v + ∇L,  w ← w − γ·v, γ = " + fmt(lr, 8) + dflt);
      if (consecutive) {
        var v = [(w[0] - wNext[0]) / lr, (w[1] - wNext[1]) / lr];
        lines.push("v = (w − w_next)/γ = (" + fmt(v[0], 10) + ", " + fmt(v[1], 10) + ")");
        lines.push(names[0] + " ← " + fmt(w[0], 10) + " − " + fmt(lr, 8) + "·" + paren(fmt(v[0], 10)) + " = " + fmt(wNext[0], 10));
        lines.push(names[1] + " ← " + fmt(w[1], 10) + " − " + fmt(lr, 8) + "·" + paren(fmt(v[1], 10)) + " = " + fmt(wNext[1], 10));
      } else { lines.push("(the velocity v is torch's state; the next recorded step is not the next step)"); }
    } else {
      var b1 = BETAS[0], b2 = BETAS[1], st = adamState(rec[0]);
      lines.push("update (torch.optim.Adam, γ = " + fmt(lr, 8) + dflt + ", β₁ = " + fmt(b1, 6) + ", β₂ = " + fmt(b2, 6) + ", ε = " + fmt(EPS, 6) + "): m ← β₁·m + (1 − β₁)·∇L, s ← β₂·s + (1 − β₂)·∇L², w ← w − γ·m̂/(√ŝ + ε)");
      if (st) {
        var c1 = 1 - Math.pow(b1, st.t), c2 = 1 - Math.pow(b2, st.t);
        lines.push("m and s are torch's private state; the page replays them from the moments (∇L here = (" + fmt(st.g[0], 10) + ", " + fmt(st.g[1], 10) + ")):");
        lines.push("m = (" + fmt(st.m[0], 10) + ", " + fmt(st.m[1], 10) + ")   s = (" + fmt(st.s[0], 10) + ", " + fmt(st.s[1], 10) + ")   m̂ = m/(1 − β₁^" + st.t + "), ŝ = s/(1 − β₂^" + st.t + ")");
        var moved = [0, 1].map(function (i) {
          var mh = st.m[i] / c1, sh = st.s[i] / c2, after = w[i] - lr * mh / (Math.sqrt(sh) + EPS);
          lines.push(names[i] + " ← " + fmt(w[i], 10) + " − " + fmt(lr, 8) + "·" + paren(fmt(mh, 10)) + "/(√" + fmt(sh, 10) + " + ε) = " + fmt(after, 10));
          return after;
        });
        if (back) { var back1 = back(moved); lines.push("back in the data's units: a = α/σ = " + fmt(back1[0], 10) + "   b = ȳ + β − α·x̄/σ = " + fmt(back1[1], 10)); }
      } else if (RUN.minibatch) { lines.push("(m and s follow the mini-batches' gradients, which the page does not have)"); }
    }
    if (next) { lines.push("next recorded step " + next[0] + ": a = " + fmt(next[4], 10) + "   b = " + fmt(next[5], 10) + (consecutive ? "" : "  (steps " + (rec[0] + 1) + "–" + (next[0] - 1) + " were not logged)")); }
    else { lines.push("this is the last recorded step: " + (RUN.result.stop_reason || "the run ended") + "; final a = " + fmt(RUN.result.a, 10) + ", b = " + fmt(RUN.result.b, 10)); }
  }

  // ---------- the computational graph at one point ----------
  function evaluateGraph(tree, a, b, x, y, scale) {
    var unknown = [];
    function forward(node) {
      (node.inputs || []).forEach(forward);
      var ins = node.inputs || [];
      switch (node.name) {
        case "AccumulateGrad": node.v = node.variable === "a" ? a : b; node.op = node.variable; break;
        case "MulBackward0":
          node.factor = ins[0].name === "AccumulateGrad" ? x : scale;
          node.op = ins[0].name === "AccumulateGrad" ? "a·x" : "×" + fmt(scale, 6);
          node.v = node.factor * ins[0].v; break;
        case "AddBackward0": node.v = ins.reduce(function (s, i) { return s + i.v; }, 0); node.op = "ŷ = a·x + b"; break;
        case "SubBackward0": node.v = ins[0].v - y; node.op = "r = ŷ − y"; break;
        case "PowBackward0": node.v = ins[0].v * ins[0].v; node.op = "r²"; break;
        case "MeanBackward0": case "SumBackward0": node.v = ins[0].v; node.op = node.name === "MeanBackward0" ? "mean" : "sum"; break;
        // the piecewise losses of r = ŷ − y: huber_δ(r), |r|, and the pinball max(−τ·r, (1 − τ)·r)
        case "HuberLossBackward0": var u = Math.abs(ins[0].v), d = RUN.loss.delta; node.v = u <= d ? 0.5 * u * u : d * (u - 0.5 * d); node.op = "huber_δ(r), δ = " + fmt(d, 4); break;
        case "AbsBackward0": node.v = Math.abs(ins[0].v); node.op = "|r|"; break;
        case "MaximumBackward0":
          var tau = RUN.loss.tau;
          [-tau, 1 - tau].forEach(function (f, k) { var c = ins[k]; if (c && c.name === "MulBackward0" && c.inputs && c.inputs[0]) { c.factor = f; c.op = "×" + fmt(f, 6); c.v = f * c.inputs[0].v; } });
          node.v = Math.max(ins[0].v, ins[1].v); node.op = "max: ρ_τ(r), τ = " + fmt(tau, 4); break;
        default: node.v = null; unknown.push(node.name);
      }
    }
    function backward(node, g) {
      node.g = g;
      var pair = node.inputs || [];
      if (node.name === "MaximumBackward0" && pair.length === 2 && pair.every(function (m) { return m.name === "MulBackward0" && m.inputs && m.inputs.length; })) {
        // max(−τ·r, (1 − τ)·r): the larger branch takes the gradient (half each on a tie, as torch.maximum); both branches
        // read one r, drawn twice here: it gets the sum over the two, as autograd's one node does
        var share = pair[0].v > pair[1].v ? 1 : pair[0].v < pair[1].v ? 0 : 0.5;
        pair[0].g = share * g; pair[1].g = (1 - share) * g;
        var total = pair[0].factor * pair[0].g + pair[1].factor * pair[1].g;
        pair.forEach(function (m) { m.inputs.forEach(function (c) { backward(c, total); }); });
        return;
      }
      (node.inputs || []).forEach(function (child) {
        var cg = null;
        switch (node.name) {
          case "MulBackward0": cg = node.factor * g; break;
          case "PowBackward0": cg = 2 * child.v * g; break;
          case "AddBackward0": case "SubBackward0": case "MeanBackward0": case "SumBackward0": cg = g; break;
          case "HuberLossBackward0": cg = Math.max(-RUN.loss.delta, Math.min(RUN.loss.delta, child.v)) * g; break;
          case "AbsBackward0": cg = (child.v > 0 ? 1 : child.v < 0 ? -1 : 0) * g; break;
          case "MaximumBackward0":  // to the larger input; on a tie, half to each (as torch.maximum)
            var other = node.inputs[0] === child ? node.inputs[1] : node.inputs[0];
            cg = (child.v > other.v ? 1 : child.v < other.v ? 0 : 0.5) * g; break;
        }
        backward(child, cg);
      });
    }
    forward(tree);
    backward(tree, 1);
    return unknown;
  }
  function copyTree(node) { return { name: node.name, variable: node.variable, value: node.value, grad: node.grad, inputs: (node.inputs || []).map(copyTree) }; }
  function flatten(node, out) { out.push(node); (node.inputs || []).forEach(function (c) { flatten(c, out); }); return out; }
  var GRAPH = null;  // the drawn graph: its node boxes are kept and only their numbers change per step
  function drawGraph(rec) {
    var svg = $("graph"), tree = copyTree(RUN.graph.tree), scale = RUN.loss.scale;
    var unknown = evaluateGraph(tree, rec[4], rec[5], point.x, point.y, scale), nodes = flatten(tree, []);
    if (!GRAPH || GRAPH.run !== current) {
      clear(svg);
      var defs = el("defs", {}, svg), marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, defs);
      el("path", { d: "M0,0L10,5L0,10Z", fill: "#6b7280" }, marker);
      var depth = 0, rows = 0, NW = 136, NH = 58, GAP = 12;
      (function place(node, dd) { node.depth = dd; depth = Math.max(depth, dd); (node.inputs || []).forEach(function (c) { place(c, dd + 1); }); })(tree, 0);
      (function row(node) {
        if (!(node.inputs || []).length) { node.row = rows++; return; }
        node.inputs.forEach(row);
        node.row = node.inputs.reduce(function (s, c) { return s + c.row; }, 0) / node.inputs.length;
      })(tree);
      var width = (depth + 1) * (NW + GAP) + 10, height = Math.max(2, rows) * (NH + 30) + 60;
      svg.setAttribute("viewBox", "0 0 " + width + " " + height);
      svg.setAttribute("width", String(width));  // drawn at its own size (text 11 px); its box scrolls on a phone
      nodes.forEach(function (node) { node.px = 6 + (depth - node.depth) * (NW + GAP); node.py = 40 + node.row * (NH + 30); });
      nodes.forEach(function (node) {
        (node.inputs || []).forEach(function (c) {
          el("path", { d: "M" + (c.px + NW) + "," + (c.py + NH / 2) + " C" + (c.px + NW + GAP) + "," + (c.py + NH / 2) + " " + (node.px - GAP) + "," + (node.py + NH / 2) + " " + node.px + "," + (node.py + NH / 2), "class": "edge" }, svg);
        });
      });
      GRAPH = { run: current, groups: nodes.map(function (node) {
        var g = el("g", { "class": "node" + (node.variable ? " leaf" : ""), "data-name": node.name, transform: "translate(" + node.px + "," + node.py + ")" }, svg);
        el("rect", { width: NW, height: NH, rx: node.variable ? 14 : 4 }, g);
        el("text", { x: 6, y: 15 }, g, node.variable ? node.variable + " " + node.name : node.name);
        var value = el("text", { x: 6, y: 32 }, g, ""), grad = el("text", { x: 6, y: 48 }, g, ""), op = el("text", { x: NW / 2, y: -6, "text-anchor": "middle", "class": "op" }, g, "");
        return { g: g, value: value, grad: grad, op: op };
      }) };
    }
    nodes.forEach(function (node, i) {
      var box = GRAPH.groups[i];
      box.g.setAttribute("data-value", node.v); box.g.setAttribute("data-grad", node.g);
      box.value.textContent = "value " + fmt(node.v, 7); box.grad.textContent = "grad  " + fmt(node.g, 7); box.op.textContent = node.op || "";
    });
    var note = "At step " + rec[0] + " (a = " + fmt(rec[4], 8) + ", b = " + fmt(rec[5], 8) + ") for the point (x, y) = (" + fmt(point.x, 8) + ", " + fmt(point.y, 8) + "): the gradients reaching a and b are this point's share of dL/da, dL/db.";
    var torchNodes = flatten(RUN.graph.tree, []);
    if (!unknown.length && rec[4] === RUN.graph.a && rec[5] === RUN.graph.b && point.x === RUN.graph.x && point.y === RUN.graph.y) {
      var worst = 0;
      torchNodes.forEach(function (t, i) {
        [[t.value, nodes[i].v], [t.grad, nodes[i].g]].forEach(function (pair) { if (pair[0] !== null && pair[0] !== undefined) { worst = Math.max(worst, Math.abs(pair[0] - pair[1]) / Math.max(1, Math.abs(pair[0]))); } });
      });
      note += " Here autograd itself recorded the graph: the page's values agree with it to " + fmt(worst, 2) + " (relative).";
    }
    if (unknown.length) { note += " Nodes this page cannot evaluate: " + unknown.join(", ") + "."; }
    $("graph-note").textContent = note;
  }

  // ---------- diagnostics (residuals against fitted values, normal Q-Q), when the run carries them ----------
  function drawDiagnostics() {
    var dg = RUN.diagnostics, box = $("diagnostics");
    if (!dg || !dg.fitted || !dg.residuals || !dg.fitted.length) { box.style.display = "none"; return; }
    box.style.display = "";
    var fx = extent(dg.fitted), ry = extent(dg.residuals);
    var sc = axes($("resid-plot"), padded(fx[0], fx[1], 0.05), padded(Math.min(ry[0], 0), Math.max(ry[1], 0), 0.08), "fitted value", "residual", false, false, "resid");
    dg.fitted.forEach(function (f, i) { if (inside(sc, [f, dg.residuals[i]])) { el("circle", { cx: sc.x(f).toFixed(1), cy: sc.y(dg.residuals[i]).toFixed(1), r: 2.2, "class": "dot" }, sc.body); } });
    el("line", { x1: MARGIN.l, x2: MARGIN.l + PW, y1: sc.y(0), y2: sc.y(0), "class": "line-ols" }, sc.body);
    var notes = [];
    if (typeof dg.durbin_watson === "number") { notes.push("Durbin–Watson " + fmt(dg.durbin_watson, 4) + " (near 2: no correlation between neighbouring residuals)"); }
    if (dg.influential && dg.influential.length) {
      notes.push("influential rows: " + dg.influential.slice(0, 8).map(function (r) {
        var where = typeof r.line === "number" ? "line " + r.line : "row " + r.row;
        var above = typeof dg.influence_threshold === "number" && typeof r.cooks_distance === "number" && r.cooks_distance > dg.influence_threshold;
        return where + " (leverage " + fmt(r.leverage, 3) + ", Cook's distance " + fmt(r.cooks_distance, 3) + (above ? ", above 4/n = " + fmt(dg.influence_threshold, 3) : "") + ")";
      }).join("; ") + (dg.influential.length > 8 ? " …" : ""));
    }
    $("resid-note").textContent = notes.join(". ") + (notes.length ? "." : "");
    var qq = dg.qq;
    if (qq && qq.theoretical && qq.sample && qq.theoretical.length) {
      var tx = extent(qq.theoretical), sy = extent(qq.sample), n = qq.sample.length, mean = 0, sd = 0;
      qq.sample.forEach(function (v) { mean += v / n; });
      qq.sample.forEach(function (v) { sd += (v - mean) * (v - mean) / Math.max(1, n - 1); });
      sd = Math.sqrt(sd);
      var q = axes($("qq-plot"), padded(tx[0], tx[1], 0.05), padded(sy[0], sy[1], 0.08), "normal quantile", "residual quantile", false, false, "qq");
      el("path", { d: pathData(q, [[tx[0], mean + sd * tx[0]], [tx[1], mean + sd * tx[1]]]).d, "class": "line-ols" }, q.body);
      qq.theoretical.forEach(function (t, i) { el("circle", { cx: q.x(t).toFixed(1), cy: q.y(qq.sample[i]).toFixed(1), r: 2.2, "class": "dot" }, q.body); });
    }
  }

  // ---------- summary and comparison ----------
  function cells(tr, values, header) {
    values.forEach(function (v, i) { var c = document.createElement(i === 0 || header ? "th" : "td"); c.textContent = v; tr.appendChild(c); });
  }
  function summary() {
    var table = $("summary"), r = RUN.result, st = RUN.stats || {}, d = RUN.data || {}, diverged = r.stop_reason === "diverged" || !(isFinite(r.a) && isFinite(r.b));
    clear(table);
    var head = document.createElement("tr");
    var best = bestLine();
    cells(head, ["", "this run", best ? best.label : "least squares", "relative gap"], true);
    table.appendChild(head);
    var notHere = MODEL.robust ? "none: R², t standard errors and intervals are least squares'" : "not computed";
    var whose = "least-squares fit" + (diverged ? " (not this run's: it diverged)" : r.converged ? "" : " (this run did not converge)");
    var rows = [
      ["a (slope)", fmt(r.a, 12), best ? fmt(best.a, 12) : "none", RUN.gap ? fmt(RUN.gap.a, 2) : ""],
      ["b (intercept)", fmt(r.b, 12), best ? fmt(best.b, 12) : "none", RUN.gap ? fmt(RUN.gap.b, 2) : ""],
      ["loss (" + RUN.loss.name + ")", fmt(r.loss, 10), MODEL.lstar !== null ? fmt(MODEL.lstar, 10) : best && typeof best.objective === "number" ? fmt(best.objective, 10) : "", ""],
      ["outcome", (r.stop_reason || "ended") + " at step " + r.steps + (typeof r.wall_time_s === "number" ? " in " + fmt(r.wall_time_s * 1000, 3) + " ms" : ""), "", ""],
      ["R², residual sd", "", typeof st.r2 === "number" ? fmt(st.r2, 6) + ", " + fmt(st.residual_sd, 6) + " — " + whose : notHere, ""],
      ["standard errors", "", typeof st.se_a === "number" ? "a " + fmt(st.se_a, 6) + ", b " + fmt(st.se_b, 6) + ", corr(a, b) " + fmt(st.corr_ab, 3) + " — " + whose : notHere, ""],
      ["95% intervals", "", st.ci_a ? "a [" + fmt(st.ci_a[0], 6) + ", " + fmt(st.ci_a[1], 6) + "], b [" + fmt(st.ci_b[0], 6) + ", " + fmt(st.ci_b[1], 6) + "] — " + whose : notHere, ""],
      ["start", RUN.init ? RUN.init.method + ": a = " + fmt(RUN.init.a, 8) + ", b = " + fmt(RUN.init.b, 8) : "not recorded", "", ""],
      ["learning rate", recordedLr() !== null ? fmt(recordedLr(), 8) + (RUN.lr_source === "default" ? " (the optimizer's default)" : "") : "not recorded (a mini-batch default)", "", ""],
      ["data", (d.source || "data") + ": " + (typeof d.rows === "number" ? count(d.rows) : count(MODEL.n)) + " rows, x = '" + (d.x || "x") + "', y = '" + (d.y || "y") + "'", "", ""],
      ["SHA-256", d.sha256 || "not recorded", "", ""],
      ["steps shown", HISTORY.length + " of " + RUN.logged + " logged steps", "", ""],
      ["configuration", Object.keys(CFG).filter(function (k) { return k !== "lr"; }).map(function (k) { return k + " = " + (CFG[k] === null ? "default" : JSON.stringify(CFG[k])); }).join("; "), "", ""]
    ];
    var ls = RUN.loss_stats;
    if (MODEL.robust && ls) {  // the loss's own figures, as linfit train's table gives them
      var own = [["fit figures (" + RUN.loss.name + ")", ls.method || "", "", ""]];
      if (typeof ls.pseudo_r1 === "number") { own.push(["pseudo-R¹", fmt(ls.pseudo_r1, 6), "", ""]); }
      if (typeof ls.inside === "number") { own.push(["rows inside ±δ", count(ls.inside) + " of " + count(ls.n), "", ""]); }
      if (typeof ls.se_a === "number") { own.push(["standard errors (" + (ls.interval_method || ls.method) + ")", "a " + fmt(ls.se_a, 6) + ", b " + fmt(ls.se_b, 6), "", ""]); }
      if (ls.ci_a && ls.ci_b) { own.push([fmt(100 * (ls.level || 0.95), 3) + "% intervals (" + (ls.interval_method || ls.method) + ")", "a [" + fmt(ls.ci_a[0], 6) + ", " + fmt(ls.ci_a[1], 6) + "], b [" + fmt(ls.ci_b[0], 6) + ", " + fmt(ls.ci_b[1], 6) + "]", "", ""]); }
      rows.splice.apply(rows, [4, 3].concat(own, [["R², t standard errors, intervals", "", notHere, ""]]));
    }
    rows.forEach(function (row) { var tr = document.createElement("tr"); cells(tr, row); table.appendChild(tr); });
    table.querySelectorAll("tr").forEach(function (tr, i) { if (i > 0 && tr.children[2].textContent === "" && tr.children[3].textContent === "") { tr.children[1].colSpan = 3; tr.removeChild(tr.children[3]); tr.removeChild(tr.children[2]); } });
  }
  function compareTable() {
    var box = $("compare"), table = $("compare-table");
    if (RUNS.length < 2) { box.style.display = "none"; return; }
    clear(table);
    var head = document.createElement("tr");
    cells(head, ["run", "steps to converge", "final gap (loss − least squares)", "relative gap a, b", "time"], true);
    table.appendChild(head);
    RUNS.forEach(function (run, k) {
      var r = run.result, m = models[k], tr = document.createElement("tr");
      var gap = m.lstar !== null && isFinite(r.a) && isFinite(r.b) ? fmt(m.excess(r.a, r.b), 4) : "none (no finite end)";
      cells(tr, [(k + 1) + ". " + run.label, r.converged ? count(r.steps) : (r.stop_reason || "not converged") + " at step " + count(r.steps), gap,
        run.gap ? fmt(run.gap.a, 2) + ", " + fmt(run.gap.b, 2) : "none", typeof r.wall_time_s === "number" ? fmt(r.wall_time_s * 1000, 3) + " ms" : "not recorded"]);
      tr.firstChild.style.color = colourOf(k);
      table.appendChild(tr);
    });
  }

  // ---------- wiring ----------
  var timer = null, playButton = $("play");
  function play(on) {
    if (timer) { clearInterval(timer); timer = null; }
    playButton.textContent = on ? "❚❚ pause" : "▶ play";
    if (!on) { return; }
    if (Number(stepInput.value) >= HISTORY.length - 1) { go(0); }
    timer = setInterval(function () {
      if (Number(stepInput.value) >= HISTORY.length - 1) { play(false); return; }
      go(Number(stepInput.value) + 1);
    }, 450);
  }
  stepInput.addEventListener("input", update);
  playButton.addEventListener("click", function () { play(!timer); });
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target === stepInput || (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "BUTTON" || target.tagName === "SELECT"))) { return; }
    var index = Number(stepInput.value);
    if (event.key === "ArrowRight") { go(index + 1); }
    else if (event.key === "ArrowLeft") { go(index - 1); }
    else if (event.key === "Home") { go(0); }
    else if (event.key === "End") { go(HISTORY.length - 1); }
    else if (event.key === " ") { play(!timer); }
    else { return; }
    event.preventDefault();
  });
  function resetWhatIf() {
    optimizerInput.value = CFG.optimizer === "adam" ? "adam" : "momentum";
    start = null;
    MAP.key = null;
    exactLr = recordedLr() || 1 / MODEL.lambdaMax;
    exactMomentum = recordedMomentum();
    lrInput.value = String(sliderFromLr(exactLr));
    momentumInput.value = String(Math.round(exactMomentum * 100));
    computeWhatIf();
  }
  lrInput.addEventListener("input", function () { exactLr = null; computeWhatIf(); });
  momentumInput.addEventListener("input", function () { exactMomentum = null; computeWhatIf(); });
  optimizerInput.addEventListener("change", function () {
    exactLr = whatif ? whatif.how.lr : exactLr;  // the same rate, on the other optimizer's scale
    exactMomentum = null;
    if (isAdam()) { momentumInput.value = String(Math.round(BETAS[0] * 100)); }
    lrInput.value = String(sliderFromLr(exactLr));
    computeWhatIf();
  });
  $("whatif-reset").addEventListener("click", resetWhatIf);
  var px = $("point-x"), py = $("point-y");
  function pointChanged() {
    var x = Number(px.value), y = Number(py.value);
    if (px.value !== "" && py.value !== "" && isFinite(x) && isFinite(y)) { point = { x: x, y: y }; update(); }
  }
  px.addEventListener("input", pointChanged);
  py.addEventListener("input", pointChanged);
  $("data-plot").addEventListener("click", function (event) {
    var i = event.target && event.target.getAttribute ? event.target.getAttribute("data-i") : null;
    if (i === null || !RUN.samples) { return; }
    point = { x: RUN.samples.x[Number(i)], y: RUN.samples.y[Number(i)] };
    px.value = String(point.x); py.value = String(point.y);
    update();
  });
  var runSelect = $("run");
  if (RUNS.length > 1) {
    RUNS.forEach(function (run, k) { var o = document.createElement("option"); o.value = String(k); o.textContent = (k + 1) + ". " + run.label; runSelect.appendChild(o); });
    runSelect.addEventListener("change", function () { start = null; selectRun(Number(runSelect.value)); begin(); });
  } else { $("run-choice").style.display = "none"; }

  function begin() {
    var s = RUN.samples, d = RUN.data || {};
    $("subtitle").textContent = (d.source || "data") + ", " + (typeof d.rows === "number" ? count(d.rows) : count(MODEL.n)) + " rows · " + RUN.label + " · " + RUN.loss.formula +
      (MODEL.standard ? " · standardised" : " · raw x") + (RUNS.length > 1 ? " · " + RUNS.length + " runs compared (the slider follows run " + (current + 1) + ")" : "");
    $("data-note").textContent = s && s.x.length ? "Points: " + s.how + " (" + count(s.x.length) + " of " + count(s.of) + " rows shown; the fit used every row). Click one to see its graph." :
      "No rows were kept for the scatter (the run was read from a saved stream, or streamed without a sample); the lines are drawn over x̄ ± 2.5·sd(x).";
    $("surface-note").textContent = (MODEL.optimum ? "Contours of the loss, from the data's moments (the loss is quadratic); ★ the least-squares optimum, ■ the start (drag it)." :
      MODEL.robust ? (RUN.surface_grid ? "The " + RUN.loss.name + " loss itself over all " + count(MODEL.n) + " rows on a grid (lighter: lower); " + (RUN.reference ? "★ its exact minimum, " : "") + "■ the start (drag it)." :
      MODEL.rows ? "The " + RUN.loss.name + " loss over the rows the page holds; ■ the start (drag it)." : "The path each step recorded; the " + RUN.loss.name + " loss's surface needs the rows (give --data).") : "The data determine no unique line: no optimum to draw.") +
      (MODEL.standard ? "" : " Without standardisation the bowl is as elongated as x is far from 0 relative to its spread.") +
      " Solid where every step was logged; faint where steps between two records were not.";
    GRAPH = null;
    px.value = String(point.x); py.value = String(point.y);
    summary();
    compareTable();
    drawDiagnostics();
    resetWhatIf();
  }
  selectRun(0);
  begin();
  // inside a notebook's frame: tell the cell how tall the page is, so the frame can fit it
  if (window.parent && window.parent !== window) {
    var told = 0;
    var tell = function () { var h = document.documentElement.scrollHeight; if (Math.abs(h - told) > 2) { told = h; window.parent.postMessage({ linfitHeight: h }, "*"); } };
    tell();
    if (window.ResizeObserver) { new ResizeObserver(tell).observe(document.body); }
  }
}());
