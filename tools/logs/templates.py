"""Collapse log lines into templates with Drain (``drain3``), so evidence is a handful of patterns.

40,000 lines of ``CUDA out of memory. Tried to allocate 2.50 GiB`` are one template with a count,
a first-seen and a last-seen time. A template none of whose lines fall before the baseline cut
is flagged ``new``: the error template that appeared at 02:10 is the evidence.

Variable parts are masked before Drain sees them (UUIDs, IPs, hex and numbers, with or without a
unit), so the tree groups by the constant words. Drain runs in memory with no persistence; a miner
lives for one tool call.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from augur.tools.logs.backend import LogRecord

__all__ = ["LogTemplate", "TemplateSet", "mine_templates", "template_miner"]

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
    levels: dict[str, int] = field(default_factory=dict)
    services: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TemplateSet:
    """The templates of a scan, ordered new first, then by count; and how many were cut."""

    templates: list[LogTemplate]
    total_templates: int
    assignments: dict[str, str] = field(default_factory=dict)  # record id -> template (when asked)


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
    by_cluster: dict[int, LogTemplate] = {}
    record_cluster: list[tuple[str, int]] = []
    levels: dict[int, Counter[str]] = {}
    services: dict[int, Counter[str]] = {}
    for record in sorted(records, key=lambda r: r.ts):
        text = message_for_mining(record.message)
        if not text:
            continue
        result = miner.add_log_message(text)
        cluster_id = int(result["cluster_id"])
        if keep_assignments:
            record_cluster.append((record.id, cluster_id))
        entry = by_cluster.get(cluster_id)
        if entry is None:
            entry = by_cluster[cluster_id] = LogTemplate("", 0, record.ts, record.ts)
            levels[cluster_id] = Counter()
            services[cluster_id] = Counter()
        entry.count += 1
        entry.last_seen = record.ts
        if baseline_end is not None and record.ts < baseline_end:
            entry.baseline_count += 1
        if record.level:
            levels[cluster_id][record.level.lower()] += 1
        if record.service:
            services[cluster_id][record.service] += 1
        if len(entry.samples) < max_samples:
            entry.samples.append(record.message[:MAX_SAMPLE_CHARS])
    # Clusters' templates generalise as lines arrive: read the final ones, merging equal texts.
    merged: dict[str, LogTemplate] = {}
    final_of: dict[int, str] = {}
    for cluster in miner.drain.clusters:
        entry = by_cluster.get(cluster.cluster_id)
        if entry is None:
            continue
        text = cluster.get_template()
        final_of[cluster.cluster_id] = text
        entry.template = text
        entry.levels = dict(levels[cluster.cluster_id].most_common())
        entry.services = dict(services[cluster.cluster_id].most_common(5))
        if text in merged:
            _merge_into(merged[text], entry, max_samples)
        else:
            merged[text] = entry
    for entry in merged.values():
        entry.new = (baseline_end is not None and entry.baseline_count == 0
                     and entry.first_seen >= baseline_end)
    ordered = sorted(merged.values(), key=lambda t: (not t.new, -t.count, t.first_seen))
    assignments = {rid: final_of[cid] for rid, cid in record_cluster} if keep_assignments else {}
    return TemplateSet(ordered[:max_templates], len(ordered), assignments)


def _merge_into(into: LogTemplate, other: LogTemplate, max_samples: int) -> None:
    into.count += other.count
    into.baseline_count += other.baseline_count
    into.first_seen = min(into.first_seen, other.first_seen)
    into.last_seen = max(into.last_seen, other.last_seen)
    into.levels = dict((Counter(into.levels) + Counter(other.levels)).most_common())
    into.services = dict((Counter(into.services) + Counter(other.services)).most_common(5))
    into.samples = (into.samples + other.samples)[:max_samples]
