"""Test fixtures: a fresh database per test, a logged-in client, and rows to test with.

The tests use the database DATABASE_URL names (for example
postgresql+psycopg://user:password@localhost:5432/app_test) and drop and
create its tables for every test, so never point it at data you keep. Without
it they use a temporary SQLite file.
"""

import datetime as dt
import os
import tempfile
import uuid

if not os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_URL"] = f"sqlite:///{os.path.join(tempfile.mkdtemp(), 'test.db')}"
os.environ.setdefault("PASSWORD_ROUNDS", "1000")

import pytest  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from database import Base, engine  # noqa: E402
from main import AUTH, app  # noqa: E402
from samples import PARENTS, SAMPLES, UNIQUE  # noqa: E402

# Rows built so far in the current test, per table.
built: dict[str, int] = {}


@pytest.fixture(autouse=True)
def fresh_database():
    Base.metadata.drop_all(bind=engine)
    Base.metadata.create_all(bind=engine)
    built.clear()
    yield


@pytest.fixture(scope="session", autouse=True)
def tables_are_dropped_at_the_end():
    yield
    Base.metadata.drop_all(bind=engine)
    engine.dispose()


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


def variant(value, rule: dict, n: int):
    """The n-th distinct value for a unique field (the 0th is the sample itself)."""
    if n == 0:
        return value
    kind = rule["type"]
    if kind == "integer":
        if "max" not in rule:
            return value + n
        low = rule.get("min", rule["max"] - 1000)
        return low + (value - low + n) % (rule["max"] - low + 1)
    if kind == "date":
        return (dt.date.fromisoformat(value) + dt.timedelta(days=n)).isoformat()
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local}.{n}@{domain}"
    if kind == "url":
        return f"{value}/{n}"
    return f"{value} {n}"


def body_for(client, headers, plural, **overrides):
    """A valid body for a new row of `plural`: its sample, with values no other row
    holds in its unique fields, pointing at new rows it refers to (unless given)."""
    n = built.get(plural, 0)
    built[plural] = n + 1
    body = dict(SAMPLES[plural])
    for field, rule in UNIQUE.get(plural, {}).items():
        body[field] = variant(body[field], rule, n)
    for field, parent in PARENTS.get(plural, {}).items():
        if field not in overrides:
            body[field] = create(client, headers, parent)["id"]
    body.update(overrides)
    return body


def create(client, headers, plural, **overrides):
    """Creates a row of `plural`, creating the rows it refers to first."""
    response = client.post(f"/api/{plural}", json=body_for(client, headers, plural, **overrides), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()
