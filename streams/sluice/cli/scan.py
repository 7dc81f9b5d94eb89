"""``sluice scan``: run the sanitize stage on ad-hoc text, one input line at a time."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from sluice.errors import ConfigError

__all__ = ["register"]

_TREATMENTS = ("text", "html", "sql")


def _finding_dict(f: Any) -> dict[str, Any]:
    return {
        "kind": f.kind.value,
        "detector": f.detector,
        "field": f.field,
        "start": f.start,
        "end": f.end,
        "severity": f.severity.value,
        "confidence": f.confidence,
        "fingerprint": f.fingerprint,
        "action": f.action,
    }


def _parse_line(line: str, default_as: str) -> tuple[str, str]:
    """(text, treatment) of one input line: a JSON object with ``text``, or plain text."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("text"), str):
            as_ = obj.get("as", default_as)
            if as_ not in _TREATMENTS:
                as_ = default_as
            return obj["text"], as_
    return line, default_as


def _scan_stream(stream: IO[str], as_: str, as_json: bool) -> int:
    from sluice.sanitize import Sanitizer
    from sluice.settings import load_settings

    sanitizer = Sanitizer(load_settings().fingerprint_key_bytes())
    found_any = False
    for n, raw in enumerate(stream, start=1):
        line = raw[:-1] if raw.endswith("\n") else raw
        if line.endswith("\r"):
            line = line[:-1]
        text, treatment = _parse_line(line, as_)
        sanitized, findings = sanitizer.scan_text(text, treatment, "text")
        found_any = found_any or bool(findings)
        if as_json:
            record = {
                "line": n,
                "as": treatment,
                "findings": [_finding_dict(f) for f in findings],
                "sanitized": sanitized,
            }
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(f"line {n}: {len(findings)} finding(s)\n")
            for f in findings:
                fp = f" fp={f.fingerprint}" if f.fingerprint else ""
                sys.stdout.write(
                    f"  {f.kind.value:<16} {f.detector:<26} [{f.start}:{f.end}] "
                    f"{f.severity.value} conf={f.confidence:.2f} {f.action}{fp}\n"
                )
            sys.stdout.write(f"  sanitized: {sanitized}\n")
    sys.stdout.flush()
    return 0


def register(app: typer.Typer) -> None:
    """Add the ``scan`` command to the root CLI."""

    @app.command("scan")
    def scan(
        file: Annotated[str, typer.Argument(help="Input file, or - for stdin.")] = "-",
        as_: Annotated[
            str, typer.Option("--as", help="Treatment of plain lines: text, html or sql.")
        ] = "text",
        as_json: Annotated[
            bool, typer.Option("--json", help="One JSON object per input line, in order.")
        ] = False,
    ) -> None:
        """Run the sanitize stage on each input line and print findings and sanitized text.

        A line is plain text, or a JSON object {"text": ..., "as": "text|html|sql"}.
        PII is redacted (as for a PUBLIC event); secrets always are.
        """
        if as_ not in _TREATMENTS:
            raise ConfigError(f"--as must be one of text, html, sql (got {as_!r})")
        if file == "-":
            buffer = getattr(sys.stdin, "buffer", None)
            stream: IO[str] = (
                io.TextIOWrapper(buffer, encoding="utf-8", errors="replace", newline="")
                if buffer is not None
                else sys.stdin
            )
            _scan_stream(stream, as_, as_json)
            return
        path = Path(file)
        try:
            fh = path.open(encoding="utf-8", errors="replace", newline="")
        except OSError as exc:
            raise ConfigError(f"cannot read {file}: {exc.strerror or exc}") from None
        with fh:
            try:
                _scan_stream(fh, as_, as_json)
            except OSError as exc:
                raise ConfigError(f"cannot read {file}: {exc.strerror or exc}") from None
