"""Label set v1, its explicit order, and label-span provenances (spec 3.1)."""

from __future__ import annotations

CORE_LABELS: tuple[str, ...] = (
    "Build",
    "Debug",
    "Review",
    "Write",
    "ReadResearch",
    "Communicate",
    "Meet",
    "BreakIdle",
)
CORE_LABEL_SET: frozenset[str] = frozenset(CORE_LABELS)

#: The class order our trainer writes (and the seed's models use): alphabetical.
LABEL_ORDER: tuple[str, ...] = tuple(sorted(CORE_LABELS))

#: Output for a rejected bucket; never a training class.
MIXED_UNKNOWN = "Mixed/Unknown"

HUMAN_PROVENANCES: frozenset[str] = frozenset(
    {"manual", "correction", "confirmation", "prompt", "import"}
)
MACHINE_PROVENANCES: frozenset[str] = frozenset({"rule", "synthetic"})
PROVENANCES: frozenset[str] = HUMAN_PROVENANCES | MACHINE_PROVENANCES


def is_core_label(name: str) -> bool:
    return name in CORE_LABEL_SET
