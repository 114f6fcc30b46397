"""The binary pass cache of streamed runs (linfit.cache): what it holds, when it is reused, and that a
temporary one leaves nothing behind however the run ends."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from conftest import ROOT, parse_json, write_csv
from linfit.cache import BLOCK_ROWS, MAGIC
from linfit.read import Reading
from linfit.reference import merge_moments, moments
from linfit.sources import cached_pass


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(16)
    x = rng.uniform(1e7, 1e7 + 50, BLOCK_ROWS + 4321)  # more than one block, and far from 0 (float32 spacing 1)
    y = 0.25 * x - 2.5e6 + rng.normal(0, 1, x.size)
    return write_csv(tmp_path_factory.mktemp("cache") / "data.csv", {"x": x, "y": y}), x, y


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_cache_holds_every_row_in_the_training_dtype(data, dtype):
    path, x, y = data
    reading = Reading(str(path))
    cache, facts, note = cached_pass(reading, 1000, dtype, shift=dtype == "float32")
    assert note is None and cache.rows == x.size == facts.rows and facts.sha256 == reading.facts.sha256
    blocks = [(bx.copy(), by.copy()) for bx, by in cache.blocks()]
    assert all(bx.dtype == np.dtype(dtype) for bx, _ in blocks) and len(blocks) == 2
    back_x = np.concatenate([bx for bx, _ in blocks]).astype(np.float64) + cache.x_shift
    back_y = np.concatenate([by for _, by in blocks]).astype(np.float64) + cache.y_shift
    if dtype == "float64":  # exact: no shift, no rounding
        assert cache.x_shift == 0.0 and np.array_equal(back_x, x) and np.array_equal(back_y, y)
    else:  # x − shift rounded once to float32: the offset 1e7 costs no digits
        assert cache.x_shift == pytest.approx(1e7, rel=1e-5)
        assert np.max(np.abs(back_x - x)) <= 50 * 2.0**-24 and np.max(np.abs(back_y - y)) <= 50 * 2.0**-24
    parts = [moments(x[i : i + 1000], y[i : i + 1000]) for i in range(0, x.size, 1000)]
    assert cache.moments == merge_moments(parts)  # the moments pass, merged chunk by chunk as before


def test_a_float32_streamed_fit_far_from_zero_keeps_its_digits(data, invoke):
    """x ≈ 1e7 in float32 keeps whole units only; stored less the shift, the fit stays exact to float32."""
    path, x, y = data
    (a, b), *_ = np.linalg.lstsq(np.column_stack([x - 1e7, np.ones_like(x)]), y, rcond=None)
    out = parse_json(invoke("train", path, "--chunk-rows", "3000", "--dtype", "float32", "-f", "json").stdout)
    assert out["converged"] and abs(out["a"] - a) / abs(a) < 1e-5
    assert out["ols"]["a"] == pytest.approx(a, rel=1e-9)


def test_a_named_cache_is_reused_only_while_the_data_match(data, tmp_path, invoke):
    path, _, _ = data
    local = tmp_path / "data.csv"
    local.write_bytes(path.read_bytes())
    cache = tmp_path / "passes.cache"
    args = ("train", local, "--chunk-rows", "5000", "--cache", cache, "-f", "json")
    first = invoke(*args)
    assert first.exit_code == 0 and "wrote the pass cache" in first.stderr
    assert cache.read_bytes()[:8] == MAGIC and not list(tmp_path.glob(".*"))
    again = invoke(*args)
    assert "reusing the pass cache" in again.stderr
    fit, refit = parse_json(first.stdout), parse_json(again.stdout)
    assert (refit["a"], refit["b"], refit["steps"], refit["data"]) == (fit["a"], fit["b"], fit["steps"], fit["data"])
    assert invoke("train", local, "--chunk-rows", "5000", "--cache", cache, "-o", tmp_path / "m.json", "-q").exit_code == 0
    model = parse_json((tmp_path / "m.json").read_text())  # a reused cache: the model still names the data's bytes
    assert model["data"]["sha256"] == hashlib.sha256(local.read_bytes()).hexdigest()

    # the same size and modification time, other bytes: the SHA-256 catches it
    stamp = local.stat()
    text = local.read_bytes()
    local.write_bytes(text.replace(b"\n1", b"\n2", 1))
    os.utime(local, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    changed = invoke(*args)
    assert "rebuilding the pass cache" in changed.stderr and "SHA-256" in changed.stderr
    assert parse_json(changed.stdout)["a"] != fit["a"]

    # a damaged block is found by its CRC and rebuilt, never trusted
    body = bytearray(cache.read_bytes())
    body[100] ^= 0xFF
    cache.write_bytes(bytes(body))
    damaged = invoke(*args)
    assert "rebuilding" in damaged.stderr and "damaged" in damaged.stderr
    assert parse_json(damaged.stdout)["a"] == parse_json(changed.stdout)["a"]
    # other settings (float32) make another cache
    assert "other settings" in invoke(*args, "--dtype", "float32").stderr


def test_a_cache_path_that_holds_something_else_is_refused(data, tmp_path, invoke):
    path, _, _ = data
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me\n")
    for target in (precious, path, tmp_path):
        result = invoke("train", path, "--chunk-rows", "5000", "--cache", target)
        assert result.exit_code == 2 and "--cache" in result.stderr and "Traceback" not in result.stderr
    assert precious.read_text() == "keep me\n"
    assert invoke("train", path, "--cache", tmp_path / "c").exit_code == 2  # --cache needs --chunk-rows


def test_the_temporary_cache_has_no_name_and_goes_with_the_process(data, tmp_path):
    """Even SIGKILL leaves nothing: the cache is an unnamed file while the run trains."""
    path, _, _ = data
    env = {**os.environ, "TMPDIR": str(tmp_path), "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "linfit",
        "train",
        str(path),
        "--chunk-rows",
        "5000",
        "--steps",
        "100000",
        "--tol",
        "0",
        "--lr",
        "1e-9",
        "-f",
        "jsonl",
        "--log-every",
        "1",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        assert process.stdout.readline()  # training has begun: the cache is built
        links = [os.readlink(f"/proc/{process.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{process.pid}/fd")]
        assert any(link.startswith(str(tmp_path)) and link.endswith("(deleted)") for link in links), links
        assert list(tmp_path.iterdir()) == []
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    time.sleep(0.05)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_build_leaves_no_named_cache(data, tmp_path, invoke, monkeypatch):
    """A cache is linked into place only when complete: a build stopped part-way leaves no file."""
    import linfit.cache
    from linfit.signals import Interrupted

    path, _, _ = data
    cache = tmp_path / "passes.cache"

    def stopped(*args, **kwargs):
        raise Interrupted(signal.SIGTERM)

    monkeypatch.setattr(linfit.cache.CacheWriter, "finish", stopped)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = invoke("train", path, "--chunk-rows", "5000", "--cache", cache)
    assert result.exit_code != 0 and list(tmp_path.iterdir()) == []


def test_a_full_disk_while_writing_the_cache_is_one_clean_error(data, tmp_path, invoke, monkeypatch):
    import errno

    import linfit.cache

    path, _, _ = data

    def full(self, data, checked=True):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(linfit.cache.CacheWriter, "_write", full)
    result = invoke("train", path, "--chunk-rows", "5000")
    assert result.exit_code == 7 and "pass cache" in result.stderr and "No space left" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    named = invoke("train", path, "--chunk-rows", "5000", "--cache", tmp_path / "c")
    assert named.exit_code == 7 and "--cache" in named.stderr and list(tmp_path.iterdir()) == []


# -- a damaged cache is never trusted -------------------------------------------------------------


def _clean_cache(tmp_path):
    rng = np.random.default_rng(23)
    x = rng.uniform(-3, 7, 300)
    source = write_csv(tmp_path / "d.csv", {"x": x, "y": 1.5 * x - 2 + rng.normal(0, 0.1, x.size)})
    target = tmp_path / "passes.cache"
    cache, facts, note = cached_pass(Reading(str(source)), 64, "float64", False, path=target)
    assert "wrote" in note
    return source, target, _answer(cache, facts)


def _answer(cache, facts):
    """Everything a run takes from a cache: its moments, the facts, and every stored value."""
    values = np.concatenate([np.concatenate([bx, by]) for bx, by in cache.blocks()])
    cache.close()
    return cache.moments, facts, cache.rows, cache.x_shift, cache.y_shift, values.tobytes()


def test_every_single_edit_of_a_cache_is_rebuilt_or_gives_the_same_answer(tmp_path):
    """A fuzz of single-byte and single-digit edits over the whole file, the trailer's digits above all:
    every run gives the clean cache's answer (reused untouched, or rebuilt) — never another one, never a hang."""
    source, target, clean = _clean_cache(tmp_path)
    pristine = target.read_bytes()
    rng = np.random.default_rng(5)
    start = len(pristine) - 20 - int.from_bytes(pristine[-20:-12], "little")
    digits = [i for i in range(start, len(pristine) - 20) if pristine[i] in b"0123456789"]
    digits = rng.choice(digits, 80, replace=False)
    edits = [(int(i), ord(str((pristine[i] - 47) % 10))) for i in digits]  # digits of the trailer, plus one
    edits += [(int(i), int(pristine[i] ^ rng.integers(1, 256))) for i in rng.integers(len(MAGIC), len(pristine), 40)]
    edits += [(i, pristine[i] ^ 1) for i in range(len(pristine) - 20, len(pristine))]  # the length, CRC and MAGIC
    rebuilt = 0
    for where, byte in edits:
        damaged = bytearray(pristine)
        damaged[where] = byte
        target.write_bytes(bytes(damaged))
        cache, facts, note = cached_pass(Reading(str(source)), 64, "float64", False, path=target)
        assert _answer(cache, facts) == clean, (where, byte, note)
        rebuilt += "rebuilding" in note
        assert target.read_bytes() == pristine  # rebuilt in place: the same bytes again
    assert rebuilt == len(edits)  # no edit slips past the checksum


