"""A translation memory: a user's own sentence pairs, used at once, without retraining.

Translators' tools have long kept one: a sentence translated before is translated the same way again.
Here a pair does two things. Its exact source sentence (up to surrounding spaces) is answered with the
stored translation, as a memory's "100 % match" is. And its target tokens, teacher-forced through the
model, join the kNN-MT datastore's memory (knn.py, retrieve/datastore.py), so that sentences that
*resemble* it lean on it too: its terms, its word order, its names.

Pairs already in the memory are not added twice. Adding is atomic (the datastore swaps in a complete
new memory), so a process killed while adding leaves the memory as it was.
"""

from scratchml.retrieve.datastore import Datastore
from scratchml.retrieve.knn import KNNSettings
from scratchml.translate.datastore import entries_of
from scratchml.translate.explain import explain
from scratchml.translate.knn import KNN
from scratchml.translate.normalize import Style


class TranslationMemory:
    def __init__(self, translator, datastore: Datastore, settings: KNNSettings | None = None):
        self.translator, self.datastore = translator, datastore
        self.knn = KNN(datastore, settings)
        first = datastore.meta["examples"]  # the examples after the store's own are the memory's
        self.exact = {e["source"].strip(): e["target"] for e in datastore.examples[first:]}

    def __len__(self) -> int:
        return len(self.exact)

    def add(self, pairs: list[tuple[str, str]], progress: bool = False) -> int:
        """Add the pairs not already stored; returns how many were new."""
        new = [(en.strip(), es.strip()) for en, es in dict.fromkeys(pairs) if self.exact.get(en.strip()) != es.strip()]
        if not new:
            return 0
        keys, values, origins = entries_of(self.translator, new, progress)
        self.datastore.add(keys, values, [{"source": en, "target": es} for en, es in new], origins)
        self.exact.update(new)
        return len(new)

    def translate(self, texts: list[str], **options) -> list[str]:
        """Like ``Translator.translate`` with kNN-MT, stored sentences answered from the memory."""
        todo = [i for i, t in enumerate(texts) if t.strip() not in self.exact]
        decoded = iter(self.translator.translate([texts[i] for i in todo], knn=self.knn, **options) if todo else [])
        todo = set(todo)
        return [next(decoded) if i in todo else self.exact[t.strip()] for i, t in enumerate(texts)]


class RetrievalTranslator:
    """A ``Translator`` that decodes with kNN-MT and answers the memory's sentences from it: what the
    translation service runs with ``--knn``. Everything else is the wrapped translator's."""

    def __init__(self, translator, memory: TranslationMemory):
        self.translator, self.memory = translator, memory

    def __getattr__(self, name):
        return getattr(self.translator, name)

    def prepare(self, texts: list[str], normalize: bool = True, split: bool = True):
        """As ``Translator.prepare``; a text the memory holds becomes its stored translation, kept verbatim."""
        prepared = self.translator.prepare(texts, normalize, split)
        for i, text in enumerate(texts):
            stored = self.memory.exact.get(text.strip())
            if stored is not None:
                prepared.texts[i], prepared.styles[i], prepared.segments[i] = stored, Style(verbatim=True), []
        return prepared

    def translate_ids(self, sources, **options):
        return self.translator.translate_ids(sources, knn=self.memory.knn, **options)

    def neighbours(self, text: str, show: int = 3) -> dict:
        """The stored examples behind each token of the text's translation (explain.py)."""
        return explain(self.translator, self.memory.knn, text, show)

    def translate(self, texts, **options):
        single = isinstance(texts, str)
        out = self.memory.translate([texts] if single else list(texts), **options)
        return out[0] if single else out
