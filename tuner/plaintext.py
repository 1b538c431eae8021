"""What may leave the sealed world: the one list of plaintext fields.

A tuned recipe (the searched values of a search space: optimizer, learning
rate, momentum, weight decay, batch size, schedule, augmentation) lives only in
sealed files (``vault.hsv``, ``journal.hsj``, ``audit.hsv``) unless the user
asks for a plaintext export. Everything else hyperseal writes in plaintext is
built from the allow-lists below, and every writer of such a file serialises it
through :func:`dumps`, which refuses a field that is not on its kind's list: a
new field cannot reach disk by accident, it has to be added here, where the
question "could this reveal a searched value, or let one be worked out?" is
asked once.

Kinds (see ``docs/vault-format.md``, "What stays sealed"):

``run.json``
    What was run (objective, model, optimizer, budget, the epoch *limit* the user
    gave, the *count* of warm-start configs and runs) and a summary of the search:
    trial counts, fitness and metrics, seconds, the *names* of frozen and important
    parameters, masked failure reasons.
``metrics.json`` (a released model)
    The validation metrics only. Not the epochs run, the per-epoch history or the
    throughput: ``hyperseal train`` runs every epoch, so any of them counts the
    epochs (with the data, the throughput and the time give them too).
``metrics.json`` (a run's ``best/``)
    The best trial's number, fitness and metrics.
``manifest.json``
    Architecture, classes, image size, weights file, hash and parameter count.
``summary.json`` (a detector audit)
    Model, data, known fraction, the optimizer family *assumed* (``sealed`` when
    it came from the vault), the verdict (``sealed`` where it would name the
    recipe), the recommended defence.

Redacted reports are built without values section by section (``reports``);
:func:`check_redacted` is their last guard: ``reports.output.write_report`` refuses a
redacted report that prints in full a sealed value it was made from.

Terminal output follows the rule of ``hyperseal vault show``: a number that is
part of a recipe, or that is as good as one (an audit's estimate next to the
truth), is printed only when stdout is a terminal, never into a pipe or a log
file (:func:`stdout_is_terminal`). Progress bars that count recipe quantities
(a training run's epochs and steps, which give the batch size) are transient:
drawn on a terminal only, gone when done, never printed into a log.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from tuner.errors import OutputError

#: A field whose value is a mapping of free names (metric names) to numbers.
NUMBERS = "numbers"
#: A field whose value is any JSON value (no recipe value by what the field means).
VALUE = "value"

Schema = Mapping[str, Any]  # field -> VALUE | NUMBERS | Schema | [Schema] (a list of records)

_MODEL = {"arch": VALUE, "backbone": VALUE, "image_size": VALUE}

#: ``run.json`` of a tuning run (:func:`tuner.engine.run.write_run_file`).
RUN_FILE: Schema = {
    "format": VALUE,
    "status": VALUE,
    "updated_at": VALUE,
    # what is tuned: the built-in detector (data, model) or the user's objective
    "data": VALUE,
    "model": _MODEL,
    "objective": {
        "kind": VALUE,
        "ref": VALUE,
        "argv": VALUE,
        "metrics_file": VALUE,
        "artifacts": VALUE,
        "timeout": VALUE,
    },
    "optimizer": VALUE,  # the search algorithm (Nevergrad's), not the trained optimizer
    "budget": VALUE,
    "epochs": VALUE,  # the limit the user gave (--epochs), not a searched value
    "pruner": VALUE,
    "fitness": VALUE,
    "direction": VALUE,
    "warm_start": {"configs": VALUE, "runs": VALUE},  # counts; the configs are sealed
    "freeze_unimportant": VALUE,
    "workers": VALUE,
    "executor": VALUE,
    "journal": VALUE,
    "vault": VALUE,
    "vault_relative_to": VALUE,
    "entry": VALUE,
    "best_model": VALUE,
    "summary": {
        "trials": VALUE,
        "ok": VALUE,
        "pruned": VALUE,
        "failed": VALUE,
        "best_trial": VALUE,
        "best_fitness": VALUE,
        "best_metrics": NUMBERS,
        "default_fitness": VALUE,
        "epochs_saved": VALUE,
        "epochs_run": VALUE,  # summed over trials of a fixed epoch limit: no searched value
        "duplicates_avoided": VALUE,
        "seconds": VALUE,
        "frozen": VALUE,  # names only; the values they were frozen at are sealed
        "importance": [{"param": VALUE, "importance": VALUE, "rank": VALUE}],
        "failures": [{"trial": VALUE, "error": VALUE}],  # reasons masked (masked_reason)
        "warnings": VALUE,
    },
}

#: ``best/metrics.json`` of a tuning run: the best trial's number, fitness and metrics.
BEST_METRICS: Schema = {"trial": VALUE, "fitness": VALUE, "*": NUMBERS}

#: ``metrics.json`` of a released model (``hyperseal train``): validation metrics only.
RELEASE_METRICS: Schema = {"*": NUMBERS}

#: ``manifest.json`` of a released model.
MANIFEST: Schema = {
    "format": VALUE,
    "model": {**_MODEL, "classes": VALUE},
    "weights": VALUE,
    "weights_sha256": VALUE,
    "parameters": VALUE,
}

#: ``summary.json`` of a detector audit.
AUDIT_SUMMARY: Schema = {
    "kind": VALUE,
    "model": _MODEL,
    "data": VALUE,
    "known_fraction": VALUE,
    "optimizer_family": VALUE,  # "sealed" when it came from the vault
    "verdict": VALUE,  # "sealed" when it would name the recipe (not-applicable)
    "recommended_defence": VALUE,
}

KINDS: dict[str, Schema] = {
    "run.json": RUN_FILE,
    "best metrics.json": BEST_METRICS,
    "release metrics.json": RELEASE_METRICS,
    "manifest.json": MANIFEST,
    "audit summary.json": AUDIT_SUMMARY,
}


class PlaintextFieldError(OutputError):
    """A writer tried to put a field that is not on its allow-list into a plaintext file."""


def check(kind: str, document: Mapping[str, Any]) -> Mapping[str, Any]:
    """``document`` when every field of it is on ``kind``'s allow-list.

    Raises:
        PlaintextFieldError: a field (``where.field``) the list does not name, or a
            free-named metric that is not a number.
    """
    _check(KINDS[kind], document, kind)
    return document


def dumps(kind: str, document: Mapping[str, Any]) -> bytes:
    """``document`` as indented JSON (UTF-8, one trailing newline), checked by :func:`check`."""
    return (json.dumps(check(kind, document), indent=2) + "\n").encode("utf-8")


def allowed_only(kind: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` with only the fields ``kind``'s list names, at every level (a file read
    back from disk, whose other fields hyperseal did not write, is rewritten without them)."""
    return _allowed(KINDS[kind], document)


