import { unitOf, type CheckName, type Finding, type Severity } from '../core/findings.ts';

// The alert state machine, pure: (previous state, findings of one check run, now) -> one grouped
// notification (or none) and the next state. Modelled on Alertmanager: one message per evaluation
// groups everything that changed (new, escalated, resolved) and lists what is still firing;
// `repeat_interval` is ALERT_REPEAT_HOURS; `send_resolved` is always on. An alert counts as notified
// only once delivery is recorded (recordDelivery), so an undelivered alert is tried again next run.

export interface ActiveAlert {
  check: CheckName;
  // The backup set (BACKUP_DATABASES) the alert is about; absent for one database.
  set?: string;
  // With several destinations: the destination (see Finding.destination).
  destination?: string;
  severity: Severity;
  summary: string;
  values: Record<string, number | string>;
  hint?: string;
  // ISO timestamps (the state is stored as JSON).
  startedAt: string;
  lastSeenAt: string;
  // When people were last told about it and at which severity; absent until a notification got through.
  notifiedAt?: string;
  notifiedSeverity?: Severity;
}

// An alert that cleared after people were told it fired; kept until its "resolved" notice got through.
export interface ResolvedAlert {
  check: CheckName;
  set?: string;
  destination?: string;
  severity: Severity;
  summary: string;
  values: Record<string, number | string>;
  startedAt: string;
  endedAt: string;
  notifiedAt: string;
}

export interface AlertState {
  version: 1;
  // By alertKey: the check name for one database (as before), `<check>:<set>` for a backup set.
  firing: Partial<Record<string, ActiveAlert>>;
  resolved: ResolvedAlert[];
}

// An alert's key in the state: the check, and the set when there is one (check names hold no ":");
// `set` is the unit's one name (unitOf: `<set>@<destination>` with both).
export function alertKey(check: CheckName, set: string | undefined): string {
  return set === undefined ? check : `${check}:${set}`;
}

type NotificationKind = 'firing' | 'reminder' | 'resolved' | 'test';

export interface NotificationItem {
  check: CheckName;
  set?: string;
  destination?: string;
  severity: Severity;
  summary: string;
  values: Record<string, number | string>;
  hint?: string;
  since: Date;
  // Was already firing at a lower severity.
  escalated: boolean;
}

export interface ResolvedItem {
  check: CheckName;
  set?: string;
  destination?: string;
  severity: Severity;
  summary: string;
  values: Record<string, number | string>;
  since: Date;
  endedAt: Date;
  durationMs: number;
}

// One message for people: what started (or got worse), what cleared, what is still firing.
export interface Notification {
  kind: NotificationKind;
  at: Date;
  started: NotificationItem[];
  resolved: ResolvedItem[];
  stillFiring: NotificationItem[];
}

export interface PolicySettings {
  repeatHours: number;
}

export interface Evaluation {
  notification: Notification | undefined;
  // The state after this run, before delivery: pass it to recordDelivery once the message got through.
  next: AlertState;
}

export function emptyAlertState(): AlertState {
  return { version: 1, firing: {}, resolved: [] };
}

const RANK: Record<Severity, number> = { warn: 1, fail: 2 };

// Evaluates one run of some checks. `scope` names the checks this run speaks for (the monitor's
// checks, or only 'backup_failed' when a backup run fails, or the verify checks): an alert of a check
// in scope that has no finding now has resolved; alerts of other checks stay as they are. A check with
// a finding is always in scope. Without `scope`, the run speaks for every check.
export function evaluateAlerts(
  previous: AlertState,
  findings: readonly Finding[],
  now: Date,
  settings: PolicySettings,
  scope?: readonly CheckName[],
  // The backup set this run speaks for: alerts of other sets (and of the service as a whole, when a
  // set is given) are left as they are.
  set?: string,
): Evaluation {
  const nowIso = now.toISOString();
  const keyOf = (f: { check: CheckName; set?: string | undefined; destination?: string | undefined }): string => alertKey(f.check, unitOf(f));
  const reported = new Set(findings.map(keyOf));
  const inScope = (key: string, alert: ActiveAlert): boolean =>
    reported.has(key) || (unitOf(alert) === set && (scope === undefined || scope.includes(alert.check)));
  const current = new Map<string, Finding>();
  for (const finding of findings) {
    const seen = current.get(keyOf(finding));
    // Two findings of one check in one run: the more severe one speaks for the check.
    if (seen === undefined || RANK[finding.severity] > RANK[seen.severity]) current.set(keyOf(finding), finding);
  }

  const firing: Partial<Record<string, ActiveAlert>> = {};
  let resolved = previous.resolved.map((r) => ({ ...r, values: { ...r.values } }));
  const newlyResolved: ResolvedAlert[] = [];

  for (const [key, alert] of entries(previous.firing)) {
    if (!inScope(key, alert) || current.has(key)) {
      firing[key] = { ...alert, values: { ...alert.values } };
      continue;
    }
    // Cleared. Only tell people it resolved if they were told it fired.
    if (alert.notifiedAt !== undefined) {
      newlyResolved.push({
        check: alert.check,
        ...(alert.set === undefined ? {} : { set: alert.set }),
        ...(alert.destination === undefined ? {} : { destination: alert.destination }),
        severity: alert.notifiedSeverity ?? alert.severity,
        summary: alert.summary,
        values: { ...alert.values },
        startedAt: alert.startedAt,
        endedAt: nowIso,
        notifiedAt: alert.notifiedAt,
      });
    }
  }

  for (const [key, finding] of current) {
    const { check } = finding;
    const setPart = { ...(finding.set === undefined ? {} : { set: finding.set }), ...(finding.destination === undefined ? {} : { destination: finding.destination }) };
    const existing = firing[key];
    // Fired again before its "resolved" notice got through: nobody heard it stop, so it never did.
    const pending = existing === undefined ? resolved.find((r) => keyOf(r) === key) : undefined;
    if (pending !== undefined) resolved = resolved.filter((r) => r !== pending);
    const base: ActiveAlert =
      existing ??
      (pending !== undefined
        ? {
            check,
            ...setPart,
            severity: pending.severity,
            summary: pending.summary,
            values: pending.values,
            startedAt: pending.startedAt,
            lastSeenAt: nowIso,
            notifiedAt: pending.notifiedAt,
            notifiedSeverity: pending.severity,
          }
        : { check, ...setPart, severity: finding.severity, summary: finding.summary, values: {}, startedAt: nowIso, lastSeenAt: nowIso });
    const next: ActiveAlert = {
      ...base,
      severity: finding.severity,
      summary: finding.summary,
      values: { ...finding.values },
      lastSeenAt: nowIso,
    };
    if (finding.hint !== undefined) next.hint = finding.hint;
    else delete next.hint;
    firing[key] = next;
  }
  resolved = [...resolved, ...newlyResolved];

  const next: AlertState = { version: 1, firing, resolved };
  const active = entries(firing).map(([, a]) => a);
  const started = active.filter((a) => a.notifiedAt === undefined || isEscalated(a));
  const repeatMs = settings.repeatHours * 3_600_000;
  const reminderDue = active.some((a) => a.notifiedAt !== undefined && now.getTime() - Date.parse(a.notifiedAt) >= repeatMs);

  if (started.length === 0 && resolved.length === 0 && !reminderDue) return { notification: undefined, next };

  const startedSet = new Set(started.map(keyOf));
  const notification: Notification = {
    kind: started.length > 0 ? 'firing' : resolved.length > 0 ? 'resolved' : 'reminder',
    at: now,
    started: bySeverity(started).map(toItem),
    resolved: resolved.map(toResolvedItem),
    stillFiring: bySeverity(active.filter((a) => !startedSet.has(keyOf(a)))).map(toItem),
  };
  return { notification, next };
}

