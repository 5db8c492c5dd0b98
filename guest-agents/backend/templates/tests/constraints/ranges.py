

# Fields with a range: the values at its bounds and values beyond them.
RANGES = json.loads(@@table@@)


@pytest.mark.parametrize("case", RANGES, ids=[case["field"] for case in RANGES])
def test_range_is_enforced(client, headers, case):
    field = case["field"]
    for value in case["accepted"]:
        row = create(client, headers, PLURAL, **{field: value})
        assert row[field] == value
        assert client.put(f"/api/{PLURAL}/{row['id']}", json={field: value}, headers=headers).status_code == 200
    for value in case["rejected"]:
        body = body_for(client, headers, PLURAL, **{field: value})
        assert client.post(f"/api/{PLURAL}", json=body, headers=headers).status_code == 422, value
        assert client.put(f"/api/{PLURAL}/{row['id']}", json={field: value}, headers=headers).status_code == 422, value
