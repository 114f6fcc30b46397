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
  // optimum (excess over it) after at least `least`. `keep` false keeps no path (for the map: counts only).
  // Diverged: the step at which the path left for good (non-finite, or 1e6 times the start's size).
  function descend(mdl, a0, b0, how, least, most, target, keep) {
    var w0 = mdl.toTrain(a0, b0), state = { t: 0, w: w0, v: [0, 0], s: [0, 0] };
    var scale = 1e6 * (Math.abs(w0[0]) + Math.abs(w0[1]) + (mdl.optimumTrain ? Math.abs(mdl.optimumTrain[0]) + Math.abs(mdl.optimumTrain[1]) : 0) + 1);
    var train = keep === false ? null : [w0], states = keep === false ? null : [null], diverged = null, converged = false, k = 1;
    for (; k < most; k++) {
      if (k >= least && target !== null && mdl.excessTrain(state.w[0], state.w[1]) <= target) { converged = true; break; }
      state = step(how, state, mdl.gradTrain(state.w[0], state.w[1]));
      var w = state.w;
      if (!isFinite(w[0]) || !isFinite(w[1]) || Math.abs(w[0]) + Math.abs(w[1]) > scale) { diverged = k + 1; break; }
      if (train) { train.push(w); states.push(state); }
    }
    if (!converged && diverged === null && k >= most && target !== null && mdl.excessTrain(state.w[0], state.w[1]) <= target) { converged = true; }
    return {
      train: train,
      path: train ? train.map(function (p) { return mdl.toData(p[0], p[1]); }) : null,
      states: states,
      positions: diverged ? diverged - 1 : k,
      diverged: diverged,
      converged: converged,
      how: how,
      end: state.w
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
