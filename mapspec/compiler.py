"""The pipeline: read -> parse -> check -> resolve settings -> optimize -> generate -> load.

Each phase is a plain function; this module strings them together and turns diagnostics into a
`CompileError` at the public boundary.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import codegen, limits, optimize, runtime, targets
from .check import base_url_value, check, resolve_settings
from .diagnostics import Diagnostic, DiagnosticBag, allowed, sort_key
from .errors import CompileError, Rejected
from .result import result_of
from .source import SourceFile, Span
from .syntax import ast
from .syntax.document import parse_document
from .syntax.grammar import resource_dir

Translator = Callable[[dict], list]


def bundled_names() -> list[str]:
    """The names of the mappings shipped with mapspec."""
    return sorted(p.name[:-5] for p in resource_dir("mappings").glob("*.yaml") if not p.name.endswith(".test.yaml"))


def source_from_bytes(path: str, data: bytes) -> SourceFile:
    """A mapping file's bytes as text; bytes that are not UTF-8 are an error at their line and column."""
    try:
        return SourceFile(path, data.decode("utf-8"))
    except UnicodeDecodeError as e:
        source = SourceFile(path, data.decode("utf-8", "replace"))
        at = len(data[:e.start].decode("utf-8"))
        bad = " ".join(f"0x{b:02x}" for b in data[e.start:e.end])
        raise CompileError([Diagnostic(
            "E004", f"the file is not UTF-8 text: byte{'s' * (e.end - e.start > 1)} {bad} ({e.reason})",
            Span(source, at, at + 1), label="not UTF-8", hints=("save the mapping as UTF-8",))]) from None


def bundled_path(name: str) -> Path:
    """Where the file of a bundled mapping is (it may not exist)."""
    return resource_dir("mappings") / f"{name}.yaml"


def shown_path(path: Path) -> str:
    """A path as people can open it: relative to the working folder when inside it, otherwise absolute."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return str(resolved)


def read_mapping(name_or_path: str | Path) -> SourceFile:
    """A bundled mapping by name (`segment-braze`), or a mapping file by path. A bundled mapping's path, in
    every diagnostic, is where its file is (relative to the working folder when inside it)."""
    text_name = str(name_or_path)
    if "/" not in text_name and "\\" not in text_name and not text_name.endswith((".yaml", ".yml")):
        bundled = bundled_path(text_name)
        if bundled.is_file():
            return source_from_bytes(shown_path(bundled), limits.read_bytes(bundled))
        raise CompileError([Diagnostic(
            "E001", f"no bundled mapping named `{text_name}` (and no such file)", path=text_name,
            hints=(f"bundled mappings: {', '.join(bundled_names())}",))])
    path = Path(name_or_path)
    try:
        data = limits.read_bytes(path)
    except OSError as e:
        raise CompileError([Diagnostic("E001", f"cannot read the mapping: {e.strerror or e}", path=text_name)]) from None
    return source_from_bytes(text_name, data)


@dataclass(frozen=True)
class Compiled:
    """A mapping that compiled: its source, optimized tree, settings and generated module."""

    source: SourceFile
    document: ast.Document
    optimized: ast.Document
    settings: dict[str, Any]
    module: codegen.GeneratedModule
    warnings: tuple[Diagnostic, ...]
    #: what the requests go to
    target: targets.Target | None = None

    @property
    def endpoints(self) -> list[str]:
        """The endpoints (METHOD /path) the compiled mapping can send to."""
        if self.target is None:
            return []
        out: dict[str, None] = {}
        for rule in self.optimized.rules:
            for req in rule.requests:
                endpoint, _ = self.target.find(req.endpoint)
                if endpoint is not None:
                    out[endpoint.key] = None
        return list(out)


def check_source(source: SourceFile) -> tuple[ast.Document | None, list[Diagnostic]]:
    """Parse and check a mapping; every diagnostic, sorted by position."""
    diags = DiagnosticBag()
    doc = parse_document(source, diags)
    if doc is not None:
        check(doc, diags)
    return doc, sorted((d for d in _without_cascades(diags.items) if not allowed(d)), key=sort_key)


#: what an expression that could not be read makes the checker report about the object around it
_CASCADES = {"E307", "W406", "E308", "W407"}


def _without_cascades(items: list[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics, less those that only follow from a value that could not be read: a field whose value
    is a syntax error is left out of its object, which is then reported as lacking it."""
    broken = [d.span for d in items if d.code in ("E101", "E102") and d.span is not None]
    if not broken:
        return items
    return [d for d in items if not (d.code in _CASCADES and d.span is not None and any(
        d.span.start <= b.start and b.end <= d.span.end for b in broken))]


