import pytest

from waymark_kernel.settings import RunMode, Settings


@pytest.mark.parametrize(("value", "schedule"), [
    ("1,2,3", [1.0, 2.0, 3.0]),
    ("5", [5.0]),
    (" 0.5, 30 ,", [0.5, 30.0]),
])
def test_the_webhook_retry_schedule_is_read_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, schedule: list[float]
) -> None:
    monkeypatch.setenv("WAYMARK_WEBHOOK_RETRY_SCHEDULE", value)

    assert Settings(_env_file=None).webhook_retry_schedule == schedule


def test_the_webhook_retry_schedule_defaults_to_the_documented_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WAYMARK_WEBHOOK_RETRY_SCHEDULE", raising=False)

    assert Settings(_env_file=None).webhook_retry_schedule == [
        5, 300, 1800, 7200, 18000, 36000, 36000,
    ]


def test_distributed_mode_derives_one_postgresql_database_per_service() -> None:
    settings = Settings(
        _env_file=None, mode=RunMode.distributed, postgres_url="postgresql+asyncpg://db:5432/",
        database_prefix="waymark", referrals_database_url="sqlite+aiosqlite:///r.db",
        host="127.0.0.1", port=9000, notifications_url=None,
    )

    assert settings.database_url("registry") == "postgresql+asyncpg://db:5432/waymark_registry"
    assert settings.database_url("referrals") == "sqlite+aiosqlite:///r.db"
    assert settings.service_url("notifications") == "http://127.0.0.1:9003"
