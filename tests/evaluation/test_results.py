import json

from dyco_repro.evaluation.results import SCHEMA, load_results, save_results

ENTRY = {
    "benchmark": "Synth_MCQ",
    "dataset": "Synth_MCQ",
    "group": "Visual-Centric Reasoning",
    "score": 50.0,
    "judge": "exact_matching",
    "official": True,
    "n": 4,
    "seconds": 1.0,
    "samples_per_s": 4.0,
    "generation": {},
    "identity": {},
}


def test_round_trip_and_no_temp_file_left(tmp_path):
    path = tmp_path / "results.json"
    save_results(path, {"schema": SCHEMA, "benchmarks": {"Synth_MCQ": ENTRY}})
    assert load_results(path)["benchmarks"]["Synth_MCQ"]["score"] == 50.0
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_missing_file_is_none(tmp_path):
    assert load_results(tmp_path / "results.json") is None


def test_truncated_or_malformed_results_are_detected_not_used(tmp_path, capsys):
    path = tmp_path / "results.json"
    good = json.dumps({"schema": SCHEMA, "benchmarks": {"Synth_MCQ": ENTRY}})
    for damaged in (
        good[: len(good) // 2],  # cut short
        json.dumps({"schema": SCHEMA, "benchmarks": {"Synth_MCQ": {**ENTRY, "score": "50"}}}),  # wrong type
        json.dumps({"schema": SCHEMA, "benchmarks": {"Synth_MCQ": {k: v for k, v in ENTRY.items() if k != "n"}}}),
        json.dumps({"schema": 0, "benchmarks": {}}),
        "[]",
    ):
        path.write_text(damaged)
        assert load_results(path) is None
        assert "damaged or incomplete" in capsys.readouterr().err
