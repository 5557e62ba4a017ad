"""The batch script: hostile user text arrives as data, byte for byte, and never runs as code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fabriek.compute.script import USER_SCRIPT_NAME, build_script
from fabriek.compute.spec import JobSpec

pytestmark = pytest.mark.unit

MARKER = "pwned"  # what an injection would create in the job directory
HOSTILE = [
    "'", '"', "'\"'", "\\", "\\'", "$", "$(touch pwned)", "`touch pwned`", "; touch pwned",
    "&& touch pwned", "|| touch pwned", "| tee pwned", "> pwned", "\ntouch pwned\n", "\r",
    "\r\ntouch pwned", "#SBATCH --gres=gpu:64", "\n#SBATCH --gres=gpu:64\n", "${HOME}", "$HOME",
    "$'\\n'", "$((1+1))", "!!", "*", "?", "~", "-", "--", "-e", "%s%n", "{a,b}", "a=b", "\t",
    " ", "", "EOF", "'; touch pwned; '", "\"; touch pwned; \"", "é中文🚀", "\u2028", "\u2029",
    "\x85", "\x1b[31m", "\x7f", "\x0b\x0c", "\\x0a", "\\u2028",
]
_chars = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
hostile = st.one_of(
    st.sampled_from(HOSTILE),
    st.lists(st.sampled_from(HOSTILE), max_size=6).map("".join),
    st.text(_chars, max_size=40),
    st.builds(lambda s, n: (s * n)[:4000], st.sampled_from(HOSTILE[:20]).filter(bool),
              st.integers(100, 4000)),
)
env_names = st.from_regex(r"U_[A-Z0-9_]{0,8}", fullmatch=True)
locales = st.sampled_from(["C", "C.UTF-8"])

DUMP = (
    "import json, os, sys\n"
    "json.dump({'argv': [os.fsencode(a).hex() for a in sys.argv[1:]],\n"
    "           'env': {k.decode(): v.hex() for k, v in os.environb.items()\n"
    "                   if k.startswith(b'U_') or k == b'FABRIEK_JOB_ID'}},\n"
    "          open(os.environ['OUT'], 'w'))\n"
)


def _run(script: str, root: Path, *, locale: str = "C.UTF-8",
         extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the generated script as an executor would: bash script.sh, FABRIEK_JOB_DIR set."""
    (root / "script.sh").write_text(script, encoding="utf-8")
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "LC_ALL": locale,
           "FABRIEK_JOB_DIR": str(root / "job"), "OUT": str(root / "out.json"),
           **(extra_env or {})}
    return subprocess.run(["bash", str(root / "script.sh")], cwd=root, env=env,
                          capture_output=True, timeout=30, check=False)


def _spec(**fields: object) -> JobSpec:
    return JobSpec.model_validate({"name": "t", "allocation_id": 1, "time_limit_minutes": 5,
                                   **fields})


def _has_directive(script: str) -> bool:
    return any(line.lstrip().startswith("#SBATCH") for line in script.splitlines())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(args=st.lists(hostile, max_size=8),
       env=st.dictionaries(env_names, hostile, max_size=5),
       locale=locales)
