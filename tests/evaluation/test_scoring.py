import pandas as pd
import pytest

from dyco_repro.evaluation.scoring import committed_predictions, jsonable, read_score
from dyco_repro.evaluation.suite import EvalError, all_benchmarks

SPEC = {k: b.score for k, b in all_benchmarks().items()}


def test_mme_is_perception_plus_reasoning_over_2800(tmp_path):
    """Through VLMEvalKit's own MME_rating: all 14 subtasks perfect -> 2800 -> 100."""
    from vlmeval.dataset.utils.yorn import MME_rating

    cats = [
        "OCR",
        "artwork",
        "celebrity",
        "color",
        "count",
        "existence",
        "landmark",
        "position",
        "posters",
        "scene",
        "code_reasoning",
        "commonsense_reasoning",
        "numerical_calculation",
        "text_translation",
    ]
    rows = [{"category": c, "image_path": f"{c}/{i}.png", "score": s} for c in cats for i in range(2) for s in (1, 1)]
    storage = tmp_path / "mme.tsv"
    pd.DataFrame(rows).to_csv(storage, sep="\t", index=False)
    assert read_score(MME_rating(str(storage)), SPEC["MME"], "MME") == pytest.approx(100.0)
    # one wrong answer per pair everywhere: acc 50 + acc+ 0 per subtask -> 700 / 2800
    rows = [dict(r, score=j % 2) for j, r in enumerate(rows)]
    pd.DataFrame(rows).to_csv(storage, sep="\t", index=False)
    assert read_score(MME_rating(str(storage)), SPEC["MME"], "MME") == pytest.approx(25.0)


def test_mmbench_fraction_and_wemath_percent_strings_land_on_0_100():
    mmb = pd.DataFrame({"split": ["dev"], "Overall": [0.628], "AR": [0.5]})
    assert read_score(mmb, SPEC["MMBench"], "MMBench") == pytest.approx(62.8)
    wemath = pd.DataFrame({"Score (Strict)": ["20.00%"], "Score (Loose)": ["31.5%"]})
    assert read_score(wemath, SPEC["WeMath"], "WeMath") == pytest.approx(20.0)


def test_row_selection_reads_the_overall_row():
    hallusion = pd.DataFrame({"split": ["VD", "Overall", "VS"], "aAcc": [10.0, 61.3, 90.0], "fAcc": [1, 2, 3]})
    assert read_score(hallusion, SPEC["HallusionBench"], "HallusionBench") == pytest.approx(61.3)
    mathv = {"Subject": ["algebra", "Overall"], "acc": [50.0, 23.0]}  # a dict of lists works too
    assert read_score(mathv, SPEC["MathVision"], "MathVision") == pytest.approx(23.0)


def test_a_result_without_the_named_number_is_a_clear_error():
    with pytest.raises(EvalError, match="MMBench"):
        read_score(pd.DataFrame({"split": ["test"], "Overall": [0.5]}), SPEC["MMBench"], "MMBench")


def test_raw_result_is_json_ready():
    raw = jsonable(pd.DataFrame({"split": ["dev"], "Overall": [float("nan")], "n": [pd.Series([3]).iloc[0]]}))
    assert raw == [{"split": "dev", "Overall": None, "n": 3}]


# ---- what VLMEvalKit's exact matching is handed: the committed answer, read like VLMEvalKit reads a clean one --


def _vlmeval_mcq(text, choices):
    from dyco_repro.compat import import_vlmeval_datasets

    import_vlmeval_datasets()
    from vlmeval.utils import can_infer

    return can_infer(text, dict(choices))


def _vlmeval_yes_no(text):
    from dyco_repro.compat import import_vlmeval_datasets

    import_vlmeval_datasets()
    from vlmeval.dataset.utils.yorn import YOrN_Extraction

    return YOrN_Extraction(text)


CHOICES = {"A": "circle", "B": "square", "C": "triangle", "D": "star"}


@pytest.mark.parametrize(
    ("prediction", "clean"),
    [
        ("The correct answer is B because the square is bigger than the other shapes here.", "B"),  # the issue
        ("答案：C", "C"),  # the issue: a label in another language
        ("Die richtige Antwort: D, weil es fünf Zacken hat.", "D"),  # ours
        ("B", "B"),  # VLMEvalKit already reads it: left alone
    ],
)
def test_mcq_prediction_is_scored_as_its_clean_answer(prediction, clean):
    frame = pd.DataFrame({"prediction": [prediction], **{k: [v] for k, v in CHOICES.items()}})
    committed = committed_predictions(frame, "MCQ")["prediction"][0]
    assert _vlmeval_mcq(committed, CHOICES) == _vlmeval_mcq(clean, CHOICES) == clean


