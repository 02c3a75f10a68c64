"""Loading rule packs: YAML files -> merged, validated rules -> a :class:`RuleEngine`.

Packs are read in order: each path is a file or a directory (its ``*.yaml`` files, ``default.yaml`` first,
then the others sorted by name). A later file may

* add a rule with a new id,
* override fields of an earlier rule by giving its ``id`` and only the fields to change (mappings such as
  ``params`` and ``variants`` merge key by key, other values replace), or switch it off with
  ``enabled: false``,
* change ``risk`` weights, and add entries to the ``signals`` word lists (lists there add up).

Anything invalid raises :class:`~monitor.errors.RulePackError` naming the file, the rule and the field;
nothing is half-loaded.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from monitor.errors import RulePackError
from monitor.rules.detectors import DETECTORS
from monitor.rules.engine import NAME_FIELDS, CompiledRule, Outcome, RuleEngine, template_fields
from monitor.rules.schema import AlertPolicy, PackFile, RiskWeights, RuleOverride, RuleSpec, Signals

DEFAULT_PACK_NAME = "default.yaml"


def pack_files(paths: Sequence[Path]) -> list[Path]:
    """The files a list of pack paths stands for, in load order."""
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.yaml") if p.is_file())
            found.sort(key=lambda p: (p.name != DEFAULT_PACK_NAME, p.name))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise RulePackError("no such file or directory", file=str(path))
    if not files:
        raise RulePackError("no rule pack files (*.yaml) found", file=", ".join(str(p) for p in paths) or "(none)")
    return files


def _loc(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc)


def _raise_validation(exc: ValidationError, *, file: str, rule: str | None, prefix: str = "") -> None:
    errors = exc.errors()
    first = errors[0]
    field = (prefix + "." if prefix else "") + _loc(first["loc"]) if first["loc"] else prefix or None
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    raise RulePackError(f"{first['msg']}{more}", file=file, rule=rule, field=field) from exc


def _read(path: Path) -> PackFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise RulePackError(f"not valid YAML{where}: {getattr(exc, 'problem', exc)}", file=str(path)) from exc
    except OSError as exc:
        raise RulePackError(f"cannot read: {exc.strerror or exc}", file=str(path)) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RulePackError("a rule pack must be a mapping with a 'rules' list", file=str(path))
    try:
        return PackFile.model_validate(raw)
    except ValidationError as exc:
        first_loc = exc.errors()[0]["loc"]
        rule = None
        if len(first_loc) >= 2 and first_loc[0] == "rules" and isinstance(first_loc[1], int):
            entry = raw.get("rules", [])[first_loc[1]]
            rule = entry.get("id") if isinstance(entry, dict) else None
        _raise_validation(exc, file=str(path), rule=rule)
        raise  # unreachable: _raise_validation always raises


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_signals(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = out[key] + [v for v in value if v not in out[key]]
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_signals(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _validate_model(model: type[BaseModel], data: object, *, file: str, rule: str | None, prefix: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        _raise_validation(exc, file=file, rule=rule, prefix=prefix)


def _compile(spec: RuleSpec, file: str) -> CompiledRule:
    detector = DETECTORS.get(spec.detector_name)
    if detector is None:
        known = ", ".join(sorted(DETECTORS))
        field = "detector" if spec.detector else "id"
        raise RulePackError(
            f"unknown detector {spec.detector_name!r} (known: {known})", file=file, rule=spec.id, field=field
        )
    if spec.watches not in detector.watches:
        raise RulePackError(
            f"detector {detector.name!r} can watch {sorted(detector.watches)}, not {spec.watches!r}",
            file=file,
            rule=spec.id,
            field="watches",
        )
    params = _validate_model(detector.params, spec.params, file=file, rule=spec.id, prefix="params")
    allowed_fields = NAME_FIELDS | detector.fields
    outcomes: dict[str | None, Outcome] = {None: Outcome(spec.severity, tuple(spec.audience), spec.nudge)}
    templates: list[tuple[str, str]] = [("nudge", spec.nudge)]
    for name, variant in spec.variants.items():
        if name not in detector.variants:
            known = ", ".join(sorted(detector.variants)) or "none"
            raise RulePackError(
                f"detector {detector.name!r} has no outcome {name!r} (it has: {known})",
                file=file,
                rule=spec.id,
                field=f"variants.{name}",
            )
        outcome = Outcome(
            variant.severity or spec.severity,
            tuple(variant.audience or spec.audience),
            variant.nudge or spec.nudge,
        )
        outcomes[name] = outcome
        if variant.nudge:
            templates.append((f"variants.{name}.nudge", variant.nudge))
    for where, template in templates:
        try:
            used = template_fields(template)
        except ValueError as exc:
            raise RulePackError(f"malformed nudge template: {exc}", file=file, rule=spec.id, field=where) from exc
        unknown = used - allowed_fields
        if unknown:
            raise RulePackError(
                f"unknown field(s) {sorted(unknown)} in the nudge; allowed: {sorted(allowed_fields)}",
                file=file,
                rule=spec.id,
                field=where,
            )
    return CompiledRule(spec, detector, params, outcomes)


def load_rule_pack(paths: Sequence[Path]) -> RuleEngine:
    """Read, merge and validate the packs at ``paths`` and build an engine; raise ``RulePackError`` if invalid."""
    files = pack_files(paths)
    raw_rules: dict[str, dict[str, Any]] = {}
    rule_file: dict[str, str] = {}  # the last file that touched each rule, named in errors
    signals: dict[str, Any] = {}
    risk: dict[str, Any] = {}
    policy: dict[str, Any] = {}
    signals_file = risk_file = policy_file = str(files[0])
    for path in files:
        pack = _read(path)
        seen: set[str] = set()
        for index, entry in enumerate(pack.rules):
            raw_id = entry.get("id")
            rule_id = raw_id if isinstance(raw_id, str) else None
            override = _validate_model(RuleOverride, entry, file=str(path), rule=rule_id, prefix=f"rules.{index}")
            if override.id in seen:
                raise RulePackError(
                    "the same rule id appears twice in this file", file=str(path), rule=override.id, field="id"
                )
            seen.add(override.id)
            raw_rules[override.id] = _merge(raw_rules.get(override.id, {}), entry)
            rule_file[override.id] = str(path)
        if pack.signals:
            signals = _merge_signals(signals, pack.signals)
            signals_file = str(path)
        if pack.risk:
            risk = _merge(risk, pack.risk)
            risk_file = str(path)
        if pack.alerts:
            policy = _merge(policy, pack.alerts)
            policy_file = str(path)
    compiled = []
    for rule_id, raw in raw_rules.items():
        spec = _validate_model(RuleSpec, raw, file=rule_file[rule_id], rule=rule_id, prefix="")
        compiled.append(_compile(spec, rule_file[rule_id]))
    signal_model = _validate_model(Signals, signals, file=signals_file, rule=None, prefix="signals")
    risk_model = _validate_model(RiskWeights, risk, file=risk_file, rule=None, prefix="risk")
    policy_model = _validate_model(AlertPolicy, policy, file=policy_file, rule=None, prefix="alerts")
    unknown = sorted(set(policy_model.hold_exempt) - set(raw_rules))
    if unknown:
        raise RulePackError(f"no such rule: {unknown[0]!r}", file=policy_file, field="alerts.hold_exempt")
    return RuleEngine(compiled, signal_model, risk_model, files, alert_policy=policy_model)
