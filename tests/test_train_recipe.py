"""profile=paper hands TRL the released recipe (evaluation/released_recipe.yaml), checked through `dry_run`;
any TRL config field is settable from YAML or the command line; an unknown one is one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from dyco_repro.train import ConfigError, dry_run_record, plan_run

REPO = Path(__file__).resolve().parents[1]
RECIPE = yaml.safe_load((REPO / "evaluation" / "released_recipe.yaml").read_text())


def paper_config(tmp_path, *overrides):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("config", overrides=["profile=paper", "method=dyco", f"output_root={tmp_path}", *overrides])


def lookup(record: dict, setting: str):
    section, field = setting.split(".", 1)
    return record[section][field]


def expected_rows(algo: str, model: str):
    for row in RECIPE["rows"]:
        if "value" in row:
            yield row["setting"], row["value"], row["source"]
        elif "per_algo" in row and algo in row["per_algo"]:
            yield row["setting"], row["per_algo"][algo], row["source"]
        elif "per_model" in row:
            yield row["setting"], row["per_model"][model], row["source"]


def test_recipe_table_is_well_formed():
    assert RECIPE["algos"] == ["grpo", "dapo", "sapo", "gspo"] and len(RECIPE["models"]) == 2
    settings = [row["setting"] for row in RECIPE["rows"]]
    assert len(settings) == len(set(settings)), "one row per setting"
    for row in RECIPE["rows"]:
        assert row["source"].strip() and sum(k in row for k in ("value", "per_algo", "per_model")) == 1, row


@pytest.mark.parametrize("model", RECIPE["models"])
@pytest.mark.parametrize("algo", RECIPE["algos"])
def test_paper_profile_is_the_released_recipe(tmp_path, algo, model, monkeypatch):
    monkeypatch.setenv("DYCO_MODEL_ROOT", str(tmp_path / "no-weights-here"))
    record = json.loads(
        json.dumps(
            dry_run_record(plan_run(paper_config(tmp_path, f"algo={algo}", f"model={model}", "dry_run=true"))),
            default=str,
        )
    )
    assert record["trainer"] == RECIPE["trainer"]
    wrong = [
        f"{setting}: {lookup(record, setting)!r} != released {value!r} ({source})"
        for setting, value, source in expected_rows(algo, model)
        if lookup(record, setting) != value
    ]
    assert not wrong, "\n".join(wrong)


def test_dry_run_prints_one_json_line_without_weights(tmp_path):
    cmd = [
        sys.executable, "-m", "dyco_repro.train", "profile=paper", "algo=gspo", "model=qwen2_5_vl_7b",
        f"output_root={tmp_path / 'out'}", "model.path=/nonexistent/Qwen2.5-VL-7B-Instruct", "dry_run=true",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    (line,) = result.stdout.strip().splitlines()
    record = json.loads(line)
    assert set(record) == {"trainer", "args", "dyco"}
    assert record["trainer"] == "GRPOTrainer"
    assert record["args"]["beta"] == 0.005 and record["args"]["importance_sampling_level"] == "sequence"
    assert record["dyco"]["variant"] == "sequence" and record["dyco"]["min_completion_tokens"] == 150
    assert len(record["args"]) > 100, "every field of the TRL config"
    assert not (tmp_path / "out").exists(), "a dry run writes nothing"


@pytest.mark.parametrize(
    "override,field,value",
    [
        ("+train.top_k=7", "top_k", 7),
        ("+train.data_seed=3", "data_seed", 3),
        ("algo.trl.use_bias_correction_kl=true", "use_bias_correction_kl", True),
        ("+algo.trl.scale_rewards=batch", "scale_rewards", "batch"),
        ("+train.warmup_steps=5", "warmup_steps", 5),
    ],
)
def test_any_trl_field_is_settable_from_the_command_line(tmp_path, override, field, value):
    from run_helpers import tiny_config

    plan = plan_run(tiny_config(tmp_path, override, "dry_run=true"))
    assert getattr(plan.args, field) == value


@pytest.mark.parametrize(
    "override,message",
    [
        ("+algo.trl.top_kk=5", "'top_kk' is not a field of GRPOConfig (algo=grpo)"),
        ("+train.scale_rewards=group", "'scale_rewards' is not a field of RLOOConfig (algo=rloo)"),
    ],
)
def test_unknown_trl_field_is_one_line_naming_the_config_class(tmp_path, override, message):
    from run_helpers import tiny_config

    algo = "rloo" if "RLOO" in message else "grpo"
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        plan_run(tiny_config(tmp_path, f"algo={algo}", override, "dry_run=true"))
    assert "\n" not in str(err.value)
