"""Paper-style Table 1 from cell records: build once, then write Markdown, LaTeX and CSV.

Pure pandas; the records come from MLflow (see ``collect``) or from hand-made tests. The
benchmark layout is passed in (it lives in the suite's YAML), so the same code renders the
paper's seven benchmarks and the tiny world's synthetic ones.

Seeds. Records of one (model, method, algo) with different seeds are one row: each number is the mean
over seeds, with a 95% t-interval over seeds where there are two or more (``stats.seed_summary``), shown
as ``mean ± half-width``; the row's Avg is the mean (and interval) of each seed's own Avg. Bold marks the
better mean of a baseline / DyCo pair as in the paper; a separate marker (‡) marks the pairs whose
paired DyCo - baseline difference is significant after Benjamini-Hochberg adjustment (``comparisons``
from ``stats.paired_comparisons``). Against the paper, each number's difference to the paper's value
says whether the paper's value lies inside our interval (∈CI / ∉CI).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from ..atomic import write_text_atomic
from ..records import ZERO_SHOT
from . import stats

METHODS = (ZERO_SHOT, "baseline", "dyco")
# The paper's algorithms in its order; any other algorithm's rows follow them (sorted by name).
DEFAULT_ALGO_ORDER = ("grpo", "dapo", "sapo", "gspo", "rloo", "ppo")
# The paper's layout; callers normally pass the layout from the benchmark suite file instead.
PAPER_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Mathematical Reasoning", ("WeMath", "MathVision", "MathVerse")),
    ("Visual-Centric Reasoning", ("LogicVista", "HallusionBench", "MME", "MMBench")),
)
AVG = "Avg"
LOCAL_DATA = "§"  # marks a number scored on a local TSV, not VLMEvalKit's official file
ZERO_SHOT_LABEL = "Zero-Shot"
DYCO_LABEL = "+ DyCo-RL"

# Cell states. "incomplete" only occurs in the Avg column.
OK, NOT_RUN, NOT_JUDGED, INCOMPLETE = "ok", "not_run", "not_judged", "incomplete"
SIGNIFICANT = "‡"  # DyCo - baseline significant after adjustment (Markdown; LaTeX: $^\ddagger$)
ALPHA = 0.05


# --------------------------------------------------------------------------- records (input)


@dataclass(frozen=True)
class Score:
    """One benchmark score of one cell, with the judge that produced it."""

    value: float | None  # 0-100; None: the benchmark ran but was not judged (or judging failed)
    judge: str  # e.g. "exact_matching", "gpt-4o-mini", "rule", "none"
    official: bool  # scored as the paper's official pipeline does (exact matching or the LLM judge)
    official_data: bool = True  # False: a local TSV, not VLMEvalKit's official file (md5 differs)

    def __post_init__(self):
        if self.value is not None:
            value = float(self.value)
            if not math.isfinite(value) or not 0.0 <= value <= 100.0:
                raise ValueError(
                    f"score {self.value!r} (judge {self.judge!r}) is not in 0-100; "
                    "normalise to percent, and use None for a benchmark that was not judged"
                )
            object.__setattr__(self, "value", value)


@dataclass(frozen=True)
class CellResult:
    """Everything the table needs from one cell of the sweep (one model x method x algo)."""

    model: str  # model label as shown in the table, e.g. "Qwen2.5-VL-3B" or "tiny-s"
    method: str  # ZERO_SHOT, "baseline" or "dyco"
    algo: str | None  # e.g. "grpo", "dapo", "sapo", "gspo", "rloo", "ppo", or any other algo; None for zero-shot
    scores: dict[str, Score]  # benchmark key -> score; a benchmark absent here was not run
    seed: int | None = None  # the training seed; records of one cell with different seeds are averaged

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r} for model {self.model!r}; use one of {METHODS}")
        if (self.method == ZERO_SHOT) != (self.algo is None):
            raise ValueError(
                f"cell {self.model}/{self.method}/{self.algo}: zero-shot has no algo, baseline and dyco need one"
            )


# --------------------------------------------------------------------------- table (built)


@dataclass(frozen=True)
class Cell:
    """One rendered cell: the number (if any), why it is missing, and its markup decisions."""

    value: float | None
    status: str  # OK, NOT_RUN, NOT_JUDGED, or INCOMPLETE (Avg of a row with a missing value)
    judge: str | None = None  # benchmark cells: the record's judge; Avg: None
    official: bool | None = None  # Avg: False when any averaged score is non-official
    official_data: bool | None = None  # False: from a local, non-official TSV (Avg: any averaged one)
    bold: bool = False
    delta: float | None = None  # shown value minus the reference value, rounded to 0.1
    ci_low: float | None = None  # 95% t-interval over seeds (None: fewer than two seeds)
    ci_high: float | None = None
    n_seeds: int = 0  # seeds behind the value
    significant: bool = False  # DyCo cell: the paired difference to its baseline is significant (adjusted p)
    paper_in_ci: bool | None = None  # the paper's value lies inside [ci_low, ci_high] (None: no CI or no value)

    @property
    def half_width(self) -> float | None:
        if self.ci_low is None or self.ci_high is None or self.value is None:
            return None
        return (self.ci_high - self.ci_low) / 2


@dataclass(frozen=True)
class Row:
    model: str
    method: str
    algo: str | None
    label: str  # "Zero-Shot", "GRPO", "+ DyCo-RL", ...
    cells: dict[str, Cell]  # benchmark key -> cell, plus "Avg"
    n_seeds: int = 0  # seeds (records) behind the row


@dataclass(frozen=True)
class Table:
    columns: tuple[tuple[str, tuple[str, ...]], ...]  # (group, benchmark keys) in display order
    rows: tuple[Row, ...]  # model blocks in order; each starts with its Zero-Shot row
    has_reference: bool = False

    @property
    def benchmarks(self) -> tuple[str, ...]:
        return tuple(key for _, keys in self.columns for key in keys)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(row.model for row in self.rows))


def shown(value: float) -> float:
    """The value as printed (one decimal): bolding and deltas compare what the reader sees."""
    return float(f"{value:.1f}")


def _normalise_columns(columns: Iterable[tuple[str, Iterable[str]]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    layout = tuple((str(group), tuple(keys)) for group, keys in columns)
    keys = [key for _, group_keys in layout for key in group_keys]
    if not keys:
        raise ValueError("columns name no benchmark; pass [(group, [benchmark keys]), ...]")
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"benchmark keys listed twice in columns: {duplicates}")
    if any(key.lower() == AVG.lower() for key in keys):
        raise ValueError(f"{AVG!r} is the table's own column; rename that benchmark key")
    return layout


Seeds = dict[int | None, dict[str, Score]]  # seed -> benchmark key -> score, for one (model, method, algo)


def _merge(records: Iterable[CellResult]) -> dict[tuple[str, str, str | None], Seeds]:
    """Scores per (model, method, algo) and seed; a cell may arrive in several records (one per eval run)."""
    merged: dict[tuple[str, str, str | None], Seeds] = {}
    for record in records:
        scores = merged.setdefault((record.model, record.method, record.algo), {}).setdefault(record.seed, {})
        for bench, score in record.scores.items():
            if bench in scores and scores[bench] != score:
                seed = "" if record.seed is None else f" seed {record.seed}"
                raise ValueError(
                    f"two different scores for {record.model}/{record.method}/{record.algo}{seed} on {bench}: "
                    f"{scores[bench]} and {score}; keep one record per cell and benchmark"
                )
            scores[bench] = score
    return merged


def seed_interval(values: Sequence[float]) -> tuple[float, float | None, float | None]:
    """(mean, 95% low, high) over seeds (``stats.seed_summary``: a t-interval); no interval for one seed."""
    frame = pd.DataFrame({"model": "", "algo": "", "method": "", "benchmark": "", "seed": range(len(values))})
    row = stats.seed_summary(frame.assign(score=list(values))).iloc[0]
    low, high = (None, None) if len(values) < 2 else (float(row["ci_low"]), float(row["ci_high"]))
    return float(row["mean"]), low, high


def _benchmark_cell(scores: Sequence[Score]) -> Cell:
    """One benchmark over the seeds that ran it: the mean, and the interval over seeds."""
    if not scores:
        return Cell(None, NOT_RUN)
    values = [score.value for score in scores if score.value is not None]
    official = all(score.official for score in scores)
    official_data = all(score.official_data for score in scores)
    if not values:
        return Cell(None, NOT_JUDGED, scores[0].judge, official, official_data)
    mean, low, high = seed_interval(values)
    return Cell(mean, OK, scores[0].judge, official, official_data, ci_low=low, ci_high=high, n_seeds=len(values))


def _avg_cell(cells: Sequence[Cell], per_seed: Sequence[float]) -> Cell:
    """Mean of the row, only when every benchmark has a value: never a silent partial average. With
    seeds, the mean and interval of the seeds' own averages (``per_seed``: of the seeds that ran every
    benchmark)."""
    if any(cell.status != OK for cell in cells):
        return Cell(None, INCOMPLETE)
    official = all(cell.official for cell in cells)
    official_data = all(cell.official_data for cell in cells)
    if not per_seed:  # no seed ran every benchmark: the mean of the columns, without an interval
        return Cell(sum(cell.value for cell in cells) / len(cells), OK, None, official, official_data)
    mean, low, high = seed_interval(per_seed)
    return Cell(mean, OK, None, official, official_data, ci_low=low, ci_high=high, n_seeds=len(per_seed))


def _reference_key(method: str, algo: str | None) -> str:
    """The paper CSV's method column: zero-shot, grpo, grpo+dyco, ..."""
    if method == ZERO_SHOT:
        return ZERO_SHOT
    return algo if method == "baseline" else f"{algo}+dyco"


