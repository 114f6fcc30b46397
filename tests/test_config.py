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


def test_bad_flag_values_name_the_flag(invoke):
    result = invoke("train", SAMPLE, "--lr", "-0.1")
    assert result.exit_code == 2 and "--lr" in result.stderr
    result = invoke("train", SAMPLE, "--log-every", "-2")
    assert result.exit_code == 2 and "--log-every" in result.stderr
    result = invoke("train", SAMPLE, "--optimizer", "lbfgs")
    assert result.exit_code == 2 and "--optimizer" in result.stderr


def test_missing_config_file(invoke, tmp_path):
    result = invoke("config", "--config", tmp_path / "nope.yaml")
    assert result.exit_code == 2 and "not found" in result.stderr
