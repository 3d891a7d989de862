"""python -m dyco_repro.evaluate on the tiny world: the synthetic suite end to end through VLMEvalKit's own
dataset classes and scoring, the judge policy (with a local fake OpenAI-compatible judge), hand-made
predictions with known scores, resume and caching, damaged results, bad input, and lm-eval.

One full evaluation of the tiny base model (`suite`) is shared by most tests: they work on copies of its
output folder, so predictions are generated once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_judge import FakeJudge, last_integer
from hydra import compose, initialize_config_dir

from dyco_repro.cli import ConfigError
from dyco_repro.evaluate import plan_evaluation, run_evaluation, synthetic_root
from dyco_repro.evaluation.datasets import build_dataset, vlmeval_datasets
from dyco_repro.evaluation.inference import read_prediction_file
from dyco_repro.evaluation.judge import choose_judge
from dyco_repro.evaluation.results import RESULTS_FILE, load_results
from dyco_repro.evaluation.scoring import score
from dyco_repro.evaluation.suite import EvalError, all_benchmarks

REPO = Path(__file__).resolve().parents[2]
CONF = str(REPO / "conf")
TASKS = Path(__file__).resolve().parent / "lm_eval_tasks"
SYNTHETIC = ("Synth_Math", "Synth_MCQ", "Synth_MME")
SIZES = {"Synth_MCQ": 24, "Synth_MME": 48, "Synth_Math": 24}  # eval.synthetic_n=24; MME: 24 yes/no pairs
BENCH = all_benchmarks()
# These tests check evaluation, not the tiny world's sizes: small benchmarks and short generations keep them fast.
SMALL = ["eval.synthetic_n=24", "eval.max_new_tokens=24"]

# Every CLI run imports this first (PYTHONPATH): a connection to anything but this machine is refused and
# logged, so "nothing is downloaded" is checked, not assumed.
NET_GUARD = """
import os, socket
_LOG = os.environ["NET_GUARD_LOG"]
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex

def _local(self, address):
    if self.family not in (socket.AF_INET, socket.AF_INET6):
        return True
    return str(address[0]) in ("127.0.0.1", "::1", "localhost")

def connect(self, address):
    if not _local(self, address):
        with open(_LOG, "a") as f:
            f.write(f"{address}\\n")
        raise OSError(f"network access blocked by the test: {address}")
    return _connect(self, address)

def connect_ex(self, address):
    if not _local(self, address):
        connect(self, address)
    return _connect_ex(self, address)

socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
"""


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    network: list[str]  # connection attempts off this machine


def cli_env(tmp_path: Path, env: dict | None = None) -> tuple[dict, Path]:
    """The environment of a CLI run: offline, no judge settings or proxies, the network guard on."""
    guard = tmp_path / "net_guard"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(NET_GUARD)
    log = guard / "connections.log"
    log.unlink(missing_ok=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_") and "proxy" not in k.lower()}
    clean |= {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(guard), "NET_GUARD_LOG": str(log)}
    # One intra-op thread: the tiny model gains nothing from more, and on cores shared with other jobs
    # OpenMP's spin-waiting made generation up to 50x slower (1-6 instead of 80-160 samples/s).
    clean.setdefault("OMP_NUM_THREADS", "1")
    return clean | (env or {}), log


def cli_args(output_root: Path, overrides, checkpoint: str | None = "base") -> list[str]:
    ckpt = [f"checkpoint={checkpoint}"] if checkpoint else []
    return ["profile=tiny", *SMALL, *ckpt, f"output_root={output_root}", *overrides]


def cli(tmp_path: Path, output_root: Path, *overrides: str, checkpoint: str | None = "base", env=None) -> Run:
    """`python -m dyco_repro.evaluate profile=tiny ...` in a fresh working directory, offline, no judge env."""
    env, log = cli_env(tmp_path, env)
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "dyco_repro.evaluate", *cli_args(output_root, overrides, checkpoint)]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    seconds = time.perf_counter() - start
    network = log.read_text().splitlines() if log.exists() else []
    return Run(done.returncode, done.stdout, done.stderr, seconds, network)


# Many bad-input runs are cheap only after the imports every run repeats (torch, Hydra's plugin scan):
# this driver does those once, then runs `python -m dyco_repro.evaluate <args>` per case in a forked child
# (its own cwd, stdout, stderr and exit status). VLMEvalKit and lm-eval are imported by each child, so
# their import-time output is still seen.
FORK_DRIVER = """
import json, os, runpy, sys, time, traceback

import dyco_repro.train  # noqa: F401
import dyco_repro.tiny.warmstart  # noqa: F401
from hydra.core.plugins import Plugins

Plugins.instance()