def _with_deltas(cells: dict[str, Cell], reference: pd.Series | None) -> dict[str, Cell]:
    if reference is None:
        return cells
    out = {}
    for key, cell in cells.items():
        ref = reference.get(key)
        if cell.value is not None and ref is not None and not pd.isna(ref):
            delta = float(f"{shown(cell.value) - float(ref):.1f}") + 0.0  # + 0.0: no "-0.0"
            cell = replace(cell, delta=delta, paper_in_ci=stats.inside(float(ref), cell.ci_low, cell.ci_high))
        out[key] = cell
    return out


def _bold_pair(baseline: dict[str, Cell], dyco: dict[str, Cell]) -> tuple[dict[str, Cell], dict[str, Cell]]:
    """Bold the strictly better shown value of each column; neither on a tie or when one is missing."""
    new_base, new_dyco = dict(baseline), dict(dyco)
    for key in baseline:
        b, d = baseline[key], dyco[key]
        if b.value is None or d.value is None:
            continue
        sb, sd = shown(b.value), shown(d.value)
        new_base[key] = replace(b, bold=sb > sd)
        new_dyco[key] = replace(d, bold=sd > sb)
    return new_base, new_dyco


def _mark_significant(cells: dict[str, Cell], adjusted: dict[str, float], alpha: float) -> dict[str, Cell]:
    """The DyCo row's cells whose paired comparison has an adjusted p below ``alpha``."""
    return {
        key: replace(cell, significant=True) if cell.value is not None and adjusted.get(key, 1.0) < alpha else cell
        for key, cell in cells.items()
    }


