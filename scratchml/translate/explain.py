"""Which stored translations did each output token lean on? (``scratchml nmt neighbours``)

The sentence is translated greedily with kNN-MT, recording every step's neighbours and λ (knn.py).
For output token t the explanation lists λ — how much the datastore weighed against the model at that
step — and the nearest stored examples: the sentence pair each came from, the token that followed
the stored state, and its distance. A learner sees the datastore at work: "gato" chosen because the
states nearest to this one were followed by "gato" in pairs about cats.
"""

from scratchml.errors import ScratchMLError
from scratchml.translate.knn import KNN
from scratchml.translate.normalize import prepare


def explain(translator, knn: KNN, text: str, show: int = 3) -> dict:
    """{"source", "translation", "steps": [{"token", "lambda", "neighbours": [...]}, ...]} of the
    first sentence of ``text``."""
    source, style = prepare(text)
    if not source.strip() or style.verbatim:
        raise ScratchMLError("nothing to explain: the text has no word to translate")
    ids = translator.segment(source)[0]
    knn.record, knn.trace = True, []
    try:
        hyp = translator.translate_ids([ids], beam=1, knn=knn)[0]
    finally:
        knn.record = False
    tok = translator.tokenizer
    eos = translator.cfg.eos_id
    steps = []
    for t, step in enumerate(knn.trace):
        found = step["neighbours"]
        token = hyp[t] if t < len(hyp) else eos
        neighbours = []
        for j in range(min(show, found.values.shape[1])):
            if found.values[0, j] < 0:
                break
            example = knn.datastore.examples[int(found.origins[0, j])]
            neighbours.append({"source": example.get("source"), "target": example.get("target"),
                               "token": tok.decode([int(found.values[0, j])], skip_special=False),
                               "distance": round(float(found.distances[0, j]), 2)})
        steps.append({"token": tok.decode([token], skip_special=False), "lambda": round(float(step["lambda"][0]), 3),
                      "neighbours": neighbours})
    return {"source": source, "translation": tok.decode(hyp, skip_special=True), "steps": steps}
