"""Detection of personal data in a tabular file, with a report of where it was found.

DuckDB streams the rows in batches (text, integer and nested columns, cast to text); numbers,
booleans and dates cannot hold the kinds looked for and are skipped. In each cell cheap
regular expressions propose candidates and validators decide:

- e-mail addresses: a pattern, then `email-validator`'s syntax check;
- phone numbers: `phonenumbers` must call the number valid and place it in an EU or EEA
  country; international form anywhere, national form only in a column whose header says
  phone (a bare 10-digit number is as often an order number);
- IBANs: python-stdnum (country format and the mod-97 check);
- national identifiers: python-stdnum's validators (checksums and dates in the number). Weak
  checksums pass some random numbers, so a column is reported for an identifier only when
  most of its candidates validate (policy `min_share`) or its header names the identifier;
- person names: first names from Faker's person providers of the EU and EEA locales, in
  columns of short letter-only values where enough of them contain one, or fewer where the
  header says name.

Examples are masked; a finding gives the count and the first row numbers (1-based data rows,
the header not counted). Free text is searched for every kind but names: finding a name in
prose needs language models, not a gazetteer.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import duckdb
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, Field
from stdnum import iban as stdnum_iban

from fabriek.datalab.duck import (
    EngineLimits,
    Progress,
    TabularFormat,
    engine,
    first_line,
    open_source,
    quote_ident,
)
from fabriek.datalab.personal_data_policy import (
    PersonalDataPolicy,
    load_personal_data_policy,
    normal_header,
)
from fabriek.datalab.profiling import kind_of
from fabriek.errors import ValidationFailed

Category = Literal["email", "phone", "iban", "national-id", "name"]
BATCH_ROWS = 20_000

_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_IBAN = re.compile(r"(?<![A-Z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Z0-9])")
_PHONE_INTERNATIONAL = re.compile(r"(?<![\w+])(?:\+|00)[1-9][\d ()./-]{6,18}\d(?!\d)")
_PHONE_NATIONAL = re.compile(r"(?<![\w+])0[\d ()./-]{7,16}\d(?!\d)")
_DIGITS = re.compile(r"\d\d")
_NAME_WORD = re.compile(r"^[^\W\d_]+(?:['’.-][^\W\d_]+)*\.?$")


# --- the report -----------------------------------------------------------------------------


class Finding(BaseModel):
    column: str
    category: Category
    kind: str = Field(description="email, phone, iban, name, or the identifier's id "
                                  "(e.g. nl-bsn).")
    label: str
    count: int = Field(description="Values found (a cell with two counts twice).")
    rows: list[int] = Field(description="The first row numbers (1-based data rows).")
    examples: list[str] = Field(description="Masked.")
    basis: str = Field(description="Why it counts: validated candidates, or the header.")


class PersonalDataReport(BaseModel):
    rows_scanned: int
    columns_scanned: list[str]
    columns_skipped: list[str] = Field(description="Numbers, booleans, dates: cannot hold "
                                                   "what is looked for.")
    findings: list[Finding]
    policy_version: str
    names_checked: bool = Field(description="False where Faker (fabriek[datalab]), which "
                                            "ships the first-name lists, is not installed.")

    @property
    def contains_personal_data(self) -> bool:
        return bool(self.findings)


# --- masking ----------------------------------------------------------------------------------


def mask(value: str) -> str:
    """Enough to recognise the kind, not the person: 'j***@e******.nl', 'NL**************00'."""
    if "@" in value:
        local, _, domain = value.partition("@")
        host, dot, tld = domain.rpartition(".")
        return f"{local[:1]}***@{host[:1]}{'*' * max(len(host) - 1, 1)}{dot}{tld}"
    if len(value) <= 4:
        return value[:1] + "*" * (len(value) - 1)
    return value[:2] + "".join("*" if ch.isalnum() else ch for ch in value[2:-2]) + value[-2:]


# --- names ----------------------------------------------------------------------------------


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=4)
def name_gazetteer(locales: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names), folded (lower case, no accents), from Faker's providers."""
    first: set[str] = set()
    last: set[str] = set()
    for locale in locales:
        try:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        except ImportError:
            continue
        for attr, into in (("first_names", first), ("first_names_male", first),
                           ("first_names_female", first), ("last_names", last)):
            names: Iterable[str] = getattr(provider, attr, ()) or ()
            for name in names:  # a tuple, or an OrderedDict of name → weight
                for part in re.split(r"[\s-]+", str(name)):
                    if len(part) > 1:
                        into.add(_fold(part))
    return frozenset(first), frozenset(last)


