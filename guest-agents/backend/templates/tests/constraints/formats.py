

# Fields with a format (an email address, an http(s) URL, money in cents): values without it.
FORMATS = json.loads(@@table@@)


@pytest.mark.parametrize("case", FORMATS, ids=[case["field"] for case in FORMATS])
def test_format_is_enforced(client, headers, case):
    field = case["field"]
    row = create(client, headers, PLURAL)
    for value in case["rejected"]:
        body = body_for(client, headers, PLURAL, **{field: value})
        assert client.post(f"/api/{PLURAL}", json=body, headers=headers).status_code == 422, value
        assert client.put(f"/api/{PLURAL}/{row['id']}", json={field: value}, headers=headers).status_code == 422, value