def child(case):
    code = 1
    try:
        os.chdir(case["cwd"])
        out, err = os.open(case["stdout"], os.O_WRONLY | os.O_CREAT), os.open(case["stderr"], os.O_WRONLY | os.O_CREAT)
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.modules.pop("dyco_repro.evaluate", None)
        sys.argv = ["-m", *case["argv"]]
        runpy.run_module("dyco_repro.evaluate", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


todo, running, results = json.loads(open(sys.argv[1]).read()), {}, {}
while todo or running:
    while todo and len(running) < int(sys.argv[2]):
        case = todo.pop(0)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            child(case)
        running[pid] = (case["name"], time.perf_counter())
    pid, status = os.wait()
    name, start = running.pop(pid)
    results[name] = {"returncode": os.waitstatus_to_exitcode(status), "seconds": time.perf_counter() - start}
print(json.dumps(results))
"""


def cli_many(tmp_path: Path, cases: dict[str, list[str]], parallel: int = 2) -> dict[str, Run]:
    """{name: args} -> {name: Run}, each as `python -m dyco_repro.evaluate <args>` in tmp_path/runs/<name>."""
    env, log = cli_env(tmp_path)
    spec = []
    for name, args in cases.items():
        work = tmp_path / "runs" / name
        work.mkdir(parents=True)
        (work / "out.txt").touch()
        (work / "err.txt").touch()
        spec.append(
            {
                "name": name,
                "argv": args,
                "cwd": str(work),
                "stdout": str(work / "out.txt"),
                "stderr": str(work / "err.txt"),
            }
        )
    (tmp_path / "cases.json").write_text(json.dumps(spec))
    (tmp_path / "driver.py").write_text(FORK_DRIVER)
    cmd = [sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "cases.json"), str(parallel)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    status = json.loads(done.stdout.strip().splitlines()[-1])
    network = log.read_text().splitlines() if log.exists() else []
    return {
        case["name"]: Run(
            status[case["name"]]["returncode"],
            Path(case["stdout"]).read_text(),
            Path(case["stderr"]).read_text(),
            status[case["name"]]["seconds"],
            network,
        )
        for case in spec
    }


def config(output_root: Path, *overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(
            "config", overrides=["profile=tiny", *SMALL, "checkpoint=base", f"output_root={output_root}", *overrides]
        )


def evaluate_in_process(output_root: Path, *overrides: str) -> dict:
    return run_evaluation(plan_evaluation(config(output_root, *overrides)))


def eval_dir(output_root: Path) -> Path:
    (folder,) = (output_root / "eval").iterdir()
    return folder


def predictions(folder: Path, bench: str) -> dict[str, str]:
    rows = [json.loads(line) for line in (folder / bench / "predictions.jsonl").read_text().splitlines()]
    return {row["index"]: row["prediction"] for row in rows}


@pytest.fixture(scope="module")
def base_checkpoint() -> Path:
    """checkpoint=base under profile=tiny: the warm-started tiny model, built once before any subprocess."""
    from dyco_repro.tiny.warmstart import ensure_warm_start

    return ensure_warm_start("s")


@pytest.fixture(scope="module")
def synth_root() -> Path:
    return synthetic_root(24)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """In-process generation on one intra-op thread too (see cli_env); restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def lmudata(monkeypatch, synth_root) -> Path:
    """In-process evaluation points $LMUData at the synthetic folder; restored afterwards."""
    monkeypatch.setenv("LMUData", str(synth_root))
    return synth_root


@dataclass
class Suite:
    root: Path
    folder: Path
    results: dict
    run: Run


@pytest.fixture(scope="module")
def suite(tmp_path_factory, base_checkpoint) -> Suite:
    """ONE full CLI evaluation of the tiny base model on the synthetic suite (cold predictions)."""
    tmp = tmp_path_factory.mktemp("suite")
    run = cli(tmp, tmp / "out")
    assert run.returncode == 0, run.stderr[-3000:]
    folder = eval_dir(tmp / "out")
    print(f"full tiny synthetic suite: {run.seconds:.1f} s wall")
    return Suite(tmp / "out", folder, json.loads((folder / RESULTS_FILE).read_text()), run)


def copy_of(suite: Suite, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the suite's output root (same checkpoint, hence the same eval folder name)."""
    root = tmp_path / "out"
    shutil.copytree(suite.root, root)
    return root, root / "eval" / suite.folder.name


def no_generation(monkeypatch):
    """Any attempt to load the model for generation fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded for generation although every prediction is cached")

    monkeypatch.setattr("dyco_repro.evaluation.inference.HFGenerator", refuse)


# ---- 1. the synthetic suite end to end ---------------------------------------------------------------


@pytest.mark.slow
def test_synthetic_suite_evaluates_end_to_end(suite, base_checkpoint):
    assert suite.run.network == []
    results = suite.results
    assert results["checkpoint"] == str(base_checkpoint)
    assert list(results["benchmarks"]) == list(SYNTHETIC)
    for key, entry in results["benchmarks"].items():
        assert isinstance(entry["score"], float) and 0.0 <= entry["score"] <= 100.0, (key, entry["score"])
        assert entry["n"] == SIZES[key] and entry["generated"] == SIZES[key]
        assert entry["checkpoint"] == str(base_checkpoint)
        assert entry["seconds"] > 0 and entry["samples_per_s"] > 0
        generation = entry["generation"]
        assert generation["max_new_tokens"] == 24 and generation["do_sample"] is False
        assert (generation["min_pixels"], generation["max_pixels"]) == (3136, 12544)
        assert f"{key}: {entry['score']:.1f} [{entry['judge']}], n={entry['n']}" in suite.run.stdout
        table = read_prediction_file(suite.folder / key / f"dyco_{key}.tsv")
        assert len(table) == SIZES[key] and "prediction" in table.columns
        assert "image" not in table.columns  # VLMEvalKit's prediction files carry no images
        cached = predictions(suite.folder, key)
        assert sorted(cached, key=int) == [str(i) for i in table["index"]]
    judged = {k: (e["judge"], e["official"]) for k, e in results["benchmarks"].items()}
    assert judged == {
        "Synth_MCQ": ("exact_matching", True),
        "Synth_MME": ("exact_matching", True),
        "Synth_Math": ("rule", False),  # profile=tiny: no LLM judge offline, marked unofficial
    }
    assert load_results(suite.folder / RESULTS_FILE) == results  # valid by our own schema check


@pytest.mark.slow
@pytest.mark.parametrize("key", ["Synth_MCQ", "Synth_MME"])
def test_recorded_score_is_what_vlmevalkit_computes(suite, synth_root, tmp_path, monkeypatch, key):
    """Re-score the written prediction file with VLMEvalKit's own class: the same number comes out."""
    monkeypatch.setenv("LMUData", str(synth_root))
    copy = tmp_path / f"dyco_{key}.tsv"
    shutil.copyfile(suite.folder / key / copy.name, copy)
    cls = getattr(vlmeval_datasets(), BENCH[key].vlmeval_class)
    result = cls(key).evaluate(str(copy), model="exact_matching", nproc=1)
    if key == "Synth_MCQ":  # an MMBench-style table of fractions
        row = result[result["split"] == "dev"].iloc[0]
        expected = float(row["Overall"]) * 100
    else:  # MME_rating: perception and reasoning, each subtask acc + acc+ (0-200), three subtasks
        expected = (float(result["perception"]) + float(result["reasoning"])) / 600 * 100
    assert suite.results["benchmarks"][key]["score"] == pytest.approx(expected, abs=1e-9)


# ---- 2. hand-made predictions with known scores ------------------------------------------------------


def handmade(folder: Path, dataset, answers) -> Path:
    """A VLMEvalKit prediction file for `dataset` with the given predictions (one per row)."""
    data = dataset.data.drop(columns=["image"]).copy()
    data["prediction"] = list(answers)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"dyco_{dataset.dataset_name}.tsv"
    data.to_csv(path, sep="\t", index=False)
    return path


def test_mcq_known_predictions_score_exactly(tmp_path, lmudata):
    bench = BENCH["Synth_MCQ"]
    dataset = build_dataset(bench, lmudata)
    rows = [dataset.data.iloc[i] for i in range(len(dataset.data))]
    assert len(rows) == 24

    def wrong(row):
        options = [c for c in "ABCD" if isinstance(row[c], str) and row[c].strip()]
        return next(c for c in options if c != row["answer"])

    answers = [row["answer"] if i % 4 else wrong(row) for i, row in enumerate(rows)]  # 18 of 24 right
    judge = choose_judge("auto", bench, "gpt-4o-mini")
    value, raw = score(dataset, bench, judge, handmade(tmp_path, dataset, answers), fresh=True)
    assert value == pytest.approx(75.0)
    assert raw[0]["split"] == "dev" and raw[0]["Overall"] == pytest.approx(0.75)


def test_mme_known_acc_and_acc_plus_mix_scores_exactly(tmp_path, lmudata):
    """Per category (8 pairs each): count all right (acc 100 + acc+ 100), color "Yes" to both (50 + 0),
    existence half the pairs right and half "Yes" to both (75 + 50): perception 375 of 600 -> 62.5."""
    bench = BENCH["Synth_MME"]
    dataset = build_dataset(bench, lmudata)
    data = dataset.data
    assert data.groupby("category").size().to_dict() == {"color": 16, "count": 16, "existence": 16}
    answers, seen = [], {}
    for _, row in data.iterrows():
        pair = seen.setdefault(row["category"], {}).setdefault(row["image_path"], len(seen[row["category"]]))
        if row["category"] == "count" or (row["category"] == "existence" and pair < 4):
            answers.append(row["answer"])
        else:
            answers.append("Yes")
    judge = choose_judge("rule", bench, "gpt-4o-mini")
    assert judge.name == "exact_matching"  # MME is exact under every policy
    value, raw = score(dataset, bench, judge, handmade(tmp_path, dataset, answers), fresh=True)
    assert value == pytest.approx(62.5)
    subtasks = {k: raw[0][k] for k in ("count", "color", "existence")}
    assert subtasks == pytest.approx({"count": 200.0, "color": 50.0, "existence": 125.0})


def math_predictions(answers: list[int]) -> tuple[list[str], int]:
    """Predictions of known correctness for Synth_Math, and how many are right for rule and judge alike."""
    out = []
    for i, a in enumerate(answers):
        kind = i % 6
        if kind == 0:
            out.append(f"\\boxed{{{a}}}")  # right (VLMEvalKit's MathVision: prefetched through latex2sympy)
        elif kind == 1:
            out.append(f"First I saw {a + 2}, but counting again there are {a} shapes")  # right (last number)
        elif kind == 2:
            out.append(f"The answer is {a + 1}")  # wrong
        elif kind == 3:
            out.append(str(a))  # right (VLMEvalKit's MathVision: prefetched, no judge call)
        elif kind == 4:
            out.append("I cannot tell")  # wrong
        else:
            out.append(f"It is {a}, not {a + 3}")  # wrong: the rule and the fake judge take the last number
    return out, sum(1 for i in range(len(answers)) if i % 6 in (0, 1, 3))


def test_math_known_predictions_with_the_rule_judge(tmp_path, lmudata):
    bench = BENCH["Synth_Math"]
    dataset = build_dataset(bench, lmudata)
    answers, right = math_predictions([int(a) for a in dataset.data["answer"]])
    judge = choose_judge("rule", bench, "gpt-4o-mini")
    assert (judge.name, judge.official) == ("rule", False)
    value, raw = score(dataset, bench, judge, handmade(tmp_path, dataset, answers), fresh=True)
    assert right == 12 and value == pytest.approx(100 * 12 / 24)
    assert raw == [{"Overall": pytest.approx(50.0), "hit": 12, "tot": 24}]


def test_math_known_predictions_through_vlmevalkit_and_the_openai_judge(tmp_path, lmudata, monkeypatch):
    """VLMEvalKit's MathVision.evaluate asks the judge only for rows its "prefetch" cannot settle: a
    prediction that already equals the answer (as a string, by Python `eval` as in "3.0" or "1+2", or by
    latex2sympy as in "\\boxed{3}") is scored without a request. Everything else is extracted by the (fake)
    judge."""
    bench = BENCH["Synth_Math"]
    dataset = build_dataset(bench, lmudata)
    gold = [int(a) for a in dataset.data["answer"]]
    answers, right = math_predictions(gold)
    answers[9] = f"{gold[9] - 1}+1"  # kind 3 again, as an expression: prefetch evaluates it (eval) -> right
    answers[15] = f"{gold[15]}.0"  # kind 3: "3.0" equals 3 for the prefetch -> right
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)  # VLMEvalKit would send even 127.0.0.1 through a proxy
    with FakeJudge() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_API_BASE", fake.url)
        judge = choose_judge("auto", bench, "gpt-4o-mini", nproc=2)
        assert (judge.name, judge.official, judge.endpoint) == ("gpt-4o-mini", True, fake.url)
        value, raw = score(dataset, bench, judge, handmade(tmp_path, dataset, answers), fresh=True)
        judged = fake.judged()
    assert value == pytest.approx(100 * right / 24) and right == 12
    overall = next(r for r in raw if r["Subject"] == "Overall")
    # kinds 0 ("\\boxed{3}", via latex2sympy) and 3 ("3", "3.0", "2+1") never reached the judge
    assert overall["hit"] == 12 and overall["prefetch"] == 8
    assert len(judged) == 16  # every other row was extracted by the judge, once
    assert all(r["headers"]["Authorization"] == "Bearer sk-test" for r in fake.requests)


# ---- 3. the judge policy end to end ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def auto_run(suite, tmp_path_factory) -> tuple[Run, Path]:
    """judge=auto with no OPENAI_* in the environment, plus the tiny_arith lm-eval task, on a copy of the
    suite's output: ONE CLI run for the judge-policy and the lm-eval tests."""
    tmp = tmp_path_factory.mktemp("auto")
    root, folder = copy_of(suite, tmp)
    lm_eval = ["eval.lm_eval.tasks=[tiny_arith]", f"eval.lm_eval.include_path={TASKS}", "eval.lm_eval.limit=8"]
    run = cli(tmp, root, "judge=auto", *lm_eval)
    assert run.returncode == 0, run.stderr[-3000:]
    return run, folder


@pytest.mark.slow
def test_auto_without_an_endpoint_leaves_math_not_judged(suite, auto_run):
    run, folder = auto_run
    assert run.network == []
    results = json.loads((folder / RESULTS_FILE).read_text())["benchmarks"]
    math = results["Synth_Math"]
    assert (math["score"], math["judge"], math["official"], math["raw"]) == (None, "none", False, None)
    assert math["generated"] == 0  # predictions are judge-independent: reused
    assert '"score": null' in (folder / RESULTS_FILE).read_text()
    assert "Synth_Math: not judged (needs an LLM judge" in run.stdout
    for key in ("Synth_MCQ", "Synth_MME"):
        assert (results[key]["judge"], results[key]["official"]) == ("exact_matching", True)
        assert results[key] == suite.results["benchmarks"][key]  # same identity as under judge=rule: cached
        assert f"{key}: {results[key]['score']:.1f} [exact_matching], n={results[key]['n']} (cached)" in run.stdout
    assert json.loads(run.stdout.strip().splitlines()[-1])["Synth_Math"] is None


@pytest.mark.slow
def test_auto_with_an_endpoint_judges_math_through_vlmevalkit(suite, tmp_path):
    vlmeval_datasets()  # VLMEvalKit imported our way (quietly, autograd left alone)
    from vlmeval.dataset.utils.mathv import is_equal

    is_equal = is_equal.__wrapped__  # VLMEvalKit's comparison, without its 30 s timeout (a process per call)

    root, folder = copy_of(suite, tmp_path)
    with FakeJudge() as fake:
        env = {"OPENAI_API_KEY": "sk-test", "OPENAI_API_BASE": fake.url}
        run = cli(tmp_path, root, "judge=auto", "eval.judge_nproc=8", env=env)
        judged = fake.judged()
        requests = list(fake.requests)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.network == []
    text = (folder / RESULTS_FILE).read_text()
    math = json.loads(text)["benchmarks"]["Synth_Math"]
    assert (math["judge"], math["official"], math["judge_endpoint"]) == ("gpt-4o-mini", True, fake.url)
    assert "Synth_Math: " in run.stdout and "[gpt-4o-mini]" in run.stdout

    # What VLMEvalKit should conclude: prefetched rows (prediction already equals the answer) are right
    # without a request; the judge extracts the last integer of every other prediction.
    table = read_prediction_file(folder / "Synth_Math" / "dyco_Synth_Math.tsv")
    preds, gold = [str(p) for p in table["prediction"]], [str(a) for a in table["answer"]]
    prefetched = [is_equal(p, a) for p, a in zip(preds, gold, strict=True)]
    hits = [
        pre or (last_integer(p) is not None and is_equal(last_integer(p), a))
        for pre, p, a in zip(prefetched, preds, gold, strict=True)
    ]
    assert math["score"] == pytest.approx(100 * sum(hits) / len(hits))
    assert len(judged) == prefetched.count(False) > 0  # the server really was asked, once per unsettled row
    assert any(r["body"]["messages"][-1]["content"] == "hello" for r in requests)  # VLMEvalKit's liveness check
    # the key never leaks: not in the results, not in the logs
    assert "sk-test" not in text and "sk-test" not in run.stdout and "sk-test" not in run.stderr


# ---- 4. resume and caching --------------------------------------------------------------------------------


@pytest.mark.slow
def test_resume_after_a_crash_generates_only_the_missing_samples(suite, tmp_path, lmudata, capsys):
    root, folder = copy_of(suite, tmp_path)
    lines = (folder / "Synth_MCQ" / "predictions.jsonl").read_text().splitlines()
    kept = 8  # one whole batch: the redone batches are the first run's, so greedy decoding repeats itself
    (folder / "Synth_MCQ" / "predictions.jsonl").write_text("\n".join(lines[:kept]) + "\n" + lines[kept][:17])
    (folder / RESULTS_FILE).unlink()
    results = evaluate_in_process(root, "benchmarks=Synth_MCQ")
    entry = results["benchmarks"]["Synth_MCQ"]
    assert entry["generated"] == 24 - kept and entry["n"] == 24
    assert predictions(folder, "Synth_MCQ") == predictions(suite.folder, "Synth_MCQ")
    assert entry["score"] == suite.results["benchmarks"]["Synth_MCQ"]["score"]
    assert "(cached)" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "tail,kept",
    [
        ('{"index": "2", "predi', {"0": "a", "1": "b"}),
        ('{"index": "2", "prediction": "c"}', {"0": "a", "1": "b", "2": "c"}),
    ],
)
def test_prediction_cache_appends_cleanly_after_a_cut_line(tmp_path, tail, kept):
    """A crash can leave a half-written last line, or a whole one without its newline: the next batch
    must not be glued onto it (it would be lost on every later load)."""
    from dyco_repro.evaluation.inference import PredictionCache

    cache = PredictionCache(tmp_path, {"id": 1})
    cache.add([("0", "a"), ("1", "b")])
    cache.lines.write_text(cache.lines.read_text() + tail)
    assert PredictionCache(tmp_path, {"id": 1}).load() == kept
    cache.add([("3", "d")])
    assert PredictionCache(tmp_path, {"id": 1}).load() == kept | {"3": "d"}


