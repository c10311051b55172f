"""Bad files, paths and configs end in one line: the culprit named, a non-zero exit code, no traceback, and
no output file left behind. One case per line; the default suite runs a few, the slow suite all."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from litmlp.checkpoint import load_checkpoint
from litmlp.errors import LitmlpError
from litmlp.runtime.checkpoint_io import AtomicCheckpointIO
from tests.conftest import run_cli, train_quickly
from tests.helpers.tables import write_flowers

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
        ["train", f"hydra.run.dir={LONG}"],
        f"hydra.run.dir={LONG}: cannot create this directory: File name too long (a name in the path",
        exit_code=2,
        quick=True,
    ),
    "logs in an unwritable directory": Case(
        ["train", "trainer.max_epochs=1"], "hydra.run.dir=/proc/logs/train/runs/", exit_code=2, cwd="/proc"
    ),
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
    # The README's exit codes: a missing required value and a change refused on resume are usage errors.
    "eval without a checkpoint": Case(
        ["eval"], "missing required value: ckpt_path (set it on the command line: ckpt_path=...)", exit_code=2
    ),
    "predict without input and output": Case(
        ["predict", f"ckpt_path={CKPT}"], "missing required value: input, output", exit_code=2
    ),
    "a change refused on resume": Case(
        ["train", "resume=nowhere", "model.optimizer.lr=0.5"],
        "'model.optimizer.lr=0.5' cannot change when resuming",
        exit_code=2,
        quick=True,
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


@pytest.mark.slow
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


# Values that torch or Lightning refuse only once fitting starts, or never: each is named by its key before
# anything is built (exit code 2, no checkpoint, no metrics file). `quick`: also in the default suite.
BAD_VALUES: dict[str, tuple[str, bool]] = {
    "model.optimizer.lr=-1": ("model.optimizer.lr=-1.0: must be at least 0", False),
    "model.optimizer.weight_decay=-0.1": ("model.optimizer.weight_decay=-0.1: must be at least 0", False),
    "model.optimizer.eps=-1": ("model.optimizer.eps=-1.0: must be at least 0", False),
    "model.optimizer.betas=[2,0.9]": (
        "model.optimizer: AdamW refuses these values: Invalid beta parameter at index 0: 2.0",
        False,
    ),
    "model/optimizer=sgd model.optimizer.momentum=-0.5": (
        "model.optimizer.momentum=-0.5: must be at least 0",
        False,
    ),
    "model.scheduler.T_max=0": ("model.scheduler.T_max=0: must be at least 1", False),
    "model/scheduler=plateau model.scheduler.factor=2": (
        "model.scheduler.factor=2.0: must be above 0 and below 1",
        False,
    ),
    "model/scheduler=plateau model.scheduler.patience=-3": (
        "model.scheduler.patience=-3: must be at least 0",
        False,
    ),
    "model.net.hidden=[-4]": ("model.net.hidden=[-4]: every layer size must be at least 1", False),
    "model.net.hidden=[0]": ("model.net.hidden=[0]: every layer size must be at least 1", True),
    "data.batch_size=0": ("data.batch_size=0: must be at least 1", False),
    "data.batch_size=-5": ("data.batch_size=-5: must be at least 1", False),
    "data.eval_batch_size=0": ("data.eval_batch_size=0: must be at least 1", False),
    "data.num_workers=-1": ("data.num_workers=-1: must be at least 0", False),
    "data.num_features=0": ("data.num_features=0: must be at least 1", False),
    "data.num_samples=0": ("data.num_samples=0: must be at least 1", False),
    "data.num_classes=1": ("data.num_classes=1: must be at least 2", False),
    "data.noise=-1": ("data.noise=-1.0: must be at least 0", False),
    "data.val_fraction=1.5": ("data.val_fraction=1.5: must be above 0 and below 1", False),
    "data.test_fraction=-0.1": ("data.test_fraction=-0.1: must be at least 0 and below 1", False),
    "data.val_fraction=0.5 data.test_fraction=0.5": (
        "data.val_fraction=0.5 and data.test_fraction=0.5 must be fractions that leave rows for training",
        False,
    ),
    "trainer.gradient_clip_val=-1": ("trainer.gradient_clip_val=-1: must be at least 0", False),  # as written
    "trainer.max_epochs=-5": ("trainer.max_epochs=-5: must be at least -1", False),
    "trainer.min_epochs=-1": ("trainer.min_epochs=-1: must be at least 0", False),
    "trainer.accumulate_grad_batches=0": ("trainer.accumulate_grad_batches=0: must be at least 1", False),
    "trainer.check_val_every_n_epoch=0": ("trainer.check_val_every_n_epoch=0: must be at least 1", False),
    "trainer.log_every_n_steps=-1": ("trainer.log_every_n_steps=-1: must be at least 0", False),
    "callbacks.early_stopping.patience=-1": (
        "callbacks.early_stopping.patience=-1: must be at least 0",
        False,
    ),
    "callbacks.early_stopping.min_delta=-0.1": (
        "callbacks.early_stopping.min_delta=-0.1: must be at least 0",
        False,
    ),
    "callbacks.model_checkpoint.save_top_k=-2": (
        "callbacks.model_checkpoint.save_top_k=-2: must be at least -1",
        False,
    ),
    "hydra.run.dir=/dev/null/run": (
        "hydra.run.dir=/dev/null/run: cannot create this directory: Not a directory",
        False,
    ),
}


def test_the_bad_value_corpus_is_large_enough():
    assert len(BAD_VALUES) >= 25


@pytest.mark.parametrize(
    "overrides",
    [pytest.param(key, marks=() if quick else pytest.mark.slow) for key, (_, quick) in BAD_VALUES.items()],
)
def test_a_bad_value_is_named_by_its_key_before_anything_is_written(tmp_path, overrides):
    expected, _ = BAD_VALUES[overrides]
    run_dir = [] if "hydra.run.dir" in overrides else ["hydra.run.dir=run"]
    result = run_cli(
        "train", "trainer=cpu", "data.num_samples=300", *run_dir, *overrides.split(), cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [f"litmlp train: error: {expected}"]
    assert "Traceback" not in result.stdout
    assert [p.name for p in tmp_path.rglob("*") if p.suffix == ".ckpt" or p.name == "metrics.json"] == []


def damage(checkpoint: Path, out: Path, how: str) -> Path:
    """A copy of `checkpoint` with one byte flipped inside a weight tensor, or cut in half."""
    data = bytearray(checkpoint.read_bytes())
    if how == "truncated":
        out.write_bytes(bytes(data[: len(data) // 2]))
        return out
    weight = torch.load(checkpoint, weights_only=True)["state_dict"]["net.layers.0.weight"]
    start = data.find(weight.contiguous().view(torch.uint8).numpy().tobytes()[:16])
    assert start > 0
    data[start + 5] ^= 0xFF  # inside the tensor's bytes: torch's reader does not notice
    out.write_bytes(bytes(data))
    return out


DAMAGE = {
    "flipped": "is corrupted: its content does not match the digest written with it",
    "truncated": "the file is truncated (a zip archive without its end)",
}


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_a_damaged_checkpoint_is_refused_when_loaded(tmp_path, how):
    written = tmp_path / "last.ckpt"
    weights = {"net.layers.0.weight": torch.randn(30, 50), "net.layers.0.bias": torch.zeros(30)}
    AtomicCheckpointIO().save_checkpoint({"state_dict": weights, "epoch": 0}, written)  # as training writes
    assert load_checkpoint(written)["state_dict"]["net.layers.0.weight"].equal(weights["net.layers.0.weight"])
    with pytest.raises(LitmlpError, match=re.escape(DAMAGE[how])):
        load_checkpoint(damage(written, tmp_path / "damaged.ckpt", how))


@pytest.mark.slow
@pytest.mark.parametrize("how", sorted(DAMAGE))
@pytest.mark.parametrize("command", ["eval", "predict", "export", "resume"])
def test_nothing_is_evaluated_predicted_exported_or_resumed_from_a_damaged_checkpoint(
    checkpoint, workdir, tmp_path, how, command
):
    run = tmp_path / "run"
    shutil.copytree(checkpoint.parent.parent, run)
    damage(checkpoint, run / "checkpoints" / "last.ckpt", how)
    damaged = run / "checkpoints" / "last.ckpt"
    args = {
        "eval": ["eval", f"ckpt_path={damaged}"],
        "predict": [
            "predict",
            f"ckpt_path={damaged}",
            f"input={write_flowers(tmp_path / 'in.csv', 20)}",
            "output=out.csv",
        ],
        "export": ["export", f"ckpt_path={damaged}", "output=model.pt"],
        "resume": ["train", f"resume={run}", "trainer.max_epochs=3"],
    }[command]
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert DAMAGE[how] in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out.csv").exists()
    assert not (tmp_path / "model.pt").exists()
