"""Running ``scratchml`` in-process for the CLI tests, and the shape of a one-line error."""

from scratchml.cli.main import main


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(result, message):
    code, out, err = result
    assert code == 1 and err.startswith("scratchml: error: ") and err.count("\n") == 1 and message in err, err
