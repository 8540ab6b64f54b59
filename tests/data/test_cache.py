"""Dataset cache: checksums, missing files, extraction, and the staged real files."""

import hashlib
import zipfile

import pytest

from scratchml.data import cache, registry
from scratchml.errors import ScratchMLError


@pytest.fixture
def fake_dataset(tmp_path, monkeypatch):
    """A registry entry 'toy' with one plain file and one zip member, cached under tmp_path."""
    monkeypatch.setenv("SCRATCHML_DATA", str(tmp_path))
    monkeypatch.setattr(cache, "_VERIFIED", set())
    payload = b"hello\tworld\n"
    (tmp_path / "toy").mkdir()
    with zipfile.ZipFile(tmp_path / "toy" / "toy.zip", "w") as z:
        z.writestr("inner/data.txt", payload)
    zip_sha = hashlib.sha256((tmp_path / "toy" / "toy.zip").read_bytes()).hexdigest()
    ds = registry.Dataset("toy", "test", "none", (
        registry.DataFile("toy.zip", zip_sha, url="http://127.0.0.1:9/toy.zip"),
        registry.DataFile("data.txt", hashlib.sha256(payload).hexdigest(),
                          extract_from=("toy.zip", "inner/data.txt")),
    ))
    monkeypatch.setitem(registry.DATASETS, "toy", ds)
    return tmp_path, payload


def test_extracts_member_and_verifies(fake_dataset):
    root, payload = fake_dataset
    path = cache.fetch("toy", "data.txt")
    assert path == root / "toy" / "data.txt" and path.read_bytes() == payload


def test_wrong_checksum_names_the_file(fake_dataset):
    root, _ = fake_dataset
    (root / "toy" / "data.txt").write_bytes(b"tampered")
    with pytest.raises(ScratchMLError, match=r"data\.txt: checksum mismatch.*delete it"):
        cache.fetch("toy", "data.txt")


def test_missing_file_download_failure_is_clear(fake_dataset):
    root, _ = fake_dataset
    (root / "toy" / "toy.zip").unlink()
    with pytest.raises(ScratchMLError, match=r"toy\.zip is missing and downloading it .* failed"):
        cache.fetch("toy", "toy.zip")
    assert not list((root / "toy").glob("*.part")), "a failed download leaves no partial file"


def test_unwritable_cache_is_clear(fake_dataset, monkeypatch):
    root, _ = fake_dataset
    (root / "blocker").write_text("a file where the cache folder should be")
    monkeypatch.setenv("SCRATCHML_DATA", str(root / "blocker"))
    with pytest.raises(ScratchMLError, match=r"cannot be written.*SCRATCHML_DATA"):
        cache.fetch("toy", "toy.zip")


def test_cut_off_download_is_clear(fake_dataset, monkeypatch):
    import http.client
    root, _ = fake_dataset
    (root / "toy" / "toy.zip").unlink()

    def cut_off(url, timeout):
        raise http.client.IncompleteRead(b"partial", 100)
    monkeypatch.setattr(cache.urllib.request, "urlopen", cut_off)
    with pytest.raises(ScratchMLError, match=r"toy\.zip is missing and downloading it .* failed"):
        cache.fetch("toy", "toy.zip")
    assert not list((root / "toy").glob("*.part"))


def test_unknown_dataset_and_file():
    with pytest.raises(ScratchMLError, match="unknown dataset"):
        cache.fetch("nope", "x")
    with pytest.raises(ScratchMLError, match="no file"):
        cache.fetch("mnist", "x")


@pytest.mark.dataset("mnist", "en-es", "en-es-test")
@pytest.mark.parametrize("name", ["mnist", "en-es", "en-es-test"])
def test_staged_datasets_verify(name):
    folder = cache.dataset_path(name)
    assert all((folder / f.name).exists() for f in registry.DATASETS[name].files)
