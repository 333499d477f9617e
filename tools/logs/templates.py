"""Collapse log lines into templates with Drain (``drain3``), so evidence is a handful of patterns.

40,000 lines of ``CUDA out of memory. Tried to allocate 2.50 GiB`` are one template with a count,
a first-seen and a last-seen time. A template none of whose lines fall before the baseline cut
is flagged ``new``: the error template that appeared at 02:10 is the evidence.

Variable parts are masked before Drain sees them (UUIDs, IPs, hex and numbers, with or without a
unit), so the tree groups by the constant words. Drain runs in memory with no persistence; a miner
lives for one tool call.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from drain3 import TemplateMiner
from drain3.masking import LogMasker, MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from augur.tools.logs.backend import LogRecord

__all__ = [
    "LogTemplate",
    "TemplateSet",
    "masked",
    "mine_templates",
    "template_miner",
    "template_pattern",
    "template_words",
]

_EDGE_L = r"((?<=[^A-Za-z0-9])|^)"
_EDGE_R = r"((?=[^A-Za-z0-9])|$)"
#: Masks applied in order before Drain tokenises a line.
MASKS: tuple[tuple[str, str], ...] = (
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "UUID"),
    (_EDGE_L + r"(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(:\d{1,5})?" + _EDGE_R, "IP"),
    (_EDGE_L + r"(0x[a-fA-F0-9]+)" + _EDGE_R, "HEX"),
    # hex ids of 12+ characters with both a digit and a letter (trace ids, container ids, hashes)
    (_EDGE_L + r"(?=[a-fA-F0-9]*[0-9])(?=[a-fA-F0-9]*[a-fA-F])([a-fA-F0-9]{12,})" + _EDGE_R, "ID"),
    (_EDGE_L + r"([\-+]?\d+(\.\d+)?(e[\-+]?\d+)?(ns|us|µs|ms|s|m|h|d|%|[KMGT]i?B|B)?)" + _EDGE_R, "NUM"),
)
#: Drain's similarity threshold: a line joins a cluster when at least this share of tokens match.
SIMILARITY = 0.4
#: Characters of a line Drain sees; a 50 kB stack dump line is not 50 kB of template.
MAX_LINE_CHARS = 2000
#: Characters kept of each sample line.
MAX_SAMPLE_CHARS = 300
#: A Drain wildcard with at most this many distinct plain words is split back into templates.
MAX_WORD_VALUES = 4
_WILDCARD = "<*>"
_PLAIN_WORD = re.compile(r"^[A-Za-z][A-Za-z_.:;,!?'-]*$")


def template_miner(similarity: float = SIMILARITY) -> TemplateMiner:
    """A fresh in-memory Drain miner with augur's masks (no config file, no persistence)."""
    config = TemplateMinerConfig()
    config.drain_sim_th = similarity
    config.drain_depth = 4
    config.drain_max_children = 100
    config.profiling_enabled = False
    config.parametrize_numeric_tokens = True
    config.masking_instructions = [MaskingInstruction(pattern, name) for pattern, name in MASKS]
    return TemplateMiner(persistence_handler=None, config=config)


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


_PLACEHOLDER = re.compile(r"<[A-Z*]+>")
_QUERY_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*[A-Za-z0-9]$")
_MASKER = LogMasker([MaskingInstruction(pattern, name) for pattern, name in MASKS], "<", ">")


def masked(message: str) -> str:
    """A message as Drain sees it: its first line, bounded, variable parts masked."""
    return " ".join(_MASKER.mask(message_for_mining(message)).split())


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
    """Group ``records`` into Drain templates.

    Lines are mined oldest first. ``baseline_end`` is the cut before which a line counts as
    baseline; templates without baseline lines are flagged ``new`` (only when ``baseline_end`` is
    given). At most ``max_templates`` templates are returned (new ones first, then the most
    frequent), each with up to ``max_samples`` sample lines (the first ones seen).
    """
    miner = template_miner(similarity)
    mined: list[tuple[LogRecord, int, list[str]]] = []
    for record in sorted(records, key=lambda r: r.ts):
        text = message_for_mining(record.message)
        if not text:
            continue
        result = miner.add_log_message(text)
        mined.append((record, int(result["cluster_id"]), miner.masker.mask(text).split()))
    # Clusters' templates generalise as lines arrive: read the final ones once every line is in.
    final = {c.cluster_id: c.log_template_tokens for c in miner.drain.clusters}
    keep = _constant_wildcards(final, mined)
    by_text: dict[str, LogTemplate] = {}
    levels: dict[str, Counter[str]] = {}
    services: dict[str, Counter[str]] = {}
    assignments: dict[str, str] = {}
    for record, cluster_id, tokens in mined:
        template = list(final[cluster_id])
        for position in keep.get(cluster_id, ()):
            template[position] = tokens[position]
        text = " ".join(template)
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
    ordered = sorted(by_text.values(), key=lambda t: (not t.new, -t.count, t.first_seen))
    return TemplateSet(ordered[:max_templates], len(ordered), assignments)


def _constant_wildcards(
    final: dict[int, Any], mined: list[tuple[LogRecord, int, list[str]]]
) -> dict[int, list[int]]:
    """Per cluster, the ``<*>`` positions that hold a few distinct plain words: keep those words.

    Drain's prefix tree never reaches a line's last token, so ``PacketResponder 1 for block <ID>
    terminating`` and ``... Interrupted.`` end up as one template ``... <*>``: the normal case and
    the error case hidden behind one wildcard. A wildcard whose values are at most
    ``MAX_WORD_VALUES`` words without digits is a distinguishing constant, not a parameter, and is
    split back out.
    """
    values: dict[tuple[int, int], set[str]] = {}
    for _, cluster_id, tokens in mined:
        template = final[cluster_id]
        if len(tokens) != len(template):
            continue
        for position, token in enumerate(template):
            if token == _WILDCARD:
                values.setdefault((cluster_id, position), set()).add(tokens[position])
    keep: dict[int, list[int]] = {}
    for (cluster_id, position), seen in values.items():
        if 1 < len(seen) <= MAX_WORD_VALUES and all(_PLAIN_WORD.match(v) for v in seen):
            keep.setdefault(cluster_id, []).append(position)
    return keep