def test_absurd_trailer_values_with_a_valid_checksum_are_rebuilt_not_followed(tmp_path):
    """A block of 0 rows looped forever; with the CRC recomputed (a deliberate edit), the values are still checked."""
    import json
    import zlib

    source, target, clean = _clean_cache(tmp_path)
    pristine = target.read_bytes()
    length = int.from_bytes(pristine[-20:-12], "little")
    trailer = json.loads(pristine[-20 - length : -20])
    body = pristine[: -20 - length]
    for change in ({"block_rows": 0}, {"block_rows": -5}, {"block_rows": 1.5}, {"rows": -1}, {"dtype": "object"}, {"shift": ["nan", 0]}):
        text = json.dumps({**trailer, **change}).encode()
        head = body + text + len(text).to_bytes(8, "little")
        target.write_bytes(head + zlib.crc32(head).to_bytes(4, "little") + MAGIC)
        cache, facts, note = cached_pass(Reading(str(source)), 64, "float64", False, path=target)
        assert _answer(cache, facts) == clean and "rebuilding" in note, change


def test_a_cache_path_that_is_a_symbolic_link_is_written_through(tmp_path, invoke):
    source, target, _ = _clean_cache(tmp_path)
    target.unlink()
    (tmp_path / "store").mkdir()
    link = tmp_path / "link.cache"
    link.symlink_to(tmp_path / "store" / "real.cache")
    args = ("train", source, "--chunk-rows", "64", "--cache", link, "-f", "json")
    first = invoke(*args)
    assert first.exit_code == 0 and link.is_symlink() and (tmp_path / "store" / "real.cache").read_bytes()[:8] == MAGIC
    again = invoke(*args)
    assert "reusing" in again.stderr and link.is_symlink()
    # one digit of the trailer's moments changed: rebuilt through the link, the same answer
    damaged = bytearray(link.read_bytes())
    where = damaged.rindex(b'"moments"') + 20
    where += next(i for i, c in enumerate(damaged[where:]) if chr(c).isdigit())
    damaged[where] = ord("7") if damaged[where] != ord("7") else ord("8")
    link.write_bytes(bytes(damaged))
    third = invoke(*args)
    assert third.exit_code == 0 and "rebuilding" in third.stderr and "damaged" in third.stderr and link.is_symlink()
    assert parse_json(third.stdout)["ols"] == parse_json(first.stdout)["ols"]
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["real.cache"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_cache_keeps_the_weights_and_its_key_names_the_weight_column(dtype, tmp_path):
    rng = np.random.default_rng(19)
    x = rng.uniform(0, 10, BLOCK_ROWS + 77)  # more than one block: w's place in each block is found again
    w = rng.choice([0.0, 0.25, 1.0, 3.5], x.size)
    source = write_csv(tmp_path / "d.csv", {"x": x, "w": w, "y": 2 * x + 1})
    target = tmp_path / "passes.cache"
    plain, _, _ = cached_pass(Reading(str(source)), 1000, dtype, shift=False, path=target)
    assert not plain.weights and all(bw is None for *_, bw in plain.with_weights())
    plain.close()
    cache, facts, note = cached_pass(Reading(str(source), weight_col="w"), 1000, dtype, shift=False, path=target)
    assert "other settings" in note and facts.w_name == "w" and cache.weights
    blocks = [tuple(v.copy() for v in block) for block in cache.with_weights()]
    back = [np.concatenate([b[i] for b in blocks]).astype(np.float64) for i in range(3)]
    assert np.array_equal(back[2], w)  # these weights are exact in float32 too
    assert np.allclose(back[0], x, rtol=1e-7) and np.allclose(back[1], 2 * x + 1, rtol=1e-7)
    assert [len(bx) for bx, _ in cache.blocks()] == [BLOCK_ROWS, 77]  # (x, y) alone, as before
    cache.close()
    again, facts, note = cached_pass(Reading(str(source), weight_col="w"), 1000, dtype, shift=False, path=target)
    assert "reusing" in note and facts.w_name == "w" and again.weights
    again.close()


def test_a_cache_of_an_earlier_version_is_rebuilt_not_refused(tmp_path, invoke):
    source, target, _ = _clean_cache(tmp_path)
    target.write_bytes(b"LINFITC1" + target.read_bytes()[8:])
    result = invoke("train", source, "--chunk-rows", "64", "--cache", target, "-f", "json")
    assert result.exit_code == 0 and "rebuilding" in result.stderr and "earlier version" in result.stderr
    assert target.read_bytes()[:8] == MAGIC
