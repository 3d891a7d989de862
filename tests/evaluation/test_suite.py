import pytest

from dyco_repro.evaluation.suite import EvalError, all_benchmarks, column_groups, resolve_benchmarks

TABLE1 = ["WeMath", "MathVision", "MathVerse", "LogicVista", "HallusionBench", "MME", "MMBench"]


def test_table1_suite_is_the_papers_seven_in_order_with_vlmevalkit_names():
    benches = resolve_benchmarks("table1")
    assert [b.key for b in benches] == TABLE1
    assert [b.dataset for b in benches] == [
        "WeMath",
        "MathVision",
        "MathVerse_MINI",
        "LogicVista",
        "HallusionBench",
        "MME",
        "MMBench_DEV_EN",
    ]
    assert column_groups(benches) == [
        ("Mathematical Reasoning", TABLE1[:3]),
        ("Visual-Centric Reasoning", TABLE1[3:]),
    ]


def test_llm_judge_is_needed_exactly_for_mathvision_mathverse_logicvista():
    needs = {b.key for b in resolve_benchmarks("table1") if b.needs_llm_judge}
    assert needs == {"MathVision", "MathVerse", "LogicVista"}


def test_every_benchmark_names_a_real_vlmevalkit_class_and_its_official_dataset():
    import vlmeval.dataset as vd

    for bench in all_benchmarks().values():
        cls = getattr(vd, bench.vlmeval_class)
        if not bench.key.startswith("Synth_"):
            assert bench.dataset in cls.DATASET_MD5, bench


def test_comma_list_suites_and_keys_mix_without_repeats():
    keys = [b.key for b in resolve_benchmarks(["math", "WeMath,MME"])]
    assert keys == ["WeMath", "MathVision", "MathVerse", "MME"]


def test_dataset_override_swaps_the_vlmevalkit_name_only():
    (bench,) = resolve_benchmarks("MathVision", {"MathVision": "MathVision_MINI"})
    assert (bench.key, bench.dataset, bench.vlmeval_class) == ("MathVision", "MathVision_MINI", "MathVision")


@pytest.mark.parametrize("selection", ["tabel1", ["MMBench", "MMB"], ""])
def test_unknown_benchmark_lists_the_valid_ones(selection):
    with pytest.raises(EvalError) as err:
        resolve_benchmarks(selection)
    message = str(err.value)
    assert "\n" not in message and "table1" in message and "HallusionBench" in message


def test_override_of_an_unknown_benchmark_is_refused():
    with pytest.raises(EvalError, match="eval.datasets.MathVison"):
        resolve_benchmarks("table1", {"MathVison": "MathVision_MINI"})
