"""Collapse log lines into templates with Drain (``drain3``), so evidence is a handful of patterns.

40,000 lines of ``CUDA out of memory. Tried to allocate 2.50 GiB`` are one template with a count,
a first-seen and a last-seen time. A template none of whose lines fall before the baseline cut
is flagged ``new``: the error template that appeared at 02:10 is the evidence.

How a message becomes tokens (:func:`mining_tokens`), one configuration for every system:

1. times written inside the message (``Fri Jun 17 20:55:07 2005``, ISO 8601), UUIDs, IP addresses
   (with a port; a comma-separated list is one ``<IP>``), ``0x`` hex, hex ids and numbers (with a
   unit: ``512 KB`` is one ``<NUM>``) are masked wherever they stand, also inside a token
   (``blk_<NUM>``, ``host:<NUM>``);
2. ``key=value`` and ``key:value`` tokens are split into the key and the value, so a value is a
   token of its own; a value is a parameter by definition, so the template always shows it as a
   wildcard (re-joined: ``uid=<*>``), whether or not the window's lines happen to vary there;
3. Drain treats a token holding a mask like one holding a digit (its parameter signal): such a
   token never becomes a branch of the prefix tree, so ``a.example:<NUM>`` and
   ``b.example:<NUM>`` (a ``host:port`` is not split) do not split one template in two;
4. where Drain put a wildcard over a plain word (letters only, not a ``key=`` value), the line's
   word is kept: ``VM Started`` and ``VM Stopped``, ``from NEW to RUNNING``, ``stored as bytes``
   and ``as values`` stay apart; a lower-case word right after a noun that names things
   (:data:`NAME_NOUNS`: ``for user cyrus``, ``tenant acme``) is a name and stays a wildcard,
   unless it is a verb form (``job started``, ``disk failing``).

Every step looks at one line at a time; nothing depends on how many distinct values a window
happens to hold, and lines are mined in (time, message) order, so the same window always gives
the same templates and a line keeps its template when the window around it changes (unless the
lines around it change where Drain puts a wildcard over a non-word token). Drain runs in memory;
a miner lives for one tool call.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from drain3.drain import Drain

from augur.tools.logs.backend import LogRecord

__all__ = [
    "LogTemplate",
    "TemplateSet",
    "masked",
    "mine_templates",
    "mining_tokens",
    "template_drain",
    "template_pattern",
    "template_words",
]

_L = r"(?<![A-Za-z0-9])"
_R = r"(?![A-Za-z0-9])"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_IP = r"\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?"
_CLOCK = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
_UNIT = r"(?:[KMGTP]i?B|[KMGTP]B|B|bytes|ns|us|µs|ms|s|sec|secs|%)"
#: Masks applied in order to the whole message before it is cut into tokens.
MASKS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), name) for p, name in (
    (rf"{_L}(?:{_DAY},? )?{_MONTH} +\d{{1,2}},? {_CLOCK}(?: \d{{4}})?{_R}", "<TIME>"),
    (rf"{_L}\d{{4}}-\d{{2}}-\d{{2}}[T ]{_CLOCK}(?:Z|[+-]\d{{2}}:?\d{{2}})?{_R}", "<TIME>"),
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<UUID>"),
    (rf"{_L}{_IP}(?:,{_IP})*{_R}", "<IP>"),
    (rf"{_L}0[xX][0-9a-fA-F]+{_R}", "<HEX>"),
    # hex ids of 8+ characters with both a digit and a letter (trace ids, container ids, hashes)
    (rf"{_L}(?=[a-fA-F0-9]*\d)(?=[a-fA-F0-9]*[a-fA-F])[a-fA-F0-9]{{8,}}{_R}", "<ID>"),
    (rf"{_L}[-+]?\d+(?:[.:,]\d+)*(?:e[-+]?\d+)?(?: ?{_UNIT})?{_R}", "<NUM>"),
))
#: Drain's similarity threshold: a line joins a cluster when at least this share of tokens match.
SIMILARITY = 0.4
#: Drain's tree depth (root and token-count layers included: lines are routed by their first token).
DEPTH = 4
#: Characters of a line Drain sees; a 50 kB stack dump line is not 50 kB of template.
MAX_LINE_CHARS = 2000
#: Characters kept of each sample line.
MAX_SAMPLE_CHARS = 300
_WILDCARD = "<*>"
#: Marks a token that is the value of a ``key=value`` pair (never kept as a plain word).
_VALUE = "\x00"
_KEY_VALUE = re.compile(r"([A-Za-z_][\w.-]*[=:])(?!//)([^=:].*)\Z")
#: A word with a capital letter (``Started``, ``NEW``, ``brightnessIn``): never a name.
_CAPITALISED_WORD = re.compile(r"[\"'(\[]?(?=[a-z_'-]*[A-Z])[A-Za-z][A-Za-z_'-]*[\"')\],.:;!?]*\Z")
_MASK_TOKEN = re.compile(r"<[A-Z*]+>")
_PLAIN_WORD = re.compile(r"[\"'(\[]?[A-Za-z][A-Za-z_'-]*[\"')\],.:;!?]*\Z")
#: Nouns after which a lower-case word is a name (``for user cyrus``, ``tenant acme``): a parameter.
NAME_NOUNS = frozenset((
    "user", "username", "login", "tenant", "host", "hostname", "node", "server", "pod", "namespace",
    "service", "job", "queue", "topic", "table", "database", "db", "schema", "account", "project",
    "bucket", "container", "image", "model", "team", "group", "role", "domain", "cluster", "region",
    "zone", "customer", "client", "owner", "org", "organization", "workspace", "device", "interface",
    "file", "path", "dir", "directory", "key", "channel", "app", "application", "process", "task",
    "worker", "peer", "deployment", "volume", "disk", "partition", "stream", "endpoint", "index",
))
#: A verb form (``started``, ``running``) after such a noun is what happened to it, not its name.
_VERB_FORM = re.compile(r"[a-z]+(?:ed|ing)\W*\Z")


def template_drain(similarity: float = SIMILARITY, depth: int = DEPTH) -> Drain:
    """A fresh in-memory Drain tree whose parameter signal also sees augur's masks."""
    drain = Drain(depth=depth, sim_th=similarity, max_children=100, parametrize_numeric_tokens=True)
    # An instance attribute wins over the static method: a masked token is a parameter like a digit.
    drain.has_numbers = _has_parameter  # type: ignore[method-assign]
    return drain


