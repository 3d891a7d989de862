"""A run's identity: its resolved config minus the declared not-identity keys."""

from dyco_repro.identity import declared, identity, identity_hash, matrix_overrides
from dyco_repro.records import ZERO_SHOT

NOT_IDENTITY = ["not_identity", "evaluation_ignores", "mlflow", "output_root", "model.resources"]


def config(**changes):
    base = {
        "not_identity": NOT_IDENTITY,
        "evaluation_ignores": ["algo", "seed"],
        "seed": 0,
        "algo": {"name": "grpo"},
        "method": {"name": "dyco"},
        "model": {"name": "m", "resources": {"gpus_per_node": 8}},
        "mlflow": {"tracking_uri": None},
        "output_root": "outputs",
    }
    return base | changes


def test_declared_keys_cover_their_sub_keys_only():
    assert declared(NOT_IDENTITY, "mlflow.tracking_uri") and declared(NOT_IDENTITY, "+model.resources.mem_gb")
    assert not declared(NOT_IDENTITY, "model.name") and not declared(NOT_IDENTITY, "mlflowx")


def test_identity_leaves_out_exactly_the_declared_keys():
    assert identity(config()) == {
        "seed": 0,
        "algo": {"name": "grpo"},
        "method": {"name": "dyco"},
        "model": {"name": "m"},
    }
    same = config(output_root="/elsewhere", model={"name": "m", "resources": {"gpus_per_node": 1}})
    assert identity_hash(same) == identity_hash(config())
    assert identity_hash(config(seed=1)) != identity_hash(config())


def test_an_evaluation_only_run_also_leaves_out_what_only_training_reads():
    zero = config(method={"name": ZERO_SHOT})
    assert identity_hash(zero | {"algo": {"name": "dapo"}, "seed": 5}) == identity_hash(zero)
    assert identity_hash(zero | {"model": {"name": "other"}}) != identity_hash(zero)


def test_matrix_overrides_keep_what_names_the_matrix():
    kept = matrix_overrides(["profile=tiny", "mlflow.experiment=e", "output_root=/x", "matrix=table1"], NOT_IDENTITY)
    assert kept == ["matrix=table1", "profile=tiny"]
