"""The batch script an executor runs for a job, built from quoted parts.

Every piece of user text (command arguments, the script body, environment values) enters the
script as a single-quoted bash word, never as code: DESIGN §2.3, "nothing a user writes reaches a
shell unquoted". A user script is written to a file of its own and run with bash, never inlined.

The script opens with `#!/bin/bash` and `set -euo pipefail` before any line that holds user data:
sbatch stops reading `#SBATCH` directives at the first command, so nothing a user writes can ever
be read as one. Control characters and line breaks inside user data are written as `$'\\xNN'`
escapes as well, so each statement is one physical line and no line of the script can start with
`#SBATCH` at all. There are no `#SBATCH` lines: resources travel as executor fields.
"""

from __future__ import annotations

import re
import shlex

from fabriek.compute.spec import JobSpec

# Characters that break a line for some reader (bash, sbatch, Python's splitlines) or that a
# terminal interprets: ASCII and C1 controls, U+2028/U+2029.
_UNSAFE = re.compile("([\x00-\x1f\x7f-\x9f\u2028\u2029])")
USER_SCRIPT_NAME = "user-script.sh"


def quote(value: str) -> str:
    """One bash word that expands to exactly `value`, written on a single line.

    Plain runs go through shlex.quote; each control character becomes `$'\\xNN'` (bytes of its
    UTF-8 encoding), which bash decodes the same way in every locale.
    """
    if not value:
        return "''"
    parts: list[str] = []
    for index, piece in enumerate(_UNSAFE.split(value)):
        if not piece:
            continue
        if index % 2:  # a captured control character
            parts.append("$'" + "".join(f"\\x{byte:02x}" for byte in piece.encode()) + "'")
        else:
            parts.append(shlex.quote(piece))
    return "".join(parts)


def build_script(spec: JobSpec, *, job_id: int) -> str:
    """The complete bash batch script for `spec`; pure, no I/O."""
    lines = [
        "#!/bin/bash",
        # First command: no #SBATCH directive is read after this line.
        "set -euo pipefail",
        f"# fabriek job {int(job_id)}: user text below is quoted data, never code.",
        f"export FABRIEK_JOB_ID={int(job_id)}",
        ': "${FABRIEK_JOB_DIR:=$PWD}"',
        "export FABRIEK_JOB_DIR",
        'mkdir -p -- "$FABRIEK_JOB_DIR"',
        'cd -- "$FABRIEK_JOB_DIR"',
    ]
    # Platform steps take what they need before the user's environment is exported, so a user
    # PATH or BASH cannot redirect them.
    if spec.script is not None:
        lines += ["FABRIEK_BASH=$BASH",
                  f"printf '%s' {quote(spec.script)} > "
                  f'"$FABRIEK_JOB_DIR/{USER_SCRIPT_NAME}"']
    if spec.image is not None:
        lines += ['FABRIEK_RUNTIME="${FABRIEK_CONTAINER_RUNTIME:-}"',
                  # Resolved now, with the host's PATH: a user PATH must not pick the runtime.
                  'if [ -n "$FABRIEK_RUNTIME" ]; then '
                  'FABRIEK_RUNTIME="$(command -v -- "$FABRIEK_RUNTIME")"; fi',
                  f"export FABRIEK_IMAGE={quote(spec.image)}"]
    lines += [f"export {name}={quote(value)}" for name, value in spec.env.items()]

    if spec.script is not None:
        host_argv = ['"$FABRIEK_BASH"', f'"$FABRIEK_JOB_DIR/{USER_SCRIPT_NAME}"']
        container_argv = ["bash", f'"$FABRIEK_JOB_DIR/{USER_SCRIPT_NAME}"']
    else:
        assert spec.command is not None  # JobSpec guarantees exactly one of the two
        host_argv = container_argv = [quote(arg) for arg in spec.command]

    if spec.image is not None:
        lines += _container_lines(spec, container_argv)
    # `--` so a program name starting with '-' is not read as an option of exec.
    lines.append("exec -- " + " ".join(host_argv))
    return "\n".join(lines) + "\n"


def _container_lines(spec: JobSpec, argv: list[str]) -> list[str]:
    """Run in the image with the runtime the executor's host names in FABRIEK_CONTAINER_RUNTIME.

    The dev machines have no container runtime: there the variable is unset, the image is only
    recorded in FABRIEK_IMAGE and the program runs directly (the lines after this block).
    Apptainer passes the host environment through by default; docker/podman get each name with
    --env. GPU pass-through is the runtime's own configuration; CUDA_VISIBLE_DEVICES keeps the
    job on its slots.
    """
    passed = ["FABRIEK_JOB_ID", "FABRIEK_JOB_DIR", "FABRIEK_IMAGE", "CUDA_VISIBLE_DEVICES",
              *spec.env]
    env_flags = " ".join(f"--env {name}" for name in passed)
    program = " ".join(argv)
    return [
        'if [ -n "$FABRIEK_RUNTIME" ]; then',
        '  case "${FABRIEK_RUNTIME##*/}" in',
        '    apptainer|singularity) exec "$FABRIEK_RUNTIME" exec'
        ' --bind "$FABRIEK_JOB_DIR" --pwd "$FABRIEK_JOB_DIR"'
        f' "docker://$FABRIEK_IMAGE" {program} ;;',
        '    *) exec "$FABRIEK_RUNTIME" run --rm'
        ' --volume "$FABRIEK_JOB_DIR:$FABRIEK_JOB_DIR" --workdir "$FABRIEK_JOB_DIR"'
        f' {env_flags} "$FABRIEK_IMAGE" {program} ;;',
        "  esac",
        "fi",
    ]
