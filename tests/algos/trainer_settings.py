"""The small trainer settings the trainer-family tests share."""


def tiny_trainer_settings(tmp_path, **overrides) -> dict:
    """One group of 4 completions of 8 tokens per step, two steps, on CPU; no KL, nothing saved or reported."""
    settings = {
        "output_dir": str(tmp_path / "out"),
        "per_device_train_batch_size": 4,
        "num_generations": 4,
        "max_completion_length": 8,
        "max_steps": 2,
        "report_to": [],
        "use_cpu": True,
        "save_strategy": "no",
        "beta": 0.0,
    }
    return settings | overrides


def micro_batch(processor, n: int = 4):
    """n rollouts of one question with completions of 6, 3, 8, 5 tokens, as a trainer's
    `_compute_loss` receives them (without advantages): (batch, processor inputs, prompt length)."""
    import random

    from batches import rollout_batch, trainer_inputs

    from dyco_repro.tiny.shapes import random_scene, render

    rng = random.Random(1)
    prompts = [(render(random_scene(rng)), "How many red shapes are in the image?") for _ in range(n)]
    inputs, P = rollout_batch(processor, prompts, [6, 3, 8, 5], seed=2)
    batch = trainer_inputs(inputs, P)
    return batch, inputs, P
