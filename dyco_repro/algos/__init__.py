"""RLVR algorithms on TRL with DyCo-RL as a switch.

Each `conf/algo/*.yaml` names its trainer family; a family is the trainer class and the function
that turns the algorithm's config into the trainer's arguments.
"""

from .grpo_family import DyCoGRPOTrainer, grpo_family_args
from .ppo import DyCoPPOTrainer, ppo_args
from .rloo import DyCoRLOOTrainer, rloo_args

FAMILIES = {
    "grpo_family": (DyCoGRPOTrainer, grpo_family_args),
    "rloo": (DyCoRLOOTrainer, rloo_args),
    "ppo": (DyCoPPOTrainer, ppo_args),
}
