"""Check a sweep's command line before Hydra runs: -m is there, every group option exists, and the
config composes with every value of every swept axis (Hydra's own errors are several lines)."""

from __future__ import annotations

from ..cli import CONF_DIR, GROUPS, ConfigError, check_output_dir, choice_problem, composition_problem

FLAGS_WITH_VALUE = ("--config-name", "-cn", "--config-path", "-cp", "--config-dir", "-cd")


class PreflightError(ValueError):
    pass


def split_values(value: str) -> list[str]:
    """a,b,c -> [a, b, c], leaving commas inside brackets and quotes alone (as Hydra's grammar does)."""
    parts, depth, current, quote = [], 0, "", None
    for char in value:
        if quote is None and char in "'\"" or char == quote:
            quote = char if quote is None else None
        depth += quote is None and char in "[({" and 1 or 0
        depth -= quote is None and char in "])}" and 1 or 0
        if char == "," and depth == 0 and quote is None:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def preflight(argv: list[str]) -> None:
    """Raise PreflightError (one line) for a command line Hydra would refuse or fail on."""
    if not {"-m", "--multirun"} & set(argv):
        raise PreflightError("a sweep runs with -m: python -m dyco_repro.sweep -m algo=grpo,dapo ...")
    overrides, skip = [], False
    for arg in argv:
        if skip or arg.startswith("-"):
            skip = arg in FLAGS_WITH_VALUE
            continue
        overrides.append(arg)
    axes = []
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep:
            raise PreflightError(f"{override!r} is not key=value; e.g. algo=grpo,dapo")
        group = key.lstrip("+~")
        if group == "sweep":  # the old spelling would add an unused key and run a one-cell sweep
            raise PreflightError(f"a named matrix is a config group now: write matrix={value}")
        if key.startswith("+") and group in GROUPS:
            raise PreflightError(f"{group} is a config group the sweep already has: write {group}={value} (no +)")
        values = split_values(value)
        for option in values:
            if problem := choice_problem(group, option):
                raise PreflightError(problem)
        if not key.startswith("hydra."):
            axes.append((key, values))
    _compose_each(axes)


def _compose_each(axes: list[tuple[str, list[str]]]) -> None:
    """Compose once per value of each axis (the others at their first value)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from ..data import check_settings

    firsts = [f"{k}={v[0]}" for k, v in axes]
    trials = [firsts] + [
        [*firsts[:i], f"{k}={value}", *firsts[i + 1 :]] for i, (k, values) in enumerate(axes) for value in values[1:]
    ]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        for overrides in trials:
            try:
                cfg = compose("sweep", overrides=[*overrides, "sweep_id=preflight"])
                OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
                check_settings(cfg.data.on_error, cfg.data.limit)
                check_output_dir("output_root", cfg.output_root)  # Hydra writes the sweep's folder there first
            except ConfigError as err:
                raise PreflightError(str(err)) from None
            except Exception as err:  # noqa: BLE001 - Hydra/OmegaConf errors, reported in one line
                raise PreflightError(composition_problem(err)) from None
