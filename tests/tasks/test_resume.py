"""`litmlp train resume=RUN_DIR`: interrupted and resumed runs end bitwise equal to uninterrupted ones."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from litmlp.runtime.resume_run import resume_command
from tests.conftest import run_cli, run_dirs

# 1400 training rows / batch 128 = 11 steps per epoch, 4 epochs = 44 steps, a resume checkpoint every 3.
RUN = (
    "trainer=cpu",
    "data.num_samples=2000",
    "trainer.max_epochs=4",
    "callbacks.early_stopping=null",
    "callbacks.rich_progress_bar=null",
    "callbacks.resume_checkpoint.every_n_train_steps=3",
    "trainer.log_every_n_steps=2",
)
STEPS_PER_EPOCH = 11
# The Interrupt callback is the tests' own code: a resumed run's config may build it only when trusted.
TRUST = "trusted_targets=[tests.helpers.]"


def interrupt(step: int, hook: str, signal_name: str = "SIGKILL") -> tuple[str, ...]:
    return (
        "+callbacks.interrupt._target_=tests.helpers.interrupt.Interrupt",
        f"+callbacks.interrupt.step={step}",
        f"+callbacks.interrupt.hook={hook}",
        f"+callbacks.interrupt.signal_name={signal_name}",
        "+callbacks.interrupt.marker=${paths.output_dir}/interrupted",
    )


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run, never interrupted."""
    cwd = tmp_path_factory.mktemp("reference")
    result = run_cli("train", *RUN, "hydra.run.dir=run", cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd / "run"


def interrupted_then_resumed(tmp_path: Path, step: int, hook: str, signal_name: str = "SIGKILL") -> Path:
    first = run_cli("train", *RUN, *interrupt(step, hook, signal_name), "hydra.run.dir=run", cwd=tmp_path)
    assert first.returncode != 0, "the run was not interrupted"
    run = tmp_path / "run"
    assert (run / "interrupted").exists()
    assert not (run / "metrics.json").exists()
    resumed = run_cli("train", f"resume={run}", TRUST, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return run


def assert_same_run(run: Path, reference: Path, steps: int = 4 * STEPS_PER_EPOCH) -> None:
    expected = weights(reference)
    for name, tensor in weights(run).items():
        assert torch.equal(tensor, expected[name]), (
            f"{name}: max abs diff {(tensor - expected[name]).abs().max()}"
        )
    final, reference_final = (json.loads((r / "metrics.json").read_text()) for r in (run, reference))
    assert final["test"] == reference_final["test"]
    assert final["val"] == reference_final["val"]
    assert final["global_step"] == reference_final["global_step"] == steps
    assert Path(final["best_checkpoint"]).name == Path(reference_final["best_checkpoint"]).name
    # The same files: none left over from the stopped run (a best checkpoint written after the resume
    # checkpoint, a write cut short).
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == sorted(
        p.name for p in (reference / "checkpoints").iterdir()
    )
    # Every TensorBoard tag holds the uninterrupted run's points: same steps, same values, none lost.
    assert scalars(run) == scalars(reference)


@pytest.fixture(scope="session")
def resumed_mid_epoch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Killed at step 7 (mid-epoch, between the step checkpoints 6 and 9), then resumed."""
    return interrupted_then_resumed(tmp_path_factory.mktemp("mid_epoch"), 7, "batch_end")


@pytest.mark.slow
def test_resume_after_sigkill_mid_epoch_matches_uninterrupted_run(resumed_mid_epoch, reference):
    assert_same_run(resumed_mid_epoch, reference)


@pytest.mark.parametrize(
    ("step", "hook"),
    [
        pytest.param(2 * STEPS_PER_EPOCH, "batch_end", marks=pytest.mark.slow),  # an epoch's last step
        pytest.param(10, "batch_start", marks=pytest.mark.slow),  # the step right after a checkpoint (9)
        pytest.param(STEPS_PER_EPOCH, "validation_end", marks=pytest.mark.slow),  # before the epoch-end save
        # While writing the epoch-end checkpoint, after the epoch's best one (epoch_000.ckpt): the resumed
        # run repeats from step 9 and writes that best checkpoint again, under the same name.
        pytest.param(STEPS_PER_EPOCH, "second_checkpoint_write", marks=pytest.mark.slow),
        pytest.param(
            2 * STEPS_PER_EPOCH, "epoch_start", marks=pytest.mark.slow
        ),  # just after an epoch-end save
        pytest.param(12, "checkpoint_write", marks=pytest.mark.slow),  # while writing a step checkpoint
        # In the first steps: from the checkpoint taken when training started.
        pytest.param(2, "batch_start", marks=pytest.mark.slow),
    ],
)
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path, reference, step, hook):
    run = interrupted_then_resumed(tmp_path, step, hook)
    assert_same_run(run, reference)


def test_sigkill_during_checkpoint_write_leaves_the_previous_checkpoint_loadable(tmp_path):
    result = run_cli("train", *RUN, *interrupt(12, "checkpoint_write"), "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == -9
    checkpoints = tmp_path / "run" / "checkpoints"
    assert list(checkpoints.glob(".last.ckpt.*.partial.ckpt"))  # the kill hit mid-write
    # the previous one: the end of epoch 1 (step 11); step 12 was being written
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["global_step"] == 11


@pytest.mark.slow
def test_tensorboard_after_resume_has_one_point_per_step_equal_to_uninterrupted(resumed_mid_epoch, reference):
    got, expected = scalars(resumed_mid_epoch), scalars(reference)
    assert sorted(got) == sorted(expected)
    for tag, points in expected.items():
        assert got[tag] == points, tag
        steps = [step for step, _ in got[tag]]
        # Lightning writes its `epoch` scalar with every epoch-level log call (train and val share a step).
        if tag != "epoch":
            assert len(steps) == len(set(steps)), f"{tag} has duplicated steps"


@pytest.mark.parametrize(
    ("signal_name", "exit_code"), [("SIGTERM", 143), pytest.param("SIGINT", 130, marks=pytest.mark.slow)]
)
def test_stop_signal_saves_a_resumable_checkpoint_and_says_how_to_resume(
    tmp_path, reference, signal_name, exit_code
):
    first = run_cli("train", *RUN, *interrupt(7, "batch_end", signal_name), "hydra.run.dir=run", cwd=tmp_path)
    run = tmp_path / "run"
    assert first.returncode == exit_code
    assert f"stopped by {signal_name}" in first.stderr
    assert f"litmlp train resume={run}" in first.stderr
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 7
    assert run_cli("train", f"resume={run}", TRUST, cwd=tmp_path).returncode == 0
    assert_same_run(run, reference)


@pytest.mark.slow
def test_sigusr1_under_slurm_requeues_the_job(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "scontrol.args"}\n')
    scontrol.chmod(scontrol.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_ID": "4242"}
    result = run_cli(
        "train", *RUN, *interrupt(5, "batch_end", "SIGUSR1"), "hydra.run.dir=run", cwd=tmp_path, env=env
    )
    assert result.returncode == 138
    assert (tmp_path / "scontrol.args").read_text().split() == ["requeue", "4242"]


@pytest.mark.slow
def test_resuming_a_finished_run_is_a_no_op(tmp_path, reference):
    metrics = reference / "metrics.json"
    before = metrics.read_bytes(), metrics.stat().st_mtime_ns
    result = run_cli("train", f"resume={reference}", cwd=tmp_path)
    assert result.returncode == 0
    assert "already finished" in result.stdout
    assert (metrics.read_bytes(), metrics.stat().st_mtime_ns) == before


@pytest.mark.slow
def test_a_finished_run_trains_on_when_its_epoch_budget_grows(tmp_path, reference):
    assert run_cli("train", *RUN, "trainer.max_epochs=2", "hydra.run.dir=run", cwd=tmp_path).returncode == 0
    result = run_cli("train", "resume=run", "trainer.max_epochs=4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["global_step"] == 4 * STEPS_PER_EPOCH


def test_resume_with_an_unsafe_override_is_refused(tmp_path, reference):
    result = run_cli("train", f"resume={reference}", "model.optimizer.lr=0.5", cwd=tmp_path)
    assert result.returncode == 2  # a usage error, as the README's exit codes say
    assert result.stderr.strip().startswith(
        "litmlp train: error: 'model.optimizer.lr=0.5' cannot change when resuming"
    )


@pytest.mark.slow
def test_resume_latest_picks_the_newest_unfinished_run(tmp_path):
    for _ in range(2):
        result = run_cli("train", *RUN, *interrupt(4, "batch_end", "SIGTERM"), cwd=tmp_path)
        assert result.returncode == 143
    older, newer = sorted((tmp_path / "logs" / "train" / "runs").iterdir())
    result = run_cli("train", "resume=latest", TRUST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (newer / "metrics.json").is_file()
    assert not (older / "metrics.json").exists()


def test_resume_of_a_directory_without_checkpoint_names_the_file(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli("train", "resume=empty", cwd=tmp_path)
    assert result.returncode == 1
    assert "checkpoints/last.ckpt not found" in result.stderr


def test_a_new_run_refuses_a_directory_that_holds_a_run_and_leaves_it_untouched(tmp_path, reference):
    # What a requeued SLURM job or a reused torchrun id meets: a fixed run name used before.
    before = {path: path.read_bytes() for path in reference.rglob("*") if path.is_file()}
    result = run_cli("train", *RUN, "seed=7", f"hydra.run.dir={reference}", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"litmlp train: error: {reference} already holds a run; continue it with: "
        f"litmlp train resume={reference} (or start a new one elsewhere)"
    )
    assert {path: path.read_bytes() for path in reference.rglob("*") if path.is_file()} == before


@pytest.mark.slow
def test_a_run_under_a_path_with_an_apostrophe_resumes_with_the_printed_command(tmp_path):
    cwd = tmp_path / "it's here"
    cwd.mkdir()
    first = run_cli("train", *RUN, "trainer.max_epochs=1", cwd=cwd)
    assert first.returncode == 0, first.stderr[-3000:]
    (run,) = run_dirs(cwd)
    command = shlex.split(resume_command(run))
    assert command[:2] == ["litmlp", "train"]
    assert command[2] == f"resume={run}"
    resumed = run_cli("train", *command[2:], "trainer.max_epochs=2", cwd=cwd)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run / "metrics.json").read_text())["epochs_trained"] == 2


def start_train(cwd: Path, *overrides: str, stdout: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """`litmlp train OVERRIDES` in the background, as a user's shell starts it; stderr kept (bytes)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "litmlp", "train", *overrides],
        cwd=cwd,
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
    )


def wait_for(path: Path, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until `path` exists (the process got there) or the process ended."""
    waited = 0.0
    while not path.exists() and process.poll() is None and waited < timeout:
        time.sleep(0.05)
        waited += 0.05
    assert path.exists(), "the run never reached the pause"


@pytest.mark.slow
def test_a_run_being_trained_cannot_be_resumed_by_a_second_process(tmp_path):
    run = tmp_path / "run"
    pause = (
        "+callbacks.pause._target_=tests.helpers.interrupt.Pause",
        "+callbacks.pause.step=7",
        f"+callbacks.pause.paused={tmp_path / 'paused'}",
        f"+callbacks.pause.resume={tmp_path / 'go'}",
    )
    first = start_train(tmp_path, *RUN, *pause, "hydra.run.dir=run")
    try:
        wait_for(tmp_path / "paused", first)
        log_before = (run / "train.log").read_bytes()
        second = run_cli("train", f"resume={run}", cwd=tmp_path)
        assert second.returncode == 1
        assert second.stderr.strip().splitlines() == [
            f"litmlp train: error: {run} is being trained by another process (pid {first.pid}); wait for it "
            "to end, or stop it (it saves a resumable checkpoint) and resume then"
        ]
        assert (run / "train.log").read_bytes() == log_before  # touched nothing
    finally:
        (tmp_path / "go").touch()
        _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-3000:]
    assert json.loads((run / "metrics.json").read_text())["epochs_trained"] == 4


@pytest.mark.slow
def test_a_run_whose_files_are_links_is_not_resumed_through_them(tmp_path):
    first = run_cli("train", *RUN, *interrupt(7, "batch_end", "SIGTERM"), "hydra.run.dir=run", cwd=tmp_path)
    assert first.returncode == 143
    run = tmp_path / "run"
    outside = tmp_path / "profile.sh"
    outside.write_text("# a shell start-up file\n")
    (run / "error.txt").symlink_to(outside)
    resumed = run_cli("train", f"resume={run}", TRUST, cwd=tmp_path)
    assert resumed.returncode == 1
    assert resumed.stderr.strip().splitlines()[-1] == (
        f"litmlp train: error: {run / 'error.txt'} is a symbolic link; litmlp does not write through links "
        "in a run directory (replace it with a plain file to resume)"
    )
    assert outside.read_text() == "# a shell start-up file\n"


def pause_at(tmp_path: Path, step: int, say: str = "") -> tuple[str, ...]:
    return (
        "+callbacks.pause._target_=tests.helpers.interrupt.Pause",
        f"+callbacks.pause.step={step}",
        f"+callbacks.pause.paused={tmp_path / 'paused'}",
        f"+callbacks.pause.resume={tmp_path / 'go'}",
        f"+callbacks.pause.say={say}",
    )


def last_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "Logging error" not in stderr, stderr[-3000:]
    return stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_a_closed_output_stops_training_after_a_checkpoint_that_resumes_exactly(tmp_path, reference):
    """`litmlp train | head`: once the reader is gone, the run saves, says how to resume, exits 141."""
    process = start_train(
        tmp_path, *RUN, *pause_at(tmp_path, 7, "hello"), "hydra.run.dir=run", stdout=subprocess.PIPE
    )
    try:
        wait_for(tmp_path / "paused", process)
    finally:
        assert process.stdout is not None
        process.stdout.close()  # the reader goes away; the run's next line finds the pipe closed
        (tmp_path / "go").touch()
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=300) == 141
    run = tmp_path / "run"
    assert last_line(stderr) == (
        "litmlp train: stopped by SIGPIPE (its output was closed) after saving a checkpoint; "
        f"continue with: litmlp train resume={run}"
    )
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 7
    assert run_cli("train", f"resume={run}", TRUST, cwd=tmp_path).returncode == 0
    assert_same_run(run, reference)


@pytest.mark.slow
def test_output_closed_before_training_stops_the_run_with_one_line(tmp_path):
    """`litmlp train | head -1`: closed after the first line, before the first checkpoint."""
    process = start_train(tmp_path, *RUN, "hydra.run.dir=run", stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=300) == 141
    run = tmp_path / "run"
    assert last_line(stderr) == (
        f"litmlp train: stopped by SIGPIPE (its output was closed); start it again ({run} holds no "
        "checkpoint to resume from)"
    )
    assert not (run / "metrics.json").exists()


@pytest.mark.slow
def test_a_stop_on_an_epochs_last_step_keeps_that_epochs_train_metrics(tmp_path, reference):
    """The checkpoint is saved at the epoch's end, before Lightning writes the epoch's train metrics: the
    run stops after writing them, and the resumed run (from the next epoch) keeps them."""
    first = run_cli(
        "train",
        *RUN,
        *interrupt(2 * STEPS_PER_EPOCH, "batch_end", "SIGINT"),
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    run = tmp_path / "run"
    assert first.returncode == 130
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 22
    assert [step for step, _ in scalars(run)["train/loss"]] == [10, 21]  # written before the stop
    assert run_cli("train", f"resume={run}", TRUST, cwd=tmp_path).returncode == 0
    assert_same_run(run, reference)


@pytest.mark.slow
def test_ctrl_c_twice_stops_at_once_and_resumes_from_the_previous_checkpoint(tmp_path, reference):
    first = run_cli(
        "train", *RUN, *interrupt(7, "batch_end", "'SIGINT,SIGINT'"), "hydra.run.dir=run", cwd=tmp_path
    )
    run = tmp_path / "run"
    assert first.returncode == 130
    assert last_line(first.stderr) == (
        "litmlp train: stopped by SIGINT again, without waiting for the step's checkpoint; continue from "
        f"its checkpoint at step 6 with: litmlp train resume={run}"
    )
    assert run_cli("train", f"resume={run}", TRUST, cwd=tmp_path).returncode == 0
    assert_same_run(run, reference)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("step", "hook", "signal_name", "exit_code", "saved_step"),
    [
        (0, "sanity_check", "SIGTERM", 143, None),  # before training: nothing to resume
        (4 * STEPS_PER_EPOCH, "test_start", "SIGINT", 130, 4 * STEPS_PER_EPOCH),  # trained, not tested
    ],
)
def test_a_stop_outside_the_training_steps_ends_at_once_saying_whether_it_can_resume(
    tmp_path, reference, step, hook, signal_name, exit_code, saved_step
):
    first = run_cli("train", *RUN, *interrupt(step, hook, signal_name), "hydra.run.dir=run", cwd=tmp_path)
    run = tmp_path / "run"
    assert first.returncode == exit_code
    assert not (run / "metrics.json").exists()
    if saved_step is None:
        assert last_line(first.stderr) == (
            f"litmlp train: stopped by {signal_name}; start it again ({run} holds no checkpoint to "
            "resume from)"
        )
        assert not (run / "checkpoints" / "last.ckpt").exists()
        return
    assert last_line(first.stderr) == (
        f"litmlp train: stopped by {signal_name}; continue from its checkpoint at step {saved_step} with: "
        f"litmlp train resume={run}"
    )
    assert run_cli("train", f"resume={run}", TRUST, cwd=tmp_path).returncode == 0
    assert_same_run(run, reference)


@pytest.mark.slow
def test_a_stop_signal_ends_the_whole_sweep(tmp_path):
    result = run_cli(
        "train",
        "-m",
        *RUN,
        *interrupt(3, "batch_end", "SIGTERM"),
        "seed=0,1",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert result.returncode == 143
    lines = result.stderr.strip().splitlines()
    assert lines[-2].startswith("litmlp train: stopped by SIGTERM after saving a checkpoint; continue with: ")
    assert lines[-1] == "litmlp train: the sweep stopped; its remaining runs were not started"
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir()) == ["0"]
    # The summary is written all the same: the stopped run, unfinished.
    assert "1 runs: 0 ok, 0 failed, 1 unfinished" in (tmp_path / "sweep" / "summary.md").read_text()


@contextmanager
def small_file_system(path: Path, size: str) -> Iterator[Path]:
    """A real file system of `size` at `path` (tmpfs: mounting needs root, as the CI container has)."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


@pytest.mark.slow
def test_a_full_disk_stops_with_one_line_keeping_a_checkpoint_that_resumes_exactly(tmp_path, reference):
    with small_file_system(tmp_path / "disk", "200k") as disk:
        run = disk / "run"
        first = run_cli("train", *RUN, f"hydra.run.dir={run}", cwd=tmp_path)
        assert first.returncode == 1
        stopped = re.fullmatch(
            r"litmlp train: error: (.+): No space left on device; free some space, then continue from its "
            rf"checkpoint at step (\d+) with: litmlp train resume={run}",
            last_line(first.stderr),
        )
        assert stopped, first.stderr[-2000:]
        assert Path(stopped[1]).parent == run / "checkpoints"
        step = int(stopped[2])
        assert step < 4 * STEPS_PER_EPOCH
        assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == step
        assert not list(run.rglob("*partial*"))
        assert not (run / "metrics.json").exists()
        subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)  # space freed
        resumed = run_cli("train", f"resume={run}", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert_same_run(run, reference)


@pytest.mark.slow
def test_a_disk_too_small_for_any_checkpoint_says_to_start_again(tmp_path):
    with small_file_system(tmp_path / "disk", "48k") as disk:
        run = disk / "run"
        first = run_cli("train", *RUN, f"hydra.run.dir={run}", cwd=tmp_path)
        assert first.returncode == 1
        assert last_line(first.stderr) == (
            f"litmlp train: error: {run / 'checkpoints' / 'last.ckpt'}: No space left on device; free some "
            f"space, then start it again ({run} holds no checkpoint to resume from)"
        )
        assert not (run / "checkpoints" / "last.ckpt").exists()


@pytest.fixture(scope="session")
def csv_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run, logging to CSV."""
    cwd = tmp_path_factory.mktemp("csv_reference")
    result = run_cli("train", *RUN, "logger=csv", "hydra.run.dir=run", cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd / "run"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("step", "hook", "signal_name"),
    [(7, "batch_end", "SIGTERM"), (2 * STEPS_PER_EPOCH, "epoch_start", "SIGKILL")],
)
def test_the_csv_logger_file_after_resume_is_the_uninterrupted_runs(
    tmp_path, csv_reference, step, hook, signal_name
):
    first = run_cli(
        "train", *RUN, "logger=csv", *interrupt(step, hook, signal_name), "hydra.run.dir=run", cwd=tmp_path
    )
    assert first.returncode != 0
    run = tmp_path / "run"
    assert run_cli("train", f"resume={run}", TRUST, cwd=tmp_path).returncode == 0
    expected = (csv_reference / "csv" / "metrics.csv").read_text()
    assert "train/loss" in expected.splitlines()[0]
    assert (run / "csv" / "metrics.csv").read_text() == expected


@pytest.mark.slow
def test_a_run_started_with_sigint_ignored_keeps_ignoring_it(tmp_path):
    """A script's background job (`litmlp train &`) or `nohup` starts with SIGINT ignored: Ctrl-C meant
    for the script must not stop it; SIGTERM still does."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by the child, as a shell does
    try:
        process = start_train(tmp_path, *RUN, *pause_at(tmp_path, 7), "hydra.run.dir=run")
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        wait_for(tmp_path / "paused", process)
        process.send_signal(signal.SIGINT)
    finally:
        (tmp_path / "go").touch()
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["global_step"] == 4 * STEPS_PER_EPOCH
