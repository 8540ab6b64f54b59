"""The command's error handling that no single system owns."""

import builtins
import sys

from scratchml.cli.main import main


def test_a_missing_optional_dependency_names_the_extra_to_install(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name="torch")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    for module in [m for m in sys.modules if m.startswith("scratchml.translate")]:
        monkeypatch.delitem(sys.modules, module)  # imported again, without torch (restored after the test)
    assert main(["translate", "Thank you."]) == 1
    err = capsys.readouterr().err
    assert "needs torch" in err and "pip install 'scratchml[nmt]'" in err and "Traceback" not in err