@pytest.mark.parametrize(
    ("prediction", "clean"),
    [("**Yes**", "Yes"), ("**No**, it is not", "No"), ("Yes", "Yes")],  # the issue; ours; already read
)
def test_yes_no_prediction_is_scored_as_its_clean_answer(prediction, clean):
    committed = committed_predictions(pd.DataFrame({"prediction": [prediction]}), "Y/N")["prediction"][0]
    assert _vlmeval_yes_no(committed) == _vlmeval_yes_no(clean) == clean


def test_hedged_or_unreadable_predictions_are_left_as_written():
    frame = pd.DataFrame({"prediction": ["A or B", "no idea"], **{k: [v, v] for k, v in CHOICES.items()}})
    assert list(committed_predictions(frame, "MCQ")["prediction"]) == ["A or B", "no idea"]
    vqa = pd.DataFrame({"prediction": ["The answer is 3"]})
    assert committed_predictions(vqa, "VQA") is vqa


def test_thought_with_both_words_is_not_scored():
    """The issue: a correct yes/no answer after a thought containing both words scored 0."""
    from dyco_repro.evaluation.inference import GenerationSettings, scored_text

    settings = GenerationSettings(max_new_tokens=8, batch_size=1, min_pixels=1, max_pixels=1)
    text = scored_text("<think>Is it yes or no? I would say no at first, then yes.</think> Yes", settings)
    assert text == "Yes" and _vlmeval_yes_no(text) == "Yes"
    assert scored_text("<think>a</think><answer>B</answer>", settings) == "B"
    raw = GenerationSettings(max_new_tokens=8, batch_size=1, min_pixels=1, max_pixels=1, extract_answer_tag=False)
    assert scored_text("<think>a</think> B", raw) == "<think>a</think> B"


@pytest.mark.slow
def test_mathvision_scoring_through_vlmevalkit_runs_no_prediction(tmp_path, monkeypatch):
    """VLMEvalKit's MathVision.evaluate end to end (Synth_Math, the fake judge): the payload is never run."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from fake_judge import FakeJudge

    from dyco_repro.evaluate import synthetic_root
    from dyco_repro.evaluation.datasets import build_dataset
    from dyco_repro.evaluation.judge import choose_judge
    from dyco_repro.evaluation.scoring import score

    root = synthetic_root(24)
    monkeypatch.setenv("LMUData", str(root))
    bench = all_benchmarks()["Synth_Math"]
    dataset = build_dataset(bench, root)
    marker = tmp_path / "pwned"
    data = dataset.data.drop(columns=["image"]).copy()
    data["prediction"] = [f"__import__('os').system('touch {marker}') or {a}" for a in data["answer"]]
    pred = tmp_path / "dyco_Synth_Math.tsv"
    data.to_csv(pred, sep="\t", index=False)
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    with FakeJudge() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_API_BASE", fake.url)
        judge = choose_judge("auto", bench, "gpt-4o-mini", nproc=1)
        _, raw = score(dataset, bench, judge, pred, fresh=True)
    overall = next(r for r in raw if r["Subject"] == "Overall")
    assert overall["prefetch"] == 0  # upstream "prefetched" every row by running it
    assert not marker.exists()
    rule_value, _ = score(dataset, bench, choose_judge("rule", bench, "gpt-4o-mini"), pred, fresh=True)
    assert rule_value == 0.0


def test_prediction_file_holds_what_vlmevalkit_scores(tmp_path):
    """The written prediction file carries the committed answers, so re-scoring it gives the recorded number."""
    from dyco_repro.evaluation.inference import GenerationSettings, read_prediction_file, write_prediction_file

    class Dataset:
        TYPE = "MCQ"
        data = pd.DataFrame(
            {"index": [0, 1], "image": ["x", "y"], "answer": ["B", "A"], **{k: [v, v] for k, v in CHOICES.items()}}
        )

    raw = {"0": "<think>A? B?</think>The correct answer is B because the square is bigger than the rest.", "1": "A"}
    settings = GenerationSettings(max_new_tokens=8, batch_size=1, min_pixels=1, max_pixels=1)
    written = read_prediction_file(write_prediction_file(Dataset(), raw, settings, tmp_path / "p.tsv"))
    assert list(written["prediction"]) == ["B", "A"] and "image" not in written
