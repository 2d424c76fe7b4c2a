"""The command line: tunefleet run | coordinator | worker | study | status | best.

Every failure a user can cause ends with one line on stderr and a non-zero exit
(2 for bad input and an unreachable or refusing broker), never a traceback.
Broker URLs come from --broker, $TUNEFLEET_BROKER or --broker-file; passwords are
never printed.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from tunefleet.errors import BrokerError, ConfigError, TunefleetError

BROKER_HELP = (
    "RabbitMQ URL, e.g. amqp://user:pass@host:5672/vhost. Also read from $TUNEFLEET_BROKER; "
    "prefer that (or --broker-file) to keep the password out of the process list."
)
EXIT_USAGE = 2


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pika").setLevel(logging.CRITICAL if verbose < 2 else logging.INFO)


def _broker_url(broker: str | None, broker_file: str | None, required: bool = True) -> str | None:
    if broker_file:
        try:
            broker = Path(broker_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --broker-file {broker_file}: {exc.strerror}") from None
    if broker is None and required:
        raise ConfigError("no broker given: pass --broker URL or set TUNEFLEET_BROKER")
    return broker


def _connect_patiently(make: Any, patience: float) -> Any:
    """``make()``, retried with backoff for ``patience`` seconds while the broker is
    unreachable (it may be starting, as in a fresh Kubernetes deployment). Wrong
    credentials fail at once."""
    from tunefleet.errors import BrokerAuthError

    deadline = time.monotonic() + patience
    delay = 0.5
    while True:
        try:
            return make()
        except BrokerAuthError:
            raise
        except BrokerError as exc:
            if time.monotonic() + delay > deadline:
                raise
            logging.getLogger("tunefleet").warning("%s; retrying in %.1f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


connect_option = click.option(
    "--connect-patience", type=click.FloatRange(min=0), default=0.0, show_default=True,
    help="Keep trying an unreachable broker this many seconds before giving up.")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


broker_option = click.option("--broker", envvar="TUNEFLEET_BROKER", help=BROKER_HELP)
broker_file_option = click.option(
    "--broker-file", type=click.Path(dir_okay=False), help="A file holding the broker URL."
)
namespace_option = click.option(
    "--namespace", default="tunefleet", show_default=True, envvar="TUNEFLEET_NAMESPACE",
    help="Prefix of the queue names, so several fleets can share one broker.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="tunefleet")
def cli(verbose: int) -> None:
    """tunefleet: tune programs and models with one coordinator and a fleet of workers.

    \b
    On a laptop, no broker:   tunefleet run examples/quickstart.toml
    On a cluster:             tunefleet coordinator --journal fleet.db      (service node)
                              tunefleet study create SPEC.toml
                              tunefleet worker --study NAME                 (any number, anywhere)
                              tunefleet status NAME
    """
    _setup_logging(verbose)


# ---- run ------------------------------------------------------------------------------------
@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("-w", "--workers", type=click.IntRange(1, 1024), default=None,
              help="Local worker processes (default: [run].workers of the spec, else 4).")
@click.option("--journal", type=click.Path(dir_okay=False), default=None,
              help="Journal file (default: [run].journal of the spec, else ./tunefleet.db).")
@click.option("-n", "--n-trials", type=click.IntRange(0), default=None,
              help="Run this many more trials, whatever the spec's budget.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--gpus", default=None,
              help="GPUs to share out, e.g. 0,1: worker i gets CUDA_VISIBLE_DEVICES=gpus[i % n].")
@click.option("--pin-cpus", is_flag=True, help="Pin worker i to one CPU (i modulo the CPUs).")
def run(spec: str, workers: int | None, journal: str | None, n_trials: int | None,
        quiet: bool, gpus: str | None, pin_cpus: bool) -> None:
    """Run the study in SPEC here: an embedded coordinator and local worker processes.

    Needs no broker. Progress is shown while it runs, the best trial is printed at
    the end, and the journal stays behind for `tunefleet status` / `best`. Running
    the same spec again resumes the study from its journal.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tunefleet.coordinator.memory import keep_freed_memory
    from tunefleet.core.best import best_trials
    from tunefleet.core.trial import FrozenTrial
    from tunefleet.launch.local import Pinning, finished_count, run_spec
    from tunefleet.spec import load_spec
    from tunefleet.status import best_text

    loaded = load_spec(spec)
    loaded.create_request()  # a bad sampler or pruner fails here, before anything starts
    devices = tuple(g.strip() for g in gpus.split(",") if g.strip()) if gpus else ()
    pinning = Pinning(gpus=devices, pin_cpus=pin_cpus)
    workers = workers or loaded.data.run.workers
    journal = journal or loaded.data.run.journal
    stop = _stop_on_signals()
    console = Console(stderr=True)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[best]}"), TimeElapsedColumn(),
                        console=console, disable=quiet)
    task = progress.add_task(loaded.name, total=None, best="")

    def on_progress(study: Any) -> None:
        best = best_trials(study.trials, study.settings.directions)
        shown = ""
        if best and best[0].values is not None and len(study.settings.directions) == 1:
            shown = f"best {best[0].values[0]:.6g} (#{best[0].number})"
        total = study.n_trials if study.n_trials is not None else None
        progress.update(task, completed=finished_count(study), total=total, best=shown)

    keep_freed_memory()  # this process runs the coordinator; its workers are their own
    console.print(f"running study {loaded.name!r} with {workers} local workers; "
                  f"journal {journal}")
    with progress:
        study = run_spec(loaded, workers=workers, journal=journal, n_trials=n_trials,
                         on_progress=on_progress, stop=stop, pinning=pinning)
    best = [FrozenTrial.of(r) for r in best_trials(study.trials, study.settings.directions)]
    if stop.is_set():
        console.print("stopped; run the same command again to resume from the journal")
    click.echo(best_text(loaded.name, best, study.settings.directions))
    if stop.is_set():
        sys.exit(130)


