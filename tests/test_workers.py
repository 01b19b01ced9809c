"""`skm serve` with several workers needs what they must share: Redis and a device secret."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED = ("SKM_REDIS_URL", "SKM_DEVICE_SECRET")


def serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`skm serve` in a directory of its own (no .env), on a database that must not be
    created: a refused start-up does nothing, migrations included."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SKM_")}
    clean["SKM_DATABASE_URL"] = f"sqlite:///{tmp_path / 'never.db'}"
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", *args],
        cwd=tmp_path,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env", "missing"),
    [
        (("--workers", "2"), {}, SHARED),
        ((), {"SKM_WORKERS": "4"}, SHARED),
        (("--workers", "2"), {"SKM_REDIS_URL": "redis://127.0.0.1:6379/15"}, SHARED[1:]),
        (("--workers", "2"), {"SKM_DEVICE_SECRET": "s3cret-shared"}, SHARED[:1]),
    ],
)
def test_several_workers_refuse_to_start_without_what_they_share(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], missing: tuple[str, ...]
) -> None:
    done = serve(tmp_path, *args, **env)
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("skm serve: ")
    for name in SHARED:
        assert (name in line) == (name in missing), line
    assert "s3cret" not in line
    assert not (tmp_path / "never.db").exists()
