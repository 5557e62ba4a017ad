"""The real catalogue loads and cross-checks; bad rows and bad policy files are refused."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest

from fabriek.federation.catalogue import (
    COLUMNS,
    CatalogueError,
    SectorIndex,
    derive_id,
    gpu_spec,
    load_catalogue,
    parse_catalogue,
    peak_bf16_flops,
)
from fabriek.federation.domain import CapacityBasis, ExecutorKind, SiteKind
from fabriek.kit.policydata import PolicyFileError

pytestmark = pytest.mark.unit

PACKAGED_CSV = resources.files("fabriek.federation").joinpath("data", "ai-factories.csv")
# ../shared beside the repository (or beside the worktrees' folder).
SHARED_CSV = next((p / "shared" / "data" / "ai-factories.csv"
                   for p in Path(__file__).resolve().parents[2:5]
                   if (p / "shared" / "data" / "ai-factories.csv").is_file()),
                  Path("/nonexistent"))
GOOD_ROW = ("ai_factory,1,2024-12-10,Test AI Factory,Netherlands,Delft,TU Delft,,new system,"
            "new,not disclosed,no,health; energy,,,https://example.org/a; https://example.org/b,")


@pytest.fixture(scope="module")
def catalogue():  # type: ignore[no-untyped-def]
    return load_catalogue()


@pytest.fixture(scope="module")
def sectors(catalogue) -> SectorIndex:  # type: ignore[no-untyped-def]
    return SectorIndex(catalogue.sectors)


def test_real_catalogue_has_19_factories_and_13_antennas(catalogue):  # type: ignore[no-untyped-def]
    kinds = [r.kind for r in catalogue.rows]
    assert (kinds.count(SiteKind.factory), kinds.count(SiteKind.antenna)) == (19, 13)
    assert len({r.id for r in catalogue.rows}) == 32
    assert [r.line for r in catalogue.rows] == list(range(2, 34))


def test_real_catalogue_antenna_links_resolve(catalogue):  # type: ignore[no-untyped-def]
    links = {r.id: r.linked_factory for r in catalogue.rows if r.linked_factory}
    assert links == {"antenna-be": "lumi", "antenna-is": "lumi", "antenna-lv": "lumi",
                     "antenna-ch": "lumi", "antenna-cy": "pharos"}
    factories = {f.id for f in catalogue.federation.factories if f.kind is SiteKind.factory}
    assert set(links.values()) <= factories


def test_real_catalogue_every_gpu_model_is_known(catalogue):  # type: ignore[no-untyped-def]
    fed = catalogue.federation
    models = {s.model for s in fed.gpu_specs}
    parts = fed.partitions()
    assert parts and all(p.gpu_model in models for p in parts)
    assert {s.family for s in fed.gpu_specs} >= {"A100", "H100", "H200", "GH200", "B200",
                                                  "GB200", "MI250X", "MI300A"}
    # Every catalogue factory has a partition; antennas have none.
    for f in fed.factories:
        assert bool(f.partitions) == (f.kind is not SiteKind.antenna), f.id


def test_real_catalogue_capacity_bases_and_executors(catalogue):  # type: ignore[no-untyped-def]
    fed = catalogue.federation
    published = {p.factory_id for p in fed.partitions()
                 if p.capacity_basis is CapacityBasis.published}
    assert published == {"luxembourg", "local"}  # only MeluXina-AI states a count
    assert fed.partition("luxembourg", "ai").gpus == 2100
    connected = [p.key for p in fed.partitions() if p.executor is not ExecutorKind.none]
    assert connected == [("local", "gpu")]
    local = fed.by_id["local"]
    assert (local.kind, local.country, local.partitions[0].gpus,
            local.partitions[0].gpu_model) == (SiteKind.local, "NL", 4, "H100-SXM5-80GB")
    assert all(catalogue.capacity_notes[p.key] for p in fed.partitions())


def test_real_catalogue_countries_and_languages(catalogue):  # type: ignore[no-untyped-def]
    by_id = catalogue.federation.by_id
    assert by_id["antenna-gb"].country == "GB" and by_id["antenna-mk"].country == "MK"
    assert by_id["bsc"].languages == frozenset({"es", "ca", "en"})
    assert all("en" in f.languages for f in catalogue.federation.factories)


def test_sector_focus_maps_to_sector_ids(catalogue, sectors):  # type: ignore[no-untyped-def]
    assert catalogue.row("hammerhai").sectors == ("mobility", "manufacturing", "science",
                                                  "general")
    assert sectors.sectors_in("IT & cybersecurity (incl. quantum)") == ("cybersecurity",)
    assert "security" not in sectors.sectors_in("cybersecurity")
    assert sectors.sectors_in("One Health: climate-health; agri-food") == (
        "health", "agrifood", "climate")


@pytest.mark.parametrize(("slug", "expected"), [
    ("healthcare", "health"), ("Health", "health"), ("public-sector", "public-sector"),
    ("Public administration", "public-sector"), ("LLM", "language"), ("agri-food", "agrifood"),
    ("underwater basket weaving", None), ("", None)])
def test_sector_id_maps_proposal_slugs(sectors, slug, expected):  # type: ignore[no-untyped-def]
    assert sectors.sector_id(slug) == expected


@pytest.mark.parametrize(("kind", "name", "country", "expected"), [
    (SiteKind.factory, "LUMI AI Factory (LUMI AIF)", "FI", "lumi"),
    (SiteKind.factory, "Luxembourg AI Factory (L-AIF) / MeluXina-AI", "LU", "luxembourg"),
    (SiteKind.factory, "JAIF – JUPITER AI Factory", "DE", "jaif"),
    (SiteKind.factory, "AI Factory Austria (AI:AT)", "AT", "austria"),
    (SiteKind.factory, "BRAIN++ (Bulgarian Robotics & AI Nexus)", "BG", "brain"),
    (SiteKind.factory, "1HealthAI Factory", "ES", "1healthai"),
    (SiteKind.factory, "Pharos (Greece)", "", "pharos"),
    (SiteKind.antenna, "Pharos-CY", "CY", "antenna-cy"),
])
def test_derive_id(kind, name, country, expected):  # type: ignore[no-untyped-def]
    assert derive_id(kind, name, country) == expected


def _csv(*rows: str) -> str:
    return ",".join(COLUMNS) + "\n" + "\n".join(rows) + "\n"


def test_bad_rows_are_all_named_with_their_lines(sectors):  # type: ignore[no-untyped-def]
    text = _csv(
        GOOD_ROW,                                                            # line 2: fine
        GOOD_ROW.replace("2024-12-10", "2024-13-40"),                        # 3: bad date
        GOOD_ROW.replace("Netherlands", "Atlantis"),                         # 4: bad country
        GOOD_ROW.replace("https://example.org/a", "ftp//nowhere"),           # 5: bad source
        GOOD_ROW.replace("Test AI Factory", "Other AI Factory")
        .replace("ai_factory,", "factory,", 1),                              # 6: bad type
        GOOD_ROW,                                                            # 7: duplicate id
        ("ai_factory_antenna,antenna-1,2025-10-13,AI Factory Antenna Malta,Malta,,,,remote,"
         "antenna,,no,,Nowhere AI Factory,,https://example.org/m,"),         # 8: bad link
        GOOD_ROW.replace("Test AI Factory", ""),                             # 9: empty name
    )
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text, sectors, origin="bad.csv")
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == [
        "line 3", "line 4", "line 5", "line 6", "line 7", "line 8", "line 9"]
    assert "2024-13-40" in problems[0] and "Atlantis" in problems[1]
    assert "ftp//nowhere" in problems[2] and "'factory'" in problems[3]
    assert "already used by line 2" in problems[4] and "Nowhere AI Factory" in problems[5]
    assert "name is empty" in problems[6]
    assert str(caught.value).startswith("bad.csv: 7 problem(s)")


def test_bad_header_and_short_rows_are_refused(sectors):  # type: ignore[no-untyped-def]
    with pytest.raises(CatalogueError, match="line 1: the header"):
        parse_catalogue("type,name\nai_factory,X\n", sectors)
    with pytest.raises(CatalogueError, match="line 3: 17 columns expected"):
        parse_catalogue(_csv(GOOD_ROW, "ai_factory,1,2024-12-10"), sectors)


def test_turkiye_resolves(sectors):  # type: ignore[no-untyped-def]
    [row] = parse_catalogue(_csv(GOOD_ROW.replace("Netherlands", "Türkiye")), sectors)
    assert (row.country, row.sectors) == ("TR", ("health", "energy"))


def _override(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def _policy(name: str) -> str:
    return resources.files("fabriek.policy").joinpath(name).read_text(encoding="utf-8")


@pytest.mark.parametrize(("old", "new", "message"), [
    ("gpu_model: GB200\n", "gpu_model: X900\n",
     "factory 'lumi' partition 'ai': unknown gpu model 'X900'"),
    ("  - id: hammerhai\n", "  - id: hammerhai-typo\n",
     "entry 'hammerhai-typo': no catalogue row has this id"),
    ("  - {id: antenna-be, languages: [nl, fr, de, en], datasets: [], operational: true}",
     "  - {id: antenna-be, operational: true, partitions: [{id: x, gpu_model: B200, "
     "gpus_per_node: 4, nodes: 1, capacity_basis: estimate, capacity_note: n}]}",
     "entry 'antenna-be': antennas have no partitions"),
])
def test_bad_federation_yaml_names_the_file_and_entry(tmp_path, old, new, message):  # type: ignore[no-untyped-def]
    text = _policy("federation.yaml")
    assert old in text
    policy_dir = _override(tmp_path, "federation.yaml", text.replace(old, new, 1))
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(policy_dir)
    assert str(policy_dir / "federation.yaml") in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("      - id: booster\n", "      - id: booster\n        gpu_model: GH200-96GB\n"
     "        gpus_per_node: 4\n        nodes: 1\n        capacity_basis: estimate\n"
     "        capacity_note: twice\n      - id: booster\n", "duplicate partition id 'booster'"),
    ("languages: [it, en]", "languages: [italian, en]", "'italian' is not an ISO 639-1"),
    ("  - id: mimer\n", "  - id: MIMER\n", "id"),
    ("        capacity_basis: published\n        capacity_note: \">2,100",
     "        capacity_basis: operator\n        capacity_note: \">2,100", "capacity_basis"),
])
def test_bad_federation_yaml_schema_is_refused(tmp_path, old, new, message):  # type: ignore[no-untyped-def]
    text = _policy("federation.yaml")
    assert old in text
    policy_dir = _override(tmp_path, "federation.yaml", text.replace(old, new, 1))
    with pytest.raises(PolicyFileError) as caught:
        load_catalogue(policy_dir)
    assert str(policy_dir / "federation.yaml") in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("  - model: A100-SXM4-80GB\n", "  - model: a100-sxm4-40gb\n", "duplicate gpu model"),
    ("bf16_dense_tflops: 383", "bf16_dense_tflops: -383", "bf16_dense_tflops"),
    ("      url: https://spheron.network/blog/nvidia-gh200-guide",
     "      url: not a url", "url"),
])
def test_bad_gpu_specs_yaml_is_refused(tmp_path, old, new, message):  # type: ignore[no-untyped-def]
    text = _policy("gpu-specs.yaml")
    assert old in text
    policy_dir = _override(tmp_path, "gpu-specs.yaml", text.replace(old, new, 1))
    with pytest.raises(PolicyFileError) as caught:
        load_catalogue(policy_dir)
    assert str(policy_dir / "gpu-specs.yaml") in str(caught.value)
    assert message in str(caught.value)


def test_gpu_spec_removed_from_specs_is_an_unknown_model(tmp_path):  # type: ignore[no-untyped-def]
    text = _policy("gpu-specs.yaml")
    start = text.index("  - model: GB200\n")
    end = text.index("  - model: MI250X\n")
    policy_dir = _override(tmp_path, "gpu-specs.yaml", text[:start] + text[end:])
    with pytest.raises(CatalogueError, match="partition 'ai': unknown gpu model 'GB200'"):
        load_catalogue(policy_dir)


def test_csv_override_in_policy_dir_is_used_and_checked(tmp_path):  # type: ignore[no-untyped-def]
    text = PACKAGED_CSV.read_text(encoding="utf-8").replace(",Finland,", ",Finlandia,", 1)
    policy_dir = _override(tmp_path, "ai-factories.csv", text)
    with pytest.raises(CatalogueError, match=r"line 2: country 'Finlandia'"):
        load_catalogue(policy_dir)


def test_gpu_spec_lookup_and_peak_flops(catalogue):  # type: ignore[no-untyped-def]
    fed = catalogue.federation
    assert gpu_spec(fed, "h100").model == "H100-SXM5-80GB"  # family → first model listed
    assert gpu_spec(fed, "H100-PCIe-80GB").bf16_dense_tflops == 756
    assert gpu_spec(fed.gpu_specs, "nonsense") is None
    assert peak_bf16_flops("A100-SXM4-80GB") == 312e12
    assert peak_bf16_flops("MI300A") == pytest.approx(980.6e12)
    assert peak_bf16_flops("GB200", fed) == 2500e12
    assert peak_bf16_flops("TPU-v5") is None


def test_catalogue_version_tracks_policy_and_csv(tmp_path, catalogue):  # type: ignore[no-untyped-def]
    assert catalogue.version.startswith(catalogue.versions["federation"] + "+")
    shutil.copy(str(PACKAGED_CSV), tmp_path / "ai-factories.csv")
    assert load_catalogue(tmp_path).version == catalogue.version  # same bytes, same version
    (tmp_path / "ai-factories.csv").write_text(
        PACKAGED_CSV.read_text(encoding="utf-8").replace("Kajaani", "Kajaani (Renforsin Ranta)"),
        encoding="utf-8")
    changed = load_catalogue(tmp_path)
    assert changed.version != catalogue.version and changed.row("lumi").site.endswith("Ranta)")
    # An edit of a policy file that forgets to bump its version still gives a new version.
    edited = _policy("federation.yaml").replace("nodes: 2224", "nodes: 2000")
    only_policy = tmp_path / "only-policy"
    only_policy.mkdir()
    reloaded = load_catalogue(_override(only_policy, "federation.yaml", edited))
    assert reloaded.versions["federation"] == catalogue.versions["federation"]
    assert reloaded.version != catalogue.version
    assert reloaded.federation.partition("it4lia", "ai").nodes == 2000


@pytest.mark.skipif(not SHARED_CSV.is_file(), reason="shared/data is not beside the repository")
def test_packaged_csv_is_a_byte_exact_copy_of_the_shared_one() -> None:
    assert PACKAGED_CSV.read_bytes() == SHARED_CSV.read_bytes()
