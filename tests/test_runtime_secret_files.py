"""Secrets as files: what Kubernetes mounts from a Secret and compose from `secrets:`, the runtime reads.

A generated service runs as a real uvicorn process whose database URL and internal key exist only as
files of its secrets folder (no such variable in its environment); its Alembic migrations read the same
folder, as the Kubernetes init container does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from msgen.generate import Generated
from msgen.localrun import free_port
from msgen.writer import write_project
from msgen_runtime.callers import HEADER, InternalAuth
from msgen_runtime.settings import SECRETS_DIR_ENV, ServiceSettings
from tests.processes import run
from tests.test_fail_closed import USER, _env, _uvicorn, running

SECRET = "secret-from-a-file-0123456789abcdefghijkl"


def _secrets(folder: Path, **values: str) -> Path:
    """A secrets folder as Kubernetes projects one: a file per setting, its value and a final newline."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in values.items():
        (folder / name).write_text(value + "\n")
    return folder


def test_a_service_reads_its_database_url_and_internal_key_from_files(shop: Generated, tmp_path: Path) -> None:
    project = tmp_path / "shop"
    write_project(project, shop.files, shop.system.spec_hash)
    service = project / "services" / "user"
    database = tmp_path / "user.db"
    secrets = _secrets(
        tmp_path / "secrets", DATABASE_URL=f"sqlite+aiosqlite:///{database}", INTERNAL_AUTH_SECRET=SECRET
    )
    env = _env(**{SECRETS_DIR_ENV: str(secrets)})
    assert not {"DATABASE_URL", "INTERNAL_AUTH_SECRET"} & {k.upper() for k in env}
    migrated = run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=service, env=env, timeout=300)
    assert migrated.returncode == 0, migrated.stderr
    assert database.is_file(), "the migrations ran on the database the file names"
    port = free_port()
    with (
        running(_uvicorn("user_service.main:create_app", port), service, env, tmp_path / "user.log", port) as url,
        httpx.Client(timeout=10) as http,
    ):
        token = InternalAuth(SECRET, issuer="gateway").mint("u-1", audience="user")
        created = http.post(f"{url}/v1/users", json=USER, headers={HEADER: token})
        assert created.status_code == 201, created.text
        forged = InternalAuth("another-secret-0123456789abcdefghijklmnop", issuer="gateway").mint(
            "u-1", audience="user"
        )
        assert http.post(f"{url}/v1/users", json=USER, headers={HEADER: forged}).status_code == 401
        listed = http.get(f"{url}/v1/users", headers={HEADER: token})
        assert [u["email"] for u in listed.json()["items"]] == [USER["email"]], listed.text


def test_a_variable_wins_over_a_file_and_a_named_folder_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DATABASE_URL", "ADMIN_TOKEN", "BROKER_URL", "BROKER_USERNAME", "BROKER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    secrets = _secrets(tmp_path / "secrets", DATABASE_URL="postgresql://from-file/app", ADMIN_TOKEN="a" * 40)
    monkeypatch.setenv(SECRETS_DIR_ENV, str(secrets))
    settings = ServiceSettings(_env_file=None)
    assert settings.database_url == "postgresql://from-file/app"
    assert settings.admin_token is not None and settings.admin_token.get_secret_value() == "a" * 40
    monkeypatch.setenv("DATABASE_URL", "postgresql://from-env/app")
    assert ServiceSettings(_env_file=None).database_url == "postgresql://from-env/app"
    # the file's checks are the variable's: a short admin token is refused
    (secrets / "ADMIN_TOKEN").write_text("short\n")
    with pytest.raises(ValidationError, match="ADMIN_TOKEN must be at least 32 characters"):
        ServiceSettings(_env_file=None)
    monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path / "not-mounted"))
    with pytest.raises(ValueError, match="is not a folder: the secrets it should hold are missing"):
        ServiceSettings(_env_file=None)


def test_broker_credentials_from_files_complete_an_amqp_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The RabbitMQ operator's Secret holds a user and a password, not a URL: the runtime puts them in."""
    for name in ("BROKER_URL", "BROKER_USERNAME", "BROKER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    secrets = _secrets(tmp_path / "secrets", BROKER_USERNAME="default_user_x/y", BROKER_PASSWORD="p+a/s=s@:")
    monkeypatch.setenv(SECRETS_DIR_ENV, str(secrets))
    monkeypatch.setenv("BROKER_URL", "amqp://shop-rabbitmq:5672/")
    url = ServiceSettings(_env_file=None).broker_url
    assert url == "amqp://default_user_x%2Fy:p%2Ba%2Fs%3Ds%40%3A@shop-rabbitmq:5672/"
    monkeypatch.setenv("BROKER_URL", "amqp://someone:else@shop-rabbitmq:5672/")
    with pytest.raises(ValidationError, match="already names a user"):
        ServiceSettings(_env_file=None)
    monkeypatch.setenv("BROKER_URL", "nats://nats:4222")
    with pytest.raises(ValidationError, match="not an amqp:// URL"):
        ServiceSettings(_env_file=None)