def public_metrics(metrics: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics`` less those named like a parameter of the trial (``params``): an objective
    that reports its learning rate as a metric would otherwise put a searched value in
    ``best/metrics.json``, ``run.json``, the terminal and the reports. The sealed journal
    keeps every metric."""
    return {k: v for k, v in metrics.items() if k not in params}


#: A sealed value is looked for in a redacted report only with at least this many
#: significant digits, in its full printed forms: the numbers a report prints (metrics and
#: errors to 2-4 places) then cannot match one by chance, and a hit is a redaction bug.
REDACTED_MIN_DIGITS = 5


def shown_values(texts: Iterable[str], sealed: Mapping[str, Iterable[Any]]) -> list[str]:
    """The names in ``sealed`` (name -> values) one of whose floats ``texts`` print in full."""
    found = []
    for name, values in sealed.items():
        patterns = [_standing_alone(f) for v in values for f in _full_forms(v)]
        if any(p.search(text) for text in texts for p in patterns):
            found.append(name)
    return found


def check_redacted(what: str, texts: Iterable[str], sealed: Mapping[str, Iterable[Any]]) -> None:
    """Refuse to write a redacted ``what`` whose ``texts`` print a sealed value in full.

    Raises:
        PlaintextFieldError: naming the values (never the values themselves).
    """
    texts = list(texts)
    shown = shown_values(texts, sealed)
    if shown:
        raise PlaintextFieldError(
            f"refusing to write {what}: it shows the sealed value of {', '.join(shown)}; {_bug()}"
        )


def _full_forms(value: Any) -> set[str]:
    if not isinstance(value, float) or not math.isfinite(value) or value == 0:
        return set()
    digits = f"{abs(value):.6e}".split("e")[0].replace(".", "").strip("0")
    if len(digits) < REDACTED_MIN_DIGITS:
        return set()
    return {repr(value), str(value), f"{value:.6g}", f"{value:g}"}


def _standing_alone(form: str) -> re.Pattern[str]:
    """``form`` not inside a longer number or word (0.123456 in 0.1234567)."""
    return re.compile(r"(?<![\w.])" + re.escape(form) + r"(?![\w])")


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (a number of the recipe is printed only then)."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdout
        return False


def _allowed(schema: Schema, value: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, item in value.items():
        rule = schema.get(name, schema.get("*"))
        if rule is None:
            continue
        if rule == NUMBERS and isinstance(item, Mapping):
            item = {k: v for k, v in item.items() if _is_number(v)}
        elif rule == NUMBERS and not _is_number(item):
            continue
        elif isinstance(rule, list) and isinstance(item, list):
            item = [_allowed(rule[0], r) for r in item if isinstance(r, Mapping)]
        elif isinstance(rule, Mapping) and isinstance(item, Mapping):
            item = _allowed(rule, item)
        elif rule != VALUE and item is not None:
            continue
        kept[name] = item
    return kept


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _check(schema: Schema, value: Any, where: str) -> None:
    if not isinstance(value, Mapping):
        raise PlaintextFieldError(f"{where} is not a mapping; {_bug()}")
    for name, item in value.items():
        rule = schema.get(name, schema.get("*"))
        if rule is None:
            raise PlaintextFieldError(
                f"refusing to write field {where}.{name}: it is not on the plaintext allow-list"
                f" (tuner/plaintext.py); {_bug()}"
            )
        if rule == VALUE or item is None:
            continue
        if rule == NUMBERS:
            _check_numbers(item, f"{where}.{name}")
        elif isinstance(rule, list):
            if not isinstance(item, list):
                raise PlaintextFieldError(f"{where}.{name} is not a list; {_bug()}")
            for record in item:
                _check(rule[0], record, f"{where}.{name}[]")
        elif isinstance(rule, Mapping):
            _check(rule, item, f"{where}.{name}")


def _check_numbers(value: Any, where: str) -> None:
    items = value.items() if isinstance(value, Mapping) else [("", value)]
    for name, number in items:
        if not _is_number(number):
            raise PlaintextFieldError(
                f"refusing to write {where}{'.' + name if name else ''}: a metric must be a"
                f" number; {_bug()}"
            )


def _bug() -> str:
    return "this is a bug in hyperseal: nothing was written, please report it"
