"""The sanitize stage: detect and redact secrets, PII, markup, SQL/prompt injection, Unicode tricks.

``Sanitizer(key).sanitize_event(event)`` returns the sanitized event (the same object
when nothing changed) and its findings; ``scan_text`` runs the same machinery on one
string (``sluice scan``); ``redact`` is the secrets-only redactor for anything derived
from an event that is about to be printed. Secret rules live in ``rules/secrets.yaml``.
"""

from sluice.models.finding import Finding
from sluice.sanitize.engine import Sanitizer, all_rules
from sluice.sanitize.walk import default_treatments

__all__ = ["Finding", "Sanitizer", "all_rules", "default_treatments"]
