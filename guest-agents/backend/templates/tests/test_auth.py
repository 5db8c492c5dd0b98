"""Registration, login and the current user."""

from conftest import login


def test_register_and_login(client):
    body = {"email": "ada@example.com", "password": "correct horse battery"}
    response = client.post("/api/auth/register", json=body)
    assert response.status_code == 201
    assert response.json()["email"] == "ada@example.com"
    assert "password" not in response.text
    token = client.post("/api/auth/token", data={"username": body["email"], "password": body["password"]})
    assert token.status_code == 200
    assert token.json()["token_type"] == "bearer"
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert me.json()["email"] == "ada@example.com"


def test_duplicate_email_is_a_conflict(client):
    body = {"email": "dup@example.com", "password": "correct horse battery"}
    assert client.post("/api/auth/register", json=body).status_code == 201
    assert client.post("/api/auth/register", json=body).status_code == 409


def test_wrong_password_is_401(client):
    login(client, email="bob@example.com")
    response = client.post("/api/auth/token", data={"username": "bob@example.com", "password": "wrong password"})
    assert response.status_code == 401


def test_short_password_is_rejected(client):
    response = client.post("/api/auth/register", json={"email": "c@example.com", "password": "short"})
    assert response.status_code == 422


def test_bad_token_is_401(client):
    assert client.get("/api/auth/me", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
