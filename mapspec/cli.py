"""The `mapspec` command line. Imports are lazy so that `mapspec --help` starts fast."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterator
from typing import IO, Any

from .terminal import printable, printable_line

#: One meaning per exit code, the same for every command (documented in the README and in --help):
#: 0  done, and nothing to report;
#: 1  done, and the answer is "problems": check found errors, test had failing examples, diff found a
#:    difference, run dead-lettered events, translate could not translate some events;
#: 2  could not do it: a bad command line, a file or settings that cannot be read, a mapping that does not
#:    compile (for every command but check, whose answer that is), a run stopped by Braze.
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
#: the mapping `translate` and `run` use when none is named
DEFAULT_MAPPING = "segment-braze"
#: the longest line of events read by default (limits.MAX_LINE_BYTES, not imported so that --help starts fast)
MAX_LINE_BYTES = 1 << 20
_LINE_HELP = "a longer line of events is an error on its line, and the lines after it are read"
EXIT_CODES = f"""Exit status: {EXIT_OK} done, nothing to report; {EXIT_FAIL} done, and problems found (check: errors; \
test: failing examples; diff: differences; run: dead-lettered events; translate: events that could not be \
translated); {EXIT_USAGE} could not do it (bad command line, unreadable file or settings, a mapping that does \
not compile, a run stopped by Braze); 130 interrupted."""


class UsageError(Exception):
    """A problem with the command line or its input files, printed as one line (after the command's usage when
    `usage` is set: a problem with the options themselves)."""

    def __init__(self, message: str, usage: bool = False):
        super().__init__(message)
        self.usage = usage


class _Help(argparse.HelpFormatter):
    """Every option's help says its default, unless the help says it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.default in (None, False, True, "", argparse.SUPPRESS)
                or (not action.option_strings and action.nargs not in ("?", "*"))):
            return text
        return text + " (default: %(default)s)"


