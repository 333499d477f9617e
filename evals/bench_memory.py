"""Memory benchmark: the synthetic suite replayed as a sequence of incidents with verdicts.

Each round runs every scenario once more with a new seed (new noise, same story), twice: without
memory, and with every earlier incident of the sequence as memory (:mod:`augur.agent.memory`;
incidents of other kinds are in it too, as they would be in a real store). After each run with
memory a simulated person judges its report against the scenario's truth:

- right: ``confirmed``; wrong: ``wrong`` naming the true cause and fault type;
- a benign scenario (no true cause): ``not_actionable``;
- every ``--wrong-every``-th judgement is wrong on purpose: a right answer is marked "wrong, it
  was <the next candidate>", a wrong one ``confirmed``.

Figures: AC@1 per round without and with memory, the cases memory flipped either way (with the
prior's reason), and time to correct: for each scenario the agent got wrong in the first round,
the round in which it was first right.

``--what-if-bound B`` runs with the prior's step and bound both set to ``B`` instead of the shipped
:data:`~augur.agent.memory.PRIOR_STEP` / :data:`~augur.agent.memory.PRIOR_MAX`, to show what a
looser bound would buy and cost (the on-purpose wrong verdicts then do harm too).

    python -m augur.evals.bench_memory                     # the suite, 3 rounds
    python -m augur.evals.bench_memory --subtle 0.3 --json # a quiet cause under loud symptoms
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["main", "run_bench"]

#: Seeds of the rounds are the scenario's own seed plus this many times the round's index.
SEED_STRIDE = 1000


def _verdict(report: Any, truth: Any, on_purpose: bool) -> dict[str, Any]:
    """What the simulated person says (see the module docstring)."""
    if not truth.root_cause:
        return {"verdict": "not_actionable"}
    rc = report.root_cause
    right = rc.verdict == "identified" and rc.component == truth.root_cause
    if right != on_purpose:
        return {"verdict": "confirmed", "fix": f"the fix for {truth.root_cause} ({truth.fault_type})"}
    if right:  # wrong on purpose: blame the next candidate
        other = next((c.component for c in report.candidates if c.component != rc.component), None)
        return {"verdict": "wrong", "real_cause": other}
    return {"verdict": "wrong", "real_cause": truth.root_cause, "real_fault_type": str(truth.fault_type)}


async def run_bench(rounds: int = 3, scale: float | None = None, wrong_every: int = 5,
                    only: list[str] | None = None, what_if_bound: float | None = None) -> dict[str, Any]:
    """Replay the suite ``rounds`` times with verdicts; the figures (see the module docstring)."""
    from augur.agent import memory as memory_module
    from augur.agent.memory import PastIncident
    from augur.evals.alert import AlertNotFiring
    from augur.evals.runner import run_case
    from augur.evals.scenario import list_scenarios
    from augur.evals.variants import subtle

    if what_if_bound is not None:  # a what-if for this process only: the module reads them per call
        memory_module.PRIOR_STEP = memory_module.PRIOR_MAX = what_if_bound
    bound = memory_module.PRIOR_MAX
    scenarios = [s for s in list_scenarios() if not only or s.name in only]
    if scale is not None:
        scenarios = [subtle(s, scale) for s in scenarios]
    memory: list[PastIncident] = []
    skipped: set[str] = set()
    cases: list[dict[str, Any]] = []
    judged = 0
    with tempfile.TemporaryDirectory(prefix="augur-bench-memory-") as tmp:
        root = Path(tmp)
        for r in range(rounds):
            for sc in scenarios:
                if sc.name in skipped:
                    continue
                seed = sc.seed + SEED_STRIDE * r
                reports: dict[str, list[Any]] = {}
                scores = {}
                try:
                    for mode, mem in (("base", []), ("memory", list(memory))):
                        keep = reports.setdefault(mode, []).append
                        scores[mode] = await run_case(sc, root / f"{sc.name}-{r}-{mode}", seed=seed,
                                                      memory=mem, on_report=keep)
                except AlertNotFiring:
                    skipped.add(sc.name)
                    continue
                report = reports["memory"][0]
                on_purpose = wrong_every > 0 and judged % wrong_every == wrong_every - 1
                said = _verdict(report, sc.truth, on_purpose)
                judged += 1
                memory.append(PastIncident.from_report(report, id=f"{sc.name}#{r + 1}", **said))
                top = report.candidates[0] if report.candidates else None
                truth_score = next((c.score for c in report.candidates
                                    if c.component == sc.truth.root_cause), None)
                cases.append({
                    "round": r + 1, "scenario": sc.name, "truth": sc.truth.root_cause,
                    "base": scores["base"].ranked[:1], "memory": scores["memory"].ranked[:1],
                    "base_ac1": scores["base"].ac1, "memory_ac1": scores["memory"].ac1,
                    "verdict": said["verdict"] + (f": it was {said['real_cause']}" if said.get("real_cause")
                                                  else ""),
                    "on_purpose": on_purpose, "similar": [s.id for s in report.similar_incidents[:3]],
                    "top_prior": [x for x in (top.reasons if top else []) if x.startswith("past verdicts")],
                    # How far the true cause's score is behind the top one (with memory): the prior's reach.
                    "truth_behind": (round(top.score - truth_score, 3)
                                     if top and truth_score is not None else None),
                })
    result = _figures(cases, rounds, sorted(skipped), scale, wrong_every)
    result["prior_bound"] = bound
    return result


def _figures(cases: list[dict[str, Any]], rounds: int, skipped: list[str], scale: float | None,
             wrong_every: int) -> dict[str, Any]:
    def ac1(rows: list[dict[str, Any]], key: str) -> float | None:
        return round(sum(c[key] for c in rows) / len(rows), 3) if rows else None

    per_round = [{"round": r, "cases": len(rows), "ac1_without": ac1(rows, "base_ac1"),
                  "ac1_with": ac1(rows, "memory_ac1")}
                 for r in range(1, rounds + 1) for rows in [[c for c in cases if c["round"] == r]]]
    later = [c for c in cases if c["round"] > 1]
    to_correct: dict[str, dict[str, int | None]] = {}
    for name in dict.fromkeys(c["scenario"] for c in cases if c["round"] == 1 and not c["base_ac1"]):
        rows = [c for c in cases if c["scenario"] == name]
        to_correct[name] = {mode: next((c["round"] for c in rows if c[f"{mode}_ac1"]), None)
                            for mode in ("base", "memory")}
    return {
        "variant": f"subtle {scale}" if scale is not None else "suite", "rounds": rounds,
        "wrong_on_purpose": f"every {wrong_every}th verdict" if wrong_every else "none",
        "skipped": skipped, "per_round": per_round,
        "ac1_without": ac1(cases, "base_ac1"), "ac1_with": ac1(cases, "memory_ac1"),
        "later_rounds_ac1_without": ac1(later, "base_ac1"),
        "later_rounds_ac1_with": ac1(later, "memory_ac1"),
        "flipped_right": [c for c in cases if c["memory_ac1"] and not c["base_ac1"]],
        "flipped_wrong": [c for c in cases if c["base_ac1"] and not c["memory_ac1"]],
        "time_to_correct": to_correct,
        "misses_truth_behind": sorted(c["truth_behind"] for c in cases
                                      if not c["memory_ac1"] and c["truth_behind"] is not None),
        "misses": [{k: c[k] for k in ("round", "scenario", "memory", "truth", "truth_behind", "top_prior")}
                   for c in cases if not c["memory_ac1"]],
    }


def main(argv: list[str] | None = None) -> None:
    """Command line: run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--subtle", type=float, default=None, help="keep this share of each cause's change")
    parser.add_argument("--wrong-every", type=int, default=5,
                        help="every Nth verdict is wrong on purpose (0: none)")
    parser.add_argument("--only", nargs="*", help="scenario names")
    parser.add_argument("--what-if-bound", type=float, default=None,
                        help="run with the prior's step and bound set to this (not the shipped one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(run_bench(args.rounds, args.subtle, args.wrong_every, args.only, args.what_if_bound))
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return
    print(f"{result['variant']}, {result['rounds']} rounds, wrong on purpose: {result['wrong_on_purpose']}, "
          f"prior bound ±{result['prior_bound']}")
    for row in result["per_round"]:
        print(f"  round {row['round']}: {row['cases']} cases, AC@1 without memory {row['ac1_without']}, "
              f"with {row['ac1_with']}")
    print(f"  all: AC@1 {result['ac1_without']} -> {result['ac1_with']}; rounds 2+: "
          f"{result['later_rounds_ac1_without']} -> {result['later_rounds_ac1_with']}")
    for key in ("flipped_right", "flipped_wrong"):
        for c in result[key]:
            print(f"  {key}: {c['scenario']} round {c['round']}: {c['base']} -> {c['memory']} "
                  f"{c['top_prior']}")
    print(f"  time to correct (round first right): {result['time_to_correct']}; skipped: {result['skipped']}")
    print(f"  misses: the true cause's score behind the top one by {result['misses_truth_behind']}")


if __name__ == "__main__":
    main()
