"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

The file is parsed and held against the code it starts: every ``adreview ...`` command
must be a real subcommand with real options, every ``ADREVIEW_*`` variable a settings
field. ``docker compose config -q`` (which needs no engine) runs where the client is
installed.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from worker.cli import app
from worker.settings import Settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def adreview_commands(compose: dict[str, Any]) -> dict[str, list[str]]:
    """Service name -> its ``adreview ...`` command line."""
    found = {}
    for name, service in services(compose).items():
        command = service.get("command")
        if command is not None and argv(command)[:1] == ["adreview"]:
            found[name] = argv(command)
    return found


def cli_group() -> Any:
    """The click group behind the Typer app (Typer may ship its own copy of click, so the
    group is used by its interface: ``commands``, and ``params`` of each command)."""
    group = typer.main.get_command(app)
    assert isinstance(getattr(group, "commands", None), dict)
    return group


def option_names(command: Any) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        if param.param_type_name == "option":
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def test_the_services_and_the_gpu_profile_are_declared(compose: dict[str, Any]) -> None:
    found = services(compose)
    assert set(found) >= {"redis", "postgres", "migrate", "api", "worker", "worker-gpu", "vllm"}
    for name in ("redis", "postgres", "migrate", "api", "worker"):
        assert "profiles" not in found[name], f"{name} must start without a profile"
    for name in ("worker-gpu", "vllm"):
        assert found[name]["profiles"] == ["gpu"]
        devices = found[name]["deploy"]["resources"]["reservations"]["devices"]
        assert any("gpu" in d["capabilities"] for d in devices), f"{name} reserves no GPU"


def test_every_adreview_command_is_a_real_subcommand_with_real_options(
    compose: dict[str, Any],
) -> None:
    group = cli_group()
    commands = adreview_commands(compose)
    assert set(commands) >= {"migrate", "api", "worker", "worker-gpu"}
    missing_serve = False
    for service, words in commands.items():
        name = words[1]
        if name == "serve" and name not in group.commands:
            missing_serve = True
            continue
        assert name in group.commands, f"{service}: `adreview {name}` is not a command"
        known = option_names(group.commands[name])
        for word in words[2:]:
            if word.startswith("-"):
                assert word.split("=", 1)[0] in known, (
                    f"{service}: `adreview {name}` has no option {word}; it has {sorted(known)}"
                )
    if missing_serve:
        pytest.skip("`adreview serve` does not exist yet; the api service's command is unchecked")


def test_the_worker_commands_listen_on_the_configured_queues(compose: dict[str, Any]) -> None:
    commands = adreview_commands(compose)
    defaults = Settings()

    def option(words: list[str], name: str) -> str:
        return words[words.index(name) + 1]

    assert option(commands["worker"], "--queues") == defaults.queue
    assert option(commands["worker-gpu"], "--queues") == defaults.gpu_queue
    assert option(commands["worker-gpu"], "--pool") == "solo"
    assert commands["migrate"][:2] == ["adreview", "migrate"]


def test_every_adreview_variable_is_a_settings_field(compose: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    used = set(re.findall(r"\bADREVIEW_[A-Z0-9_]+", text))
    assert {"ADREVIEW_DATABASE_URL", "ADREVIEW_REDIS_URL", "ADREVIEW_OCR_ENGINE",
            "ADREVIEW_VLLM_URL"} <= used
    fields = {f"ADREVIEW_{name.upper()}" for name in Settings.model_fields}
    assert used <= fields, f"not settings: {sorted(used - fields)}"


def test_the_shared_environment_points_at_the_compose_services(compose: dict[str, Any]) -> None:
    found = services(compose)
    for name in ("migrate", "api", "worker", "worker-gpu"):
        env = found[name]["environment"]
        assert env["ADREVIEW_DATABASE_URL"] == (
            "postgresql+psycopg://adreview@postgres:5432/adreview"), name
        assert env["ADREVIEW_REDIS_URL"] == "redis://redis:6379/0", name
    gpu = found["worker-gpu"]["environment"]
    assert gpu["ADREVIEW_OCR_ENGINE"] == "hunyuan-vllm"
    assert gpu["ADREVIEW_VLLM_URL"] == "http://vllm:8000/v1"
    postgres = found["postgres"]["environment"]
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD_FILE"],
            postgres["POSTGRES_DB"]) == ("adreview", "/run/secrets/postgres_password",
                                         "adreview")
    assert "POSTGRES_PASSWORD" not in postgres