def _row_cells(seeds: Seeds | None, benchmarks: Sequence[str]) -> dict[str, Cell]:
    seeds = seeds or {}
    cells = {
        bench: _benchmark_cell([scores[bench] for scores in seeds.values() if bench in scores]) for bench in benchmarks
    }
    per_seed = []
    for scores in seeds.values():
        values = [scores[bench].value if bench in scores else None for bench in benchmarks]
        if all(value is not None for value in values):
            per_seed.append(sum(values) / len(values))
    cells[AVG] = _avg_cell([cells[bench] for bench in benchmarks], per_seed)
    return cells


def _reference_rows(reference: pd.DataFrame | None) -> dict[tuple[str, str], pd.Series]:
    if reference is None:
        return {}
    return {(str(row["model"]), str(row["method"])): row for _, row in reference.iterrows()}


def _adjusted(comparisons: pd.DataFrame | None) -> dict[tuple[str, str], dict[str, float]]:
    """(model, algo) -> benchmark (or Avg) -> adjusted p, from ``comparisons.csv`` rows."""
    found: dict[tuple[str, str], dict[str, float]] = {}
    if comparisons is None or comparisons.empty:
        return found
    for _, row in comparisons.iterrows():
        if pd.notna(row["p_adjusted"]):
            found.setdefault((str(row["model"]), str(row["algo"])), {})[str(row["benchmark"])] = float(
                row["p_adjusted"]
            )
    return found