@pytest.mark.slow
def test_rerun_with_nothing_changed_reuses_results(suite, tmp_path, lmudata, monkeypatch, capsys):
    root, folder = copy_of(suite, tmp_path)
    no_generation(monkeypatch)
    results = evaluate_in_process(root)
    out = capsys.readouterr().out
    for key in SYNTHETIC:
        assert f"{key}: " in out and results["benchmarks"][key] == suite.results["benchmarks"][key]
    assert out.count("(cached)") == 3
    assert json.loads((folder / RESULTS_FILE).read_text())["benchmarks"] == suite.results["benchmarks"]


@pytest.mark.slow
def test_force_rescores_without_regenerating(suite, tmp_path, lmudata, monkeypatch, capsys):
    root, folder = copy_of(suite, tmp_path)
    no_generation(monkeypatch)
    marker = folder / "Synth_MCQ" / "score-exact_matching" / "stale.txt"
    marker.write_text("from the first run")
    results = evaluate_in_process(root, "force=true")
    assert "(cached)" not in capsys.readouterr().out
    assert not marker.exists()  # VLMEvalKit scored again in a cleared folder
    for key in SYNTHETIC:
        new, old = results["benchmarks"][key], suite.results["benchmarks"][key]
        assert new["score"] == old["score"] and new["generated"] == 0
        assert new["seconds"] != old["seconds"]


