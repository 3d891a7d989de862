"""End to end: DyCo training records role samples at its logging steps, into the run directory and the
MLflow run; the viewer page built from the run id shows every non-neutral token coloured."""

from __future__ import annotations

import json

import mlflow
import pytest
import torch
from browser import dump_dom, role_spans
from transformers import Qwen2_5_VLForConditionalGeneration
from trl import GRPOConfig, RLOOConfig

from dyco_repro.algos.grpo_family import DyCoGRPOTrainer
from dyco_repro.algos.rloo import DyCoRLOOTrainer
from dyco_repro.dyco import DyCoConfig
from dyco_repro.viewer.__main__ import main


def rewards(completions, solution, **kwargs):
    """Distinct per row (0.1 * row), plus 1 when the answer appears: what each sample must carry."""
    return [float(s in c) + 0.1 * i for i, (c, s) in enumerate(zip(completions, solution, strict=True))]


def train(cls, config, path, processor, dataset, run_dir, alpha=1.0):
    torch.manual_seed(0)
    args = config(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        max_steps=3,
        logging_steps=2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        beta=0.0,
    )
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path)
    trainer = cls(
        model=model,
        reward_funcs=[rewards],
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        dyco=DyCoConfig(alpha=alpha),
    )
    trainer.train()
    return trainer


@pytest.mark.slow
def test_grpo_training_logs_role_samples_and_the_viewer_reads_them(
    tiny_s_dir, tiny_processor, dataset, tmp_path, monkeypatch, chromium
):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("viewer-test")  # not an experiment id another test left behind
    run_dir = tmp_path / "run"
    with mlflow.start_run() as run:
        train(DyCoGRPOTrainer, GRPOConfig, tiny_s_dir, tiny_processor, dataset, run_dir)
    roles = run_dir / "roles"
    assert sorted(p.name for p in roles.glob("step_*.json")) == ["step_000001.json", "step_000002.json"]
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "roles")}
    assert {"roles/step_000001.json", "roles/step_000002.html", "roles/index.html"} <= logged
    steps = [json.loads(p.read_text()) for p in sorted(roles.glob("step_*.json"))]
    for data in steps:
        assert len(data["samples"]) == 4
        for sample in data["samples"]:
            assert sample["image_png"] and sample["tokens"]
            assert round(sample["reward"] * 10) % 10 in (0, 1, 2, 3)  # one of the rollout's own rewards

    page = tmp_path / "page.html"
    assert main([run.info.run_id, "--tracking-uri", uri, "--out", str(page)]) == 0
    dom = role_spans(dump_dom(chromium, page.resolve().as_uri(), tmp_path / "profile"))
    tokens = [t["role"] for data in steps for s in data["samples"] for t in s["tokens"]]
    assert sum(dom.roles.values()) == len(tokens)
    assert dom.roles.get("visual", 0) + dom.roles.get("textual", 0) == sum(r != "neutral" for r in tokens)
    assert dom.tags.get("img", 0) == 8


@pytest.mark.slow
def test_rloo_records_samples_and_alpha_zero_records_none(tiny_s_dir, tiny_processor, dataset, tmp_path):
    train(DyCoRLOOTrainer, RLOOConfig, tiny_s_dir, tiny_processor, dataset, tmp_path / "dyco")
    assert len(list((tmp_path / "dyco" / "roles").glob("step_*.json"))) == 2
    train(DyCoRLOOTrainer, RLOOConfig, tiny_s_dir, tiny_processor, dataset, tmp_path / "stock", alpha=0.0)
    assert not (tmp_path / "stock" / "roles").exists()