# ---- coordinator -----------------------------------------------------------------------
@cli.command()
@broker_option
@broker_file_option
@click.option("--journal", type=click.Path(dir_okay=False), required=True,
              help="The coordinator's journal file (SQLite); created if missing, replayed if not.")
@namespace_option
@click.option("--batch", type=click.IntRange(1, 10000), default=256, show_default=True,
              help="Most requests handled per journal commit.")
@connect_option
def coordinator(broker: str | None, broker_file: str | None, journal: str, namespace: str,
                batch: int, connect_patience: float) -> None:
    """Run the coordinator: owns every study, serves workers through the broker.

    Stop it with Ctrl-C or SIGTERM; start it again on the same journal and it
    carries on where it stopped (workers wait and retry meanwhile).
    """
    from tunefleet.coordinator.memory import keep_freed_memory
    from tunefleet.coordinator.service import Coordinator
    from tunefleet.errors import mask_url
    from tunefleet.journal import Journal
    from tunefleet.transport.amqp import AmqpCoordinatorTransport
    from tunefleet.transport.topology import Topology

    url = _broker_url(broker, broker_file)
    assert url is not None
    keep_freed_memory()
    store = Journal(journal)
    try:
        transport = _connect_patiently(
            lambda: AmqpCoordinatorTransport(url, Topology(namespace), prefetch=max(batch, 64)),
            connect_patience)
        coord = Coordinator(store, transport, max_batch=batch)
        stop = _stop_on_signals()
        click.echo(
            f"coordinator serving {len(coord.studies.by_name)} studies on {mask_url(url)} "
            f"(namespace {namespace!r}), journal {journal}", err=True
        )
        coord.serve(stop)
        transport.close()
        click.echo("coordinator stopped", err=True)
    finally:
        store.close()


