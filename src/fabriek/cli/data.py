"""`fabriek data`: the data labs' catalogue, files (with progress bars and checksums), access
requests and grants, the read log, and the DCAT-AP export — all through the API client."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from fabriek.cli import output as out
from fabriek.cli.context import client
from fabriek.cli.inputs import load_file
from fabriek.cli.options import AllOpt, JsonOpt, LimitOpt
from fabriek.client.datalab import CHUNK
from fabriek.datalab.schemas import (
    AccessRequestRead,
    DatasetRead,
    DatasetSummary,
    GrantRead,
    ReadRead,
)

app = typer.Typer(help="Data labs: find datasets, publish and upload files, request access, "
                       "decide requests, follow reads, export the catalogue as DCAT-AP.",
                  no_args_is_help=True)

SlugArg = Annotated[str, typer.Argument(help="The dataset's name (its slug).")]


def _title(texts: dict[str, str]) -> str:
    return texts.get("en") or next(iter(texts.values()), "")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), TimeRemainingColumn(), console=out.stderr(),
                    transient=False)


# --- the catalogue ----------------------------------------------------------------------------


def _render_list(rows: list[DatasetSummary]) -> None:
    out.show(out.table("Datasets", ["name", "title", "data space", "themes", "licence",
                                    "access", "files", "size"],
                       [(d.slug, _title(d.title), d.data_space, ", ".join(d.themes), d.licence,
                         d.access_level.value, d.distributions, _size(d.byte_size))
                        for d in rows], nowrap=("name", "access", "files", "size")))


@app.command("list")
def list_(ctx: typer.Context,
          query: Annotated[str | None, typer.Argument(
              help="Words to find in titles, descriptions and keywords.")] = None,
          data_space: Annotated[str | None, typer.Option("--data-space")] = None,
          theme: Annotated[str | None, typer.Option("--theme", help="EU data theme, e.g. HEAL")]
          = None,
          access_level: Annotated[str | None, typer.Option(
              "--access", help="open, registered, approval or permit")] = None,
          licence: Annotated[str | None, typer.Option("--licence")] = None,
          factory: Annotated[str | None, typer.Option("--factory")] = None,
          limit: LimitOpt = 50, all: AllOpt = False, json: JsonOpt = False) -> None:
    """The catalogue (public), searched and filtered.

    Example: fabriek data list trace --access open
    """
    rows = client(ctx).datalab.list(q=query, data_space=data_space, theme=theme,
                                    access_level=access_level, licence=licence,
                                    factory=factory, limit=limit, all=all)
    out.emit(rows, json, _render_list)


def _render_dataset(d: DatasetRead) -> None:
    period = (f"{d.temporal_start or '…'} – {d.temporal_end or '…'}"
              if d.temporal_start or d.temporal_end else None)
    out.show(out.fields(f"{d.slug}: {_title(d.title)}", [
        ("description", _title(d.description)), ("publisher", d.publisher_name),
        ("data space", d.data_space), ("themes", ", ".join(d.themes)),
        ("licence", f"{d.licence} ({d.licence_uri})" if d.licence_uri else d.licence),
        ("access", f"{d.access_level.value}: {d.access.description}"),
        ("countries", ", ".join(d.spatial)), ("period", period),
        ("keywords", ", ".join(d.keywords)), ("data lab", d.factory_id),
        ("modified", d.modified_at), ("withdrawn", d.withdrawn_at)]))
    if d.distributions:
        out.show(out.table("Files", ["id", "file", "format", "size", "sha256"],
                           [(x.id, x.file_name, x.file_type, _size(x.byte_size), x.sha256)
                            for x in d.distributions], nowrap=("id", "size", "sha256")))


@app.command()
def show(ctx: typer.Context, slug: SlugArg, json: JsonOpt = False) -> None:
    """A dataset's metadata, access conditions and files.

    Example: fabriek data show ai-factories
    """
    out.emit(client(ctx).datalab.get(slug), json, _render_dataset)


@app.command()
def create(ctx: typer.Context,
           file: Annotated[Path, typer.Argument(
               exists=True, dir_okay=False, readable=True,
               help="YAML or JSON with the dataset's metadata (the fields of DatasetCreate: "
                    "slug, title {en: …}, description, publisher_name, data_space, licence, "
                    "access_level, themes, spatial, keywords, temporal_start, …).")],
           json: JsonOpt = False) -> None:
    """Publish a dataset's metadata (data stewards); upload its files next.

    Example: fabriek data create icu-vitals.yaml
    """
    created = client(ctx).datalab.create(load_file(file))
    out.emit(created, json, lambda d: (out.success(f"dataset {d.slug} published"),
                                       _render_dataset(d)))


@app.command()
def withdraw(ctx: typer.Context, slug: SlugArg,
             reason: Annotated[str, typer.Option("--reason")] = "",
             json: JsonOpt = False) -> None:
    """Take a dataset out of the catalogue (stewards); grants and the read log stay.

    Example: fabriek data withdraw icu-vitals --reason "superseded by icu-vitals-2"
    """
    out.emit(client(ctx).datalab.withdraw(slug, reason), json,
             lambda d: out.success(f"dataset {d.slug} withdrawn"))


@app.command()
def stewards(ctx: typer.Context, slug: SlugArg,
             emails: Annotated[list[str], typer.Argument(help="Everyone who will steward it.")]
             ) -> None:
    """Set a dataset's stewards (its stewards or an access officer).

    Example: fabriek data stewards icu-vitals anna@umc.example.eu ben@umc.example.eu
    """
    ids = client(ctx).datalab.set_stewards(slug, emails)
    out.success(f"{slug}: {len(ids)} steward(s)")


# --- files ------------------------------------------------------------------------------------


@app.command()
def upload(ctx: typer.Context, slug: SlugArg,
           path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
           name: Annotated[str | None, typer.Option(
               "--name", help="File name in the dataset (default: the file's).")] = None,
           title: Annotated[str, typer.Option("--title")] = "",
           json: JsonOpt = False) -> None:
    """Upload a file to a dataset (stewards), with a progress bar and its SHA-256 checked.

    The file is streamed; its SHA-256 is sent along and the server refuses it if the bytes
    that arrive differ.

    Example: fabriek data upload icu-vitals vitals.csv
    """
    fab = client(ctx)
    size = path.stat().st_size
    with _progress() as bar:
        task = bar.add_task(f"checksum {path.name}", total=size)
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                digest.update(chunk)
                bar.advance(task, len(chunk))
        task = bar.add_task(f"upload {path.name}", total=size)
        dist = fab.datalab.upload(slug, path, file_name=name, title=title,
                                  sha256=digest.hexdigest(),
                                  progress=lambda sent: bar.update(task, completed=sent))
    out.emit(dist, json, lambda d: out.success(
        f"{d.file_name}: {_size(d.byte_size)}, sha256 {d.sha256} (verified by the server)"))


@app.command()
def download(ctx: typer.Context, slug: SlugArg,
             distribution: Annotated[int | None, typer.Argument(
                 help="The file's id (`fabriek data show`); default: every file.")] = None,
             output: Annotated[Path, typer.Option(
                 "--output", "-o", help="A directory, or a file name for one file.")]
             = Path("."),
             purpose: Annotated[str, typer.Option(
                 "--purpose", help="Why you read it; logged for the data steward.")] = "",
             ) -> None:
    """Download a dataset's files, with a progress bar and their SHA-256 verified.

    Each file is written beside its target and kept only once its checksum matches.

    Example: fabriek data download ai-factories -o data/ --purpose "referral study"
    """
    fab = client(ctx)
    dataset = fab.datalab.get(slug)
    files = [d for d in dataset.distributions if distribution in (None, d.id)]
    if not files:
        out.error(f"{slug} has no file {distribution}" if distribution else
                  f"{slug} has no files yet")
        raise typer.Exit(1)
    if len(files) > 1 and not output.is_dir():
        output.mkdir(parents=True, exist_ok=True)
    with _progress() as bar:
        for d in files:
            task = bar.add_task(f"download {d.file_name}", total=d.byte_size)
            path, sha = fab.datalab.download(
                slug, d.id, output, purpose=purpose,
                progress=lambda got, task=task: bar.update(task, completed=got))  # type: ignore[misc]
            bar.console.print(f"{path}: sha256 {sha} verified")


@app.command()
def reads(ctx: typer.Context, slug: SlugArg, limit: LimitOpt = 100, all: AllOpt = False,
          json: JsonOpt = False) -> None:
    """Who read the dataset, when, for which organisation and grant, and why (stewards).

    Example: fabriek data reads icu-vitals --all
    """
    rows = client(ctx).datalab.reads(slug, limit=limit, all=all)

    def render(rs: list[ReadRead]) -> None:
        out.show(out.table(f"Reads of {slug}", ["at", "who", "org", "action", "file", "job",
                                                 "grant", "rule", "purpose"],
                           [(r.at, r.who, r.organisation_id, r.action.value, r.file_name,
                             r.job_id, r.grant_id, r.rule, r.purpose) for r in rs]))

    out.emit(rows, json, render)


# --- requests and grants ----------------------------------------------------------------------


def _render_requests(rows: list[AccessRequestRead]) -> None:
    out.show(out.table("Access requests", ["id", "dataset", "state", "org", "project",
                                           "requester", "until", "purpose", "reasons"],
                       [(r.id, r.dataset, out.state(r.state.value), r.organisation_id,
                         f"allocation {r.allocation_id}" if r.allocation_id
                         else f"proposal {r.proposal_id}", r.requester,
                         r.requested_expiry.date(), r.purpose, r.decision_reasons)
                        for r in rows], nowrap=("id", "state", "until")))


@app.command("request")
def request_access(
        ctx: typer.Context, slug: SlugArg,
        org: Annotated[int, typer.Option("--org", help="Your organisation.")],
        purpose: Annotated[str, typer.Option("--purpose", help="What the data is for.")],
        until: Annotated[str, typer.Option("--until", help="Last day wanted, YYYY-MM-DD.")],
        allocation: Annotated[int | None, typer.Option(
            "--allocation", help="The project: one allocation…")] = None,
        proposal: Annotated[int | None, typer.Option(
            "--proposal", help="…or a proposal of your organisation.")] = None,
        permit: Annotated[str | None, typer.Option(
            "--permit", help="Data permit reference (permit-level datasets).")] = None,
        json: JsonOpt = False) -> None:
    """Ask a dataset's stewards for access for a project.

    Example: fabriek data request icu-vitals --org 3 --allocation 7 --until 2027-06-30
    --purpose "fine-tune a triage model"
    """
    try:
        date.fromisoformat(until)
    except ValueError:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint="--until") from None
    body = {"organisation_id": org, "purpose": purpose, "expires_on": until,
            "allocation_id": allocation, "proposal_id": proposal, "permit_reference": permit}
    made = client(ctx).datalab.request_access(slug, {k: v for k, v in body.items()
                                                      if v is not None})
    out.emit(made, json, lambda r: out.success(
        f"request {r.id} for {r.dataset} sent; a data steward decides"))


@app.command()
def requests(ctx: typer.Context,
             queue: Annotated[bool, typer.Option(
                 "--queue", help="The requests for the datasets you steward.")] = False,
             state: Annotated[str | None, typer.Option(
                 "--state", help="pending, approved, rejected or withdrawn")] = None,
             dataset: Annotated[str | None, typer.Option("--dataset")] = None,
             limit: LimitOpt = 50, all: AllOpt = False, json: JsonOpt = False) -> None:
    """Your organisations' requests, or (--queue) the steward's queue.

    Example: fabriek data requests --queue
    """
    out.emit(client(ctx).datalab.requests(queue=queue, state=state, dataset=dataset,
                                          limit=limit, all=all), json, _render_requests)


@app.command()
def decide(ctx: typer.Context,
           request_id: Annotated[int, typer.Argument(help="The request's id.")],
           approve: Annotated[bool, typer.Option("--approve/--reject")],
           reasons: Annotated[str, typer.Option("--reasons", help="Why; the applicant sees it.")],
           until: Annotated[str | None, typer.Option(
               "--until", help="Grant until this day (default: as requested).")] = None,
           json: JsonOpt = False) -> None:
    """Approve or reject an access request, with reasons (stewards of the dataset).

    Example: fabriek data decide 12 --approve --reasons "Purpose fits the terms"
    """
    r = client(ctx).datalab.decide(request_id, approve=approve, reasons=reasons,
                                   expires_on=until)
    out.emit(r, json, lambda r: out.success(
        f"request {r.id}: {r.state.value}" + (f", grant {r.grant_id}" if r.grant_id else "")))


@app.command("withdraw-request")
def withdraw_request(ctx: typer.Context, request_id: int,
                     reason: Annotated[str, typer.Option("--reason")] = "") -> None:
    """Withdraw your pending request.

    Example: fabriek data withdraw-request 12 --reason "no longer needed"
    """
    r = client(ctx).datalab.withdraw_request(request_id, reason)
    out.success(f"request {r.id}: {r.state.value}")


@app.command()
def grants(ctx: typer.Context,
           stewarded: Annotated[bool, typer.Option(
               "--stewarded", help="The grants of the datasets you steward.")] = False,
           valid: Annotated[bool, typer.Option("--valid", help="Only valid ones.")] = False,
           dataset: Annotated[str | None, typer.Option("--dataset")] = None,
           limit: LimitOpt = 50, all: AllOpt = False, json: JsonOpt = False) -> None:
    """Your organisations' grants, or (--stewarded) those you gave.

    Example: fabriek data grants --valid
    """
    rows = client(ctx).datalab.grants(stewarded=stewarded, valid=valid, dataset=dataset,
                                      limit=limit, all=all)

    def render(gs: list[GrantRead]) -> None:
        out.show(out.table("Grants", ["id", "dataset", "state", "org", "project", "until",
                                      "permit", "purpose"],
                           [(g.id, g.dataset, out.state(g.state), g.organisation_id,
                             f"allocation {g.allocation_id}" if g.allocation_id
                             else f"proposal {g.proposal_id}", g.expires_at,
                             g.permit_reference, g.purpose) for g in gs],
                           nowrap=("id", "state")))

    out.emit(rows, json, render)


@app.command()
def revoke(ctx: typer.Context, grant_id: int,
           reason: Annotated[str, typer.Option("--reason", help="Why; recorded and shown.")],
           json: JsonOpt = False) -> None:
    """End a grant now (stewards of the dataset).

    Example: fabriek data revoke 5 --reason "data shared outside the project"
    """
    g = client(ctx).datalab.revoke(grant_id, reason)
    out.emit(g, json, lambda g: out.success(f"grant {g.id}: {g.state}"))


@app.command()
def export(ctx: typer.Context,
           fmt: Annotated[str, typer.Option("--format", help="ttl (Turtle) or jsonld")] = "ttl",
           output: Annotated[Path | None, typer.Option(
               "--output", "-o", dir_okay=False, help="Write to this file.")] = None) -> None:
    """The whole catalogue as DCAT-AP 3.0 (public).

    Example: fabriek data export --format jsonld -o catalogue.jsonld
    """
    if fmt not in ("ttl", "jsonld"):
        raise typer.BadParameter("ttl or jsonld", param_hint="--format")
    text = client(ctx).datalab.export(fmt)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    out.success(f"catalogue written to {output}")
