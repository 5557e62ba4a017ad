"""Words for search: tokenising, stop words, Snowball stemming and language detection (pure).

The index and the query go through the same `terms()`, so what is stored and what is asked
always meet. Stemming is done here rather than by an FTS5 tokenizer: SQLite ships only an
English (Porter) stemmer, and Dutch needs the Snowball Dutch algorithm.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import snowballstemmer

Lang = Literal["en", "nl"]
LANGS: tuple[Lang, ...] = ("en", "nl")
LANGUAGE_NAMES: dict[Lang, str] = {"en": "English", "nl": "Dutch"}

_WORD = re.compile(r"\w+", re.UNICODE)


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Short, common function words: they carry no meaning for ranking and are what tells the two
# languages apart. Words that mean something in the Act ("use", "data") are left out on purpose.
STOP_WORDS: dict[Lang, frozenset[str]] = {
    "en": _word_set("""
        a about above after again against all am an and any are as at be because been before
        being below between both but by can could did do does doing down during each few for
        from further had has have having he her here hers herself him himself his how i if in
        into is it its itself just me more most my myself no nor not now of off on once only
        or other our ours ourselves out over own same she should so some such than that the
        their theirs them themselves then there these they this those through to too under
        until up very was we were what when where which while who whom why will with would you
        your yours yourself yourselves shall may must also what's i'm don't does doesn't am
        us let get got want need anything something thing things ok okay please
        """),
    "nl": _word_set("""
        aan al alle alles als altijd andere ben bij daar dan dat de der deze die dit doch doen
        door dus een eens en er ge geen geweest haar had heb hebben heeft hem het hier hij hoe
        hun iemand iets ik in is ja je jij jou jouw kan kon kunnen maar me meer men met mij mijn
        moet moeten na naar niet niets nog nu of om omdat ons onze ook op over reeds te tegen
        toch toen tot u uit uw van veel voor want waren was wat we wel werd wezen wie wil wij
        wordt worden zal ze zelf zich zij zijn zo zonder zou zouden mag mogen welke waar wanneer
        waarom hoeveel onder dient dienen gaat gaan mijn onze ons jullie heb hebt
        """),
}

_STEMMER_NAMES: dict[Lang, str] = {"en": "english", "nl": "dutch"}


@lru_cache(maxsize=2)
def _stemmer(lang: Lang) -> snowballstemmer.stemmer:  # type: ignore[name-defined]
    return snowballstemmer.stemmer(_STEMMER_NAMES[lang])


def fold(text: str) -> str:
    """Lower case without diacritics: 'geïnformeerd' and 'geinformeerd' are one word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


@lru_cache(maxsize=65536)
def _stem(lang: Lang, word: str) -> str:
    return _stemmer(lang).stemWord(word)


def terms(text: str, lang: Lang, *, keep_stop_words: bool = False) -> list[str]:
    """The stemmed search terms of `text`, in order; stop words dropped unless asked."""
    stops = STOP_WORDS[lang]
    return [_stem(lang, w) for w in words(text) if keep_stop_words or w not in stops]


_LINKS = ("", "s", "e", "en")  # Dutch compounds join their parts with -s-, -e-, -en- or nothing


def split_compound(word: str, vocabulary: Mapping[str, int]) -> tuple[str, str] | None:
    """Two words of the Act that make up an unknown word ('elektriciteitsnet' → 'elektriciteit',
    'net'), the split whose rarer part is most frequent; None for known or unsplittable words.

    Dutch writes compounds as one word, so a question's 'watervoorziening' would otherwise
    never meet the Act's 'voorziening van water'."""
    if word in vocabulary or len(word) < 7:
        return None
    best: tuple[int, str, str] | None = None
    for cut in range(3, len(word) - 2):
        head, rest = word[:cut], word[cut:]
        if head not in vocabulary:
            continue
        for link in _LINKS:
            tail = rest[len(link) :]
            if rest.startswith(link) and len(tail) >= 3 and tail in vocabulary:
                score = min(vocabulary[head], vocabulary[tail])
                if best is None or score > best[0]:
                    best = (score, head, tail)
    return None if best is None else (best[1], best[2])


