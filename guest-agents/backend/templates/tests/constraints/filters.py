

# Foreign keys the list can be filtered by.
FILTERS = json.loads(@@table@@)


@pytest.mark.parametrize("field", FILTERS)
def test_list_filters_by_parent(client, headers, field):
    parent = PARENTS[PLURAL][field]
    ours, theirs = create(client, headers, parent), create(client, headers, parent)
    mine = create(client, headers, PLURAL, **{field: ours["id"]})
    create(client, headers, PLURAL, **{field: theirs["id"]})
    response = client.get(f"/api/{PLURAL}", params={field: ours["id"]}, headers=headers)
    assert response.status_code == 200
    assert [row["id"] for row in response.json()] == [mine["id"]]
    assert client.get(f"/api/{PLURAL}", params={field: "first"}, headers=headers).status_code == 422
