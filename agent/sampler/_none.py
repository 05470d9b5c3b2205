"""The fallback backend: no foreground window, no input counts (headless, unsupported compositor).

It still yields a sample each tick so the agent records buckets (observed time, locked = unknown);
every signal it cannot see is missing (NaN), never zero.
"""

from __future__ import annotations

from agent.sampler._base import Backend, Sample


class NoneBackend(Backend):
    NAME = "none"

    def sample(self) -> Sample:
        return Sample()

    def notes(self) -> list[str]:
        return ["no foreground window or input information on this session (fallback backend)"]