@dataclass(frozen=True)
class Detection:
    lang: Lang
    explanation: str


def detect_language(text: str) -> Detection:
    """English or Dutch by the share of each language's stop words among the words.

    Questions are short, but almost every sentence in either language has a few function words
    ("what", "is", "the" / "wat", "is", "de"); a tie (no such words) defaults to English.
    """
    found = words(text)
    counts = {
        lang: sum(1 for w in found if w in STOP_WORDS[lang] and w not in STOP_WORDS[_other(lang)])
        for lang in LANGS
    }
    lang: Lang = "nl" if counts["nl"] > counts["en"] else "en"
    if counts["en"] == counts["nl"]:
        why = (
            f"no telling English or Dutch words among the {len(found)} words, "
            "so English was assumed"
        )
    else:
        why = (
            f"{counts[lang]} of the {len(found)} words are common {LANGUAGE_NAMES[lang]} "
            f"words, against {counts[_other(lang)]} {LANGUAGE_NAMES[_other(lang)]}"
        )
    return Detection(lang, f"language detected as {LANGUAGE_NAMES[lang]}: {why}")


def _other(lang: Lang) -> Lang:
    return "nl" if lang == "en" else "en"


def compound_parts(text: str, lang: Lang, vocabulary: Mapping[str, int]) -> list[str]:
    """Stemmed parts of the text's words that the Act does not use but are two words it does."""
    stops = STOP_WORDS[lang]
    parts: list[str] = []
    for word in words(text):
        split = None if word in stops else split_compound(word, vocabulary)
        if split:
            parts.extend(_stem(lang, p) for p in split if p not in stops)
    return parts


def decompound(
    word: str, vocabulary: Mapping[str, int], *, min_part: int = 4, min_count: int = 2
) -> list[str]:
    """The words of the Act a long word is made of, known or not ("kwaliteitsbeheersysteem" →
    "kwaliteitsbeheer", "systeem"): the split into the fewest parts, each at least `min_part`
    letters and used at least `min_count` times, joined by nothing or -s-, -e-, -en-; among
    those the one whose rarest part is most frequent. [] when there is none.

    A question's compound then also meets the Act where the Act says it in other words or in
    another compound ("gebruiksverantwoordelijke" also searches "gebruik" and
    "verantwoordelijke"). Splitting the Act's own compounds in the index as well was measured
    too (a parts column at BM25 weight 0.25-1) and added nothing on dev + dev2."""
    n = len(word)
    if n < 2 * min_part:
        return []
    # best[i]: (parts, -rarest count, parts list) of the best split of word[:i]
    best: dict[int, tuple[int, int, list[str]]] = {0: (0, -(10**9), [])}
    for end in range(min_part, n + 1):
        options = []
        for start, (count, rarest, parts) in best.items():
            for link in _LINKS if start else ("",):
                core = word[start + len(link) : end]
                if (
                    len(core) >= min_part
                    and len(core) < n
                    and word.startswith(link, start)
                    and vocabulary.get(core, 0) >= min_count
                ):
                    options.append((count + 1, max(rarest, -vocabulary[core]), [*parts, core]))
        if options:
            best[end] = min(options, key=lambda o: (o[0], o[1]))
    found = best.get(n)
    return found[2] if found and len(found[2]) >= 2 else []


def decompounded(text: str, lang: Lang, vocabulary: Mapping[str, int]) -> list[str]:
    """Stemmed parts of the text's compound words, and the parts of those parts (Dutch only;
    English writes its compounds apart)."""
    if lang != "nl":
        return []
    stops = STOP_WORDS[lang]
    found: list[str] = []
    for word in words(text):
        todo = [] if word in stops else decompound(word, vocabulary)
        while todo:
            part = todo.pop(0)
            if part not in stops:
                found.append(_stem(lang, part))
            todo.extend(decompound(part, vocabulary))
    return found