@pytest.mark.slow
def test_changing_generation_settings_regenerates_everything(suite, tmp_path, lmudata):
    root, folder = copy_of(suite, tmp_path)
    results = evaluate_in_process(root, "benchmarks=Synth_MCQ", "eval.max_new_tokens=8")
    entry = results["benchmarks"]["Synth_MCQ"]
    assert entry["generated"] == 24 and entry["generation"]["max_new_tokens"] == 8
    assert json.loads((folder / "Synth_MCQ" / "predictions.meta.json").read_text())["generation"]["max_new_tokens"] == 8
    assert len(predictions(folder, "Synth_MCQ")) == 24


# ---- 5. damaged results are recomputed, never used -------------------------------------------------------


def damage_garbage(results: dict) -> str:
    return "\x00\x01 not json {{{"


def damage_truncated(results: dict) -> str:
    text = json.dumps(results, indent=2)
    return text[: len(text) // 2]


def damage_wrong_type(results: dict) -> str:
    broken = json.loads(json.dumps(results))
    broken["benchmarks"]["Synth_MCQ"]["score"] = "99.9"  # a string where a number belongs
    return json.dumps(broken)


@pytest.mark.slow
@pytest.mark.parametrize("damage", [damage_garbage, damage_truncated, damage_wrong_type])
def test_damaged_results_are_detected_and_recomputed(suite, tmp_path, lmudata, monkeypatch, capsys, damage):
    root, folder = copy_of(suite, tmp_path)
    no_generation(monkeypatch)
    (folder / RESULTS_FILE).write_text(damage(suite.results))
    evaluate_in_process(root)
    captured = capsys.readouterr()
    assert "damaged or incomplete" in captured.err and str(folder / RESULTS_FILE) in captured.err
    assert "(cached)" not in captured.out
    fresh = load_results(folder / RESULTS_FILE)
    assert fresh is not None and "damaged" not in capsys.readouterr().err
    for key in SYNTHETIC:
        assert fresh["benchmarks"][key]["score"] == suite.results["benchmarks"][key]["score"]
        assert isinstance(fresh["benchmarks"][key]["score"], float)


# ---- 6. bad input: one line, exit 2, nothing written, no network ---------------------------------------


BAD_CASES = [
    "unknown_benchmark",
    "missing_tsv",
    "md5_mismatch",
    "missing_checkpoint",
    "no_weights",
    "no_checkpoint",
    "unknown_judge",
    "openai_without_key",
    "zero_batch",
    "unknown_algo",
    "unknown_lm_eval_task",
]


def bad_cases(tmp: Path) -> dict[str, tuple[list[str], str | None]]:
    empty = tmp / "empty_lmudata"
    empty.mkdir()
    junk = tmp / "junk_lmudata"
    junk.mkdir()
    (junk / "MME.tsv").write_text("index\tquestion\n0\tnot the real MME\n")
    no_weights = tmp / "no_weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text("{}")
    return {
        "unknown_benchmark": (["benchmarks=tabel1"], "base"),
        "missing_tsv": (["benchmarks=table1", f"eval.lmudata={empty}"], "base"),
        "md5_mismatch": (["benchmarks=MME", f"eval.lmudata={junk}"], "base"),
        "missing_checkpoint": ([], "/nonexistent"),
        "no_weights": ([], str(no_weights)),
        "no_checkpoint": ([], None),
        "unknown_judge": (["judge=gpt4"], "base"),
        "openai_without_key": (["judge=openai"], "base"),
        "zero_batch": (["eval.batch_size=0"], "base"),
        "unknown_algo": (["algo=nope"], "base"),
        "unknown_lm_eval_task": (
            ["benchmarks=Synth_MCQ", "eval.lm_eval.tasks=[no_such_task]", f"eval.lm_eval.include_path={TASKS}"],
            "base",
        ),
    }


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory, base_checkpoint) -> dict[str, tuple[Run, Path, Path]]:
    """Every bad-input case through the CLI (see FORK_DRIVER), offline, with the network guard."""
    tmp = tmp_path_factory.mktemp("bad")
    cases = bad_cases(tmp)
    outs = {name: tmp / "runs" / name / "out" for name in cases}
    runs = cli_many(tmp, {name: cli_args(outs[name], o, c) for name, (o, c) in cases.items()})
    print({name: round(run.seconds, 1) for name, run in runs.items()})
    return {name: (run, outs[name], tmp) for name, run in runs.items()}