def _name_words(value: str) -> list[str] | None:
    """The words of a value shaped like a name (1–5 words of letters), else None."""
    words = [w for w in re.split(r"[\s,]+", value) if w]
    if not 1 <= len(words) <= 5 or not all(_NAME_WORD.match(w) for w in words):
        return None
    return [_fold(w.strip(".")) for w in words]


# --- scanning -------------------------------------------------------------------------------


@dataclass
class _Tally:
    category: Category
    kind: str
    label: str
    count: int = 0
    candidates: int = 0  # identifiers: values of the right shape, valid or not
    rows: list[int] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)


@dataclass
class _Column:
    name: str
    text: bool
    hints: set[str]
    tallies: dict[str, _Tally] = field(default_factory=dict)
    nonempty: int = 0
    name_like_first: int = 0
    name_like_any: int = 0
    name_rows: list[int] = field(default_factory=list)
    name_examples: list[str] = field(default_factory=list)


class Detector:
    """Holds the compiled policy; `scan_row` is called once per cell with its row number."""

    def __init__(self, policy: PersonalDataPolicy) -> None:
        self.policy = policy
        self.identifiers = [
            (rule, re.compile(rule.pattern),
             importlib.import_module(f"stdnum.{rule.validator}").is_valid)
            for rule in policy.identifiers]
        self.first_names, self.last_names = name_gazetteer(tuple(policy.names.locales))
        self.regions = frozenset(policy.phone.regions)

    def hints(self, header: str) -> set[str]:
        h = normal_header(header)
        out = set()
        for key, hinted in (("email", self.policy.email), ("phone", self.policy.phone),
                            ("iban", self.policy.iban), ("name", self.policy.names)):
            if h in hinted.headers:
                out.add(key)
        out.update(rule.id for rule in self.policy.identifiers if h in rule.headers)
        return out

    def _hit(self, col: _Column, key: str, category: Category, label: str, row: int,
             value: str, *, candidate_only: bool = False) -> None:
        tally = col.tallies.get(key)
        if tally is None:
            tally = col.tallies[key] = _Tally(category=category, kind=key, label=label)
        tally.candidates += 1
        if candidate_only:
            return
        tally.count += 1
        if len(tally.rows) < self.policy.row_numbers and (not tally.rows or
                                                          tally.rows[-1] != row):
            tally.rows.append(row)
        if len(tally.examples) < self.policy.examples:
            tally.examples.append(mask(value))

    def scan_cell(self, col: _Column, row: int, value: str) -> None:
        value = value.strip()
        if not value:
            return
        col.nonempty += 1
        rest = value
        if "@" in rest:
            for m in _EMAIL.finditer(rest):
                try:
                    validate_email(m.group(0), check_deliverability=False)
                except EmailNotValidError:
                    continue
                self._hit(col, "email", "email", "e-mail address", row, m.group(0))
                rest = rest.replace(m.group(0), " ")
        if _DIGITS.search(rest):
            rest = self._numbers(col, row, rest)
        if col.text and self.first_names:
            self._name(col, row, value)

    def _numbers(self, col: _Column, row: int, text: str) -> str:
        upper = text.upper()
        for m in _IBAN.finditer(upper):
            if stdnum_iban.is_valid(m.group(0)):
                self._hit(col, "iban", "iban", "IBAN", row, m.group(0).replace(" ", ""))
                upper = upper.replace(m.group(0), " ")
        for m in _PHONE_INTERNATIONAL.finditer(upper):
            number = m.group(0)
            region = self._phone_region("+" + number[2:] if number.startswith("00") else number,
                                        None)
            if region is not None:
                self._hit(col, "phone", "phone", "phone number", row, number)
                upper = upper.replace(number, " ")
        if "phone" in col.hints:
            for m in _PHONE_NATIONAL.finditer(upper):
                number = m.group(0)
                if any(self._phone_region(number, r) for r in self.policy.phone.regions):
                    self._hit(col, "phone", "phone", "phone number", row, number)
                    upper = upper.replace(number, " ")
        matches = [(rule, m, bool(is_valid(m.group(0))))
                   for rule, pattern, is_valid in self.identifiers
                   for m in pattern.finditer(upper)]
        valid_spans = [m.span() for _, m, ok in matches if ok]
        for rule, m, ok in matches:
            # A number that is another identifier (an 11-digit PESEL also has the shape of a
            # Steuer-IdNr) is no failed candidate of this one: it must not dilute its share.
            if not ok and any(a < m.end() and m.start() < b for a, b in valid_spans):
                continue
            self._hit(col, rule.id, "national-id", rule.label, row, m.group(0),
                      candidate_only=not ok)
        return upper

    def _phone_region(self, number: str, region: str | None) -> str | None:
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(parsed):
            return None
        found = phonenumbers.region_code_for_number(parsed)
        return found if found in self.regions else None

    def _name(self, col: _Column, row: int, value: str) -> None:
        words = _name_words(value)
        if words is None:
            return
        first = any(w in self.first_names for w in words)
        if first or any(w in self.last_names for w in words):
            col.name_like_any += 1
            if first:
                col.name_like_first += 1
            if len(col.name_rows) < self.policy.row_numbers:
                col.name_rows.append(row)
            if len(col.name_examples) < self.policy.examples:
                col.name_examples.append(mask(value))

    def findings(self, col: _Column) -> list[Finding]:
        out: list[Finding] = []
        for key, t in col.tallies.items():
            if t.count == 0:
                continue
            if t.category == "national-id":
                share = t.count / t.candidates
                if share < self.policy.min_share and key not in col.hints:
                    continue
                basis = (f"{t.count} of {t.candidates} candidates pass the checksum"
                         + (f"; header names {key}" if key in col.hints else ""))
            else:
                basis = f"{t.count} validated"
            out.append(Finding(column=col.name, category=t.category, kind=key, label=t.label,
                               count=t.count, rows=t.rows, examples=t.examples, basis=basis))
        if col.text and col.nonempty:
            hinted = "name" in col.hints
            share_first = col.name_like_first / col.nonempty
            share_any = col.name_like_any / col.nonempty
            if (share_first >= self.policy.names.min_share
                    or (hinted and share_any >= self.policy.names.min_share_with_header)):
                out.append(Finding(
                    column=col.name, category="name", kind="name", label="person name",
                    count=col.name_like_any, rows=col.name_rows, examples=col.name_examples,
                    basis=(f"{col.name_like_any} of {col.nonempty} values contain a known "
                           f"{'first or last' if hinted else 'first'} name"
                           + ("; header says name" if hinted else ""))))
        return out


