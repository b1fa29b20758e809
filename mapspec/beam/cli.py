"""`python -m mapspec.beam`: read NDJSON files, translate, deliver (or, with --dry-run, write the batched
requests), and write the dead letters, on whatever runner the Beam pipeline options name."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from ..cli import EXIT_FAIL, EXIT_OK, EXIT_USAGE, UsageError, _print_diagnostics, _rate, _settings
from ..terminal import printable_line

PROG = "python -m mapspec.beam"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False,
        description="Run a mapspec delivery job on Apache Beam: read NDJSON files of events (local, gs://, s3://; "
                    ".gz too), translate them with a mapping, deliver the requests to Braze batched, rate-limited "
                    "and retried as `mapspec run` does, and write what could not be delivered to the dead-letter "
                    "file. Any other option is a Beam pipeline option (--runner, --project, --region, "
                    "--temp_location, --max_num_workers, ...); without --runner, Beam's in-process FnApiRunner runs "
                    "it here. Keys come from the workers' environment (BRAZE_REST_API_KEY, BRAZE_PARTNER_API_KEY) or "
                    "from files, never from a flag. Exit 0 when every event was delivered or skipped, 1 when "
                    "some were dead-lettered, 2 when the job cannot start or stops.")
    p.add_argument("--mapping", "-m", default="segment-braze", help="mapping name or path (default: segment-braze)")
    p.add_argument("--settings", "-s", metavar="FILE.json", help="the mapping's settings, a JSON object")
    p.add_argument("--input", action="append", required=True, metavar="GLOB",
                   help="NDJSON files of events (a glob; repeat for more); a pattern that matches nothing is an error")
    p.add_argument("--dead-letter", required=True, metavar="PATH",
                   help="the NDJSON file of what could not be delivered, with the reasons (one file, written at the "
                        "end; empty when nothing was dead-lettered)")
    p.add_argument("--dry-run", action="store_true",
                   help="send nothing: write the batched requests to --output instead")
    p.add_argument("--output", metavar="PREFIX",
                   help="with --dry-run: where the requests go, one JSON line each, as `mapspec run --dry-run` "
                        "writes them (files PREFIX-00000-of-0000N)")
    p.add_argument("--endpoint", metavar="URL", help="send to this base URL instead of the mapping's")
    p.add_argument("--api-key-file", metavar="PATH",
                   help="read Braze's REST API key on the workers from this file (a local path or gs://, s3://...; "
                        "default: BRAZE_REST_API_KEY in the workers' environment)")
    p.add_argument("--key-file", action="append", default=[], metavar="NAME=PATH",
                   help="the key of another credential of the target from a file, such as partner=PATH for "
                        "BRAZE_PARTNER_API_KEY")
    p.add_argument("--workers", type=int, metavar="N",
                   help="worker processes that send at once: each paces itself to 1/N of every Braze rate limit "
                        "(default: --max_num_workers or --num_workers when given, else 1)")
    p.add_argument("--rate", metavar="N/SECONDS",
                   help="a rate limit over every endpoint together (shared over the workers the same way), besides "
                        "each endpoint's own")
    p.add_argument("--in-flight", type=int, default=8, help="requests in flight at once per worker thread (default 8)")
    p.add_argument("--batch-size", type=int, metavar="N",
                   help="objects per array per request, at most (default: each endpoint's limit from the target)")
    p.add_argument("--max-objects", type=int, metavar="N", help="objects per request in all, at most")
    p.add_argument("--retry-deadline", type=float, default=300.0, metavar="SECONDS",
                   help="how long a batch may keep being retried (default 300)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long one request may take, from connecting to the answer (default 30)")
    p.add_argument("--max-line-bytes", type=int, default=1 << 20, help="longer input lines are dead-lettered")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"],
                   help="how much mapspec logs to stderr, as for `mapspec run` (Beam's and the HTTP library's own "
                        "logging stay at warnings: Beam's debug records show every element)")
    return p


def _say(text: str) -> None:
    print(printable_line(f"mapspec beam: {text}"), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, beam_args = parser.parse_known_args(argv)
    # mapspec's own logging at the level asked for, as `mapspec run` does; Beam's (whose debug records show every
    # element a step processes: events, bodies, a setting's secret) and httpx's at warnings only. Before Beam is
    # imported: it logs as it loads, which would configure logging its own way
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mapspec").setLevel(args.log_level.upper())
    try:
        import apache_beam  # noqa: F401
    except ImportError:
        print(f"{PROG}: error: Apache Beam is not installed: pip install 'mapspec[beam]'", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _run(args, beam_args)
    except UsageError as e:
        print(printable_line(f"{PROG}: error: {e}"), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _check(args: argparse.Namespace, beam_args: list[str]) -> dict[str, str]:
    from ..delivery.common import url_problem

    if args.dry_run and not args.output:
        raise UsageError("--dry-run writes the batched requests to --output PREFIX: give one")
    if args.output and not args.dry_run:
        raise UsageError("--output is where --dry-run writes the requests: without --dry-run, they are sent")
    if args.endpoint:
        problem = url_problem(args.endpoint)
        if problem:
            raise UsageError(f"--endpoint {args.endpoint!r}: {problem}")
    for name in ("timeout", "retry_deadline"):
        if not getattr(args, name) > 0:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive number of seconds")
    for name in ("in_flight", "batch_size", "max_objects", "max_line_bytes", "workers"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    key_files = {}
    for spec in args.key_file:
        name, eq, path = spec.partition("=")
        if not eq or not name or not path:
            raise UsageError(f"--key-file takes NAME=PATH (such as partner=/secrets/braze-partner), not {spec!r}")
        key_files[name] = path
    return key_files


def _unknown(parser: argparse.ArgumentParser, beam_args: list[str]) -> None:
    """A usage error for an option that is neither ours nor Beam's and looks like one of ours (Beam's are spelt
    with underscores): `--dry-runn` must not become a run that sends."""
    import difflib

    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(beam_args)
    known = set(options.get_all_options(retain_unknown_options=False))
    ours = [o for action in parser._actions for o in action.option_strings if o.startswith("--")]
    for arg in beam_args:
        name = arg.split("=", 1)[0]
        if not name.startswith("--") or name[2:].replace("-", "_") in known:
            continue
        close = difflib.get_close_matches(name, ours, n=1)
        if "-" in name[2:] or close:
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"unknown option {name}{hint}: it is neither this command's nor a Beam pipeline option")


def _matches(patterns: list[str]) -> None:
    """A usage error for a pattern that matches no file, where this machine can tell."""
    from apache_beam.io.filesystems import FileSystems

    for pattern in patterns:
        try:
            found = FileSystems.match([pattern])[0].metadata_list
        except Exception:  # noqa: BLE001 - a file system this machine cannot reach: the workers will say
            continue
        if not found:
            raise UsageError(f"--input {pattern!r} matches no file")


def _run(args: argparse.Namespace, beam_args: list[str]) -> int:
    key_files = _check(args, beam_args)
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from ..errors import CompileError
    from .deliver import BatchRequests, DeliverToBraze, account, default_workers
    from .translate import ReadNDJSON, Translate, dead_letter_text

    _unknown(_parser(), beam_args)
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if standard.runner is None:
        # Beam's in-process engine; the DirectRunner would first try Prism, a binary it downloads
        standard.runner = "FnApiRunner"
    name = str(standard.runner).rsplit(".", 1)[-1].lower()
    local = name.removesuffix("runner") in ("fnapi", "direct", "switchingdirect", "bundlebaseddirect")
    settings = _settings(args.settings)
    _matches(args.input)
    _writable("--dead-letter", args.dead_letter, single=True)
    if args.output:
        _writable("--output", args.output, single=False)
    try:
        translate = Translate(args.mapping, settings, max_line_bytes=args.max_line_bytes).with_dead_letters()
    except CompileError as e:
        _print_diagnostics(e.diagnostics, sys.stderr)
        return EXIT_USAGE
    workers = args.workers or default_workers(options)
    delivery: dict[str, Any] = dict(target=translate.target, endpoint=args.endpoint, workers=workers,
                                    in_flight=args.in_flight,
                                    rate=_rate(args.rate) if args.rate else None, retry_deadline=args.retry_deadline,
                                    timeout=args.timeout, batch_size=args.batch_size, max_objects=args.max_objects)
    try:
        if args.dry_run:
            deliver: Any = BatchRequests(with_dead_letters=True, **delivery)
        else:
            deliver = DeliverToBraze(api_key_file=args.api_key_file, key_files=key_files, **delivery)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if not args.dry_run and local:
        _local_keys(deliver, translate.endpoints)

    pipeline = beam.Pipeline(options=options)
    requests, translate_dead = (pipeline | "Read" >> ReadNDJSON(*args.input, max_line_bytes=args.max_line_bytes)
                                | "Translate" >> translate)
    if args.dry_run:
        batched, deliver_dead = requests | "Batch" >> deliver
        _ = batched | "Write requests" >> beam.io.WriteToText(args.output)
    else:
        deliver_dead = requests | "Deliver" >> deliver
    _ = ((translate_dead, deliver_dead) | "Dead letters" >> beam.Flatten()
         | "As JSON" >> (beam.Map(dead_letter_text) if args.dry_run else deliver.as_text())
         | "Write dead letters" >> beam.io.WriteToText(args.dead_letter, shard_name_template=""))
    if not args.dry_run:
        _say(f"each worker process sends at 1/{workers} of every {deliver.settings.target.title} rate limit "
             "(--workers)")
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except Exception as e:  # noqa: BLE001 - the runner's error, said in a line; the traceback is in the runner's log
        _say(f"stopped: {_reason(e)}")
        return EXIT_USAGE
    found = account(result, dry=args.dry_run)
    if found is None:
        _say("the runner gives no metrics: the account is in its own monitoring (namespace mapspec)")
        return EXIT_OK
    _say(found.text(deliver.settings.target.title))
    if not found.adds_up():
        _say("the account does not add up: a runner that retried work counted it twice (attempted metrics), or "
             "this is a bug")
        return EXIT_FAIL
    return EXIT_FAIL if found.dead_lettered else EXIT_OK


def _local_keys(deliver: Any, endpoints: list[str]) -> None:
    """On this machine (an in-process runner), a key that the mapping's endpoints need and that is missing or
    cannot be used is a usage error now, as for `mapspec run`."""
    from ..delivery.common import Fatal
    from ..delivery.job import needed_credentials
    from .deliver import read_keys

    target = deliver.settings.target
    try:
        keys = read_keys(target, deliver.settings.key_files)
    except Fatal as e:
        raise UsageError(str(e)) from None
    first = next(iter(target.credentials), None)
    for name in sorted(needed_credentials(target, endpoints), key=list(target.credentials).index):
        credential = target.credentials[name]
        if name in keys or credential.optional:
            continue
        what = credential.description.split(",")[0] if credential.description else f"the {name} key"
        what = what[4:] if what.startswith("the ") else what
        where = "--api-key-file PATH" if name == first else f"--key-file {name}=PATH"
        raise UsageError(f"no {what}: set {credential.env}, or give {where}; or --dry-run to see the requests "
                         "without sending them")


def _writable(option: str, path: str, single: bool) -> None:
    """A usage error for a local file that cannot be written (a remote one is the workers' business): said
    now, not after the job has sent everything."""
    import os

    if "://" in path:
        return
    folder = os.path.dirname(os.path.abspath(path)) or "."
    while not os.path.exists(folder):  # Beam makes the folders it needs
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path!r}: cannot write there ({folder} is not a folder this user may write)")
    if single and os.path.isdir(path):
        raise UsageError(f"{option} {path!r} is a folder: give a file name")


def _reason(error: BaseException) -> str:
    """What stopped a pipeline, in a line: the Fatal a worker raised (its message), or the error's last line."""
    from ..delivery.common import Fatal

    text = str(error)
    if isinstance(error, Fatal):
        return text
    marker = "mapspec.delivery.common.Fatal: "
    if marker in text:
        return text[text.rindex(marker) + len(marker):].splitlines()[0]
    lines = [line for line in text.splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
