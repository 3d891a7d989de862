"""What the entry points share: one-line errors (exit 2), group checks, the model directory check."""

import subprocess
import sys

import pytest
from run_helpers import tiny_config

from dyco_repro.cli import ConfigError, check_group_choices, one_line_errors, resolve_model_dir


def test_a_config_error_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as done, one_line_errors():
        raise ConfigError("train.num_generations=3 must divide 8; change one of them\nmore detail")
    assert done.value.code == 2
    assert capsys.readouterr().err == "error: train.num_generations=3 must divide 8; change one of them\n"


def test_other_errors_keep_their_traceback():
    with pytest.raises(KeyError), one_line_errors(ValueError):
        raise KeyError("a bug")


def test_unknown_group_choices_name_the_choices():
    check_group_choices(["algo=grpo", "+matrix=table1", "train.max_steps=2", "seed"])
    with pytest.raises(ConfigError, match=r"unknown matrix 'tabel1'; choose from table1 \(conf/matrix/\)"):
        check_group_choices(["matrix=tabel1"])


def test_checking_a_tiny_model_builds_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("DYCO_REPRO_CACHE", str(tmp_path / "cache"))
    assert resolve_model_dir(tiny_config(tmp_path / "out"), build=False) is None
    assert not (tmp_path / "cache").exists()
    with pytest.raises(ConfigError, match="model.tiny=xl"):
        resolve_model_dir(tiny_config(tmp_path / "out", "model.tiny=xl"), build=False)


def test_a_model_directory_without_weights_is_named(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    cfg = tiny_config(tmp_path, "model=qwen2_5_vl_3b", f"model.path={tmp_path / 'ckpt'}")
    with pytest.raises(ConfigError, match="no weights"):
        resolve_model_dir(cfg, build=False)


def test_evaluate_does_not_import_train():
    code = "import sys, dyco_repro.evaluate; print('dyco_repro.train' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.strip() == "False"
