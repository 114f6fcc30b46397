/* linfit report: move through a gradient-descent run step by step. No library, no network. */
(function () {
  "use strict";

  var PAYLOAD = JSON.parse(document.getElementById("linfit-run").textContent);
  var RUNS = PAYLOAD.runs;
  var RUN = RUNS[0];
  var COLOURS = ["#d0342c", "#1b9e77", "#1f6fd1", "#e7298a", "#66a61e", "#a6761d"];
  var SVGNS = "http://www.w3.org/2000/svg";
  var W = 440, H = 320, MARGIN = { l: 62, r: 14, t: 12, b: 38 };

  // ---------- numbers ----------
  function fmt(v, digits) {
    // as Python's format(v, ".{digits}g"): what the terminal table shows
    if (v === null || v === undefined) { return "–"; }
    if (!isFinite(v)) { return v !== v ? "–" : v > 0 ? "inf" : "-inf"; }  // as the terminal table: no NaN, no Infinity
    if (v === 0) { return "0"; }
    var d = digits || 8;
    var exp = parseInt(v.toExponential(d - 1).split("e")[1], 10);
    if (exp < -4 || exp >= d) {
      var parts = v.toExponential(d - 1).split("e");
      var mant = parts[0].indexOf(".") >= 0 ? parts[0].replace(/0+$/, "").replace(/\.$/, "") : parts[0];
      var e = parseInt(parts[1], 10);
      return mant + "e" + (e < 0 ? "-" : "+") + (Math.abs(e) < 10 ? "0" : "") + Math.abs(e);
    }
    var fixed = v.toFixed(Math.max(0, d - 1 - exp));
    return fixed.indexOf(".") >= 0 ? fixed.replace(/0+$/, "").replace(/\.$/, "") : fixed;
  }
  function equation(a, b) { return fmt(a, 5) + "·x " + (b < 0 ? "− " + fmt(-b, 5) : "+ " + fmt(b, 5)); }
  function paren(s) { return s.charAt(0) === "-" ? "(" + s + ")" : s; }

  // ---------- the loss, from the data's moments (it is quadratic) ----------
  function Model(run) {
    var m = run.moments, n = m.n, loss = run.loss;
    var c = 2 * loss.scale * (loss.reduction === "sum" ? n : 1);
    var sxx = m.sxx / n, sxy = m.sxy / n, syy = m.syy / n, xm = m.x_mean, ym = m.y_mean;
    var standard = !!(run.config && run.config.standardize) && m.sxx > 0;
    var sigma = standard ? Math.sqrt(sxx) : 1, mu = standard ? xm : 0, shift = standard ? ym : 0;
    var self = {
      c: c, n: n, standard: standard, sigma: sigma, mu: mu, shift: shift, xm: xm, ym: ym, sxx: sxx, sxy: sxy,
      loss: function (a, b) { var e0 = a * xm + b - ym; return c / 2 * (a * a * sxx - 2 * a * sxy + syy + e0 * e0); },
      grad: function (a, b) { var e0 = a * xm + b - ym; return [c * (a * sxx - sxy + xm * e0), c * e0]; },
      toTrain: function (a, b) { return [a * sigma, b + a * mu - shift]; },
      toData: function (al, be) { return [al / sigma, shift + be - al * mu / sigma]; },
      lstar: sxx > 0 ? c / 2 * (syy - sxy * sxy / sxx) : null,
      optimum: sxx > 0 ? [sxy / sxx, ym - sxy / sxx * xm] : null,
      // L − L* = c/2·(sxx·(a − a*)² + mean(r)²): no cancellation against L*, so it reads right down to tiny gaps
      excess: function (a, b) { var e0 = a * xm + b - ym, d = a - sxy / sxx; return c / 2 * (sxx * d * d + e0 * e0); }
    };
    // the Hessian in training coordinates: c·[[E x_t², E x_t], [E x_t, 1]]
    var h11 = standard ? c : c * (sxx + xm * xm), h12 = standard ? 0 : c * xm, h22 = c;
    var tr = h11 + h22, det = h11 * h22 - h12 * h12;
    self.hessian = [h11, h12, h22];
    self.lambdaMax = tr / 2 + Math.sqrt(Math.max(0, tr * tr / 4 - det));
    // the gradient in training coordinates, straight from the moments (never through (a, b), which loses
    // digits when x sits far from 0): over x_t = (x − μ)/σ, E x_t = 0, E x_t² = 1 and E x_t·(y − ȳ) = sxy/σ
    self.gradTrain = standard ? function (al, be) { return [c * (al - sxy / sigma), c * be]; } : self.grad;
    self.excessTrain = standard ? function (al, be) { var d = al - sxy / sigma; return c / 2 * (d * d + be * be); } : self.excess;
    // the box around the optimum that holds the contour through (a, b): its half-widths along a and b
    // (the Hessian over (a, b) is c·[[sxx + x̄², x̄], [x̄, 1]], of determinant c²·sxx; over (α, β) it is c·I)
    self.reach = function (a, b, overTraining) {
      if (!(sxx > 0)) { return null; }
      var delta = self.excess(a, b);
      if (overTraining) { return [Math.sqrt(2 * delta / c), Math.sqrt(2 * delta / c)]; }
      return [Math.sqrt(2 * delta / (c * sxx)), Math.sqrt(2 * delta * (sxx + xm * xm) / (c * sxx))];
    };
    return self;
  }

  // The page's own descent, in the run's training coordinates, as torch's optimizers do it:
  //   "momentum" (torch.optim.SGD; μ = 0 is plain gradient descent):  v ← μ·v + ∇L,  w ← w − γ·v
  //   "adam" (torch.optim.Adam):  m ← β₁·m + (1 − β₁)·∇L,  s ← β₂·s + (1 − β₂)·∇L²,
  //                               w ← w − (γ/(1 − β₁ᵗ))·m/(√s/√(1 − β₂ᵗ) + ε)
  // The gradient is linear in w and comes from the data's moments, so every step is exact arithmetic on
  // two numbers. It runs at least `least` steps, then stops once within `target` of the least-squares
  // loss, or at `most` steps. Each point of `path` is (a, b) before that step's update, as a record is.
  function descend(model, a0, b0, how, least, most, target) {
    var w = model.toTrain(a0, b0), v = [0, 0], s = [0, 0], path = [[a0, b0]], states = [null], diverged = null;
    var scale = 1e6 * (Math.abs(w[0]) + Math.abs(w[1]) + 1), lr = how.lr, betas = how.betas || [0, 0], b1 = betas[0], b2 = betas[1], eps = EPS;
    for (var k = 1; k < most; k++) {
      if (k >= least && target !== null && model.excessTrain(w[0], w[1]) <= target) { break; }
      var g = model.gradTrain(w[0], w[1]);
      if (how.kind === "adam") {
        v = [v[0] + (1 - b1) * (g[0] - v[0]), v[1] + (1 - b1) * (g[1] - v[1])];  // torch's lerp
        s = [s[0] * b2 + (1 - b2) * g[0] * g[0], s[1] * b2 + (1 - b2) * g[1] * g[1]];
        var size = lr / (1 - Math.pow(b1, k)), root = Math.sqrt(1 - Math.pow(b2, k));
        states.push({ t: k, g: g, m: v, s: s });
        w = [w[0] - size * (v[0] / (Math.sqrt(s[0]) / root + eps)), w[1] - size * (v[1] / (Math.sqrt(s[1]) / root + eps))];
      } else {
        v = [how.momentum * v[0] + g[0], how.momentum * v[1] + g[1]];
        states.push({ t: k, g: g, m: v });
        w = [w[0] - lr * v[0], w[1] - lr * v[1]];
      }
      if (!isFinite(w[0]) || !isFinite(w[1]) || Math.abs(w[0]) + Math.abs(w[1]) > scale) { diverged = k + 1; break; }
      path.push(model.toData(w[0], w[1]));
    }
    return { path: path, states: states, diverged: diverged, how: how };
  }

  // ---------- SVG ----------
  function el(tag, attrs, parent, text) {
    var node = document.createElementNS(SVGNS, tag);
    for (var key in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, key) && attrs[key] !== null && attrs[key] !== undefined) { node.setAttribute(key, attrs[key]); } }
    if (text !== undefined) { node.textContent = text; }
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function clear(svg) { while (svg.firstChild) { svg.removeChild(svg.firstChild); } }
  function ticks(lo, hi, count) {
    var span = hi - lo;
    if (!(span > 0)) { return [lo]; }
    var step = Math.pow(10, Math.floor(Math.log10(span / count)));
    var err = span / count / step;
    step *= err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) { out.push(Math.abs(t) < step * 1e-9 ? 0 : t); }
    return out;
  }
  // Tick labels that tell neighbours apart in a few characters: ticks at 1e9 + 2, 1e9 + 4, ... would need
  // ten digits each, so they are written as offsets (+2, +4) from a base named beside the axis's label.
  function tickOffset(list) {
    var plain = { label: function (t) { return fmt(t, 4); }, note: "" };
    if (list.length < 2) { return plain; }
    var top = Math.max(Math.abs(list[0]), Math.abs(list[list.length - 1])), step = Math.abs(list[1] - list[0]);
    var digits = Math.ceil(Math.log10(top / step) + 1e-9) + 1;
    if (digits <= 4) { return plain; }
    if (digits <= 6) { return { label: function (t) { return fmt(t, digits); }, note: "" }; }
    var base = list[Math.floor(list.length / 2)];
    return {
      label: function (t) { var d = t - base; return d === 0 ? "0" : (d > 0 ? "+" : "−") + fmt(Math.abs(d), 4); },
      note: " (ticks: offset from " + fmt(base, 15) + ")"
    };
  }
  // the values to the fewest significant digits (3 or more) that keep every label different
  function distinct(values) {
    for (var d = 3; d < 17; d++) {
      var labels = values.map(function (v) { return fmt(v, d); });
      if (labels.every(function (l, i) { return labels.indexOf(l) === i; })) { return labels; }
    }
    return labels;
  }
  function padded(lo, hi, fraction) {
    var span = hi - lo;
    if (!(span > 0)) { span = lo !== 0 && isFinite(lo) ? 0.2 * Math.abs(lo) : 1; }  // one value: a window around it
    return [lo - fraction * span, hi + fraction * span];
  }
  function extent(values) {
    var lo = Infinity, hi = -Infinity;
    values.forEach(function (v) { if (isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
    return [lo, hi];
  }
  // axes and a clip region; returns scale functions. logY: the y range is in log10 units
  function axes(svg, xr, yr, xlabel, ylabel, logY, id) {
    clear(svg);
    var pw = W - MARGIN.l - MARGIN.r, ph = H - MARGIN.t - MARGIN.b;
    // pixels, held within ±1e5: a point far outside the picture (a diverging path) stays a plain number
    var sx = function (v) { return bounded(MARGIN.l + (v - xr[0]) / (xr[1] - xr[0]) * pw); };
    var sy = function (v) { return bounded(MARGIN.t + ph - ((logY ? Math.log10(v) : v) - yr[0]) / (yr[1] - yr[0]) * ph); };
    var defs = el("defs", {}, svg);
    var clip = el("clipPath", { id: id + "-clip" }, defs);
    el("rect", { x: MARGIN.l, y: MARGIN.t, width: pw, height: ph }, clip);
    var grid = el("g", { "class": "grid" }, svg), axis = el("g", { "class": "axis" }, svg);
    var xt = ticks(xr[0], xr[1], 6), xo = tickOffset(xt);
    xt.forEach(function (t) {
      el("line", { x1: sx(t), x2: sx(t), y1: MARGIN.t, y2: MARGIN.t + ph }, grid);
      el("text", { x: sx(t), y: H - MARGIN.b + 14, "text-anchor": "middle" }, axis, xo.label(t));
    });
    var yt = logY ? ticks(Math.floor(yr[0]), Math.ceil(yr[1]), 6).filter(function (t) { return t === Math.round(t) && t >= yr[0] && t <= yr[1]; }) : ticks(yr[0], yr[1], 6);
    var decades = logY && yt.length >= 2;
    if (logY && !decades) { yt = ticks(yr[0], yr[1], 4); }  // less than a decade shown: ticks between powers of ten
    var yo = logY ? null : tickOffset(yt), yl = logY && !decades ? distinct(yt.map(function (t) { return Math.pow(10, t); })) : null;
    yt.forEach(function (t) {
      var y = logY ? sy(Math.pow(10, t)) : sy(t);  // (t is a power of ten's exponent on a log axis)
      el("line", { x1: MARGIN.l, x2: MARGIN.l + pw, y1: y, y2: y }, grid);
      el("text", { x: MARGIN.l - 5, y: y + 4, "text-anchor": "end" }, axis, decades ? "1e" + t : logY ? yl[yt.indexOf(t)] : yo.label(t));
    });
    el("rect", { x: MARGIN.l, y: MARGIN.t, width: pw, height: ph, fill: "none", stroke: "#9aa3b0" }, axis);
    el("text", { x: MARGIN.l + pw / 2, y: H - 6, "text-anchor": "middle" }, axis, xlabel + xo.note);
    el("text", { x: 14, y: MARGIN.t + ph / 2, "text-anchor": "middle", transform: "rotate(-90 14 " + (MARGIN.t + ph / 2) + ")" }, axis, ylabel + (yo ? yo.note : ""));
    var body = el("g", { "clip-path": "url(#" + id + "-clip)" }, svg);
    return { x: sx, y: sy, body: body, top: el("g", {}, svg) };
  }
  function bounded(px) { return Math.max(-1e5, Math.min(1e5, px)); }
  function points(scale, path) {
    return path.map(function (p) { return [scale.x(p[0]), scale.y(p[1])]; })
      .filter(function (q) { return isFinite(q[0]) && isFinite(q[1]); })
      .map(function (q) { return q[0].toFixed(2) + "," + q[1].toFixed(2); }).join(" ");
  }
  function legend(svg, entries, bottom, left) {
    var g = el("g", { "class": "legend" }, svg), box = null, widest = 0;
    entries.forEach(function (entry, i) {
      var y = bottom ? H - MARGIN.b - 8 - 14 * (entries.length - 1 - i) : MARGIN.t + 12 + 14 * i, x = left ? MARGIN.l + 8 : W - MARGIN.r - 190;
      if (i === 0) { box = el("rect", { x: x - 4, y: y - 13, width: 190, height: 14 * entries.length + 2, fill: "#fff", "fill-opacity": 0.8 }, g); }
      el("line", { x1: x, x2: x + 18, y1: y - 4, y2: y - 4, stroke: entry.colour, "stroke-width": 2, "stroke-dasharray": entry.dash || "" }, g);
      var text = el("text", { x: x + 22, y: y }, g, entry.text);
      try { widest = Math.max(widest, text.getComputedTextLength()); } catch (e) { /* not laid out: keep the width */ }
    });
    // a long entry (a number like 3.4481e-152) widens the box leftwards rather than running off the plot
    var width = Math.min(W - MARGIN.l, Math.max(190, widest + 30));
    if (box && width > 190) { box.setAttribute("width", width); if (!left) { g.setAttribute("transform", "translate(" + (190 - width).toFixed(1) + ",0)"); } }
  }

  // ---------- state ----------
  var models = RUNS.map(Model);
  var MODEL = models[0];
  var HISTORY = RUN.history;  // [step, loss, grad_a, grad_b, a, b]
  var LAST_STEP = HISTORY[HISTORY.length - 1][0];
  var stepInput = document.getElementById("step");
  var lrInput = document.getElementById("whatif-lr"), momentumInput = document.getElementById("whatif-momentum");
  var point = { x: RUN.graph.x, y: RUN.graph.y };
  var whatif = null;
  var CFG = RUN.config || {};
  var optimizerInput = document.getElementById("whatif-optimizer");
  var BETAS = CFG.betas && CFG.betas.length === 2 ? CFG.betas : [0.9, 0.999];
  var EPS = typeof CFG.adam_eps === "number" && CFG.adam_eps > 0 ? CFG.adam_eps : 1e-8;  // Adam's ε as the run used it
  // the learning-rate slider's top: 2.2 × 2/λ_max for gradient descent; for Adam, whose step is about γ
  // whatever the curvature, ten times the distance from the start to the optimum (in training coordinates)
  function lrTop() {
    if (optimizerInput.value !== "adam") { return 4.4 / MODEL.lambdaMax; }
    var first = HISTORY[0], w = MODEL.toTrain(first[4], first[5]), o = MODEL.optimum ? MODEL.toTrain(MODEL.optimum[0], MODEL.optimum[1]) : [0, 0];
    var top = 10 * Math.max(Math.abs(w[0] - o[0]), Math.abs(w[1] - o[1]), 1e-12);
    return CFG.optimizer === "adam" && CFG.lr ? Math.max(top, 2 * CFG.lr) : top;
  }
  var surfaceView = null, standardView = null;

  var exactLr = null, exactMomentum = null;  // the recorded settings themselves, until a slider is moved
  function lrFromSlider() { return exactLr !== null ? exactLr : lrTop() * Math.pow(10, -3 + 3 * lrInput.value / 1000); }
  function sliderFromLr(lr) { return Math.max(0, Math.min(1000, Math.round(1000 * (1 + Math.log10(lr / lrTop()) / 3)))); }
  function momentumFromSlider() { return exactMomentum !== null ? exactMomentum : momentumInput.value / 100; }
  function recordAt(index) { return HISTORY[index]; }
  function runPathUpTo(run, step) { return run.history.filter(function (r) { return r[0] <= step; }).map(function (r) { return [r[4], r[5]]; }); }

  // ---------- panels ----------
  function drawData(rec) {
    var svg = document.getElementById("data-plot"), s = RUN.samples, xs, ys;
    var model = MODEL;
    if (s && s.x.length) { xs = extent(s.x); ys = extent(s.y); }
    else { var sd = Math.sqrt(model.sxx); xs = [model.xm - 2.5 * sd, model.xm + 2.5 * sd]; ys = []; }
    var lines = [[rec[4], rec[5]]];
    if (RUN.ols) { lines.push([RUN.ols.a, RUN.ols.b]); }
    if (!ys.length) {
      var ends = [];
      lines.forEach(function (l) { ends.push(l[0] * xs[0] + l[1], l[0] * xs[1] + l[1]); });
      ys = extent(ends);
    }
    var xr = padded(xs[0], xs[1], 0.05), yr = padded(ys[0], ys[1], 0.08);
    var sc = axes(svg, xr, yr, "x" + (RUN.data.x && RUN.data.x !== "x" ? ": " + RUN.data.x : ""), "y" + (RUN.data.y && RUN.data.y !== "y" ? ": " + RUN.data.y : ""), false, "data");
    if (s && s.x.length) {
      var dots = el("g", { id: "scatter" }, sc.body);
      for (var i = 0; i < s.x.length; i++) {
        var chosen = s.x[i] === point.x && s.y[i] === point.y;
        el("circle", { cx: sc.x(s.x[i]).toFixed(1), cy: sc.y(s.y[i]).toFixed(1), r: chosen ? 4.5 : 2.6, "class": chosen ? "dot chosen" : "dot", "data-i": i }, dots);
      }
    }
    if (RUN.ols) { el("line", { x1: sc.x(xr[0]), x2: sc.x(xr[1]), y1: sc.y(RUN.ols.a * xr[0] + RUN.ols.b), y2: sc.y(RUN.ols.a * xr[1] + RUN.ols.b), "class": "line-ols" }, sc.body); }
    el("line", { x1: sc.x(xr[0]), x2: sc.x(xr[1]), y1: sc.y(rec[4] * xr[0] + rec[5]), y2: sc.y(rec[4] * xr[1] + rec[5]), "class": "line-fit", id: "fit-line" }, sc.body);
    var entries = [{ colour: "#1f6fd1", text: "step " + rec[0] + ": " + equation(rec[4], rec[5]) }];
    if (RUN.ols) { entries.push({ colour: "#e08a00", dash: "6 4", text: "least squares: " + equation(RUN.ols.a, RUN.ols.b) }); }
    legend(svg, entries, true);
  }

  function contourLevels(model, corners) {
    if (model.lstar === null) { return []; }
    var top = 0;
    corners.forEach(function (p) { top = Math.max(top, model.loss(p[0], p[1]) - model.lstar); });
    var levels = [];
    for (var k = 0; k < 16 && top > 0; k++) { levels.push(top * Math.pow(0.42, k)); }
    return levels;
  }
  // the ellipse ½·dᵀHd = Δ around the optimum, H the Hessian over (a, b) — or over (α, β), where it is c·I
  function ellipse(model, delta, standard) {
    var h11, h12, h22, centre;
    if (standard) { h11 = model.c; h12 = 0; h22 = model.c; var o = model.toTrain(model.optimum[0], model.optimum[1]); centre = o; }
    else { h11 = model.c * (model.sxx + model.xm * model.xm); h12 = model.c * model.xm; h22 = model.c; centre = model.optimum; }
    var tr = h11 + h22, det = h11 * h22 - h12 * h12, disc = Math.sqrt(Math.max(0, tr * tr / 4 - det));
    var l1 = tr / 2 + disc, l2 = Math.max(tr / 2 - disc, 1e-300);
    var angle = Math.abs(h12) > 0 ? Math.atan2(l1 - h11, h12) : (h11 >= h22 ? 0 : Math.PI / 2);
    var r1 = Math.sqrt(2 * delta / l1), r2 = Math.sqrt(2 * delta / l2), out = [];
    for (var i = 0; i <= 96; i++) {
      var t = 2 * Math.PI * i / 96, u = r1 * Math.cos(t), v = r2 * Math.sin(t);
      out.push([centre[0] + u * Math.cos(angle) - v * Math.sin(angle), centre[1] + u * Math.sin(angle) + v * Math.cos(angle)]);
    }
    return out;
  }
  // the box that holds the paths and the optimum; `reach` (the half-widths of the contour through the start)
  // widens an axis the paths do not move along at all (b constant all the way), in the bowl's own proportions
  function viewOf(paths, extra, reach) {
    var as = [], bs = [];
    paths.forEach(function (path) { path.forEach(function (p) { as.push(p[0]); bs.push(p[1]); }); });
    extra.forEach(function (p) { as.push(p[0]); bs.push(p[1]); });
    var e = [extent(as), extent(bs)];
    if (reach && reach[0] > 0 && reach[1] > 0 && isFinite(reach[0]) && isFinite(reach[1])) {
      var spans = e.map(function (r) { return r[1] - r[0]; });
      var still = e.map(function (r, i) { return !(spans[i] > 1e-9 * Math.max(Math.abs(r[0]), Math.abs(r[1]))); });
      e = e.map(function (r, i) {
        if (!still[i]) { return r; }
        var other = 1 - i, wanted = still[other] ? reach[i] : 0.5 * spans[other] * reach[i] / reach[other], mid = (r[0] + r[1]) / 2;
        return [mid - wanted / 2, mid + wanted / 2];
      });
    }
    return [padded(e[0][0], e[0][1], 0.15), padded(e[1][0], e[1][1], 0.15)];
  }

  function equalAspect(view) {
    var pw = W - MARGIN.l - MARGIN.r, ph = H - MARGIN.t - MARGIN.b;
    var per = Math.max((view[0][1] - view[0][0]) / pw, (view[1][1] - view[1][0]) / ph);
    var ca = (view[0][0] + view[0][1]) / 2, cb = (view[1][0] + view[1][1]) / 2;
    return [[ca - per * pw / 2, ca + per * pw / 2], [cb - per * ph / 2, cb + per * ph / 2]];
  }
  function drawSurface(svgId, rec, standard) {
    var model = MODEL, svg = document.getElementById(svgId);
    var map = standard ? function (p) { return model.toTrain(p[0], p[1]); } : function (p) { return p; };
    var recorded = RUNS.map(function (run) { return run.history.map(function (r) { return map([r[4], r[5]]); }); });
    var optimum = model.optimum ? map(model.optimum) : null;
    var view = standard ? standardView : surfaceView;
    if (!view) {
      view = viewOf(recorded, optimum ? [optimum] : [], model.reach(HISTORY[0][4], HISTORY[0][5], standard));
      if (standard) { view = equalAspect(view); }  // one unit is as long on both axes: the bowl looks round
      if (standard) { standardView = view; } else { surfaceView = view; }
    }
    var sc = axes(svg, view[0], view[1], standard ? "α = a·σ" : "a (slope)", standard ? "β = b + a·μ − ȳ" : "b (intercept)", false, svgId);
    var corners = [[view[0][0], view[1][0]], [view[0][0], view[1][1]], [view[0][1], view[1][0]], [view[0][1], view[1][1]]];
    var dataCorners = standard ? corners.map(function (p) { return model.toData(p[0], p[1]); }) : corners;
    contourLevels(model, dataCorners).forEach(function (delta) {
      el("polyline", { points: points(sc, ellipse(model, delta, standard)), "class": "contour" }, sc.body);
    });
    if (whatif) {
      el("polyline", { points: points(sc, whatif.path.map(map)), "class": "path-whatif", id: standard ? "whatif-path-standard" : "whatif-path" }, sc.body);
      var wi = Math.min(whatif.path.length - 1, rec[0] - 1);
      var wp = map(whatif.path[wi]);
      if (isFinite(wp[0]) && isFinite(wp[1])) { el("circle", { cx: sc.x(wp[0]), cy: sc.y(wp[1]), r: 4, fill: "#7b3fc4", "class": "now" }, sc.body); }
    }
    RUNS.forEach(function (run, k) {
      var path = recorded[k], colour = COLOURS[k % COLOURS.length];
      el("polyline", { points: points(sc, path), "class": "path-run", stroke: colour, style: "stroke:" + colour, id: k === 0 ? svgId + "-path" : null }, sc.body);
      path.forEach(function (p, i) { if (i < 400) { el("circle", { cx: sc.x(p[0]).toFixed(1), cy: sc.y(p[1]).toFixed(1), r: 1.8, fill: colour }, sc.body); } });
      el("rect", { x: sc.x(path[0][0]) - 4, y: sc.y(path[0][1]) - 4, width: 8, height: 8, fill: colour }, sc.body);
      var upto = runPathUpTo(run, rec[0]).map(map);
      if (upto.length) {
        var p = upto[upto.length - 1];
        el("circle", { cx: sc.x(p[0]), cy: sc.y(p[1]), r: 6, fill: colour, "class": "now", id: k === 0 ? svgId + "-now" : null }, sc.top);
      }
    });
    if (optimum) {
      el("path", { d: star(sc.x(optimum[0]), sc.y(optimum[1]), 9), fill: "#e08a00", stroke: "#333", "stroke-width": 0.8 }, sc.top);
    }
    var entries = RUNS.map(function (run, k) { return { colour: COLOURS[k % COLOURS.length], text: (RUNS.length > 1 ? run.label : "recorded (autograd)") }; });
    entries.push({ colour: "#7b3fc4", dash: "5 3", text: "what-if (computed in page)" });
    legend(svg, entries, true);
  }
  function star(cx, cy, r) {
    var d = "";
    for (var i = 0; i < 10; i++) {
      var rr = i % 2 ? r * 0.45 : r, t = Math.PI / 2 + i * Math.PI / 5;
      d += (i ? "L" : "M") + (cx + rr * Math.cos(t)).toFixed(1) + "," + (cy - rr * Math.sin(t)).toFixed(1);
    }
    return d + "Z";
  }

  function drawLoss(rec) {
    var svg = document.getElementById("loss-plot"), lstar = MODEL.lstar;
    var series = [], values = [];
    RUNS.forEach(function (run, k) {
      var loss = run.history.map(function (r) { return [r[0], r[1]]; });
      series.push({ pts: loss, colour: COLOURS[k % COLOURS.length], dash: "", label: (RUNS.length > 1 ? run.label + ": " : "") + "loss" });
      if (lstar !== null && k === 0) {
        // L(a, b) − L* from the moments at autograd's (a, b): exact to the digits of a and b, where the
        // difference of two nearly equal losses would be rounding noise (and, with mini-batches, a batch's)
        var excess = run.history.map(function (r) { return [r[0], MODEL.excess(r[4], r[5])]; });
        series.push({ pts: excess, colour: COLOURS[0], dash: "4 3", label: "loss − least-squares loss" });
      }
    });
    series.forEach(function (s) { s.pts.forEach(function (p) { if (p[1] > 0) { values.push(p[1]); } }); });
    var ev = extent(values.map(function (v) { return Math.log10(v); }));
    if (!isFinite(ev[0])) { ev = [-1, 1]; }
    var yr = padded(ev[0], ev[1], 0.05);
    // the steps axis runs to the longest run's last step, or further when the what-if needs longer
    var wl = whatif && lstar !== null ? whatif.path.map(function (p, i) { return [i + 1, MODEL.excess(p[0], p[1])]; }) : null;
    var lastShown = Math.max(wl ? wl.length : 0, Math.max.apply(null, RUNS.map(function (run) { return run.history[run.history.length - 1][0]; })));
    var sc = axes(svg, [0, Math.max(2, lastShown + 0.5)], yr, "step", "loss (log scale)", true, "loss");
    if (wl) { series.push({ pts: wl, colour: "#7b3fc4", dash: "5 3", label: "what-if: loss − least-squares loss" }); }
    series.forEach(function (s) {
      var segment = [];
      var flush = function () { if (segment.length) { el("polyline", { points: segment.join(" "), fill: "none", stroke: s.colour, "stroke-width": 1.6, "stroke-dasharray": s.dash }, sc.body); } segment = []; };
      s.pts.forEach(function (p) {
        if (p[1] > 0 && isFinite(p[1])) { segment.push(sc.x(p[0]).toFixed(2) + "," + Math.max(-1e4, sc.y(p[1])).toFixed(2)); } else { flush(); }
      });
      flush();
    });
    el("line", { x1: sc.x(rec[0]), x2: sc.x(rec[0]), y1: MARGIN.t, y2: H - MARGIN.b, stroke: "#1f6fd1", "stroke-width": 1, id: "loss-marker" }, sc.top);
    if (rec[1] > 0) { el("circle", { cx: sc.x(rec[0]), cy: sc.y(rec[1]), r: 5, fill: "#1f6fd1", "class": "now" }, sc.top); }
    legend(svg, series.map(function (s) { return { colour: s.colour, dash: s.dash, text: s.label }; }), true, true);  // bottom left: where falling curves are not
    document.getElementById("loss-note").textContent = lstar === null ? "" :
      "least-squares loss " + fmt(lstar, 8) + "; at step " + rec[0] + " the loss over every row exceeds it by " + fmt(MODEL.excess(rec[4], rec[5]), 6) + " (from the moments).";
  }

  // ---------- the step's numbers ----------
  function readout(index) {
    var rec = recordAt(index), next = index + 1 < HISTORY.length ? HISTORY[index + 1] : null, m = MODEL, cfg = RUN.config || {};
    var hand = m.grad(rec[4], rec[5]), lossFormula = RUN.loss.formula;
    var lines = [];
    lines.push("step " + rec[0] + " of " + LAST_STEP + "   (recorded: the loss and gradient autograd computed at (a, b), before this step's update)");
    lines.push("a = " + fmt(rec[4], 10) + "   b = " + fmt(rec[5], 10));
    lines.push("loss L = " + lossFormula + " = " + fmt(rec[1], 10) + "      from the moments: " + fmt(m.loss(rec[4], rec[5]), 10));
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
    lines.push("");
    var lr = cfg.lr, optimizer = cfg.optimizer || "sgd";
    if (m.standard) {
      var w = m.toTrain(rec[4], rec[5]), ga = (rec[2] - m.mu * rec[3]) / m.sigma, gb = rec[3];
      lines.push("autograd trains the standardised (α, β): μ = " + fmt(m.mu, 8) + ", σ = " + fmt(m.sigma, 8) + ", ȳ = " + fmt(m.shift, 8));
      lines.push("α = a·σ = " + fmt(w[0], 10) + "   β = b + a·μ − ȳ = " + fmt(w[1], 10) + blur(w[1], [rec[5], rec[4] * m.mu, m.shift]));
      lines.push("dL/dα = (dL/da − μ·dL/db)/σ = " + fmt(ga, 10) + blur(ga, [rec[2] / m.sigma, m.mu * rec[3] / m.sigma]) + "   dL/dβ = dL/db = " + fmt(gb, 10));
      update(lines, optimizer, lr, cfg.momentum, ["α", "β"], w, [ga, gb], next, rec, function (v) { return m.toData(v[0], v[1]); }, next ? m.toTrain(next[4], next[5]) : null);
    } else {
      update(lines, optimizer, lr, cfg.momentum, ["a", "b"], [rec[4], rec[5]], [rec[2], rec[3]], next, rec, null, next ? [next[4], next[5]] : null);
    }
    document.getElementById("step-readout").textContent = lines.join("\n");
  }
  // "  (± e)" when the difference of large terms leaves a value few true digits: x far from 0 does that,
  // going back from the data's units to the standardised ones
  function blur(value, terms) {
    var spread = 0;
    terms.forEach(function (t) { spread += Math.abs(t); });
    var err = 4 * 2.220446049250313e-16 * spread;
    return err > 1e-6 * Math.abs(value) ? "  (± " + fmt(err, 2) + ": x is far from 0 for its spread, and these digits are lost going back from a, b)" : "";
  }
  function pad(s, width) { while (s.length < width) { s += " "; } return s; }
  // Adam's moments are torch's private state: the page replays them from the moments at the recorded
  // settings (full-batch runs only, where each step's gradient is the one the moments give)
  var ADAM_REPLAY = null;
  function adamState(step) {
    var cfg = RUN.config || {};
    if (cfg.optimizer !== "adam" || RUN.minibatch) { return null; }
    if (!ADAM_REPLAY) { ADAM_REPLAY = descend(MODEL, HISTORY[0][4], HISTORY[0][5], { kind: "adam", lr: cfg.lr, betas: BETAS }, LAST_STEP + 1, LAST_STEP + 1, null); }
    return step < ADAM_REPLAY.states.length ? ADAM_REPLAY.states[step] : null;
  }
  function update(lines, optimizer, lr, momentum, names, w, g, next, rec, back, wNext) {
    var consecutive = next && next[0] === rec[0] + 1;
    if (optimizer === "sgd") {
      var w1 = [w[0] - lr * g[0], w[1] - lr * g[1]];
      lines.push("update w ← w − γ·∇L, γ = " + fmt(lr, 8) + ":");
      lines.push(names[0] + " ← " + fmt(w[0], 10) + " − " + fmt(lr, 8) + "·" + paren(fmt(g[0], 10)) + " = " + fmt(w1[0], 10));
      lines.push(names[1] + " ← " + fmt(w[1], 10) + " − " + fmt(lr, 8) + "·" + paren(fmt(g[1], 10)) + " = " + fmt(w1[1], 10));
      if (back) { var ab = back(w1); lines.push("back in the data's units: a = α/σ = " + fmt(ab[0], 10) + "   b = ȳ + β − α·μ/σ = " + fmt(ab[1], 10)); }
    } else if (optimizer === "momentum") {
      lines.push("update (torch.optim.SGD, momentum μ = " + fmt(momentum, 6) + "): v ← μ·v + ∇L,  w ← w − γ·v, γ = " + fmt(lr, 8));
      if (consecutive) {
        var v = [(w[0] - wNext[0]) / lr, (w[1] - wNext[1]) / lr];
        lines.push("v = (w − w_next)/γ = (" + fmt(v[0], 10) + ", " + fmt(v[1], 10) + ")");
        lines.push(names[0] + " ← " + fmt(w[0], 10) + " − " + fmt(lr, 8) + "·" + paren(fmt(v[0], 10)) + " = " + fmt(wNext[0], 10));
        lines.push(names[1] + " ← " + fmt(w[1], 10) + " − " + fmt(lr, 8) + "·" + paren(fmt(v[1], 10)) + " = " + fmt(wNext[1], 10));
      } else { lines.push("(the velocity v is torch's state; the next recorded step is not the next step)"); }
    } else {
      var b1 = BETAS[0], b2 = BETAS[1], st = adamState(rec[0]);
      lines.push("update (torch.optim.Adam, γ = " + fmt(lr, 8) + ", β₁ = " + fmt(b1, 6) + ", β₂ = " + fmt(b2, 6) + ", ε = " + fmt(EPS, 6) + "): m ← β₁·m + (1 − β₁)·∇L, s ← β₂·s + (1 − β₂)·∇L², w ← w − γ·m̂/(√ŝ + ε)");
      if (st) {
        var c1 = 1 - Math.pow(b1, st.t), c2 = 1 - Math.pow(b2, st.t);
        lines.push("m and s are torch's private state; the page replays them from the moments (∇L here = (" + fmt(st.g[0], 10) + ", " + fmt(st.g[1], 10) + ")):");
        lines.push("m = (" + fmt(st.m[0], 10) + ", " + fmt(st.m[1], 10) + ")   s = (" + fmt(st.s[0], 10) + ", " + fmt(st.s[1], 10) + ")   m̂ = m/(1 − β₁^" + st.t + "), ŝ = s/(1 − β₂^" + st.t + ")");
        var moved = [0, 1].map(function (i) {
          var mh = st.m[i] / c1, sh = st.s[i] / c2, after = w[i] - lr * mh / (Math.sqrt(sh) + EPS);
          lines.push(names[i] + " ← " + fmt(w[i], 10) + " − " + fmt(lr, 8) + "·" + paren(fmt(mh, 10)) + "/(√" + fmt(sh, 10) + " + ε) = " + fmt(after, 10));
          return after;
        });
        if (back) { var back1 = back(moved); lines.push("back in the data's units: a = α/σ = " + fmt(back1[0], 10) + "   b = ȳ + β − α·μ/σ = " + fmt(back1[1], 10)); }
      } else if (RUN.minibatch) { lines.push("(m and s follow the mini-batches' gradients, which the page does not have)"); }
    }
    if (next) { lines.push("next recorded step " + next[0] + ": a = " + fmt(next[4], 10) + "   b = " + fmt(next[5], 10)); }
    else { lines.push("this is the last recorded step: " + (RUN.result.stop_reason || "") + "; final a = " + fmt(RUN.result.a, 10) + ", b = " + fmt(RUN.result.b, 10)); }
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
        default: node.v = null; unknown.push(node.name);
      }
    }
    function backward(node, g) {
      node.g = g;
      var ins = node.inputs || [];
      ins.forEach(function (child) {
        var cg = null;
        switch (node.name) {
          case "MulBackward0": cg = node.factor * g; break;
          case "PowBackward0": cg = 2 * child.v * g; break;
          case "AddBackward0": case "SubBackward0": case "MeanBackward0": case "SumBackward0": cg = g; break;
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

  function drawGraph(rec) {
    var svg = document.getElementById("graph"), tree = copyTree(RUN.graph.tree), scale = RUN.loss.scale;
    var unknown = evaluateGraph(tree, rec[4], rec[5], point.x, point.y, scale);
    clear(svg);
    var defs = el("defs", {}, svg), marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, defs);
    el("path", { d: "M0,0L10,5L0,10Z", fill: "#8794ad" }, marker);
    var nodes = flatten(tree, []), depth = 0, rows = 0, NW = 136, NH = 58, GAP = 12;
    (function place(node, d) { node.depth = d; depth = Math.max(depth, d); (node.inputs || []).forEach(function (c) { place(c, d + 1); }); })(tree, 0);
    (function row(node) {
      if (!(node.inputs || []).length) { node.row = rows++; return; }
      node.inputs.forEach(row);
      node.row = node.inputs.reduce(function (s, c) { return s + c.row; }, 0) / node.inputs.length;
    })(tree);
    var height = Math.max(2, rows) * (NH + 30) + 60;
    svg.setAttribute("viewBox", "0 0 " + ((depth + 1) * (NW + GAP) + 10) + " " + height);
    nodes.forEach(function (node) { node.px = 6 + (depth - node.depth) * (NW + GAP); node.py = 40 + node.row * (NH + 30); });
    nodes.forEach(function (node) {
      (node.inputs || []).forEach(function (c) {
        el("path", { d: "M" + (c.px + NW) + "," + (c.py + NH / 2) + " C" + (c.px + NW + GAP) + "," + (c.py + NH / 2) + " " + (node.px - GAP) + "," + (node.py + NH / 2) + " " + node.px + "," + (node.py + NH / 2), "class": "edge" }, svg);
      });
    });
    nodes.forEach(function (node) {
      var g = el("g", { "class": "node" + (node.variable ? " leaf" : ""), "data-name": node.name, "data-value": node.v, "data-grad": node.g, transform: "translate(" + node.px + "," + node.py + ")" }, svg);
      el("rect", { width: NW, height: NH, rx: node.variable ? 14 : 4 }, g);
      el("text", { x: 6, y: 15 }, g, node.variable ? node.variable + " " + node.name : node.name);
      el("text", { x: 6, y: 32 }, g, "value " + fmt(node.v, 7));
      el("text", { x: 6, y: 48 }, g, "grad  " + fmt(node.g, 7));
      el("text", { x: NW / 2, y: -6, "text-anchor": "middle", fill: "#5b6575" }, g, node.op || "");
    });
    var note = "At step " + rec[0] + " (a = " + fmt(rec[4], 8) + ", b = " + fmt(rec[5], 8) + ") for the point (x, y) = (" + fmt(point.x, 8) + ", " + fmt(point.y, 8) + "): the gradients reaching a and b are this point's share of dL/da, dL/db.";
    var torchTree = RUN.graph.tree, torchNodes = flatten(torchTree, []);
    if (rec[4] === RUN.graph.a && rec[5] === RUN.graph.b && point.x === RUN.graph.x && point.y === RUN.graph.y) {
      var worst = 0;
      torchNodes.forEach(function (t, i) {
        [[t.value, nodes[i].v], [t.grad, nodes[i].g]].forEach(function (pair) { if (pair[0] !== null) { worst = Math.max(worst, Math.abs(pair[0] - pair[1]) / Math.max(1, Math.abs(pair[0]))); } });
      });
      note += " Here autograd itself recorded the graph: the page's values agree with it to " + fmt(worst, 2) + " (relative).";
    }
    if (unknown.length) { note += " Nodes this page cannot evaluate: " + unknown.join(", ") + "."; }
    document.getElementById("graph-note").textContent = note;
  }

  // ---------- what if ----------
  function whatIfTarget() {
    // as close to the least-squares loss as the recorded run ended (or a hair closer than rounding allows)
    if (MODEL.lstar === null) { return null; }
    var r = RUN.result, first = HISTORY[0];
    var end = isFinite(r.a) && isFinite(r.b) ? MODEL.excess(r.a, r.b) : 0;
    return Math.max(end, 1e-30 * MODEL.excess(first[4], first[5]), 1e-300);
  }
  function computeWhatIf() {
    var lr = lrFromSlider(), momentum = momentumFromSlider(), first = HISTORY[0], adam = optimizerInput.value === "adam";
    var how = adam ? { kind: "adam", lr: lr, betas: [momentum, BETAS[1]] } : { kind: "momentum", lr: lr, momentum: momentum };
    whatif = descend(MODEL, first[4], first[5], how, Math.max(LAST_STEP, 2), 5000, whatIfTarget());
    document.getElementById("whatif-lr-value").textContent = "γ = " + fmt(lr, 6);
    document.getElementById("whatif-momentum-label").textContent = adam ? "β₁ (Adam's momentum)" : "momentum μ";
    document.getElementById("whatif-momentum-value").textContent = (adam ? "β₁ = " : "μ = ") + fmt(momentum, 3) + (adam ? ", β₂ = " + fmt(BETAS[1], 6) : "");
    var box = document.getElementById("whatif-readout");
    box.textContent = "λ_max of the loss's Hessian (in the coordinates autograd trains) = " + fmt(MODEL.lambdaMax, 6) + "; ";
    var bound = 2 * (1 + momentum) / MODEL.lambdaMax;
    if (adam) {
      box.textContent += "Adam divides each coordinate's step by the root mean square of its recent gradients, so a step moves about γ whatever the curvature: " +
        "there is no 2/λ_max bound, and a large γ leaves it wandering about the optimum at a distance of the order of γ rather than diverging. ";
    } else {
      box.textContent += "plain gradient descent is stable for γ < 2/λ_max = " + fmt(2 / MODEL.lambdaMax, 6) +
        (momentum > 0 ? ", with momentum μ for γ < 2(1 + μ)/λ_max = " + fmt(bound, 6) : "") + ". ";
    }
    if (RUN.minibatch) { box.textContent += "The recorded run took mini-batches" + (RUN.batch_size ? " of " + RUN.batch_size + " rows" : "") + "; the what-if uses every row at each step. "; }
    box.setAttribute("data-at-last-step", JSON.stringify(whatif.path[Math.min(LAST_STEP, whatif.path.length) - 1]));
    var status = document.createElement("span");
    if (whatif.diverged || (!adam && lr >= bound)) {
      status.className = "unstable";
      status.textContent = "γ = " + fmt(lr, 6) + " is past the bound: the what-if path diverges, each step overshooting the optimum by more than the last" +
        (whatif.diverged ? " (it leaves the picture for good by step " + whatif.diverged + ")." : ".");
    }
    else {
      var end = whatif.path[whatif.path.length - 1], steps = whatif.path.length;
      var close = MODEL.lstar !== null && MODEL.excess(end[0], end[1]) <= whatIfTarget() * (1 + 1e-9);
      status.textContent = "At step " + steps + " the what-if path is at a = " + fmt(end[0], 8) + ", b = " + fmt(end[1], 8) +
        (MODEL.lstar !== null ? " (loss above least squares by " + fmt(MODEL.excess(end[0], end[1]), 4) + ")" : "") +
        (MODEL.lstar === null ? "." : close ? ": as close as the recorded run ended." : steps >= 5000 ? ": not yet as close as the recorded run ended, after 5000 steps." : ".");
    }
    box.appendChild(status);
  }

  function summary() {
    var table = document.getElementById("summary"), r = RUN.result, st = RUN.stats || {}, d = RUN.data || {};
    var rows = [
      ["a (gradient descent)", fmt(r.a, 12) + (RUN.ols ? "   least squares " + fmt(RUN.ols.a, 12) + "   relative gap " + fmt(RUN.gap.a, 2) : "")],
      ["b (gradient descent)", fmt(r.b, 12) + (RUN.ols ? "   least squares " + fmt(RUN.ols.b, 12) + "   relative gap " + fmt(RUN.gap.b, 2) : "")],
      ["loss", RUN.loss.name + " = " + fmt(r.loss, 10)],
      ["outcome", (r.stop_reason || "") + " at step " + r.steps + (r.wall_time_s !== undefined && r.wall_time_s !== null ? " in " + fmt(r.wall_time_s * 1000, 3) + " ms" : "")],
      ["R², residual sd", fmt(st.r2, 6) + ", " + fmt(st.residual_sd, 6)],
      ["standard errors", "a " + fmt(st.se_a, 6) + ", b " + fmt(st.se_b, 6) + ", corr(a, b) " + fmt(st.corr_ab, 3)],
      ["95% intervals", st.ci_a ? "a [" + fmt(st.ci_a[0], 6) + ", " + fmt(st.ci_a[1], 6) + "], b [" + fmt(st.ci_b[0], 6) + ", " + fmt(st.ci_b[1], 6) + "]" : "–"],
      ["start", RUN.init ? RUN.init.method + ": a = " + fmt(RUN.init.a, 8) + ", b = " + fmt(RUN.init.b, 8) : "–"],
      ["data", (d.source || "?") + ": " + d.rows + " rows, x = '" + d.x + "', y = '" + d.y + "'"],
      ["SHA-256", d.sha256 || "not recorded"],
      ["steps shown", HISTORY.length + " of " + RUN.logged + " logged steps"],
      ["configuration", Object.keys(RUN.config || {}).map(function (k) { return k + " = " + JSON.stringify(RUN.config[k]); }).join(", ")]
    ];
    RUNS.slice(1).forEach(function (run, k) { rows.push(["compared run " + (k + 2), run.label + ": a = " + fmt(run.result.a, 10) + ", b = " + fmt(run.result.b, 10) + ", " + run.result.stop_reason + " at step " + run.result.steps]); });
    rows.forEach(function (row) {
      var tr = document.createElement("tr"), th = document.createElement("th"), td = document.createElement("td");
      th.textContent = row[0]; td.textContent = row[1]; tr.appendChild(th); tr.appendChild(td); table.appendChild(tr);
    });
  }

  // ---------- wiring ----------
  function show() {
    var index = Number(stepInput.value), rec = recordAt(index);
    document.getElementById("step-label").textContent = "step " + rec[0] + " of " + LAST_STEP + "  (" + (index + 1) + "/" + HISTORY.length + " recorded)";
    drawData(rec);
    drawSurface("surface-plot", rec, false);
    if (MODEL.standard && MODEL.optimum) { drawSurface("standard-plot", rec, true); }
    drawLoss(rec);
    readout(index);
    drawGraph(rec);
  }
  function go(index) { stepInput.value = String(Math.max(0, Math.min(HISTORY.length - 1, index))); show(); }
  var timer = null, playButton = document.getElementById("play");
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

  stepInput.max = String(HISTORY.length - 1);
  stepInput.value = "0";
  stepInput.addEventListener("input", show);
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
  var recordedMomentum = CFG.optimizer === "momentum" ? CFG.momentum : CFG.optimizer === "adam" ? BETAS[0] : 0;
  function resetWhatIf() {
    optimizerInput.value = CFG.optimizer === "adam" ? "adam" : "momentum";
    exactLr = CFG.lr ? CFG.lr : 1 / MODEL.lambdaMax;
    exactMomentum = recordedMomentum;
    lrInput.value = String(sliderFromLr(exactLr));
    momentumInput.value = String(Math.round(recordedMomentum * 100));
    computeWhatIf();
    show();
  }
  lrInput.addEventListener("input", function () { exactLr = null; computeWhatIf(); show(); });
  momentumInput.addEventListener("input", function () { exactMomentum = null; computeWhatIf(); show(); });
  optimizerInput.addEventListener("change", function () {
    var lr = whatif.how.lr;  // the same rate, on the other optimizer's scale
    exactLr = lr;
    exactMomentum = null;
    if (optimizerInput.value === "adam") { momentumInput.value = String(Math.round(BETAS[0] * 100)); }
    lrInput.value = String(sliderFromLr(lr));
    computeWhatIf();
    show();
  });
  document.getElementById("whatif-reset").addEventListener("click", resetWhatIf);
  var px = document.getElementById("point-x"), py = document.getElementById("point-y");
  px.value = String(point.x); py.value = String(point.y);
  function pointChanged() {
    var x = Number(px.value), y = Number(py.value);
    if (px.value !== "" && py.value !== "" && isFinite(x) && isFinite(y)) { point = { x: x, y: y }; show(); }
  }
  px.addEventListener("input", pointChanged);
  py.addEventListener("input", pointChanged);
  document.getElementById("data-plot").addEventListener("click", function (event) {
    var i = event.target && event.target.getAttribute ? event.target.getAttribute("data-i") : null;
    if (i === null || !RUN.samples) { return; }
    point = { x: RUN.samples.x[Number(i)], y: RUN.samples.y[Number(i)] };
    px.value = String(point.x); py.value = String(point.y);
    show();
  });

  var s = RUN.samples, d = RUN.data || {};
  document.getElementById("subtitle").textContent = (d.source || "data") + ", " + d.rows + " rows · " + RUN.label + " · " + RUN.loss.formula +
    (MODEL.standard ? " · standardised" : " · raw x") + (RUNS.length > 1 ? " · " + RUNS.length + " runs compared" : "");
  document.getElementById("data-note").textContent = s && s.x.length ? "Points: " + s.how + " (" + s.x.length + " of " + s.of + " rows shown; the fit used every row). Click one to see its graph." : "No rows were kept for the scatter (the run was read from a saved stream, or streamed without a sample); the lines are drawn over x̄ ± 2.5·sd(x).";
  document.getElementById("surface-note").textContent = (MODEL.optimum ? "Contours of the loss, from the data's moments (the loss is quadratic); ★ the least-squares optimum, ■ the start." : "The data determine no unique line: no optimum to draw.") +
    (MODEL.standard ? "" : " Without standardisation the bowl is as elongated as x is far from 0 relative to its spread.");
  if (!(MODEL.standard && MODEL.optimum)) { document.getElementById("standard-panel").style.display = "none"; }
  summary();
  resetWhatIf();
}());
