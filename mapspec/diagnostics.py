"""Diagnostics: what the compiler tells the author of a mapping, and how it is printed.

Phases only create diagnostics; the command line decides exit codes. Every diagnostic has a stable
code (registered in CODES, never reused), a severity, a message, and a span in the mapping file when
one can be had. Rendering follows compilers people already read (gcc's first line, rustc's caret)::

    mappings/x.yaml:14:12: error: unknown function `lowercase` [E201]
       14 |     email: lowercase(traits.email)
          |            ^^^^^^^^^ unknown function
          = help: did you mean `lower`?
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .source import Span

#: Every diagnostic code with a one-line summary. Numbers are never reused.
CODES: dict[str, str] = {
    # E0xx: the file itself
    "E001": "the mapping file cannot be read",
    "E002": "YAML syntax error",
    "E003": "the mapping file has the wrong structure",
    "E004": "the file is not UTF-8 text, or holds a character YAML does not allow",
    "E005": "a YAML alias that refers to itself, or aliases that expand beyond the limit",
    "E006": "nested beyond the depth limit",
    "E007": "a number beyond the limits",
    # E1xx: expression syntax
    "E101": "expression syntax error",
    "E102": "bad string literal or template",
    # E2xx: names and types
    "E201": "unknown function",
    "E202": "wrong number of arguments",
    "E203": "unknown setting",
    "E204": "unknown variable",
    "E205": "type mismatch",
    "E206": "argument must be a constant",
    "E207": "invalid regular expression",
    "E208": "invalid setting value",
    "E209": "circular definition",
    "E210": "the base URL is not known when the mapping is compiled",
    "E211": "an invalid function definition",
    "E212": "a function body reads the event or a definition",
    # E3xx: the target schema
    "E301": "field not accepted by the target",
    "E302": "unknown target endpoint",
    "E303": "unknown target",
    "E304": "invalid target description",
    "E305": "a path parameter that is missing or unknown",
    "E306": "a value the target does not allow",
    "E307": "a required field that is always missing",
    "E308": "fields the target takes only one of, always given together",
    "E309": "unknown source",
    # W4xx: likely mistakes (the mapping still compiles)
    "W401": "a rule that can never match",
    "W402": "a field set twice in one object",
    "W403": "a key the target reserves",
    "W404": "a setting that is never used",
    "W405": "a definition that is never used",
    "W406": "a required field that may be missing",
    "W407": "fields the target takes only one of, that may be given together",
    "W408": "a regular expression that can backtrack catastrophically",
    "W409": "a path no event of the source has",
    "W410": "a field that no event of the call types a rule handles has",
}


#: the longest source line a diagnostic shows whole, and the context kept before the span in a longer one
_WIDTH, _CONTEXT = 120, 40


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    label: str = ""
    severity: str = "error"
    hints: tuple[str, ...] = ()
    #: where there is no span: the file the diagnostic is about
    path: str | None = None

    def location(self) -> str:
        if self.span is not None:
            return self.span.location()
        return self.path or "<mapping>"

    def render(self) -> str:
        """The diagnostic as the command line prints it: location, message, source line, caret.

        Everything that comes from the mapping (names, keys, the source line) is printed with its control
        characters escaped (`mapspec.terminal`), and the caret still points at the right characters."""
        from .terminal import printable_line

        lines = [printable_line(f"{self.location()}: {self.severity}: {self.message} [{self.code}]")]
        if self.span is not None:
            src = self.span.source
            line, col = src.position(self.span.start)
            text = src.line_text(line)
            end_line, end_col = src.position(max(self.span.start, self.span.end))
            end = (end_col - 1) if end_line == line else len(text) + 1
            end = max(end, col)

            def shown(part: str) -> str:
                return printable_line(part.replace("\t", " "))

            before, under, after = shown(text[:col - 1]), shown(text[col - 1:end]), shown(text[end:])
            if len(before) + len(under) + len(after) > _WIDTH:
                # a long line is shown as a window around the span, marked with ... where it is cut
                lead = "..." + before[-_CONTEXT:] if len(before) > _CONTEXT else before
                under = under[:max(1, _WIDTH - len(lead))]
                room = max(0, _WIDTH - len(lead) - len(under))
                after = after[:room] + "..." if len(after) > room else after
                before = lead
            gutter = " " * len(str(line))
            lines.append(f" {line} | {before}{under}{after}")
            caret = " " * len(before) + "^" * max(1, len(under))
            lines.append(f" {gutter} | {caret}" + (f" {printable_line(self.label)}" if self.label else ""))
            for hint in self.hints:
                lines.append(f" {gutter} = help: {printable_line(hint)}")
        else:
            for hint in self.hints:
                lines.append(f"   = help: {printable_line(hint)}")
        return "\n".join(lines)


@dataclass
class DiagnosticBag:
    """Collects diagnostics across a phase; errors and warnings are kept apart."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diag: Diagnostic) -> None:
        if diag not in self.items:
            self.items.append(diag)

    def error(self, code: str, message: str, span: Span | None = None, *, label: str = "",
              hints: Iterable[str] = (), path: str | None = None) -> None:
        assert code in CODES, code
        self.add(Diagnostic(code, message, span, label, "error", tuple(hints), path))

    def warning(self, code: str, message: str, span: Span | None = None, *, label: str = "",
                hints: Iterable[str] = (), path: str | None = None) -> None:
        assert code in CODES, code
        self.add(Diagnostic(code, message, span, label, "warning", tuple(hints), path))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]


_ALLOW = re.compile(r"#\s*mapspec:\s*allow\s+([A-Z]\d{3}(?:\s*,\s*[A-Z]\d{3})*)")


def allowed(d: Diagnostic) -> bool:
    """Whether a warning is acknowledged by a comment on the line it points at:
    `# mapspec: allow W406 (why)`. Errors cannot be allowed."""
    if d.severity == "error" or d.span is None:
        return False
    line, _ = d.span.source.position(d.span.start)
    m = _ALLOW.search(d.span.source.line_text(line))
    return bool(m) and d.code in {c.strip() for c in m.group(1).split(",")}


def did_you_mean(name: str, choices: Iterable[str]) -> list[str]:
    """A 'did you mean' hint for a misspelt name, or nothing."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return [f"did you mean `{close[0]}`?"] if close else []


def sort_key(d: Diagnostic) -> tuple:
    if d.span is None:
        return (d.path or "", 0, 0)
    return (d.span.source.path, d.span.start, d.code)
