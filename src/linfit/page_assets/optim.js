/* linfit report, pure part 3: the optimizers, as torch.optim writes them. No DOM here.

   "momentum" (torch.optim.SGD; μ = 0 is plain gradient descent):  v ← μ·v + ∇L,  w ← w − γ·v
   "adam" (torch.optim.Adam):  m ← β₁·m + (1 − β₁)·∇L,  s ← β₂·s + (1 − β₂)·∇L²,
                               w ← w − (γ/(1 − β₁ᵗ))·m/(√s/√(1 − β₂ᵗ) + ε)
   Everything runs in the training coordinates w = (α, β) of a model (surface.js). */
(function (root) {
  "use strict";
  var L = root.LINFIT || (root.LINFIT = {});

  // One optimizer step from its state {w, v, s, t}; returns the new state (the old one is left alone).
  function step(how, state, g) {
    var w = state.w, v = state.v, s = state.s, t = state.t + 1, lr = how.lr;
    if (how.kind === "adam") {
      var b1 = how.betas[0], b2 = how.betas[1], eps = how.eps;
      var m = [v[0] + (1 - b1) * (g[0] - v[0]), v[1] + (1 - b1) * (g[1] - v[1])];  // torch's lerp
      var s2 = [s[0] * b2 + (1 - b2) * g[0] * g[0], s[1] * b2 + (1 - b2) * g[1] * g[1]];
      var size = lr / (1 - Math.pow(b1, t)), root2 = Math.sqrt(1 - Math.pow(b2, t));
      return { t: t, g: g, v: m, s: s2, w: [w[0] - size * (m[0] / (Math.sqrt(s2[0]) / root2 + eps)), w[1] - size * (m[1] / (Math.sqrt(s2[1]) / root2 + eps))] };
    }
    var mu = how.momentum || 0, nv = [mu * v[0] + g[0], mu * v[1] + g[1]];
    return { t: t, g: g, v: nv, s: s, w: [w[0] - lr * nv[0], w[1] - lr * nv[1]] };
  }

  // The descent from (a0, b0) in data units: at most `most` positions (the start is position 1, as a
  // recorded step is the point before that step's update), stopping at the first within `target` of the
  // optimum (excess over it) after at least `least`. `keep`: false keeps no path (the map counts only),
  // "states" keeps each step's optimizer state too. Diverged: the step at which the path left for good
  // (non-finite, or 1e6 times the start's size). The loop is `step` written out on scalars: no array is
  // made per step, so 20,000 steps take a millisecond or two.
  function descend(mdl, a0, b0, how, least, most, target, keep) {
    var w0 = mdl.toTrain(a0, b0), w1 = w0[0], w2 = w0[1], v1 = 0, v2 = 0, s1 = 0, s2 = 0;
    var scale = 1e6 * (Math.abs(w1) + Math.abs(w2) + (mdl.optimumTrain ? Math.abs(mdl.optimumTrain[0]) + Math.abs(mdl.optimumTrain[1]) : 0) + 1);
    var train = keep === false ? null : [w0], states = keep === "states" ? [null] : null, diverged = null, converged = false, k = 1;
    var adam = how.kind === "adam", lr = how.lr, mu = how.momentum || 0, b1 = adam ? how.betas[0] : 0, b2 = adam ? how.betas[1] : 0, eps = how.eps;
    var p1 = 1, p2 = 1;  // β₁ᵗ, β₂ᵗ
    for (; k < most; k++) {
      if (k >= least && target !== null && mdl.excessTrain(w1, w2) <= target) { converged = true; break; }
      var g = mdl.gradTrain(w1, w2), g1 = g[0], g2 = g[1];
      if (adam) {
        p1 *= b1; p2 *= b2;
        v1 += (1 - b1) * (g1 - v1); v2 += (1 - b1) * (g2 - v2);  // torch's lerp
        s1 = s1 * b2 + (1 - b2) * g1 * g1; s2 = s2 * b2 + (1 - b2) * g2 * g2;
        var size = lr / (1 - p1), root2 = Math.sqrt(1 - p2);
        w1 -= size * (v1 / (Math.sqrt(s1) / root2 + eps)); w2 -= size * (v2 / (Math.sqrt(s2) / root2 + eps));
      } else {
        v1 = mu * v1 + g1; v2 = mu * v2 + g2;
        w1 -= lr * v1; w2 -= lr * v2;
      }
      if (!(Math.abs(w1) + Math.abs(w2) <= scale)) { diverged = k + 1; break; }  // NaN fails the test too
      if (train) { train.push([w1, w2]); }
      if (states) { states.push({ t: k, g: g, v: [v1, v2], s: [s1, s2], w: [w1, w2] }); }
    }
    if (!converged && diverged === null && k >= most && target !== null && mdl.excessTrain(w1, w2) <= target) { converged = true; }
    return {
      train: train,
      path: train ? train.map(function (p) { return mdl.toData(p[0], p[1]); }) : null,
      states: states,
      positions: diverged ? diverged - 1 : k,
      diverged: diverged,
      converged: converged,
      how: how,
      end: [w1, w2]
    };
  }

  // How fast heavy-ball descent (torch's SGD with momentum μ, plain for μ = 0) shrinks the error along an
  // eigenvector of curvature λ: the spectral radius of its 2×2 step, the largest |z| of z² − (1 + μ − γλ)·z + μ.
  // Below 1 it converges; γ < 2(1 + μ)/λ is the bound.
  function rate(lr, momentum, lambda) {
    var t = 1 + momentum - lr * lambda, disc = t * t - 4 * momentum;
    if (disc < 0) { return Math.sqrt(momentum); }
    var r = Math.sqrt(disc);
    return Math.max(Math.abs((t + r) / 2), Math.abs((t - r) / 2));
  }
  function bound(momentum, lambdaMax) { return 2 * (1 + momentum) / lambdaMax; }

  L.step = step;
  L.descend = descend;
  L.rate = rate;
  L.bound = bound;
}(typeof window !== "undefined" ? window : this));
