"""One reader behind every road: the same file gives the same answer or the same error, whichever way it is read.

Roads: in memory (float64), the lean float32 reader (its size threshold lowered), --chunk-rows, stdin,
a .gz file, and one process's share of a two-process run (simulated in-process: two ranks meet at a
barrier to sum gradients and merge moments, as gloo would). Every case of the bad-input catalogue and
every harmless variant is tried on every road.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import math
import os
import re
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import lstsq, parse_json, write_csv
from linfit.distributed import Group
from linfit.errors import LinfitError
from linfit.read import Reading
from linfit.reference import merge_moments
from test_bad_input import BAD_FILES, assert_clean_error

# more bad inputs, beside the catalogue's: (file bytes, flags, exit code, words the message must contain)
MORE_BAD = {
    "one field more than the header": (b"x,y\n0,1,2.1\n1,2,3.9\n2,3,6.2\n", [], 3, ["line 2", "3 fields", "header has 2"]),
    "one field fewer": (b"x,y,z\n1,2,3\n4,5\n6,7,8\n", [], 3, ["line 3", "2 fields"]),
    "duplicate names, other column": (b"x,y,z,z\n1,2,3,4\n5,6,7,8\n", [], 3, ["repeats column 'z'"]),
    "duplicate names after trimming": (b"x, x,y\n1,2,3\n4,5,6\n", [], 3, ["repeats column 'x'"]),
    "x and y name one column": (b"x,y\n1,2\n2,4\n", ["--y-col", "x"], 2, ["--x-col and --y-col", "'x'"]),
    "x and y by name and index": (b"x,y\n1,2\n2,4\n", ["--y-col", "0"], 2, ["--x-col and --y-col"]),
    "hexadecimal": (b"x,y\n1,2\n0x1A,3\n3,4\n", [], 3, ["line 3", "column 'x'", "'0x1A' is not a number"]),
    "underscore digits": (b"x,y\n1,2\n1_000,3\n3,4\n", [], 3, ["line 3", "'1_000'"]),
    "NA after a space": (b"x,y\n1,2\n2, NA\n3,4\n", [], 3, ["line 3", "column 'y'", "missing"]),
    "problem late in the file": (b"x,y\n" + b"1,2\n2,4.1\n" * 40 + b"5,1e999\n", [], 3, ["line 82", "not a finite number"]),
    "blank lines before a bad row": (b"x,y\n1,2\n\n\n2,abc\n", [], 3, ["line 5", "'abc'"]),
    "a quoted line break that looks like a row": (
        b'x,y,note\n1,2.1,a\n2,3.9,b\n1.5,2.5,"note\n7,3,more"\n3,6.2,c\n',
        [],
        3,
        ["line 4", "quoted field holds a line break"],
    ),
    "lines that end in CR alone": (b"x,y\r1,2.1\r2,3.9\r3,6.2\r", [], 3, ["CR alone"]),
}

GOOD_FILES = {
    "plain": b"x,y\n1,2.1\n2,3.9\n3,6.2\n",
    "bom": "\ufeffx,y\n1,2.1\n2,3.9\n3,6.2\n".encode(),
    "crlf": b"x,y\r\n1,2.1\r\n2,3.9\r\n3,6.2\r\n",
    "quoted numbers": b'"x","y"\n"1","2.1"\n"2","3.9"\n"3","6.2"\n',
    "spaces after commas": b"x, y\n1, 2.1\n2, 3.9\n3, 6.2\n",
    "spaces around cells": b" x , y \n 1 , 2.1 \n2 ,3.9\n3, 6.2\n",
    "blank line at end": b"x,y\n1,2.1\n2,3.9\n3,6.2\n\n",
    "blank lines inside": b"x,y\n1,2.1\n\n2,3.9\n\n3,6.2\n",
    "no newline at end": b"x,y\n1,2.1\n2,3.9\n3,6.2",
    "reordered columns": b"y,x\n2.1,1\n3.9,2\n6.2,3\n",
    "index column": b",x,y\n0,1,2.1\n1,2,3.9\n2,3,6.2\n",
    "text column beside": b'name,x,y\nalpha,1,2.1\n"b, quoted",2,3.9\ngamma,3,6.2\n',
    "signs and exponents": b"x,y\n+1,2.1\n2.0,39e-1\n3.,.62E1\n",
}
EXPECTED = lstsq(np.array([1.0, 2.0, 3.0]), np.array([2.1, 3.9, 6.2]))


class Pair:
    """Two ranks in one process: all_reduce and merged meet at a barrier, as torch.distributed would."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=30)
        self.slots: list = [None, None]

    def exchange(self, rank: int, value) -> list:
        self.slots[rank] = value
        self.barrier.wait()
        both = list(self.slots)
        self.barrier.wait()
        return both

    def group(self, rank: int) -> Rank:
        return Rank(self, rank)


class Rank:
    world = 2

    def __init__(self, pair: Pair, rank: int) -> None:
        self.pair, self.rank = pair, rank

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce(self, tensor) -> None:
        both = self.pair.exchange(self.rank, tensor.clone())
        tensor.copy_(both[0] + both[1])

    def merged(self, local):
        return merge_moments(self.pair.exchange(self.rank, local))

    def _exchange(self, value) -> list:
        return self.pair.exchange(self.rank, value)

    gathered, all_agree, fail = Group.gathered, Group.all_agree, Group.fail


