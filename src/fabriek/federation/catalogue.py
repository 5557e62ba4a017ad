"""The catalogue of AI Factories and Antennas: the real CSV, validated, merged with policy data.

Pure loading, no database: the CSV (federation/data/ai-factories.csv, provenance in the README
beside it) gives each factory's descriptive facts; federation.yaml adds partitions, languages,
datasets and status; gpu-specs.yaml gives GPU memory and peak dense BF16; sectors.yaml maps the
free-text sector focus to sector ids. The result is a `domain.Federation` the pure capacity,
referral and placement functions read, and typed rows for the database seed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import pycountry

from fabriek.federation.domain import (
    CapacityBasis,
    ExecutorKind,
    FactoryProfile,
    Federation,
    GpuSpec,
    PartitionProfile,
    SiteKind,
)
from fabriek.federation.policy_files import (
    FederationPolicy,
    GpuSpecsPolicy,
    PartitionEntry,
    SectorsPolicy,
)
from fabriek.kit.policydata import PolicyFileError, read_policy

CSV_NAME = "ai-factories.csv"
COLUMNS = ("type", "selection_wave", "selection_date", "name", "country", "site",
           "hosting_entity", "consortium_partners", "supercomputer", "system_status",
           "accelerators", "experimental_platform", "sector_focus", "linked_ai_factory",
           "investment", "sources", "notes")
ROW_KINDS = {"ai_factory": SiteKind.factory, "ai_factory_antenna": SiteKind.antenna}
# Names pycountry does not resolve by itself; none today, kept for the next wave's spellings.
COUNTRY_ALIASES: dict[str, str] = {"Turkey": "TR", "Kosovo": "XK"}


class CatalogueError(PolicyFileError):
    """The catalogue or its policy files are inconsistent; lists every problem found."""

    def __init__(self, origin: str, problems: Sequence[str]) -> None:
        self.origin = origin
        self.problems = list(problems)
        super().__init__(f"{origin}: {len(self.problems)} problem(s):\n  "
                         + "\n  ".join(self.problems))


@dataclass(frozen=True)
class CatalogueRow:
    """One validated CSV row; `line` is where it starts in the file (the header is line 1)."""

    line: int
    id: str
    kind: SiteKind
    selection_wave: str
    selection_on: date
    name: str
    country: str  # ISO 3166-1 alpha-2
    country_name: str
    site: str
    hosting_entity: str
    consortium_partners: str
    supercomputer: str
    system_status: str
    accelerators: str
    experimental_platform: bool
    sector_focus: str
    sectors: tuple[str, ...]
    linked_factory: str | None
    investment: str
    sources: tuple[str, ...]
    notes: str


@dataclass(frozen=True)
class Catalogue:
    rows: tuple[CatalogueRow, ...]
    federation: Federation
    versions: dict[str, str]
    sectors: SectorsPolicy
    gpu_specs: GpuSpecsPolicy
    capacity_notes: dict[tuple[str, str], str]  # (factory, partition) -> how it was estimated

    @property
    def version(self) -> str:
        """What the factories table records: federation.yaml's version + a digest of the CSV
        and the policy files."""
        return self.versions["catalogue"]

    def row(self, factory_id: str) -> CatalogueRow | None:
        return next((r for r in self.rows if r.id == factory_id), None)


# --- ids and sectors ---------------------------------------------------------------------------


def _ascii_words(text: str) -> str:
    """Lower-case ASCII with every run of other characters as one space."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", folded.lower()).split())


def derive_id(kind: SiteKind, name: str, country: str) -> str:
    """The stable slug of a catalogue row (rule in federation/data/README.md)."""
    if kind is SiteKind.antenna:
        return f"antenna-{country.lower()}"
    short = re.split(r" / | – | - ", name, maxsplit=1)[0]
    short = re.sub(r"\([^)]*\)", " ", short)
    short = re.sub(r"\bAI Factory\b|\bFactory\b", " ", short)
    return _ascii_words(short).replace(" ", "-")


def factory_id_for_name(name: str) -> str:
    """The id a factory's name resolves to (antennas name their linked factory this way)."""
    return derive_id(SiteKind.factory, name, "")


