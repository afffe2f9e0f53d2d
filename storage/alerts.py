"""The Store's alerts: rules on a run's metrics that fired, each with the steps and values that made it fire.

The worker checks the rules after each step (training/alert_watch.py) and records what fired here; the Runs tab
shows each as a badge with its evidence. One row per (run, rule): a rule that keeps firing extends its evidence,
and `record_alert` says whether the alert is new, so a webhook hears of it once.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.errors import RunNotFound, StorageError
from storage.lifecycle import utcnow
from storage.models import ALERT_RULE_MAX, METRIC_KEY_MAX, Alert, Run
from storage.records import AlertRecord, to_record


class Alerts:
    """Mixed into Store: every method runs in one of its session scopes and returns frozen records."""

    _session: Callable[..., contextlib.AbstractContextManager[Session]]

    def record_alert(
        self, run_id: int, rule: str, metric: str, steps: Sequence[int], values: Sequence[float], message: str
    ) -> tuple[AlertRecord, bool]:
        """Record that `rule` fired on the run, or extend its evidence if it had fired before; (alert, is it new)."""
        if not rule or len(rule) > ALERT_RULE_MAX or not metric or len(metric) > METRIC_KEY_MAX:
            raise StorageError(
                f"an alert's rule has 1 to {ALERT_RULE_MAX} characters and its metric 1 to {METRIC_KEY_MAX}"
            )
        if not steps or len(steps) != len(values):
            raise StorageError(f"an alert needs evidence: as many values as steps, got {len(steps)} and {len(values)}")
        kept = [(int(step), float(value)) for step, value in zip(steps, values) if math.isfinite(value)]
        if not kept:
            raise StorageError("an alert's evidence must hold finite values (JSON has no NaN)")
        evidence: dict[str, list[Any]] = dict(steps=[step for step, _ in kept], values=[value for _, value in kept])
        now = utcnow()
        with self._session("record an alert", write=True) as s:
            if s.get(Run, run_id) is None:
                raise RunNotFound(f"run {run_id} does not exist")
            alert = s.scalar(select(Alert).where(Alert.run_id == run_id, Alert.rule == rule).with_for_update())
            new = alert is None
            if alert is None:
                alert = Alert(run_id=run_id, rule=rule, created_at=now)
                s.add(alert)
            alert.metric, alert.message, alert.updated_at = metric, message, now
            alert.evidence, alert.last_step = evidence, max(step for step, _ in kept)
            s.flush()
            return _record(alert), new

    def mark_alert_notified(self, alert_id: int) -> AlertRecord:
        """The operator's webhook took the alert."""
        with self._session("mark an alert notified", write=True) as s:
            alert = s.get(Alert, alert_id)
            if alert is None:
                raise StorageError(f"alert {alert_id} does not exist")
            alert.notified_at = utcnow()
            s.flush()
            return _record(alert)

    def list_alerts(self, run_ids: Sequence[int]) -> dict[int, list[AlertRecord]]:
        """The alerts of each of these runs that has any, oldest first."""
        query = select(Alert).where(Alert.run_id.in_(list(run_ids))).order_by(Alert.run_id, Alert.id)
        alerts: dict[int, list[AlertRecord]] = {}
        with self._session("list alerts") as s:
            for alert in s.scalars(query):
                alerts.setdefault(alert.run_id, []).append(_record(alert))
        return alerts


def _record(alert: Alert) -> AlertRecord:
    return to_record(AlertRecord, alert, steps=alert.evidence["steps"], values=alert.evidence["values"])