# ---- worker ----------------------------------------------------------------------------
@cli.command()
@broker_option
@broker_file_option
@namespace_option
@click.option("--study", "study_name", required=True, help="The study to work on.")
@click.option("--objective", default=None,
              help="module:function to run (default: the one the study was created with).")
@click.option("--max-trials", type=click.IntRange(1), default=None,
              help="Exit after this many trials.")
@click.option("--heartbeat", type=click.FloatRange(min=0.05), default=None,
              help="Seconds between heartbeats (default: a quarter of the study's lease).")
@click.option("--coordinator-timeout", type=click.FloatRange(min=1), default=300.0,
              show_default=True,
              help="Give up when the coordinator has not answered for this many seconds.")
@click.option("--max-time", type=click.FloatRange(min=1), default=None,
              help="Leave within this many seconds: no trial starts unless the time left "
                   "exceeds the longest trial so far. Under Slurm the job's time limit is "
                   "read by itself.")
@click.option("--idle-timeout", type=click.FloatRange(min=0), default=None,
              help="Leave after waiting this many seconds for a trial (max_concurrent reached, "
                   "or the last trials still running elsewhere).")
@connect_option
@click.option("--socket", "socket_path", default=None, hidden=True,
              help="Local transport socket (used by `tunefleet run`).")
def worker(broker: str | None, broker_file: str | None, namespace: str, study_name: str,
           objective: str | None, max_trials: int | None, heartbeat: float | None,
           coordinator_timeout: float, max_time: float | None, idle_timeout: float | None,
           connect_patience: float, socket_path: str | None) -> None:
    """Run a worker: take trials of STUDY, evaluate them, tell the results, until done.

    SIGTERM or Ctrl-C ends the current trial as FAIL (reason preempted), tells it,
    and exits 0; the study retries that trial elsewhere.
    """
    from tunefleet.protocol import messages as m
    from tunefleet.worker.loop import run_worker
    from tunefleet.worker.objectives import objective_for
    from tunefleet.worker.rpc import Rpc
    from tunefleet.worker.trial import new_request_id

    started = time.monotonic()
    stop = _stop_on_signals()
    if socket_path is not None:
        from tunefleet.transport.local import LocalWorkerTransport

        transport: Any = LocalWorkerTransport(socket_path)
    else:
        from tunefleet.transport.amqp import AmqpWorkerTransport
        from tunefleet.transport.topology import Topology

        url = _broker_url(broker, broker_file)
        assert url is not None
        transport = _connect_patiently(lambda: AmqpWorkerTransport(url, Topology(namespace)),
                                       connect_patience)
    rpc = Rpc(transport, timeout=10.0, give_up_after=coordinator_timeout)
    try:
        info = rpc.call(m.Query(request_id=new_request_id(), study=study_name, what="info")).data
        func = objective_for(study_name, info["settings"], objective)
        lease = float(info["settings"].get("lease_seconds", 60.0))
        beat = heartbeat or max(0.05, min(5.0, lease / 4))
        if max_time is None:
            from tunefleet.launch.slurm import job_time_left

            max_time = job_time_left()
            if max_time is not None:
                max_time = max(0.0, max_time - 60.0)  # leave before Slurm's TERM and kill
        end_at = None if max_time is None else started + max_time
        summary = run_worker(rpc, study_name, func, heartbeat=beat, max_trials=max_trials,
                             stop=stop, end_at=end_at, idle_timeout=idle_timeout)
        logging.getLogger("tunefleet.worker").info(
            "worker finished: %d trials (%s)", summary.trials, summary.stopped_by)
    finally:
        rpc.close()


# ---- study ------------------------------------------------------------------------------
@cli.group()
def study() -> None:
    """Create and control studies on a running coordinator."""


