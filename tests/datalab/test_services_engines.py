"""The dataset services' engines on files: profiling, validation, Parquet conversion,
personal-data detection, synthetic data. No database here."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import duckdb
import pytest

from fabriek.datalab import convert, personal_data, profiling, synthetic
from fabriek.datalab.duck import TabularFormat, tabular_format
from fabriek.datalab.personal_data_policy import PersonalDataPolicy, load_personal_data_policy
from fabriek.errors import BadRequest, ValidationFailed
from fabriek.kit.policydata import PolicyFileError, read_policy

pytestmark = pytest.mark.unit

CSV = TabularFormat.csv

ROWS = [
    # id, name, age, score, day, city, ok
    (1, "Anna", 34, 1.5, "2024-01-02", "Utrecht", "true"),
    (2, "Bram", None, 2.5, "2024-02-03", "Gent", "false"),
    (3, "Chloé", 51, None, "2024-03-04", "Utrecht", "true"),
    (4, "Dirk", 17, 9.25, None, "Lyon", None),
    (5, "Eva", 44, 3.0, "2024-05-06", "Utrecht", "false"),
]
HEADER = ["id", "name", "age", "score", "day", "city", "ok"]


def write_csv(path: Path, header: list[str], rows: list[tuple]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in rows:
            w.writerow(["" if v is None else v for v in row])
    return path


@pytest.fixture
def people(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "people.csv", HEADER, ROWS)


# --- profiling ---------------------------------------------------------------------------------


def test_profile_gives_types_counts_missing_ranges_and_top_values(people):
    seen: list[float] = []
    p = profiling.profile(people, CSV, progress=lambda f, _m: seen.append(f))
    assert p.rows == 5
    cols = {c.name: c for c in p.columns}
    assert [c.name for c in p.columns] == HEADER
    assert (cols["age"].kind, cols["age"].count, cols["age"].missing) == ("integer", 4, 1)
    assert (cols["age"].min, cols["age"].max, cols["age"].mean) == (17, 51, 36.5)
    assert (cols["score"].kind, cols["score"].min, cols["score"].max) == ("number", 1.5, 9.25)
    assert (cols["day"].kind, cols["day"].min, cols["day"].max, cols["day"].missing) == (
        "date", "2024-01-02", "2024-05-06", 1)
    assert (cols["ok"].kind, cols["ok"].true_count, cols["ok"].missing) == ("boolean", 2, 1)
    city = cols["city"]
    assert city.kind == "text" and city.distinct_approx == 3
    assert [(t.value, t.count) for t in city.top_values] == [
        ("Utrecht", 3), ("Gent", 1), ("Lyon", 1)]
    assert (city.min_length, city.max_length) == (4, 7)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


def test_json_lines_and_parquet_profile_like_the_csv(people, tmp_path):
    jsonl = tmp_path / "people.jsonl"
    with jsonl.open("w") as f:
        for row in ROWS:
            f.write(json.dumps(dict(zip(HEADER, row, strict=True))) + "\n")
    parquet = convert.to_parquet(people, CSV, tmp_path / "work").path
    for path, fmt in ((jsonl, TabularFormat.jsonl), (parquet, TabularFormat.parquet)):
        p = profiling.profile(path, fmt)
        cols = {c.name: c for c in p.columns}
        assert p.rows == 5
        assert (cols["age"].min, cols["age"].max, cols["age"].missing) == (17, 51, 1)
        assert cols["city"].top_values[0].value == "Utrecht"


def test_a_bad_value_after_the_sniffed_rows_reads_the_column_as_text(tmp_path):
    rows = [(i, f"x{i}") for i in range(30_000)] + [("oops", "y")]
    path = write_csv(tmp_path / "late.csv", ["a", "b"], rows)
    p = profiling.profile(path, CSV)
    assert p.rows == 30_001
    assert {c.name: c.kind for c in p.columns} == {"a": "text", "b": "text"}


def test_a_file_that_is_not_what_it_claims_is_refused_clearly(tmp_path):
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"\x00\x01not parquet at all" * 10)
    with pytest.raises(ValidationFailed, match="cannot read the file as parquet"):
        profiling.profile(junk, TabularFormat.parquet)
    with pytest.raises(BadRequest, match="no such file"):
        profiling.profile(tmp_path / "missing.csv", CSV)
    with pytest.raises(BadRequest, match="not a tabular format"):
        tabular_format("application/zip", Path("x.zip"))
    assert tabular_format("application/gzip", Path("trips.csv.gz")) is TabularFormat.csv_gz


# --- validation --------------------------------------------------------------------------------


def test_validation_reports_every_violation_with_counts_and_examples(people):
    schema = profiling.ExpectedSchema(columns=[
        profiling.ColumnRule(name="id", type="integer", nullable=False, unique=True),
        profiling.ColumnRule(name="name", type="text", pattern=r"[A-Z][a-zé]+"),
        profiling.ColumnRule(name="age", type="integer", nullable=False, min=18, max=120),
        profiling.ColumnRule(name="score", type="number", max=5),
        profiling.ColumnRule(name="day", type="date", min="2024-01-15"),
        profiling.ColumnRule(name="city", allowed=["Utrecht", "Gent"]),
        profiling.ColumnRule(name="ok", type="boolean"),
        profiling.ColumnRule(name="zip"),
    ], allow_extra_columns=True)
    report = profiling.validate(people, CSV, schema)
    assert report.rows == 5 and not report.valid
    found = {(v.column, v.rule): v for v in report.violations}
    assert set(found) == {("age", "not-null"), ("age", "min"), ("score", "max"),
                          ("day", "min"), ("city", "allowed"), ("zip", "column-missing")}
    assert [(e.row, e.value) for e in found[("age", "min")].examples] == [(4, "17")]
    assert [(e.row, e.value) for e in found[("age", "not-null")].examples] == [(2, None)]
    assert [(e.row, e.value) for e in found[("score", "max")].examples] == [(4, "9.25")]
    assert [(e.row, e.value) for e in found[("day", "min")].examples] == [(1, "2024-01-02")]
    assert found[("city", "allowed")].count == 1


def test_validation_counts_bad_types_repeats_and_unexpected_columns(tmp_path):
    path = write_csv(tmp_path / "orders.csv", ["order", "amount", "placed", "extra"], [
        (1, "12.50", "2024-01-01", "a"), (2, "twelve", "2024-13-01", "b"),
        (2, "3", "2024-02-02", "c"), ("3.5", "4", "yesterday", "d")])
    schema = profiling.ExpectedSchema(columns=[
        profiling.ColumnRule(name="order", type="integer", unique=True),
        profiling.ColumnRule(name="amount", type="number"),
        profiling.ColumnRule(name="placed", type="date"),
    ], allow_extra_columns=False)
    report = profiling.validate(path, CSV, schema)
    found = {(v.column, v.rule): v for v in report.violations}
    assert found[("order", "type")].count == 1
    assert found[("order", "type")].examples[0].value == "3.5"
    assert found[("order", "unique")].count == 1
    assert found[("amount", "type")].examples[0].row == 2
    assert found[("placed", "type")].count == 2
    assert ("extra", "column-unexpected") in found
    clean = profiling.ExpectedSchema(columns=[profiling.ColumnRule(name="extra", type="text")])
    assert profiling.validate(path, CSV, clean).valid


def test_a_schema_that_makes_no_sense_is_refused():
    with pytest.raises(ValueError, match="min/max need type"):
        profiling.ColumnRule(name="city", type="text", min=1)
    with pytest.raises(ValueError, match="not a regular expression"):
        profiling.ColumnRule(name="city", pattern="([")
    with pytest.raises(ValueError, match="named twice"):
        profiling.ExpectedSchema(columns=[profiling.ColumnRule(name="a"),
                                          profiling.ColumnRule(name="a")])


# --- conversion --------------------------------------------------------------------------------


def test_csv_converts_to_zstd_parquet_with_the_same_rows_and_a_true_checksum(people, tmp_path):
    import hashlib

    done = convert.to_parquet(people, CSV, tmp_path / "work")
    assert done.rows == 5
    assert done.sha256 == hashlib.sha256(done.path.read_bytes()).hexdigest()
    assert done.size == done.path.stat().st_size
    con = duckdb.connect()
    back = con.execute(f"SELECT * FROM read_parquet('{done.path}') ORDER BY id").fetchall()
    original = con.execute(f"SELECT * FROM read_csv('{people}') ORDER BY id").fetchall()
    assert back == original
    codecs = {r[0] for r in con.execute(
        f"SELECT compression FROM parquet_metadata('{done.path}')").fetchall()}
    assert codecs == {"ZSTD"}


def test_a_failed_conversion_leaves_nothing_behind(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{"a": \n')
    work = tmp_path / "work"
    with pytest.raises(ValidationFailed, match="cannot convert"):
        convert.to_parquet(bad, TabularFormat.jsonl, work)
    assert list(work.iterdir()) == []
    with pytest.raises(BadRequest, match="Parquet already"):
        convert.to_parquet(bad, TabularFormat.parquet, work)


# --- personal data ----------------------------------------------------------------------------

PLANTED = {
    5: ("comment", "mail me at jan.devries@example.nl please", "email"),
    10: ("comment", "BSN 111222333", "nl-bsn"),
    20: ("comment", "IBAN NL91 ABNA 0417 1643 00", "iban"),
    30: ("comment", "call +31 6 12345678 after five", "phone"),
    40: ("tel", "020 123 4567", "phone"),
    50: ("comment", "PESEL 44051401359", "pl-pesel"),
    60: ("comment", "NIE X-2482300-W", "es-nie"),
    70: ("comment", "CF RCCMNL83S18D969H", "it-codice-fiscale"),
    80: ("comment", "Steuer-ID 36 574 261 809", "de-idnr"),
    90: ("comment", "NN 85.07.30-033.28", "be-nn"),
    100: ("comment", "NIR 2 95 10 99 126 111 93", "fr-nir"),
    110: ("comment", "DNI 54362315K", "es-dni"),
    120: ("comment", "personnummer 880320-0016", "se-personnummer"),
}


def _clean_rows(n: int, seed: int = 3) -> list[dict[str, str]]:
    rng = random.Random(seed)
    from stdnum.nl import bsn
    from stdnum.pl import pesel

    rows = []
    for _ in range(n):
        # Order numbers of the shapes of a BSN and a PESEL that fail their checksums.
        while bsn.is_valid(order := str(rng.randrange(10**8, 10**9))):
            pass
        while pesel.is_valid(ref := str(rng.randrange(10**10, 10**11))):
            pass
        rows.append({"order_no": order, "ref": ref, "amount": f"{rng.random() * 100:.2f}",
                     "placed": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                     "product": rng.choice(["Widget Pro", "Gadget", "Bolt M6", "Desk lamp"]),
                     "city": rng.choice(["Utrecht", "Gent", "Lyon", "Kraków"]),
                     "comment": rng.choice(["ok", "deliver before noon", "fragile", ""]),
                     "tel": ""})
    return rows


def _write_dicts(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_planted_personal_data_is_found_where_it_is_with_masked_examples(tmp_path):
    rows = _clean_rows(200)
    for row_no, (column, value, _) in PLANTED.items():
        rows[row_no - 1][column] = value
    path = _write_dicts(tmp_path / "orders.csv", rows)
    report = personal_data.detect(path, CSV)
    found = {(f.column, f.kind): f for f in report.findings}
    expected = {(column, kind): row for row, (column, _, kind) in PLANTED.items()}
    assert set(found) == set(expected)
    for key, row in expected.items():
        assert found[key].rows == [row], key
        assert found[key].count == 1
    planted_values = {value for _, value, _ in PLANTED.values()}
    for finding in report.findings:
        for example in finding.examples:
            assert "*" in example
            assert not any(example in v or v in example for v in planted_values)
    assert found[("comment", "email")].examples == ["j***@e******.nl"]
    assert report.rows_scanned == 200 and report.contains_personal_data
    assert "amount" in report.columns_skipped


def test_clean_order_data_raises_no_alarm(tmp_path):
    path = _write_dicts(tmp_path / "orders.csv", _clean_rows(1000, seed=11))
    report = personal_data.detect(path, CSV)
    assert report.findings == []
    assert report.rows_scanned == 1000 and not report.contains_personal_data


def test_a_column_of_numbers_that_mostly_pass_a_weak_checksum_is_not_a_bsn_column(tmp_path):
    """About one random 9-digit number in eleven passes the BSN's 11-test: a column of order
    numbers has such numbers, and must not be reported; a column of real BSNs must."""
    from stdnum.nl import bsn

    rng = random.Random(5)
    orders = [str(rng.randrange(10**8, 10**9)) for _ in range(500)]
    assert 20 < sum(bsn.is_valid(o) for o in orders) < 80
    valid = []
    while len(valid) < 50:
        if bsn.is_valid(candidate := str(rng.randrange(10**8, 10**9))):
            valid.append(candidate)
    path = _write_dicts(tmp_path / "mixed.csv", [
        {"order_no": o, "citizen": valid[i % 50]} for i, o in enumerate(orders)])
    found = {(f.column, f.kind) for f in personal_data.detect(path, CSV).findings}
    assert found == {("citizen", "nl-bsn")}


def test_names_are_found_by_header_or_by_share_and_cities_are_not(tmp_path):
    rng = random.Random(1)
    rows = [{"achternaam": rng.choice(["de Vries", "Jansen", "Bakker", "Visser"]),
             "contact": rng.choice(["Anna Jansen", "Pieter Bakker", "Sophie Visser",
                                    "Lucas de Boer"]),
             "city": rng.choice(["Utrecht", "Gent", "Lyon", "Kraków", "Milano"]),
             "product": rng.choice(["Widget Pro", "Gadget", "Bolt M6"])}
            for _ in range(100)]
    path = _write_dicts(tmp_path / "contacts.csv", rows)
    found = {f.column: f for f in personal_data.detect(path, CSV).findings}
    assert set(found) == {"achternaam", "contact"}
    assert "header says name" in found["achternaam"].basis
    assert found["contact"].count == 100


def test_the_policy_file_is_checked_when_loaded(tmp_path):
    policy = load_personal_data_policy()
    assert {r.id for r in policy.identifiers} >= {"nl-bsn", "be-nn", "de-idnr", "fr-nir",
                                                  "es-dni", "it-codice-fiscale", "pl-pesel"}
    assert "NO" in policy.phone.regions
    text = (Path(personal_data.__file__).parent.parent / "policy" / "personal-data.yaml"
            ).read_text()
    for bad, message in ((text.replace("validator: nl.bsn", "validator: nl.nothing"),
                          "no module nl.nothing"),
                         (text.replace("country: NL", "country: XX", 1), "country code")):
        (tmp_path / "personal-data.yaml").write_text(bad)
        with pytest.raises(PolicyFileError, match=message):
            read_policy("personal-data", PersonalDataPolicy, tmp_path)


# --- synthetic data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def visits(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("syn") / "visits.csv"
    duckdb.connect().execute(f"""COPY (SELECT i AS id, (18 + i % 60)::INT AS age,
        round(10 + (i * 7919 % 1000) / 10.0, 2) AS cost,
        ['Utrecht', 'Gent', 'Lyon'][1 + i % 3] AS city,
        DATE '2024-01-01' + (i % 300)::INT AS day,
        TIMESTAMP '2024-01-01 10:00' + to_seconds(i * 37) AS seen_at,
        (i % 4 = 0) AS member, 'Person ' || i AS full_name,
        CASE WHEN i % 10 = 0 THEN NULL ELSE i % 5 END AS score
        FROM range(3000) t(i)) TO '{path}'""")
    return path


def test_synthetic_output_keeps_the_schema_ranges_and_categories(visits, tmp_path):
    made = synthetic.synthesise(visits, CSV, tmp_path, rows=500, fit_rows=1000, seed=7)
    con = duckdb.connect()
    source = con.execute(f"DESCRIBE SELECT * FROM read_csv('{visits}')").fetchall()
    output = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{made.path}')").fetchall()
    assert [(r[0], r[1]) for r in output] == [(r[0], r[1]) for r in source]
    assert made.rows == 500 and made.fit_rows == 1000
    assert made.replaced == ["full_name"]  # one value per person: never copied

    def bounds(sql_from: str) -> tuple:
        return con.execute(f"""SELECT min(age), max(age), min(cost), max(cost), min(day),
            max(day), min(seen_at), max(seen_at), min(score), max(score)
            FROM {sql_from}""").fetchone()

    src, out = bounds(f"read_csv('{visits}')"), bounds(f"read_parquet('{made.path}')")
    for i in range(0, len(src), 2):
        assert src[i] <= out[i] and out[i + 1] <= src[i + 1], (i, src, out)
    cities = {r[0] for r in con.execute(
        f"SELECT DISTINCT city FROM read_parquet('{made.path}')").fetchall()}
    assert cities <= {"Utrecht", "Gent", "Lyon"}
    names = {r[0] for r in con.execute(
        f"SELECT full_name FROM read_parquet('{made.path}')").fetchall()}
    assert not any(n.startswith("Person ") for n in names)
    missing = con.execute(f"SELECT count(*) - count(score) FROM read_parquet('{made.path}')"
                          ).fetchone()[0]
    assert 0 < missing < 150  # about a tenth, as in the data


def test_synthetic_refuses_bad_settings_and_leaves_nothing(visits, tmp_path):
    work = tmp_path / "work"
    with pytest.raises(BadRequest, match="rows"):
        synthetic.synthesise(visits, CSV, work, rows=0)
    with pytest.raises(BadRequest, match="fit_rows"):
        synthetic.synthesise(visits, CSV, work, fit_rows=2)
    one = write_csv(tmp_path / "one.csv", ["a"], [(1,)])
    with pytest.raises(ValidationFailed, match="too few rows"):
        synthetic.synthesise(one, CSV, work)
    assert not work.exists() or list(work.iterdir()) == []
