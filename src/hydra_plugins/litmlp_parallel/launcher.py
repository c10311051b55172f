"""Parallel jobs on one machine: each job runs in a process forked from the sweep's, `n_jobs` at a time.

Forked, not spawned: a spawned worker (Hydra's joblib launcher) imports torch and Lightning again, ~3-6 s
per worker on 2 cores, which is most of a short run. When the sweep starts, one process is forked from it:
it imports the `preload` modules while the sweep composes and checks its jobs' configs, and then forks
every job, importing after each job the modules that job imported (TensorBoard, matplotlib, the user's
own), so only the first jobs pay for them. Every job gets a fresh process of its own, forked from that
state: nothing is left over from another job.

On a machine with GPUs each job is pinned to its own (`CUDA_VISIBLE_DEVICES`), so N GPUs run N jobs at once
and the others queue. The sweep's process never initialises CUDA, which a fork would break: GPUs are counted
from `CUDA_VISIBLE_DEVICES` or the driver's /proc entries.
"""

# No `from __future__ import annotations`: Hydra imports this module while scanning for plugins in a way
# that leaves it out of sys.modules, where dataclasses look up string annotations.
import atexit
import contextlib
import importlib
import logging
import multiprocessing
import os
import pickle
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from litmlp.errors import LitmlpError

log = logging.getLogger(__name__)


@dataclass
class ParallelLauncherConf:
    _target_: str = "hydra_plugins.litmlp_parallel.launcher.ParallelLauncher"
    # Jobs at once; null: one per GPU (`gpus`), or 2 on a machine without GPUs.
    n_jobs: int | None = None
    # The GPUs jobs are pinned to, one job per `gpus_per_job` of them: "auto" (every visible GPU, none on
    # a machine without), a list of device ids, or null (no pinning: each job sees what the sweep sees).
    gpus: Any = "auto"
    gpus_per_job: int = 1
    # Imported once, before the first job is forked: what every job would otherwise import itself.
    preload: list[str] = field(default_factory=lambda: ["torch", "lightning.pytorch"])


ConfigStore.instance().store(group="hydra/launcher", name="litmlp_parallel", node=ParallelLauncherConf)


