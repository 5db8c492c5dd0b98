"""Test fixtures: a fresh SQLite database per test and a logged-in client."""

import os
import tempfile
import uuid

_db = os.path.join(tempfile.mkdtemp(), "test.db")
os.environ["DATABASE_URL"] = f"sqlite:///{_db}"
os.environ.setdefault("PASSWORD_ROUNDS", "1000")

import pytest  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from database import Base, engine  # noqa: E402
from main import AUTH, app  # noqa: E402
from samples import PARENTS, SAMPLES  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_database():
    Base.metadata.drop_all(bind=engine)
    Base.metadata.create_all(bind=engine)
    yield


@pytest.fixture
def client():
    with TestClient(app) as c:
        yield c


def login(client, email=None, password="correct horse battery"):
    """Registers a user and returns its Authorization header ({} without auth)."""
    if not AUTH:
        return {}
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    assert client.post("/api/auth/register", json={"email": email, "password": password}).status_code == 201
    token = client.post("/api/auth/token", data={"username": email, "password": password}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def headers(client):
    return login(client)


def create(client, headers, plural, **overrides):
    """Creates a row of `plural`, creating the rows it refers to first."""
    body = dict(SAMPLES[plural])
    for field, parent in PARENTS.get(plural, {}).items():
        body[field] = create(client, headers, parent)["id"]
    body.update(overrides)
    response = client.post(f"/api/{plural}", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()
