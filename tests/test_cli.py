"""What the entry points share: one-line errors (exit 2), group checks, the model directory check."""

import re
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


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["train.max_step=5"], "train.max_step is not a setting; check its spelling"),  # Hydra advised +key
        (["train.min_p=0.1"], "train.min_p is a TRL config field the YAML does not list: add it with +train.min_p="),
        (["algo", "grpo"], "'algo' is not key=value"),
        (["=5"], "'=5' is not key=value"),  # was a 30-line traceback
        (["seed=${nope}"], "Interpolation key 'nope' not found"),
    ],
)
def test_a_command_line_that_does_not_compose_is_one_line(overrides, message):
    from dyco_repro.cli import check_composes

    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        check_composes(overrides)
    assert "\n" not in str(err.value)


def test_valid_hydra_forms_compose():
    from dyco_repro.cli import check_composes

    check_composes(["++train.max_steps=3", "+train.top_k=20", "~dyco.alpha", "profile=tiny"])


@pytest.mark.parametrize(
    "value,message",
    [
        ("'3'", "seed='3': use seed=<a whole number>"),  # a quoted number is a string: say so
        ("null", "seed=null: use seed=<a whole number>"),
        ("1.5", "seed=1.5: use seed=<a whole number>"),
        ("-1", "seed=-1: must be at least 0"),
    ],
)
def test_check_setting_shows_the_value_as_typed(tmp_path, value, message):
    from dyco_repro.cli import check_setting

    with pytest.raises(ConfigError, match=re.escape(message)):
        check_setting(tiny_config(tmp_path, f"seed={value}"), "seed", int, minimum=0)