def visible_gpus() -> list[str]:
    """The GPUs this process may use, found without initialising CUDA."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [device.strip() for device in visible.split(",") if device.strip() and device.strip() != "-1"]
    driver = Path("/proc/driver/nvidia/gpus")
    return [str(index) for index in range(len(list(driver.iterdir())))] if driver.is_dir() else []


def device_slots(gpus: Any, gpus_per_job: int) -> list[str]:
    """One entry per job that may run at once on the GPUs: its CUDA_VISIBLE_DEVICES. `gpus` are indices
    into the GPUs this process sees (as torch numbers them), or "auto" for all of them."""
    visible = visible_gpus()
    if gpus is None:
        return []
    if gpus == "auto":
        devices = visible
    elif "CUDA_VISIBLE_DEVICES" in os.environ:
        unknown = [gpu for gpu in gpus if not 0 <= int(gpu) < len(visible)]
        if unknown:
            raise LitmlpError(
                f"hydra.launcher.gpus={list(gpus)}: GPU {unknown[0]} is not among the {len(visible)} visible "
                f"(CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']})"
            )
        devices = [visible[int(gpu)] for gpu in gpus]
    else:
        devices = [str(gpu) for gpu in gpus]
    if not devices:
        return []
    if gpus_per_job > len(devices):
        raise LitmlpError(
            f"hydra.launcher.gpus_per_job={gpus_per_job}: there are {len(devices)} GPUs to share"
        )
    per_job = max(1, gpus_per_job)
    if len(devices) % per_job:
        log.warning(
            "%d of the %d GPUs are left unused (gpus_per_job=%d)",
            len(devices) % per_job,
            len(devices),
            per_job,
        )
    return [
        ",".join(devices[start : start + per_job]) for start in range(0, len(devices) - per_job + 1, per_job)
    ]


class ParallelLauncher(Launcher):
    def __init__(self, **conf: Any) -> None:
        self.conf = ParallelLauncherConf(**conf)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None
        self.jobs_at_once = 1
        self._forks: _ForkServer | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function
        # Started now: its imports overlap the sweep's check of every job's config (Hydra's basic sweeper
        # composes each before launching any).
        self._forks = _ForkServer(self)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
        assert self.config is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        slots = device_slots(self.conf.gpus, self.conf.gpus_per_job)
        n_jobs = self.conf.n_jobs or len(slots) or 2
        if slots and n_jobs > len(slots):
            log.warning("n_jobs=%d but %d GPU slots: %d jobs at once", n_jobs, len(slots), len(slots))
            n_jobs = len(slots)
        pinned = f", one per GPU slot ({' | '.join(slots)})" if slots else ""
        log.info(
            "Launching %d jobs, %d at a time%s; sweep output dir: %s",
            len(job_overrides),
            n_jobs,
            pinned,
            sweep_dir,
        )
        for idx, overrides in enumerate(job_overrides):
            log.info("\t#%d : %s", initial_job_idx + idx, " ".join(filter_overrides(overrides)))
        assert self._forks is not None
        return self._forks.launch(job_overrides, initial_job_idx, n_jobs, slots)


class _ForkServer:
    """The process every job is forked from: itself forked from the sweep's, it imports `preload` (and,
    without GPUs, what finished jobs imported) and runs the pool of jobs, so the sweep's own process never
    imports torch. The sweep sends it each batch of jobs and waits for their results."""

    def __init__(self, launcher: ParallelLauncher) -> None:
        context = multiprocessing.get_context("fork")
        self.connection, their_end = context.Pipe()
        # The jobs get the sweep's signal handlers (a Ctrl-C ignored by the sweep stays ignored).
        handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
        self.process = context.Process(target=_serve, args=(launcher, their_end, self.connection, handlers))
        self.process.start()
        their_end.close()
        atexit.register(self.close)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int, n_jobs: int, slots: list[str]
    ) -> list[JobReturn]:
        from litmlp.errors import SweepStopped

        self.connection.send(([list(job) for job in job_overrides], initial_job_idx, n_jobs, slots))
        # A Ctrl-C reaches every job from the terminal (one process group): the jobs save and say so, and
        # the sweep waits for them. A SIGTERM sent to the sweep's process alone is passed on to the jobs.
        handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda signum, frame: _send(self.process, signum))
        try:
            reply = self.connection.recv()
        except EOFError:
            raise RuntimeError(f"the parallel launcher's process ended ({self.process.exitcode})") from None
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        if isinstance(reply, BaseException):  # a job's config did not compose, a preload did not import
            raise reply
        if isinstance(reply, tuple):
            raise SweepStopped(*reply)
        return reply

    def close(self) -> None:
        """At the sweep's end: the process ends with it (a job still running gets SIGTERM and saves)."""
        self.connection.close()
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=60)


def _serve(
    launcher: ParallelLauncher, connection: Connection, sweeps_end: Connection, handlers: dict[int, Any]
) -> None:
    """The forking process: imports, then runs each batch the sweep sends until the sweep closes."""
    from litmlp.errors import SweepStopped

    sweeps_end.close()  # inherited: held here, it would keep this end from seeing the sweep go
    _end_with_parent()
    stopped: list[int] = []  # a stop signal that came before the batch's jobs did: none start
    signal.signal(signal.SIGINT, lambda signum, frame: stopped.append(signum))
    failure: BaseException | None = None
    try:
        for module in launcher.conf.preload:
            importlib.import_module(module)
    except Exception as error:  # a typo in hydra.launcher.preload: the sweep says so in one line
        failure = LitmlpError(f"hydra.launcher.preload: {type(error).__name__}: {error}")
    while True:
        try:
            job_overrides, initial_job_idx, n_jobs, slots = connection.recv()
        except EOFError:
            return
        launcher.jobs_at_once = n_jobs
        reply: Any
        if failure is not None:
            reply = failure
        else:  # after a stop signal the pool starts no job and says the sweep stopped
            try:
                pool = _Pool(launcher, n_jobs, slots, handlers, stopped)
                reply = pool.run(job_overrides, initial_job_idx)
            except SweepStopped as stop:
                reply = (stop.exit_code, stop.sweep_dir)
            except Exception as error:  # a job's config did not compose: raised in the sweep, as Hydra does
                reply = error
        try:
            connection.send(reply)
        except OSError:  # the sweep is gone
            return