def _has_parameter(token: str) -> bool:
    return any(c.isdigit() for c in token) or _MASK_TOKEN.search(token) is not None


def mining_tokens(message: str) -> list[str]:
    """The tokens Drain sees for a message: masked, ``key=value`` split (values marked)."""
    text = message_for_mining(message)
    for pattern, name in MASKS:
        text = pattern.sub(name, text)
    out: list[str] = []
    for token in text.split():
        kv = _KEY_VALUE.match(token)
        if kv and not (kv[1].endswith(":") and kv[2].rstrip(",;)]") == "<NUM>"):  # host:port stays whole
            out += [kv[1], _VALUE + kv[2]]
        else:
            out.append(token)
    return out


def _display(tokens: list[str], line: list[str] | None = None) -> str:
    """Tokens as text: value marks removed, ``key=`` re-joined with its value (a wildcard key and
    its value are one wildcard: ``<*>`` for ``api.example.com:443`` and ``cdn.example.com:8443``).

    ``line`` is the line's own tokens when ``tokens`` is a template: where Drain put a wildcard
    over a value, the line says it was one.
    """
    shape = line if line is not None and len(line) == len(tokens) else tokens
    out: list[str] = []
    for token, own in zip(tokens, shape, strict=True):
        if own.startswith(_VALUE) and out:
            if out[-1] != _WILDCARD:
                out[-1] += token.lstrip(_VALUE)
        else:
            out.append(token.lstrip(_VALUE))
    return " ".join(out)


@dataclass(slots=True)
class LogTemplate:
    """Lines that share one pattern, with when they were seen."""

    template: str
    count: int  # scanned lines with this template
    first_seen: float
    last_seen: float
    baseline_count: int = 0  # of which before the baseline cut
    new: bool = False  # no line before the baseline cut, and the baseline was scanned
    first_seen_exact: bool = True  # False: first_seen is the first *scanned* line (the scan was cut)
    levels: dict[str, int] = field(default_factory=dict)
    services: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TemplateSet:
    """The templates of a scan, ordered new first, then by count; and how many were cut."""

    templates: list[LogTemplate]
    total_templates: int
    assignments: dict[str, str] = field(default_factory=dict)  # record id -> template (when asked)
    left_out_lines: int = 0  # lines of the templates cut by ``max_templates``


_PLACEHOLDER = re.compile(r"<[A-Z*]+>")
_QUERY_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*[A-Za-z0-9]$")


def masked(message: str) -> str:
    """A message as templates are written: its first line, bounded, variable parts masked."""
    return _display(mining_tokens(message))


def template_pattern(template: str) -> re.Pattern[str]:
    """A regex matching the :func:`masked` form of every line the template stands for."""
    parts = []
    for token in template.split():
        pieces = _PLACEHOLDER.split(token)
        parts.append(r"\S*".join(re.escape(p) for p in pieces))
    return re.compile(r"\s+".join(parts) + r"\Z")