def build_table(
    records: Iterable[CellResult],
    columns: Iterable[tuple[str, Iterable[str]]],
    algo_order: Sequence[str] = DEFAULT_ALGO_ORDER,
    model_order: Sequence[str] | None = None,
    reference: pd.DataFrame | None = None,
    comparisons: pd.DataFrame | None = None,
    alpha: float = ALPHA,
) -> Table:
    """Arrange records as the paper's Table 1: per model a Zero-Shot row, then each algo's
    baseline row followed by its + DyCo-RL row; the better of each pair in bold.

    Algos come in ``algo_order``; algos the records name that it lacks (e.g. a new TRL loss) follow,
    sorted by name. Models come in ``model_order`` (models absent from it follow in first-seen order; models
    without records are left out). An algo appears in a model's block when that model has a
    record for it; a missing partner row or benchmark shows as not run. Records of one cell with
    different seeds are averaged, with a 95% interval over seeds. ``reference`` (see
    ``load_paper_reference``) adds the difference to the paper's value to every number, and whether the
    paper's value lies in our interval. ``comparisons`` (``stats.paired_comparisons``: model, algo,
    benchmark, p_adjusted) marks the DyCo cells whose paired difference has an adjusted p below ``alpha``.
    """
    layout = _normalise_columns(columns)
    benchmarks = [key for _, keys in layout for key in keys]
    records = list(records)
    merged = _merge(records)
    others = sorted({algo for (_, _, algo) in merged if algo is not None and algo not in algo_order})
    algos = [*algo_order, *others]
    seen = list(dict.fromkeys(record.model for record in records))
    models = [m for m in (model_order or []) if m in seen] + [m for m in seen if m not in (model_order or [])]
    ref_rows = _reference_rows(reference)
    adjusted = _adjusted(comparisons)

    def make_row(model: str, method: str, algo: str | None, label: str, cells: dict[str, Cell]) -> Row:
        cells = _with_deltas(cells, ref_rows.get((model, _reference_key(method, algo))))
        return Row(model, method, algo, label, cells, len(merged.get((model, method, algo), {})))

    rows: list[Row] = []
    for model in models:
        zero_shot = _row_cells(merged.get((model, ZERO_SHOT, None)), benchmarks)
        rows.append(make_row(model, ZERO_SHOT, None, ZERO_SHOT_LABEL, zero_shot))
        for algo in algos:
            base_scores = merged.get((model, "baseline", algo))
            dyco_scores = merged.get((model, "dyco", algo))
            if base_scores is None and dyco_scores is None:
                continue
            base, dyco = _bold_pair(_row_cells(base_scores, benchmarks), _row_cells(dyco_scores, benchmarks))
            dyco = _mark_significant(dyco, adjusted.get((model, algo), {}), alpha)
            rows.append(make_row(model, "baseline", algo, algo.upper(), base))
            rows.append(make_row(model, "dyco", algo, DYCO_LABEL, dyco))
    return Table(columns=layout, rows=tuple(rows), has_reference=reference is not None)


# --------------------------------------------------------------------------- the paper's numbers


