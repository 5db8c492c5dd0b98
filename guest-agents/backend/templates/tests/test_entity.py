"""CRUD for @@name@@ (/api/@@plural@@), and the rules the spec gives it."""

@@imports@@

PLURAL = "@@plural@@"
UPDATE = json.loads(@@update@@)
REQUIRED = json.loads(@@required@@)
OWNED = @@owned@@


def test_create_and_read(client, headers):
    row = create(client, headers, PLURAL)
    for key, value in SAMPLES[PLURAL].items():
        assert row[key] == value, key
    response = client.get(f"/api/{PLURAL}/{row['id']}", headers=headers)
    assert response.status_code == 200
    assert response.json() == row


def test_list(client, headers):
    ids = {create(client, headers, PLURAL)["id"] for _ in range(2)}
    response = client.get(f"/api/{PLURAL}", headers=headers)
    assert response.status_code == 200
    assert ids <= {row["id"] for row in response.json()}


def test_update(client, headers):
    row = create(client, headers, PLURAL)
    response = client.put(f"/api/{PLURAL}/{row['id']}", json=UPDATE, headers=headers)
    assert response.status_code == 200, response.text
    for key, value in UPDATE.items():
        assert response.json()[key] == value, key


def test_delete(client, headers):
    row = create(client, headers, PLURAL)
    assert client.delete(f"/api/{PLURAL}/{row['id']}", headers=headers).status_code == 204
    assert client.get(f"/api/{PLURAL}/{row['id']}", headers=headers).status_code == 404


def test_missing_row_is_404(client, headers):
    assert client.get(f"/api/{PLURAL}/999999", headers=headers).status_code == 404
    assert client.put(f"/api/{PLURAL}/999999", json=UPDATE, headers=headers).status_code == 404


def test_required_fields_are_enforced(client, headers):
    for field in REQUIRED:
        body = body_for(client, headers, PLURAL)
        body.pop(field)
        assert client.post(f"/api/{PLURAL}", json=body, headers=headers).status_code == 422, field


def test_unknown_references_are_rejected(client, headers):
    for ref in PARENTS.get(PLURAL, {}):
        body = body_for(client, headers, PLURAL, **{ref: 999999})
        assert client.post(f"/api/{PLURAL}", json=body, headers=headers).status_code == 422, ref


def test_login_is_required(client):
    if AUTH:
        assert client.get(f"/api/{PLURAL}").status_code == 401


def test_rows_belong_to_their_owner(client, headers):
    if not OWNED:
        return
    row = create(client, headers, PLURAL)
    other = login(client)
    assert client.get(f"/api/{PLURAL}/{row['id']}", headers=other).status_code == 404
    assert row["id"] not in {r["id"] for r in client.get(f"/api/{PLURAL}", headers=other).json()}
