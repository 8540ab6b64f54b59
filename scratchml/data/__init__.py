"""Datasets: a registry of files with checksums, a local cache, and readers for their formats."""

from scratchml.data.cache import cache_dir, dataset_path, fetch, verify
from scratchml.data.idx import read_idx, write_idx
from scratchml.data.registry import DATASETS, DataFile, Dataset

__all__ = [
    "DATASETS", "DataFile", "Dataset",
    "cache_dir", "dataset_path", "fetch", "verify",
    "read_idx", "write_idx",
]
