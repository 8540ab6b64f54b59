"""Every dataset scratchml uses: its files, their sha256, and where they come from.

The cache directory (see ``cache.py``) is laid out exactly like this registry:
``<cache>/<dataset>/<file>``. A file with ``extract_from`` is unpacked from a zip member of another
file of the same dataset instead of being downloaded on its own.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class DataFile:
    name: str                      # path inside the dataset folder
    sha256: str
    url: str | None = None         # public source (None: extracted from another file)
    extract_from: tuple[str, str] | None = None  # (archive file name, member inside the zip)


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    license: str
    files: tuple[DataFile, ...]

    def file(self, name: str) -> DataFile:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(f"dataset {self.name!r} has no file {name!r}")


_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_OPUS_TESTSETS = ("https://raw.githubusercontent.com/Helsinki-NLP/OPUS-MT-testsets/"
                  "ac0f19c0be3cb4e0d9450fcb2d7a9847c4bdd180/testsets/eng-spa/")

DATASETS: dict[str, Dataset] = {d.name: d for d in [
    Dataset(
        name="mnist",
        description="MNIST handwritten digits, 60k train / 10k test, 28x28 uint8 (LeCun et al. 1998)",
        license="CC BY-SA 3.0",
        files=tuple(DataFile(name, sha, _MNIST_URL + name) for name, sha in [
            ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        ]),
    ),
    Dataset(
        name="en-es",
        description="English-Spanish Tatoeba pairs (manythings.org/anki, 2018-05-13), 118,964 lines",
        license="CC BY 2.0 FR",
        files=(
            DataFile("spa-eng.zip", "0c4fd7825d3d872488d38c157f784e035edab4f2ff0df25a2a208790ecb5b58f",
                     "https://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip"),
            DataFile("spa.txt", "6ec60e212f812ee3430f7568ea6f33b6fb080e32193c5952e8da0ee8ba45574c",
                     extract_from=("spa-eng.zip", "spa-eng/spa.txt")),
        ),
    ),
    Dataset(
        name="en-es-test",
        description="Tatoeba-test v2020-07-28 eng-spa (10,000) and WMT newstest2013 (3,000)",
        license="CC BY 2.0 FR (Tatoeba); WMT research use (newstest)",
        files=tuple(DataFile(name, sha, _OPUS_TESTSETS + name) for name, sha in [
            ("tatoeba-test-v2020-07-28.eng", "83f4c65736396e017697efeca2d95e2ec2e1a704007a146daa1d7b26a5a4c880"),
            ("tatoeba-test-v2020-07-28.spa", "3e6178cba19d7cbbf949260ffc482423b7bfb609fd6438b284c7904b1f90bb05"),
            ("newstest2013.eng", "ace268a1d9724ca76f6d8e5c720ffdc08f01bdce45630ed8b269dc7918e1c16e"),
            ("newstest2013.spa", "d188693be1ca37a4d3e70bea6edafe6fa9b779b02685fa7ed8d3c51e07b5f9d9"),
        ]),
    ),
    Dataset(
        name="en-es-news",
        description="News Commentary v11 English-Spanish, 277,432 pairs of 7,270 articles (OPUS; Tiedemann 2012), "
                    "detokenized, one `article<TAB>line<TAB>english<TAB>spanish` row per pair",
        license="research and educational use (WMT / OPUS)",
        # Built from the per-article files of github.com/a-rios/CorefMT (commit 343234f6, es-en/):
        # html.unescape, then the Moses detokenizer (sacremoses 0.2.0) on each side; no single public
        # file holds it, so it is not downloaded: see docs/translate.md, "Data".
        files=(DataFile("news-commentary-v11.en-es.tsv.gz",
                        "59272a9e17d1082c2ec437bd31da0b27e30f04ad4a21e0a9a55c4ac743a326ed"),),
    ),
    Dataset(
        name="scifact",
        description="BEIR SciFact: 5,183 scientific abstracts, 1,109 claims (300 test / 809 train) with "
                    "relevance judgments (Wadden et al. 2020; Thakur et al. 2021)",
        license="CC BY-NC 2.0",
        # BEIR's scifact.zip in its layout; corpus.jsonl is rebuilt from the SciFact release (its text
        # matches BEIR's character for character), so no public URL serves these exact bytes and they
        # are not downloaded: see SOURCE.md in the dataset folder.
        files=tuple(DataFile(name, sha) for name, sha in [
            ("corpus.jsonl", "ae39e2b331413acd6c58c262e3d2c1bf2b4afb5407ccfa6d06dd3f06e5da1f28"),
            ("queries.jsonl", "8ff84a7c903f722981cd8d595c022660140c51867b27608a6d4910db86080313"),
            ("qrels/test.tsv", "68c0ac63f1c24b9e8ce497649694f09b2d0850bab7ec2b103cc66996f5f8b3a3"),
            ("qrels/train.tsv", "ac0902d9b1cb717df182aaff1306175877fdb8f55bb5c3e8597ad694fc8e539f"),
        ]),
    ),
    Dataset(
        name="imdb",
        description="IMDb Large Movie Review Dataset v1.0: 25,000 train and 25,000 test reviews labelled "
                    "positive/negative, 50,000 unlabelled (Maas et al. 2011)",
        license="none stated; distributed by the authors for research",
        # The original aclImdb_v1.tar.gz rewritten as JSON lines ({"id", "rating", "label", "text"}, text
        # unchanged); no public URL serves these exact files, so they are not downloaded: see SOURCE.md
        # in the dataset folder for how to make them from the original archive.
        files=tuple(DataFile(name, sha) for name, sha in [
            ("train.jsonl.gz", "e55e309d06079745593e06ca25c2b277b708e3428b2ac84414c677226154513d"),
            ("test.jsonl.gz", "fa95c381230370e549a41ab5b9805e5548a8d179f9ad3f50a388afd65d0bf58d"),
            ("unsup.jsonl.gz", "82ccdf71df77b63d0f9bcfb314a3c288613d87ac3eedfb1cefae424bd06d50b9"),
        ]),
    ),
]}