def load_paper_reference(path: str | Path) -> pd.DataFrame:
    """The paper's Table 1 CSV (model, method, <benchmarks...>, Avg; method zero-shot, grpo, grpo+dyco, ...)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"paper reference {path} not found; pass the path to table1_paper.csv")
    frame = pd.read_csv(path)
    missing = [name for name in ("model", "method") if name not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected model,method,<benchmarks...>,Avg")
    frame["model"] = frame["model"].astype(str)
    frame["method"] = frame["method"].astype(str)
    duplicated = frame[frame.duplicated(["model", "method"], keep=False)]
    if not duplicated.empty:
        pairs = sorted(set(zip(duplicated["model"], duplicated["method"], strict=True)))
        raise ValueError(f"{path}: rows listed twice: {pairs}")
    numeric = [name for name in frame.columns if name not in ("model", "method")]
    for name in numeric:
        try:
            frame[name] = pd.to_numeric(frame[name])
        except ValueError as err:
            raise ValueError(f"{path}: column {name!r} is not numeric ({err})") from None
    return frame


# --------------------------------------------------------------------------- markers and notes


def _markers(table: Table) -> dict[str, object]:
    """Which markers the table uses, and the non-official judges behind its daggers."""
    cells = [(key, cell) for row in table.rows for key, cell in row.cells.items()]
    return {
        NOT_RUN: any(cell.status == NOT_RUN for _, cell in cells),
        INCOMPLETE: any(cell.status == INCOMPLETE for _, cell in cells),
        NOT_JUDGED: any(cell.status == NOT_JUDGED for _, cell in cells),
        "dagger_judges": sorted(
            {cell.judge for key, cell in cells if key != AVG and cell.status == OK and cell.official is False}
        ),
        "delta": any(cell.delta is not None for _, cell in cells),
        "ci": any(cell.half_width is not None for _, cell in cells),
        "significant": any(cell.significant for _, cell in cells),
        "paper_in_ci": any(cell.paper_in_ci is not None for _, cell in cells),
        "local_data": any(cell.official_data is False for _, cell in cells),
    }


def _notes(
    table: Table, dash: str, dagger: str, escape=lambda text: text, marker: str = SIGNIFICANT, pm: str = "±"
) -> str | None:
    """One line explaining exactly the markers the table shows; None when it shows none."""
    used = _markers(table)
    parts = []
    if used["ci"]:
        parts.append(f"x {pm} h: mean over seeds {pm} half-width of its 95% interval over seeds")
    if used["significant"]:
        parts.append(
            f"{marker} DyCo {dash} baseline significant (paired over items and seeds, Benjamini-Hochberg "
            f"adjusted p < {ALPHA:g}; see comparisons.csv)"
        )
    if used[NOT_RUN]:
        parts.append(f"{dash} not run")
    if used[INCOMPLETE]:
        parts.append(f"{AVG} {dash}: not every benchmark of the row has a value")
    if used[NOT_JUDGED]:
        parts.append("n/j: ran but not judged")
    if used["dagger_judges"]:
        judges = ", ".join(escape(judge) for judge in used["dagger_judges"])
        parts.append(f"{dagger} scored by a non-official judge ({judges}); an {AVG} with {dagger} includes such scores")
    if used["delta"]:
        parts.append("(±x.x): difference to the paper's value")
    if used["paper_in_ci"]:
        parts.append("∈CI / ∉CI: the paper's value lies inside / outside our 95% interval")
    if used["local_data"]:
        parts.append(f"{LOCAL_DATA} from a local TSV, not VLMEvalKit's official file (e.g. the tiny fixtures)")
    return "Notes: " + "; ".join(parts) + "." if parts else None


def _format_cell(
    cell: Cell, *, dash: str, bold, dagger: str, delta, marker: str = SIGNIFICANT, pm: str = " ± ", inside=None
) -> str:
    if cell.status == NOT_JUDGED:
        return "n/j"
    if cell.value is None:
        return dash
    text = f"{shown(cell.value):.1f}"
    text = bold(text) if cell.bold else text
    if cell.half_width is not None:
        text += f"{pm}{cell.half_width:.1f}"
    if cell.official is False:
        text += dagger
    if cell.official_data is False:
        text += LOCAL_DATA
    if cell.significant:
        text += marker
    if cell.delta is not None:
        where = "" if cell.paper_in_ci is None else (" ∈CI" if cell.paper_in_ci else " ∉CI")
        text += " " + delta(f"{cell.delta:+.1f}" + (inside(cell.paper_in_ci) if inside and where else where))
    return text


# --------------------------------------------------------------------------- Markdown


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def to_markdown(table: Table) -> str:
    """GitHub Markdown: a line naming the column groups, the table with bold model separator rows,
    then the notes line."""
    benchmarks = table.benchmarks
    groups = " · ".join(f"{_md_escape(group)}: {', '.join(map(_md_escape, keys))}" for group, keys in table.columns)
    header = ["Method", *map(_md_escape, benchmarks), AVG]
    lines = [
        f"Column groups — {groups}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---", *["---:"] * (len(header) - 1)]) + "|",
    ]
    current = None
    for row in table.rows:
        if row.model != current:
            current = row.model
            lines.append("| " + " | ".join([f"**{_md_escape(row.model)}**", *[""] * (len(header) - 1)]) + " |")
        cells = [
            _format_cell(row.cells[key], dash="–", bold=lambda t: f"**{t}**", dagger="†", delta=lambda d: f"({d})")
            for key in (*benchmarks, AVG)
        ]
        lines.append("| " + " | ".join([_md_escape(row.label), *cells]) + " |")
    notes = _notes(table, dash="–", dagger="†", escape=_md_escape)
    if notes:
        lines += ["", notes]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- LaTeX

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(char, char) for char in str(text))


def to_latex(table: Table) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``): group header with cmidrules,
    italic model block rows, bold winners, daggers, and the notes as a last full-width row."""
    benchmarks = table.benchmarks
    width = len(benchmarks) + 2  # method column + benchmarks + Avg
    group_cells, rules, start = [], [], 2
    for group, keys in table.columns:
        end = start + len(keys) - 1
        group_cells.append(rf"\multicolumn{{{len(keys)}}}{{c}}{{{latex_escape(group)}}}")
        rules.append(rf"\cmidrule(lr){{{start}-{end}}}")
        start = end + 1
    lines = [
        r"\begin{tabular}{l" + "c" * (width - 1) + "}",
        r"\toprule",
        " & ".join(["", *group_cells, ""]) + r" \\",
        " ".join(rules),
        " & ".join(["Method", *map(latex_escape, benchmarks), AVG]) + r" \\",
    ]
    current = None
    for row in table.rows:
        if row.model != current:
            current = row.model
            lines.append(r"\midrule")
            lines.append(rf"\multicolumn{{{width}}}{{l}}{{\textit{{{latex_escape(row.model)}}}}} \\")
        cells = [
            _format_cell(
                row.cells[key],
                dash="--",
                bold=lambda t: rf"\textbf{{{t}}}",
                dagger=r"$^\dagger$",
                delta=lambda d: rf"{{\scriptsize $({d})$}}",
                marker=r"$^\ddagger$",
                pm=r" $\pm$ ",
                inside=lambda flag: r"\,{\in}\mathrm{CI}" if flag else r"\,{\notin}\mathrm{CI}",
            )
            for key in (*benchmarks, AVG)
        ]
        lines.append(" & ".join([latex_escape(row.label), *cells]) + r" \\")
    lines.append(r"\bottomrule")
    notes = _notes(table, dash="--", dagger=r"$^\dagger$", escape=latex_escape, marker=r"$^\ddagger$", pm=r"$\pm$")
    if notes:
        notes = (
            notes.replace("(±x.x)", r"($\pm$x.x)").replace("∈CI / ∉CI", r"$\in$CI / $\notin$CI").replace(" < ", " $<$ ")
        )
        lines.append(rf"\multicolumn{{{width}}}{{l}}{{\footnotesize {notes}}} \\")
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- CSV


