"""`GET /api/v1/act/ask`: questions about the AI Act answered with quoted, linked passages."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Query, Request

from fabriek.compliance.search import ActAnswer, ActSearch
from fabriek.compliance.search.service import MAX_LIMIT

router = APIRouter(prefix="/api/v1", tags=["ai-act"])
_lock = threading.Lock()


def act_search(request: Request) -> ActSearch:
    """The app's searcher, made at first use: its index lives under the data directory."""
    state = request.app.state
    with _lock:
        if getattr(state, "act_search", None) is None:
            state.act_search = ActSearch(state.settings.data_dir / "cache" / "act-search")
        return state.act_search


@router.get("/act/ask", response_model=ActAnswer)
def ask(
    request: Request,
    q: Annotated[str, Query(description="The question, in plain English or Dutch "
                                        "(at most 500 characters).")],
    lang: Annotated[str | None, Query(description="en or nl; detected when left out.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many "
                                                                "articles and annex points.")] = 5,
) -> ActAnswer:
    """The articles, paragraphs, annex points and recitals of Regulation (EU) 2024/1689 that
    best answer the question, ranked, each quoting its best-matching paragraph and linked to
    EUR-Lex, with the ranking mode used (public: the Act is public). Not legal advice."""
    # Never wait for the semantic re-ranker to be built: the answer says when it is not used.
    return act_search(request).ask(q, lang=lang, limit=limit, wait=False)
