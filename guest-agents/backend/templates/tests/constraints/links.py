

# The pairs of foreign keys this join entity links at most once.
LINKS = json.loads(@@table@@)


@pytest.mark.parametrize("pair", LINKS, ids=["-".join(pair) for pair in LINKS])
def test_a_pair_is_linked_once(client, headers, pair):
    first, second = create(client, headers, PLURAL), create(client, headers, PLURAL)
    same = {field: first[field] for field in pair}
    response = client.post(f"/api/{PLURAL}", json=body_for(client, headers, PLURAL, **same), headers=headers)
    assert response.status_code == 409, response.text
    assert all(field in response.json()["detail"] for field in pair)
    response = client.put(f"/api/{PLURAL}/{second['id']}", json=same, headers=headers)
    assert response.status_code == 409, response.text