class SectorIndex:
    """Maps free text to sector ids by whole-word keyword matches (sectors.yaml)."""

    def __init__(self, policy: SectorsPolicy) -> None:
        self.ids = frozenset(s.id for s in policy.sectors)
        self._keywords: list[tuple[str, str]] = []
        for sector in policy.sectors:
            for phrase in (sector.id, sector.label, *sector.keywords):
                words = _ascii_words(phrase)
                if words:
                    self._keywords.append((f" {words} ", sector.id))

    def sectors_in(self, text: str) -> tuple[str, ...]:
        """Every sector a free-text focus mentions, in vocabulary order, each once."""
        padded = f" {_ascii_words(text)} "
        found = {sector for phrase, sector in self._keywords if phrase in padded}
        return tuple(s for s in dict.fromkeys(sid for _, sid in self._keywords) if s in found)

    def sector_id(self, value: str) -> str | None:
        """A proposal's sector slug → a sector id ("healthcare" → "health"), or None."""
        padded = f" {_ascii_words(value)} "
        return next((sid for phrase, sid in self._keywords if phrase == padded), None)


# --- the CSV -----------------------------------------------------------------------------------


def country_code(name: str) -> str | None:
    if name in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[name]
    try:
        return pycountry.countries.lookup(name).alpha_2
    except LookupError:
        return None


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


def _row(line: int, raw: dict[str, str], sectors: SectorIndex
         ) -> tuple[CatalogueRow | None, list[str], str | None]:
    """One row, or its problems; the third value is its linked factory's name (antennas)."""
    problems: list[str] = []
    value = {k: (v or "").strip() for k, v in raw.items()}
    kind = ROW_KINDS.get(value["type"])
    if kind is None:
        problems.append(f"type {value['type']!r} is not one of {', '.join(ROW_KINDS)}")
    try:
        selected = date.fromisoformat(value["selection_date"])
    except ValueError:
        problems.append(f"selection_date {value['selection_date']!r} is not a YYYY-MM-DD date")
        selected = None
    if not value["selection_wave"]:
        problems.append("selection_wave is empty")
    name = value["name"]
    if not name:
        problems.append("name is empty")
    code = country_code(value["country"]) if value["country"] else None
    if code is None:
        problems.append(f"country {value['country']!r} is not a country name ISO 3166 knows")
    sources = tuple(s.strip() for s in value["sources"].split(";") if s.strip())
    if not sources:
        problems.append("sources is empty: every row needs the pages it was built from")
    problems += [f"source {s!r} is not an http(s) URL" for s in sources if not _is_url(s)]
    if value["experimental_platform"] not in ("yes", "no"):
        problems.append(f"experimental_platform {value['experimental_platform']!r} is not "
                        "yes or no")
    linked = value["linked_ai_factory"] or None
    if linked and kind is SiteKind.factory:
        problems.append("linked_ai_factory is for antennas only")
    if problems or kind is None or selected is None or code is None:
        return None, problems, None
    row = CatalogueRow(
        line=line, id=derive_id(kind, name, code), kind=kind,
        selection_wave=value["selection_wave"], selection_on=selected, name=name, country=code,
        country_name=value["country"], site=value["site"],
        hosting_entity=value["hosting_entity"],
        consortium_partners=value["consortium_partners"],
        supercomputer=value["supercomputer"], system_status=value["system_status"],
        accelerators=value["accelerators"],
        experimental_platform=value["experimental_platform"] == "yes",
        sector_focus=value["sector_focus"], sectors=sectors.sectors_in(value["sector_focus"]),
        linked_factory=None, investment=value["investment"], sources=sources,
        notes=value["notes"])
    return row, [], linked