def test_redis_keeps_the_queue_across_restarts_and_never_evicts(compose: dict[str, Any]) -> None:
    redis = services(compose)["redis"]
    assert str(redis["image"]).startswith("redis:7")
    words = argv(redis["command"])
    assert words[0] == "redis-server"
    pairs = dict(zip(words[1::2], words[2::2], strict=True))
    assert pairs == {"--appendonly": "yes", "--appendfsync": "everysec",
                     "--maxmemory-policy": "noeviction"}
    assert any(str(v).endswith(":/data") for v in redis["volumes"])


def test_the_api_binds_every_interface_and_publishes_8000(compose: dict[str, Any]) -> None:
    api = services(compose)["api"]
    words = argv(api["command"])
    assert words[words.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - inside the container
    assert words[words.index("--port") + 1] == "8000"
    assert "8000:8000" in [str(p) for p in api["ports"]]
    assert "/health" in " ".join(argv(api["healthcheck"]["test"]))
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_every_long_running_service_has_a_healthcheck_or_waits_on_one(
    compose: dict[str, Any],
) -> None:
    found = services(compose)
    for name in ("redis", "postgres", "api", "vllm"):
        assert found[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert "redis-cli ping" in " ".join(argv(found["redis"]["healthcheck"]["test"]))
    assert "pg_isready" in argv(found["postgres"]["healthcheck"]["test"])
    for name in ("api", "worker", "worker-gpu"):
        depends = found[name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["postgres"]["condition"] == "service_healthy", name
    assert found["worker-gpu"]["depends_on"]["vllm"]["condition"] == "service_healthy"


def test_vllm_serves_a_pinned_hunyuanocr_revision(compose: dict[str, Any]) -> None:
    vllm = services(compose)["vllm"]
    assert str(vllm["image"]).startswith("vllm/vllm-openai")
    script = " ".join(argv(vllm.get("entrypoint") or [])) + " " + \
        " ".join(argv(vllm.get("command") or []))
    # Tencent's current serve.sh, on the weights of the pinned revision.
    assert 'serve "/models/HunyuanOCR-$$HUNYUAN_REVISION"' in script
    for flag in ("--served-model-name tencent/HunyuanOCR", "-tp 1",
                 """--limit-mm-per-prompt '{"image":4,"video":0}'""", "--trust-remote-code",
                 "--gpu-memory-utilization 0.9", "--max-model-len 131072",
                 "--max-num-batched-tokens 131072"):
        assert flag in script
    # The 1.0-era recipe is gone.
    for flag in ("--no-enable-prefix-caching", "--mm-processor-cache-gb"):
        assert flag not in script
    # Unpinned means refused, not the hub's moving root.
    assert 'test -n "$$HUNYUAN_REVISION"' in script
    assert vllm["environment"]["HUNYUAN_REVISION"].startswith("${ADREVIEW_HUNYUAN_REVISION")
    assert vllm["depends_on"]["vllm-weights"]["condition"] == "service_completed_successfully"
    assert "hunyuan-weights:/models:ro" in vllm["volumes"]


def test_the_weights_are_downloaded_at_the_pinned_revision_without_the_1_0_folder(
    compose: dict[str, Any],
) -> None:
    weights = services(compose)["vllm-weights"]
    assert weights["profiles"] == ["gpu"]
    assert weights["image"] == services(compose)["vllm"]["image"]
    script = " ".join(argv(weights["entrypoint"]))
    assert 'test -n "$$HUNYUAN_REVISION"' in script
    assert "snapshot_download('tencent/HunyuanOCR', revision=os.environ['HUNYUAN_REVISION']" \
        in script
    assert "local_dir='/models/HunyuanOCR-' + os.environ['HUNYUAN_REVISION']" in script
    assert "ignore_patterns=['v1.0/*']" in script
    assert "hunyuan-weights:/models" in weights["volumes"]


APP_SERVICES = ("api", "worker", "worker-gpu")


def test_secrets_come_from_files_and_other_settings_from_an_optional_env_file(
    compose: dict[str, Any],
) -> None:
    found = services(compose)
    declared = compose["secrets"]
    assert declared == {
        "adreview_api_keys": {"file": "./secrets/adreview_api_keys"},
        "adreview_webhook_secret": {"file": "./secrets/adreview_webhook_secret"},
        "adreview_vllm_api_key": {"file": "./secrets/adreview_vllm_api_key"},
        "postgres_password": {"file": "./secrets/postgres_password"},
        "redis_password": {"file": "./secrets/redis_password"},
    }
    # the one-shot migrate service makes sure of the declared API keys
    assert found["migrate"]["secrets"] == ["adreview_api_keys", "postgres_password"]
    assert found["postgres"]["secrets"] == ["postgres_password"]
    assert found["redis"]["secrets"] == ["redis_password"]
    assert found["migrate"]["entrypoint"][:2] == ["/bin/sh", "-c"]
    for name in APP_SERVICES:
        assert "adreview_webhook_secret" in found[name]["secrets"], name
        assert {"postgres_password", "redis_password"} <= set(found[name]["secrets"]), name
        assert found[name]["env_file"] == [{"path": "adreview.env", "required": False}], name
        assert found[name]["entrypoint"][:2] == ["/bin/sh", "-c"], name
    assert "adreview_vllm_api_key" in found["worker-gpu"]["secrets"]
    assert found["vllm"]["secrets"] == ["adreview_vllm_api_key"]
    assert "VLLM_API_KEY=\"$$(cat /run/secrets/adreview_vllm_api_key)\"" in \
        " ".join(found["vllm"]["entrypoint"])
    # No secret value in the file itself.
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert "ADREVIEW_WEBHOOK_SECRET" not in text and "ADREVIEW_VLLM_API_KEY" not in text
    assert "adreview:adreview@" not in text and "POSTGRES_PASSWORD:" not in text
    # What operators create next to the file stays out of git; the example is in it.
    ignored = subprocess.run(["git", "check-ignore", "secrets/adreview_webhook_secret",
                              "adreview.env"], cwd=REPO, capture_output=True, text=True,
                             check=False)
    assert ignored.stdout.split() == ["secrets/adreview_webhook_secret", "adreview.env"]
    example = (REPO / "adreview.env.example").read_text(encoding="utf-8")
    fields = {f"ADREVIEW_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"\bADREVIEW_[A-Z0-9_]+", example))
    assert named and named <= fields, sorted(named - fields)


def test_the_secrets_entrypoint_exports_each_secret_file_as_its_setting(
    compose: dict[str, Any], tmp_path: Path,
) -> None:
    shell, flag, script, name = services(compose)["worker"]["entrypoint"]
    # Compose turns $$ into $; the secrets folder is a temporary one here.
    script = script.replace("$$", "$").replace("/run/secrets", str(tmp_path))
    (tmp_path / "adreview_webhook_secret").write_text("s3cret value\n")
    (tmp_path / "adreview_vllm_api_key").write_text("vllm-key")
    (tmp_path / "unrelated").write_text("not exported")
    done = subprocess.run(
        [shell, flag, script, name, "python3", "-c",
         "import os, json; print(json.dumps({k: v for k, v in os.environ.items() "
         "if k.startswith(('ADREVIEW_', 'UNRELATED'))}))"],
        capture_output=True, text=True, timeout=30, check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert json.loads(done.stdout) == {"ADREVIEW_WEBHOOK_SECRET": "s3cret value",
                                       "ADREVIEW_VLLM_API_KEY": "vllm-key"}
    for setting in json.loads(done.stdout):
        assert setting.removeprefix("ADREVIEW_").lower() in Settings.model_fields


def test_the_rule_editors_folder_is_mounted_read_only_where_rules_are_loaded(
    compose: dict[str, Any],
) -> None:
    found = services(compose)
    for name in APP_SERVICES:
        assert "${RULES_FOLDER:-./rules/shipped}:/rules:ro" in found[name]["volumes"], name
        assert found[name]["environment"]["ADREVIEW_RULES_DIR"] == "/rules", name
    from rules import load_ruleset

    assert load_ruleset(REPO / "rules" / "shipped").rules  # the default folder loads


def test_the_vllm_image_is_pinned_to_a_release(compose: dict[str, Any]) -> None:
    image = str(services(compose)["vllm"]["image"])
    assert re.fullmatch(r"vllm/vllm-openai:v\d+\.\d+\.\d+", image), image


def test_the_dockerfile_installs_the_package_and_cjk_fonts() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert "fonts-noto-cjk" in text
    assert re.search(r"pip install \"?\.", text)
    for folder in ("worker", "rules", "models"):
        assert f"COPY {folder} " in text


def docker_compose_available() -> str | None:
    """Why ``docker compose`` cannot run here, or None when it can."""
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True,
                           timeout=30, check=False)
    if probe.returncode != 0:
        return f"`docker compose version` failed: {(probe.stderr or probe.stdout).strip()}"
    return None


def test_docker_compose_config_accepts_the_file() -> None:
    reason = docker_compose_available()
    if reason is not None:
        pytest.skip(reason)
    for profile in ([], ["--profile", "gpu"]):
        done = subprocess.run(
            ["docker", "compose", "-f", str(COMPOSE_FILE), *profile, "config", "-q"],
            capture_output=True, text=True, timeout=60, check=False, cwd=REPO,
        )
        assert done.returncode == 0, done.stderr


def test_the_entrypoint_puts_the_secret_passwords_into_the_database_and_redis_urls(
    compose: dict[str, Any], tmp_path: Path,
) -> None:
    shell, flag, script, name = services(compose)["worker"]["entrypoint"]
    script = script.replace("$$", "$").replace("/run/secrets", str(tmp_path))
    (tmp_path / "postgres_password").write_text("pg-Pass_word1\n")
    (tmp_path / "redis_password").write_text("rd-Pass_word2")
    env = services(compose)["worker"]["environment"]
    done = subprocess.run(
        [shell, flag, script, name, "python3", "-c",
         "import os, json; print(json.dumps({k: os.environ[k] for k in "
         "('ADREVIEW_DATABASE_URL', 'ADREVIEW_REDIS_URL')}))"],
        capture_output=True, text=True, timeout=30, check=True,
        env={"PATH": "/usr/bin:/bin", "ADREVIEW_DATABASE_URL": env["ADREVIEW_DATABASE_URL"],
             "ADREVIEW_REDIS_URL": env["ADREVIEW_REDIS_URL"]},
    )
    assert json.loads(done.stdout) == {
        "ADREVIEW_DATABASE_URL": "postgresql+psycopg://adreview:pg-Pass_word1@postgres:5432/"
                                 "adreview",
        "ADREVIEW_REDIS_URL": "redis://:rd-Pass_word2@redis:6379/0"}


def test_redis_asks_for_the_password_of_its_secret_file(compose: dict[str, Any]) -> None:
    redis = services(compose)["redis"]
    assert redis["entrypoint"][:2] == ["/bin/sh", "-c"]
    assert '--requirepass "$$(cat /run/secrets/redis_password)"' in redis["entrypoint"][2]
    assert "REDISCLI_AUTH" in " ".join(redis["healthcheck"]["test"])

