"""Run a compiled translator on one event and record which rules were tested and which one fired.

The record comes from the compiler's map of generated lines back to rules (`GeneratedModule.line_map`),
observed with a line tracer on the generated function: nothing is evaluated a second time.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from .compiler import Compiled, Translator
from .errors import Rejected
from .syntax import ast


@dataclass
class Trace:
    result: dict[str, Any]  # {"requests": [...]}, {"rejected": {"message": ...}}, or {"error": "..."} (a bug)
    tested: list[tuple[ast.Rule, dict[str, Any]]] = field(default_factory=list)  # rule, values it read
    fired: ast.Rule | None = None
    #: every rule whose body ran, in order (more than one in a mapping with `match: all`)
    bodies: list[ast.Rule] = field(default_factory=list)


def traced_run(compiled: Compiled, translate: Translator, event: dict) -> Trace:
    line_map = compiled.module.line_map
    names = compiled.module.names
    code = translate.__code__
    trace = Trace({})

    def local_tracer(frame, what, arg):
        if what == "line":
            for kind, rule in line_map.get(frame.f_lineno, ()):
                if kind == "test":
                    values = {names[k]: v for k, v in frame.f_locals.items() if k in names and v is not ...}
                    trace.tested.append((rule, values))
                else:
                    trace.bodies.append(rule)
                    if trace.fired is None:
                        trace.fired = rule
        return local_tracer

    def global_tracer(frame, what, arg):
        return local_tracer if frame.f_code is code else None

    previous = sys.gettrace()
    sys.settrace(global_tracer)
    try:
        trace.result = {"requests": translate(event)}
    except Rejected as e:
        trace.result = {"rejected": {"message": str(e)}}
        if e.requests:  # `match: all`: what the event still sends beside the rejection
            trace.result["requests"] = e.requests
    except Exception as e:  # noqa: BLE001 - a translator that fails on an event is shown failing, not a traceback
        trace.result = {"error": f"{type(e).__name__}: {e}"}
    finally:
        sys.settrace(previous)
    return trace