def parse_catalogue(text: str, sectors: SectorIndex, *, origin: str = CSV_NAME
                    ) -> tuple[CatalogueRow, ...]:
    """Parse and validate the CSV text; raise CatalogueError naming every bad row's line."""
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    problems: list[str] = []
    try:
        header = tuple(reader.fieldnames or ())
    except csv.Error as exc:
        raise CatalogueError(origin, [f"line 1: not CSV: {exc}"]) from exc
    if header != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        extra = [c for c in header if c not in COLUMNS]
        raise CatalogueError(origin, [f"line 1: the header must be {','.join(COLUMNS)}"
                                      f" (missing: {missing or 'none'}; unknown: "
                                      f"{extra or 'none'})"])
    rows: list[CatalogueRow] = []
    links: list[tuple[CatalogueRow, str]] = []
    while True:
        line = reader.line_num + 1  # where the next record starts
        try:
            raw = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(f"line {line}: not valid CSV: {exc}")
            break
        if None in raw or any(v is None for v in raw.values()):
            problems.append(f"line {line}: {len(COLUMNS)} columns expected")
            continue
        row, row_problems, linked = _row(line, raw, sectors)
        problems += [f"line {line}: {p}" for p in row_problems]
        if row is not None:
            rows.append(row)
            if linked:
                links.append((row, linked))
    first_line: dict[str, int] = {}
    for row in rows:
        if row.id in first_line:
            problems.append(f"line {row.line}: id {row.id!r} (from name {row.name!r}) is "
                            f"already used by line {first_line[row.id]}")
        else:
            first_line[row.id] = row.line
    factories = {r.id for r in rows if r.kind is SiteKind.factory}
    resolved: dict[int, str] = {}
    for row, linked in links:
        target = factory_id_for_name(linked)
        if target not in factories:
            problems.append(f"line {row.line}: linked_ai_factory {linked!r} names no factory "
                            f"in the catalogue (looked for id {target!r})")
        else:
            resolved[row.line] = target
    if not rows and not problems:
        problems.append("line 2: the catalogue has no rows")
    if problems:
        raise CatalogueError(origin, sorted(problems, key=_line_of))
    return tuple(_with_link(r, resolved.get(r.line)) for r in rows)


def _line_of(problem: str) -> int:
    match = re.match(r"line (\d+)", problem)
    return int(match.group(1)) if match else 0


def _with_link(row: CatalogueRow, linked: str | None) -> CatalogueRow:
    return row if linked is None else replace(row, linked_factory=linked)


# --- merging with the policy files ------------------------------------------------------------


def gpu_specs_of(policy: GpuSpecsPolicy) -> tuple[GpuSpec, ...]:
    return tuple(GpuSpec(model=g.model, family=g.family, memory_gb=g.memory_gb,
                         bf16_dense_tflops=g.bf16_dense_tflops,
                         source=f"{g.source.title} <{g.source.url}>") for g in policy.gpus)


def gpu_spec(specs: Federation | Iterable[GpuSpec], model: str) -> GpuSpec | None:
    """The spec of `model`, matched case-insensitively by model, else by family ("H100")."""
    pool = specs.gpu_specs if isinstance(specs, Federation) else tuple(specs)
    wanted = model.strip().lower()
    exact = next((s for s in pool if s.model.lower() == wanted), None)
    return exact or next((s for s in pool if s.family.lower() == wanted), None)


def _partitions(factory_id: str, entries: Sequence[PartitionEntry],
                specs: Sequence[GpuSpec], problems: list[str],
                notes: dict[tuple[str, str], str]) -> tuple[PartitionProfile, ...]:
    result = []
    for p in entries:
        spec = gpu_spec(specs, p.gpu_model)
        if spec is None or spec.model.lower() != p.gpu_model.lower():
            problems.append(f"factory {factory_id!r} partition {p.id!r}: unknown gpu model "
                            f"{p.gpu_model!r} (gpu-specs.yaml has "
                            f"{', '.join(s.model for s in specs)})")
            continue
        notes[(factory_id, p.id)] = p.capacity_note
        result.append(PartitionProfile(
            factory_id=factory_id, id=p.id, gpu_model=spec.model,
            gpu_memory_gb=p.gpu_memory_gb or spec.memory_gb, gpus_per_node=p.gpus_per_node,
            nodes=p.nodes, capacity_basis=CapacityBasis(p.capacity_basis),
            executor=p.executor))
    return tuple(result)