def compile_source(source: SourceFile, settings: Mapping[str, Any] | None = None, *,
                   settings_origin: str = "<settings>", standalone: bool = True,
                   passes: tuple[optimize.Pass, ...] = optimize.RULES, share: bool = False) -> Compiled:
    """Check, optimize and generate a translator. `share`: the requests may share lists and objects with
    the event they come from, for a caller that owns its events and neither reads nor changes one after
    translating it (`run`, `translate`: faster); without it they never do."""
    doc, diagnostics = check_source(source)
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors or doc is None:
        raise CompileError(errors)
    bag = DiagnosticBag()
    values = resolve_settings(doc, settings or {}, bag, settings_origin)
    if bag.errors:
        raise CompileError(bag.errors)
    if optimize.inline_settings not in passes:
        raise ValueError("inline_settings cannot be switched off: settings are always known")
    optimized = optimize.optimize(doc, values, passes)
    # what the requests are sent to is known now, whichever passes ran (resolve_settings checked it is text)
    base = base_url_value(doc, values)
    if isinstance(base, str):
        optimized = replace(optimized, base_url=ast.Literal(doc.base_url.span if doc.base_url else None, base))
    target = targets.get_target(doc.target, relative_to=source.path)
    assert target is not None  # the checker reported an unknown target
    module = codegen.generate(optimized, target, values, source.path, source.text, standalone=standalone,
                              share=share)
    return Compiled(source, doc, optimized, values, module,
                    tuple(d for d in diagnostics if d.severity == "warning"), target)


_loaded = 0


def load_compiled(compiled: Compiled, helpers: Mapping[str, Callable[..., Any]] | None = None) -> Translator:
    """Execute a translator's generated source (helpers bound from mapspec.runtime, or from `helpers` by name:
    explain runs a translator and its explanation with one clock)."""
    fn = load_module(compiled.module.source, compiled.module.helpers, compiled.source.path, helpers)
    fn.mapping = compiled.document.name
    fn.settings = dict(compiled.settings)
    fn.target = compiled.target
    fn.endpoints = compiled.endpoints
    return fn


def load_module(text: str, names: tuple[str, ...] | list[str], path: str,
                helpers: Mapping[str, Callable[..., Any]] | None = None) -> Translator:
    """Execute the text of a module generated with `standalone=False`, the helpers it `names` bound from
    mapspec.runtime (or from `helpers`): its `translate`. What a process needs to load a compiled translator
    without compiling it again (the workers of a distributed pipeline get the text, not a pickled function)."""
    global _loaded
    _loaded += 1
    filename = f"<mapspec {path} #{_loaded}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": "mapspec_translator", "Rejected": Rejected, "MISSING": runtime.MISSING}
    for name in names:
        namespace[name] = (helpers or {}).get(name) or getattr(runtime, name)
    exec(compile(text, filename, "exec"), namespace)  # noqa: S102 - our own generated source
    fn = namespace["translate"]
    fn.result = lambda event: result_of(fn, event)  # sent, skipped or rejected, told apart
    fn.source = text
    return fn


def load_expression(module: codegen.ExpressionModule,
                    helpers: Mapping[str, Callable[..., Any]] | None = None) -> Callable[..., Any]:
    """Execute the source of one expression (`codegen.expression`): its `value(event, *variables)`."""
    namespace: dict[str, Any] = {"__name__": "mapspec_expression", "Rejected": Rejected, "MISSING": runtime.MISSING}
    for name in module.helpers:
        namespace[name] = (helpers or {}).get(name) or getattr(runtime, name)
    exec(compile(module.source, "<mapspec expression>", "exec"), namespace)  # noqa: S102 - our own generated source
    return namespace["value"]


def load(name_or_path: str | Path, settings: Mapping[str, Any] | None = None, *, share: bool = False) -> Translator:
    """Compile a mapping (bundled name or path) with settings; the translator it gives.

    Calling the translator with one event (a dict) returns the list of requests the event causes,
    each `{"method", "url", "body"}`, or raises `mapspec.Rejected`; an event it skips gives an empty list
    of the class `mapspec.Skipped`, whose `reason` says why. `translator.result(event)` gives a
    `mapspec.Result`, which tells sent, skipped and rejected apart with their reasons.

    The requests never share a list or an object with the event (changing one never changes the other);
    with `share=True` they may, which saves copying what passes through: for a caller that owns its events
    and neither reads nor changes one after translating it, as `mapspec run` and `translate` do."""
    source = read_mapping(name_or_path)
    return load_compiled(compile_source(source, settings, standalone=False, share=share))
