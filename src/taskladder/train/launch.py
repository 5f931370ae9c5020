"""Run a whole ladder: one run after another, several at once, or as a Slurm job array.

The layout of a ladder folder is::

    {out}/plan.toml                    the plan (see :mod:`taskladder.train.plan`)
    {out}/ladder.toml                  the ladder spec the fitter reads
    {out}/runs/{name}/{name}.csv       one row per in-loop evaluation (ladder format)
    {out}/runs/{name}/config.json      the resolved run config
    {out}/runs/{name}/checkpoints/     HF checkpoints with resume sidecars
    {out}/runs/{name}/train.log        output of the run when run in a subprocess or on Slurm

Every mode runs the same function, :func:`run_from_config`, on a config file, so a run gives
the same numbers whichever way it is launched. Finished runs are always skipped, and files are
rewritten only when their contents change, so re-running a finished ladder changes nothing. With
``resume=True``, interrupted runs continue from their latest readable checkpoint, so re-running a
ladder command after a failure does only the work that is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..io.files import write_if_changed
from .checkpoint import STATE_FILE, check_compatible, latest_checkpoint, weights_problem
from .config import TrainConfig, config_from_plan
from .plan import LadderPlan, ladder_spec, plan_toml

__all__ = ["RunStatus", "prepare_ladder", "run_ladder", "run_from_config", "SlurmOptions"]


@dataclass(frozen=True, kw_only=True)
class RunStatus:
    """Outcome of one run of :func:`run_ladder` (``state``: done, skipped, failed or submitted)."""

    name: str
    state: str
    csv: Path
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class SlurmOptions:
    """Slurm settings for :func:`run_ladder` (``local=True`` uses submitit's local executor).

    Parameters
    ----------
    partition
        Slurm partition (``None``: the cluster default).
    time_minutes
        Time limit per run.
    gpus_per_node
        GPUs per run; the run is one DDP process per GPU.
    cpus_per_task
        CPUs per process.
    mem_gb
        Memory per node.
    local
        Run the array on this machine with submitit's local executor (testing).
    wait
        Wait for the jobs and report their outcome (always true with ``local``).
    """

    partition: str | None = None
    time_minutes: int = 24 * 60
    gpus_per_node: int = 1
    cpus_per_task: int = 8
    mem_gb: int | None = None
    local: bool = False
    wait: bool = False


def run_dir(out: str | Path, name: str) -> Path:
    return Path(out) / "runs" / name


def prepare_ladder(plan: LadderPlan, *, data: str | Path, out: str | Path, only: Sequence[str] | None = None,
                   **options: Any) -> list[TrainConfig]:
    """Write plan, spec and per-run configs under ``out``; return the configs of the selected runs."""
    from .trainer import check_run_data, data_fingerprint

    out = Path(out)
    runs = plan.runs if not only else tuple(plan.run(name) for name in only)
    configs = [config_from_plan(run, data=Path(data).resolve(), out=run_dir(out, run.name).resolve(), **options)
               for run in runs]
    # Data that is missing or too small, an unknown evaluation task, or a run folder that holds
    # checkpoints of other settings, is refused before any file is written.
    tasks = {(c.eval_tasks, c.eval_limit) for c in configs if c.eval_tasks}
    if tasks:
        from ..eval.engine import load_components

        for names, limit in tasks:
            load_components(list(names), limit=limit)
    for config in configs:
        check_run_data(config)
        latest = latest_checkpoint(config.out)
        if latest is not None:
            check_compatible(latest, config, data_fingerprint(config))
    # Files are rewritten only when their contents change: re-running a finished ladder touches nothing.
    write_if_changed(out / "plan.toml", plan_toml(plan))
    write_if_changed(out / "ladder.toml", ladder_spec(plan, runs_dir="runs"))
    for config in configs:
        Path(config.out).mkdir(parents=True, exist_ok=True)
        config.write(Path(config.out) / "config.json")
    return configs


def _finished(config: TrainConfig) -> bool:
    """Whether the run has its final checkpoint, readable; one written with other settings is an error."""
    from .trainer import data_fingerprint

    latest = latest_checkpoint(config.out)
    if latest is None or latest.step < config.steps:
        return False
    check_compatible(latest, config, data_fingerprint(config))
    return weights_problem(latest.path) is None and (latest.path / STATE_FILE).is_file()


def run_from_config(path: str | Path, *, resume: bool = False, progress: bool = False) -> int:
    """Train the run described by the config file ``path``; returns the last step trained."""
    from .trainer import train

    config = TrainConfig.read(path)
    return train(config, resume=resume, progress=progress).final_step


def run_ladder(configs: Sequence[TrainConfig], *, resume: bool = False, parallel: int = 1,
               slurm: SlurmOptions | None = None, progress: bool = False,
               threads: int | None = None) -> list[RunStatus]:
    """Train ``configs`` in this process (``parallel=1``), in ``parallel`` subprocesses, or on Slurm.

    With ``parallel > 1`` the CPU threads are shared out (``OMP_NUM_THREADS = cores // parallel``)
    and each run's output goes to its ``train.log``. A failing run does not stop the others; its
    status says why. ``threads`` fixes the threads of every run instead, and always trains in
    subprocesses: on CPU the summation order of a matrix product depends on the thread count, so
    fixing it makes a ladder's numbers independent of how many cores the machine has.
    """
    if parallel < 1:
        raise ConfigError(f"parallel must be at least 1, got {parallel}")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be at least 1, got {threads}")
    pending, statuses = [], []
    for config in configs:
        csv = Path(config.out) / f"{config.name}.csv"
        # A finished run has nothing left to train, with or without resume: it is left as it is.
        if _finished(config):
            statuses.append(RunStatus(name=config.name, state="skipped", csv=csv, message="already finished"))
        else:
            pending.append(config)
    if slurm is not None:
        return statuses + _run_submitit(pending, resume=resume, options=slurm)
    if parallel == 1 and threads is None:
        from .trainer import train

        for config in pending:
            csv = Path(config.out) / f"{config.name}.csv"
            train(config, resume=resume, progress=progress)
            statuses.append(RunStatus(name=config.name, state="done", csv=csv))
        return statuses
    return statuses + _run_subprocesses(pending, resume=resume, parallel=parallel, threads=threads)


def _run_subprocesses(configs: Sequence[TrainConfig], *, resume: bool, parallel: int,
                      threads: int | None = None) -> list[RunStatus]:
    threads = threads or max(1, (os.cpu_count() or 1) // parallel)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    queue = list(configs)
    running: list[tuple[TrainConfig, subprocess.Popen[bytes], Any]] = []
    statuses = []
    while queue or running:
        while queue and len(running) < parallel:
            config = queue.pop(0)
            log = open(Path(config.out) / "train.log", "ab")
            command = [sys.executable, "-m", "taskladder.train.worker", str(Path(config.out) / "config.json")]
            if resume:
                command.append("--resume")
            running.append((config, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), log))
        time.sleep(0.2)
        for item in list(running):
            config, process, log = item
            code = process.poll()
            if code is None:
                continue
            log.close()
            running.remove(item)
            csv = Path(config.out) / f"{config.name}.csv"
            if code == 0:
                statuses.append(RunStatus(name=config.name, state="done", csv=csv))
            else:
                statuses.append(RunStatus(name=config.name, state="failed", csv=csv,
                                          message=f"exit status {code}; {_last_line(Path(config.out) / 'train.log')}"))
    return statuses


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"see {path}"


def _slurm_job(config_path: str, resume: bool) -> int:
    """Entry point of one Slurm task: export the torch.distributed variables, then train."""
    import submitit

    env = submitit.JobEnvironment()
    if env.num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    return run_from_config(config_path, resume=resume)


def _run_submitit(configs: Sequence[TrainConfig], *, resume: bool, options: SlurmOptions) -> list[RunStatus]:
    try:
        import submitit
    except ImportError:
        raise ConfigError("Slurm launching needs submitit (pip install 'taskladder[slurm]')") from None
    if not configs:
        return []
    folder = Path(configs[0].out).parent.parent / "slurm"
    if options.local:
        executor: Any = submitit.LocalExecutor(folder=str(folder))
        executor.update_parameters(timeout_min=options.time_minutes)
    else:
        executor = submitit.AutoExecutor(folder=str(folder))
        parameters: dict[str, Any] = {
            "timeout_min": options.time_minutes, "nodes": 1, "tasks_per_node": options.gpus_per_node,
            "gpus_per_node": options.gpus_per_node, "cpus_per_task": options.cpus_per_task,
            "slurm_job_name": "taskladder-ladder"}
        if options.partition:
            parameters["slurm_partition"] = options.partition
        if options.mem_gb:
            parameters["mem_gb"] = options.mem_gb
        executor.update_parameters(**parameters)
    paths = [str(Path(c.out) / "config.json") for c in configs]
    jobs = executor.map_array(_slurm_job, paths, [resume] * len(paths))
    statuses = []
    for config, job in zip(configs, jobs):
        csv = Path(config.out) / f"{config.name}.csv"
        if not (options.wait or options.local):
            statuses.append(RunStatus(name=config.name, state="submitted", csv=csv, message=f"job {job.job_id}"))
            continue
        try:
            job.result()
            statuses.append(RunStatus(name=config.name, state="done", csv=csv, message=f"job {job.job_id}"))
        except Exception as exc:  # a failed job reports its own traceback; keep the others going
            statuses.append(RunStatus(name=config.name, state="failed", csv=csv,
                                      message=f"job {job.job_id}: {str(exc).strip().splitlines()[-1]}"))
    return statuses
