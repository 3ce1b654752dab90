"""The deployment recipe in deploy/ agrees with the code and with itself.

Docker cannot run here, so the compose file, the Dockerfile and nginx.conf are checked by
reading them: every variable the replicas get is a real ragkit setting with a valid value, the
hosts and ports named in one file are the ones another file serves, and nothing a replica writes
outlives it. Where ``docker-compose`` or ``nginx`` are installed, their own validators run too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
NGINX = DEPLOY / "nginx.conf"
DOCKERFILE = DEPLOY / "Dockerfile"
INTERPOLATION = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def _interpolate(value: str) -> str:
    """Compose's ``${NAME:-default}`` with nothing set in the environment: the default."""
    return INTERPOLATION.sub(lambda m: m.group(2) or "", value)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def replica_env(services) -> dict[str, str]:
    return {k: _interpolate(str(v)) for k, v in services["ragkit"]["environment"].items()}


@pytest.fixture(scope="module")
def nginx() -> str:
    # comments out, so a directive named in a comment does not count
    return "\n".join(line.split("#", 1)[0] for line in NGINX.read_text(encoding="utf-8").splitlines())


def _directive(conf: str, name: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^\s*{name}\s+([^;]+);", conf, re.M)]


def _flag(command: list[str], name: str) -> str:
    assert name in command, f"ragkit's command has no {name}: {command}"
    return command[command.index(name) + 1]


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m|h)?", value)
    assert match, value
    return int(match.group(1)) * {"ms": 0.001, None: 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _bytes(value: str) -> int:
    match = re.fullmatch(r"(\d+)([kKmMgG])?", value)
    assert match, value
    return int(match.group(1)) * {None: 1, "k": 1024, "m": 1024**2, "g": 1024**3}[(match.group(2) or "").lower() or None]


def test_the_four_services_are_there(services) -> None:
    assert set(services) == {"postgres", "chroma", "ragkit", "nginx"}
    assert services["postgres"]["image"].startswith("postgres:15")
    assert _interpolate(services["chroma"]["image"]).startswith("chromadb/chroma:")


def test_every_variable_of_a_replica_is_a_ragkit_setting(replica_env) -> None:
    from ragkit.config import Settings

    names = {f"RAGKIT_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(set(replica_env) - names)
    assert not unknown, f"not ragkit settings: {unknown}"
    assert {"RAGKIT_DATABASE_URL", "RAGKIT_CHROMA_URL", "RAGKIT_LEXICAL_BACKEND", "RAGKIT_HOME"} <= set(replica_env)


def test_the_replicas_settings_load(replica_env, tmp_path, monkeypatch) -> None:
    """The values, not just the names: ragkit accepts them as a replica would read them."""
    from ragkit.config import load_settings

    for name in [n for n in os.environ if n.startswith("RAGKIT_") or n in ("OPENAI_API_KEY", "OPENAI_BASE_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no ragkit.toml
    for name, value in replica_env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.lexical_backend == "postgres"
    assert settings.database_url == replica_env["RAGKIT_DATABASE_URL"]
    assert settings.chroma_url == replica_env["RAGKIT_CHROMA_URL"]


def test_the_replicas_reach_the_database_and_chroma_by_service_name(services, replica_env) -> None:
    database = urlparse(replica_env["RAGKIT_DATABASE_URL"])
    assert database.scheme == "postgresql+psycopg"
    assert database.hostname == "postgres" and (database.port or 5432) == 5432
    postgres_env = {k: _interpolate(str(v)) for k, v in services["postgres"]["environment"].items()}
    assert database.username == postgres_env["POSTGRES_USER"]
    assert database.password == postgres_env["POSTGRES_PASSWORD"]
    assert database.path.lstrip("/") == postgres_env["POSTGRES_DB"]
    chroma = urlparse(replica_env["RAGKIT_CHROMA_URL"])
    assert (chroma.scheme, chroma.hostname, chroma.port) == ("http", "chroma", 8000)
    assert "/dev/tcp/127.0.0.1/8000" in " ".join(services["chroma"]["healthcheck"]["test"])


def _chroma_healthcheck(services, port: int) -> subprocess.CompletedProcess:
    """The chroma service's healthcheck as the container runs it (compose's ``$$`` is one ``$``),
    aimed at ``port`` of this host instead of the container's 8000."""
    kind, *command = services["chroma"]["healthcheck"]["test"]
    assert kind == "CMD"
    command = [part.replace("$$", "$").replace("127.0.0.1/8000", f"127.0.0.1/{port}") for part in command]
    return subprocess.run(command, capture_output=True, text=True, timeout=10)


def test_the_chroma_healthcheck_needs_only_bash_and_passes_against_chroma_run(services, tmp_path) -> None:
    """chromadb/chroma images carry no curl, wget or python: a healthcheck calling one never
    passes, and every replica waits on ``service_healthy`` for ever. Bash's /dev/tcp and builtins
    ask the same heartbeat a ragkit replica uses, here of a real ``chroma run``."""
    from chroma_server import start_chroma, stop_chroma

    test = services["chroma"]["healthcheck"]["test"]
    assert test[1] == "/bin/bash" and not re.search(r"\b(curl|wget|python3?|grep|head)\b", " ".join(test))
    assert "GET /api/v2/heartbeat" in test[-1]
    process, url = start_chroma(tmp_path / "chroma")
    port = int(url.rsplit(":", 1)[1])
    try:
        assert _chroma_healthcheck(services, port).returncode == 0
    finally:
        stop_chroma(process)
    assert _chroma_healthcheck(services, port).returncode != 0, "a stopped server must fail the check"


def test_shared_state_is_on_volumes_and_a_replica_keeps_nothing(compose, services, replica_env) -> None:
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "chroma-data:/data" in services["chroma"]["volumes"]  # the image's persist_path
    assert {"postgres-data", "chroma-data"} <= set(compose["volumes"])
    mounts = services["ragkit"]["volumes"]
    assert all(isinstance(m, dict) and m["type"] == "tmpfs" for m in mounts), "a replica must not keep a volume"
    assert replica_env["RAGKIT_HOME"] in {m["target"] for m in mounts}
    assert services["ragkit"]["deploy"]["replicas"] >= 2


def test_only_the_proxy_is_published(services) -> None:
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"nginx"}
    assert services["nginx"]["ports"] == ["8080:8080"]


def test_the_proxy_listens_where_compose_publishes_and_sends_to_the_replicas_port(services, nginx) -> None:
    container_port = services["nginx"]["ports"][0].split(":")[-1]
    assert _directive(nginx, "listen") == [container_port]
    mount = next(v for v in services["nginx"]["volumes"] if v.endswith(":/etc/nginx/nginx.conf:ro"))
    assert (DEPLOY / mount.split(":")[0]).resolve() == NGINX
    command = services["ragkit"]["command"]
    assert command[:2] == ["ragkit", "serve"] and "--no-auth" not in command
    assert _flag(command, "--host") == "0.0.0.0"
    upstream = re.search(r"upstream\s+(\w+)\s*\{([^}]*)\}", nginx)
    assert upstream, "nginx.conf has no upstream block"
    servers = _directive(upstream.group(2), "server")
    assert [s.split()[0] for s in servers] == [f"ragkit:{_flag(command, '--port')}"]
    assert "least_conn;" in upstream.group(2)
    assert _directive(nginx, "proxy_pass") == [f"http://{upstream.group(1)}"]


def test_the_proxy_lets_uploads_and_streams_through(services, nginx) -> None:
    command = services["ragkit"]["command"]
    (body_limit,) = _directive(nginx, "client_max_body_size")
    assert _bytes(body_limit) > int(_flag(command, "--max-upload-mb")) * 1024**2, "ragkit must answer the 413"
    (read_timeout,) = _directive(nginx, "proxy_read_timeout")
    assert _seconds(read_timeout) > float(_flag(command, "--request-timeout"))
    assert _directive(nginx, "proxy_buffering") == ["off"]
    assert _directive(nginx, "proxy_http_version") == ["1.1"]


def test_the_image_installs_ragkit_with_the_postgres_extra(services) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.M)
    assert '".[postgres]"' in text
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert any(d.startswith("psycopg") for d in extras["postgres"])
    for line in re.findall(r"^COPY\s+(.+)$", text, re.M):
        for source in line.split()[:-1]:
            assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which the repository lacks"
    assert not re.search(r"\b(wget|curl|huggingface-cli|hf_hub_download)\b", text), "no download in the image"
    build = services["ragkit"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def test_client_and_server_chroma_are_the_version_tested_here(services) -> None:
    import chromadb

    server = _interpolate(services["chroma"]["image"]).split(":", 1)[1]
    client = re.search(r"^ARG CHROMA_VERSION=(\S+)$", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    assert client and client.group(1) == server == _interpolate(services["ragkit"]["build"]["args"]["CHROMA_VERSION"])
    assert server == chromadb.__version__, "pin the images to the chromadb the tests run against"


def test_docker_compose_accepts_the_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed")
    done = subprocess.run([binary, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_nginx_accepts_the_configuration(tmp_path) -> None:
    binary = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if binary is None:
        pytest.skip("nginx is not installed")
    # the service name only resolves inside compose's network; everything else is checked as is
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX.read_text(encoding="utf-8").replace("server ragkit:", "server 127.0.0.1:"))
    done = subprocess.run([binary, "-t", "-c", str(conf), "-p", str(tmp_path), "-g", f"pid {tmp_path}/nginx.pid;"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