def expected_messages(tmp: Path) -> dict[str, list[str]]:
    md5 = vlmeval_datasets()
    return {
        "unknown_benchmark": ["unknown benchmark 'tabel1'", "table1", "HallusionBench", "Synth_Math"],
        "missing_tsv": [
            f"no TSV at {(tmp / 'empty_lmudata').resolve()}/WeMath.tsv",
            md5.WeMath.DATASET_MD5["WeMath"],
            "nothing is downloaded",
        ],
        "md5_mismatch": [  # a local, non-official TSV is allowed only with the columns the class reads
            f"{(tmp / 'junk_lmudata').resolve()}/MME.tsv (md5",
            f"not VLMEvalKit's {md5.ImageYORNDataset.DATASET_MD5['MME']}",
            "lacks the column(s) image, image_path, answer, category",
            "we do not download",
        ],
        "missing_checkpoint": ["checkpoint=/nonexistent", "no config.json"],
        "no_weights": ["no weights"],
        "no_checkpoint": ["no checkpoint", "checkpoint=base"],
        "unknown_judge": ["judge=gpt4 is not a judge policy"],
        "openai_without_key": ["judge=openai", "OPENAI_API_KEY"],
        "zero_batch": ["eval.batch_size=0"],
        "unknown_algo": ["unknown algo 'nope'", "grpo"],
        "unknown_lm_eval_task": ["no_such_task"],
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", BAD_CASES)
def test_bad_input_is_one_error_line_and_writes_nothing(bad_runs, name):
    run, out, tmp = bad_runs[name]
    assert run.returncode == 2, (run.stdout[-2000:], run.stderr[-2000:])
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    for part in expected_messages(tmp)[name]:
        assert part in lines[0], (part, lines[0])
    assert not out.exists()
    assert run.network == []  # nothing was downloaded, nothing was even tried


def test_plan_refuses_bad_input_in_process(tmp_path):
    """The same checks from Python (`plan_evaluation`), for callers such as sweeps."""
    with pytest.raises(EvalError, match="unknown benchmark 'tabel1'"):
        plan_evaluation(config(tmp_path / "out", "benchmarks=tabel1"))
    with pytest.raises(ConfigError, match="eval.batch_size=0"):  # EvalError is a ConfigError
        plan_evaluation(config(tmp_path / "out", "eval.batch_size=0"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "override,message",
    [
        ("eval.batch_size=abc", "eval.batch_size=abc: use eval.batch_size=<a whole number>"),
        ("eval.synthetic_n=0", "eval.synthetic_n=0: must be at least 1"),
        ("force=maybe", "force=maybe: use force=<true or false>"),  # bool("maybe") would have re-scored
        ("eval.output_dir=FILE", "is a file, not a directory; set eval.output_dir="),
        ("output_root=FILE/out", "is a file, not a directory; set output_root="),
    ],
)
def test_untyped_values_and_files_as_folders_are_refused(tmp_path, override, message):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=re.escape(message)):
        plan_evaluation(
            config(tmp_path / "out", "benchmarks=Synth_MCQ", override.replace("FILE", str(tmp_path / "file")))
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_synthetic_benchmarks_come_from_eval_lmudata_when_it_is_set(tmp_path):
    """`tiny bench --out X` then eval.lmudata=X: those TSVs, not the cached set (they were silently ignored)."""
    from dyco_repro.evaluate import check_eval_config
    from dyco_repro.tiny.benchmarks import write_benchmarks

    write_benchmarks(tmp_path / "lmu", 5)
    _, roots, _ = check_eval_config(
        config(tmp_path / "out", "benchmarks=Synth_MCQ", f"eval.lmudata={tmp_path / 'lmu'}")
    )
    assert roots == {"Synth_MCQ": (tmp_path / "lmu").resolve()}
    with pytest.raises(ConfigError, match="no TSV at"):
        check_eval_config(config(tmp_path / "out", "benchmarks=Synth_MCQ", f"eval.lmudata={tmp_path / 'none'}"))


# ---- 7. lm-eval on the same checkpoint ---------------------------------------------------------------------


def expected_tiny_arith_accuracy(checkpoint: Path) -> float:
    """tiny_arith's acc recomputed by hand: the choice with the highest summed log-likelihood of
    " <choice>" after "Question: ...\\nAnswer:", as lm-eval scores multiple_choice."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForImageTextToText.from_pretrained(checkpoint, dtype=torch.float32).eval()
    docs = [json.loads(line) for line in (TASKS / "tiny_arith.jsonl").read_text().splitlines() if line.strip()]
    right = 0
    for doc in docs:
        context = f"Question: {doc['question']}\nAnswer:"
        context_ids = tokenizer(context, add_special_tokens=False)["input_ids"]
        scores = []
        for choice in doc["choices"]:
            ids = tokenizer(context + " " + choice, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([ids[:-1]])).logits[0].log_softmax(-1)
            scores.append(sum(logits[i - 1, ids[i]].item() for i in range(len(context_ids), len(ids))))
        right += max(range(len(scores)), key=scores.__getitem__) == doc["label"]
    return right / len(docs)


@pytest.mark.slow
def test_lm_eval_task_runs_on_the_loaded_checkpoint(auto_run, base_checkpoint):
    run, folder = auto_run
    block = json.loads((folder / RESULTS_FILE).read_text())["lm_eval"]
    acc = block["tasks"]["tiny_arith"]["acc,none"]
    assert 0.0 <= acc <= 1.0 and block["n"] == {"tiny_arith": 8} and block["limit"] == 8
    assert block["settings"] == {"tasks": ["tiny_arith"], "include_path": str(TASKS), "limit": 8}
    assert block["seconds"] > 0
    # lm-eval scored the checkpoint we evaluated (HFLM around the loaded Qwen2.5-VL, text only)
    assert acc == pytest.approx(expected_tiny_arith_accuracy(base_checkpoint))


def test_tiny_arith_task_data_loads_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sys.path.insert(0, str(TASKS))
    try:
        from tiny_arith_data import load
    finally:
        sys.path.remove(str(TASKS))
    test = load(version=1.0)["test"]  # lm-eval passes the task's metadata
    assert len(test) == 8
    ops = {"+": int.__add__, "-": int.__sub__, "*": int.__mul__, "/": int.__floordiv__}
    for row in test:  # "What is 7 - 4?": the labelled choice is the right answer
        a, op, b = row["question"].removeprefix("What is ").removesuffix("?").split()
        assert row["choices"][row["label"]] == str(ops[op](int(a), int(b)))


def test_lm_eval_include_path_must_exist(tmp_path):
    from dyco_repro.evaluation.lm_eval_adapter import check_tasks

    with pytest.raises(EvalError, match="include_path"):
        check_tasks(["tiny_arith"], str(tmp_path / "missing"))


@pytest.mark.slow
def test_other_data_is_evaluated_again_not_read_from_the_cache(tmp_path):
    """Results and predictions are valid for one TSV: another eval.synthetic_n (or eval.lmudata) is other data
    (it used to print the first run's numbers as '(cached)')."""
    first = evaluate_in_process(tmp_path, "benchmarks=Synth_MCQ", "eval.synthetic_n=6")
    assert first["benchmarks"]["Synth_MCQ"]["n"] == 6
    again = evaluate_in_process(tmp_path, "benchmarks=Synth_MCQ", "eval.synthetic_n=6")
    assert again["benchmarks"]["Synth_MCQ"] == first["benchmarks"]["Synth_MCQ"]  # same data: reused
    other = evaluate_in_process(tmp_path, "benchmarks=Synth_MCQ", "eval.synthetic_n=7")
    assert other["benchmarks"]["Synth_MCQ"]["n"] == 7 and other["benchmarks"]["Synth_MCQ"]["generated"] == 7
