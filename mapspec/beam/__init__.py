"""mapspec on Apache Beam: translate and deliver on as many machines as a runner gives.

    import apache_beam as beam
    import mapspec.beam

    with beam.Pipeline(options=options) as p:
        requests, dead = (p | mapspec.beam.ReadNDJSON("gs://archive/2024/*.gz")
                            | mapspec.beam.Translate("segment-braze", settings).with_dead_letters())
        refused = requests | mapspec.beam.DeliverToBraze(workers=8)

`python -m mapspec.beam --help` runs the whole job from the command line. Built on mapspec's own translator,
batcher and sender: each event ends delivered, skipped or dead-lettered as under `mapspec run`, and the Beam
metrics in the namespace `mapspec` are `mapspec run`'s account (`account(result)`).

The names below are imported when first used (Apache Beam is an extra: `pip install 'mapspec[beam]'`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["BatchRequests", "DeliverToBraze", "ReadNDJSON", "Translate", "account", "dead_letter_text"]

_WHERE = {"BatchRequests": "deliver", "DeliverToBraze": "deliver", "account": "deliver", "ReadNDJSON": "translate",
          "Translate": "translate", "dead_letter_text": "translate"}

if TYPE_CHECKING:
    from .deliver import BatchRequests, DeliverToBraze, account
    from .translate import ReadNDJSON, Translate, dead_letter_text


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'mapspec.beam' has no attribute {name!r}")
    try:
        import apache_beam  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("mapspec.beam needs Apache Beam: pip install 'mapspec[beam]'") from e
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