def build_federation(rows: Sequence[CatalogueRow], policy: FederationPolicy,
                     specs: Sequence[GpuSpec], sectors: SectorIndex, *,
                     origin: str = "fabriek/policy/federation.yaml"
                     ) -> tuple[Federation, dict[tuple[str, str], str]]:
    """Merge the rows with federation.yaml; CatalogueError names the file and each entry."""
    problems: list[str] = []
    notes: dict[tuple[str, str], str] = {}
    row_ids = {r.id for r in rows}
    entries = {e.id: e for e in policy.entries}
    problems += [f"entry {e!r}: no catalogue row has this id (ids: "
                 f"{', '.join(sorted(row_ids))})" for e in entries if e not in row_ids]
    problems += [f"extra factory {f.id!r}: the id is already a catalogue row's"
                 for f in policy.extra_factories if f.id in row_ids]
    factories: list[FactoryProfile] = []
    for row in rows:
        entry = entries.get(row.id)
        if row.kind is SiteKind.antenna and entry is not None and entry.partitions:
            problems.append(f"entry {row.id!r}: antennas have no partitions (they give access "
                            "to their linked factory's compute)")
        partitions = (_partitions(row.id, entry.partitions, specs, problems, notes)
                      if entry is not None and row.kind is SiteKind.factory else ())
        factories.append(FactoryProfile(
            id=row.id, name=row.name, kind=row.kind, country=row.country,
            sectors=frozenset(row.sectors),
            languages=frozenset(entry.languages) if entry else frozenset(),
            datasets=frozenset(entry.datasets) if entry else frozenset(),
            linked_factory=row.linked_factory, partitions=partitions,
            operational=entry.operational if entry else False))
    for extra in policy.extra_factories:
        unknown = [s for s in extra.sectors if s not in sectors.ids]
        if unknown:
            problems.append(f"extra factory {extra.id!r}: unknown sector(s) {unknown}")
        factories.append(FactoryProfile(
            id=extra.id, name=extra.name, kind=extra.kind, country=extra.country,
            sectors=frozenset(extra.sectors), languages=frozenset(extra.languages),
            datasets=frozenset(extra.datasets),
            partitions=_partitions(extra.id, extra.partitions, specs, problems, notes),
            operational=extra.operational))
    if problems:
        raise CatalogueError(origin, problems)
    return Federation(factories=tuple(factories), gpu_specs=tuple(specs)), notes


def _csv_text(policy_dir: Path | None) -> tuple[str, str]:
    if policy_dir is not None and (policy_dir / CSV_NAME).is_file():
        path = policy_dir / CSV_NAME
        return path.read_text(encoding="utf-8"), str(path)
    packaged = resources.files("fabriek.federation").joinpath("data", CSV_NAME)
    return packaged.read_text(encoding="utf-8"), f"fabriek/federation/data/{CSV_NAME}"


def _policy_origin(name: str, policy_dir: Path | None) -> str:
    if policy_dir is not None and (policy_dir / f"{name}.yaml").is_file():
        return str(policy_dir / f"{name}.yaml")
    return f"fabriek/policy/{name}.yaml"


def load_catalogue(policy_dir: Path | None = None) -> Catalogue:
    """Load and cross-check the catalogue; files in `policy_dir` (settings.policy_dir)
    override the packaged ones, the CSV included. Raises PolicyFileError / CatalogueError."""
    sectors_policy = read_policy("sectors", SectorsPolicy, policy_dir)
    specs_policy = read_policy("gpu-specs", GpuSpecsPolicy, policy_dir)
    federation_policy = read_policy("federation", FederationPolicy, policy_dir)
    sectors = SectorIndex(sectors_policy)
    text, origin = _csv_text(policy_dir)
    rows = parse_catalogue(text, sectors, origin=origin)
    specs = gpu_specs_of(specs_policy)
    federation, notes = build_federation(rows, federation_policy, specs, sectors,
                                         origin=_policy_origin("federation", policy_dir))
    # Any change to the CSV or to what the policy files say gives a new version, so the seed
    # refreshes even when an edit forgot to bump `version`.
    digest = hashlib.sha256("\n".join([
        text, federation_policy.model_dump_json(), specs_policy.model_dump_json(),
        sectors_policy.model_dump_json()]).encode("utf-8")).hexdigest()[:8]
    versions = {"catalogue": f"{federation_policy.version}+{digest}",
                "federation": federation_policy.version, "gpu-specs": specs_policy.version,
                "sectors": sectors_policy.version}
    return Catalogue(rows=rows, federation=federation, versions=versions,
                     sectors=sectors_policy, gpu_specs=specs_policy, capacity_notes=notes)


_DEFAULT: Catalogue | None = None


def default_catalogue() -> Catalogue:
    """The packaged catalogue, loaded once (for callers without settings at hand)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_catalogue()
    return _DEFAULT


def peak_bf16_flops(model: str, specs: Federation | Iterable[GpuSpec] | None = None
                    ) -> float | None:
    """Peak dense BF16 FLOP/s of one GPU of `model` (by model or family), or None if unknown.

    The AI Act compute ledger multiplies GPU-hours × 3,600 × this × an assumed utilisation.
    """
    spec = gpu_spec(specs if specs is not None else default_catalogue().federation, model)
    return None if spec is None else spec.bf16_dense_tflops * 1e12


def executor_partitions(federation: Federation) -> list[PartitionProfile]:
    """The partitions this installation runs jobs on (executor local or slurm)."""
    return [p for p in federation.partitions() if p.executor is not ExecutorKind.none]
