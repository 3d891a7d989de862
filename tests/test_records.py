"""CellRecord: cell.json on disk and the same record through MLflow, exactly (no string round trips)."""

import json

import pytest
from run_helpers import cell_record

from dyco_repro.records import CELL_FILE, ZERO_SHOT, BenchmarkScore, CellRecord, Store, records_on_disk


def record(run_dir, algo="grpo", method="dyco", cell_hash="abc123", **extra) -> CellRecord:
    scores = {
        "Synth_MCQ": BenchmarkScore(41.7, "exact_matching", True, "Visual", 24, 3.5),
        "Synth_Math": BenchmarkScore(None, "none", False, None, 24, None),
    }
    steps = None if method == ZERO_SHOT else 4
    return cell_record(
        run_dir,
        algo,
        method,
        scores,
        cell_hash=cell_hash,
        model_label="Qwen2.5-VL-3B (tiny-s)",
        seconds=12.5,
        train_steps=steps,
        **extra,
    )


def test_cell_json_round_trips_exactly_with_none_kept_none(tmp_path):
    zero = record(tmp_path / "zero", algo=None, method=ZERO_SHOT)
    path = zero.write()
    assert path == tmp_path / "zero" / CELL_FILE
    on_disk = json.loads(path.read_text())
    assert on_disk["algo"] is None and on_disk["scores"]["Synth_Math"]["score"] is None
    assert on_disk["status"] == "finished" and "run_id" not in on_disk
    assert CellRecord.read(tmp_path / "zero") == zero


@pytest.mark.parametrize(
    "text",
    [
        '{"status": "fini',  # cut short
        '{"status": "running"}',  # not finished
        '{"status": "finished", "sweep_id": "s"}',  # fields missing
        "[1, 2]",
    ],
)
def test_a_damaged_or_unfinished_cell_json_is_no_record(tmp_path, text):
    (tmp_path / CELL_FILE).write_text(text)
    assert CellRecord.read(tmp_path) is None


def test_an_unknown_field_makes_the_record_invalid_not_silently_dropped(tmp_path):
    data = record(tmp_path).to_json()
    data["scores"]["Synth_MCQ"]["scroe"] = 1.0
    assert CellRecord.from_json(data) is None
    assert CellRecord.from_json(record(tmp_path).to_json()) == record(tmp_path)


def test_records_on_disk_skip_damaged_ones(tmp_path):
    record(tmp_path / "runs" / "a", cell_hash="a").write()
    (tmp_path / "runs" / "b").mkdir()
    (tmp_path / "runs" / "b" / CELL_FILE).write_text("{")
    assert [r.cell_hash for r in records_on_disk(tmp_path)] == ["a"]


def test_mlflow_holds_the_same_record_and_tags_without_a_none_algo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow puts a SQLite store's artifacts under the working directory
    store = Store(None, str(tmp_path), "records-test")
    zero = record(tmp_path / "runs" / "zero", algo=None, method=ZERO_SHOT, cell_hash="z")
    trained = record(tmp_path / "runs" / "grpo", cell_hash="t")
    zero.write()
    trained.write()
    parent = store.sweep_run("s-1", {"cells": []})
    assert parent is not None and store.sweep_run("s-1", {}) == parent  # one parent per sweep id
    assert store.log_missing([zero, trained], "s-1", parent) == 2
    assert store.log_missing([zero, trained], "s-1", parent) == 0  # already there: logged once
    assert store.finished_hashes("s-1") == {"z", "t"}
    read = {r.cell_hash: r for r in store.finished_records("s-1")}
    assert read["z"] == zero and read["t"] == trained and read["z"].algo is None
    assert read["z"].run_id and read["z"].run_id != read["t"].run_id

    import mlflow

    run = mlflow.get_run(read["z"].run_id)
    assert "algo" not in run.data.tags and run.data.tags["mlflow.parentRunId"] == parent
    assert run.data.metrics["eval/Synth_MCQ"] == pytest.approx(41.7) and "eval/Synth_Math" not in run.data.metrics
    assert mlflow.get_run(read["t"].run_id).data.tags["algo"] == "grpo"


def test_an_unreachable_store_answers_none_and_false(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    store = Store("http://127.0.0.1:9", str(tmp_path), "x")
    assert store.finished_hashes("s") is None and store.finished_records("s") is None
    assert store.sweep_run("s", {}) is None and store.log(record(tmp_path), None) is False
    assert store.log_missing([record(tmp_path)], "s", None) is None


def test_seed_and_per_item_file_round_trip_and_older_records_still_read(tmp_path):
    items = tmp_path / "eval" / "Synth_MCQ" / "items.csv"
    seeded = record(tmp_path / "seeded", seed=3)
    seeded = CellRecord(
        **{
            **seeded.__dict__,
            "scores": {"Synth_MCQ": BenchmarkScore(41.7, "exact_matching", True, "Visual", 24, 3.5, items=str(items))},
        }
    )
    seeded.write()
    back = CellRecord.read(tmp_path / "seeded")
    assert back == seeded and back.seed == 3 and back.scores["Synth_MCQ"].items == str(items)
    assert seeded.tags()["seed"] == "3" and "seed" not in record(tmp_path, algo=None, method=ZERO_SHOT).tags()
    # a cell.json written before seeds and per-item files were recorded
    old = seeded.to_json()
    old.pop("seed")
    old["scores"]["Synth_MCQ"].pop("items")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / CELL_FILE).write_text(json.dumps(old))
    legacy = CellRecord.read(tmp_path / "old")
    assert legacy.seed is None and legacy.scores["Synth_MCQ"].items is None
    entry = {"score": 41.7, "judge": "rule", "official": False, "group": "Visual", "n": 24, "samples_per_s": None}
    assert BenchmarkScore.from_result(entry).items is None
    assert BenchmarkScore.from_result(entry | {"items": str(items)}).items == str(items)
