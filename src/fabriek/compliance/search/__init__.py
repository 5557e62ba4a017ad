"""Questions about the AI Act answered with ranked, quoted and linked passages of its text."""

from fabriek.compliance.search.schemas import ActAnswer, Passage
from fabriek.compliance.search.service import ActSearch, clean_question

__all__ = ["ActAnswer", "ActSearch", "Passage", "clean_question"]
