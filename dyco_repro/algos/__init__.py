"""RLVR algorithms on TRL with DyCo-RL as a switch.

Each `conf/algo/*.yaml` names its trainer family (`trainer:`) and carries a `trl:` block handed to
the family's TRL config class as is. A family is a trainer class (a TRL trainer with `DyCoJoin`)
and its config class; `core.py` holds the RL math they share.
"""

from trl import GRPOConfig, RLOOConfig

from .grpo_family import DyCoGRPOTrainer
from .ppo import DyCoPPOTrainer, PPOConfig
from .rloo import DyCoRLOOTrainer

FAMILIES = {
    "grpo_family": (DyCoGRPOTrainer, GRPOConfig),
    "rloo": (DyCoRLOOTrainer, RLOOConfig),
    "ppo": (DyCoPPOTrainer, PPOConfig),
}
