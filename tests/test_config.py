"""Configuration: the schema, configs/default.yaml, precedence defaults < file < flags, and errors by name."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import ROOT, SAMPLE, parse_json
from linfit.config import KEYS, TrainConfig, resolve_config, to_yaml
from linfit.errors import ConfigError

DEFAULT_YAML = ROOT / "configs" / "default.yaml"


def test_default_yaml_documents_every_key_with_the_schema_default():
    text = DEFAULT_YAML.read_text(encoding="utf-8")
    loaded = yaml.safe_load(text)
    assert list(loaded) == list(KEYS)
    assert TrainConfig(**loaded) == TrainConfig()
    for key in KEYS:  # one key a line, each with a comment saying what it means
        (line,) = [line for line in text.splitlines() if line.startswith(f"{key}:")]
        assert re.search(r"#\s*\w+", line), line


def test_precedence_defaults_file_flags(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("lr: 0.1\nsteps: 50\noptimizer: momentum\n")
    config = resolve_config(path, {"steps": 7, "lr": None})
    assert (config.lr, config.steps, config.optimizer, config.tol) == (0.1, 7, "momentum", TrainConfig().tol)


def test_flags_override_the_file_whatever_their_order(tmp_path, invoke):
    path = tmp_path / "my.yaml"
    path.write_text("lr: 0.1\nsteps: 50\n")
    before = invoke("config", "--steps", "9", "--config", path).stdout
    after = invoke("config", "--config", path, "--steps", "9").stdout
    assert before == after
    assert yaml.safe_load(after)["steps"] == 9 and yaml.safe_load(after)["lr"] == 0.1


def test_config_output_round_trips(tmp_path, invoke):
    first = invoke("config", "--lr", "0.05", "--optimizer", "adam", "--x-col", "2")
    assert first.exit_code == 0
    path = tmp_path / "saved.yaml"
    path.write_text(first.stdout)
    second = invoke("config", "--config", path)
    assert second.stdout == first.stdout
    assert resolve_config(path) == TrainConfig(lr=0.05, optimizer="adam", x_col="2")
    assert to_yaml(resolve_config(path)) == first.stdout


def test_train_runs_from_a_config_file(tmp_path, invoke):
    path = tmp_path / "my.yaml"
    path.write_text("steps: 3\nlog_every: 1\n")
    out = parse_json(invoke("train", SAMPLE, "-c", path, "-f", "json").stdout)
    assert out["steps"] == 3 and len(out["history"]) == 3 and out["config"]["steps"] == 3


def test_unknown_key_is_rejected_by_name_with_the_closest_key(tmp_path, invoke):
    path = tmp_path / "typo.yaml"
    path.write_text("lr: 0.1\nlearning_rat: 0.2\nstep: 5\n")
    result = invoke("train", SAMPLE, "--config", path)
    assert result.exit_code == 2
    assert "learning_rat" in result.stderr and "typo.yaml" in result.stderr
    with pytest.raises(ConfigError, match="Did you mean 'steps'"):
        resolve_config(None, {"step": 5})


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("lr: -1\n", "key 'lr'"),
        ("steps: 0\n", "key 'steps'"),
        ("tol: -1e-3\n", "key 'tol'"),
        ("optimizer: lbfgs\n", "key 'optimizer'"),
        ("loss: l1\n", "key 'loss'"),
        ("betas: [0.9, 1.5]\n", "key 'betas'"),
        ("lr: fast\n", "key 'lr'"),
        ("lr: 0.1\nsteps: 3: 4\n", "line 2"),
        ("- lr\n- 0.1\n", "mapping"),
        ("!!python/object/apply:os.system ['echo hacked']\n", "not valid YAML"),
        ("loss: absolute\nbootstrap: 1\n", "key 'bootstrap'"),  # one resample: an interval of width 0
        ("loss: quantile\nbootstrap: 100001\n", "key 'bootstrap'"),  # 1e10 was a MemoryError, exit 1
    ],
)
def test_bad_config_files_name_the_key(tmp_path, invoke, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = invoke("config", "--config", path)
    assert result.exit_code == 2, result.stdout
    assert needle in result.stderr and "bad.yaml" in result.stderr
    assert "hacked" not in result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_flag_values_name_the_flag(invoke, tmp_path):
    result = invoke("train", SAMPLE, "--lr", "-0.1")
    assert result.exit_code == 2 and "--lr" in result.stderr
    result = invoke("train", SAMPLE, "--log-every", "-2")
    assert result.exit_code == 2 and "--log-every" in result.stderr
    result = invoke("train", SAMPLE, "--optimizer", "lbfgs")
    assert result.exit_code == 2 and "--optimizer" in result.stderr
    # a loss's own setting under another loss was ignored in silence while the config recorded it: now a note says
    # so and the record holds the default, as a run without it records (so the record repeats the run)
    plain = parse_json(invoke("train", SAMPLE, "--loss", "mse", "-f", "json", "-q").stdout)["config"]
    for flags, named in [
        (("--loss", "mse", "--quantile", "0.3"), "--quantile"),
        (("--loss", "mse", "--huber-delta", "2"), "--huber-delta"),
        (("--loss", "mse", "--bootstrap", "20"), "--bootstrap"),
    ]:
        result = invoke("train", SAMPLE, *flags, "-f", "json")
        assert result.exit_code == 0 and named in result.stderr and "ignored" in result.stderr
        assert parse_json(result.stdout)["config"] == plain
    path = tmp_path / "mixed.yaml"
    path.write_text("loss: mse\nquantile: 0.3\nhuber_delta: 2\nbootstrap: 5\n")
    notes: list[str] = []
    assert resolve_config(path, {}, notes) == TrainConfig(loss="mse") and len(notes) == 3 and "key 'quantile'" in notes[1]
    quantile = resolve_config(None, {"loss": "quantile", "quantile": 0.3, "bootstrap": 2}, notes)  # where they are read they stay
    assert (quantile.quantile, quantile.bootstrap, len(notes)) == (0.3, 2, 3)
    assert resolve_config(None, {"loss": "huber", "huber_delta": 2}).huber_delta == 2


def test_missing_config_file(invoke, tmp_path):
    result = invoke("config", "--config", tmp_path / "nope.yaml")
    assert result.exit_code == 2 and "not found" in result.stderr


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("lr: 1e-3\n", "lr", 0.001),
        ("lr: 2E+1\n", "lr", 20.0),
        ("init_a: -5e-1\n", "init_a", -0.5),
        ("betas: [1e-1, 5e-1]\n", "betas", [0.1, 0.5]),
    ],
)
def test_exponent_without_a_dot_is_a_number(tmp_path, invoke, text, key, value):
    """YAML 1.1 reads `1e-3` as text; to a person it is plainly 0.001 (YAML 1.2 agrees)."""
    path = tmp_path / "c.yaml"
    path.write_text(text)
    result = invoke("config", "--config", path)
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load(result.stdout)[key] == value


@pytest.mark.parametrize("text", ["steps: 1:30\n", "steps: 1_000\n", "steps: 010\n", "steps: 0b11\n", "lr: 1_0.5\n"])
def test_yaml_one_one_number_forms_are_refused(tmp_path, invoke, text):
    """Base 60, digit separators, octal and binary are YAML 1.1's, read as numbers a person did not mean."""
    path = tmp_path / "c.yaml"
    path.write_text(text)
    result = invoke("config", "--config", path)
    assert result.exit_code == 2, result.stdout
    assert f"key '{text.split(':')[0]}'" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("text", ["steps: 10\nlr: 0.1\nsteps: 20\n", "{steps: 10, steps: 20}\n"])
def test_a_key_given_twice_is_refused_by_name(tmp_path, invoke, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    result = invoke("config", "--config", path)
    assert result.exit_code == 2, result.stdout
    assert "key 'steps' is given twice" in result.stderr and "c.yaml" in result.stderr


@pytest.mark.parametrize(("flag", "text"), [("--lr", "0_5"), ("--steps", "1_000"), ("--init-a", "1_0.5")])
def test_number_flags_refuse_digit_separators(invoke, flag, text):
    """`1_000` in the data is refused; so is it in a flag, never read as 1000 (or `0_5` as 5)."""
    result = invoke("config", flag, text)
    assert result.exit_code == 2, result.stdout
    assert flag in result.stderr and text in result.stderr
    result = invoke("config", "--betas", "0.5", text)
    assert result.exit_code == 2 and "--betas" in result.stderr