def test_build_script_command_args_and_env_arrive_byte_for_byte(
        args: list[str], env: dict[str, str], locale: str) -> None:
    spec = _spec(command=[sys.executable, "-c", DUMP, *args], env=env)
    script = build_script(spec, job_id=42)
    assert not _has_directive(script)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        done = _run(script, root, locale=locale)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        out = json.loads((root / "out.json").read_text())
        assert out["argv"] == [a.encode().hex() for a in args]
        assert out["env"] == {"FABRIEK_JOB_ID": b"42".hex(),
                              **{k: v.encode().hex() for k, v in env.items()}}
        assert sorted(os.listdir(root / "job")) == []  # no side effect, no marker
        assert sorted(os.listdir(root)) == ["job", "out.json", "script.sh"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(literal=hostile, env_value=hostile, locale=locales)
def test_build_script_user_script_runs_as_written(
        literal: str, env_value: str, locale: str) -> None:
    assume("FABRIEK_EOF" not in literal)
    body = (
        "cat > heredoc.txt <<'FABRIEK_EOF'\n"
        f"{literal}\n"
        "FABRIEK_EOF\n"
        'printf %s "$U_VALUE" > env.txt\n'
        "false\n"  # the user's script is not under the wrapper's `set -e`
        "echo after > after.txt\n"
    )
    script = build_script(_spec(script=body, env={"U_VALUE": env_value}), job_id=7)
    assert not _has_directive(script)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        done = _run(script, root, locale=locale)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        job = root / "job"
        assert (job / USER_SCRIPT_NAME).read_bytes() == body.encode()
        assert (job / "heredoc.txt").read_bytes() == (literal + "\n").encode()
        assert (job / "env.txt").read_bytes() == env_value.encode()
        assert (job / "after.txt").read_text() == "after\n"
        assert sorted(os.listdir(job)) == sorted(
            [USER_SCRIPT_NAME, "heredoc.txt", "env.txt", "after.txt"])


def test_build_script_opens_with_shebang_and_a_command_before_user_data() -> None:
    spec = _spec(command=["#SBATCH --gres=gpu:64"], env={"U_X": "\n#SBATCH --nodes=16"},
                 script=None)
    lines = build_script(spec, job_id=1).split("\n")
    assert lines[:2] == ["#!/bin/bash", "set -euo pipefail"]
    # sbatch reads directives only up to the first command: none are before it.
    assert [line for line in lines[1:] if line.startswith("#SBATCH")] == []


@pytest.mark.parametrize("field", ["command", "script", "env"])
@pytest.mark.parametrize(("bad", "message"), [("\x00", "NUL"), ("\ud800", "unicode string")])
def test_job_spec_nul_or_lone_surrogate_in_user_text_is_refused(
        field: str, bad: str, message: str) -> None:
    value: object = {"command": ["echo", f"a{bad}b"], "script": f"echo a{bad}b",
                     "env": {"U_X": f"a{bad}b"}}[field]
    extra = {"script": "true"} if field == "env" else {}
    with pytest.raises(ValidationError, match=message):
        _spec(**{field: value, **extra})


def test_build_script_image_without_runtime_runs_directly(tmp_path: Path) -> None:
    program = "import os; open(os.environ['OUT'], 'w').write(os.environ['FABRIEK_IMAGE'])"
    spec = _spec(command=[sys.executable, "-c", program], image="nvcr.io/nvidia/pytorch:24.01-py3")
    done = _run(build_script(spec, job_id=3), tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.json").read_text() == "nvcr.io/nvidia/pytorch:24.01-py3"


def test_build_script_image_with_runtime_passes_argv_as_data(tmp_path: Path) -> None:
    bin_dir, user_bin = tmp_path / "bin", tmp_path / "user-bin"
    for folder, name in ((bin_dir, "OUT"), (user_bin, "U_A")):
        folder.mkdir()
        fake = folder / "docker"
        fake.write_text(f"#!{sys.executable}\n"
                        "import json, os, sys\n"
                        f"json.dump(sys.argv[1:], open(os.environ[{name!r}], 'w'))\n")
        fake.chmod(0o755)
    args = ["$(touch pwned)", "a b", "\n#SBATCH --gres=gpu:64"]
    # The user's PATH points at a runtime of their own; the host's runtime must still run.
    spec = _spec(command=["python", *args], image="ghcr.io/org/img:1",
                 env={"U_A": str(tmp_path / "wrong.json"), "PATH": str(user_bin)})
    done = _run(build_script(spec, job_id=3), tmp_path, extra_env={
        "FABRIEK_CONTAINER_RUNTIME": "docker", "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    job = str(tmp_path / "job")
    assert json.loads((tmp_path / "out.json").read_text()) == [
        "run", "--rm", "--volume", f"{job}:{job}", "--workdir", job,
        "--env", "FABRIEK_JOB_ID", "--env", "FABRIEK_JOB_DIR", "--env", "FABRIEK_IMAGE",
        "--env", "CUDA_VISIBLE_DEVICES", "--env", "U_A", "--env", "PATH", "ghcr.io/org/img:1",
        "python", *args]
    assert os.listdir(tmp_path / "job") == []
    assert not (tmp_path / "wrong.json").exists()
