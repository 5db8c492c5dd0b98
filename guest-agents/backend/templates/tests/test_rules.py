"""Validation rules the LLM wrote and the QA agent accepted: each rejects its
counter-example (the accepted example is the sample the CRUD tests send)."""

import json

import pytest

from conftest import body_for

RULES = json.loads(@@rules@@)


@pytest.mark.parametrize("rule", RULES, ids=[f"{r['plural']}.{r['field']}" for r in RULES])
def test_rule_rejects_its_counter_example(client, headers, rule):
    plural = rule["plural"]
    body = body_for(client, headers, plural, **{rule["field"]: rule["invalid"]})
    response = client.post(f"/api/{plural}", json=body, headers=headers)
    assert response.status_code == 422, response.text
