

# Fields with choices: every choice, and a value that is none of them.
CHOICES = json.loads(@@table@@)


@pytest.mark.parametrize("case", CHOICES, ids=[case["field"] for case in CHOICES])
def test_choices_are_enforced(client, headers, case):
    field = case["field"]
    for choice in case["choices"]:
        row = create(client, headers, PLURAL, **{field: choice})
        assert row[field] == choice
        assert client.put(f"/api/{PLURAL}/{row['id']}", json={field: choice}, headers=headers).status_code == 200
    body = body_for(client, headers, PLURAL, **{field: case["rejected"]})
    assert client.post(f"/api/{PLURAL}", json=body, headers=headers).status_code == 422
    assert client.put(f"/api/{PLURAL}/{row['id']}", json={field: case["rejected"]}, headers=headers).status_code == 422
