"""Policy files are validated at load: a bad edit fails with the file and the field named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fabriek.access.policy_files import AccessPolicy
from fabriek.kit.policydata import PolicyFileError

pytestmark = pytest.mark.unit
PACKAGED = Path(__file__).resolve().parents[2] / "src" / "fabriek" / "policy"


def _override(tmp_path: Path, name: str, edit) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((PACKAGED / f"{name}.yaml").read_text())
    edit(data)
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_packaged_policy_loads_with_versions():
    policy = AccessPolicy.load()
    assert set(policy.versions()) == {"eligibility", "classification", "access-modes"}
    assert [m.id for m in policy.modes.modes] == [
        "playground", "fast-lane", "large-scale", "ai-for-science", "strategic", "emergency"]


def test_default_modes_model_todays_calls():
    modes = AccessPolicy.load().modes
    assert modes.mode("fast-lane").gpu_hours_max == 50_000
    assert modes.mode("large-scale").gpu_hours_min == 50_001
    assert modes.mode("large-scale").durations_months == [3, 6, 12]
    assert modes.mode("ai-for-science").inference_share_max == 0.10
    assert modes.mode("playground").procedure.kind == "automatic"
    ranks = {p.id: p.rank for p in modes.priority_classes}
    assert max(ranks, key=ranks.get) == modes.mode("emergency").priority_class
    assert modes.priority("emergency").preempts_lower


@pytest.mark.parametrize(("name", "edit", "message"), [
    ("access-modes", lambda d: d["modes"][0].update(priority_class="vip"), "unknown priority"),
    ("access-modes", lambda d: d["modes"][1].update(gpu_hours_max=0), "gpu_hours_max"),
    ("access-modes", lambda d: d["modes"][0].update(surprise=1), "surprise"),
    ("access-modes", lambda d: d["modes"][2]["cutoffs"].update(timezone="Mars/Olympus"),
     "time zone"),
    ("access-modes", lambda d: d["modes"][1]["procedure"].update(reviews=[]), "review"),
    ("eligibility", lambda d: d["groups"][0]["countries"].append({"code": "EL", "name": "x"}),
     "ISO 3166"),
    ("eligibility", lambda d: d["groups"][0]["countries"].append(
        dict(d["groups"][0]["countries"][0])), "listed twice"),
    ("classification", lambda d: d["micro"].update(staff_below=500), "ceilings"),
])
def test_policy_file_with_bad_edit_fails_at_load(tmp_path, name, edit, message):
    directory = _override(tmp_path, name, edit)
    with pytest.raises(PolicyFileError) as err:
        AccessPolicy.load(directory)
    assert f"{name}.yaml" in str(err.value)
    assert message in str(err.value)


def test_policy_file_not_yaml_fails_at_load(tmp_path):
    (tmp_path / "access-modes.yaml").write_text("modes: [unclosed")
    with pytest.raises(PolicyFileError, match="not valid YAML"):
        AccessPolicy.load(tmp_path)
