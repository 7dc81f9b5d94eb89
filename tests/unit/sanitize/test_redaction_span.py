"""A redaction covers the whole secret, not the fragment a rule's first group captured.

Rules ported from gitleaks name a capture group that is sometimes a hint (the branch of
an alternation, the last round of a repetition), not the secret: redacting only that
group left most of a JWT or a Teams webhook token in the output.
"""

from __future__ import annotations

import pytest

from sluice.sanitize import Sanitizer
from sluice.sanitize.secrets_rules import redaction_group


@pytest.mark.parametrize(
    ("regex", "group", "want"),
    [
        (r"key=([a-z0-9]{32})", 1, 1),  # the group is the secret
        (r"x-([a-z0-9]{4}-){3}[a-z0-9]{12}", 1, 0),  # a repeated group: last round only
        (r"\bZXlK(?:(?P<alg>aGJH)|(?P<typ>MGVY))[a-z0-9]{40,}", 1, 0),  # a branch
        (r"(?i)(?:token)\s*=\s*([a-z0-9]{20})(?:\b|$)", 1, 1),
        (r"whole[0-9]+", 0, 0),
    ],
)
def testredaction_group(regex: str, group: int, want: int) -> None:
    assert redaction_group(regex, group) == want


@pytest.mark.parametrize(
    "secret",
    [
        "ZXlKaGJHY2lPaUx1Fh+zm9tbRkRMgSnMJq8Mt3oa94hHBLzA/qfpIY",
        "https://y0cq65zt4wn6isigq8jtgev49gw1un94.webhook.office.com/webhookb2/"
        "27qd9afz-dm7i-huvm-ltls-a5vpuemopj82@ffu65gt9-c4o1-fl1e-zmtu-sh9v8n9s2fyu/"
        "IncomingWebhook/pslmlcq4efijcf8z7r7pn0r25wfuh5vm/pbrhoxkv-e12q-g7fo-o9wp-1dgjoc8ebhmh",
    ],
)
def test_whole_secret_is_redacted(sanitizer: Sanitizer, secret: str) -> None:
    out, findings = sanitizer.scan_text(f"use {secret} now")
    assert findings
    for part in ("Fh+zm9tbRkRMgSnMJq8Mt3oa94hH", "pslmlcq4efijcf8z7r7pn0r25wfuh5vm"):
        assert part not in out
