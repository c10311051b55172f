"""Bad files, paths and configs end in one line: the culprit named, a non-zero exit code, no traceback, and
no output file left behind. One case per line; the default suite runs a few, the slow suite all."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import run_cli, train_quickly

LONG = "x" * 300  # longer than any file system allows for one name


def latin1(path: Path, text: str) -> None:
    path.write_bytes(text.encode("latin-1"))


def write_files(root: Path) -> None:
    rows = "".join(f"{i % 7},{i % 5},{'a' if i % 2 else 'b'}\n" for i in range(40))
    latin1(root / "latin_header.csv", "x0,café,label\n" + rows)
    latin1(root / "latin_label.csv", "x0,x1,label\n" + rows.replace(",a\n", ",é\n"))
    (root / "binary.csv").write_bytes(bytes(range(256)) * 40)
    (root / "huge_field.csv").write_text("x0,label\n" + "9" * 200_000 + ",a\n")
    (root / "empty.csv").write_text("")
    (root / "folder.csv").mkdir()
    (root / "conf" / "model").mkdir(parents=True)
    (root / "conf" / "model" / "broken.yaml").write_text("net: [1, 2\nhidden: :\n")


@dataclass
class Case:
    args: list[str]
    culprit: str  # what the one line must name
    exit_code: int = 1
    cwd: str | None = None
    quick: bool = False
    outputs: list[str] = field(default_factory=list)  # files that must not exist afterwards


CKPT = "{ckpt}"
CASES: dict[str, Case] = {
    "latin-1 header": Case(
        ["train", "data=file", "data.path=latin_header.csv"],
        "latin_header.csv: not utf-8 text (byte 0xe9 in the header); if the file has another encoding, "
        "set it: data.encoding=latin-1",
    ),
    "latin-1 label": Case(
        ["train", "data=file", "data.path=latin_label.csv"],
        "latin_label.csv: not utf-8 text (byte 0xe9 on line 3)",
    ),
    "latin-1 predict input": Case(
        ["predict", f"ckpt_path={CKPT}", "input=latin_header.csv", "output=out.csv"],
        "set it: encoding=latin-1",
        outputs=["out.csv"],
    ),
    "unknown encoding": Case(
        ["train", "data=file", "data.path=latin_header.csv", "data.encoding=klingon"],
        "data.encoding=klingon: unknown text encoding",
    ),
    "binary file named .csv": Case(
        ["train", "data=file", "data.path=binary.csv"],
        "binary.csv: binary content (NUL bytes), not a CSV text file",
    ),
    "binary predict input": Case(
        ["predict", f"ckpt_path={CKPT}", "input=binary.csv", "output=out.csv"],
        "binary.csv: binary content",
        outputs=["out.csv"],
    ),
    "field over the csv limit": Case(
        ["train", "data=file", "data.path=huge_field.csv"],
        "huge_field.csv: not a readable CSV file (at row 1: field larger than field limit",
    ),
    "empty data file": Case(["train", "data=file", "data.path=empty.csv"], "empty.csv is empty"),
    "missing data file": Case(
        ["train", "data=file", "data.path=nowhere.csv"], "data file not found: nowhere.csv"
    ),
    "data path name too long": Case(
        ["train", "data=file", f"data.path={LONG}.csv"], "File name too long (a name in the path is longer"
    ),
    "run dir name too long": Case(
        ["train", f"hydra.run.dir={LONG}"], "File name too long (a name in the path is longer", quick=True
    ),
    "logs in an unwritable directory": Case(["train", "trainer.max_epochs=1"], "/proc/logs", cwd="/proc"),
    "predict output is a directory": Case(
        ["predict", f"ckpt_path={CKPT}", "input=latin_label.csv", "output=folder.csv"],
        "output=folder.csv is a directory; name a .csv file to write",
    ),
    "predict output not csv": Case(
        ["predict", f"ckpt_path={CKPT}", "input=latin_label.csv", "output=out.txt"],
        "output=out.txt: predictions are written as CSV",
    ),
    "predict output unwritable": Case(
        [
            "predict",
            f"ckpt_path={CKPT}",
            "input=latin_label.csv",
            "encoding=latin-1",
            "output=/proc/litmlp/out.csv",
        ],
        "/proc/litmlp: No such file or directory",
    ),
    "predict input missing": Case(
        ["predict", f"ckpt_path={CKPT}", "input=nowhere.csv", "output=out.csv"],
        "input file not found: nowhere.csv",
    ),
    "export output unwritable": Case(
        ["export", f"ckpt_path={CKPT}", "output=/proc/litmlp/model.pt"],
        "/proc/litmlp: No such file or directory",
    ),
    "export sample_rows=0": Case(
        ["export", f"ckpt_path={CKPT}", "sample_rows=0", "output=model.pt"],
        "sample_rows=0: the export is checked on at least 1 row",
        outputs=["model.pt"],
    ),
    "export unknown format": Case(
        ["export", f"ckpt_path={CKPT}", "format=pickle"], "format=pickle: choose one of torchscript, onnx"
    ),
    "eval of a binary file": Case(["eval", "ckpt_path=binary.csv"], "cannot read checkpoint binary.csv"),
    "eval of a directory": Case(["eval", "ckpt_path=folder.csv"], "checkpoint not found: folder.csv"),
    "eval checkpoint name too long": Case(["eval", f"ckpt_path={LONG}.ckpt"], "File name too long"),
    "user yaml that does not parse": Case(
        ["train", "--config-dir", "conf", "model=broken"],
        "conf/model/broken.yaml, line 2: not valid YAML (expected ',' or ']', but got ':')",
        exit_code=2,
        quick=True,
    ),
    "unknown config option": Case(
        ["train", "model=nope"], "unknown option 'nope' for config group 'model'", exit_code=2
    ),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad_inputs")
    write_files(root)
    return root


@pytest.fixture(scope="module")
def checkpoint(workdir: Path) -> Path:
    return train_quickly(workdir, "data.num_samples=300") / "checkpoints" / "last.ckpt"


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 20


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=() if case.quick else pytest.mark.slow) for name, case in CASES.items()]
)
def test_a_bad_input_ends_in_one_line_naming_it(workdir, request, name):
    case = CASES[name]
    if any(CKPT in arg for arg in case.args):
        checkpoint = request.getfixturevalue("checkpoint")
        args = [arg.replace(CKPT, str(checkpoint)) for arg in case.args]
    else:
        args = list(case.args)
    before = {path for path in workdir.rglob("*") if "partial" in path.name}
    result = run_cli(*args, cwd=Path(case.cwd) if case.cwd else workdir)
    assert result.returncode == case.exit_code, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("litmlp ")]
    assert len(lines) == 1, result.stderr[-2000:]
    assert case.culprit in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert {path for path in workdir.rglob("*") if "partial" in path.name} == before
    for output in case.outputs:
        assert not (workdir / output).exists()


def test_an_internal_error_is_one_line_with_the_traceback_in_the_log(tmp_path):
    result = run_cli(
        "train",
        "trainer=cpu",
        "data.num_samples=300",
        "+callbacks.boom._target_=tests.helpers.boom.Boom",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "litmlp train: internal error: RuntimeError: boom (LITMLP_DEBUG=1 for the traceback)"
    )
    assert "Traceback" not in result.stderr
    log = (tmp_path / "run" / "train.log").read_text()
    assert "Traceback (most recent call last)" in log
    assert 'raise RuntimeError("boom")' in log
    assert not (tmp_path / "run" / "metrics.json").exists()
