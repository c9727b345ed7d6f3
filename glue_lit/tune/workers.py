"""``--tune.workers N``: N worker processes on this machine, all on one study, each pinned to its own
GPU where there are GPUs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping

from glue_lit.errors import GlueLitError
from glue_lit.tune.options import TuneSetup
from glue_lit.tune.study import open_study


def worker_envs(n: int, environ: Mapping[str, str], gpus: int, cpus: int) -> list[dict[str, str]]:
    """The environment of each of ``n`` workers. With ``gpus`` visible GPUs, worker i sees only GPU
    ``i % gpus`` (its id in ``CUDA_VISIBLE_DEVICES`` where that is set). Without GPUs, each worker
    gets ``cpus // n`` threads unless ``OMP_NUM_THREADS`` is set: n processes that each start a
    thread per core would fight over the cores."""
    listed = [d.strip() for d in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    devices = (listed or [str(i) for i in range(gpus)])[:gpus]
    envs = []
    for i in range(n):
        env = dict(environ)
        if devices:
            env["CUDA_VISIBLE_DEVICES"] = devices[i % len(devices)]
        else:
            env.setdefault("OMP_NUM_THREADS", str(max(1, cpus // n)))
        envs.append(env)
    return envs


def run_workers(argv: list[str], setup: TuneSetup) -> None:
    """Start ``tune.workers`` processes of ``glue_lit tune argv`` and wait for them all."""
    import torch

    n = setup.options.workers
    # The study exists before the workers start, so that they do not race to create it.
    setup.folder.mkdir(parents=True, exist_ok=True)
    open_study(setup)
    gpus = torch.cuda.device_count()
    envs = worker_envs(n, os.environ, gpus, os.cpu_count() or 1)
    command = [sys.executable, "-m", "glue_lit", "tune", *argv, "--tune.workers=1"]
    # Their own session: Ctrl-C reaches them once, from here, not twice from the terminal.
    procs = [subprocess.Popen(command, env=env, start_new_session=True) for env in envs]
    for i, (proc, env) in enumerate(zip(procs, envs)):
        where = f"GPU {env['CUDA_VISIBLE_DEVICES']}" if gpus else f"CPU, {env['OMP_NUM_THREADS']} threads"
        print(f"tune: worker {i} (pid {proc.pid}) on {where}", file=sys.stderr)
    try:
        codes = [proc.wait() for proc in procs]
    except KeyboardInterrupt:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        codes = [proc.wait() for proc in procs]
        print("interrupted: finished trials are kept; run the same command to resume", file=sys.stderr)
        sys.exit(130)
    failed = [f"worker {i} (exit status {code})" for i, code in enumerate(codes) if code]
    if failed:
        raise GlueLitError(f"{', '.join(failed)} of {n} failed; see the errors above")
    print(f"tune: {n} workers finished; results in {setup.folder}", file=sys.stderr)
