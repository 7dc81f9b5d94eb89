"""The console's HTML, built as strings with every value escaped.

Why strings and not a template engine: the pages are small, the console adds no
dependency, and there is exactly one way a value reaches the page: through :func:`esc`
(HTML-escaped, quotes included, invisible and direction-changing characters made
visible as ``⟨U+202E⟩``). Events are attacker-controlled: a ``<script>``, an event
handler, a ``javascript:`` URL or a bidi trick in any field is shown as the text it is.
Event data never becomes a URL, an attribute other than ``title``/``data-*`` text, or
markup. The pages carry no inline script or style (the CSP forbids both).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

__all__ = [
    "FILTERS",
    "detail_facts",
    "detail_page",
    "duration",
    "esc",
    "event_text",
    "finding_marks",
    "keys_page",
    "message_page",
    "queue_fragment",
    "queue_page",
]

#: Query parameters the queue filters on (entry field each compares with).
FILTERS = ("role", "rule", "kind", "workflow", "risk")

# Bidi controls, zero-width and other invisible format characters (Unicode Cf and the
# line/paragraph separators): each is shown as its code point, never applied.
_INVISIBLE = re.compile(
    "[\u00ad\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u2028-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb]"
)


def _visible(match: re.Match[str]) -> str:
    return f'<span class="ctl" title="invisible character">⟨U+{ord(match.group()):04X}⟩</span>'


def esc(value: Any) -> str:
    """``value`` as HTML text: escaped (quotes too) and invisible characters shown."""
    text = html.escape("" if value is None else str(value), quote=True)
    return _INVISIBLE.sub(_visible, text)


def duration(seconds: float) -> str:
    """``1h05m`` style time left."""
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def _event_href(event_id: str) -> str:
    return "/event/" + quote(str(event_id), safe="")


def page(title: str, body: str, *, csrf: str, user: str | None = None) -> str:
    """A whole document around ``body`` (already HTML). ``title`` and ``user`` are text."""
    who = f'<span class="who">signed in as {esc(user)}</span>' if user else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="csrf-token" content="{esc(csrf)}">'
        f"<title>{esc(title)} · sluice console</title>"
        '<link rel="stylesheet" href="/static/console.css">'
        '<script src="/static/console.js" defer></script>'
        "</head><body>"
        '<header><nav><a href="/">Queue</a> <a href="/keys">My key</a></nav>'
        f"{who}</header>"
        f'<main id="main">{body}</main></body></html>\n'
    )


def message_page(title: str, message: str) -> str:
    """A plain page with one message (errors, login needed); both are text."""
    return page(title, f"<h1>{esc(title)}</h1><p>{esc(message)}</p>", csrf="")


# -- queue --------------------------------------------------------------------------


def _filter_form(filters: Mapping[str, str], options: Mapping[str, Sequence[str]]) -> str:
    parts = ['<form class="filters" method="get" action="/" id="filters">']
    for name in FILTERS:
        current = filters.get(name, "")
        if name == "risk":
            parts.append(
                f'<label>min risk <input name="risk" inputmode="decimal" size="4" '
                f'value="{esc(current)}"></label>'
            )
            continue
        opts = [f'<option value="">any {esc(name)}</option>']
        for value in options.get(name, ()):
            sel = " selected" if value == current else ""
            opts.append(f'<option value="{esc(value)}"{sel}>{esc(value)}</option>')
        parts.append(f'<label>{esc(name)} <select name="{name}">{"".join(opts)}</select></label>')
    parts.append('<button type="submit">Filter</button> <a href="/">clear</a></form>')
    return "".join(parts)


def queue_fragment(
    entries: Sequence[Mapping[str, Any]],
    counts: Mapping[str, int],
    *,
    total: int,
    filtered: bool,
    partial: bool = False,
) -> str:
    """The live part of the queue page: counts per role and the table (or empty state)."""
    role_counts = "".join(
        f'<li><a href="/?{esc(urlencode({"role": r}))}">{esc(r)}</a> '
        f'<span class="count">{n}</span></li>'
        for r, n in sorted(counts.items())
    )
    head = (
        f'<p class="summary" data-total="{total}" data-shown="{len(entries)}">'
        f"{len(entries)} shown of {total} open hold(s)"
        + (" <strong>(still reading the topics)</strong>" if partial else "")
        + "</p>"
        + (f'<ul class="roles" aria-label="open holds per role">{role_counts}</ul>')
    )
    if not entries:
        what = "matching these filters" if filtered else "waiting for review"
        return head + f'<p class="empty" id="empty">Nothing {what}. The queue is clear.</p>'
    rows = []
    for e in entries:
        left = "EXPIRED" if e["expired"] else duration(e["time_left_s"])
        risk = e["risk"]
        rows.append(
            f'<tr data-event-id="{esc(e["event_id"])}">'
            f'<td class="left">{esc(left)}</td>'
            f'<td><a href="{esc(_event_href(e["event_id"]))}">{esc(e["kind"])}</a></td>'
            f"<td>{esc(e['workflow_id'])}</td><td>{esc(e['rule'])}</td>"
            f"<td>{float(risk['score']):.2f} {esc(', '.join(risk['detectors'][:4]))}</td>"
            f"<td>{esc(', '.join(e['roles']))}</td>"
            f"<td>{int(e['approvals'])}/{int(e['approvals_required'])}"
            + (f" · {int(e['rejections'])} reject" if e["rejections"] else "")
            + "</td></tr>"
        )
    return (
        head + '<table class="queue"><thead><tr><th>time left</th><th>kind</th>'
        "<th>workflow</th><th>rule</th><th>risk</th><th>roles</th><th>votes</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def queue_page(
    fragment: str,
    filters: Mapping[str, str],
    options: Mapping[str, Sequence[str]],
    *,
    csrf: str,
    user: str | None,
) -> str:
    """The queue page: filters and the live fragment (reloaded on server-sent events)."""
    query = esc(urlencode({k: v for k, v in filters.items() if v}))
    body = (
        "<h1>Review queue</h1>"
        + _filter_form(filters, options)
        + f'<section id="queue" data-live="/queue/fragment?{query}" aria-live="polite">'
        + fragment
        + "</section>"
    )
    return page("Queue", body, csrf=csrf, user=user)


# -- detail -------------------------------------------------------------------------


_PLACEHOLDER = re.compile(r"\[REDACTED:[^\]\n]{1,120}\]")


def _label(f: Mapping[str, Any]) -> str:
    return f"{f.get('kind', '')}/{f.get('detector', '')} {f.get('action', '')}".strip()


def finding_marks(text: str, spans: Iterable[Mapping[str, Any]]) -> list[tuple[int, int, str]]:
    """Where each finding is in the *sanitized* ``text``: (start, end, label), sorted.

    Finding offsets index the field as received, and sanitizing edited it: a redaction
    replaced its span with a ``[REDACTED:...]`` placeholder, a removal (invisible
    characters) deleted it, an HTML cleaning rewrote it by an amount not recorded. So
    redacted findings are marked at their placeholders (in order), flagged ones at their
    offsets shifted by the edits before them, and none after a cleaning. When the
    placeholders and redacted findings do not pair up, only the placeholders are marked
    (the findings table lists everything either way).
    """
    found = sorted(spans, key=lambda f: (int(f["start"]), int(f["end"])))
    redacted = [f for f in found if f.get("action") == "redacted"]
    edits = [f for f in found if f.get("action") in ("redacted", "removed", "cleaned")]
    holders = list(_PLACEHOLDER.finditer(text))
    if len(holders) != len(redacted):
        return [(m.start(), m.end(), "redacted") for m in holders]
    placed = {id(f): m for f, m in zip(redacted, holders, strict=True)}
    marks = [(m.start(), m.end(), _label(f)) for f, m in zip(redacted, holders, strict=True)]
    for f in found:
        if f in edits:
            continue
        start, end = int(f["start"]), int(f["end"])
        before = [e for e in edits if int(e["end"]) <= start]
        if any(start < int(e["end"]) and int(e["start"]) < end for e in edits) or any(
            e.get("action") == "cleaned" for e in before
        ):
            continue  # inside an edit, or after a rewrite of unknown length
        shift = 0
        for e in before:
            m = placed.get(id(e))
            shift += (m.end() - m.start() if m else 0) - (int(e["end"]) - int(e["start"]))
        start, end = max(0, start + shift), min(len(text), end + shift)
        if start < end:
            marks.append((start, end, _label(f)))
    marks.sort()
    merged: list[tuple[int, int, str]] = []
    for start, end, label in marks:
        if merged and start < merged[-1][1]:
            prev = merged[-1]
            merged[-1] = (prev[0], max(prev[1], end), prev[2] + "; " + label)
        else:
            merged.append((start, end, label))
    return merged


def _highlighted(text: str, spans: Iterable[Mapping[str, Any]]) -> str:
    """``text`` escaped, each finding wrapped in ``<mark>`` (:func:`finding_marks`)."""
    out, pos = [], 0
    for start, end, label in finding_marks(text, spans):
        out.append(esc(text[pos:start]))
        out.append(f'<mark title="{esc(label)}">{esc(text[start:end])}</mark>')
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out)


def event_text(event: Mapping[str, Any], findings: Sequence[Mapping[str, Any]]) -> str:
    """The sanitized event as readable text (HTML-escaped; for a ``<pre>``).

    Multi-line strings are shown as indented blocks (diffs stay readable); findings on a
    top-level string field are marked at their span; other values are JSON.
    """
    lines = []
    for name, value in event.items():
        spans = [f for f in findings if f.get("field") == name]
        if isinstance(value, str) and ("\n" in value or spans):
            body = _highlighted(value, spans)
            if "\n" in value:
                indented = "\n".join("  " + ln for ln in body.split("\n"))
                lines.append(f"{esc(name)}: |\n{indented}")
            else:
                lines.append(f"{esc(name)}: {body}")
        else:
            rendered = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
            lines.append(f"{esc(name)}: {esc(rendered)}")
    return "\n".join(lines)


def _findings_table(findings: Sequence[Mapping[str, Any]]) -> str:
    if not findings:
        return "<p>No findings.</p>"
    rows = "".join(
        f"<tr><td>{esc(f.get('detector'))}</td><td>{esc(f.get('kind'))}</td>"
        f"<td>{esc(f.get('severity'))}</td><td>{esc(f.get('action'))}</td>"
        f"<td>{esc(f.get('field'))} [{int(f.get('start', 0))}:{int(f.get('end', 0))}]</td></tr>"
        for f in findings
    )
    return (
        '<table class="findings"><thead><tr><th>detector</th><th>kind</th><th>severity</th>'
        f"<th>done</th><th>where</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _votes(votes: Sequence[Mapping[str, Any]]) -> str:
    if not votes:
        return "<p>No votes yet.</p>"
    items = []
    for v in votes:
        mark = {True: "valid", None: "unchecked"}.get(v["valid"], f"refused: {v['refusal']}")
        reason = f": {esc(v['reason'])}" if v.get("reason") else ""
        items.append(
            f'<li class="vote {"refused" if v["valid"] is False else ""}">'
            f"{esc(v['reviewer_id'])} {esc(v['verdict'])} ({esc(mark)}){reason}</li>"
        )
    return f'<ul class="votes">{"".join(items)}</ul>'


def _decide_form(view: Mapping[str, Any], held_b64: str) -> str:
    if view["status"] != "held" or view["expired"]:
        return "<p>This event can no longer be decided.</p>"
    return (
        '<form id="decide" class="decide" method="post" action="#" '
        f'data-event-id="{esc(view["event_id"])}" data-content-hash="{esc(view["content_hash"])}"'
        f' data-held="{esc(held_b64)}">'
        '<p id="signer">No key in this browser yet: <a href="/keys">create or import one</a>.</p>'
        '<label>Reason <textarea name="reason" id="reason" rows="2" cols="60"></textarea>'
        "</label><div>"
        '<button type="submit" name="verdict" value="APPROVE" id="approve">Approve</button> '
        '<button type="submit" name="verdict" value="REJECT" id="reject">Reject</button></div>'
        '<p id="decide-status" role="status"></p></form>'
    )


def detail_facts(view: Mapping[str, Any]) -> str:
    """The live part of the detail page: status, rule, requirements, votes, time left."""
    left = "EXPIRED" if view["expired"] else duration(view["time_left_s"])
    reqs = "".join(
        f"<li>level {int(r['level'])}: {esc(r['role'])} "
        f"{'?' if r['approved_by'] is None else len(r['approved_by'])}/{int(r['count'])}</li>"
        for r in view.get("requirements") or []
    )
    return (
        '<dl class="facts">'
        f'<dt>status</dt><dd id="status">{esc(view["status"])}</dd>'
        f"<dt>workflow / run</dt><dd>{esc(view['workflow_id'])} / {esc(view['run_id'])}</dd>"
        f"<dt>actor</dt><dd>{esc(view['actor_id'])}"
        + (f" on behalf of {esc(view['on_behalf_of'])}" if view.get("on_behalf_of") else "")
        + "</dd>"
        f"<dt>rule</dt><dd>{esc(view['rule'])}</dd>"
        f"<dt>reason</dt><dd>{esc(view.get('reason') or '-')}</dd>"
        f"<dt>needs</dt><dd>{int(view['approvals_required'])} approval(s) from "
        f"{esc(', '.join(view['roles']))}"
        + (f'<ul class="reqs">{reqs}</ul>' if reqs else "")
        + "</dd>"
        f"<dt>votes</dt><dd>{int(view['approvals'])} approve, {int(view['rejections'])} reject"
        f"{_votes(view['votes'])}</dd>"
        f'<dt>time left</dt><dd class="left">{esc(left)} (on expiry: '
        f"{esc(view['on_expiry'])})</dd>"
        f"<dt>trace</dt><dd>{esc(view.get('trace_id') or '-')}</dd>"
        f'<dt>content hash</dt><dd><code id="content-hash">{esc(view["content_hash"])}</code></dd>'
        "</dl>"
    )


def detail_page(
    view: Mapping[str, Any],
    held_b64: str,
    *,
    csrf: str,
    user: str | None,
    audit: str = "",
    run: str = "",
) -> str:
    """One held event: the event as text with findings marked, rule, votes (live),
    decide form, the earlier steps of its run (``run``, HTML) and, loaded by the page
    script, its audit records; a link to the lifecycle trace."""
    href = esc(_event_href(view["event_id"]))
    body = (
        f"<h1>{esc(view['kind'])} <small>{esc(view['event_id'])}</small></h1>"
        f'<section id="facts" data-live="{href}/facts" aria-live="polite">'
        f"{detail_facts(view)}</section>"
        f"<h2>Findings ({len(view['findings'])})</h2>{_findings_table(view['findings'])}"
        "<h2>Decide</h2>"
        + _decide_form(view, held_b64)
        + "<h2>Event (sanitized, shown as text)</h2>"
        f'<pre class="event" id="event">{event_text(view["event"], view["findings"])}</pre>'
        f"<h2>Earlier steps of run {esc(view['run_id'])}</h2>{run}"
        f'<h2>Audit records</h2><p><a id="trace-link" href="{href}/trace">Lifecycle trace'
        "</a> (what <code>sluice trace</code> shows)</p>"
        f'<section id="audit" data-src="{href}/audit">'
        + (audit or "<p>Audit records load with the page script (or open the trace).</p>")
        + "</section>"
    )
    return page(f"{view['kind']} {view['event_id']}", body, csrf=csrf, user=user)


def keys_page(*, csrf: str, user: str | None) -> str:
    """Create a non-extractable key in this browser or import a ``sluice keys new`` file."""
    body = (
        "<h1>My signing key</h1>"
        "<p>Decisions are signed in this browser (Ed25519, WebCrypto); the private key "
        "never leaves it. Hand the registry entry below to whoever maintains the reviewers "
        "registry.</p>"
        '<div id="current-key"><p>No key in this browser.</p></div>'
        '<form id="newkey"><h2>Create a key here</h2>'
        '<label>Reviewer id <input name="reviewer_id" id="reviewer-id" required></label> '
        '<label>Key id <input name="key_id" id="key-id" required></label> '
        '<button type="submit" id="create-key">Create key</button></form>'
        '<form id="importkey"><h2>Or import a <code>sluice keys new</code> key file</h2>'
        '<input type="file" id="key-file" accept=".key,.yaml,.yml,text/plain"> '
        '<button type="submit" id="import-key">Import</button></form>'
        '<p id="key-status" role="status"></p>'
        '<h2>Registry entry</h2><pre id="registry-entry"></pre>'
    )
    return page("My key", body, csrf=csrf, user=user)
