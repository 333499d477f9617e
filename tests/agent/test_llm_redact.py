"""Redaction of secrets from everything sent to an LLM: many secret shapes, and what must survive."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from augur.agent import redact as redaction
from augur.agent.redact import Redactor, redact, redact_value
from tests.fixtures.secrets import BUILTIN_SECRETS

# (text containing a secret, the secret itself, the kind named in the marker)
SECRETS = [
    ("Authorization: Bearer abcDEF123.ghiJKL456-mno", "abcDEF123.ghiJKL456-mno", "bearer"),
    ("curl -H 'authorization: bearer 0123456789abcdef0123'", "0123456789abcdef0123", "bearer"),
    ("Authorization: Token 9f8e7d6c5b4a39281706aa", "9f8e7d6c5b4a39281706aa", "bearer"),
    ("Authorization: Basic YWRtaW46czNjcjN0UGFzcw==", "YWRtaW46czNjcjN0UGFzcw==", "bearer"),
    ("using key sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345", "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345",
     "api_key"),
    ("OPENAI key sk-0123456789abcdefghijABCDEFGHIJ", "sk-0123456789abcdefghijABCDEFGHIJ", "api_key"),
    ("anthropic sk-ant-api03-aaaaBBBBccccDDDDeeee", "sk-ant-api03-aaaaBBBBccccDDDDeeee", "api_key"),
    ("slack xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp", "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp",
     "slack_token"),
    ("app token xapp-1-A0123456789-0123456789-abcdef", "xapp-1-A0123456789-0123456789-abcdef", "slack_token"),
    ("aws AKIAIOSFODNN7EXAMPLE in env", "AKIAIOSFODNN7EXAMPLE", "aws_access_key"),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "secret"),
    ("gh token ghp_0123456789abcdefghijABCDEFGHIJklmnop", "ghp_0123456789abcdefghijABCDEFGHIJklmnop",
     "github_token"),
    ("gitlab glpat-AbCdEfGhIjKlMnOpQrSt", "glpat-AbCdEfGhIjKlMnOpQrSt", "gitlab_token"),
    ("google AIzaSyA1234567890abcdefghijklmnopqrstu", "AIzaSyA1234567890abcdefghijklmnopqrstu", "api_key"),
    ("stripe sk_live_0123456789abcdefABCDEF", "sk_live_0123456789abcdefABCDEF", "api_key"),
    ("hf hf_abcdefghijklmnopqrstuvwxyzABCDEFGH", "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH", "api_key"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "jwt"),
    ("db postgresql://app:S3cr3t!pass@db.internal:5432/prod", "S3cr3t!pass", "password"),
    ("redis://:topsecret99@cache:6379/0", "topsecret99", "password"),
    ("https://user:hunter2@grafana.example.com/d/abc", "hunter2", "password"),
    ("login failed password=hunter2 user=bob", "hunter2", "secret"),
    ("DB_PASSWORD: 'pa55w0rd'", "pa55w0rd", "secret"),
    ('{"api_key": "k-1234-5678", "model": "ranker"}', "k-1234-5678", "secret"),
    ("X-Api-Key: 7d1f0c3e9a", "7d1f0c3e9a", "secret"),
    ("client_secret=Zm9vYmFy&grant_type=client_credentials", "Zm9vYmFy", "secret"),
    ("set-cookie: session_id=abc123def456; Path=/", "abc123def456", "secret"),
    ("access_token=ya29.a0AfH6SMB", "ya29.a0AfH6SMB", "secret"),
    ("alert owner alice.smith+oncall@example.co.uk paged", "alice.smith+oncall@example.co.uk", "email"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc\n-----END RSA PRIVATE KEY-----",
     "MIIEowIBAAKCAQEA7", "private_key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
     "b3BlbnNzaC1rZXktdjEAAAAA", "private_key"),
    ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B (truncated log line", "MIIEvQIBADANBgkqhkiG9w0B",
     "private_key"),
]


@pytest.mark.parametrize(("text", "secret", "kind"), SECRETS)
def test_secret_is_removed_and_its_kind_named(text: str, secret: str, kind: str) -> None:
    out = redact(text)
    assert secret not in out
    assert f"[REDACTED:{kind}]" in out


# Things the LLM needs to read and cite, which look a little like secrets but are not.
KEEP = [
    "ev-0123456789ab promql_range ok",
    'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="x"}[5m])))',
    "prompt_tokens=812 completion_tokens=40 max_tokens=600",
    "token authentication failed for user bob",
    "basic configuration reloaded",
    "feature_psi{feature=\"click_duration\"} went up from 0.03 to 0.41 (+6.2σ)",
    "http://127.0.0.1:9090/graph?g0.expr=up&g0.range_input=1h",
    "model_version=v42 deployed at 2026-11-24T02:10:00Z by the release bot",
    "author=alice wrote the runbook",
]


@pytest.mark.parametrize("text", KEEP)
def test_ordinary_telemetry_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_value_walks_json_and_replaces_secret_named_fields_whole() -> None:
    value = {
        "labels": {"service": "ranker", "owner": "bob@example.com"},
        "password": "correct horse battery staple",  # not secret-shaped, but under a secret's name
        "token": 123456789,
        "lines": ["ok", "Authorization: Bearer abcdefgh12345678"],
        "count": 3,
        "ok": True,
    }
    redactor = Redactor()
    out = redactor.redact_value(value)
    assert out == {
        "labels": {"service": "ranker", "owner": "[REDACTED:email]"},
        "password": "[REDACTED:secret]",
        "token": "[REDACTED:secret]",
        "lines": ["ok", "Authorization: Bearer [REDACTED:bearer]"],
        "count": 3,
        "ok": True,
    }
    assert redactor.total == 4
    assert value["password"] == "correct horse battery staple"  # the input is not modified
    assert redact_value("password=x") == "password=[REDACTED:secret]"


_SECRET_CHARS = st.text(alphabet=string.ascii_letters + string.digits + "!#$%*+-./=?^_~", min_size=8,
                        max_size=40)


@settings(max_examples=200, deadline=None)
@given(secret=_SECRET_CHARS.filter(lambda s: any(c.isalnum() for c in s)))
def test_any_value_in_a_secret_position_never_leaks(secret: str) -> None:
    texts = [f"password={secret}", f"Authorization: Bearer {secret}", f'{{"client_secret": "{secret}"}}',
             f"MY_API_KEY: {secret}", f"Authorization: Token 1{secret}"]
    if "/" not in secret:  # a '/' in a URL's password must be percent-encoded
        texts.append(f"https://svc:{secret}@db.internal/x")
    for text in texts:
        assert secret not in redact(text), text


def _every_pattern(text: str) -> str:
    """What redaction promises: every pattern of PATTERNS applied, in order, to the whole text."""
    for _, pattern, replacement in redaction.PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def test_each_builtin_pattern_has_a_secret_it_matches_and_redact_removes() -> None:
    builtins = [(kind, p) for kind, p, _ in redaction.PATTERNS if kind != "custom"]
    assert len(builtins) == len(BUILTIN_SECRETS), "add a sample to tests/fixtures/secrets.py"
    for (kind, pattern), (text, secret) in zip(builtins, BUILTIN_SECRETS, strict=True):
        assert pattern.search(text), (kind, text)
        for variant in (text, f"x {text} y", f'{{"v": "{text}"}}'):
            assert secret not in redact(variant), (kind, variant)
            assert redact(variant) == _every_pattern(variant)


# Every alternative shape of the built-in patterns, for the tests below to combine.
_SHAPES = [
    "github_pat_11ABCDEF0123456789abcdefijklmnopqrstuvw", "gho_0123456789abcdefghijABCDEFGHIJklmnop",
    "Bearer\tabcdefgh12345678", "bearer\n0123456789abcdef", "xapp-1-A0123456789", "xoxp-0123456789ab",
    *[f"{prefix}IOSFODNN7EXAMPLE" for prefix in ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA",
                                                  "AIPA")],
    "rk_test_0123456789abcdefAB", "pk_live_0123456789abcdefAB",
    "sk-ant-api03-aaaaBBBBccccDDDDeeee", "sk-svcacct-aaaaBBBBccccDDDDeeee",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----\nxyz\n-----END PGP PRIVATE KEY BLOCK-----",
    "digest\t1234567890abcdef", "basic dXNlcjpwYXNzd29yZDEyMw==", "authorization='x1'",
    "passphrase: x", "session-id=abc", "apikey=k", "api-key: k", "access_key=k", "private-key=k",
    "client-secret=k", "credentials: k", "credential=k", "cookie=k", "signature=k", "pwd=k", "x-token: k",
    "ftp://averyveryverylongtoken@host", "s3://key:pa@ss@bucket/x", "mail me at x.y@a-b.example.org",
]
# Pieces that make texts close to what the patterns look for: the words and separators they
# need, in other cases, beside the characters ``re.IGNORECASE`` matches to ASCII letters
# (``ſ`` s, ``K`` k, ``ı`` i, ``İ`` I) and parts of real secrets.
_PIECES = st.sampled_from(
    [w for _, needs in redaction._NEEDS.values() for group in needs.groups for w in group]
    + ["PASSWORD", "Token", "Api-Key", "AUTHORIZATION", "Bearer", "BASIC", "Digest", "GHP_", "HF_", "Sk-",
       "eyJ", "AKIA", "AIza", "-----BEGIN ", "PRIVATE KEY", "-----", "://", "@", ".", ":", "=", " ", "\n",
       "\t", "'", '"', "/", "_", "-", "1", "a1B2c3D4e5F6g7H8i9J0", "ſ", "\u212a", "ı", "\u0130", "é"]
    + [secret for _, secret in BUILTIN_SECRETS] + [text for text, _ in BUILTIN_SECRETS] + _SHAPES
)
_NEAR_SECRETS = st.lists(_PIECES | st.text(max_size=4), max_size=12).map("".join)


def _assert_skips_only_what_cannot_match(text: str) -> None:
    """A built-in pattern is skipped only on a text it cannot match: the result is what applying
    every pattern gives, and no pattern that matches the text is judged unable to."""
    assert redact(text) == _every_pattern(text), text
    for _, pattern, _ in redaction.PATTERNS:
        entry = redaction._NEEDS.get(id(pattern))
        if entry is not None and text.isascii() and pattern.search(text):
            assert entry[1].met_by(text.lower()), (pattern.pattern, text)


@settings(max_examples=1500, deadline=None)
@given(text=_NEAR_SECRETS)
def test_skipping_patterns_never_changes_what_is_redacted(text: str) -> None:
    _assert_skips_only_what_cannot_match(text)


@pytest.mark.parametrize(
    "text", [t for t, _, _ in SECRETS] + KEEP + [t for t, _ in BUILTIN_SECRETS] + _SHAPES)
def test_redaction_is_the_same_in_any_case_and_beside_non_ascii_letters(text: str) -> None:
    for variant in (text, text.upper(), text.lower(), text.swapcase(), text.replace("s", "ſ"),
                    text.replace("k", "\u212a"), f"é {text}", f"{text} {text}"):
        _assert_skips_only_what_cannot_match(variant)
