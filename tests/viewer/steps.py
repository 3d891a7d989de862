"""Role-sample steps for the viewer tests, written as `samples.write_step` writes them."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from PIL import Image

from dyco_repro.viewer.files import FORMAT, SAMPLES_DIR

HOSTILE = "<script>document.title='pwned'</script>"


def png_base64(colour=(220, 40, 40), size=(56, 56)) -> str:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, (255, 255, 255))
    image.paste(colour, (8, 8, 40, 40))
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def token(text: str, role: str, r_vis: float = 0.5) -> dict:
    return {"text": text, "role": role, "r_vis": r_vis, "v_vis": 0.01, "v_txt": 0.02, "weight": 1.1}


def step_data(step: int, roles: list[list[str]], hostile: bool = False) -> dict:
    """One step with a completion per role list; token k of each has text `t<k>` (or HOSTILE for k = 0)."""
    samples = []
    for n, row in enumerate(roles):
        tokens = [
            token(HOSTILE if hostile and k == 0 else f"t{k} ", role, r_vis=k / max(len(row), 1))
            for k, role in enumerate(row)
        ]
        samples.append(
            {
                "prompt": f"How many red shapes? <b>{n}</b>",
                "tokens": tokens,
                "reward": float(n),
                "advantage_factor": 1.1,
                "image_png": png_base64(),
            }
        )
    return {"format": FORMAT, "step": step, "run": "unit-run", "samples": samples}


def write_steps(run_dir: Path, steps: list[dict]) -> Path:
    roles = Path(run_dir) / SAMPLES_DIR
    roles.mkdir(parents=True, exist_ok=True)
    for data in steps:
        (roles / f"step_{data['step']:06d}.json").write_text(json.dumps(data))
    return roles


def non_neutral(steps: list[dict]) -> int:
    return sum(t["role"] != "neutral" for data in steps for s in data["samples"] for t in s["tokens"])