@study.command("create")
@click.argument("spec", type=click.Path(dir_okay=False))
@broker_option
@broker_file_option
@namespace_option
@click.option("--fail-if-exists", is_flag=True, help="Refuse if the study already exists.")
def study_create(spec: str, broker: str | None, broker_file: str | None, namespace: str,
                 fail_if_exists: bool) -> None:
    """Create the study described by SPEC (a TOML file) on the coordinator."""
    from tunefleet.spec import load_spec

    loaded = load_spec(spec)
    rpc = _remote_rpc(broker, broker_file, namespace)
    try:
        reply = rpc.call(loaded.create_request(load_if_exists=not fail_if_exists))
    finally:
        rpc.close()
    verb = "created" if reply.created else "already exists:"
    click.echo(f"study {loaded.name!r} {verb} n_trials={reply.settings.get('n_trials')}, "
               f"sampler {reply.settings['sampler']['name']}, "
               f"pruner {reply.settings['pruner']['name']}")


@study.command("stop")
@click.argument("name")
@broker_option
@broker_file_option
@namespace_option
def study_stop(name: str, broker: str | None, broker_file: str | None, namespace: str) -> None:
    """Hand out no more trials of NAME; running trials may finish."""
    from tunefleet.protocol import messages as m
    from tunefleet.worker.trial import new_request_id

    rpc = _remote_rpc(broker, broker_file, namespace)
    try:
        rpc.call(m.StopStudy(request_id=new_request_id(), study=name))
    finally:
        rpc.close()
    click.echo(f"study {name!r} stopped")


def _remote_rpc(broker: str | None, broker_file: str | None, namespace: str) -> Any:
    from tunefleet.transport.amqp import AmqpWorkerTransport
    from tunefleet.transport.topology import Topology
    from tunefleet.worker.rpc import Rpc

    url = _broker_url(broker, broker_file)
    assert url is not None
    return Rpc(AmqpWorkerTransport(url, Topology(namespace)), timeout=5.0, give_up_after=20.0)


# ---- slurm ------------------------------------------------------------------------------
@cli.group()
def slurm() -> None:
    """Run workers as Slurm job arrays."""


@slurm.command("submit")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--array", default="0-3", show_default=True,
              help="Array tasks, one worker each: 0-63%8 runs 64 workers, 8 at a time.")
@click.option("--time", "time_limit", default="01:00:00", show_default=True,
              help="Each task's time limit; workers leave before it.")
@click.option("--cpus", type=click.IntRange(1), default=1, show_default=True,
              help="CPUs per task.")
@click.option("--grace", type=click.IntRange(10), default=60, show_default=True,
              help="Seconds before the limit at which Slurm sends TERM.")
@click.option("--partition", default=None, help="Slurm partition.")
@click.option("--account", default=None, help="Slurm account.")
@click.option("--sbatch-arg", "extra", multiple=True, help="More sbatch options, repeatable.")
@click.option("--log-dir", default="slurm-logs", show_default=True, help="Where task logs go.")
@click.option("--broker-file", type=click.Path(dir_okay=False),
              default=lambda: os.path.expanduser("~/.tunefleet/broker"),
              show_default="~/.tunefleet/broker",
              help="File with the broker URL (chmod 600); workers read it, no password in argv.")
@namespace_option
@click.option("--no-create", is_flag=True, help="Do not create the study (it exists already).")
@click.option("--dry-run", is_flag=True, help="Print the sbatch command instead of running it.")
def slurm_submit(spec: str, array: str, time_limit: str, cpus: int, grace: int,
                 partition: str | None, account: str | None, extra: tuple[str, ...],
                 log_dir: str, broker_file: str, namespace: str, no_create: bool,
                 dry_run: bool) -> None:
    """Create the study in SPEC on the coordinator and submit a worker array for it."""
    import shlex

    from tunefleet.launch.slurm import WorkerArray, submit
    from tunefleet.spec import load_spec

    loaded = load_spec(spec)
    job = WorkerArray(study=loaded.name, broker_file=broker_file, array=array, time=time_limit,
                      cpus=cpus, grace=grace, namespace=namespace, log_dir=log_dir,
                      partition=partition, account=account, extra=list(extra))
    if dry_run:
        click.echo(shlex.join(job.sbatch_argv()))
        return
    if not no_create:
        rpc = _remote_rpc(None, broker_file, namespace)
        try:
            rpc.call(loaded.create_request(load_if_exists=True))
        finally:
            rpc.close()
    job_id = submit(job)
    click.echo(f"submitted worker array {job_id} ({array}) for study {loaded.name!r}; "
               f"logs in {log_dir}/")


