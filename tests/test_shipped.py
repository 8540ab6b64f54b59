"""``scratchml.shipped.model_dir``: explicit path, then $SCRATCHML_MODELS, then the installed copy, then the
checkout's; and the packaging that puts ``models/`` into the wheel."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from scratchml import shipped
from scratchml.errors import ScratchMLError
from scratchml.shipped import ENV_VAR, model_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def fake_install(tmp_path, monkeypatch, *copies: str) -> Path:
    """Pretend scratchml is installed in ``tmp_path/site``: shipped.py at site/scratchml/shipped.py,
    with an en-es folder at each of ``copies`` ("package": site/scratchml/models, "checkout": site/models)."""
    site = tmp_path / "site"
    (site / "scratchml").mkdir(parents=True)
    monkeypatch.setattr(shipped, "__file__", str(site / "scratchml" / "shipped.py"))
    for where in copies:
        (site / ("scratchml/models" if where == "package" else "models") / "en-es").mkdir(parents=True)
    return site


def test_explicit_path_wins_over_everything(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert model_dir("en-es", tmp_path / "mine") == tmp_path / "mine"     # returned as it is, even missing
    assert model_dir(path=str(tmp_path)) == tmp_path


def test_env_var_names_the_models_folder(tmp_path, monkeypatch):
    (tmp_path / "en-es").mkdir()
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert model_dir() == tmp_path / "en-es"


def test_env_var_set_but_without_the_model_is_an_error(tmp_path, monkeypatch):
    fake_install(tmp_path, monkeypatch, "package")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(ScratchMLError, match=f"{ENV_VAR} is .*nowhere.*en-es"):
        model_dir()


def test_empty_env_var_counts_as_unset(tmp_path, monkeypatch):
    site = fake_install(tmp_path, monkeypatch, "package")
    monkeypatch.setenv(ENV_VAR, "")
    assert model_dir() == site / "scratchml" / "models" / "en-es"


def test_installed_copy_comes_before_the_checkout(tmp_path, monkeypatch):
    site = fake_install(tmp_path, monkeypatch, "package", "checkout")
    assert model_dir() == site / "scratchml" / "models" / "en-es"


def test_checkout_copy_when_not_installed(tmp_path, monkeypatch):
    site = fake_install(tmp_path, monkeypatch, "checkout")
    assert model_dir() == site / "models" / "en-es"


def test_missing_model_says_where_it_looked_and_how_to_fix(tmp_path, monkeypatch):
    site = fake_install(tmp_path, monkeypatch)
    with pytest.raises(ScratchMLError) as e:
        model_dir("fr-en")
    msg = str(e.value)
    assert str(site / "scratchml" / "models" / "fr-en") in msg and str(site / "models" / "fr-en") in msg
    assert "--model DIR" in msg and ENV_VAR in msg


def test_the_shipped_model_is_found_from_this_checkout():
    found = model_dir()
    assert found.name == "en-es" and (found / "config.json").is_file()


def test_no_torch_import():
    code = "import sys, scratchml.shipped; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_pyproject_lists_every_package():
    """The packages are listed by hand (a package mapped to another folder, scratchml.models, rules out
    discovery): a new sub-package missing from the list would be missing from the wheel."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    in_tree = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "scratchml").rglob("__init__.py")}
    assert set(setuptools["packages"]) == in_tree | {"scratchml.models"}
    assert setuptools["package-dir"] == {"scratchml.models": "models"}
    assert (ROOT / "models" / "en-es").is_dir()