#: the parser of each command, for its own usage in its errors
_COMMANDS: dict[str, argparse.ArgumentParser] = {}


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(
        prog="mapspec",
        description="Segment-to-Braze routing as code: check, compile and run mapping files.",
        epilog="A bundled mapping is named without folder or suffix (segment-braze; `mapspec mappings` lists them); "
               "anything else is a path. " + EXIT_CODES,
        formatter_class=_Help,
    )
    p.add_argument("--version", action="version", version=f"mapspec {__version__}",
                   help="print mapspec's version and exit")
    commands = p.add_subparsers(dest="command", metavar="COMMAND")

    class _Sub:
        """`add_parser` with the formatter that shows defaults, remembering each command's parser."""

        def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
            parser = commands.add_parser(name, formatter_class=_Help, **kwargs)
            _COMMANDS[name] = parser
            return parser

    sub = _Sub()

    t = sub.add_parser("translate", help="translate NDJSON Segment events into Braze requests, one line each",
                       description="Read NDJSON events and write one JSON line per input line, in order: "
                                   '{"requests": [...]} (with "skipped": {"reason": ...} when nothing is sent), '
                                   '{"rejected": {"message": ...}} (with "requests" when some are still sent) or '
                                   '{"error": {"line": N, "message": ...}} for a line that is not a JSON object. '
                                   "Exit 0, 1 when an event could not be translated (reported on its line), 2 when "
                                   "the mapping does not compile.")
    t.add_argument("input", nargs="?", default="-", help="NDJSON file of Segment events (default: stdin)")
    t.add_argument("--mapping", "-m", default=DEFAULT_MAPPING, help="mapping name or path")
    t.add_argument("--settings", "-s", metavar="FILE.json", help="the mapping's settings, a JSON object")
    t.add_argument("--max-line-bytes", type=int, default=MAX_LINE_BYTES, help=_LINE_HELP)

    c = sub.add_parser("compile", help="compile a mapping to a standalone Python module",
                       description="Write a module exposing translate(event) and Rejected, which imports "
                                   "nothing but the standard library. Exit 0, or 2 when the mapping does not "
                                   "compile.")
    c.add_argument("mapping", help="mapping name or path")
    c.add_argument("--settings", "-s", metavar="FILE.json", help="the mapping's settings, a JSON object")
    c.add_argument("-o", "--output", metavar="FILE.py", help="where to write the module (default: stdout)")
    c.add_argument("--emit", choices=["python"], default="python", help="what to write: a Python module (the "
                   "default and only choice)")
    c.add_argument("--share", action="store_true", help="the requests may share lists and objects with the event "
                   "(faster: nothing is copied), for a program that owns its events and neither reads nor changes "
                   "one after translating it; by default what passes from the event into the requests is copied")

    k = sub.add_parser("check", help="check mappings and report every problem with its file:line:column",
                       description="Exit 0 when every mapping compiles, 1 when one has errors (or, with "
                                   "--strict, warnings), 2 when one cannot be read.")
    k.add_argument("mappings", nargs="+", metavar="MAPPING", help="mapping names or paths")
    k.add_argument("--settings", "-s", metavar="FILE.json", help="also check these settings against each mapping")
    k.add_argument("--strict", action="store_true",
                   help="fail (exit 1) on warnings too, for CI; a warning acknowledged on its line with "
                        "`# mapspec: allow CODE (why)` does not count")

    te = sub.add_parser("test", help="run the examples a mapping carries (x.test.yaml, or `examples:`)",
                        description="Run every example of each mapping; show a diff for each failure. "
                                    "Exit 0 when all pass, 1 when one fails, 2 when a mapping does not compile "
                                    "or its examples cannot be read.")
    te.add_argument("mappings", nargs="*", metavar="MAPPING", help="mapping names or paths (default: every bundled one)")
    te.add_argument("--coverage", action="store_true",
                    help="also report which rules, branches and fields the examples reach (as `mapspec coverage`)")

    ex = sub.add_parser("explain", help="show why one event gives what it gives: rules, values, every field",
                        description="Run a mapping on one event and show the settings; for each rule tried, every "
                                    "value its condition read and what it gave; for every field sent, the "
                                    "expression, mapping line and chain of definitions and values behind it; and "
                                    "for every field left out, where it went missing. Exit 0, 1 when the "
                                    "translator fails on the event (a bug), 2 when the mapping does not compile "
                                    "or the event cannot be read.")
    ex.add_argument("mapping", help="mapping name or path")
    ex.add_argument("--event", "-e", required=True, metavar="FILE|-",
                    help="a file holding one event (a JSON object), or NDJSON with --line or --message-id")
    ex.add_argument("--line", "-n", type=int, metavar="N", help="explain the event on line N of an NDJSON file")
    ex.add_argument("--message-id", metavar="ID", help="explain the event with this messageId in an NDJSON file")
    ex.add_argument("--settings", "-s", metavar="FILE.json", help="the mapping's settings, a JSON object")
    ex.add_argument("--max-line-bytes", type=int, default=MAX_LINE_BYTES,
                    help="with --line or --message-id, the longest line read")
    ex.add_argument("--format", choices=["text", "json"], default="text",
                    help="text for people, or json for tools (default: text)")

    cv = sub.add_parser("coverage", help="which rules, branches and fields a file of events exercises",
                        description="Run a mapping on every event of an NDJSON file and count, per rule, the events "
                                    "that tried it and that it decided; per branch of every conditional (`a if c "
                                    "else b`, `a if c`, `a else b`, a request's `when`, a `for`'s `if`), the events "
                                    "that took it; per field of a request body, the events that sent it and that "
                                    "left it out; then list what no event reached. Exit 0, or 2 when the mapping "
                                    "does not compile or the events cannot be read.")
    cv.add_argument("mapping", help="mapping name or path")
    cv.add_argument("events", metavar="EVENTS.ndjson", help="NDJSON file of events, or - for stdin")
    cv.add_argument("--settings", "-s", metavar="FILE.json", help="the mapping's settings, a JSON object")
    cv.add_argument("--max-line-bytes", type=int, default=MAX_LINE_BYTES,
                    help="a longer line of events is counted as not an event, and the lines after it are read")
    cv.add_argument("--format", choices=["text", "json"], default="text",
                    help="text for people (tables), or json for tools (default: text)")

    d = sub.add_parser("diff", help="what changes between two mappings, in structure and on real events",
                       description="Compare two mappings (bundled names, paths, or REV:path git revisions): rules "
                                   "and fields added, removed or changed, and with --events, per Braze field, how "
                                   "many events change and how. Exit 0 when equivalent (on the events, when "
                                   "given), 1 when different, 2 on error.")
    d.add_argument("old", help="the mapping before: name, path, or REV:path (HEAD~1:mappings/x.yaml)")
    d.add_argument("new", help="the mapping after")
    d.add_argument("--events", metavar="FILE|-", help="NDJSON events to run both mappings on")
    d.add_argument("--settings", "-s", metavar="FILE.json", help="settings for both mappings")
    d.add_argument("--max-line-bytes", type=int, default=MAX_LINE_BYTES,
                   help="a longer line of --events is not an event, and the lines after it are read")
    d.add_argument("--old-settings", metavar="FILE.json", help="settings for the old mapping")
    d.add_argument("--new-settings", metavar="FILE.json", help="settings for the new mapping")
    d.add_argument("--format", choices=["text", "json"], default="text",
                   help="text for people, or json for tools")
    d.add_argument("--examples", type=int, default=3, metavar="N",
                   help="events shown for each kind of difference (the rest are counted: `and 12 more`)")

    r = sub.add_parser("run", help="translate events and deliver them to Braze: batched, rate-limited, retried",
                       description="Stream NDJSON Segment events, translate them, batch them and POST them to Braze "
                                   "with the key in BRAZE_REST_API_KEY (or --api-key-file). With --dry-run, the "
                                   "batched requests are written to stdout instead and nothing is sent. Exit 0 when "
                                   "every line was delivered or skipped (or the job was already complete), 1 when "
                                   "this run dead-lettered anything, 2 when the run cannot start or is stopped "
                                   "(no key, a bad key or endpoint, a checkpoint for other input).")
    r.add_argument("inputs", nargs="*", default=["-"], metavar="INPUT", help="NDJSON files (default: stdin)")
    r.add_argument("--mapping", "-m", default=DEFAULT_MAPPING, help="mapping name or path")
    r.add_argument("--settings", "-s", metavar="FILE.json", help="the mapping's settings, a JSON object")
    r.add_argument("--dead-letter", metavar="FILE", help="NDJSON file for what cannot be delivered")
    r.add_argument("--checkpoint", metavar="FILE", help="record progress here; the same command resumes from it")
    r.add_argument("--stdin-name", metavar="NAME",
                   help="a name for the stream on stdin (the day's export, say): needed with --checkpoint, so "
                        "that a resume goes on only from the same stream")
    r.add_argument("--dry-run", action="store_true", help="write the batched requests to stdout, send nothing")
    r.add_argument("--api-key-file", metavar="FILE",
                   help="read the API key from this file (Braze's REST API key; default: the environment "
                        "variable the target names, BRAZE_REST_API_KEY). Other keys, such as "
                        "BRAZE_PARTNER_API_KEY for the cohort API, come from the environment")
    r.add_argument("--endpoint", metavar="URL", help="send to this base URL instead of the mapping's")
    r.add_argument("--batch-size", type=int, metavar="N",
                   help="objects per array per request, at most (default: each endpoint's limit from the target, "
                        "such as 75 for /users/track)")
    r.add_argument("--max-objects", type=int, metavar="N",
                   help="objects per request in all, at most (50 on some Braze contracts; default: the target's)")
    r.add_argument("--in-flight", type=int, default=8, help="requests in flight at once (default 8)")
    r.add_argument("--workers", type=int, default=0, metavar="N",
                   help="processes to fork that parse and translate the events (default 0: this one does); this "
                        "one then batches, sends and keeps the account and checkpoint, exactly as alone")
    r.add_argument("--rate", metavar="N/SECONDS",
                   help="a rate limit over every endpoint together, besides each endpoint's own limit from the "
                        "target (3000/3 for /users/track, 20000/60 for the user endpoints, ...)")
    r.add_argument("--retry-deadline", type=float, default=300.0, metavar="SECONDS",
                   help="how long a batch may keep being retried (default 300)")
    r.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long one request may take, from connecting to the answer (default 30)")
    r.add_argument("--max-line-bytes", type=int, default=MAX_LINE_BYTES, help="longer input lines are dead-lettered")
    r.add_argument("--skip-unchanged", action="store_true",
                   help="leave out attributes whose value has not changed since last sent (kept in --state)")
    r.add_argument("--state", metavar="FILE.sqlite", default="mapspec-state.sqlite",
                   help="what a run remembers for the next: the values --skip-unchanged sent, and the requests a "
                        "mapping sends once per key (`once:`, such as creating a cohort); default "
                        "mapspec-state.sqlite")
    r.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"],
                   help="how much mapspec logs to stderr (the HTTP library's own logging stays at warnings)")

    em = sub.add_parser("emulator", help="a local Braze REST API for development and tests",
                        description="Serve every endpoint of the target description on loopback, with its "
                                    "validation, answers and rate limits, and injected faults, printing a line per "
                                    "request. GET /_emulator/record shows what it accepted and the log of requests; "
                                    "POST /_emulator/reset forgets both (and the rate windows).")
    em.add_argument("--port", type=int, default=8765, help="the port to listen on (0: any free port)")
    em.add_argument("--host", default="127.0.0.1", help="the address to listen on (loopback unless you say so)")
    em.add_argument("--faults", default="", metavar="SPEC", help="e.g. 429=0.1,5xx=0.05,drop=0.01,slow=0.02:0.5,seed=7")
    em.add_argument("--rate", metavar="N/SECONDS",
                    help="one rate limit for every endpoint (default: each endpoint's own, from the target)")
    em.add_argument("--api-key-file", metavar="FILE",
                    help="accept only this key (default: BRAZE_REST_API_KEY when set, else any non-empty key)")
    em.add_argument("--target", default="braze", help="the API to play: a bundled target or a target description "
                                                      "(default: braze)")
    em.add_argument("--quiet", "-q", action="store_true", help="print no line per request")

    im = sub.add_parser("import", help="turn another tool's setup into a mapping (segment-actions)",
                        description="Turn a Segment Actions destination's setup (its subscriptions, exported as "
                                    "JSON) into a mapping: triggers become rule conditions, field mappings "
                                    "become expressions, and Segment's validation comes along. The mapping is "
                                    "checked before it is written. Exit 0 when it was written, 1 when the "
                                    "export cannot be imported (each problem is named), 2 on a usage error.")
    im.add_argument("kind", choices=["segment-actions"], help="what the export is")
    im.add_argument("export", metavar="EXPORT.json",
                    help='{"destination": "braze" | "braze-cohorts", "settings": {...}, "subscriptions": [...]}')
    im.add_argument("-o", "--output", metavar="OUT.yaml", help="where to write the mapping (default: stdout)")
    im.add_argument("--name", help="the mapping's name (default: the output file's name, else segment-actions "
                                   "or segment-cohorts)")

    sc = sub.add_parser("schema", help="print a JSON Schema of mapping files, for YAML editors",
                        description="Print a JSON Schema (draft-07) of the mapping file format. Point your "
                                    "editor's YAML support at it to validate and complete mapping files. With "
                                    "--endpoints, print the endpoints of a target instead, as a Markdown table.")
    sc.add_argument("--endpoints", action="store_true", help="print the target's endpoints (a Markdown table)")
    sc.add_argument("--target", default="braze", help="the target for --endpoints: a bundled name or a path "
                                                      "(default: braze)")

    mp = sub.add_parser("mappings", help="list the bundled mappings, or copy one to start your own",
                        description="List the mappings that ship with mapspec: name, where the file is, what it is "
                                    "for. With --copy, write an editable copy of one, with its examples, to start a "
                                    "mapping of your own. Exit 0, or 2 when the copy cannot be written.")
    mp.add_argument("--copy", nargs=2, metavar=("NAME", "DEST"),
                    help="copy the bundled mapping NAME to DEST (a .yaml file, or a folder), with its examples "
                         "beside it (DEST.test.yaml)")
    mp.add_argument("--force", action="store_true", help="with --copy, overwrite files that exist")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the command's parser, with the command's usage (argparse exits 2)
        (_COMMANDS.get(args.command) or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return {"translate": cmd_translate, "compile": cmd_compile, "check": cmd_check, "test": cmd_test,
                "explain": cmd_explain, "coverage": cmd_coverage, "diff": cmd_diff, "schema": cmd_schema,
                "run": cmd_run, "emulator": cmd_emulator, "import": cmd_import,
                "mappings": cmd_mappings}[args.command](args)
    except UsageError as e:
        if e.usage and args.command in _COMMANDS:
            _COMMANDS[args.command].print_usage(sys.stderr)
        print(printable_line(f"mapspec {args.command}: error: {e}"), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


def _settings(path: str | None) -> dict[str, Any]:
    from .limits import read_bytes

    if path is None:
        return {}
    try:
        data = json.loads(read_bytes(path))
    except OSError as e:
        raise UsageError(f"cannot read settings {path}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"settings {path} is not JSON: {e}") from None
    except RecursionError:
        raise UsageError(f"settings {path} is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise UsageError(f"settings {path} must be a JSON object of setting names to values")
    return data


def _print_diagnostics(diagnostics, stream: IO[str] = sys.stderr) -> None:
    for d in diagnostics:
        print(d.render(), file=stream)


def _compile(mapping: str, settings_path: str | None, standalone: bool, share: bool = False):
    """`share`: for a command that owns its events (it reads each from input, translates it and writes or sends
    the requests): the requests may share lists and objects with the event, which saves copying them."""
    from .compiler import compile_source, read_mapping

    settings = _settings(settings_path)
    source = read_mapping(mapping)
    return compile_source(source, settings, settings_origin=settings_path or "<settings>", standalone=standalone,
                          share=share)


def cmd_translate(args) -> int:
    from . import jsonio
    from .compiler import load_compiled
    from .errors import CompileError, Rejected

    try:
        translate = load_compiled(_compile(args.mapping, args.settings, standalone=False, share=True))
    except CompileError as e:
        _print_diagnostics(e.diagnostics)
        return EXIT_USAGE
    from .limits import line_too_long

    loads, dumps, BadJSON, Unencodable = jsonio.loads, jsonio.dumps_line, jsonio.BadJSON, jsonio.Unencodable
    fast, FastError, plain_numbers = jsonio.fast_loads, jsonio.FastError, jsonio.plain_numbers
    fast_dumps, newline = jsonio.fast_dumps, jsonio.NEWLINE
    out = sys.stdout.buffer
    internal = 0
    number = 0
    for lines in _blocks(args.input, args.max_line_bytes):
        plain = plain_numbers(lines)  # (jsonio's rule for numbers, tested once for the block)
        written: list[bytes] = []  # (a block's lines written at once)
        write = written.append
        for line in lines:
            number += 1
            if line is None:
                write(dumps({"error": {"line": number, "message": line_too_long(args.max_line_bytes)}}))
                continue
            try:
                if plain:
                    try:
                        event = fast(line)
                    except FastError:
                        event = loads(line)  # (which says why in the standard library's words)
                else:
                    event = loads(line)
            except BadJSON as e:  # not an event: NaN, a number or text JSON cannot carry, ... (see mapspec.jsonio)
                write(dumps({"error": {"line": number, "message": str(e)}}))
                continue
            if event.__class__ is not dict:
                kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
                    type(event), "a number")
                write(dumps({"error": {"line": number, "message": f"an event must be a JSON object, not {kind}"}}))
                continue
            try:
                requests = translate(event)
                if requests:
                    result: dict[str, Any] = {"requests": requests}
                else:  # skipped: why
                    reason = getattr(requests, "reason", None)
                    result = {"requests": requests,
                              "skipped": {"reason": reason if isinstance(reason, str) else "nothing to send"}}
            except Rejected as e:
                result = {"requests": e.requests, "rejected": {"message": str(e)}} if e.requests else \
                    {"rejected": {"message": str(e)}}
            except Exception as e:  # noqa: BLE001 - a bug must not stop the stream; it is reported on the line
                internal += 1
                result = {"error": {"line": number, "message": f"the translator failed: {type(e).__name__}: {e}"}}
            try:
                data = fast_dumps(result, option=newline)
            except TypeError:  # (beyond 64 bits, a lone surrogate, not JSON: dumps says which)
                data = None
            if data is not None and b"null" not in data:  # (else it may be NaN: dumps looks closer)
                write(data)
                continue
            try:
                write(dumps(result))
            except Unencodable as e:
                internal += 1
                write(dumps({"error": {"line": number, "message": f"the requests cannot be written as JSON: {e}"}}))
        out.write(b"".join(written))
    out.flush()
    return EXIT_FAIL if internal else EXIT_OK


def cmd_import(args) -> int:
    from pathlib import Path

    from .compiler import check_source
    from .importers.segment_actions import ImportFailed, import_file
    from .source import SourceFile

    name = args.name or (Path(args.output).stem if args.output else None)
    try:
        text = import_file(args.export, name=name)
    except ImportFailed as e:
        for problem in e.problems:  # names from the export: control characters are shown escaped
            print(printable_line(f"{args.export}: {problem}"), file=sys.stderr)
        return EXIT_FAIL
    where = args.output or "<import>"
    _, diagnostics = check_source(SourceFile(where, text))
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors:
        _print_diagnostics(errors)
        print(f"mapspec import: the mapping made of {args.export} does not check; this is a bug in the importer, "
              "please report it with the export", file=sys.stderr)
        return EXIT_FAIL
    if not args.output:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {args.output}: {e.strerror}") from None
    print(printable_line(f"wrote {args.output}"), file=sys.stderr)
    return EXIT_OK


def _lines(path: str, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(number, text) of every line of an NDJSON file, or stdin for `-`; text None for a line longer than
    `limit` bytes (an error on that line: the lines after it are read)."""
    return enumerate(itertools.chain.from_iterable(_blocks(path, limit)), 1)


def _blocks(path: str, limit: int) -> Iterator[list[bytes | None]]:
    """The lines of an NDJSON file, or stdin for `-`, a list at a time (see limits.ndjson_blocks)."""
    from .limits import ndjson_blocks

    if limit < 1:
        raise UsageError("--max-line-bytes must be at least 1", usage=True)
    if path == "-":
        yield from ndjson_blocks(sys.stdin.buffer, limit)
        return
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    with fh:
        yield from ndjson_blocks(fh, limit)


def cmd_compile(args) -> int:
    from .errors import CompileError

    try:
        compiled = _compile(args.mapping, args.settings, standalone=True, share=args.share)
    except CompileError as e:
        _print_diagnostics(e.diagnostics)
        return EXIT_USAGE
    _print_diagnostics(compiled.warnings)
    source = compiled.module.source
    if not args.output or args.output == "-":
        sys.stdout.write(source)
        return EXIT_OK
    try:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(source)
    except OSError as e:
        raise UsageError(f"cannot write {args.output}: {e.strerror}") from None
    print(printable_line(f"wrote {args.output} (mapping {compiled.document.name!r})"), file=sys.stderr)
    return EXIT_OK


def _read_or_report(name: str):
    """(a mapping's source, None), or (None, exit code) after printing why it cannot be read: 2 when the
    file cannot be read, 1 when it is read and is not text (a problem in the mapping, at a line and column)."""
    from .compiler import read_mapping
    from .errors import CompileError

    try:
        return read_mapping(name), None
    except CompileError as e:
        _print_diagnostics(e.diagnostics)
        return None, EXIT_USAGE if any(d.code == "E001" for d in e.diagnostics) else EXIT_FAIL


def cmd_check(args) -> int:
    from .check import resolve_settings
    from .compiler import check_source
    from .diagnostics import DiagnosticBag

    settings = _settings(args.settings) if args.settings else None
    failed = 0
    status_code = EXIT_OK
    for name in args.mappings:
        source, code = _read_or_report(name)
        if source is None:
            status_code = max(status_code, code)
            continue
        doc, diagnostics = check_source(source)
        if doc is not None and settings is not None and not any(d.severity == "error" for d in diagnostics):
            bag = DiagnosticBag()
            resolve_settings(doc, settings, bag, args.settings)
            diagnostics = diagnostics + bag.items
        # errors first, then warnings, each in file order
        _print_diagnostics([d for d in diagnostics if d.severity == "error"])
        _print_diagnostics([d for d in diagnostics if d.severity != "error"])
        errors = sum(1 for d in diagnostics if d.severity == "error")
        warnings = len(diagnostics) - errors
        if errors or (args.strict and warnings):
            failed += 1
        status = "ok" if not errors else f"{errors} error{'s' * (errors != 1)}"
        if warnings:
            status += f", {warnings} warning{'s' * (warnings != 1)}" + (" (--strict: they fail)" if args.strict else "")
        print(printable_line(f"{source.path}: {status}"), file=sys.stderr)
    return max(status_code, EXIT_FAIL if failed else EXIT_OK)


def cmd_test(args) -> int:
    from .compiler import bundled_names
    from .testing import run_examples

    names = args.mappings or bundled_names()
    status_code = EXIT_OK
    for name in names:
        source, _ = _read_or_report(name)
        if source is None:
            status_code = EXIT_USAGE
            continue
        report = run_examples(source, coverage=args.coverage)
        for error in report.errors:
            print(printable(error), file=sys.stderr)
        for outcome in report.failed:
            ex = outcome.example
            print(printable_line(f"{ex.location}: FAIL {ex.name}" + (f" (rule `{outcome.fired}`)" if outcome.fired else "")))
            print(printable("    " + outcome.problem.replace("\n", "\n    ")))
        passed = len(report.outcomes) - len(report.failed)
        if report.errors:
            print(printable_line(f"{source.path}: not run"))
            status_code = EXIT_USAGE
            continue
        line = printable_line(f"{source.path}: {passed} passed, {len(report.failed)} failed")
        if not report.outcomes and not report.errors:
            line += " (no examples: add them under `examples:` or in a .test.yaml file beside the mapping)"
        if report.uncovered:
            line += f"; rules without an example: {printable_line(', '.join(report.uncovered))}"
        print(line)
        if report.coverage is not None:
            from .coverage import render_text

            print("\n" + render_text(report.coverage, "its examples"))
        if report.failed:
            status_code = max(status_code, EXIT_FAIL)
    return status_code


def _read_bytes(path: str) -> bytes:
    """A file read whole (`-`: stdin), within limits.MAX_FILE_BYTES."""
    from .limits import read_bytes

    try:
        return read_bytes(path)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None


def cmd_explain(args) -> int:
    from .errors import CompileError
    from .events import EventError, pick, pick_line
    from .explain import explain_json, explain_report

    if args.line is not None and args.message_id is not None:
        raise UsageError("give --line or --message-id, not both", usage=True)
    try:
        if args.line is not None or args.message_id is not None:  # a line of NDJSON: read line by line
            event, origin = pick_line(_lines(args.event, args.max_line_bytes), args.event, args.line,
                                      args.message_id, args.max_line_bytes)
        else:
            event, origin = pick(_read_bytes(args.event), args.event)
    except EventError as e:
        raise UsageError(str(e)) from None
    try:
        compiled = _compile(args.mapping, args.settings, standalone=False)
    except CompileError as e:
        _print_diagnostics(e.diagnostics)
        return EXIT_USAGE
    if args.format == "json":
        report = explain_json(compiled, event, origin=origin)
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        return EXIT_FAIL if "error" in report["result"] else EXIT_OK
    text, failed = explain_report(compiled, event, origin=origin)
    sys.stdout.write(text)
    return EXIT_FAIL if failed else EXIT_OK


def cmd_coverage(args) -> int:
    from .coverage import Counter, render_json, render_text
    from .errors import CompileError

    try:
        compiled = _compile(args.mapping, args.settings, standalone=False)
    except CompileError as e:
        _print_diagnostics(e.diagnostics)
        return EXIT_USAGE
    from . import jsonio

    counter = Counter(compiled)
    for _, line in _lines(args.events, args.max_line_bytes):
        try:
            event = jsonio.loads(line) if line is not None else None
        except (jsonio.BadJSON, RecursionError):
            event = None  # counted as a line that is not an event
        counter.add(event)
    label = "stdin" if args.events == "-" else args.events
    render = render_json if args.format == "json" else render_text
    sys.stdout.write(render(counter.report, label))
    return EXIT_OK


def cmd_diff(args) -> int:
    from .compiler import compile_source, load_compiled
    from .diff import behaviour, read_side, render_json, render_text, structural
    from .errors import CompileError

    if args.settings and (args.old_settings or args.new_settings):
        raise UsageError("give --settings, or --old-settings and --new-settings, not both", usage=True)
    old_settings = args.old_settings or args.settings
    new_settings = args.new_settings or args.settings
    try:
        old = compile_source(read_side(args.old), _settings(old_settings), standalone=False,
                             settings_origin=old_settings or "<settings>")
        new = compile_source(read_side(args.new), _settings(new_settings), standalone=False,
                             settings_origin=new_settings or "<settings>")
    except CompileError as e:
        _print_diagnostics(e.diagnostics)
        return EXIT_USAGE
    changes = structural(old.document, new.document)
    result = None
    if args.events:
        from . import jsonio

        def events():
            for number, line in _lines(args.events, args.max_line_bytes):
                try:
                    yield number, jsonio.loads(line) if line is not None else None
                except jsonio.BadJSON:
                    yield number, None

        if args.examples < 0:
            raise UsageError("--examples takes a number of events, 0 or more", usage=True)
        result = behaviour(load_compiled(old), load_compiled(new), events(), args.examples)
    if args.format == "json":
        sys.stdout.write(render_json(old, new, changes, result))
    else:
        sys.stdout.write(render_text(old, new, changes, result, args.events or ""))
    different = result.differing if result is not None else bool(changes)
    return EXIT_FAIL if different else EXIT_OK


def _rate(text: str) -> tuple[int, float]:
    try:
        n, _, seconds = text.partition("/")
        rate = int(n), float(seconds or 1)
    except ValueError:
        raise UsageError(f"--rate takes N/SECONDS, such as 3000/3, not {text!r}", usage=True) from None
    if rate[0] < 1 or rate[1] <= 0:
        raise UsageError("--rate must allow at least one request in a positive time", usage=True)
    return rate


def _api_key(path: str | None, env: str = "BRAZE_REST_API_KEY") -> str | None:
    """The API key from --api-key-file or the environment; never from a flag, never printed."""
    import os

    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                key = fh.read().strip()
        except OSError as e:
            raise UsageError(f"cannot read the API key file {path}: {e.strerror}") from None
        if not key:
            raise UsageError(f"the API key file {path} is empty")
        return key
    return os.environ.get(env) or None


def cmd_run(args) -> int:
    import logging

    from .compiler import load_compiled
    from .delivery import Fatal, Job, Options, execute
    from .delivery.common import key_problem, url_problem
    from .errors import CompileError

    # mapspec's own logging at the level asked for; the HTTP libraries' (httpx, httpcore) at warnings only
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mapspec").setLevel(args.log_level.upper())
    if args.endpoint:
        problem = url_problem(args.endpoint)
        if problem:
            raise UsageError(f"--endpoint {args.endpoint!r}: {problem} (for example https://rest.iad-01.braze.com, "
                             "or http://127.0.0.1:8765 for the emulator)")
    for name in ("timeout", "retry_deadline"):
        if not getattr(args, name) > 0:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive number of seconds")
    if args.workers < 0:
        raise UsageError("--workers must be 0 (this process translates) or more")
    for name in ("in_flight", "batch_size", "max_objects", "max_line_bytes"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    try:
        translate = load_compiled(_compile(args.mapping, args.settings, standalone=False, share=True))
    except CompileError as e:
        _print_diagnostics(e.diagnostics)
        return EXIT_USAGE
    dry = args.dry_run
    key = None
    target = translate.target
    first = next(iter(target.credentials.values()), None) if target is not None else None
    if not dry and (first is None or any(target.endpoints[e].credentials == first.name
                                         for e in translate.endpoints)):
        env = first.env if first is not None and first.env else "BRAZE_REST_API_KEY"
        key = _api_key(args.api_key_file, env)
        where = f"the API key file {args.api_key_file}" if args.api_key_file else env
        what = first.description.split(",")[0] if first is not None and first.description else "the API key"
        what = what[4:] if what.startswith("the ") else what
        if key is None:
            raise UsageError(f"no {what}: set {env}, or give --api-key-file FILE; or --dry-run to see the "
                             "requests without sending them")
        problem = key_problem(key)
        if problem:
            raise UsageError(f"the key in {where} cannot be sent in an HTTP header: {problem}")
    options = Options(batch_size=args.batch_size, max_objects=args.max_objects, in_flight=args.in_flight,
                      rate=_rate(args.rate) if args.rate else None, retry_deadline=args.retry_deadline,
                      timeout=args.timeout, max_line_bytes=args.max_line_bytes, workers=args.workers)
    job = Job(translate, args.inputs, key, options, dead_letter=args.dead_letter,
              checkpoint=args.checkpoint, state=args.state, skip_unchanged=args.skip_unchanged,
              endpoint=args.endpoint, out=sys.stdout.buffer if dry else None,
              progress=sys.stderr if sys.stderr.isatty() else None, stdin_name=args.stdin_name)
    say = _say
    service = target.title if target is not None else "the API"
    try:
        account, outcome = execute(job)
    except Fatal as e:
        outcome = getattr(e, "outcome", None)
        say(f"stopped: {e}" if outcome is not None else f"cannot start: {e}")
        if outcome is not None and (outcome.run.read or outcome.pending):
            say(outcome.run.text(service))
            if outcome.pending:
                after = ("the checkpoint is before them: the same command goes on from there" if args.checkpoint
                         else "without --checkpoint, a new run starts from the first line again")
                lines = "1 line was" if outcome.pending == 1 else f"{outcome.pending} lines were"
                say(f"{lines} neither delivered nor dead-lettered; {after}")
        return EXIT_USAGE
    except OSError as e:
        raise UsageError(f"{e.filename or ''}: {e.strerror}") from None
    if outcome.already_complete:
        where = "; ".join(f"{name} after line {n}" for name, n in outcome.resumed)
        say(f"already complete: nothing left to read ({where}); the job: {outcome.whole.text(service)}")
        return EXIT_OK
    say(account.text(service))
    if outcome.resumed:
        where = "; ".join(f"{name} after line {n}" for name, n in outcome.resumed)
        say(f"resumed ({where}); the whole job: {outcome.whole.text(service)}")
        if outcome.twice is None and not dry:
            say("the previous run left no record of its requests: what it had in flight may have been sent twice")
    if outcome.twice:
        say(f"{outcome.twice} objects may have been sent twice: the previous run had started requests for their "
            "lines when it stopped (Braze has no idempotency key)")
    if not account.adds_up() or (outcome.resumed and not outcome.whole.adds_up()):  # pragma: no cover - a bug
        say("the account does not add up: this is a bug")
        return EXIT_FAIL
    return EXIT_FAIL if account.dead_lettered else EXIT_OK


def _say(text: str) -> None:
    print(f"mapspec run: {text}", file=sys.stderr)


def cmd_emulator(args) -> int:
    import os
    import time

    from .delivery.emulator import Emulator, Faults, log_line

    try:
        faults = Faults.parse(args.faults)
    except ValueError as e:
        raise UsageError(str(e)) from None
    from .targets import load_target

    target, problems = load_target(args.target)
    if target is None:
        _print_diagnostics(problems)
        return EXIT_USAGE
    first = next(iter(target.credentials.values()), None)
    env = first.env if first is not None and first.env else "BRAZE_REST_API_KEY"
    key = _api_key(args.api_key_file, env) if args.api_key_file else os.environ.get(env) or None
    # the other credentials' keys (the partner key): checked when the environment gives them
    keys = {c.name: os.environ[c.env] for c in target.credentials.values()
            if c is not first and c.env and os.environ.get(c.env)}
    try:
        emulator = Emulator(args.host, args.port, key, faults, _rate(args.rate) if args.rate else None,
                            target=target, keys=keys)
    except OSError as e:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {e.strerror}") from None
    if not args.quiet:
        emulator.on_request = lambda entry: print(printable_line(log_line(entry)), file=sys.stderr, flush=True)
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    # Ctrl-C and a plain `kill` stop it, even when started in the background of a script (which starts it with
    # SIGINT ignored, and Python then never raises KeyboardInterrupt); set before the banner says it runs
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    emulator.start()
    url = emulator.url
    try:  # the banner inside: a signal as soon as it is read still ends in the summary
        print(f"{target.title} emulator on {url} (Ctrl-C stops it)\n"
              f"  GET {url}/_emulator/record: what it accepted, and the log of requests;  "
              f"POST {url}/_emulator/reset: forget both", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emulator.stop()
        print(json.dumps(emulator.record.summary()), file=sys.stderr)
    return EXIT_OK


def cmd_schema(args) -> int:
    if args.endpoints:
        from .targets import endpoint_table, load_target

        target, problems = load_target(args.target)
        if target is None:
            _print_diagnostics(problems)
            return EXIT_USAGE
        sys.stdout.write("\n".join(endpoint_table(target)) + "\n")
        return EXIT_OK
    from .schema import mapping_schema

    sys.stdout.write(json.dumps(mapping_schema(), indent=2) + "\n")
    return EXIT_OK


def cmd_mappings(args) -> int:
    from .compiler import bundled_names, bundled_path, check_source, read_mapping, shown_path

    if args.copy:
        return _copy_mapping(*args.copy, force=args.force)
    names = bundled_names()
    width = max(len(n) for n in names)
    for name in names:
        doc, _ = check_source(read_mapping(name))
        path = bundled_path(name)
        tests = path.with_name(f"{name}.test.yaml")
        default = "  (the default)" if name == DEFAULT_MAPPING else ""
        print(printable_line(f"{name:<{width}}  {shown_path(path)}{default}"))
        print(printable_line("    " + (doc.description if doc else f"(does not parse: mapspec check {name})")))
        if tests.is_file():
            print(printable_line(f"    examples: {shown_path(tests)}"))
    start = DEFAULT_MAPPING if DEFAULT_MAPPING in names else names[0]
    print(f"\nStart a mapping of your own from one: mapspec mappings --copy {start} my-mapping.yaml")
    return EXIT_OK


def _copy_mapping(name: str, dest: str, force: bool = False) -> int:
    """Write an editable copy of a bundled mapping, and its examples beside it."""
    from pathlib import Path

    from .compiler import bundled_names, bundled_path

    if name not in bundled_names():
        raise UsageError(f"no bundled mapping named `{name}`; bundled mappings: {', '.join(bundled_names())}")
    target = Path(dest)
    if target.is_dir() or dest.endswith(("/", "\\")):
        target = target / f"{name}.yaml"
    if target.suffix != ".yaml":
        raise UsageError(f"--copy writes a .yaml file (its examples go beside it as .test.yaml), not {dest!r}",
                         usage=True)
    source = bundled_path(name)
    copies = [(source, target)]
    tests = source.with_name(f"{name}.test.yaml")
    if tests.is_file():
        copies.append((tests, target.with_name(target.name[:-5] + ".test.yaml")))
    existing = [str(to) for _, to in copies if to.exists()]
    if existing and not force:
        raise UsageError(f"{' and '.join(existing)} exist{'s' * (len(existing) == 1)}: "
                         "choose another DEST, or --force to overwrite")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for origin, to in copies:
            to.write_bytes(origin.read_bytes())
    except OSError as e:
        raise UsageError(f"cannot write {e.filename or target}: {e.strerror}") from None
    written = " and ".join(str(to) for _, to in copies)
    print(printable_line(f"wrote {written} (a copy of {name}): edit them, then run "
                         f"`mapspec check {target}` and `mapspec test {target}`"))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
