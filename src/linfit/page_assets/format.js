/* linfit report, pure part 1: numbers written as Python writes them (format(v, ".8g"), f"{n:,}").
   No DOM here: tests run these functions in a browser against Python's own output. */
(function (root) {
  "use strict";
  var L = root.LINFIT || (root.LINFIT = {});
  var SHAPE = /^(\d)(?:\.(\d+))?e([+-]\d+)$/;

  // The first `d` significant digits of x > 0 and its decimal exponent, rounded half to even as Python
  // rounds (JavaScript's toExponential rounds an exact tie away from zero: 0.125 → "1.3e-1", Python "0.12").
  function digitsOf(x, d) {
    var near = SHAPE.exec(x.toExponential(d - 1)), long = SHAPE.exec(x.toExponential(Math.min(100, d + 30)));
    var all = long[1] + (long[2] || ""), tail = all.slice(d);
    if (/^50*$/.test(tail) && Number(all.charAt(d - 1)) % 2 === 0) { return { digits: all.slice(0, d), exp: Number(long[3]) }; }
    return { digits: near[1] + (near[2] || ""), exp: Number(near[3]) };
  }
  function strip(text) { return text.indexOf(".") >= 0 ? text.replace(/0+$/, "").replace(/\.$/, "") : text; }

  // format(v, "." + digits + "g"); a missing value is said in words, never "null", "undefined" or a bare dash
  function fmt(v, digits) {
    if (v === null || v === undefined || typeof v !== "number") { return "not recorded"; }
    if (v !== v) { return "nan"; }
    if (!isFinite(v)) { return v > 0 ? "inf" : "-inf"; }
    if (v === 0) { return 1 / v < 0 ? "-0" : "0"; }
    var d = Math.max(1, digits || 8), sign = v < 0 ? "-" : "", r = digitsOf(Math.abs(v), d), body;
    if (r.exp >= -4 && r.exp < d) {
      if (r.exp >= 0) { body = r.digits.slice(0, r.exp + 1) + "." + r.digits.slice(r.exp + 1); }
      else { body = "0." + new Array(-r.exp).join("0") + r.digits; }
      return sign + strip(body);
    }
    var e = Math.abs(r.exp);
    return sign + strip(r.digits.charAt(0) + "." + r.digits.slice(1)) + "e" + (r.exp < 0 ? "-" : "+") + (e < 10 ? "0" : "") + e;
  }
  // f"{n:,}" for a whole number: 20000 → "20,000"
  function count(n) {
    if (typeof n !== "number" || !isFinite(n)) { return fmt(n); }
    var s = String(Math.abs(Math.round(n))), out = "";
    while (s.length > 3) { out = "," + s.slice(-3) + out; s = s.slice(0, -3); }
    return (n < 0 ? "-" : "") + s + out;
  }
  // "a·x + b" with its sign, as the legend writes a line
  function equation(a, b) { return fmt(a, 5) + "·x " + (b < 0 ? "− " + fmt(-b, 5) : "+ " + fmt(b, 5)); }

  L.fmt = fmt;
  L.count = count;
  L.equation = equation;
}(typeof window !== "undefined" ? window : this));