# ---- status / best ---------------------------------------------------------------------
def _load(name: str, broker: str | None, broker_file: str | None, journal: str | None,
          namespace: str) -> tuple[list[Any], list[Any], list[Any]]:
    """(trials, best, directions) from a journal file or a running coordinator."""
    from tunefleet import convert
    from tunefleet.core.best import best_trials
    from tunefleet.core.settings import StudySettings
    from tunefleet.core.trial import FrozenTrial

    if broker is None and broker_file is None:
        from tunefleet.coordinator.studies import Studies
        from tunefleet.journal import read_events

        studies = Studies()
        for event in read_events(journal or "tunefleet.db"):
            studies.apply(event)
        core = studies.get(name)
        trials = [FrozenTrial.of(r) for r in core.trials]
        best = [FrozenTrial.of(r) for r in best_trials(core.trials, core.settings.directions)]
        return trials, best, list(core.settings.directions)
    from tunefleet.protocol import messages as m
    from tunefleet.worker.trial import new_request_id

    rpc = _remote_rpc(broker, broker_file, namespace)
    try:
        info = rpc.call(m.Query(request_id=new_request_id(), study=name, what="info")).data
        data = rpc.call(m.Query(request_id=new_request_id(), study=name, what="trials")).data
        top = rpc.call(m.Query(request_id=new_request_id(), study=name, what="best")).data
    finally:
        rpc.close()
    settings = StudySettings.from_dict(info["settings"])
    return ([convert.trial_from_data(d) for d in data],
            [convert.trial_from_data(d) for d in top], list(settings.directions))


journal_option = click.option(
    "--journal", type=click.Path(dir_okay=False), default=None,
    help="Read this journal file (default ./tunefleet.db when no broker is given).")


@cli.command()
@click.argument("name")
@broker_option
@broker_file_option
@journal_option
@namespace_option
@click.option("--limit", type=click.IntRange(0), default=50, show_default=True,
              help="Show the last LIMIT trials (and the best); 0 shows all.")
def status(name: str, broker: str | None, broker_file: str | None, journal: str | None,
           namespace: str, limit: int) -> None:
    """Print the table of NAME's trials and the best so far.

    Reads a running coordinator through the broker, or a journal file directly
    (also while a coordinator is writing it).
    """
    from tunefleet.status import best_text, print_table, trials_table

    if journal is not None:
        broker = broker_file = None
    trials, best, directions = _load(name, broker, broker_file, journal, namespace)
    print_table(trials_table(name, trials, directions, now=time.time(), limit=limit, best=best))
    click.echo(best_text(name, best, directions))


@cli.command()
@click.argument("name")
@broker_option
@broker_file_option
@journal_option
@namespace_option
def best(name: str, broker: str | None, broker_file: str | None, journal: str | None,
         namespace: str) -> None:
    """Print NAME's best trial (or its Pareto front, with several objectives)."""
    from tunefleet.status import best_text

    if journal is not None:
        broker = broker_file = None
    _, top, directions = _load(name, broker, broker_file, journal, namespace)
    click.echo(best_text(name, top, directions))


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except (ConfigError, BrokerError) as exc:
        click.echo(f"tunefleet: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except TunefleetError as exc:
        click.echo(f"tunefleet: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"tunefleet: {exc}", err=True)
        sys.exit(1)
