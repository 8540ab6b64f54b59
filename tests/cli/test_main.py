"""The command's error handling that no single system owns: missing extras, standard streams."""

import builtins
import os
import subprocess
import sys

import pytest

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


# ---- standard streams: the real command, as a subprocess, in the states a shell can leave them in ----

COMMAND = [sys.executable, "-m", "scratchml.cli.main"]


@pytest.fixture(scope="module")
def byte_tokenizer(tmp_path_factory):
    """256 byte ids, no merges: `bpe decode` prints text for ids without loading torch."""
    from scratchml.bpe import Tokenizer
    path = tmp_path_factory.mktemp("tok") / "tok.json"
    Tokenizer([]).save(path)
    return str(path)


def shell(redirection: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run the command with a shell redirection applied to it, as a user would type it."""
    return subprocess.run(["sh", "-c", f'exec "$0" "$@" {redirection}', *COMMAND, *args],
                          capture_output="stdout" not in kwargs, text=True, timeout=60, **kwargs)


def assert_one_line_error(proc, message):
    err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode()
    assert proc.returncode == 1, (proc.returncode, err)
    assert err.startswith("scratchml: error: ") and err.count("\n") == 1 and message in err, err


def test_closed_stdin_is_an_error_for_a_command_that_reads_it(byte_tokenizer):
    proc = shell("<&-", "bpe", "decode", "--tokenizer", byte_tokenizer)
    assert_one_line_error(proc, "stdin is closed")
    proc = shell("<&-", "bpe", "decode", "--tokenizer", byte_tokenizer, "104", "105")  # does not read it
    assert proc.returncode == 0 and proc.stdout == "hi\n"


def test_closed_stdout_is_refused_before_the_command_runs(byte_tokenizer, tmp_path):
    proc = shell(">&-", "bpe", "decode", "--tokenizer", byte_tokenizer, "104", "105")
    assert_one_line_error(proc, "stdout is closed")
    proc = shell(">&-", "--version")
    assert_one_line_error(proc, "stdout is closed")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_stdout_is_an_error_not_a_message_at_exit(byte_tokenizer):
    with open("/dev/full", "w") as full:
        proc = shell("", "bpe", "decode", "--tokenizer", byte_tokenizer, "104", "105", stdout=full,
                     stderr=subprocess.PIPE)
    assert_one_line_error(proc, "cannot write to stdout: No space left on device")  # no "Exception ignored"


def test_a_reader_that_stops_early_is_not_an_error(byte_tokenizer, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("104 105\n" * 100_000)  # 300 kB of output: more than a pipe holds
    with open(ids) as stdin:
        proc = subprocess.Popen([*COMMAND, "bpe", "decode", "--tokenizer", byte_tokenizer], stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout.read(3) == b"hi\n"
        proc.stdout.close()  # like `| head -1`: the command's next writes meet a broken pipe
        err = proc.stderr.read()
        proc.stderr.close()
        assert proc.wait(timeout=60) == 0 and err == b""


def test_a_pipe_closed_before_any_output_is_an_error(byte_tokenizer):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command starts: the output can go nowhere
    try:
        proc = subprocess.run([*COMMAND, "bpe", "decode", "--tokenizer", byte_tokenizer, "104", "105"],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert_one_line_error(proc, "broken pipe")


def test_closed_streams_in_process(byte_tokenizer, monkeypatch, capsys):
    """The same through ``main()``: a closed stream is None in ``sys``, and is restored afterwards."""
    monkeypatch.setattr(sys, "stdin", None)
    assert main(["bpe", "decode", "--tokenizer", byte_tokenizer]) == 1
    assert capsys.readouterr().err == "scratchml: error: stdin is closed: give the input as arguments, " \
                                      "or redirect a file or a pipe to stdin\n"
    assert sys.stdin is None
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["bpe", "decode", "--tokenizer", byte_tokenizer, "104"]) == 1
    assert "stdout is closed" in capsys.readouterr().err and sys.stdout is None
