"""Find or start a PostgreSQL server for the tests.

GRAPHSAVER_TEST_PG_URL wins when set. Otherwise a throwaway server is initialised in a
temporary folder from the local PostgreSQL binaries, listens on a Unix socket only, and is
stopped at the end. When neither is possible the tests fail with a message saying how to
provide one: PostgreSQL tests never skip silently.

The throwaway server trusts every local login except PASSWORD_ROLE's, which must give its
password (scram-sha-256), so the tests can check what a wrong password does.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from urllib.parse import quote, urlsplit, urlunsplit

PASSWORD_ROLE = "graphsaver_password"


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    candidates += sorted(glob.glob(f"/usr/local/pgsql/bin/{name}"))
    return candidates[0] if candidates else None


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    url = os.environ.get("GRAPHSAVER_TEST_PG_URL")
    if url:
        yield url
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError(
            "no PostgreSQL for the tests: set GRAPHSAVER_TEST_PG_URL=postgresql://... or install "
            "the PostgreSQL server binaries (initdb, pg_ctl), e.g. apt-get install postgresql"
        )
    root = tempfile.mkdtemp(prefix="graphsaver-pg-")
    data, sock = os.path.join(root, "data"), os.path.join(root, "sock")
    os.makedirs(sock)
    user = "graphsaver"
    # initdb refuses to run as root; run it (and the server) as the owner of a fresh folder.
    run_as: list[str] = []
    if os.geteuid() == 0:
        owner = "postgres"
        if not shutil.which("runuser") or not _user_exists(owner):
            raise RuntimeError(
                "no PostgreSQL for the tests: running as root, the throwaway server needs the "
                "'postgres' OS user and runuser; or set GRAPHSAVER_TEST_PG_URL=postgresql://..."
            )
        shutil.chown(root, owner)
        shutil.chown(sock, owner)
        run_as = ["runuser", "-u", owner, "--"]
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run(
        [*run_as, initdb, "-D", data, "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
        env=env,
    )
    hba = os.path.join(data, "pg_hba.conf")
    with open(hba) as f:
        rules = f.read()
    with open(hba, "w") as f:
        f.write(f"local all {PASSWORD_ROLE} scram-sha-256\n{rules}")
    options = f"-c listen_addresses='' -k {sock} -c fsync=off -c max_connections=300"
    subprocess.run(
        [*run_as, pg_ctl, "-D", data, "-o", options, "-w", "-l", os.path.join(root, "log"), "start"],
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        yield f"postgresql://{user}@/postgres?host={quote(sock)}"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


@contextlib.contextmanager
def fresh_database(base_url: str, dbname: str) -> Iterator[str]:
    """Create an empty database on the server, and drop it afterwards."""
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield with_database(base_url, dbname)
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
