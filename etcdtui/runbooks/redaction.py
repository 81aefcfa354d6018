"""Redaction: passwords, tokens, private keys and key material cut out of text.

The audit log (audit.py) passes every command line, output tail and note through `redact`
before anything is written. File paths (`--key /etc/kubernetes/pki/etcd/healthcheck-client.key`)
are kept: only values that are secrets, or look like key material, are replaced by `R`.
"""

from __future__ import annotations

import re

R = "[REDACTED]"

# A flag or assignment value: quoted on one line (JSON and shell escapes inside double quotes
# kept), or an unquoted word (backslash escapes kept).
_VALUE = r"""(?:'[^'\n]*'|"(?:\\.|[^"\\\n])*"|(?:\\.|[^\s'"\\])+)"""
_PEM_LINE = r"(?:[A-Za-z0-9+/=]*|(?:Proc-Type|DEK-Info):[^\n]*)\r?\n"  # body or header lines
_PEM_END = r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
# Key words whose value is always a secret, whatever it looks like (apiToken, client_secret,
# "password", x-api-key, aws_secret_access_key, client-key-data ...). `key` alone is not one:
# its value is usually a file path, kept unless it looks like key material (a rule below).
_WORDS = (
    r"(?:password|passwd|passphrase|token|api[_-]?key|key[_-]data"
    r"|secret(?:[_-]?access)?(?:[_-]?key)?)"
)
# A private key block (PEM, OpenSSH, PGP), also cut short (no END: to the end of the text).
_PEM_BLOCK = re.compile(
    r"(?s)-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY((?: BLOCK)?)-----.*?"
    r"(?:-----END \1PRIVATE KEY\2-----|\Z)"
)
# A block cut at the front (no BEGIN): a run of body lines, in plain text or JSON-escaped
# (literal \n), that ends at an END line. Possessive: each run is scanned once, whether an END
# follows it or not, so a long base64 output (a certificate chain) costs linear time.
_PEM_TAILS = [
    re.compile(rf"(?m)^(?:{_PEM_LINE})++([ \t]*{_PEM_END})?"),
    re.compile(rf"(?<![A-Za-z0-9+/=\\])(?:[A-Za-z0-9+/=]*\\[rn])++({_PEM_END})?"),
]
# Each rule keeps its first group and replaces the rest of the match with [REDACTED].
_RULES = [
    re.compile(p)
    for p in (
        # --password X, --encrypt-passphrase=X, --token X, --client-secret X, --api-key X,
        # kubeadm's --certificate-key X; not *-file flags, nor etcd's --initial-cluster-token
        # (an identifier, not a secret).
        r"(?i)(?<![\w-])(--(?!initial-cluster-token)(?:[\w-]*-)?"
        r"(?:password|passwd|passphrase|secret|token|api-?key|certificate-key)"
        rf"(?:=|[ \t]+)){_VALUE}",
        # ETCDCTL_PASSWORD=x, ETCDTUI_PASSPHRASE=x, FOO_TOKEN=x, AWS_SECRET_ACCESS_KEY=x.
        r"\b([A-Z][A-Z0-9_]*(?:PASSWORD|PASSWD|PASSPHRASE|SECRET(?:_ACCESS)?(?:_KEY)?"
        rf"|(?<!INITIAL_CLUSTER_)TOKEN|API_?KEY)=){_VALUE}",
        # password=x, token: x, "apiToken": "x", client_secret=x, X-Auth-Token: x ...
        r"(?i)(?<![\w.-])([\"']?(?:[a-z][\w.-]*?)?(?<!initial[-_]cluster[-_])"
        rf"{_WORDS}[\"']?[ \t]*[=:][ \t]*){_VALUE}",
        r"(?i)\b((?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?"
        r"(?:(?:bearer|basic|token|digest|negotiate)[ \t]+)?)[^\s'\",]+",
        r"(?i)\b(Bearer[ \t]+)[A-Za-z0-9._~+/=-]{8,}",
        # Key material (>= 32 base64/hex chars) after key=/key:/secret:/client-key-data: --
        # never a /path, a.path.
        r"(?i)(?<![\w-])((?:[\w-]*key|secret)(?:[-_]?data)?[\"']?[ \t]*[=:][ \t]*[\"']?)"
        r"(?![/.~])[A-Za-z0-9+/_-]{32,}={0,2}(?![\w./=-])",
        # URL user:password@ (also an empty user, and a password holding @).
        r"(://[^/\s:@]*:)[^\s/]*?(?=@[^\s/@]*(?:[\s/?#'\"]|$))",
    )
]
# etcdctl --user, curl -u / --user, ETCDCTL_USER: the user stays, the password goes.
_USER = re.compile(rf"(?<![\w-])(-u[ \t]*|--user(?:=|[ \t]+)|ETCDCTL_USER=)({_VALUE})")


def _user_value(m: re.Match[str]) -> str:
    value = m.group(2)
    quote = value[0] if value[:1] in ("'", '"') else ""
    inner = value[1:-1] if quote else value
    if ":" not in inner:
        return m.group(0)
    return f"{m.group(1)}{quote}{inner.split(':', 1)[0]}:{R}{quote}"


def redact(text: str) -> str:
    """Replace passwords, tokens, private keys and key material with `[REDACTED]`.

    File paths (`--key /etc/kubernetes/pki/etcd/healthcheck-client.key`) are kept.
    """
    text = _PEM_BLOCK.sub(R, text)
    for tail in _PEM_TAILS:
        text = tail.sub(lambda m: R if m.group(1) else m.group(0), text)
    for pattern in _RULES:
        text = pattern.sub(lambda m: m.group(1) + R, text)
    return _USER.sub(_user_value, text)
