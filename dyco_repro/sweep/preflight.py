"""Check a sweep's command line before Hydra runs: -m is there, every group option exists, and the
config composes with every value of every swept axis (Hydra's own errors are several lines)."""

from __future__ import annotations

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
GROUPS = ("algo", "model", "method", "data", "eval", "profile", "launcher")
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


def preflight(argv: list[str], sweep_names: list[str]) -> None:
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
        values = split_values(value)
        for option in values:
            if group == "sweep" and option not in sweep_names:
                raise PreflightError(f"unknown sweep {option!r}; choose from {', '.join(sweep_names)} (sweeps/)")
            if group in GROUPS and not (CONF_DIR / group / f"{option}.yaml").is_file():
                choices = ", ".join(sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml")))
                raise PreflightError(f"unknown {group} {option!r}; choose from {choices} (conf/{group}/)")
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
            except Exception as err:  # noqa: BLE001 - Hydra/OmegaConf errors, reported in one line
                lines = [line.strip() for line in str(err).splitlines() if line.strip()]
                raise PreflightError(" ".join(lines[:2])) from None
