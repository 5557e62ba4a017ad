"""The data lab's closed vocabularies (the open ones, themes and licences, are policy data)."""

from __future__ import annotations

from enum import StrEnum


class AccessLevel(StrEnum):
    """Who may read a dataset's files (descriptions in policy/datalab.yaml)."""

    open = "open"  # anyone, even without signing in
    registered = "registered"  # any signed-in person
    approval = "approval"  # a grant a data steward approved, for a project
    permit = "permit"  # as approval, and the request must carry a permit reference

    @property
    def needs_grant(self) -> bool:
        return self in (AccessLevel.approval, AccessLevel.permit)


class RequestState(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    withdrawn = "withdrawn"


class ReadAction(StrEnum):
    download = "download"  # a person fetched a distribution
    stage = "stage"  # placed next to a job before it starts
    service = "service"  # read by a data-lab service (profiling, conversion, ...)