def template_words(template: str, limit: int = 6) -> list[str]:
    """The template's longest constant words, plain enough that FTS5 and Lucene read them alike.

    Used to ask a backend for a template's lines (e.g. its true first occurrence) by words alone;
    words with punctuation Lucene treats as syntax (``:``, ``/``, ``-``...) are left out.
    """
    words = []
    for token in template.split():
        word = token.strip(".,;:!?'\"()[]{}")
        if "<" not in word and _QUERY_WORD.match(word) and len(word) >= 3:
            words.append(word)
    unique = list(dict.fromkeys(words))
    return sorted(unique, key=len, reverse=True)[:limit]


def message_for_mining(message: str) -> str:
    """The part of a message Drain sees: its first line, bounded."""
    first = message.split("\n", 1)[0].strip()
    return first[:MAX_LINE_CHARS]


def mine_templates(
    records: Iterable[LogRecord],
    *,
    baseline_end: float | None = None,
    max_templates: int = 50,
    max_samples: int = 3,
    keep_assignments: bool = False,
    similarity: float = SIMILARITY,
) -> TemplateSet:
    """Group ``records`` into templates (see the module docstring for how).

    Lines are mined in (time, message, id) order, whatever order the backend returned them in.
    ``baseline_end`` is the cut before which a line counts as baseline; templates without
    baseline lines are flagged ``new`` (only when ``baseline_end`` is given). At most
    ``max_templates`` templates are returned (new ones first, then the most frequent), each with
    up to ``max_samples`` sample lines (the first ones seen); ``TemplateSet.total_templates`` and
    ``left_out_lines`` say what the cut left out.
    """
    drain = template_drain(similarity)
    mined: list[tuple[LogRecord, int, list[str]]] = []
    for record in sorted(records, key=lambda r: (r.ts, r.message, r.id)):
        tokens = mining_tokens(record.message)
        if not tokens:
            continue
        cluster, _ = drain.add_log_message(" ".join(tokens))
        mined.append((record, cluster.cluster_id, tokens))
    # Clusters' templates generalise as lines arrive: read the final ones once every line is in.
    final = {c.cluster_id: c.log_template_tokens for c in drain.clusters}
    by_text: dict[str, LogTemplate] = {}
    levels: dict[str, Counter[str]] = {}
    services: dict[str, Counter[str]] = {}
    assignments: dict[str, str] = {}
    for record, cluster_id, tokens in mined:
        text = _display(_keep_words(final[cluster_id], tokens), tokens)
        if keep_assignments:
            assignments[record.id] = text
        entry = by_text.get(text)
        if entry is None:
            entry = by_text[text] = LogTemplate(text, 0, record.ts, record.ts)
            levels[text], services[text] = Counter(), Counter()
        entry.count += 1
        entry.last_seen = record.ts
        if baseline_end is not None and record.ts < baseline_end:
            entry.baseline_count += 1
        if record.level:
            levels[text][record.level.lower()] += 1
        if record.service:
            services[text][record.service] += 1
        if len(entry.samples) < max_samples:
            entry.samples.append(record.message[:MAX_SAMPLE_CHARS])
    for text, entry in by_text.items():
        entry.levels = dict(levels[text].most_common())
        entry.services = dict(services[text].most_common(5))
        entry.new = (baseline_end is not None and entry.baseline_count == 0
                     and entry.first_seen >= baseline_end)
    ordered = sorted(by_text.values(), key=lambda t: (not t.new, -t.count, t.first_seen, t.template))
    kept = ordered[:max_templates]
    return TemplateSet(kept, len(ordered), assignments, sum(t.count for t in ordered[max_templates:]))


def _keep_words(template: tuple[str, ...], tokens: list[str]) -> list[str]:
    """The cluster's template with this line's plain words where Drain put a wildcard over them.

    Drain merges lines that differ in one word when the rest is similar enough (``VM Started`` /
    ``VM Stopped``, ``Instance spawned`` / ``destroyed``): a word without digits is a state, an
    action or a code identifier, a constant of the message. Names stay wildcards: a lower-case
    word right after one of :data:`NAME_NOUNS` (``session opened for user <*>``). The values of
    ``key=value`` pairs always become wildcards, also where the window's lines agree on one.
    This looks at the line alone: no count of the values a window holds decides.
    """
    if len(template) != len(tokens):
        return list(template)
    out = list(template)
    for i, (slot, token) in enumerate(zip(template, tokens, strict=True)):
        if token.startswith(_VALUE):
            out[i] = _WILDCARD
            continue
        if slot != _WILDCARD or not _PLAIN_WORD.match(token):
            continue
        if (_CAPITALISED_WORD.match(token) or i == 0 or tokens[i - 1] not in NAME_NOUNS
                or _VERB_FORM.match(token)):
            out[i] = token
    return out
