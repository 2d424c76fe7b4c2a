"""Order statistics over a growing multiset of floats, for pruners that rank a value.

Successive halving asks "is this value within the best 1/eta of the rung?" and the
percentile pruner asks "what is the p-th percentile at this step?". Both read the
k-th smallest value of a multiset that only grows, at a rank k that only moves up
as it grows (k = n // eta - 1, k = floor((n - 1) q)). ``Ranked`` answers that in
O(log n): the values live in two heaps split at rank k, ``low`` holding the k
smallest (a max-heap, stored negated) and ``high`` the rest (a min-heap). Adding a
value is one heap push; moving the split by one is one pop and one push, and the
split moves by about one per added value. No scan, no re-sort, whatever n is.
"""

from __future__ import annotations

import heapq


class Ranked:
    """A multiset of floats (never NaN) with the k-th smallest at hand."""

    __slots__ = ("_high", "_low")

    def __init__(self) -> None:
        self._low: list[float] = []  # the smallest values, negated: -self._low[0] is their max
        self._high: list[float] = []  # the others: self._high[0] is their min

    def __len__(self) -> int:
        return len(self._low) + len(self._high)

    def add(self, x: float) -> None:
        if self._low and x < -self._low[0]:
            heapq.heappush(self._low, -x)
        else:
            heapq.heappush(self._high, x)

    def _split(self, k: int) -> None:
        """Move values between the heaps until ``low`` holds the ``k`` smallest."""
        low, high = self._low, self._high
        while len(low) > k:
            heapq.heappush(high, -heapq.heappop(low))
        while len(low) < k and high:
            heapq.heappush(low, -heapq.heappop(high))

    def kth(self, k: int) -> float:
        """The k-th smallest value, counting from 0; needs ``0 <= k < len(self)``."""
        if not 0 <= k < len(self):
            raise IndexError(f"rank {k} is outside a multiset of {len(self)} values")
        self._split(k + 1)
        return -self._low[0]

    def kth_pair(self, k: int) -> tuple[float, float]:
        """The k-th and (k+1)-th smallest values; needs ``0 <= k < len(self) - 1``."""
        a = self.kth(k)
        if not self._high:
            raise IndexError(f"rank {k + 1} is outside a multiset of {len(self)} values")
        return a, self._high[0]