def run_share(path, flags, invoke, monkeypatch):
    """Rank 0 through the CLI (in-process), rank 1 on a thread through the same command; rank 0's result."""
    import linfit.distributed
    from conftest import LINFIT_COMMAND

    pair = Pair()
    main = threading.main_thread()
    monkeypatch.setattr(linfit.distributed, "join", lambda device: pair.group(0 if threading.current_thread() is main else 1))
    monkeypatch.setattr(linfit.distributed, "leave", lambda: None)
    command = LINFIT_COMMAND.commands["train"]  # built once, as for rank 0
    outcome: list = []

    def rank_one() -> None:
        try:
            with command.make_context("train", [str(path), *flags, "-q"]) as context:
                command.invoke(context)
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)  # were rank 0 still waiting for it, the barrier's timeout would end that wait

    thread = threading.Thread(target=rank_one)
    thread.start()
    result = invoke("train", path, *flags)
    thread.join(30)
    if thread.is_alive():  # rank 0 stopped where rank 1 waits for it: release it
        pair.barrier.abort()
        thread.join(30)
    return result, outcome


def run_road(road, content, flags, tmp_path, invoke, monkeypatch):
    """(result, the name the message should carry) of `linfit train` on `content` along one road."""
    import linfit.pipeline

    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    if road == "memory":
        return invoke("train", path, *flags), str(path)
    if road == "lean float32":
        monkeypatch.setattr(linfit.pipeline, "LEAN_ABOVE_BYTES", 0)
        return invoke("train", path, *flags, "--dtype", "float32"), str(path)
    if road == "chunk-rows":
        return invoke("train", path, *flags, "--chunk-rows", "2"), str(path)
    if road == "stdin":
        return invoke("train", "-", *flags, input=content), "stdin"
    if road == "gzip":
        packed = tmp_path / "bad.csv.gz"
        packed.write_bytes(gzip.compress(content))
        return invoke("train", packed, *flags), str(packed)
    if road == "share of 2":
        result, rank_one = run_share(path, flags, invoke, monkeypatch)
        assert len(rank_one) == 1, "rank 1 did not finish"
        error = rank_one[0]
        if result.exit_code == 0:
            assert error is None, error
        elif error is None:  # only rank 0 reports, and --strict's verdict is part of the report
            assert result.exit_code == 5
        else:  # the other rank stopped the same way
            assert int(getattr(error, "exit_code", -1)) == result.exit_code, error
            if isinstance(error, LinfitError):
                assert _sentence(str(error)) in result.stderr
        return result, str(path)
    raise AssertionError(road)


def _sentence(message: str) -> str:
    return message if message.endswith((".", "?", "!")) else message + "."


ROADS = ["memory", "lean float32", "chunk-rows", "stdin", "gzip", "share of 2"]
CATALOGUE = {**BAD_FILES, **MORE_BAD}
PAIRS = [(road, case) for road in ROADS for case in sorted(CATALOGUE)]
GOOD_PAIRS = [(road, case) for road in ROADS for case in sorted(GOOD_FILES)]


def normalised(result, name: str) -> tuple[int, str]:
    """The exit code and message, the data's name aside; a divergence's advice repeats the road's own
    command (`linfit train - ...`, `--chunk-rows 2`), so its data and road flags are set aside too."""
    message = result.stderr.strip().replace(name, "DATA")
    message = re.sub(r"`linfit train [^\s`]+", "`linfit train DATA", message)
    return result.exit_code, re.sub(r" --chunk-rows \d+", "", message)


_BASELINES: dict = {}  # the in-memory outcome of a (content, flags), run once per test process


def in_memory(content, flags, tmp_path, invoke, monkeypatch, parse=normalised):
    """The in-memory road's outcome, the one every other road must match (cached: roads share it)."""
    key = (content, tuple(flags), parse)
    if key not in _BASELINES:
        (tmp_path / "memory").mkdir()
        _BASELINES[key] = parse(*run_road("memory", content, flags, tmp_path / "memory", invoke, monkeypatch))
    return _BASELINES[key]


@pytest.mark.parametrize(("road", "case"), PAIRS, ids=[f"{r}: {c}" for r, c in PAIRS])
def test_every_bad_input_ends_the_same_way_on_every_road(road, case, tmp_path, invoke, monkeypatch):
    content, flags, code, words = CATALOGUE[case]
    if road == "lean float32" and "--dtype" in flags:
        flags = []  # the road sets --dtype float32 itself
    # the very same message as in memory (with the same flags), the data's name aside
    baseline_flags = [*flags, "--dtype", "float32"] if road == "lean float32" else flags
    baseline = in_memory(content, baseline_flags, tmp_path, invoke, monkeypatch)
    result, name = run_road(road, content, flags, tmp_path, invoke, monkeypatch)
    assert_clean_error(result, code, [w for w in words if "bad.csv" not in w])
    assert normalised(result, name) == baseline


@pytest.mark.parametrize(("road", "case"), GOOD_PAIRS, ids=[f"{r}: {c}" for r, c in GOOD_PAIRS])
def test_every_harmless_variant_gives_the_same_fit_on_every_road(road, case, tmp_path, invoke, monkeypatch):
    baseline = in_memory(GOOD_FILES[case], ["-f", "json"], tmp_path, invoke, monkeypatch, parse=_fit_of)
    result, _ = run_road(road, GOOD_FILES[case], ["-f", "json"], tmp_path, invoke, monkeypatch)
    assert result.exit_code == 0, result.stderr
    out = parse_json(result.stdout)
    assert (out["data"]["x"], out["data"]["y"], out["data"]["rows"]) == ("x", "y", 3)
    assert out["ols"]["a"] == pytest.approx(EXPECTED[0], rel=1e-12) and out["ols"]["b"] == pytest.approx(EXPECTED[1], rel=1e-12)
    if road == "lean float32":  # trained in float32: as close as its digits allow
        assert out["a"] == pytest.approx(EXPECTED[0], abs=1e-6) and out["b"] == pytest.approx(EXPECTED[1], abs=1e-6)
    else:  # the same steps as in memory (chunks may sum in another order: the last digits)
        assert out["steps"] == baseline["steps"]
        assert out["a"] == pytest.approx(baseline["a"], rel=1e-12) and out["b"] == pytest.approx(baseline["b"], rel=1e-12)
    assert baseline["a"] == pytest.approx(EXPECTED[0], rel=1e-9) and baseline["b"] == pytest.approx(EXPECTED[1], rel=1e-9)


