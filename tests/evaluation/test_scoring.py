import pandas as pd
import pytest

from dyco_repro.evaluation.scoring import jsonable, read_score
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
