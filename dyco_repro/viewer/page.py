"""The token-role page: self-contained HTML (inline CSS, images as data: URIs, no script, no network).

Each completion is shown beside the image the model saw; each token is a `<span class="tok">` tagged
`data-role="visual|textual|neutral"`: visual tokens orange, textual blue, neutral uncoloured; the bar
under every token is shaded by ~r_vis (its share of attention on the image, 0-1); the tooltip gives
role, ~r_vis, v_vis, v_txt and the advantage factor. All text (model output is untrusted) is escaped,
and a Content-Security-Policy forbids scripts and any load from the network.
"""

from __future__ import annotations

import json
import re
import sys
from html import escape
from pathlib import Path
from typing import Any

from .files import SampleFileError, validate

CSS = """
body{font-family:DejaVu Sans,Arial,sans-serif;margin:16px;color:#222;background:#fff}
h1{font-size:20px} h2{font-size:17px;margin-top:28px} h3{font-size:15px;color:#555}
.legend span{margin-right:14px}
.sample{display:flex;gap:14px;align-items:flex-start;border:1px solid #ddd;border-radius:6px;padding:10px;
margin:10px 0}
.sample img{width:168px;image-rendering:pixelated;border:1px solid #ccc;flex:none}
.noimg{width:168px;height:168px;background:#eee;color:#888;display:flex;align-items:center;justify-content:center;
flex:none}
.meta{font-size:13px;color:#444;margin-bottom:6px}
.prompt{font-size:12px;color:#666;margin-bottom:6px;white-space:pre-wrap}
.completion{font-family:DejaVu Sans Mono,monospace;font-size:15px;line-height:2;white-space:pre-wrap;
word-break:break-word}
.tok{padding:1px 0;margin-right:2px;border-radius:2px;border-bottom:4px solid rgba(200,30,30,var(--rvis))}
.tok.visual{background:#f5a142} .tok.textual{background:#6ea8f0} .tok.neutral{background:transparent}
"""
# Control characters (but newline and tab) shown as \xNN: model output may hold any of them.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def load_steps(directory: Path) -> list[dict[str, Any]]:
    """Every valid `step_*.json` under `directory`, by step; a bad file is skipped with a warning."""
    steps = []
    for path in sorted(Path(directory).glob("step_*.json")):
        try:
            steps.append(validate(json.loads(path.read_text())))
        except (OSError, ValueError, SampleFileError) as err:
            print(f"warning: skipping {path.name}: {err}", file=sys.stderr)
    return sorted(steps, key=lambda s: s["step"])


def render_page(steps: list[dict[str, Any]], title: str) -> str:
    """One page with a section per step (validated step dicts, see `samples.validate`)."""
    return render_sections([(None, steps)], title)


def render_sections(sections: list[tuple[str | None, list[dict[str, Any]]]], title: str) -> str:
    """One page; each section (a heading, or None) lists its steps' completions."""
    body = []
    for heading, steps in sections:
        if heading is not None:
            body.append(f"<h2>{escape(heading)}</h2>")
        if not steps:
            body.append("<p>No role samples recorded.</p>")
        for step in steps:
            body.append(f"<h3>step {step['step']}</h3>")
            body.extend(_sample(sample) for sample in step["samples"])
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        '<p class="legend"><span class="tok visual" style="--rvis:0">visual</span>'
        '<span class="tok textual" style="--rvis:0">textual</span>'
        '<span class="tok neutral" style="--rvis:0">neutral</span>'
        '<span class="tok neutral" style="--rvis:1">red bar: ~r_vis (0-1)</span>'
        "Hover a token for its numbers.</p>" + "\n".join(body) + "</body></html>\n"
    )


def _sample(sample: dict[str, Any]) -> str:
    image = (
        f'<img alt="image" src="data:image/png;base64,{sample["image_png"]}">'
        if sample["image_png"]
        else '<div class="noimg">no image</div>'
    )
    reward = "n/a" if sample["reward"] is None else f"{sample['reward']:.3g}"
    counts = {role: sum(t["role"] == role for t in sample["tokens"]) for role in ("visual", "textual", "neutral")}
    meta = (
        f"reward {reward} · advantage factor {sample['advantage_factor']:.3f} · "
        f"{counts['visual']} visual / {counts['textual']} textual / {counts['neutral']} neutral tokens"
    )
    tokens = "".join(_token(t) for t in sample["tokens"])
    return (
        f'<div class="sample">{image}<div><div class="meta">{escape(meta)}</div>'
        f'<div class="prompt">{escape(sample["prompt"])}</div>'
        f'<div class="completion">{tokens}</div></div></div>'
    )


def _token(token: dict[str, Any]) -> str:
    tip = (
        f"{token['role']} | ~r_vis {token['r_vis']:.3f} | v_vis {token['v_vis']:.4f} | "
        f"v_txt {token['v_txt']:.4f} | advantage factor {token['weight']:.3f}"
    )
    return (
        f'<span class="tok {token["role"]}" data-role="{token["role"]}" style="--rvis:{token["r_vis"]:.3f}" '
        f'title="{escape(tip)}">{escape(visible(token["text"]))}</span>'
    )


def visible(text: str) -> str:
    """`text` with control characters written out (`\\x1c`), so that every token shows."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