def _fit_of(result, name) -> dict:
    return parse_json(result.stdout)


# -- the rules, one by one ------------------------------------------------------------------------
def test_header_names_are_trimmed_and_chosen_by_name_or_index(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"\xef\xbb\xbf a , b \n1,2\n3,5\n")
    for wanted in (("a", "b"), ("0", "1"), (0, 1), (" a", "b ")):
        blocks = list(reading := Reading(str(path), *wanted))
        assert (reading.facts.x_name, reading.facts.y_name) == ("a", "b")
        assert blocks[0][0].tolist() == [1.0, 3.0] and blocks[0][1].tolist() == [2.0, 5.0]


def test_drop_na_counts_rows_on_every_road(tmp_path, invoke):
    path = tmp_path / "gaps.csv"
    path.write_bytes(b"x,y\n1,2\n,3\n2,4.1\n3,NA\n4,8.2\n5,10.1\n")
    for extra in ([], ["--chunk-rows", "2"]):
        result = invoke("train", path, "--drop-na", "-f", "json", *extra)
        assert result.exit_code == 0 and "dropped 2 rows" in result.stderr
        out = parse_json(result.stdout)
        assert (out["data"]["rows"], out["data"]["dropped"]) == (4, 2)


def test_a_large_file_read_in_many_pieces_names_the_right_line(tmp_path, monkeypatch):
    import linfit.read

    monkeypatch.setattr(linfit.read, "TEXT_BYTES", 64)  # many pieces, each parsed on its own
    rows = "".join(f"{i},{2 * i + 1}\n" for i in range(500))
    path = tmp_path / "big.csv"
    path.write_text("x,y\n" + rows + "7,oops\n" + rows)
    with pytest.raises(Exception, match=r"line 502, column 'y': 'oops'"):
        list(Reading(str(path)))
    path.write_text("x,y\n" + rows)
    x = np.concatenate([b[0] for b in Reading(str(path))])
    assert x.tolist() == [float(i) for i in range(500)]


# -- compression: the extension decides -------------------------------------------------------------
PACKERS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


def zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".zst"])
def test_compressed_files_read_and_damaged_ones_fail_cleanly(suffix, tmp_path, invoke):
    pack = PACKERS.get(suffix, zstd)
    content = GOOD_FILES["plain"] * 1 + b"".join(f"{i},{2 * i}\n".encode() for i in range(4, 2000))
    packed = pack(content)
    good = tmp_path / f"d.csv{suffix}"
    good.write_bytes(packed)
    plain = tmp_path / "d.csv"
    plain.write_bytes(content)
    fit_packed, fit_plain = (
        parse_json(invoke("train", p, "-f", "json", "-o", tmp_path / f"m{i}.json").stdout) for i, p in enumerate((good, plain))
    )
    assert (fit_packed["a"], fit_packed["b"]) == (fit_plain["a"], fit_plain["b"])
    saved = parse_json((tmp_path / "m0.json").read_text())
    assert saved["data"]["sha256"] == hashlib.sha256(packed).hexdigest()  # the bytes as stored
    for what, data in (("truncated", packed[: len(packed) // 2]), ("not compressed", content), ("garbage", os.urandom(300))):
        bad = tmp_path / f"bad-{what.replace(' ', '-')}.csv{suffix}"
        bad.write_bytes(data)
        result = invoke("train", bad)
        assert_clean_error(result, 3, [bad.name, "decompress"])


# -- hashing while reading: stdin, FIFOs, globs, a file gone before the save ---------------------
def test_the_model_hash_is_of_the_bytes_read_from_stdin(tmp_path, invoke):
    content = GOOD_FILES["crlf"]
    result = invoke("train", "-", "-q", "-o", tmp_path / "m.json", input=content)
    assert result.exit_code == 0, result.stderr
    assert parse_json((tmp_path / "m.json").read_text())["data"]["sha256"] == hashlib.sha256(content).hexdigest()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_opened_once_and_hashed(tmp_path, invoke):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    content = GOOD_FILES["plain"]
    writes = []

    def writer() -> None:
        with open(fifo, "wb") as stream:  # blocks until the reader opens it; a second open would hang the test
            stream.write(content)
        writes.append(1)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    result = invoke("train", fifo, "-f", "json", "-o", tmp_path / "m.json")
    thread.join(10)
    assert result.exit_code == 0, result.stderr
    assert writes == [1] and parse_json(result.stdout)["data"]["rows"] == 3
    assert parse_json((tmp_path / "m.json").read_text())["data"]["sha256"] == hashlib.sha256(content).hexdigest()
    assert invoke("train", fifo, "--chunk-rows", "2").exit_code == 3  # cannot be read again at every step


def test_a_glob_is_hashed_as_one_stream_in_order(tmp_path, invoke):
    parts = [b"x,y\n1,2.1\n", b"x,y\n2,3.9\n", b"x,y\n3,6.2\n"]
    for i, part in enumerate(parts):
        (tmp_path / f"part-{i}.csv").write_bytes(part)
    for extra in ([], ["--chunk-rows", "1"]):
        result = invoke("train", tmp_path / "part-*.csv", "-q", "-o", tmp_path / "m.json", *extra)
        assert result.exit_code == 0, result.stderr
        assert parse_json((tmp_path / "m.json").read_text())["data"]["sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()


def test_a_file_removed_during_training_still_saves_with_its_hash(tmp_path, invoke, monkeypatch):
    import linfit.pipeline

    path = tmp_path / "d.csv"
    content = GOOD_FILES["plain"]
    path.write_bytes(content)
    real = linfit.pipeline.prepare

    def then_remove(*args, **kwargs):
        prepared = real(*args, **kwargs)
        path.unlink()
        return prepared

    monkeypatch.setattr(linfit.pipeline, "prepare", then_remove)
    result = invoke("train", path, "-q", "-o", tmp_path / "m.json")
    assert result.exit_code == 0, result.stderr
    assert parse_json((tmp_path / "m.json").read_text())["data"]["sha256"] == hashlib.sha256(content).hexdigest()


# -- Parquet --------------------------------------------------------------------------------------
def write_parquet(path, columns: dict, row_group_size: int | None = None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path


def test_parquet_equals_csv_to_the_last_digit_in_memory_and_streamed(tmp_path, invoke):
    rng = np.random.default_rng(3)
    x = rng.uniform(-20, 80, 3001)
    y = 0.7 * x - 3 + rng.normal(0, 2, x.size)
    csv_path = write_csv(tmp_path / "d.csv", {"y": y, "x": x})
    parquet = write_parquet(tmp_path / "d.parquet", {"y": y, "x": x}, row_group_size=700)
    for extra in ([], ["--chunk-rows", "500"], ["--dtype", "float32"]):
        from_csv = parse_json(invoke("train", csv_path, "-f", "json", *extra).stdout)
        from_parquet = parse_json(invoke("train", parquet, "-f", "json", *extra).stdout)
        for key in ("a", "b", "loss", "steps", "ols", "stats"):
            if key == "stats":  # the influential rows: the same rows, named by line only in the CSV file
                assert [row["line"] for row in from_parquet[key]["influential"] or []] == [None] * len(from_csv[key]["influential"] or [])
                for fit in (from_parquet, from_csv):
                    fit[key]["influential"] = [{**row, "line": None} for row in fit[key]["influential"] or []]
            assert from_parquet[key] == from_csv[key], (extra, key)
    predicted = parse_json(invoke("predict", _model(tmp_path, invoke, csv_path), parquet, "-f", "json").stdout)
    assert predicted["x"] == x.tolist()


def _model(tmp_path, invoke, data) -> str:
    model = tmp_path / "model.json"
    assert invoke("train", data, "-q", "-o", model).exit_code == 0
    return str(model)


@pytest.mark.parametrize(
    ("columns", "csv_text"),
    [
        ({"x": [1.0, 2.0, None], "y": [1.0, 2.0, 3.0]}, b"x,y\n1,1\n2,2\n,3\n"),
        ({"x": [1.0, float("nan"), 3.0], "y": [1.0, 2.0, 3.0]}, b"x,y\n1,1\nnan,2\n3,3\n"),
        ({"x": ["1", "2", "abc"], "y": [1.0, 2.0, 3.0]}, b"x,y\n1,1\n2,2\nabc,3\n"),
        ({"x": ["1", "0x1A", "3"], "y": [1.0, 2.0, 3.0]}, b"x,y\n1,1\n0x1A,2\n3,3\n"),
        ({"x": [1.0, 2.0, 3.0], "y": [1.0, float("inf"), 3.0]}, b"x,y\n1,1\n2,inf\n3,3\n"),
        ({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 1e200]}, b"x,y\n1,1\n2,2\n3,1e+200\n"),
        ({"a": [1.0, 2.0], "b": [1.0, 2.0]}, b"a,b\n1,1\n2,2\n"),
    ],
)
def test_parquet_problems_give_the_csv_errors(columns, csv_text, tmp_path, invoke):
    parquet = write_parquet(tmp_path / "d.parquet", columns)
    csv_path = tmp_path / "d.csv"
    csv_path.write_bytes(csv_text)
    for extra in ([], ["--chunk-rows", "2"]):
        from_parquet, from_csv = invoke("train", parquet, *extra), invoke("train", csv_path, *extra)
        assert from_parquet.exit_code == from_csv.exit_code == 3
        # the same words, a row of the table standing for a line of the file (line = row + 1)
        expected = re.sub(r"line (\d+)", lambda m: f"row {int(m.group(1)) - 1}", from_csv.stderr.replace("d.csv", "d.parquet"))
        assert from_parquet.stderr == expected


def test_parquet_drop_na_and_a_damaged_file(tmp_path, invoke):
    parquet = write_parquet(tmp_path / "d.parquet", {"x": [1.0, None, 2.0, 3.0], "y": [2.1, 5.0, 3.9, 6.2]})
    out = parse_json(invoke("train", parquet, "--drop-na", "-f", "json").stdout)
    assert out["data"]["dropped"] == 1 and out["a"] == pytest.approx(EXPECTED[0], rel=1e-12)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(parquet.read_bytes()[:40])
    assert_clean_error(invoke("train", broken), 3, ["broken.parquet", "not a Parquet file"])


# -- predict reads through the same reader ----------------------------------------------------------
def test_predict_keeps_the_input_columns_and_leaves_missing_x_empty(tmp_path, invoke):
    (tmp_path / "t.csv").write_bytes(GOOD_FILES["plain"])
    model = _model(tmp_path, invoke, tmp_path / "t.csv")
    data = tmp_path / "p.csv"
    data.write_bytes(b'name, x\n"a, quoted",1\nb,\nc,3\n')
    result = invoke("predict", model, data, "-f", "csv")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "name,x,prediction" and lines[1].startswith('"a, quoted",1,') and lines[2] == "b,,"
    assert "1 rows have no x" in result.stderr
    assert_clean_error(invoke("predict", model, tmp_path / "t.csv", "--x-col", "z"), 3, ["no column 'z'"])
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"x\n1\n0x10\n")
    assert_clean_error(invoke("predict", model, bad), 3, ["line 3", "'0x10' is not a number"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(st.integers(-999, 999), min_size=1, max_size=40),
    world=st.integers(2, 5),
    blank_every=st.integers(0, 5),
    crlf=st.booleans(),
    bom=st.booleans(),
    trailing=st.booleans(),
)
def test_byte_ranges_cut_at_line_starts_give_every_row_once_in_order(tmp_path, values, world, blank_every, crlf, bom, trailing):
    """The ranks' rows, put together in rank order, are the file's rows: none lost, none twice."""
    end = "\r\n" if crlf else "\n"
    lines = ["", "x,y"] if blank_every == 1 else ["x,y"]
    for i, v in enumerate(values):
        lines.append(f"{v},{2 * v + 1}")
        if blank_every and i % blank_every == 0:
            lines.append("")
    text = end.join(lines) + (end if trailing else "")
    path = tmp_path / "ranged.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    whole = [x for block, _ in Reading(str(path)) for x in block]
    parts, parsed = [], 0
    for rank in range(world):
        reading = Reading(str(path), shard=(rank, world))
        assert reading.split == "bytes" and reading.hashing == (rank == 0)
        parts += [x for block, _ in reading for x in block]
        parsed += reading.parsed_bytes
    assert parts == whole == [float(v) for v in values]
    assert parsed == path.stat().st_size  # the header (and a BOM) counted once, by rank 0


# -- quoted line breaks, headers and messages (issue 23) --------------------------------------------
QUOTED_BREAK = "".join(f"{i},{2 * i + 1},n{i}\n" for i in range(30))
QUOTED_FILE = ("x,y,note\n" + QUOTED_BREAK + '1.5,2.5,"note\n7,3,more"\n' + QUOTED_BREAK).encode()
QUOTED_LINE = 32  # the line where the quoted field opens


@pytest.mark.parametrize("piece", range(8, 80, 3))
def test_a_quoted_line_break_across_a_piece_boundary_is_refused_with_its_line(piece, tmp_path, monkeypatch):
    """Pieces of a few bytes: the boundary falls before, inside and after the quoted field in turn."""
    import linfit.read

    monkeypatch.setattr(linfit.read, "TEXT_BYTES", piece)
    path = tmp_path / "q.csv"
    path.write_bytes(QUOTED_FILE)
    for reading in (Reading(str(path)), Reading(str(path), keep_rows=True)):
        with pytest.raises(LinfitError, match=f"line {QUOTED_LINE}: a quoted field holds a line break") as caught:
            list(reading)
        assert caught.value.exit_code == 3


@pytest.mark.parametrize("world", [2, 3, 4, 7, 16])
def test_every_byte_split_of_a_quoted_line_break_is_refused_by_the_first_rank_that_meets_it(world, tmp_path, monkeypatch):
    """A run keeps the lowest rank's error (see Group.gathered): it must be the quoted field's, with its line,
    whichever rank's share the field begins in, and however the shares cut it."""
    import linfit.read

    monkeypatch.setattr(linfit.read, "TEXT_BYTES", 16)
    path = tmp_path / "q.csv"
    for shift in range(0, 40, 7):  # the field moves against the cuts
        path.write_bytes(QUOTED_FILE.replace(b"\n0,1,n0\n", b"\n0,1,n0" + b"x" * shift + b"\n"))
        errors = []
        for rank in range(world):
            try:
                list(Reading(str(path), shard=(rank, world)))
            except LinfitError as error:
                errors.append(str(error))
        assert errors, "no rank refused the quoted line break"
        assert f"line {QUOTED_LINE}: a quoted field holds a line break" in errors[0], (shift, errors)


def test_quotes_without_line_breaks_still_read_fast_and_right(tmp_path):
    """Quoted numbers, separators and doubled quotes inside quotes, a quote inside an unquoted cell: no refusal."""
    path = tmp_path / "q.csv"
    path.write_bytes(b'x,y,note\n"1","2.1","a,"\n2,3.9,"say ""hi"",\n"\n3,6.2,5" screen\n')
    with pytest.raises(LinfitError, match="line 3: a quoted field holds a line break"):
        list(Reading(str(path)))  # the third field of line 3 does hold one
    path.write_bytes(b'x,y,note\n"1","2.1","a,"\n2,3.9,"say ""hi"","\n3,6.2,5" screen\n')
    (x, y), *_ = list(Reading(str(path)))
    assert x.tolist() == [1.0, 2.0, 3.0] and y.tolist() == [2.1, 3.9, 6.2]


def test_a_quoted_header_with_a_line_break_is_one_header(tmp_path, invoke):
    path = tmp_path / "h.csv"
    path.write_bytes(b'"speed\n(km/h)",y\n1,2.1\n2,3.9\n3,oops\n')
    reading = Reading(str(path), "speed\n(km/h)", "y")
    with pytest.raises(LinfitError, match=r"line 5, column 'y': 'oops'"):  # lines counted from the file's start
        list(reading)
    assert reading.header == ["speed\n(km/h)", "y"]
    path.write_bytes(b'"speed\n(km/h)",y\n1,2.1\n2,3.9\n3,6.2\n')
    out = parse_json(invoke("train", path, "--x-col", "0", "-f", "json").stdout)
    assert out["data"]["rows"] == 3 and out["ols"]["a"] == pytest.approx(EXPECTED[0], rel=1e-12)


def test_messages_name_the_real_cause(tmp_path, invoke):
    cases = {
        "cr.csv": (b"x,y\r1,2\r2,4\r", ["CR alone", "tr '\\r' '\\n'"]),
        "nul.csv": (b"x,y\n1,2\n2,4\n3,\x006\n", ["line 4", "NUL"]),
        "long-name.csv": (b"x,y," + b"n" * 1_000_000 + b"\n1,2,3\n2,4,5\n", ["line 1", "131,072 characters", "field-size limit"]),
    }
    for name, (content, words) in cases.items():
        (tmp_path / name).write_bytes(content)
        result = invoke("train", tmp_path / name)
        assert_clean_error(result, 3, words)
        assert "no data rows" not in result.stderr and "Lines must end" not in result.stderr


def test_a_header_of_100000_columns_is_read_in_linear_time(tmp_path, invoke):
    """A count inside a loop over the names made this quadratic (minutes); now it is fitted at once."""
    names = [f"c{i}" for i in range(99_998)] + ["x", "y"]
    rows = "".join(",".join(["0"] * 99_998 + [str(i), str(2 * i + 1)]) + "\n" for i in range(4))
    path = tmp_path / "wide.csv"
    path.write_text(",".join(names) + "\n" + rows)
    out = parse_json(invoke("train", path, "-f", "json").stdout)
    assert out["ols"] == {"a": pytest.approx(2.0, rel=1e-12), "b": pytest.approx(1.0, rel=1e-12)}
    missing = invoke("train", path, "--x-col", "nope")
    assert_clean_error(missing, 3, ["no column 'nope'", "(100000 in all)"])
    assert len(missing.stderr) < 1000  # the columns are not all listed
    path.write_text(",".join(names[:-1] + ["c7"]) + "\n" + rows)
    assert_clean_error(invoke("train", path), 3, ["repeats column 'c7'"])


def test_column_indices_that_cannot_be_read_as_numbers_are_clean_errors(tmp_path, invoke):
    path = tmp_path / "d.csv"
    path.write_bytes(GOOD_FILES["plain"])
    assert_clean_error(invoke("train", path, "--x-col", "²"), 3, ["no column '²'"])  # as any name not in the header
    assert_clean_error(invoke("train", path, "--x-col", "9" * 5000), 2, ["--x-col", "5000 digits"])
    assert invoke("train", path, "--y-col", "0" * 30 + "1", "-q").exit_code == 0  # leading zeros: still index 1


@pytest.mark.parametrize("kind", ["int64", "uint64"])
def test_parquet_integers_beyond_2_53_are_rounded_as_csv_digits_are(kind, tmp_path, invoke):
    """Read as CSV digits are: each integer to its nearest float64 (Python's float(int), correctly rounded)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    big = [2**53 + 1, 2**53 + 3, 2**62 + 12345, 2**63 - 1] + (
        [2**64 - 1, 2**63 + 2**11 + 1] if kind == "uint64" else [-(2**63), -(2**53) - 1]
    )
    xs = [*range(1, len(big) + 1)]
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"x": pa.array(xs, pa.int64()), "y": pa.array(big, getattr(pa, kind)())}), path)
    (x, y), *_ = list(Reading(str(path)))
    assert y.tolist() == [float(v) for v in big]
    text = tmp_path / "big.csv"
    text.write_text("x,y\n" + "".join(f"{a},{b}\n" for a, b in zip(xs, big)))
    from_csv, from_parquet = (parse_json(invoke("train", p, "-f", "json").stdout) for p in (text, path))
    assert from_parquet["ols"] == from_csv["ols"]


# -- the weight column (issue 19): read, checked and carried on every road ---------------------------
WEIGHTED = b"x,w,y\n1,0.5,2.1\n2,0,3.9\n3,2,6.2\n4,1e-3,8.1\n"


def weighted_roads(content: bytes, tmp_path, monkeypatch, **options):
    """(road, [(x, y, w) blocks]) of one file read on every road the reader serves (errors raised as they come)."""
    import gzip as gz

    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    import linfit.read
    from linfit.read import rechunked_with_weights

    path = tmp_path / "w.csv"
    path.write_bytes(content)
    packed = tmp_path / "w.csv.gz"
    packed.write_bytes(gz.compress(content))
    roads = {"memory": lambda: list(Reading(str(path), **options).with_weights())}
    roads["streamed"] = lambda: list(rechunked_with_weights(Reading(str(path), **options).with_weights(), 2))
    roads["gzip"] = lambda: list(Reading(str(packed), **options).with_weights())

    def stdin():
        monkeypatch.setattr(linfit.read.sys, "stdin", io.TextIOWrapper(io.BytesIO(content)))
        return list(Reading("-", **options).with_weights())

    def shares():
        return [block for rank in range(3) for block in Reading(str(path), shard=(rank, 3), **options).with_weights()]

    def parquet():
        table = pacsv.read_csv(str(path))
        pq.write_table(table, tmp_path / "w.parquet", row_group_size=2)
        return list(Reading(str(tmp_path / "w.parquet"), **options).with_weights())

    def small_pieces():
        monkeypatch.setattr(linfit.read, "TEXT_BYTES", 8)
        try:
            return list(Reading(str(path), **options).with_weights())
        finally:
            monkeypatch.undo()

    def parquet_shares():
        parquet()
        return [b for rank in range(2) for b in Reading(str(tmp_path / "w.parquet"), shard=(rank, 2), **options).with_weights()]

    roads.update({"stdin": stdin, "share of 3": shares, "parquet": parquet, "pieces of 8 bytes": small_pieces})
    roads["parquet, share of 2"] = parquet_shares
    return roads


def test_a_weight_column_is_read_beside_x_and_y_on_every_road(tmp_path, monkeypatch):
    for road, read in weighted_roads(WEIGHTED, tmp_path, monkeypatch, weight_col="w").items():
        blocks = read()
        x, y, w = (np.concatenate([b[i] for b in blocks]).tolist() for i in range(3))
        assert (x, y, w) == ([1.0, 2.0, 3.0, 4.0], [2.1, 3.9, 6.2, 8.1], [0.5, 0.0, 2.0, 1e-3]), road
    reading = Reading(str(tmp_path / "w.csv"), 0, "y", weight_col=1)  # by index, as x and y
    assert [b[2].tolist() for b in reading.with_weights()] == [[0.5, 0.0, 2.0, 1e-3]] and reading.facts.w_name == "w"
    with pytest.raises(TypeError, match="with_weights"):  # plain (x, y) iteration would drop the weights
        list(reading)
    plain = Reading(str(tmp_path / "w.csv"))  # without one: as before, and w is None
    assert [len(b) for b in plain] == [2] and all(w is None for *_, w in plain.with_weights()) and plain.facts.w_name == ""


@pytest.mark.parametrize(
    ("content", "options", "line", "words"),
    [
        (b"x,w,y\n1,1,2\n2,-0.5,4\n3,1,6\n", {}, 3, "the weight -0.5 is negative"),
        (b"x,w,y\n1,1,2\n2,,4\n3,1,6\n", {}, 3, "missing weight"),
        (b"x,w,y\n1,1,2\n2,NA,4\n3,1,6\n", {"drop_na": True}, 3, "missing weight"),  # --drop-na drops no weight
        (b"x,w,y\n1,1,2\n2,1,4\n3,heavy,6\n", {}, 4, "'heavy' is not a number"),
        (b"x,w,y\n1,1,2\n2,1,4\n3,inf,6\n", {}, 4, "not a finite number"),
        (b"x,w,y\n1,1,2\n2,1,4\n3,2,6\n4,-1e-300,8\n", {}, 5, "is negative"),
        (b"x,w,y\n1,1,2\n2,1,4\n3,1e-320,6\n", {}, 4, "the weight 1e-320 is too small"),  # subnormal: n/sum(w) overflows
    ],
)
def test_a_bad_weight_is_the_same_error_naming_its_row_on_every_road(content, options, line, words, tmp_path, monkeypatch):
    for road, read in weighted_roads(content, tmp_path, monkeypatch, weight_col="w", **options).items():
        where = f"row {line - 1}" if road.startswith("parquet") else f"line {line}"
        with pytest.raises(LinfitError, match=re.escape(f"{where}, column 'w': ") + ".*" + re.escape(words)) as caught:
            read()
        assert caught.value.exit_code == 3, road


def test_the_weight_column_must_be_another_column(tmp_path):
    path = tmp_path / "w.csv"
    path.write_bytes(WEIGHTED)
    for x_col, y_col, weight_col, words in (("x", "y", "x", "--x-col and --weight-col"), ("x", "y", 2, "--y-col and --weight-col")):
        with pytest.raises(LinfitError, match=re.escape(words)) as caught:
            list(Reading(str(path), x_col, y_col, weight_col=weight_col).with_weights())
        assert caught.value.exit_code == 2
    with pytest.raises(LinfitError, match="no column 'weight' for weight.*--weight-col"):
        list(Reading(str(path), weight_col="weight").with_weights())


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(0, 9), min_size=1, max_size=12), rows=st.integers(1, 7))
def test_weighted_chunks_are_the_pairs_chunks_with_their_weights(sizes, rows):
    """rechunked_with_weights cuts as data.rechunked does, each w staying with its x and y."""
    from linfit.data import rechunked
    from linfit.read import rechunked_with_weights

    edges = np.cumsum([0, *sizes])
    x = np.arange(edges[-1], dtype=np.float64)
    blocks = [(x[a:b], 10 * x[a:b], 100 * x[a:b]) for a, b in zip(edges[:-1], edges[1:])]
    triples = list(rechunked_with_weights(blocks, rows))
    pairs = list(rechunked([(bx, by) for bx, by, _ in blocks], rows))
    assert [(tx.tolist(), ty.tolist()) for tx, ty, _ in triples] == [(px.tolist(), py.tolist()) for px, py in pairs]
    assert all(np.array_equal(tw, 100 * tx) for tx, _, tw in triples)
    none_w = list(rechunked_with_weights([(bx, by, None) for bx, by, _ in blocks], rows))
    assert all(w is None for *_, w in none_w) and len(none_w) == len(pairs)


# -- a weight column on every road ----------------------------------------------------------------
WEIGHTED_ROWS = b"x,y,w\n1,2.1,1\n2,3.9,0.5\n3,6.2,2\n4,8.3,0\n5,9.7,1.5\n"
WEIGHTED_BAD_ROWS = {
    "negative weight": (b"x,y,w\n1,2.1,1\n2,3.9,-0.5\n3,6.2,2\n", ["line 3", "column 'w'", "negative"]),
    "missing weight": (b"x,y,w\n1,2.1,1\n2,3.9,\n3,6.2,2\n", ["line 3", "column 'w'", "missing weight"]),
    "text weight": (b"x,y,w\n1,2.1,1\n2,3.9,heavy\n3,6.2,2\n", ["line 3", "column 'w'", "'heavy'"]),
}


def _wls(content: bytes) -> tuple[float, float]:
    """The weighted least-squares line by numpy: lstsq on the rows scaled by √w (an independent oracle)."""
    table = np.loadtxt(io.BytesIO(content), delimiter=",", skiprows=1, usecols=(0, 1, 2))
    x, y, w = table.T
    root = np.sqrt(w)
    (a, b), *_ = np.linalg.lstsq(np.column_stack([x * root, root]), y * root, rcond=None)
    return a, b


@pytest.mark.parametrize("road", ROADS)
def test_a_weight_column_gives_the_same_line_on_every_road(road, tmp_path, invoke, monkeypatch):
    """Weighted least squares, equal to numpy's on every road, under torchrun too (the processes' weighted
    sums merged, one scale for every process's weights), with the statistics one process gives."""
    flags = ["--weight-col", "w", "-f", "json"]
    if road == "share of 2":  # one process's run first (run_road's share makes every later run a rank of two)
        (tmp_path / "one.csv").write_bytes(WEIGHTED_ROWS)
        alone = parse_json(invoke("train", tmp_path / "one.csv", *flags).stdout)
    result, _ = run_road(road, WEIGHTED_ROWS, flags, tmp_path, invoke, monkeypatch)
    assert result.exit_code == 0, result.stderr
    out = parse_json(result.stdout)
    a, b = _wls(WEIGHTED_ROWS)
    assert out["data"]["w"] == "w" and out["data"]["rows"] == 4 and out["config"]["weight_col"] == "w"
    assert (out["ols"]["a"], out["ols"]["b"]) == pytest.approx((a, b), rel=1e-12)
    close = 1e-6 if road == "lean float32" else 1e-10
    assert (out["a"], out["b"]) == pytest.approx((a, b), rel=close)
    if road == "share of 2":
        assert out["data"]["processes"] == 2 and out["steps"] == alone["steps"]
        for key in ("se_a", "se_b", "r2", "log_likelihood", "aic", "bic"):
            assert out["stats"][key] == pytest.approx(alone["stats"][key], rel=1e-12), key


def _weighted_rows(weights: list[float], header: bytes = b"x,y,w", end: str = "") -> bytes:
    rows = [f"{i},{2 * i + 1 + math.sin(3 * i):.6f},{w}{end}" for i, w in enumerate(weights, 1)]
    return header + b"\n" + "\n".join(rows).encode() + b"\n"


# (content, flags, file name) whose shares under torchrun are uneven: a process with no positive weight, or no rows at all
WEIGHTED_SHARES = {
    "zero weights on rank 0": (_weighted_rows([0, 0, 0, 0, 0, 0, 1, 2, 0.5, 3]), [], "w.csv"),
    "no rows on rank 0": (_weighted_rows([1, 2, 0.5, 3, 1], header=b"x,y,w," + b"n" * 400, end=","), [], "w.csv"),
    # a compressed file is not split by bytes: each process streams every other chunk of 2 rows
    "streamed, zero weights in rank 0's chunks": (_weighted_rows([0, 0, 1, 2, 0, 0, 0.5, 3, 0]), ["--chunk-rows", "2"], "w.csv.gz"),
}


@pytest.mark.parametrize("loss", ["half_mse", "absolute", "quantile"])
@pytest.mark.parametrize("case", sorted(WEIGHTED_SHARES))
def test_weighted_rows_under_torchrun_give_the_one_process_line_however_uneven_the_shares(case, loss, tmp_path, invoke, monkeypatch):
    """Two processes, one of which holds no positive weight (or no row): the weighted line of one process,
    numpy's for least squares, the same steps and the same vertex for the piecewise losses."""
    content, road_flags, name = WEIGHTED_SHARES[case]
    path = tmp_path / name
    path.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    flags = ["--weight-col", "w", "--loss", loss, "--quantile", "0.9", "-f", "json", *road_flags]
    alone = invoke("train", path, *flags)
    assert alone.exit_code == 0, alone.stderr
    alone = parse_json(alone.stdout)
    result, rank_one = run_share(path, flags, invoke, monkeypatch)
    assert result.exit_code == 0 and rank_one == [None], (result.stderr, rank_one)
    out = parse_json(result.stdout)
    assert min(rank["rows"] for rank in out["data"]["ranks"]) == 0  # one process has no row with a positive weight
    assert out["data"]["rows"] == alone["data"]["rows"] and out["steps"] == alone["steps"]
    assert (out["a"], out["b"]) == pytest.approx((alone["a"], alone["b"]), rel=1e-12, abs=1e-12)
    if loss == "half_mse":
        assert (out["a"], out["b"]) == pytest.approx(_wls(content), rel=1e-10)


@pytest.mark.parametrize(("road", "case"), [(road, case) for road in ROADS for case in sorted(WEIGHTED_BAD_ROWS)])
def test_a_bad_weight_ends_the_same_way_on_every_road(road, case, tmp_path, invoke, monkeypatch):
    content, words = WEIGHTED_BAD_ROWS[case]
    flags = ["--weight-col", "w"]
    baseline = in_memory(content, flags, tmp_path, invoke, monkeypatch)
    result, name = run_road(road, content, flags, tmp_path, invoke, monkeypatch)
    assert_clean_error(result, 3, words)
    assert normalised(result, name) == baseline
