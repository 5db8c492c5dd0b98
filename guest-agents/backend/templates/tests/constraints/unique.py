

# Fields no two rows may share a value of.
UNIQUE_FIELDS = json.loads(@@table@@)


@pytest.mark.parametrize("field", UNIQUE_FIELDS)
def test_a_duplicate_is_a_conflict(client, headers, field):
    first, second = create(client, headers, PLURAL), create(client, headers, PLURAL)
    body = body_for(client, headers, PLURAL, **{field: first[field]})
    response = client.post(f"/api/{PLURAL}", json=body, headers=headers)
    assert response.status_code == 409, response.text
    assert field in response.json()["detail"]
    response = client.put(f"/api/{PLURAL}/{second['id']}", json={field: first[field]}, headers=headers)
    assert response.status_code == 409, response.text
    assert field in response.json()["detail"]
