"""The token-role page: every token tagged by role, all text escaped, nothing loaded from the network."""

from __future__ import annotations

import json
import re

import pytest
from steps import non_neutral, step_data, write_steps

from dyco_repro.viewer.files import SampleFileError, validate
from dyco_repro.viewer.page import load_steps, render_page, visible

ROLES = [["neutral", "visual", "textual", "visual"], ["textual", "neutral", "neutral"]]


def page_of(*steps):
    return render_page([validate(s) for s in steps], "roles <test>")


def test_each_token_is_one_span_tagged_with_its_role():
    data = step_data(3, ROLES)
    page = page_of(data)
    tags = re.findall(r'<span class="tok (\w+)" data-role="(\w+)"', page)
    assert [role for cls, role in tags if cls == role] == [role for row in ROLES for role in row]
    assert len(tags) == 7
    assert sum(role != "neutral" for _, role in tags) == non_neutral([data]) == 4
    assert page.count('<img alt="image" src="data:image/png;base64,') == 2
    assert "reward 1 · advantage factor 1.100" in page


def test_model_output_and_prompts_are_escaped():
    page = page_of(step_data(1, ROLES, hostile=True))
    assert "<script" not in page.lower() and "<b>" not in page
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "&lt;b&gt;1&lt;/b&gt;" in page
    assert "<title>roles &lt;test&gt;</title>" in page


def test_the_page_is_self_contained():
    page = page_of(step_data(1, ROLES))
    assert "http://" not in page and "https://" not in page and "//" not in page.replace("://", "")
    assert "default-src 'none'; img-src data:" in page  # no script runs, nothing is fetched


def test_control_characters_are_written_out():
    assert visible("a\x1cb\n\t\x7f") == "a\\x1cb\n\t\\x7f"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format=2), "format"),
        (lambda d: d.update(step=True), "step"),
        (lambda d: d.update(step=-1), "step"),
        (lambda d: d["samples"][0]["tokens"][1].update(role="VISUAL"), "role"),
        (lambda d: d["samples"][0]["tokens"][1].update(r_vis=float("nan")), "r_vis"),
        (lambda d: d["samples"][1].update(advantage_factor="1.2"), "advantage_factor"),
        (lambda d: d["samples"][1].update(tokens=None), "token list"),
    ],
)
def test_a_damaged_file_is_refused_naming_the_field(change, message):
    data = step_data(1, ROLES)
    change(data)
    with pytest.raises(SampleFileError, match=message):
        validate(data)


def test_an_image_that_is_not_base64_is_dropped_and_a_missing_reward_is_allowed():
    data = step_data(1, ROLES)
    data["samples"][0]["image_png"] = '"><script>x</script>'
    data["samples"][1]["reward"] = None
    clean = validate(data)
    assert clean["samples"][0]["image_png"] is None and clean["samples"][1]["reward"] is None
    page = render_page([clean], "t")
    assert "<script" not in page and "no image" in page and "reward n/a" in page


def test_load_steps_orders_by_step_and_skips_a_bad_file(tmp_path, capsys):
    roles = write_steps(tmp_path, [step_data(10, ROLES), step_data(2, ROLES)])
    (roles / "step_000005.json").write_text(json.dumps({"format": 1, "step": "five"}))
    (roles / "step_000006.json").write_text("{not json")
    assert [s["step"] for s in load_steps(roles)] == [2, 10]
    err = capsys.readouterr().err
    assert "step_000005.json" in err and "step_000006.json" in err