def detect(path: Path, fmt: TabularFormat, *, policy: PersonalDataPolicy | None = None,
           limits: EngineLimits | None = None, progress: Progress | None = None,
           max_rows: int | None = None) -> PersonalDataReport:
    """Scan the file (or its first `max_rows` rows) and report every finding."""
    policy = policy or load_personal_data_policy()
    detector = Detector(policy)
    with engine(limits) as con:
        source, described = open_source(con, path, fmt)
        scanned = [(n, t) for n, t in described
                   if kind_of(t) in {"text", "integer", "other"}]
        skipped = [n for n, t in described if kind_of(t) not in {"text", "integer", "other"}]
        columns = [_Column(name=n, text=kind_of(t) == "text", hints=detector.hints(n))
                   for n, t in scanned]
        try:
            total = _scan(con, source, columns, detector, progress, max_rows)
        except duckdb.Error as exc:
            raise ValidationFailed(f"cannot read the file as {fmt.value}: {first_line(exc)}"
                                   ) from exc
    findings = [f for col in columns for f in detector.findings(col)]
    return PersonalDataReport(rows_scanned=total, columns_scanned=[c.name for c in columns],
                              columns_skipped=skipped, findings=findings,
                              policy_version=policy.version,
                              names_checked=bool(detector.first_names))


def _scan(con: duckdb.DuckDBPyConnection, source: str, columns: list[_Column],
          detector: Detector, progress: Progress | None, max_rows: int | None) -> int:
    if not columns:
        return int(con.execute(f"SELECT count(*) FROM {source}").fetchone()[0])  # type: ignore[index]
    limit = f" LIMIT {int(max_rows)}" if max_rows is not None else ""
    total = int(con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {source}{limit})"
                            ).fetchone()[0])  # type: ignore[index]
    report: Callable[[float, str], None] = progress or (lambda _f, _m: None)
    report(0.0, f"scanning {total} rows")
    casts = ", ".join(f"CAST({quote_ident(c.name)} AS VARCHAR)" for c in columns)
    cursor = con.execute(f"SELECT {casts} FROM {source}{limit}")
    row = 0
    while batch := cursor.fetchmany(BATCH_ROWS):
        for values in batch:
            row += 1
            for col, value in zip(columns, values, strict=True):
                if value is not None:
                    detector.scan_cell(col, row, value)
        report(row / total if total else 1.0, f"scanned {row} of {total} rows")
    report(1.0, f"scanned {row} rows")
    return row
