"""Issue 21, class 7 (part) and class 6 (template files): chat templates analysed on their parse tree.
Item names built while rendering are flagged however they are spelt (concatenation, repetition,
filters, calls), a loop over a huge range is flagged, and templates saved as chat_template.jinja or
as a {name: template} mapping are checked; real chat templates (ChatML, a Llama-3 style template
with namespace and loop indexes) stay clean."""

from __future__ import annotations

import json

import pytest

from mlaudit.findings import Severity
from mlaudit.supplychain.scan import scan_paths

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3 = (
    "{%- set ns = namespace(system='') %}{%- for i in range(messages|length) %}{%- set m = messages[i] %}"
    "{%- if m['role'] == 'system' %}{%- set ns.system = m['content'] %}{%- else %}"
    "{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}"
    "{%- endif %}{%- endfor %}"
)


def _high(tmp_path, name: str, text: str) -> set[str]:
    (tmp_path / name).write_text(text)
    (r,) = scan_paths([tmp_path / name])
    assert r.error is None, r.error
    return {i.message for i in r.issues if i.severity >= Severity.MEDIUM}


@pytest.mark.parametrize("template", [CHATML, LLAMA3])
def test_real_chat_templates_are_clean(tmp_path, template):
    assert _high(tmp_path, "chat_template.jinja", template) == set()
    assert _high(tmp_path, "tokenizer_config.json", json.dumps({"chat_template": {"default": template}})) == set()


@pytest.mark.parametrize(
    "expr",
    [
        "x['_' ~ '_cla' ~ 'ss_' ~ '_']",
        "x['_' * 2 ~ 'class' ~ '_' * 2]",
        "x[['_', '_class__']|join]",
        "x['%s%sclass%s%s' % ('_', '_', '_', '_')]",
        "x[y.upper()]",
    ],
)
def test_item_names_built_while_rendering_are_flagged(tmp_path, expr):
    found = _high(tmp_path, "chat_template.jinja", "{{ " + expr + " }}")
    assert any("item whose name is built while rendering" in m for m in found), found


def test_a_huge_loop_is_flagged_in_a_template_mapping(tmp_path):
    doc = {"chat_template": {"default": CHATML, "tool_use": "{% for i in range(10**9) %}x{% endfor %}"}}
    found = _high(tmp_path, "tokenizer_config.json", json.dumps(doc))
    assert any("loops over a range beyond" in m for m in found), found


@pytest.mark.parametrize(
    "template,flagged",
    [
        ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}", True),
        ("{% set n = 5000 %}{% for i in range(n) %}{% for j in range(n) %}{% endfor %}{% endfor %}", True),
        ("{% for i in range(-50000, 50000) %}{% for j in range(200) %}{% endfor %}{% endfor %}", True),
        ("{{ 'ab' * 2000000 }}", True),
        ("{% for m in messages %}{% for i in range(3) %}{{ m.content }}{% endfor %}{% endfor %}", False),
        ("{% for i in range(3000) %}{% endfor %}{% for j in range(3000) %}{% endfor %}", False),  # not nested
        ("{{ '-' * 20 }}", False),
    ],
)
def test_nested_loops_and_repetition_past_the_budget_are_flagged(tmp_path, template, flagged):
    """jinja2's sandbox caps one range() at 100,000 but not loops inside loops or a repeated string:
    the product of the known bounds (constants, or names set once) is checked against 1e7 iterations."""
    path = tmp_path / "chat_template.jinja"
    path.write_text(template)
    (r,) = scan_paths([path])
    assert (r.worst >= Severity.MEDIUM) == flagged, r.to_dict()