// The state once `notification` reached people: everything it listed as firing counts as notified now,
// and the resolved notices it carried are done.
export function recordDelivery(state: AlertState, notification: Notification): AlertState {
  const atIso = notification.at.toISOString();
  const told = new Set([...notification.started, ...notification.stillFiring].map((i) => alertKey(i.check, unitOf(i))));
  const firing: Partial<Record<string, ActiveAlert>> = {};
  for (const [key, alert] of entries(state.firing)) {
    firing[key] = told.has(key) ? { ...alert, notifiedAt: atIso, notifiedSeverity: alert.severity } : { ...alert };
  }
  const done = new Set(notification.resolved.map((r) => `${alertKey(r.check, unitOf(r))}@${r.since.toISOString()}`));
  const resolved = state.resolved.filter((r) => !done.has(`${alertKey(r.check, unitOf(r))}@${r.startedAt}`));
  return { version: 1, firing, resolved };
}

// The alerts currently firing, most severe first (for /status and alert-test).
export function firingAlerts(state: AlertState): ActiveAlert[] {
  return bySeverity(entries(state.firing).map(([, a]) => a));
}

// Whether two states differ in what must survive a restart (not just refreshed summaries and values).
export function differsMaterially(a: AlertState, b: AlertState): boolean {
  return materialKey(a) !== materialKey(b);
}

// What of a state must survive a restart, as a comparable string.
export function materialKey(state: AlertState): string {
  return JSON.stringify(materialView(state));
}

function materialView(state: AlertState): unknown {
  const firing = entries(state.firing)
    .map(([check, a]) => [check, a.severity, a.startedAt, a.notifiedAt ?? null, a.notifiedSeverity ?? null])
    .sort((x, y) => String(x[0]).localeCompare(String(y[0])));
  const resolved = state.resolved.map((r) => [alertKey(r.check, unitOf(r)), r.startedAt, r.endedAt]);
  return { firing, resolved };
}

function isEscalated(alert: ActiveAlert): boolean {
  return alert.notifiedSeverity !== undefined && RANK[alert.severity] > RANK[alert.notifiedSeverity];
}

function toItem(alert: ActiveAlert): NotificationItem {
  const item: NotificationItem = {
    check: alert.check,
    ...(alert.set === undefined ? {} : { set: alert.set }),
    ...(alert.destination === undefined ? {} : { destination: alert.destination }),
    severity: alert.severity,
    summary: alert.summary,
    values: { ...alert.values },
    since: new Date(alert.startedAt),
    escalated: isEscalated(alert),
  };
  if (alert.hint !== undefined) item.hint = alert.hint;
  return item;
}

function toResolvedItem(r: ResolvedAlert): ResolvedItem {
  const since = new Date(r.startedAt);
  const endedAt = new Date(r.endedAt);
  return {
    check: r.check,
    ...(r.set === undefined ? {} : { set: r.set }),
    ...(r.destination === undefined ? {} : { destination: r.destination }),
    severity: r.severity,
    summary: r.summary,
    values: { ...r.values },
    since,
    endedAt,
    durationMs: endedAt.getTime() - since.getTime(),
  };
}

function bySeverity(alerts: ActiveAlert[]): ActiveAlert[] {
  return [...alerts].sort((a, b) => RANK[b.severity] - RANK[a.severity] || a.startedAt.localeCompare(b.startedAt));
}

function entries(firing: Partial<Record<string, ActiveAlert>>): [string, ActiveAlert][] {
  return Object.entries(firing).filter((e): e is [string, ActiveAlert] => e[1] !== undefined);
}
