"""What the entry points (train, evaluate, sweep) share: the config directory and its groups, the
one-line answer to bad input (exit 2, nothing written), and the checks of a model directory.

Bad input is one line naming the fix: `error: <what> ...; <the fix>` on stderr, exit code 2.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omegaconf import DictConfig

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
# The config groups a command line may choose from (conf/<group>/<option>.yaml).
GROUPS = ("algo", "model", "method", "data", "eval", "profile", "launcher", "matrix")
USAGE_EXIT = 2


class ConfigError(ValueError):
    """A bad setting, reported as one line naming the fix."""


def first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def choice_problem(group: str, option: str, conf_dir: Path = CONF_DIR) -> str | None:
    """Why `group=option` names no config (one line with the choices), or None when it does or
    `group` is not a config group."""
    if group not in GROUPS or (conf_dir / group / f"{option}.yaml").is_file():
        return None
    choices = ", ".join(sorted(p.stem for p in (conf_dir / group).glob("*.yaml")))
    return f"unknown {group} {option!r}; choose from {choices} (conf/{group}/)"


def check_group_choices(overrides: list[str]) -> None:
    """Unknown `group=option` overrides as one ConfigError (Hydra would list them over several lines)."""
    for override in overrides:
        group, sep, option = override.lstrip("+~").partition("=")
        problem = choice_problem(group, option) if sep else None
        if problem:
            raise ConfigError(problem)


@contextmanager
def one_line_errors(*errors: type[BaseException]) -> Iterator[None]:
    """Inside an entry point's task: a ConfigError (or one of `errors`) prints `error: <first line>`
    and exits 2; anything else is a bug and keeps its traceback."""
    try:
        yield
    except (ConfigError, *errors) as err:
        print(f"error: {first_line(err)}", file=sys.stderr)
        sys.exit(USAGE_EXIT)


def run_main(main: Callable[[], object], argv: list[str] | None = None) -> None:
    """Start a Hydra entry point after checking its command line: an unknown group choice, a setting that does
    not exist, or an override that is not key=value is one line, exit 2 (Hydra's own answer is a block of five
    to seven lines, and for a misspelt key it advises `+key=...`, which only hides the typo)."""
    args = list(sys.argv[1:] if argv is None else argv)
    with one_line_errors():
        check_group_choices(args)
        if not any(arg.startswith("-") for arg in args):  # Hydra's own flags (--cfg, --help, -m) go to Hydra
            check_composes(args)
    main()


def check_composes(overrides: list[str]) -> None:
    """ConfigError (one line naming the fix) when `overrides` do not compose with conf/config.yaml."""
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for override in overrides:
        key, sep, _ = override.partition("=")
        if not key.lstrip("+~") or not (sep or key.startswith("~")):
            raise ConfigError(f"{override!r} is not key=value; e.g. algo=grpo or train.max_steps=60")
    try:
        OmegaConf.to_container(compose(overrides), resolve=True)
    except (HydraException, OmegaConfBaseException, ValueError) as err:
        raise ConfigError(composition_problem(err)) from None


def composition_problem(err: BaseException) -> str:
    """One line for a Hydra/OmegaConf composition error. A misspelt key gets its own answer: Hydra advises
    `+key=...`, which only hides the typo."""
    found = re.match(r"Could not override '([^']+)'", str(err))
    if found and "not in struct" in str(err.__cause__ or ""):
        key = found.group(1)
        if key.startswith(("train.", "algo.trl.")) and _is_trl_field(key.rsplit(".", 1)[1]):
            return f"{key} is a TRL config field the YAML does not list: add it with +{key}=..."
        return f"{key} is not a setting; check its spelling (python -m dyco_repro.train --cfg job prints every setting)"
    return " ".join(line.strip() for line in str(err).splitlines()[:2] if line.strip())


def _is_trl_field(name: str) -> bool:
    import dataclasses

    from trl import GRPOConfig, RLOOConfig

    return any(name in {f.name for f in dataclasses.fields(cls)} for cls in (GRPOConfig, RLOOConfig))


KINDS = {bool: "true or false", int: "a whole number", float: "a number"}


def check_setting(cfg: DictConfig, key: str, kind: type, minimum: float | None = None, none_ok: bool = False) -> None:
    """ConfigError naming the fix unless `cfg.<key>` (dotted) is a `kind` (bool, int, or float, which takes an
    int too; a bool is neither number) at least `minimum`, or None where `none_ok`.

    Command-line values reach the config untyped (`seed=abc`, `dry_run=no`, `train.max_steps=ten`), and
    Python's truthiness would read "no" as true."""
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, key)
    if value is None and none_ok:
        return
    if not is_kind(value, kind):
        raise ConfigError(f"{key}={_shown(value)}: use {key}=<{KINDS[kind]}>" + (" (or null)" if none_ok else ""))
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key}={value}: must be at least {minimum}; set {key}=<{KINDS[kind]} >= {minimum}>")


def is_kind(value: object, kind: type) -> bool:
    """Whether `value` is a `kind`: bool, int, or float (which takes an int too); a bool is neither number."""
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    return isinstance(value, int) or (kind is float and isinstance(value, float))


def check_output_dir(key: str, path: str | Path) -> None:
    """ConfigError naming the fix when `path` (a directory to be written) is, or lies under, an existing file."""
    path = Path(str(path)).expanduser()
    for found in (path, *path.parents):
        if found.exists():
            if not found.is_dir():
                raise ConfigError(f"{key}: {found} is a file, not a directory; set {key}= to a directory")
            return


def _shown(value: object) -> object:
    """A refused value as the user typed it: null, and a string that reads as a number quoted ('3')."""
    if value is None:
        return "null"
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        return repr(value)
    return value


def model_dir_problem(path: Path) -> str | None:
    """What keeps `path` from being a loadable HF model directory, or None."""
    if not (path / "config.json").is_file():
        return "no config.json"
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        return "no weights (*.safetensors)"
    return None


def resolve_model_dir(cfg: DictConfig, build: bool = True) -> Path | None:
    """The configured model's directory (`model.path`), checked; raises ConfigError naming the fix.

    A tiny-world model (`model.tiny` set, no path) is the cached build (warm-started when
    `model.warm_start`): built on first use when `build`, else None (validation builds nothing)."""
    if cfg.model.tiny and cfg.model.path is None:
        from .tiny import SIZES

        if cfg.model.tiny not in SIZES:
            raise ConfigError(f"model.tiny={cfg.model.tiny} is not a tiny size; use one of {', '.join(SIZES)}")
        if not build:
            return None
        from .tiny import ensure_tiny_model
        from .tiny.warmstart import ensure_warm_start

        return ensure_warm_start(cfg.model.tiny) if cfg.model.warm_start else ensure_tiny_model(cfg.model.tiny)
    path = Path(str(cfg.model.path))
    problem = model_dir_problem(path)
    if problem == "no config.json":
        raise ConfigError(
            f"model {cfg.model.name}: no checkpoint at {path} (no config.json); put the HF checkpoint there "
            f"or set model.path=/path/to/checkpoint (or $DYCO_MODEL_ROOT)"
        )
    if problem:
        raise ConfigError(f"model {cfg.model.name}: {path} has a config but {problem}; download them")
    return path


def compose(overrides: list[str], config_name: str = "config") -> DictConfig:
    """The config an entry point would compose from these command-line overrides (inside a running
    Hydra app, through its own search path)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return hydra_compose(config_name, overrides=list(overrides))
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name, overrides=list(overrides))
