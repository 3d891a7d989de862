"""Table 1 from cell records: layout, markers, bolding, averages, deltas and the three writers."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import pandas as pd
import pytest

from dyco_repro import atomic
from dyco_repro.report.table import (
    PAPER_COLUMNS,
    CellResult,
    Score,
    build_table,
    load_paper_reference,
    to_csv,
    to_latex,
    to_markdown,
    write_all,
)

COLUMNS = [("Mathematical Reasoning", ["Synth_Math"]), ("Visual-Centric Reasoning", ["Synth_MCQ", "Synth_MME"])]


def exact(value):
    return Score(value, "exact_matching", True)


def rule(value):
    return Score(value, "rule", False)


def tiny_records() -> list[CellResult]:
    """A small sweep that exercises every marker. Given deliberately out of display order."""
    return [
        CellResult("tiny-m", "zero-shot", None, {"Synth_Math": exact(11.0), "Synth_MCQ": exact(21.0)}),
        CellResult(
            "tiny-s",
            "baseline",
            "dapo",
            {"Synth_Math": Score(None, "none", False), "Synth_MCQ": exact(30.0)},  # MME not run
        ),
        CellResult(
            "tiny-s", "dyco", "dapo", {"Synth_Math": exact(35.0), "Synth_MCQ": exact(25.0), "Synth_MME": exact(40.0)}
        ),
        CellResult(
            "tiny-s", "dyco", "grpo", {"Synth_Math": exact(40.0), "Synth_MCQ": exact(55.0), "Synth_MME": exact(58.0)}
        ),
        CellResult(
            "tiny-s",
            "baseline",
            "grpo",
            {"Synth_Math": exact(40.04), "Synth_MCQ": rule(50.0), "Synth_MME": exact(60.0)},
        ),
        CellResult(
            "tiny-s", "zero-shot", None, {"Synth_Math": exact(10.0), "Synth_MCQ": exact(20.0), "Synth_MME": exact(30.0)}
        ),
    ]


def complete_official_records() -> list[CellResult]:
    scores = {"Synth_Math": exact(10.0), "Synth_MCQ": exact(20.0), "Synth_MME": exact(30.0)}
    better = {"Synth_Math": exact(12.0), "Synth_MCQ": exact(22.0), "Synth_MME": exact(29.0)}
    return [
        CellResult("tiny-s", "zero-shot", None, scores),
        CellResult("tiny-s", "baseline", "grpo", scores),
        CellResult("tiny-s", "dyco", "grpo", better),
    ]


def markdown_rows(markdown: str) -> dict[tuple[str, str], list[str]]:
    """(model, row label) -> cell texts, read back from the Markdown table. A + DyCo-RL row is
    keyed by its pair, e.g. "GRPO + DyCo-RL"."""
    rows, model, baseline = {}, None, None
    for line in markdown.splitlines():
        if not line.startswith("| ") or line.startswith("| Method"):
            continue
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if cells[0].startswith("**") and not any(cells[1:]):
            model = cells[0].strip("*")
            continue
        label = f"{baseline} {cells[0]}" if cells[0] == "+ DyCo-RL" else cells[0]
        baseline = cells[0]
        rows[(model, label)] = cells[1:]
    return rows


def notes_line(markdown: str) -> str | None:
    return next((line for line in markdown.splitlines() if line.startswith("Notes:")), None)


# ----------------------------------------------------------------------------- Markdown cells


def test_markdown_cells_bold_markers_and_avg():
    table = build_table(tiny_records(), COLUMNS, model_order=["tiny-s", "tiny-m"])
    rows = markdown_rows(to_markdown(table))
    assert rows[("tiny-s", "Zero-Shot")] == ["10.0", "20.0", "30.0", "20.0"]
    # 40.04 and 40.0 both print as 40.0: a tie, neither bold. The rule-judged 50.0 carries a dagger,
    # and so does the Avg it enters; the better Avg (51.0) is bold.
    assert rows[("tiny-s", "GRPO")] == ["40.0", "50.0†", "**60.0**", "50.0†"]
    assert rows[("tiny-s", "GRPO + DyCo-RL")] == ["40.0", "**55.0**", "58.0", "**51.0**"]
    # Not judged, not run: no bold against a missing value, and no Avg over a partial row.
    assert rows[("tiny-s", "DAPO")] == ["n/j", "**30.0**", "–", "–"]
    assert rows[("tiny-s", "DAPO + DyCo-RL")] == ["35.0", "25.0", "40.0", "33.3"]
    # No baseline/dyco records for tiny-m: only its Zero-Shot row, with the missing benchmark not run.
    assert rows[("tiny-m", "Zero-Shot")] == ["11.0", "21.0", "–", "–"]


def test_numbers_from_local_tsvs_are_marked():
    """A score on a local TSV (official_data false: e.g. the tiny fixtures) carries §, and so does its Avg."""
    local = Score(20.0, "exact_matching", True, official_data=False)
    records = complete_official_records()[:2] + [
        CellResult("tiny-s", "dyco", "grpo", {"Synth_Math": exact(12.0), "Synth_MCQ": local, "Synth_MME": exact(29.0)})
    ]
    markdown = to_markdown(build_table(records, COLUMNS))
    assert markdown_rows(markdown)[("tiny-s", "GRPO + DyCo-RL")] == ["**12.0**", "20.0§", "29.0", "**20.3**§"]
    assert markdown_rows(markdown)[("tiny-s", "GRPO")] == ["10.0", "20.0", "**30.0**", "20.0"]
    assert notes_line(markdown) == "Notes: § from a local TSV, not VLMEvalKit's official file (e.g. the tiny fixtures)."


def test_dapo_dyco_row_and_pairs_are_adjacent():
    markdown = to_markdown(build_table(tiny_records(), COLUMNS, model_order=["tiny-s", "tiny-m"]))
    body = [line for line in markdown.splitlines() if line.startswith("| ")][1:]
    labels = [line.strip("|").split(" | ")[0].strip() for line in body]
    assert labels == ["**tiny-s**", "Zero-Shot", "GRPO", "+ DyCo-RL", "DAPO", "+ DyCo-RL", "**tiny-m**", "Zero-Shot"]
    dapo_dyco = body[labels.index("DAPO") + 1].strip("|").split(" | ")
    assert [cell.strip() for cell in dapo_dyco] == ["+ DyCo-RL", "35.0", "25.0", "40.0", "33.3"]


def test_avg_is_true_mean_only_for_complete_rows():
    table = build_table(tiny_records(), COLUMNS)
    by_label = {(row.model, row.method, row.algo): row for row in table.rows}
    assert by_label[("tiny-s", "baseline", "grpo")].cells["Avg"].value == pytest.approx((40.04 + 50.0 + 60.0) / 3)
    assert by_label[("tiny-s", "dyco", "dapo")].cells["Avg"].value == pytest.approx(100.0 / 3)
    assert by_label[("tiny-s", "baseline", "dapo")].cells["Avg"].value is None  # n/j and not run
    assert by_label[("tiny-m", "zero-shot", None)].cells["Avg"].value is None  # one benchmark missing


def test_notes_explain_exactly_the_markers_used():
    markdown = to_markdown(build_table(tiny_records(), COLUMNS))
    assert notes_line(markdown) == (
        "Notes: – not run; Avg –: not every benchmark of the row has a value; n/j: ran but not judged; "
        "† scored by a non-official judge (rule); an Avg with † includes such scores."
    )

    clean = to_markdown(build_table(complete_official_records(), COLUMNS))
    assert notes_line(clean) is None
    assert "†" not in clean and "n/j" not in clean and "–" not in clean.split("\n", 1)[1]

    only_dagger = complete_official_records()[:2] + [
        CellResult(
            "tiny-s", "dyco", "grpo", {"Synth_Math": rule(12.0), "Synth_MCQ": exact(22.0), "Synth_MME": exact(29.0)}
        )
    ]
    note = notes_line(to_markdown(build_table(only_dagger, COLUMNS)))
    assert note == "Notes: † scored by a non-official judge (rule); an Avg with † includes such scores."


def test_row_order_follows_algo_order_and_model_order():
    records = complete_official_records() + [
        CellResult("tiny-m", "dyco", "ppo", {}),
        CellResult("tiny-s", "baseline", "rloo", {}),
        CellResult("tiny-s", "dyco", "dapo", {}),
    ]
    table = build_table(records, COLUMNS, model_order=["tiny-m"])
    assert [(row.model, row.label) for row in table.rows] == [
        ("tiny-m", "Zero-Shot"),  # shown, even without a record, as not run
        ("tiny-m", "PPO"),
        ("tiny-m", "+ DyCo-RL"),
        ("tiny-s", "Zero-Shot"),
        ("tiny-s", "GRPO"),
        ("tiny-s", "+ DyCo-RL"),
        ("tiny-s", "DAPO"),
        ("tiny-s", "+ DyCo-RL"),
        ("tiny-s", "RLOO"),
        ("tiny-s", "+ DyCo-RL"),
    ]
    assert [row.method for row in table.rows[1:3]] == ["baseline", "dyco"]
    custom = build_table(records, COLUMNS, algo_order=("rloo", "dapo", "grpo", "ppo"))
    assert [row.label for row in custom.rows if row.model == "tiny-s"][1::2] == ["RLOO", "DAPO", "GRPO"]


def test_algos_outside_the_papers_order_get_rows_after_it_instead_of_an_error():
    # a TRL loss added as one YAML file (e.g. cispo): its rows follow the paper's algos, sorted by name
    records = [
        CellResult("tiny-s", "zero-shot", None, {"Synth_Math": exact(10.0)}),
        CellResult("tiny-s", "dyco", "cispo", {"Synth_Math": exact(14.0)}),
        CellResult("tiny-s", "baseline", "cispo", {"Synth_Math": exact(12.0)}),
        CellResult("tiny-s", "baseline", "abc", {"Synth_Math": exact(11.0)}),
        CellResult("tiny-s", "baseline", "grpo", {"Synth_Math": exact(13.0)}),
    ]
    table = build_table(records, COLUMNS)
    assert [(row.label, row.algo) for row in table.rows] == [
        ("Zero-Shot", None),
        ("GRPO", "grpo"),
        ("+ DyCo-RL", "grpo"),
        ("ABC", "abc"),
        ("+ DyCo-RL", "abc"),
        ("CISPO", "cispo"),
        ("+ DyCo-RL", "cispo"),
    ]
    cispo = {row.method: row.cells["Synth_Math"] for row in table.rows if row.algo == "cispo"}
    assert cispo["baseline"].value == 12.0 and cispo["dyco"].value == 14.0 and cispo["dyco"].bold
    assert "| CISPO |" in to_markdown(table)


def test_records_of_one_cell_merge_and_conflicts_fail():
    split = [
        CellResult("tiny-s", "zero-shot", None, {"Synth_Math": exact(10.0)}),
        CellResult("tiny-s", "zero-shot", None, {"Synth_MCQ": exact(20.0), "Synth_MME": exact(30.0)}),
    ]
    row = build_table(split, COLUMNS).rows[0]
    assert row.cells["Avg"].value == pytest.approx(20.0)
    clash = split + [CellResult("tiny-s", "zero-shot", None, {"Synth_Math": exact(11.0)})]
    with pytest.raises(ValueError, match="two different scores"):
        build_table(clash, COLUMNS)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: CellResult("m", "sft", "grpo", {}), "unknown method"),
        (lambda: CellResult("m", "zero-shot", "grpo", {}), "zero-shot has no algo"),
        (lambda: CellResult("m", "dyco", None, {}), "need one"),
        (lambda: Score(162.0, "exact_matching", True), "not in 0-100"),
        (lambda: Score(float("nan"), "rule", False), "not in 0-100"),
        (lambda: build_table([], [("A", ["X"]), ("B", ["X"])]), "listed twice"),
        (lambda: build_table([], [("A", ["avg"])]), "table's own column"),
        (lambda: build_table([], []), "no benchmark"),
    ],
)
def test_bad_input_fails_with_a_clear_message(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_scores_for_benchmarks_outside_the_layout_are_ignored():
    records = [CellResult("m", "zero-shot", None, {"Synth_Math": exact(10.0), "Other": exact(99.0)})]
    table = build_table(records, [("Math", ["Synth_Math"])])
    assert set(table.rows[0].cells) == {"Synth_Math", "Avg"}
    assert table.rows[0].cells["Avg"].value == 10.0


# ----------------------------------------------------------------------------- deltas


def small_reference() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"model": "tiny-s", "method": "grpo", "Synth_Math": 38.5, "Synth_MCQ": 52.0, "Avg": 49.0},
            {"model": "tiny-s", "method": "grpo+dyco", "Synth_Math": 41.2},
        ]
    )


def test_deltas_against_reference_have_sign_and_value():
    table = build_table(tiny_records(), COLUMNS, model_order=["tiny-s", "tiny-m"], reference=small_reference())
    markdown = to_markdown(table)
    rows = markdown_rows(markdown)
    # Synth_MME is not in the reference, grpo+dyco has only Synth_Math: no delta where no reference value.
    assert rows[("tiny-s", "GRPO")] == ["40.0 (+1.5)", "50.0† (-2.0)", "**60.0**", "50.0† (+1.0)"]
    assert rows[("tiny-s", "GRPO + DyCo-RL")][0] == "40.0 (-1.2)"
    assert rows[("tiny-s", "GRPO + DyCo-RL")][1:] == ["**55.0**", "58.0", "**51.0**"]
    assert rows[("tiny-s", "Zero-Shot")] == ["10.0", "20.0", "30.0", "20.0"]  # not in the reference
    assert rows[("tiny-m", "Zero-Shot")] == ["11.0", "21.0", "–", "–"]
    assert notes_line(markdown).endswith("; (±x.x): difference to the paper's value.")

    latex = to_latex(table)
    assert r"GRPO & 40.0 {\scriptsize $(+1.5)$}" in latex  # a tie (40.04 vs 40.0 shown): not bold
    assert r"50.0$^\dagger$ {\scriptsize $(-2.0)$}" in latex

    frame = pd.read_csv(io.StringIO(to_csv(table)))
    grpo = frame[(frame["model"] == "tiny-s") & (frame["row"] == "GRPO")].iloc[0]
    assert grpo["delta_Synth_Math"] == pytest.approx(1.5)
    assert grpo["delta_Synth_MCQ"] == pytest.approx(-2.0)
    assert pd.isna(grpo["delta_Synth_MME"])
    assert grpo["delta_avg"] == pytest.approx(1.0)
    assert "delta_Synth_Math" not in pd.read_csv(io.StringIO(to_csv(build_table(tiny_records(), COLUMNS)))).columns


# ----------------------------------------------------------------------------- LaTeX


def unescaped_ampersands(line: str) -> int:
    return len(re.findall(r"(?<!\\)&", line))


def test_latex_booktabs_groups_escaping_and_bold():
    latex = to_latex(build_table(tiny_records(), COLUMNS, model_order=["tiny-s", "tiny-m"]))
    lines = latex.splitlines()
    assert lines[0] == r"\begin{tabular}{lcccc}" and lines[-1] == r"\end{tabular}"
    for rule_ in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule_ in lines
    assert lines.index(r"\toprule") < lines.index(r"\midrule") < lines.index(r"\bottomrule")
    assert r"& \multicolumn{1}{c}{Mathematical Reasoning} & \multicolumn{2}{c}{Visual-Centric Reasoning} &" in latex
    assert r"\cmidrule(lr){2-2} \cmidrule(lr){3-4}" in lines
    assert r"Method & Synth\_Math & Synth\_MCQ & Synth\_MME & Avg \\" in lines
    assert re.search(r"(?<!\\)_", latex.replace(r"\_", "")) is None  # every underscore escaped
    assert r"\multicolumn{5}{l}{\textit{tiny-s}} \\" in lines
    assert r"+ DyCo-RL & 40.0 & \textbf{55.0} & 58.0 & \textbf{51.0} \\" in lines
    assert r"GRPO & 40.0 & 50.0$^\dagger$ & \textbf{60.0} & 50.0$^\dagger$ \\" in lines
    assert r"DAPO & n/j & \textbf{30.0} & -- & -- \\" in lines
    data_rows = [line for line in lines if line.endswith(r"\\") and r"\multicolumn" not in line]
    assert len(data_rows) == 1 + 6  # header + six table rows
    assert all(unescaped_ampersands(line) == 4 for line in data_rows)  # 5 columns everywhere
    assert r"\footnotesize Notes: -- not run;" in latex


def test_latex_escapes_specials_in_names():
    records = [CellResult("a_b & 50% #1", "zero-shot", None, {"X_1": exact(1.0)})]
    latex = to_latex(build_table(records, [("Group & more", ["X_1"])]))
    assert r"\textit{a\_b \& 50\% \#1}" in latex
    assert r"\multicolumn{1}{c}{Group \& more}" in latex
    assert r"X\_1" in latex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_compiles(tmp_path):
    table = build_table(tiny_records(), COLUMNS, reference=small_reference())
    document = (
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n" + to_latex(table) + "\\end{document}\n"
    )
    (tmp_path / "t.tex").write_text(document, encoding="utf-8")
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path, capture_output=True
    )
    assert done.returncode == 0, done.stdout.decode(errors="replace")[-2000:]


# ----------------------------------------------------------------------------- CSV and files


def test_csv_round_trips_through_pandas():
    table = build_table(tiny_records(), COLUMNS, model_order=["tiny-s", "tiny-m"])
    text = to_csv(table)
    assert "**" not in text and "†" not in text and "n/j" not in text
    frame = pd.read_csv(io.StringIO(text))
    assert list(frame.columns[:4]) == ["model", "method", "algo", "row"]
    assert list(zip(frame["model"], frame["row"], strict=True)) == [
        ("tiny-s", "Zero-Shot"),
        ("tiny-s", "GRPO"),
        ("tiny-s", "+ DyCo-RL"),
        ("tiny-s", "DAPO"),
        ("tiny-s", "+ DyCo-RL"),
        ("tiny-m", "Zero-Shot"),
    ]
    grpo = frame.iloc[1]
    assert (grpo["method"], grpo["algo"]) == ("baseline", "grpo")
    assert grpo["Synth_Math"] == 40.04  # raw values, not the printed ones
    assert grpo["avg"] == pytest.approx((40.04 + 50.0 + 60.0) / 3)
    assert grpo["judge_Synth_MCQ"] == "rule" and not grpo["official_Synth_MCQ"]
    assert grpo["official_Synth_Math"] and not grpo["official_avg"]
    dapo = frame.iloc[3]
    assert pd.isna(dapo["Synth_Math"]) and dapo["judge_Synth_Math"] == "none"  # ran, not judged
    assert pd.isna(dapo["Synth_MME"]) and pd.isna(dapo["judge_Synth_MME"])  # not run
    assert pd.isna(dapo["avg"])
    assert pd.isna(frame.iloc[0]["algo"])


def test_write_all_writes_complete_files_and_no_temp_files(tmp_path):
    table = build_table(tiny_records(), COLUMNS)
    out = tmp_path / "report"
    (out).mkdir()
    (out / "table1.md").write_text("stale")
    paths = write_all(table, out)
    assert paths == {"md": out / "table1.md", "tex": out / "table1.tex", "csv": out / "table1.csv"}
    assert sorted(p.name for p in out.iterdir()) == ["table1.csv", "table1.md", "table1.tex"]
    assert paths["md"].read_text(encoding="utf-8") == to_markdown(table)
    assert paths["tex"].read_text(encoding="utf-8") == to_latex(table)
    assert paths["csv"].read_text(encoding="utf-8") == to_csv(table)


def test_write_all_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    table = build_table(tiny_records(), COLUMNS)
    (tmp_path / "t.md").write_text("previous table")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)  # the one atomic writer the table uses
    with pytest.raises(OSError, match="disk full"):
        write_all(table, tmp_path, stem="t")
    assert [p.name for p in tmp_path.iterdir()] == ["t.md"]
    assert (tmp_path / "t.md").read_text() == "previous table"


# ----------------------------------------------------------------------------- the paper's numbers


@pytest.fixture
def paper() -> pd.DataFrame:
    from dyco_repro.report.build import PAPER_REFERENCE

    return load_paper_reference(PAPER_REFERENCE)


def records_from_reference(reference: pd.DataFrame) -> list[CellResult]:
    benchmarks = [key for _, keys in PAPER_COLUMNS for key in keys]
    records = []
    for _, row in reference.iterrows():
        method, algo = row["method"], None
        if method != "zero-shot":
            algo, _, dyco = method.partition("+")
            method = "dyco" if dyco else "baseline"
        records.append(CellResult(row["model"], method, algo, {b: exact(row[b]) for b in benchmarks}))
    return records


def test_paper_reference_loads(paper):
    assert len(paper) == 18
    assert set(paper["method"]) == {
        "zero-shot",
        *(f"{a}{s}" for a in ("grpo", "dapo", "sapo", "gspo") for s in ("", "+dyco")),
    }
    assert paper.loc[(paper["model"] == "Qwen2.5-VL-3B") & (paper["method"] == "grpo+dyco"), "Avg"].item() == 46.7


def test_paper_numbers_reproduce_with_zero_deltas(paper):
    table = build_table(records_from_reference(paper), PAPER_COLUMNS, reference=paper)
    assert [row.label for row in table.rows[:3]] == ["Zero-Shot", "GRPO", "+ DyCo-RL"]
    deltas = [cell.delta for row in table.rows for cell in row.cells.values()]
    assert len(deltas) == 18 * 8 and all(delta == 0.0 for delta in deltas)
    # The paper's Avg is the mean of its seven rounded values; ours is the true mean of the same values.
    for row in table.rows:
        if row.model == "Qwen2.5-VL-3B":
            key = "zero-shot" if row.method == "zero-shot" else row.algo + ("+dyco" if row.method == "dyco" else "")
            paper_avg = paper.loc[(paper["model"] == row.model) & (paper["method"] == key), "Avg"].item()
            assert row.cells["Avg"].value == pytest.approx(paper_avg, abs=0.1)
    rows = markdown_rows(to_markdown(table))
    assert rows[("Qwen2.5-VL-3B", "GRPO + DyCo-RL")][-1] == "**46.7** (+0.0)"


def test_paper_reference_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="table1_paper.csv"):
        load_paper_reference(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,WeMath\nx,1\n")
    with pytest.raises(ValueError, match="missing column"):
        load_paper_reference(bad)
    twice = tmp_path / "twice.csv"
    twice.write_text("model,method,WeMath\nm,grpo,1\nm,grpo,2\n")
    with pytest.raises(ValueError, match="listed twice"):
        load_paper_reference(twice)


# ----------------------------------------------------------------------------- seeds, intervals, significance


def seeded_records(mcq_base=(40.0, 42.0, 44.0), mcq_dyco=(45.0, 47.0, 52.0)) -> list[CellResult]:
    """Three seeds of a GRPO pair (one benchmark varies by seed) and a zero-shot row without a seed."""
    out = [CellResult("tiny-s", "zero-shot", None, {"Synth_Math": exact(5.0), "Synth_MCQ": exact(10.0)})]
    for seed, (b, d) in enumerate(zip(mcq_base, mcq_dyco, strict=True)):
        out.append(CellResult("tiny-s", "baseline", "grpo", {"Synth_Math": exact(20.0), "Synth_MCQ": exact(b)}, seed))
        out.append(CellResult("tiny-s", "dyco", "grpo", {"Synth_Math": exact(30.0), "Synth_MCQ": exact(d)}, seed))
    return out


SEEDED = [("Math", ["Synth_Math"]), ("Visual", ["Synth_MCQ"])]


def test_seeds_of_one_cell_average_with_a_t_interval():
    from scipy import stats as sps

    table = build_table(seeded_records(), SEEDED)
    rows = {(r.method, r.algo): r for r in table.rows}
    base = rows[("baseline", "grpo")]
    assert base.n_seeds == 3 and rows[("zero-shot", None)].n_seeds == 1
    cell = base.cells["Synth_MCQ"]
    low, high = sps.t.interval(0.95, df=2, loc=42.0, scale=2.0 / 3**0.5)
    assert (cell.value, cell.ci_low, cell.ci_high, cell.n_seeds) == (pytest.approx(42.0), low, high, 3)
    assert cell.half_width == pytest.approx(sps.t.ppf(0.975, 2) * 2.0 / 3**0.5)
    # A benchmark equal on every seed has a zero-width interval; the Avg is over each seed's own Avg.
    assert base.cells["Synth_Math"].half_width == 0.0
    avg = base.cells["Avg"]
    assert avg.value == pytest.approx(31.0) and avg.ci_low == pytest.approx((20 + low) / 2)
    # One record (zero-shot): the value, no interval.
    zero = rows[("zero-shot", None)].cells["Synth_MCQ"]
    assert (zero.value, zero.ci_low, zero.ci_high, zero.half_width) == (10.0, None, None, None)


def test_markdown_shows_mean_plus_minus_half_width_and_bold_stays_the_better_mean():
    rows = markdown_rows(to_markdown(build_table(seeded_records(), SEEDED)))
    assert rows[("tiny-s", "GRPO")][1] == "42.0 ± 5.0"  # t(2) 4.303 x 2 / sqrt(3) = 4.97
    assert rows[("tiny-s", "GRPO + DyCo-RL")][1].startswith("**48.0** ± ")
    assert rows[("tiny-s", "Zero-Shot")] == ["5.0", "10.0", "7.5"]
    assert "mean over seeds ± half-width of its 95% interval" in notes_line(
        to_markdown(build_table(seeded_records(), SEEDED))
    )


def comparisons(p_mcq: float, p_avg: float = 0.5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": "tiny-s",
            "algo": "grpo",
            "benchmark": ["Synth_Math", "Synth_MCQ", "Avg"],
            "p_value": [0.5, p_mcq, p_avg],
            "p_adjusted": [0.9, p_mcq, p_avg],
        }
    )


def test_significant_pairs_after_adjustment_get_their_own_marker_not_bold():
    table = build_table(seeded_records(), SEEDED, comparisons=comparisons(0.01))
    markdown = to_markdown(table)
    rows = markdown_rows(markdown)
    assert rows[("tiny-s", "GRPO + DyCo-RL")][1].endswith("‡") and "‡" not in rows[("tiny-s", "GRPO")][1]
    # Synth_Math: DyCo is better (bold) but not significant: bold without the marker.
    assert rows[("tiny-s", "GRPO + DyCo-RL")][0] == "**30.0** ± 0.0"
    assert "‡ DyCo – baseline significant" in notes_line(markdown) and "adjusted p < 0.05" in notes_line(markdown)
    frame = pd.read_csv(io.StringIO(to_csv(table)))
    dyco = frame[frame["method"] == "dyco"].iloc[0]
    assert bool(dyco["significant_Synth_MCQ"]) and not bool(dyco["significant_Synth_Math"])
    # An adjusted p at or above 0.05 marks nothing, and the notes say nothing about it.
    plain = to_markdown(build_table(seeded_records(), SEEDED, comparisons=comparisons(0.05)))
    assert "‡" not in plain
    assert r"$^\ddagger$" in to_latex(table) and r"$\pm$" in to_latex(table)


def test_csv_gains_interval_columns_and_n_seeds():
    frame = pd.read_csv(io.StringIO(to_csv(build_table(seeded_records(), SEEDED))))
    for column in ("Synth_Math_ci_low", "Synth_Math_ci_high", "Synth_MCQ_ci_low", "Synth_MCQ_ci_high"):
        assert column in frame
    assert {"avg_ci_low", "avg_ci_high", "n_seeds"} <= set(frame.columns)
    by_method = frame.set_index("method")
    assert by_method.loc["baseline", "n_seeds"] == 3 and by_method.loc["zero-shot", "n_seeds"] == 1
    assert by_method.loc["baseline", "Synth_MCQ_ci_low"] < 42.0 < by_method.loc["baseline", "Synth_MCQ_ci_high"]
    assert pd.isna(by_method.loc["zero-shot", "Synth_MCQ_ci_low"])  # one seed: no interval


def test_delta_to_the_paper_says_whether_the_paper_lies_in_our_interval():
    reference = pd.DataFrame(
        {
            "model": ["tiny-s", "tiny-s"],
            "method": ["grpo", "grpo+dyco"],
            "Synth_Math": [20.0, 31.0],
            "Synth_MCQ": [45.0, 60.0],
        }
    )
    table = build_table(seeded_records(), SEEDED, reference=reference)
    rows = markdown_rows(to_markdown(table))
    assert rows[("tiny-s", "GRPO")][1] == "42.0 ± 5.0 (-3.0 ∈CI)"  # 45 in [37.0, 47.0]
    assert rows[("tiny-s", "GRPO + DyCo-RL")][1].endswith("(-12.0 ∉CI)")  # 60 beyond 48 + 9.0
    assert rows[("tiny-s", "GRPO + DyCo-RL")][0] == "**30.0** ± 0.0 (-1.0 ∉CI)"  # a zero-width interval
    frame = pd.read_csv(io.StringIO(to_csv(table))).set_index("method")
    assert frame.loc["baseline", "paper_in_ci_Synth_MCQ"] == True  # noqa: E712 - read back from CSV
    assert frame.loc["dyco", "paper_in_ci_Synth_MCQ"] == False  # noqa: E712
    assert pd.isna(frame.loc["zero-shot", "paper_in_ci_Synth_MCQ"])  # no paper row and no interval
    assert "∈CI / ∉CI" in notes_line(to_markdown(table))
    assert r"{\notin}\mathrm{CI}" in to_latex(table)


def test_two_seeds_of_one_cell_do_not_conflict_but_two_scores_of_one_seed_do():
    one = CellResult("tiny-s", "baseline", "grpo", {"Synth_MCQ": exact(40.0)}, seed=0)
    other_seed = CellResult("tiny-s", "baseline", "grpo", {"Synth_MCQ": exact(44.0)}, seed=1)
    table = build_table([one, other_seed], SEEDED)
    assert table.rows[1].cells["Synth_MCQ"].value == 42.0
    with pytest.raises(ValueError, match="seed 0 on Synth_MCQ"):
        build_table([one, CellResult("tiny-s", "baseline", "grpo", {"Synth_MCQ": exact(41.0)}, seed=0)], SEEDED)
