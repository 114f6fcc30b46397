/* linfit report, pure part 2: the loss surface's maths. No DOM here.

   The squared losses are quadratic in (a, b), so the data's moments (n, x̄, ȳ and the centred sums) give
   the loss, its gradient and its optimum anywhere. The Hessian and λ_max come computed from Python in the
   payload (run.curvature); nothing here derives them again. Other losses (huber, absolute, quantile) are
   not quadratic: their surface is the loss itself over the rows the page holds (`robust`). */
(function (root) {
  "use strict";
  var L = root.LINFIT || (root.LINFIT = {});
  var ROBUST = { huber: true, absolute: true, quantile: true };

  function isRobust(run) { return !!(run.loss && ROBUST[run.loss.name]); }

  // the model of one run's loss: loss, gradient, excess over the optimum, changes of coordinates
  function model(run) {
    var m = run.moments, n = m.n, curv = run.curvature || {};
    var c = curv.c || 2 * run.loss.scale * (run.loss.reduction === "sum" ? n : 1);
    var sxx = m.sxx / n, sxy = m.sxy / n, syy = m.syy / n, xm = m.x_mean, ym = m.y_mean;
    var standard = !!(run.config && run.config.standardize !== false) && m.sxx > 0;
    var sigma = standard ? Math.sqrt(sxx) : 1, mean = standard ? xm : 0, shift = standard ? ym : 0;
    var self = {
      c: c, n: n, standard: standard, sigma: sigma, mean: mean, shift: shift, xm: xm, ym: ym, sxx: sxx, sxy: sxy,
      robust: false,
      hessian: curv.hessian || null,
      lambdaMax: curv.lambda_max,
      eigenvalues: curv.eigenvalues || null,
      eigenvectors: curv.eigenvectors || null,
      dataCurvature: curv.data || null,
      toTrain: function (a, b) { return [a * sigma, b + a * mean - shift]; },
      toData: function (al, be) { return [al / sigma, shift + be - al * mean / sigma]; },
      loss: function (a, b) { var e0 = a * xm + b - ym; return c / 2 * (a * a * sxx - 2 * a * sxy + syy + e0 * e0); },
      grad: function (a, b) { var e0 = a * xm + b - ym; return [c * (a * sxx - sxy + xm * e0), c * e0]; },
      lstar: sxx > 0 ? c / 2 * (syy - sxy * sxy / sxx) : null,
      optimum: sxx > 0 ? [sxy / sxx, ym - sxy / sxx * xm] : null,
      // L − L* = c/2·(sxx·(a − a*)² + mean(r)²): no cancellation against L*, so it reads right down to tiny gaps
      excess: function (a, b) { var e0 = a * xm + b - ym, d = a - sxy / sxx; return c / 2 * (sxx * d * d + e0 * e0); }
    };
    // the gradient in training coordinates, straight from the moments (never through (a, b), which loses
    // digits when x sits far from 0): over x_t = (x − x̄)/σ, E x_t = 0, E x_t² = 1 and E x_t·(y − ȳ) = sxy/σ
    self.gradTrain = standard ? function (al, be) { return [c * (al - sxy / sigma), c * be]; } : self.grad;
    self.excessTrain = standard ? function (al, be) { var d = al - sxy / sigma; return c / 2 * (d * d + be * be); } : self.excess;
    self.optimumTrain = self.optimum ? self.toTrain(self.optimum[0], self.optimum[1]) : null;
    if (!(self.lambdaMax > 0)) {  // a payload made without the curvature: work it out here once
      var e = standard ? eigen(c, 0, c) : eigen(c * (sxx + xm * xm), c * xm, c);
      self.lambdaMax = e.values[0]; self.eigenvalues = e.values; self.eigenvectors = e.vectors;
      self.hessian = standard ? [[c, 0], [0, c]] : [[c * (sxx + xm * xm), c * xm], [c * xm, c]];
    }
    // the half-widths along a and b (or α and β) of the contour through (a, b) around the optimum
    self.reach = function (a, b, overTraining) {
      if (!(sxx > 0)) { return null; }
      var delta = self.excess(a, b);
      if (overTraining) { return [Math.sqrt(2 * delta / c), Math.sqrt(2 * delta / c)]; }
      return [Math.sqrt(2 * delta / (c * sxx)), Math.sqrt(2 * delta * (sxx + xm * xm) / (c * sxx))];
    };
    if (isRobust(run)) { return robust(run, self); }
    return self;
  }

  // one row's loss ρ(r) and its derivative ρ'(r), r = y − (a·x + b)
  function rho(loss) {
    var name = loss.name, delta = loss.delta > 0 ? loss.delta : 1, tau = loss.tau > 0 && loss.tau < 1 ? loss.tau : 0.5;
    if (name === "huber") {
      return function (r) { var u = Math.abs(r); return u <= delta ? [0.5 * r * r, r] : [delta * (u - 0.5 * delta), r > 0 ? delta : -delta]; };
    }
    if (name === "absolute") { return function (r) { return [Math.abs(r), r > 0 ? 1 : r < 0 ? -1 : 0]; }; }
    // quantile (pinball); on the kink, the middle of the subdifferential, as autograd's maximum gives it
    return function (r) { return r > 0 ? [tau * r, tau] : r < 0 ? [(tau - 1) * r, tau - 1] : [0, tau - 0.5]; };
  }
  // a loss that is not quadratic: its weighted mean over the rows the page holds (the payload's sample)
  function robust(run, base) {
    var s = run.samples || { x: [], y: [] }, xs = s.x, ys = s.y, ws = s.w || null, f = rho(run.loss), rows = xs.length, total = 0;
    for (var i = 0; i < rows; i++) { total += ws ? ws[i] : 1; }
    var self = Object.assign({}, base);
    self.robust = true;
    self.rows = rows;
    self.loss = function (a, b) {
      var sum = 0;
      for (var i = 0; i < rows; i++) { sum += (ws ? ws[i] : 1) * f(ys[i] - a * xs[i] - b)[0]; }
      return rows ? sum / total : NaN;
    };
    self.grad = function (a, b) {
      var ga = 0, gb = 0;
      for (var i = 0; i < rows; i++) { var d = (ws ? ws[i] : 1) * f(ys[i] - a * xs[i] - b)[1]; ga -= d * xs[i]; gb -= d; }
      return rows ? [ga / total, gb / total] : [NaN, NaN];
    };
    self.gradTrain = function (al, be) {  // the chain rule through a = α/σ, b = ȳ + β − α·x̄/σ
      var p = base.toData(al, be), g = self.grad(p[0], p[1]);
      return [(g[0] - base.mean * g[1]) / base.sigma, g[1]];
    };
    self.lstar = null;
    self.optimum = null;
    self.optimumTrain = null;
    self.excess = function (a, b) { return self.loss(a, b); };
    self.excessTrain = function (al, be) { var p = base.toData(al, be); return self.loss(p[0], p[1]); };
    self.reach = function () { return null; };
    return self;
  }

  // the contour ½·dᵀHd = Δ around the optimum: H over (a, b), or c·I over (α, β)
  // (the eigen-decomposition comes from the payload, made in Python; `eigen` below only for a payload without it)
  function ellipse(mdl, delta, standard, count) {
    var centre = standard ? mdl.optimumTrain : mdl.optimum, steps = count || 96, e;
    if (standard) { e = { values: [mdl.c, mdl.c], vectors: [[1, 0], [0, 1]] }; }
    else if (mdl.dataCurvature) { e = { values: mdl.dataCurvature.eigenvalues, vectors: mdl.dataCurvature.eigenvectors }; }
    else { e = eigen(mdl.c * (mdl.sxx + mdl.xm * mdl.xm), mdl.c * mdl.xm, mdl.c); }
    var r1 = Math.sqrt(2 * delta / e.values[0]), r2 = Math.sqrt(2 * delta / Math.max(e.values[1], 1e-300)), out = [];
    var ca = e.vectors[0][0], sa = e.vectors[0][1];
    for (var i = 0; i <= steps; i++) {
      var t = 2 * Math.PI * i / steps, u = r1 * Math.cos(t), v = r2 * Math.sin(t);
      out.push([centre[0] + u * ca - v * sa, centre[1] + u * sa + v * ca]);
    }
    return out;
  }
  // eigenvalues (largest first) and unit eigenvectors of the symmetric [[h11, h12], [h12, h22]]
  function eigen(h11, h12, h22) {
    var tr = h11 + h22, det = h11 * h22 - h12 * h12, disc = Math.sqrt(Math.max(0, tr * tr / 4 - det));
    var l1 = tr / 2 + disc, l2 = tr / 2 - disc, angle = Math.abs(h12) > 0 ? Math.atan2(l1 - h11, h12) : (h11 >= h22 ? 0 : Math.PI / 2);
    return { values: [l1, l2], vectors: [[Math.cos(angle), Math.sin(angle)], [-Math.sin(angle), Math.cos(angle)]] };
  }
  // contour levels: Δ from the largest excess at the view's corners down by a constant ratio
  function levels(top, count) {
    var out = [];
    for (var k = 0; k < (count || 16) && top > 0; k++) { out.push(top * Math.pow(0.42, k)); }
    return out;
  }

  L.model = model;
  L.isRobust = isRobust;
  L.rho = rho;
  L.ellipse = ellipse;
  L.eigen = eigen;
  L.levels = levels;
}(typeof window !== "undefined" ? window : this));