def _end_with_parent() -> None:
    """Linux: this process gets SIGTERM when the sweep's process dies (even by SIGKILL), so its jobs stop
    and save instead of training on, unseen."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class _Running:
    position: int
    process: Any  # a forked multiprocessing.Process
    slot: str | None
    run_dir: Path | None = None  # sent by the job once its config is composed


class _Pool:
    """At most `n_jobs` forked jobs at once; a finished job frees its process and its GPU slot."""

    def __init__(
        self,
        launcher: ParallelLauncher,
        n_jobs: int,
        slots: list[str],
        handlers: dict[int, Any],
        stopped: list[int],
    ) -> None:
        self.launcher = launcher
        self.handlers = handlers  # the sweep's: what each job starts with
        self.stopped = stopped  # stop signals this process got: no more jobs start
        self.n_jobs = n_jobs
        self.free_slots: list[str | None] = list(slots) if slots else [None] * n_jobs
        # A module imported here may touch CUDA (torch.cuda.is_available() at import), which would break
        # every later fork's GPU: with GPUs, only `preload` is imported here.
        self.warm = not slots
        self.context = multiprocessing.get_context("fork")
        self.stop: tuple[int, str] | None = None  # (exit code, sweep dir) of the first job a signal stopped
        self.error: BaseException | None = None  # why a job's config did not compose

    def run(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
        from litmlp.errors import SweepStopped

        results: list[JobReturn | None] = [None] * len(job_overrides)
        queued = list(enumerate(job_overrides))
        running: dict[Any, _Running] = {}  # by the connection its messages arrive on
        own = signal.signal(signal.SIGTERM, lambda signum, frame: _pass_on(running, signum))
        try:
            while queued or running:
                while queued and len(running) < self.n_jobs and not self._ending():
                    position, overrides = queued.pop(0)
                    slot = self.free_slots.pop(0)
                    receiver, sender = self.context.Pipe(duplex=False)
                    job = (self.launcher, initial_job_idx + position, overrides, slot, self.handlers, sender)
                    process = self.context.Process(target=_job, args=(*job, frozenset(sys.modules)))
                    process.start()
                    sender.close()
                    running[receiver] = _Running(position, process, slot)
                if not running:
                    break
                for ready in wait(list(running)):
                    job_state = running[ready]
                    ended, result = self._receive(ready, job_state, job_overrides[job_state.position])
                    if ended:
                        running.pop(ready)
                        results[job_state.position] = result
                        self.free_slots.append(job_state.slot)
        finally:
            signal.signal(signal.SIGTERM, own)
        if self.error is not None:
            raise self.error
        if self.stop is None and self.stopped:
            self.stop = (128 + self.stopped[0], self._sweep_dir())
        if self.stop is not None:
            raise SweepStopped(*self.stop)
        return [result for result in results if result is not None]

    def _sweep_dir(self) -> str:
        assert self.launcher.config is not None
        return str(Path(str(self.launcher.config.hydra.sweep.dir)))

    def _ending(self) -> bool:
        return self.stop is not None or self.error is not None or bool(self.stopped)

    def _receive(
        self, receiver: Any, job: _Running, overrides: Sequence[str]
    ) -> tuple[bool, JobReturn | None]:
        """The job's next message: its run directory (it goes on), its result, or how it stopped; returns
        (whether the job ended, its result)."""
        try:
            message = receiver.recv()
        except EOFError:  # the job's process died without a result (killed, out of memory)
            receiver.close()
            job.process.join()
            return True, self._died(job, overrides)
        if isinstance(message, str):
            job.run_dir = Path(message)
            return False, None
        receiver.close()
        job.process.join()
        if isinstance(message, BaseException):
            self.error = self.error or message
            return True, None
        if isinstance(message[0], JobReturn):
            result, imported = message
            if self.warm:
                _warm(imported)
            return True, result
        self.stop = self.stop or message  # a stop signal ended the job: no more jobs start
        return True, None

    def _died(self, job: _Running, overrides: Sequence[str]) -> JobReturn | None:
        """A job whose process ended without a result: stopped by SIGINT or SIGTERM before it could say
        so (the sweep stops), else a failed run (the sweep goes on), whose run directory says why."""
        from litmlp.files import replacing
        from litmlp.layout import ERROR_FILE

        code = job.process.exitcode
        if code is not None and -code in (signal.SIGINT, signal.SIGTERM):
            self.stop = self.stop or (128 - code, self._sweep_dir())
            return None
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        message = f"the run's process ended with {how} before it finished (out of memory? killed?)"
        log.error("#%s: %s", job.run_dir.name if job.run_dir else job.position, message)
        if job.run_dir is not None and job.run_dir.is_dir():
            with replacing(job.run_dir / ERROR_FILE) as partial:
                partial.write_text(message + "\n")
        result = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
        result.return_value = None
        return result


def _pass_on(running: dict[Any, _Running], signum: int) -> None:
    for job in running.values():
        _send(job.process, signum)


def _send(process: Any, signum: int) -> None:
    if process.pid is not None and process.exitcode is None:
        os.kill(process.pid, signum)


def _job(
    launcher: ParallelLauncher,
    idx: int,
    overrides: Sequence[str],
    slot: str | None,
    handlers: dict[int, Any],
    sender: Connection,
    modules_at_fork: frozenset[str],
) -> None:
    """A forked job: Hydra's run_job on the job's config; its JobReturn, or how it stopped, goes back."""
    from litmlp.errors import SweepStopped

    for signum, handler in handlers.items():  # as the sweep had them (ignored ones stay ignored)
        signal.signal(signum, handler)
    if slot is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = slot
    assert launcher.hydra_context is not None
    assert launcher.config is not None
    assert launcher.task_function is not None
    try:
        sweep_config = launcher.hydra_context.config_loader.load_sweep_config(
            launcher.config, list(overrides)
        )
    except Exception as error:  # a bad override: the sweep raises it, as Hydra's launchers do
        sender.send(_picklable(error))
        return
    try:
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
            sweep_config.hydra.job.num = idx
            # What the job's runtime shares the cores by (litmlp.runtime): the jobs that run at once.
            sweep_config.hydra.launcher.n_jobs = launcher.jobs_at_once
        HydraConfig.instance().set_config(sweep_config)
        sender.send(str(Path(sweep_config.hydra.sweep.dir) / str(sweep_config.hydra.sweep.subdir)))
        result = run_job(
            hydra_context=launcher.hydra_context,
            config=sweep_config,
            task_function=launcher.task_function,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
    except SweepStopped as stop:
        sender.send((stop.exit_code, stop.sweep_dir))
        return
    except KeyboardInterrupt:  # before the command took its signals over
        sender.send((128 + signal.SIGINT, str(launcher.config.hydra.sweep.dir)))
        return
    # Structured configs hold classes made at run time, which do not pickle: the sweep gets plain copies.
    for name in ("cfg", "hydra_cfg"):
        value = getattr(result, name)
        if isinstance(value, DictConfig):
            setattr(result, name, OmegaConf.create(OmegaConf.to_container(value)))
    if result.status == JobStatus.FAILED:
        result.return_value = _picklable(result._return_value)
    sender.send((result, _imported_since(modules_at_fork)))


def _picklable(error: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # an exception whose arguments do not pickle: its message still travels
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


def _imported_since(modules_at_fork: frozenset[str]) -> list[str]:
    return [name for name in sys.modules if name not in modules_at_fork and not name.startswith("__")]


def _warm(modules: list[str]) -> None:
    """Import what a job imported, so the jobs forked from now on start with it."""
    for name in sorted(modules, key=lambda name: name.count(".")):
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except Exception:  # a module that imports only in its own context: each job pays for it
                continue
