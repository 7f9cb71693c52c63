"""How long a rate-limit check waits for the service before deciding locally (a hedge deadline
from the service's observed latency, RFC 6298's retransmission-timeout estimator)."""

from __future__ import annotations

ALPHA = 1 / 8  # RFC 6298 §2: the smoothed RTT's gain
BETA = 1 / 4  # RFC 6298 §2: the RTT variation's gain
K = 4  # RFC 6298 §2: variations of margin above the smoothed RTT


class HedgeDeadline:
    """The hedge deadline `SRTT + 4·RTTVAR` in seconds (RFC 6298 §2, K = 4), bounded below by
    `floor_s` and above by `cap_s`.

    Before the first sample the deadline is `cap_s` (the check's own timeout: nothing is known
    yet). The first sample R sets SRTT = R and RTTVAR = R/2; each later one R' updates
    RTTVAR = (1 - beta)·RTTVAR + beta·|SRTT - R'|, then SRTT = (1 - alpha)·SRTT + alpha·R'
    (alpha = 1/8, beta = 1/4).
    The floor plays the part of RFC 6298's clock granularity G and of its 1 s minimum, which is
    far too long for a hop on the same network: it keeps a burst of scheduling delay on a loaded
    machine from hedging every check. Pure: samples come from the caller's clock.

    Args:
        floor_s: the least deadline (> 0); `floor_s >= cap_s` turns hedging off.
        cap_s: the most (the check's timeout).

    Raises:
        ValueError: a bound is not positive.
    """

    def __init__(self, *, floor_s: float, cap_s: float) -> None:
        if floor_s <= 0 or cap_s <= 0:
            raise ValueError("floor_s and cap_s must be > 0")
        self.floor_s = floor_s
        self.cap_s = cap_s
        self.srtt: float | None = None
        self.rttvar = 0.0

    def sample(self, rtt_s: float) -> None:
        """Take one measured round trip (seconds from sending a check to its answer)."""
        rtt_s = max(rtt_s, 0.0)
        if self.srtt is None:
            self.srtt, self.rttvar = rtt_s, rtt_s / 2
            return
        self.rttvar = (1 - BETA) * self.rttvar + BETA * abs(self.srtt - rtt_s)
        self.srtt = (1 - ALPHA) * self.srtt + ALPHA * rtt_s

    @property
    def seconds(self) -> float:
        """The current deadline in seconds, within [floor_s, cap_s]."""
        if self.srtt is None:
            return self.cap_s
        return min(max(self.srtt + K * self.rttvar, self.floor_s), self.cap_s)