def to_frame(table: Table) -> pd.DataFrame:
    """Tidy rows: one per (model, row label); raw values (means over seeds), their 95% intervals over
    seeds (``<benchmark>_ci_low`` / ``_ci_high``, ``avg_ci_low`` / ``avg_ci_high``; empty with one seed),
    ``n_seeds``, judges, whether a DyCo number is significantly different from its baseline
    (``significant_<benchmark>``), and deltas (with ``paper_in_ci_<benchmark>``) when referenced."""
    benchmarks = table.benchmarks
    records = []
    for row in table.rows:
        record = {"model": row.model, "method": row.method, "algo": row.algo, "row": row.label}
        for bench in benchmarks:
            record[bench] = row.cells[bench].value
        record["avg"] = row.cells[AVG].value
        for bench in benchmarks:
            record[f"{bench}_ci_low"] = row.cells[bench].ci_low
            record[f"{bench}_ci_high"] = row.cells[bench].ci_high
        record["avg_ci_low"] = row.cells[AVG].ci_low
        record["avg_ci_high"] = row.cells[AVG].ci_high
        record["n_seeds"] = row.n_seeds
        for key in (*benchmarks, AVG):
            record[f"significant_{key.lower() if key == AVG else key}"] = row.cells[key].significant
        for bench in benchmarks:
            record[f"judge_{bench}"] = row.cells[bench].judge
        for bench in benchmarks:
            record[f"official_{bench}"] = row.cells[bench].official
        record["official_avg"] = row.cells[AVG].official
        for bench in benchmarks:
            record[f"official_data_{bench}"] = row.cells[bench].official_data
        if table.has_reference:
            for key in (*benchmarks, AVG):
                record[f"delta_{key.lower() if key == AVG else key}"] = row.cells[key].delta
            for key in (*benchmarks, AVG):
                record[f"paper_in_ci_{key.lower() if key == AVG else key}"] = row.cells[key].paper_in_ci
        records.append(record)
    return pd.DataFrame.from_records(records)


def to_csv(table: Table) -> str:
    """Machine-readable CSV, no markup: missing values are empty fields."""
    return to_frame(table).to_csv(index=False, lineterminator="\n")


# --------------------------------------------------------------------------- files


def write_all(table: Table, out_dir: str | Path, stem: str = "table1") -> dict[str, Path]:
    """Write ``<stem>.md``, ``<stem>.tex`` and ``<stem>.csv`` into out_dir; returns {"md"|"tex"|"csv": path}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered = {"md": to_markdown(table), "tex": to_latex(table), "csv": to_csv(table)}
    paths = {}
    for ext, text in rendered.items():
        paths[ext] = out_dir / f"{stem}.{ext}"
        write_text_atomic(paths[ext], text)  # a reader never sees half a table
    return paths
